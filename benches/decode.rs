//! Decode and verify throughput (criterion). The input is made in memory by
//! the encoder: a mix of small and large strings (half compressible, so
//! LZF-encoded), listpack and large hashes, lists, sets and sorted sets.
//! For whole-file comparisons with other tools see scripts/bench-peers.sh.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rdbkit::decode::{Level, Options};
use rdbkit::encode::{HashEntry, KeyMeta, OwnedValue, RdbWriter, Target};
use rdbkit::stats::inspect;

mod common;

use common::Rng;

/// The words of the compressible strings.
const WORDS: &[&str] = &[
    "alpha", "bravo", "user", "session", "price", "status", "zulu",
];

fn mixed_dump(target: Target) -> Vec<u8> {
    let mut r = Rng(0x2545_F491_4F6C_DD1D);
    let mut w = RdbWriter::new(Vec::new(), target).unwrap();
    w.standard_aux("7.0.0", 0, 0).unwrap();
    w.select_db(0).unwrap();
    for i in 0..20_000u64 {
        let n = 10 + (r.next() % 2000) as usize;
        let v = if i % 2 == 0 {
            r.text(WORDS, n)
        } else {
            r.noise(n)
        };
        let meta = KeyMeta {
            expire_ms: (i % 3 == 0).then_some(10_000_000_000),
            ..KeyMeta::default()
        };
        w.key(format!("str:{i}").as_bytes(), &OwnedValue::String(v), meta)
            .unwrap();
    }
    for i in 0..200u64 {
        let big = i % 10 == 0;
        let n = if big { 2000 } else { 20 };
        let fields = (0..n)
            .map(|f| {
                let n = 10 + (r.next() % 60) as usize;
                HashEntry {
                    field: format!("field:{f}").into_bytes(),
                    value: r.text(WORDS, n),
                    expire_ms: None,
                }
            })
            .collect();
        w.key(
            format!("h:{i}").as_bytes(),
            &OwnedValue::Hash(fields),
            KeyMeta::default(),
        )
        .unwrap();
        let list = (0..n).map(|_| r.text(WORDS, 20)).collect();
        w.key(
            format!("l:{i}").as_bytes(),
            &OwnedValue::List(list),
            KeyMeta::default(),
        )
        .unwrap();
        let set = (0..n).map(|j| format!("member:{j}").into_bytes()).collect();
        w.key(
            format!("s:{i}").as_bytes(),
            &OwnedValue::Set(set),
            KeyMeta::default(),
        )
        .unwrap();
        let z = (0..n)
            .map(|j| {
                (
                    format!("m:{j}").into_bytes(),
                    (r.next() % 1000) as f64 / 7.0,
                )
            })
            .collect();
        w.key(
            format!("z:{i}").as_bytes(),
            &OwnedValue::ZSet(z),
            KeyMeta::default(),
        )
        .unwrap();
    }
    w.finish().unwrap()
}

fn bench(c: &mut Criterion) {
    let data = mixed_dump(Target::redis(10));
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Bytes(data.len() as u64));
    for (name, level) in [
        ("skip", Level::Skip),
        ("verify", Level::Full),
        ("deep", Level::Deep),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                inspect(
                    &data,
                    Options {
                        level,
                        ..Options::default()
                    },
                    0,
                )
                .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
