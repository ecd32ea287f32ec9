//! Regression tests: every problem the fuzzers (fuzz/) and the hostile-input
//! tests found, as a small input replayed through the same checks the fuzz
//! targets run (fuzz/src/lib.rs is included below as a module) plus the
//! precise expectation.

#[path = "../fuzz/src/lib.rs"]
mod fuzz_checks;

#[path = "common/alloc.rs"]
mod alloc;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

use fuzz_checks::{check_convert, check_file, check_merge, check_payload, check_roundtrip};
use rdbkit::decode::{Decoder, Item, Level, Options};
use rdbkit::format::crc::crc64;
use rdbkit::stats::inspect;
use rdbkit::ErrorKind;

/// Appends EOF and a valid CRC-64 to a file body.
fn with_crc(body: &[u8]) -> Vec<u8> {
    let mut f = body.to_vec();
    f.push(0xFF);
    let c = crc64(&f);
    f.extend_from_slice(&c.to_le_bytes());
    f
}

/// Every check of every fuzz target on one input.
fn all_checks(data: &[u8]) {
    check_file(data);
    check_payload(data);
    check_roundtrip(data);
    check_convert(data);
    // Merge the input with itself: policy "first", databases kept.
    let mut m = vec![1 | 16];
    m.extend_from_slice(&(data.len() as u32).to_le_bytes());
    m.extend_from_slice(data);
    m.extend_from_slice(data);
    check_merge(&m);
}

/// fuzz `roundtrip`: a version-2 stream (type 19) inside an RDB 9 file is
/// written back as a version-1 stream, which does not store the first id,
/// max deleted id or entries-added count; a reader derives them. The round
/// trip compares such streams in that derived form (the fuzzer first
/// reported the derived `None`s as changed values).
#[test]
fn stream_v2_in_rdb9_round_trips_through_stream_v1() {
    #[rustfmt::skip]
    let body: &[u8] = &[
        b'R', b'E', b'D', b'I', b'S', b'0', b'0', b'0', b'9', 0xFE, 0x00,
        19, 1, b's', // type 19 (stream v2), key "s"
        1, // one node; its key is the id 5-0
        16, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0,
        // node listpack (29 bytes, 10 elements): master entry count 1,
        // deleted 0, 1 field "f", 0; entry SAMEFIELDS, +0, +0, "v", lp-count 4
        29, 29, 0, 0, 0, 10, 0,
        1, 1, 0, 1, 1, 1, 0x81, b'f', 2, 0, 1,
        2, 1, 0, 1, 0, 1, 0x81, b'v', 2, 4, 1, 0xFF,
        // length 1, last id 5-0, first id 5-0, max deleted 0-0, added 1, 0 groups
        1, 5, 0, 5, 0, 0, 0, 1, 0,
    ];
    let f = body.to_vec();
    let f = with_crc(&f);
    assert!(inspect(
        &f,
        Options {
            level: Level::Deep,
            ..Options::default()
        },
        0
    )
    .is_ok());
    all_checks(&f);
}

/// `format/lzf/decompress.rs`: `decompress` and `decompress_to_vec`
/// allocated the claimed output length before reading the stream, so an LZF
/// string of junk claiming 88 times its size (the largest ratio LZF allows,
/// hence accepted by the length checks) cost 88 x the input in heap
/// wherever a value is materialised without a prior `validate`
/// (Level::Skip, blobs, stream nodes, deep collection checks). Now outputs
/// over 1 MiB are allocated only once the stream is shown to produce them.
#[test]
fn lzf_junk_claiming_88x_allocates_nothing_large() {
    let clen = 16_000usize; // claims 1.4 MB
    let mut junk = Vec::new();
    while junk.len() + 33 <= clen {
        junk.push(31);
        junk.extend_from_slice(&[b'j'; 32]);
    }
    junk.resize(clen, 0);
    let mut body = b"REDIS0011\xFA\x01k\xC3".to_vec();
    let len = |n: usize| {
        let mut v = vec![0x80];
        v.extend_from_slice(&(n as u32).to_be_bytes());
        v
    };
    body.extend(len(clen));
    body.extend(len(88 * clen));
    body.extend(&junk);
    let f = with_crc(&body);
    let (r, u) = alloc::measure(|| {
        let mut errs = 0;
        for item in Decoder::new(
            &f,
            Options {
                level: Level::Skip,
                ..Options::default()
            },
        )
        .unwrap()
        {
            if let Ok(Item::Aux { value, .. }) = item {
                errs += usize::from(value.to_bytes().is_err());
            }
        }
        errs
    });
    assert_eq!(r, 1, "the junk must not decompress");
    assert!(u.peak_bytes < 4 * f.len(), "{} bytes of heap", u.peak_bytes);
    assert!(inspect(&f, Options::default(), 0).is_err());
    all_checks(&f);
}

/// `decode/items.rs`: `Limits::max_collection_len` was checked only
/// against the stated count of plain encodings; listpacks, ziplists,
/// intsets and quicklists of any length passed a lower limit.
#[test]
fn collection_limit_applies_to_blob_encodings() {
    let mut lp = rdbkit::encode::ListpackBuilder::new();
    for e in [b"a", b"b", b"c"] {
        lp.push(rdbkit::encode::BlobElem::Bytes(e));
    }
    let lp = lp.finish();
    let mut body = b"REDIS0011\x14\x01k".to_vec();
    body.push(lp.len() as u8);
    body.extend_from_slice(&lp);
    let f = with_crc(&body);
    let mut o = Options::default();
    assert!(inspect(&f, o, 0).is_ok());
    o.limits.max_collection_len = 2;
    let e = inspect(&f, o, 0).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::LimitExceeded { .. }), "{e}");
    all_checks(&f);
}

/// `encode/stream.rs`: writing a stream for a target before stream v5
/// removed the NACK-zone ids from each group PEL with a linear search per
/// PEL entry, quadratic in the PEL size (a 4x larger PEL took 10-15x the
/// time; `tests/hostile.rs` `conversion_time_is_linear` measures it). Now a
/// sorted list and binary search; this checks the result is unchanged.
#[test]
fn nack_zone_leaves_the_pel_for_older_targets() {
    use rdbkit::decode::StreamId;
    use rdbkit::encode::{
        AllowLoss, ConsumerValue, GroupValue, KeyMeta, OwnedValue, PendingValue, RdbWriter,
        StreamValue, Target,
    };
    let id = |seq| StreamId { ms: 1, seq };
    let pending = |seq| PendingValue {
        id: id(seq),
        delivery_time_ms: 1,
        delivery_count: 1,
    };
    let stream = StreamValue {
        entries: vec![(id(0), vec![(b"f".to_vec(), b"v".to_vec())])],
        length: None,
        last_id: id(3),
        groups: vec![GroupValue {
            name: b"g".to_vec(),
            last_id: id(3),
            entries_read: None,
            pel: vec![pending(3), pending(0), pending(2), pending(1)],
            consumers: vec![ConsumerValue {
                name: b"c".to_vec(),
                seen_time_ms: 1,
                active_time_ms: None,
                pel: vec![id(0), id(2)],
            }],
            nacked: vec![id(3), id(1)],
        }],
        ..StreamValue::default()
    };
    let v = OwnedValue::Stream(Box::new(stream));
    for (version, want) in [(14, vec![3, 0, 2, 1]), (11, vec![0, 2])] {
        let mut w = RdbWriter::new(Vec::new(), Target::redis(version)).unwrap();
        w.allow = AllowLoss {
            field_ttls: false,
            stream_metadata: true,
        };
        w.key(b"s", &v, KeyMeta::default()).unwrap();
        let f = w.finish().unwrap();
        let deep = Options {
            level: Level::Deep,
            ..Options::default()
        };
        for item in Decoder::new(&f, deep).unwrap() {
            if let Item::Key(k) = item.unwrap() {
                let OwnedValue::Stream(s) = OwnedValue::from_value(&k.value).unwrap() else {
                    panic!("not a stream");
                };
                let pel: Vec<u64> = s.groups[0].pel.iter().map(|p| p.id.seq).collect();
                assert_eq!(pel, want, "RDB {version}");
            }
        }
        all_checks(&f);
    }
}

/// fuzz `decode_payload` (harness): an RDB file given to the payload
/// target is cut into the DUMP payloads of its values. The cutter first
/// stopped at the first non-key record (every real file starts with AUX
/// fields), so file inputs produced no payload at all.
#[test]
fn every_value_of_a_fixture_becomes_a_valid_payload() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/redis-7.4/all-types.rdb"
    );
    let data = std::fs::read(path).unwrap();
    let keys = inspect(&data, Options::default(), 0).unwrap().keys();
    let payloads = fuzz_checks::payloads_of(&data);
    assert_eq!(payloads.len() as u64, keys);
    for p in &payloads {
        let d = rdbkit::decode::decode_payload(p, Options::default());
        // Redis refuses to RESTORE an empty collection; anything else decodes.
        if let Err(e) = d {
            assert!(e.to_string().contains("empty"), "{e}");
        }
    }
    check_payload(&data);
}

/// The fuzz checks hold on every fixture (a sanity check of the harness:
/// real files decode at every level, round-trip, convert and merge).
#[test]
fn fixtures_pass_every_fuzz_check() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut n = 0;
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        let Ok(files) = std::fs::read_dir(&dir) else {
            continue;
        };
        for f in files {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "rdb") {
                let data = std::fs::read(&f).unwrap();
                assert!(
                    inspect(&data, Options::default(), 0).is_ok(),
                    "{}",
                    f.display()
                );
                all_checks(&data);
                n += 1;
            }
        }
    }
    assert!(n >= 20, "{n} fixtures");
}

/// Fuzz `merge` (2026-12-04): an RDB 2 zipmap hash with a duplicate field
/// is accepted with a warning (Redis 5.0 / 6.0 load it), but copied into
/// an RDB 13 output it makes a file Redis 7+ refuses. The merge refuses it
/// for such a target, and merges it for a target whose loaders accept it.
#[test]
fn a_record_valid_only_in_its_own_version_is_not_copied_into_a_newer_one() {
    use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
    use rdbkit::merge::{merge, MergeOptions};
    let mut w = RdbWriter::new(Vec::new(), Target::redis(13)).unwrap();
    w.select_db(0).unwrap();
    w.resize_db(1, 0).unwrap();
    w.key(b"a", &OwnedValue::String(b"v".to_vec()), KeyMeta::default())
        .unwrap();
    let a = w.finish().unwrap();
    // REDIS0002, db 0, a zipmap hash "h" with the field "f" twice.
    let zipmap = [2, 1, b'f', 1, 0, b'a', 1, b'f', 1, 0, b'b', 0xFF];
    let mut b = b"REDIS0002\xfe\x00\x09\x01h".to_vec();
    b.push(zipmap.len() as u8);
    b.extend_from_slice(&zipmap);
    b.push(0xFF);
    let r = inspect(&b, Options::default(), 0).unwrap();
    assert_eq!(r.warnings.total(), 1, "a warning in its own version");
    // The fuzz target's invariant: an Ok merge verifies at Full.
    let mut data = vec![0u8];
    data.extend_from_slice(&(a.len() as u32).to_le_bytes());
    data.extend_from_slice(&a);
    data.extend_from_slice(&b);
    check_merge(&data);
    // Directly: refused for RDB 13, merged for RDB 9.
    let dir = std::env::temp_dir().join(format!("rdbkit-regress-zipmap-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.rdb"), &a).unwrap();
    std::fs::write(dir.join("b.rdb"), &b).unwrap();
    let inputs = vec![dir.join("a.rdb"), dir.join("b.rdb")];
    let e = merge(&MergeOptions::new(inputs.clone(), dir.join("o13.rdb"))).unwrap_err();
    assert!(e.is_refusal(), "{e}");
    assert!(e.to_string().contains("refuses"), "{e}");
    assert!(!dir.join("o13.rdb").exists());
    let mut o = MergeOptions::new(inputs, dir.join("o9.rdb"));
    o.target = Some(Target::redis(9));
    let r = merge(&o).unwrap();
    assert_eq!(r.output_keys(), 2);
    let out = std::fs::read(dir.join("o9.rdb")).unwrap();
    inspect(&out, Options::default(), 0).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Fuzz `convert` (2026-12-04): a Valkey stream whose one entry is deleted
/// keeps its stored length 1; written for RDB 10 with no node left, that
/// length is one Redis 7.0+ refuse. With stream-metadata losses allowed it
/// is written as 0 (and counted), otherwise it is an encode error.
#[test]
fn a_stored_stream_length_without_nodes_is_not_written_for_rdb_10() {
    let data: &[u8] = &[
        0x56, 0x41, 0x4c, 0x4b, 0x45, 0x59, 0x30, 0x38, 0x30, 0xfa, 0x0a, 0x76, 0x61, 0x6c, 0x6b,
        0x65, 0x79, 0x2d, 0x76, 0x65, 0x72, 0x05, 0x39, 0x2e, 0x31, 0x2e, 0x32, 0xfa, 0x0a, 0x72,
        0x65, 0x64, 0x69, 0x73, 0x2d, 0x62, 0x69, 0x74, 0x73, 0xc0, 0x40, 0xfa, 0x05, 0x63, 0x74,
        0x69, 0x6d, 0x65, 0xc2, 0xe2, 0xc1, 0x06, 0x6b, 0xfa, 0x08, 0x75, 0x73, 0x65, 0x64, 0x2d,
        0x6d, 0x65, 0x6d, 0xc2, 0x88, 0xda, 0x11, 0x00, 0xfa, 0x08, 0x61, 0x6f, 0x66, 0x2d, 0x62,
        0x61, 0x73, 0x65, 0xc0, 0x00, 0xfe, 0x00, 0xfb, 0x07, 0x00, 0x00, 0x05, 0x62, 0x3a, 0x6b,
        0x3a, 0x30, 0x02, 0x76, 0x30, 0x00, 0x05, 0x62, 0x3a, 0x6b, 0x3a, 0x31, 0x02, 0x76, 0x31,
        0x00, 0x05, 0x62, 0x3a, 0x6b, 0x3a, 0x32, 0x02, 0x76, 0x32, 0x00, 0x05, 0x62, 0x3a, 0x6b,
        0x3a, 0x33, 0x02, 0x76, 0x33, 0x00, 0x05, 0x62, 0x3a, 0x6b, 0x3a, 0x34, 0x02, 0x76, 0x34,
        0x16, 0x05, 0x62, 0x3a, 0x68, 0x66, 0x65, 0x02, 0x02, 0x66, 0x31, 0x02, 0x76, 0x31, 0x00,
        0xd8, 0xc3, 0x2c, 0xbb, 0x03, 0x00, 0x00, 0x02, 0x66, 0x32, 0x02, 0x76, 0x32, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x15, 0x08, 0x62, 0x3a, 0x73, 0x74, 0x72, 0x65, 0x61,
        0x6d, 0x01, 0x10, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x01, 0x1d, 0x1d, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x01, 0x01, 0x00, 0x01,
        0x01, 0x01, 0x81, 0x66, 0x02, 0x00, 0x01, 0x3b, 0x01, 0x00, 0x01, 0x00, 0x01, 0x81, 0x76,
        0x02, 0x04, 0x01, 0xff, 0x01, 0x81, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x01,
        0x81, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x01, 0x00, 0x00, 0x01, 0x00, 0xff,
        0xb0, 0x2b, 0x35, 0x13, 0x85, 0xe4, 0x11, 0x6d,
    ];
    check_convert(data);
}

/// Asking a value for a type it is not is the caller's mistake, a distinct
/// error kind, never "corrupt data".
#[test]
fn asking_for_the_wrong_type_is_a_wrong_type_error() {
    let file = b"REDIS0011\xfe\x00\x00\x01a\xc0\x01\xff\0\0\0\0\0\0\0\0";
    let Some(Ok(Item::Key(k))) = Decoder::new(file, Options::default()).unwrap().nth(1) else {
        panic!("no key record");
    };
    let e = k.value.stream().unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::WrongType {
                rdb_type: 0,
                kind: "string",
                wanted: "a stream"
            }
        ),
        "{e}"
    );
    let Err(e) = k.value.items() else {
        panic!("a string has no elements")
    };
    assert!(
        matches!(e.kind(), ErrorKind::WrongType { rdb_type: 0, .. }),
        "{e}"
    );
}

/// fuzz `decode_file` (harness, after the scan engine): a file with a key
/// twice in one database. The duplicate check moved from the `Decoder` to
/// the scan engine, so a Decoder's own walk at Deep counts both copies
/// while `inspect` at Deep refuses the file; the harness compared the two
/// as equals.
#[test]
fn a_duplicate_key_is_found_by_the_scan_engine_not_a_lone_decoder() {
    let f = with_crc(b"REDIS0011\xfe\x00\x00\x01k\x01a\x00\x01k\x01b");
    all_checks(&f);
    let deep = Options {
        level: Level::Deep,
        ..Options::default()
    };
    let e = inspect(&f, deep, 0).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::DuplicateKey { db: 0, .. }),
        "{e}"
    );
    assert_eq!(e.key(), Some(&b"k"[..]));
    let keys = Decoder::new(&f, deep)
        .unwrap()
        .filter(|i| matches!(i, Ok(Item::Key(_))))
        .count();
    assert_eq!(keys, 2);
}
