//! Encoder throughput: writing a mixed dataset with `RdbWriter` (every
//! value encoded as a server would: integer / LZF strings, listpacks,
//! quicklists, intsets, skiplists, stream nodes), and the pass-through copy
//! `rdbkit convert` does for a same-version target (records located with
//! the skip-level decoder and copied verbatim through `key_verbatim`).
//!
//! `cargo bench --bench encode`; throughput is in bytes of RDB written.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rdbkit::decode::{Decoder, Item, Level, Options, StreamId};
use rdbkit::encode::{HashEntry, KeyMeta, OwnedValue, RdbWriter, StreamValue, Target};

mod common;

use common::{write_dump, Record, Rng};

/// About 10 MB of mixed keys.
fn dataset() -> Vec<Record> {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::new();
    for i in 0..20_000u64 {
        let n = 8 + (r.next() % 300) as usize;
        let v = match i % 4 {
            0 => r.word(n),                  // compressible: LZF
            1 => r.noise(n),                 // incompressible: raw
            2 => i.to_string().into_bytes(), // integer form
            _ => r.word(12),
        };
        let meta = KeyMeta {
            expire_ms: (i % 5 == 0).then_some(4_102_444_800_000),
            ..KeyMeta::default()
        };
        out.push((format!("str:{i}").into_bytes(), OwnedValue::String(v), meta));
    }
    for i in 0..400u64 {
        let big = i % 10 == 0;
        let n = if big { 3000 } else { 40 };
        let fields = (0..n)
            .map(|f| {
                let n = 5 + (r.next() % 40) as usize;
                HashEntry {
                    field: format!("field:{f}").into_bytes(),
                    value: r.word(n),
                    expire_ms: None,
                }
            })
            .collect();
        out.push((
            format!("h:{i}").into_bytes(),
            OwnedValue::Hash(fields),
            KeyMeta::default(),
        ));
        let list = (0..n)
            .map(|_| {
                let n = 10 + (r.next() % 50) as usize;
                r.word(n)
            })
            .collect();
        out.push((
            format!("l:{i}").into_bytes(),
            OwnedValue::List(list),
            KeyMeta::default(),
        ));
        let set = (0..n)
            .map(|k| format!("{}", k * 7 + i).into_bytes())
            .collect();
        out.push((
            format!("s:{i}").into_bytes(),
            OwnedValue::Set(set),
            KeyMeta::default(),
        ));
        let z = (0..n)
            .map(|k| {
                (
                    format!("m{k}").into_bytes(),
                    (r.next() % 100_000) as f64 / 7.0,
                )
            })
            .collect();
        out.push((
            format!("z:{i}").into_bytes(),
            OwnedValue::ZSet(z),
            KeyMeta::default(),
        ));
    }
    for i in 0..100u64 {
        let entries = (0..500u64)
            .map(|e| {
                (
                    StreamId {
                        ms: 1_700_000_000_000 + e,
                        seq: 0,
                    },
                    vec![
                        (b"sensor".to_vec(), format!("s{}", e % 7).into_bytes()),
                        (
                            b"value".to_vec(),
                            (r.next() % 1000).to_string().into_bytes(),
                        ),
                    ],
                )
            })
            .collect();
        let s = StreamValue {
            entries,
            length: None,
            last_id: StreamId {
                ms: 1_700_000_000_499,
                seq: 0,
            },
            ..StreamValue::default()
        };
        out.push((
            format!("x:{i}").into_bytes(),
            OwnedValue::Stream(Box::new(s)),
            KeyMeta::default(),
        ));
    }
    out
}

fn write_all(target: Target, data: &[Record]) -> Vec<u8> {
    write_dump(Vec::with_capacity(16 << 20), target, "7.4.1", data)
}

/// What `convert` does for a same-version target, minus file I/O.
fn pass_through(input: &[u8], target: Target) -> Vec<u8> {
    let opts = Options {
        level: Level::Skip,
        verify_checksum: false,
        ..Options::default()
    };
    let mut w = RdbWriter::new(Vec::with_capacity(input.len()), target).unwrap();
    w.standard_aux("7.4.1", 0, 0).unwrap();
    for item in Decoder::new(input, opts).unwrap() {
        match item.unwrap() {
            Item::SelectDb(db) => w.select_db(db).unwrap(),
            Item::ResizeDb { keys, expires } => w.resize_db(keys, expires).unwrap(),
            Item::Key(k) => {
                let meta = KeyMeta {
                    expire_ms: k.expire_ms,
                    idle: k.idle,
                    freq: k.freq,
                };
                w.key_verbatim(&k, meta).unwrap();
            }
            _ => {}
        }
    }
    w.finish().unwrap()
}

fn bench(c: &mut Criterion) {
    let data = dataset();
    for (name, target) in [
        ("redis-7.4", Target::redis(12)),
        ("redis-6.2", Target::redis(9)),
    ] {
        let file = write_all(target, &data);
        let mut g = c.benchmark_group(format!("encode/{name}"));
        g.throughput(Throughput::Bytes(file.len() as u64));
        g.sample_size(10);
        g.bench_function("mixed dataset", |b| b.iter(|| write_all(target, &data)));
        g.finish();
    }
    let file = write_all(Target::redis(12), &data);
    let mut g = c.benchmark_group("pass-through");
    g.throughput(Throughput::Bytes(file.len() as u64));
    g.sample_size(20);
    g.bench_function("skip-decode + key_verbatim", |b| {
        b.iter(|| pass_through(&file, Target::redis(12)))
    });
    g.bench_function("memcpy (baseline)", |b| {
        b.iter_batched(|| (), |()| file.clone(), BatchSize::SmallInput)
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
