//! Decode and verify throughput (criterion). The input is made in memory by
//! the encoder: a mix of small and large strings (half compressible, so
//! LZF-encoded), listpack and large hashes, lists, sets and sorted sets.
//! The `iterate` group reads every element of its collections through the
//! cursors (`Items::next_*`) and through the iterators (`Value::elements`,
//! `scored`, `fields`); `iterate-ratio` times both in turn and reports
//! their ratio as a time (1 ms: as fast as the cursors).
//! For whole-file comparisons with other tools see scripts/bench-peers.sh.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rdbkit::decode::{Decoder, Item, Kind, Level, Options};
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

/// Every element of every list, set, sorted set and hash of `data`, read
/// with the cursors (`Items::next_elem`, `next_scored`, `next_field`):
/// the sum of their lengths (and of the scores).
fn walk_cursors(data: &[u8]) -> usize {
    let mut total = 0usize;
    for item in Decoder::new(data, iterate_options()).unwrap() {
        let Item::Key(k) = item.unwrap() else {
            continue;
        };
        match k.value.kind() {
            Kind::List | Kind::Set => {
                let mut it = k.value.items().unwrap();
                while let Some(e) = it.next_elem().unwrap() {
                    total += e.len();
                }
            }
            Kind::ZSet => {
                let mut it = k.value.items().unwrap();
                while let Some((m, score)) = it.next_scored().unwrap() {
                    total += m.len() + score as usize;
                }
            }
            Kind::Hash => {
                let mut it = k.value.items().unwrap();
                while let Some(f) = it.next_field().unwrap() {
                    total += f.field.len() + f.value.len();
                }
            }
            _ => {}
        }
    }
    total
}

/// [`walk_cursors`] through the iterators (`Value::elements`, `scored`,
/// `fields`), or their `KeyRecord` adapters (errors naming the key).
fn walk_iterators(data: &[u8], keyed: bool) -> usize {
    let mut total = 0usize;
    for item in Decoder::new(data, iterate_options()).unwrap() {
        let Item::Key(k) = item.unwrap() else {
            continue;
        };
        match k.value.kind() {
            Kind::List | Kind::Set if keyed => {
                for e in k.elements() {
                    total += e.unwrap().len();
                }
            }
            Kind::List | Kind::Set => {
                for e in k.value.elements() {
                    total += e.unwrap().len();
                }
            }
            Kind::ZSet if keyed => {
                for m in k.scored() {
                    let (m, score) = m.unwrap();
                    total += m.len() + score as usize;
                }
            }
            Kind::ZSet => {
                for m in k.value.scored() {
                    let (m, score) = m.unwrap();
                    total += m.len() + score as usize;
                }
            }
            Kind::Hash if keyed => {
                for f in k.fields() {
                    let f = f.unwrap();
                    total += f.field.len() + f.value.len();
                }
            }
            Kind::Hash => {
                for f in k.value.fields() {
                    let f = f.unwrap();
                    total += f.field.len() + f.value.len();
                }
            }
            _ => {}
        }
    }
    total
}

/// The decoder finds each value's extent only (the iteration is measured,
/// not the walk or the checksum).
fn iterate_options() -> Options {
    Options {
        level: Level::Skip,
        verify_checksum: false,
        ..Options::default()
    }
}

/// Cursors against iterators over the same elements.
fn bench_iterate(c: &mut Criterion, data: &[u8]) {
    let expected = walk_cursors(data);
    assert_eq!(walk_iterators(data, false), expected);
    assert_eq!(walk_iterators(data, true), expected);
    let mut g = c.benchmark_group("iterate");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("cursors", |b| b.iter(|| black_box(walk_cursors(data))));
    g.bench_function("iterators", |b| {
        b.iter(|| black_box(walk_iterators(data, false)))
    });
    g.bench_function("iterators-keyed", |b| {
        b.iter(|| black_box(walk_iterators(data, true)))
    });
    g.finish();
    // The same, interleaved: each iteration walks the dump with the cursors
    // then with the iterators and counts the ratio of the two times as
    // milliseconds (1 ms: as fast). On a shared machine the load changes
    // between the runs of the group above; here both sides see the same.
    let mut g = c.benchmark_group("iterate-ratio");
    g.sample_size(20);
    for (name, keyed) in [
        ("iterators-per-cursors", false),
        ("keyed-iterators-per-cursors", true),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut ratios = 0.0;
                for _ in 0..iters {
                    let t0 = Instant::now();
                    black_box(walk_cursors(data));
                    let t1 = Instant::now();
                    black_box(walk_iterators(data, keyed));
                    ratios += t1.elapsed().as_secs_f64() / (t1 - t0).as_secs_f64();
                }
                Duration::from_secs_f64(ratios / 1000.0)
            })
        });
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    let data = mixed_dump(Target::redis(10));
    bench_iterate(c, &data);
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
