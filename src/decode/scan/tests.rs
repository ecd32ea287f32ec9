use super::*;
use crate::stats::{FileStats, Stats};
use std::collections::BTreeMap;

/// A file of tiny records where every offset parses a long way: a string
/// record `a` = `b` (5 bytes) repeated, with a byte no record starts with
/// every `gap` bytes.
fn tiny_records(len: usize, gap: usize) -> Vec<u8> {
    let mut d = b"REDIS0011".to_vec();
    let mut bad = gap;
    while d.len() < len {
        if d.len() >= bad {
            d.push(0xEE);
            bad = bad.saturating_add(gap);
        } else {
            d.extend_from_slice(b"\x00\x01a\x01b");
        }
    }
    d
}

#[test]
fn resync_work_is_bounded_on_crafted_input() {
    // Every candidate parses up to ~60 KiB (about 12,000 records) and then
    // fails: unbounded, one resync would parse billions.
    let data = tiny_records(24 << 20, 60 << 10);
    let (found, parsed) = resync(&data, Options::default(), 10 << 20, true);
    assert_eq!(found, None);
    assert!(parsed <= RESYNC_BUDGET, "{parsed}");
    // With no bad bytes the first candidate on a record start wins.
    let data = tiny_records(24 << 20, usize::MAX);
    let (found, parsed) = resync(&data, Options::default(), 10 << 20, true);
    let b = found.expect("a boundary");
    assert!(b >= 10 << 20);
    assert_eq!((b - 9) % 5, 0, "a record start");
    assert!(parsed < RESYNC_BUDGET / 4, "{parsed}");
}

#[test]
fn verify_of_crafted_input_fails_with_bounded_resync() {
    let data = tiny_records(24 << 20, 60 << 10);
    let e = crate::stats::inspect(&data, Options::default(), 0).unwrap_err();
    assert!(e.to_string().contains("offset"), "{e}");
}

/// About `mb` MiB of strings (half LZF text), listpack hashes and lists,
/// in db 0, then db 5 from a third on, then db 0 again from two thirds
/// on (and key `dup` twice when `dup`).
fn big_file(mb: usize, dup: bool) -> Vec<u8> {
    use crate::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
    let mut w = RdbWriter::new(Vec::new(), Target::redis(11)).unwrap();
    w.aux(b"redis-ver", b"7.2.4").unwrap();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let n = mb * 1024 * 1024 / 700;
    w.select_db(0).unwrap();
    for i in 0..n {
        if i == n / 3 {
            w.select_db(5).unwrap();
        }
        if i == n * 2 / 3 {
            w.select_db(0).unwrap();
        }
        let len = 100 + (rnd() % 1200) as usize;
        let v = match i % 5 {
            0 => OwnedValue::List(
                (0..len / 40)
                    .map(|j| format!("e{j}-{i}").into_bytes())
                    .collect(),
            ),
            1 => OwnedValue::Hash(
                (0..len / 60)
                    .map(|j| crate::encode::HashEntry {
                        field: format!("f{j}").into_bytes(),
                        value: format!("value {j} of {i}").into_bytes(),
                        expire_ms: None,
                    })
                    .collect(),
            ),
            2 => OwnedValue::String((0..len).map(|j| b"abc de"[(j * 7 + i) % 6]).collect()),
            _ => OwnedValue::String((0..len).map(|_| rnd() as u8).collect()),
        };
        let meta = KeyMeta {
            expire_ms: (i % 3 == 0).then_some(1_700_000_000_000 + i as i64),
            ..KeyMeta::default()
        };
        let key = if dup && i == n / 3 - 10 {
            "dup".to_string()
        } else {
            format!("key:{i}")
        };
        w.key(key.as_bytes(), &v, meta).unwrap();
        if dup && i == 10 {
            w.key(
                b"dup",
                &OwnedValue::String(b"x".to_vec()),
                KeyMeta::default(),
            )
            .unwrap();
        }
    }
    w.finish().unwrap()
}

fn stats(data: &[u8], opts: Options, threads: usize) -> Result<FileStats> {
    let header = Header::parse(data)?;
    let o = ScanOptions {
        decode: opts,
        threads,
        fingerprint: false,
    };
    let size = data.len() as u64;
    let done = scan(data, &o, |at| Stats::new(size, header, 0, at))?;
    Ok(done.sink.finish(done.checksum, done.trailing))
}

/// A sink that settles nothing: it trusts every record's db (so the
/// engine must walk a range again when it assumed the wrong one).
#[derive(Default)]
struct PerDb {
    keys: BTreeMap<u64, u64>,
    offsets: Vec<usize>,
}

impl<'a> Sink<'a> for PerDb {
    fn record(&mut self, at: usize, item: &Item<'a>, _: &Decoder<'a>) -> Result<()> {
        if let Item::Key(k) = item {
            *self.keys.entry(k.db).or_default() += 1;
            self.offsets.push(at);
        }
        Ok(())
    }
    fn append(&mut self, next: Self) {
        for (db, n) in next.keys {
            *self.keys.entry(db).or_default() += n;
        }
        self.offsets.extend(next.offsets);
    }
}

/// The parallel scan over many ranges gives the sequential walk's result,
/// or its first error, for any thread count, at every level, for a sink
/// that settles databases itself and for one that does not.
/// What a scan's statistics say: their JSON form when there is one, else
/// every field.
fn summary(r: &FileStats) -> String {
    #[cfg(feature = "json")]
    return r.to_json().to_string();
    #[cfg(not(feature = "json"))]
    return format!("{r:?}");
}

#[test]
fn parallel_scan_equals_sequential() {
    let clean = big_file(80, false);
    assert!(clean.len() > 8 * PIECE, "{}", clean.len());
    let mut cases = vec![clean.clone(), big_file(20, true)];
    for at in [clean.len() / 3, clean.len() * 3 / 4] {
        // A type byte no format has, at the start of a key record.
        let mut bad = clean.clone();
        let rec = (at..bad.len())
            .find(|&i| bad[i] == 0 && bad.get(i + 2..i + 6) == Some(b"key:"))
            .unwrap();
        bad[rec] = 0xEE;
        cases.push(bad);
    }
    let mut errors = 0;
    for data in &cases {
        for level in [Level::Full, Level::Deep] {
            let opts = Options {
                level,
                verify_checksum: false,
                ..Options::default()
            };
            let want = stats(data, opts, 1).map(|r| summary(&r));
            errors += usize::from(want.is_err());
            let per_db = |threads| {
                let o = ScanOptions {
                    decode: opts,
                    threads,
                    fingerprint: false,
                };
                scan(data, &o, |_| PerDb::default()).map(|d| (d.sink.keys, d.sink.offsets))
            };
            let want_db = per_db(1);
            if let Ok((keys, _)) = &want_db {
                assert_eq!(keys.len(), 2, "keys in dbs 0 and 5");
            }
            for threads in [2, 3, 8] {
                let got = stats(data, opts, threads).map(|r| summary(&r));
                assert_eq!(
                    format!("{got:?}"),
                    format!("{want:?}"),
                    "threads {threads} level {level:?}"
                );
                assert_eq!(
                    format!("{:?}", per_db(threads)),
                    format!("{want_db:?}"),
                    "per-db sink, threads {threads} level {level:?}"
                );
            }
        }
    }
    // Both damaged files at both levels, the duplicate key in deep mode.
    assert_eq!(errors, 5);
}

#[test]
fn a_wrong_checksum_is_found_at_any_thread_count() {
    let mut data = big_file(20, false);
    let n = data.len();
    data[n - 1] ^= 1;
    for threads in [1, 2, 4] {
        let e = stats(&data, Options::default(), threads).unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::ChecksumMismatch { .. }),
            "{e}"
        );
    }
}

/// The walkers compute the CRC-64 piece by piece: a byte changed inside a
/// value (the file still decodes) is found wherever it lies, at any thread
/// count, and a valid file is verified, with or without bytes after its
/// checksum.
#[test]
fn the_checksum_covers_every_byte_at_any_thread_count() {
    let data = big_file(20, false);
    let n = data.len();
    for threads in [1, 2, 4] {
        let r = stats(&data, Options::default(), threads).unwrap();
        assert!(
            matches!(r.checksum, Checksum::Verified(_)),
            "{threads} threads"
        );
        let mut longer = data.clone();
        longer.extend_from_slice(b"\0\0\0");
        let r = stats(&longer, Options::default(), threads).unwrap();
        assert!(
            matches!(r.checksum, Checksum::Verified(_)),
            "{threads} threads, trailing bytes"
        );
    }
    // Bytes of values: "value j of i" text of hash fields, found by search,
    // at the start, around each eighth and at the end of the file.
    let at: Vec<usize> = (0..8)
        .filter_map(|k| {
            let from = n * k / 8;
            data[from..]
                .windows(6)
                .position(|w| w == b"value ")
                .map(|p| from + p + 2)
        })
        .collect();
    assert!(at.len() >= 7, "{at:?}");
    for &i in &at {
        let mut bad = data.clone();
        bad[i] ^= 0x20;
        for threads in [1, 2, 4] {
            let e = stats(&bad, Options::default(), threads).unwrap_err();
            assert!(
                matches!(e.kind(), ErrorKind::ChecksumMismatch { .. }),
                "byte {i}, {threads} threads: {e}"
            );
        }
    }
}

#[test]
fn groups_across_and_within_lists() {
    let a = [(1, 10), (3, 11), (3, 12), (7, 13)];
    let b = [(2, 20), (3, 21), (8, 22)];
    let c = [(7, 30), (9, 31)];
    let mut got = Vec::new();
    equal_groups::<_, _, ()>(
        &[&a, &b, &c],
        |e: &(u64, u64)| e.0,
        |g| {
            let mut g: Vec<u64> = g.iter().map(|e| e.1).collect();
            g.sort();
            got.push(g);
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(got, vec![vec![11, 12, 21], vec![13, 30]]);
}

#[test]
fn a_panicking_worker_is_resumed_not_reported_as_data() {
    let r = std::panic::catch_unwind(|| {
        fan_out(8, 4, |i| {
            if i == 5 {
                panic!("bug in piece {i}");
            }
            i
        })
    });
    let p = r.unwrap_err();
    let msg = p.downcast_ref::<String>().cloned().unwrap_or_default();
    assert_eq!(msg, "bug in piece 5");
}

#[test]
fn a_range_ends_at_the_first_record_at_or_after_its_bound() {
    let data = big_file(1, false);
    let mut all = PerDb::default();
    let w = walk_range(&data, 9, usize::MAX, 0, Options::default(), &mut all).unwrap();
    assert!(w.eof.is_some() && w.selected && !w.assumed);
    let mid = all.offsets[all.offsets.len() / 2];
    let mut first = PerDb::default();
    let w1 = walk_range(&data, 9, mid - 1, 0, Options::default(), &mut first).unwrap();
    assert_eq!(w1.end, mid);
    assert!(w1.eof.is_none());
    let mut second = PerDb::default();
    let w2 = walk_range(
        &data,
        mid,
        usize::MAX,
        w1.db,
        Options::default(),
        &mut second,
    )
    .unwrap();
    assert!(
        w2.assumed && w2.selected,
        "db 5 until the SELECTDB 0 at two thirds"
    );
    first.append(second);
    assert_eq!(first.offsets, all.offsets);
    assert_eq!(first.keys, all.keys);
}

/// The k-way merge finds exactly the groups a map of every entry gives,
/// for lists with repeats inside and across them.
#[test]
fn equal_groups_matches_a_map_of_every_entry() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..200 {
        let k = 1 + round % 12; // both the scan of heads (<= 8) and the heap
        let range = 5 + (round as u64 * 13) % 400;
        let lists: Vec<Vec<(u64, u64)>> = (0..k)
            .map(|j| {
                let n = (rnd() % 60) as usize;
                let mut l: Vec<(u64, u64)> = (0..n)
                    .map(|i| (rnd() % range, (j * 1000 + i) as u64))
                    .collect();
                l.sort_unstable_by_key(|e| e.0);
                l
            })
            .collect();
        let mut want: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for e in lists.iter().flatten() {
            want.entry(e.0).or_default().push(e.1);
        }
        let mut want: Vec<Vec<u64>> = want.into_values().filter(|g| g.len() > 1).collect();
        for g in &mut want {
            g.sort_unstable();
        }
        let refs: Vec<&[(u64, u64)]> = lists.iter().map(Vec::as_slice).collect();
        let mut got = Vec::new();
        equal_groups::<_, _, ()>(
            &refs,
            |e| e.0,
            |g| {
                assert!(g.iter().all(|e| e.0 == g[0].0));
                let mut v: Vec<u64> = g.iter().map(|e| e.1).collect();
                v.sort_unstable();
                got.push(v);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(got, want, "round {round}");
    }
}

#[test]
fn db_starts_find_each_records_database() {
    let mut a = DbStarts::default();
    for (at, db) in [(10, 0), (20, 0), (30, 5), (40, 5)] {
        a.note(at, db);
    }
    let mut b = DbStarts::default();
    for (at, db) in [(50, 5), (60, 0)] {
        b.note(at, db);
    }
    assert!(a.continues_in(&b));
    a.append(b);
    assert_eq!(a.len(), 3);
    let got: Vec<u64> = [10, 25, 30, 55, 60, 99]
        .iter()
        .map(|&o| a.db_at(o))
        .collect();
    assert_eq!(got, [0, 0, 5, 5, 0, 0]);
    assert_eq!(a.db_at(5), 0, "before the first record");
    let s: Vec<_> = a.stretches().collect();
    assert_eq!(s, [(10, 30, 0), (30, 60, 5), (60, usize::MAX, 0)]);
    assert!(!a.continues_in(&DbStarts::default()));
}
