//! The iterators of the decoder (`Value::elements`, `Value::scored`,
//! `Value::fields`, `Stream::entries` and the methods of the same names of
//! `KeyRecord`) against `rdbkit dump`.
//!
//! * `fixtures_match_dump`: every key of every `tests/fixtures/**/*.rdb`,
//!   read through the iterators and written in the `dump` JSON format, is
//!   byte for byte what `rdbkit::export::json::write_value` (the
//!   renderer of `rdbkit dump`) writes for lists, sets, sorted sets and
//!   hashes, and the same JSON as its `entries` for streams; the methods
//!   of `KeyRecord` yield the same items; every other method gives
//!   `WrongType` (with the key through `KeyRecord`). Needs the `json`
//!   feature, as the next one.
//! * `corpus_matches_dump`: the same over the third-party corpus in
//!   `../shared/corpus` (old encodings, corrupt files), decoded at
//!   `Level::Skip` so that broken values reach the iterators: the same
//!   output, or the same error (with the key through `KeyRecord`).
//! * unit tests (every feature set): `WrongType`, integer-encoded
//!   elements as decimal text, borrowed and owned bytes, errors in the
//!   middle of a value naming the key, deleted stream entries.

mod common;

use std::borrow::Cow;

use rdbkit::decode::{Decoder, Elem, Item, KeyRecord, Kind, Level, Options, StreamId};
use rdbkit::encode::{HashEntry, KeyMeta, OwnedValue, RdbWriter, StreamValue, Target};
use rdbkit::{Error, ErrorKind, Result};

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Every method that does not fit the key's kind: the first `next()` is
/// a `WrongType` error (with the key through `KeyRecord`), then `None`.
fn check_wrong_types(k: &KeyRecord<'_>) -> std::result::Result<(), String> {
    let kind = k.value.kind();
    let key = k.key.to_bytes().unwrap().into_owned();
    // Errors keep the first 200 bytes of a key.
    let key = &key[..key.len().min(200)];
    let mut firsts: Vec<(&str, Option<Error>, Option<Error>, bool)> = Vec::new();
    fn first<T, I: Iterator<Item = Result<T>>>(mut it: I) -> (Option<Error>, bool) {
        let e = it.next().and_then(|r| r.err());
        (e, it.next().is_none())
    }
    if kind != Kind::List && kind != Kind::Set {
        let (a, ended_a) = first(k.value.elements());
        let (b, ended_b) = first(k.elements());
        firsts.push(("elements", a, b, ended_a && ended_b));
    }
    if kind != Kind::ZSet {
        let (a, ended_a) = first(k.value.scored());
        let (b, ended_b) = first(k.scored());
        firsts.push(("scored", a, b, ended_a && ended_b));
    }
    if kind != Kind::Hash {
        let (a, ended_a) = first(k.value.fields());
        let (b, ended_b) = first(k.fields());
        firsts.push(("fields", a, b, ended_a && ended_b));
    }
    if kind != Kind::Stream {
        let (b, ended_b) = first(k.entries());
        firsts.push(("entries", k.value.stream().err(), b, ended_b));
    }
    for (what, a, b, ended) in firsts {
        let ok = matches!(
            a.as_ref().map(Error::kind),
            Some(ErrorKind::WrongType { .. })
        ) && matches!(
            b.as_ref().map(Error::kind),
            Some(ErrorKind::WrongType { .. })
        ) && a.as_ref().unwrap().key().is_none()
            && b.as_ref().unwrap().key() == Some(key)
            && ended;
        if !ok {
            return Err(format!(
                "{what}() on a {kind}: {a:?} / {b:?}, ended after it: {ended}"
            ));
        }
    }
    Ok(())
}

/// Comparisons with `rdbkit dump` (its JSON renderer needs the `json`
/// feature).
#[cfg(feature = "json")]
mod dump {
    use super::*;
    use rdbkit::decode::Value;
    use rdbkit::export::json::{write_bytes, write_f64, write_value};
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    /// Every `*.rdb` under `dir`, sorted.
    fn rdb_files(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rdb") {
                    out.push(p);
                }
            }
        }
        out.sort();
        out
    }

    /// A sorted set's iterator, boxed.
    type BoxedScored<'a> = Box<dyn Iterator<Item = Result<(Cow<'a, [u8]>, f64)>> + 'a>;

    fn s(out: &mut Vec<u8>, b: &[u8]) {
        out.extend_from_slice(b);
    }

    /// Which iterators to read a key with.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Via {
        /// `Value::elements()` and the others (errors without the key).
        Value,
        /// `KeyRecord::elements()` and the others (errors with the key).
        Record,
    }

    /// The key's value read through the iterators, written as `dump` writes
    /// it (for streams: only the `entries` array). `None` for the kinds the
    /// iterators do not cover (strings, modules, arrays).
    fn render(k: &KeyRecord<'_>, via: Via) -> Option<Result<Vec<u8>>> {
        let mut out = Vec::new();
        let r = match k.value.kind() {
            Kind::List | Kind::Set => {
                let it: Box<dyn Iterator<Item = Result<Cow<'_, [u8]>>>> = match via {
                    Via::Value => Box::new(k.value.elements()),
                    Via::Record => Box::new(k.elements()),
                };
                render_elements(&mut out, it)
            }
            Kind::ZSet => {
                let it: BoxedScored<'_> = match via {
                    Via::Value => Box::new(k.value.scored()),
                    Via::Record => Box::new(k.scored()),
                };
                render_scored(&mut out, it)
            }
            Kind::Hash => {
                let it: Box<dyn Iterator<Item = Result<rdbkit::decode::Field<'_>>>> = match via {
                    Via::Value => Box::new(k.value.fields()),
                    Via::Record => Box::new(k.fields()),
                };
                render_fields(&mut out, it)
            }
            Kind::Stream => match via {
                Via::Value => k
                    .value
                    .stream()
                    .and_then(|st| render_entries(&mut out, st.entries())),
                Via::Record => render_entries(&mut out, k.entries()),
            },
            _ => return None,
        };
        Some(r.map(|()| out))
    }

    fn render_elements<'a>(
        out: &mut Vec<u8>,
        it: impl Iterator<Item = Result<Cow<'a, [u8]>>>,
    ) -> Result<()> {
        s(out, b"[");
        for (i, e) in it.enumerate() {
            if i > 0 {
                s(out, b",");
            }
            write_bytes(out, &e?)?;
        }
        s(out, b"]");
        Ok(())
    }

    fn render_scored<'a>(
        out: &mut Vec<u8>,
        it: impl Iterator<Item = Result<(Cow<'a, [u8]>, f64)>>,
    ) -> Result<()> {
        s(out, b"[");
        for (i, m) in it.enumerate() {
            let (m, score) = m?;
            s(out, if i == 0 { b"[" } else { b",[" });
            write_bytes(out, &m)?;
            s(out, b",");
            write_f64(out, score)?;
            s(out, b"]");
        }
        s(out, b"]");
        Ok(())
    }

    fn render_fields<'a>(
        out: &mut Vec<u8>,
        it: impl Iterator<Item = Result<rdbkit::decode::Field<'a>>>,
    ) -> Result<()> {
        s(out, b"[");
        for (i, f) in it.enumerate() {
            let f = f?;
            s(out, if i == 0 { b"[" } else { b",[" });
            write_bytes(out, &f.field)?;
            s(out, b",");
            write_bytes(out, &f.value)?;
            if let Some(x) = f.expire_ms {
                s(out, format!(",{x}").as_bytes());
            }
            s(out, b"]");
        }
        s(out, b"]");
        Ok(())
    }

    fn render_entries<'a>(
        out: &mut Vec<u8>,
        it: impl Iterator<Item = Result<rdbkit::decode::StreamEntry<'a>>>,
    ) -> Result<()> {
        s(out, b"[");
        for (i, e) in it.enumerate() {
            let e = e?;
            assert!(!e.deleted, "deleted entry without include_deleted");
            s(out, if i == 0 { b"[" } else { b",[" });
            s(out, format!("\"{}\",[", e.id).as_bytes());
            for (j, (f, v)) in e.fields.iter().enumerate() {
                s(out, if j == 0 { b"[" } else { b",[" });
                write_bytes(out, f)?;
                s(out, b",");
                write_bytes(out, v)?;
                s(out, b"]");
            }
            s(out, b"]]");
        }
        s(out, b"]");
        Ok(())
    }

    /// What `dump` writes for the value: its JSON (for a stream, the
    /// `entries` array), or the error, and whether the output got past the
    /// part the iterators read (a stream error in its groups).
    fn dump_of(v: &Value<'_>) -> (std::result::Result<Vec<u8>, Error>, bool) {
        let mut out = Vec::new();
        let r = write_value(&mut out, v);
        let past = v.kind() == Kind::Stream && find(&out, b"],\"groups\":[").is_some();
        match r {
            Err(e) => (Err(e), past),
            Ok(()) if v.kind() == Kind::Stream => {
                let j: serde_json::Value = serde_json::from_slice(&out).unwrap();
                (Ok(j["entries"].to_string().into_bytes()), past)
            }
            Ok(()) => (Ok(out), past),
        }
    }

    /// Streams are compared as JSON (the `dump` output is parsed to extract
    /// its entries, which changes nothing but the spelling).
    fn same_json(kind: Kind, ours: &[u8], dump: &[u8]) -> bool {
        if kind != Kind::Stream {
            return ours == dump;
        }
        let a: serde_json::Value = serde_json::from_slice(ours).unwrap();
        let b: serde_json::Value = serde_json::from_slice(dump).unwrap();
        a == b
    }

    /// Compares one key; `Err` describes the difference.
    fn check_key(k: &KeyRecord<'_>, tally: &mut Tally) -> std::result::Result<(), String> {
        let kind = k.value.kind();
        let Some(ours) = render(k, Via::Value) else {
            return check_wrong_types(k);
        };
        let keyed = render(k, Via::Record).unwrap();
        let key = k.key.to_bytes().unwrap().into_owned();
        let (dump, dump_past) = dump_of(&k.value);
        let enc = k.value.encoding();
        match (&ours, &keyed, &dump) {
            (Ok(a), Ok(b), Ok(d)) => {
                if a != b || !same_json(kind, a, d) {
                    return Err(format!(
                        "{kind} ({enc}): ours {}, via KeyRecord {}, dump {}",
                        String::from_utf8_lossy(a),
                        String::from_utf8_lossy(b),
                        String::from_utf8_lossy(d)
                    ));
                }
                *tally.ok.entry(format!("{kind} {enc}")).or_default() += 1;
            }
            // The stream's entries were all written: the error is in its groups.
            (Ok(_), Ok(_), Err(_)) if dump_past => {
                *tally.ok.entry(format!("{kind} {enc}")).or_default() += 1;
            }
            (Err(a), Err(b), Err(d)) => {
                if a != d || a.key().is_some() || *b != d.clone().with_key(&key) {
                    return Err(format!(
                        "{kind} ({enc}): error {a} / via KeyRecord {b}, dump {d}"
                    ));
                }
                *tally.err.entry(format!("{kind} {enc}")).or_default() += 1;
            }
            _ => {
                return Err(format!(
                    "{kind} ({enc}): ours {:?}, via KeyRecord {:?}, dump {:?}",
                    ours.as_ref()
                        .map(|v| String::from_utf8_lossy(v).into_owned()),
                    keyed
                        .as_ref()
                        .map(|v| String::from_utf8_lossy(v).into_owned()),
                    dump.as_ref()
                        .map(|v| String::from_utf8_lossy(v).into_owned()),
                ))
            }
        }
        check_wrong_types(k)
    }

    #[derive(Default, Debug)]
    struct Tally {
        /// "kind encoding" -> keys read completely.
        ok: BTreeMap<String, u64>,
        /// "kind encoding" -> keys whose value fails (the same way as `dump`).
        err: BTreeMap<String, u64>,
        files: usize,
        keys: u64,
    }

    /// Reads every key of `data` at `level`; `Err` lists the differences.
    fn check_file(data: &[u8], level: Level, tally: &mut Tally) -> Vec<String> {
        let opts = Options {
            level,
            verify_checksum: level != Level::Skip,
            ..Options::default()
        };
        let Ok(dec) = Decoder::new(data, opts) else {
            return Vec::new();
        };
        tally.files += 1;
        let mut diffs = Vec::new();
        for item in dec {
            let Ok(item) = item else { break };
            if let Item::Key(k) = item {
                tally.keys += 1;
                if let Err(d) = check_key(&k, tally) {
                    let key = k.key.to_bytes().unwrap();
                    diffs.push(format!(
                        "key '{}': {d}",
                        rdbkit::decode::lossy(&key[..key.len().min(80)])
                    ));
                }
            }
        }
        diffs
    }

    #[test]
    fn fixtures_match_dump() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let files = rdb_files(&root);
        assert!(files.len() >= 30, "{} fixtures", files.len());
        let mut tally = Tally::default();
        let mut diffs = Vec::new();
        for f in &files {
            let data = std::fs::read(f).unwrap();
            let n = tally.files;
            for d in check_file(&data, Level::Full, &mut tally) {
                diffs.push(format!("{}: {d}", f.display()));
            }
            assert_eq!(tally.files, n + 1, "{} did not open", f.display());
        }
        eprintln!("{} files, {} keys: {:?}", tally.files, tally.keys, tally.ok);
        assert!(diffs.is_empty(), "{}", diffs.join("\n"));
        // Valid files: no value fails.
        assert!(tally.err.is_empty(), "{:?}", tally.err);
        // Every kind the iterators cover, in the encodings the servers write.
        for enc in [
            "list quicklist",
            "list quicklist2",
            "set intset",
            "set listpack",
            "set hashtable",
            "zset ziplist",
            "zset listpack",
            "zset skiplist",
            "hash ziplist",
            "hash listpack",
            "hash hashtable",
            "hash listpack-ex",
            "hash hashtable-ttl",
            "stream stream-v1",
            "stream stream-v3",
        ] {
            assert!(
                tally.ok.contains_key(enc),
                "no {enc} in the fixtures: {:?}",
                tally.ok
            );
        }
    }

    #[test]
    fn corpus_matches_dump() {
        let Some(dir) = common::corpus_dir("corpus_matches_dump") else {
            return;
        };
        let mut tally = Tally::default();
        let mut diffs = Vec::new();
        for f in rdb_files(&dir) {
            let data = std::fs::read(&f).unwrap();
            for level in [Level::Skip, Level::Full] {
                for d in check_file(&data, level, &mut tally) {
                    diffs.push(format!("{} ({level:?}): {d}", f.display()));
                }
            }
        }
        eprintln!(
            "{} file reads, {} keys; read: {:?}; failing as dump fails: {:?}",
            tally.files, tally.keys, tally.ok, tally.err
        );
        assert!(diffs.is_empty(), "{}", diffs.join("\n"));
        assert!(tally.ok.contains_key("hash zipmap"), "{:?}", tally.ok);
        assert!(tally.ok.contains_key("list ziplist"), "{:?}", tally.ok);
    }
}

// ---------------------------------------------------------------------------
// Unit tests

/// A file of `target` with the given keys, in db 0.
fn file(target: Target, keys: &[(&[u8], OwnedValue)]) -> Vec<u8> {
    let mut w = RdbWriter::new(Vec::new(), target).unwrap();
    w.select_db(0).unwrap();
    for (k, v) in keys {
        w.key(k, v, KeyMeta::default()).unwrap();
    }
    w.finish().unwrap()
}

/// The keys of a file.
fn keys(data: &[u8], level: Level) -> Vec<KeyRecord<'_>> {
    let opts = Options {
        level,
        verify_checksum: false,
        ..Options::default()
    };
    Decoder::new(data, opts)
        .unwrap()
        .filter_map(|i| match i.unwrap() {
            Item::Key(k) => Some(k),
            _ => None,
        })
        .collect()
}

fn bytes(v: &[&str]) -> Vec<Vec<u8>> {
    v.iter().map(|s| s.as_bytes().to_vec()).collect()
}

fn stream_value(ids: &[u64]) -> OwnedValue {
    let entries: Vec<_> = ids
        .iter()
        .map(|&ms| {
            (
                StreamId { ms, seq: 0 },
                vec![(b"n".to_vec(), ms.to_string().into_bytes())],
            )
        })
        .collect();
    OwnedValue::Stream(Box::new(StreamValue {
        last_id: entries.last().map_or(StreamId { ms: 0, seq: 0 }, |e| e.0),
        entries,
        ..StreamValue::default()
    }))
}

#[test]
fn wrong_type_from_the_first_next() {
    let data = file(
        Target::redis(11),
        &[
            (b"str", OwnedValue::String(b"v".to_vec())),
            (b"list", OwnedValue::List(bytes(&["a"]))),
            (b"set", OwnedValue::Set(bytes(&["a"]))),
            (b"zset", OwnedValue::ZSet(vec![(b"a".to_vec(), 1.0)])),
            (
                b"hash",
                OwnedValue::Hash(vec![HashEntry {
                    field: b"f".to_vec(),
                    value: b"v".to_vec(),
                    expire_ms: None,
                }]),
            ),
            (b"stream", stream_value(&[1])),
        ],
    );
    let ks = keys(&data, Level::Full);
    assert_eq!(ks.len(), 6);
    let mut wrong = 0;
    for k in &ks {
        check_wrong_types(k).unwrap();
        let kind = k.value.kind();
        wrong += [
            kind != Kind::List && kind != Kind::Set,
            kind != Kind::ZSet,
            kind != Kind::Hash,
            kind != Kind::Stream,
        ]
        .iter()
        .filter(|&&x| x)
        .count();
    }
    // A string fits none of the four, the others one each.
    assert_eq!(wrong, 4 + 5 * 3);
    // The message says what was asked for.
    let list = &ks[1];
    let e = list.fields().next().unwrap().unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::WrongType {
            rdb_type: list.value.rdb_type(),
            kind: "list",
            wanted: "a hash (fields)",
        }
    );
    assert!(e.to_string().contains("(key 'list')"), "{e}");
    let e = ks[0].value.elements().next().unwrap().unwrap_err();
    assert!(
        e.to_string().contains("is not a list or set (elements)"),
        "{e}"
    );
    let e = ks[3].value.elements().next().unwrap().unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::WrongType { kind: "zset", .. }),
        "{e}"
    );
}

#[test]
fn integer_encoded_elements_are_decimal_text() {
    let ints = [
        "0",
        "-1",
        "7",
        "300",
        "-70000",
        "9223372036854775807",
        "-9223372036854775808",
    ];
    let texts = ["12", "x", "-3", "4294967296"];
    for target in [Target::redis(7), Target::redis(9), Target::redis(11)] {
        let data = file(
            target,
            &[
                (b"intset", OwnedValue::Set(bytes(&ints))),
                (b"list", OwnedValue::List(bytes(&texts))),
                (
                    b"zset",
                    OwnedValue::ZSet(vec![(b"-42".to_vec(), 1.0), (b"5".to_vec(), 2.0)]),
                ),
                (
                    b"hash",
                    OwnedValue::Hash(vec![HashEntry {
                        field: b"123".to_vec(),
                        value: b"-456".to_vec(),
                        expire_ms: None,
                    }]),
                ),
            ],
        );
        let ks = keys(&data, Level::Full);
        let enc: Vec<_> = ks.iter().map(|k| k.value.encoding()).collect();
        assert_eq!(enc[0], rdbkit::decode::Encoding::Intset, "{target:?}");
        // The cursor sees integers: the encoding stored them as such.
        let mut it = ks[0].value.items().unwrap();
        let mut n_int = 0;
        while let Some(e) = it.next_elem().unwrap() {
            n_int += usize::from(matches!(e, Elem::Int(_)));
        }
        assert_eq!(n_int, ints.len(), "{target:?}");
        let got: Vec<Vec<u8>> = ks[0]
            .elements()
            .map(|e| e.map(Cow::into_owned))
            .collect::<Result<_>>()
            .unwrap();
        let mut want = bytes(&ints);
        want.sort_by_key(|b| std::str::from_utf8(b).unwrap().parse::<i64>().unwrap());
        assert_eq!(got, want, "{target:?}");
        // A listpack/ziplist list mixing integers and text.
        let mut it = ks[1].value.items().unwrap();
        let mut n_int = 0;
        while let Some(e) = it.next_elem().unwrap() {
            n_int += usize::from(matches!(e, Elem::Int(_)));
        }
        assert_eq!(n_int, 3, "{target:?} {}", enc[1]);
        let got: Vec<_> = ks[1].elements().collect::<Result<_>>().unwrap();
        assert_eq!(got, texts.map(str::as_bytes), "{target:?}");
        assert!(got
            .iter()
            .all(|e| matches!(e, Cow::Owned(_)) == (&e[..] != b"x")));
        let got: Vec<_> = ks[2].scored().collect::<Result<_>>().unwrap();
        assert_eq!(
            got,
            [
                (Cow::Borrowed(&b"-42"[..]), 1.0),
                (Cow::Borrowed(&b"5"[..]), 2.0)
            ],
            "{target:?}"
        );
        let f = ks[3].fields().next().unwrap().unwrap();
        assert_eq!((&*f.field, &*f.value), (&b"123"[..], &b"-456"[..]));
    }
}

#[test]
fn bytes_borrow_from_the_input_unless_compressed() {
    // Too short to be compressed.
    let short = bytes(&["e0", "xy", "z"]);
    let long: Vec<Vec<u8>> = (0..50)
        .map(|i| format!("element number {i} of a list of repeated words words words").into_bytes())
        .collect();
    let data = file(
        Target::redis(11),
        &[
            (b"short", OwnedValue::List(short.clone())),
            (b"long", OwnedValue::List(long.clone())),
        ],
    );
    let ks = keys(&data, Level::Full);
    let got: Vec<_> = ks[0].elements().collect::<Result<_>>().unwrap();
    assert_eq!(got, short);
    assert!(got.iter().all(|e| matches!(e, Cow::Borrowed(_))));
    // The compressible node is LZF: its elements are copies.
    let got: Vec<_> = ks[1].elements().collect::<Result<_>>().unwrap();
    assert_eq!(got, long);
    assert!(got.iter().all(|e| matches!(e, Cow::Owned(_))));
    // A borrowed element outlives the record and the decoder.
    let first = {
        let k = keys(&data, Level::Full).remove(0);
        k.value.elements().next().unwrap().unwrap()
    };
    assert_eq!(&*first, b"e0");
}

#[test]
fn lazy_errors_name_the_key_and_end_the_iteration() {
    // List "l" = [q7Zk, W3xp, m9Tr] in one uncompressed listpack node, whose
    // second element's encoding byte is then made invalid. `Level::Skip`
    // does not open blobs, so the error is found by the iterator.
    let mut data = file(
        Target::redis(11),
        &[(b"l", OwnedValue::List(bytes(&["q7Zk", "W3xp", "m9Tr"])))],
    );
    let at = find(&data, b"W3xp").unwrap() - 1;
    assert_eq!(data[at], 0x84, "a 4-byte string in a listpack");
    data[at] = 0xf6;
    let data = &data[..];
    let ks = keys(data, Level::Skip);
    let mut it = ks[0].elements();
    assert_eq!(&*it.next().unwrap().unwrap(), b"q7Zk");
    let e = it.next().unwrap().unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Blob { .. }), "{e}");
    assert_eq!(e.key(), Some(&b"l"[..]));
    assert!(it.next().is_none());
    // Through the value: the same error, without the key.
    let mut it = ks[0].value.elements();
    let e2 = it.by_ref().find_map(Result::err).unwrap();
    assert_eq!(e2.key(), None);
    assert_eq!(e2.clone().with_key(b"l"), e);
    assert!(it.next().is_none());
    // The decoder at Level::Full finds it first, with the key too.
    let opts = Options {
        verify_checksum: false,
        ..Options::default()
    };
    let e3 = Decoder::new(data, opts)
        .unwrap()
        .find_map(Result::err)
        .unwrap();
    assert_eq!(e3.key(), Some(&b"l"[..]));
    assert_eq!(e3.kind(), e.kind());
}

#[test]
fn stream_entries_iterate_like_the_cursor() {
    let data = file(Target::redis(11), &[(b"s", stream_value(&[1, 2, 3, 5, 8]))]);
    let ks = keys(&data, Level::Full);
    let st = ks[0].value.stream().unwrap();
    let mut n = 0;
    for e in st.entries() {
        let e = e.unwrap();
        assert_eq!(&*e.fields[0].1, e.id.ms.to_string().as_bytes());
        n += 1;
    }
    assert_eq!(n, 5);
    // Iterator and cursor agree, deleted entries included.
    let via_iter: Vec<(StreamId, bool, usize)> = st
        .entries()
        .include_deleted(true)
        .map(|e| e.map(|e| (e.id, e.deleted, e.fields.len())))
        .collect::<Result<_>>()
        .unwrap();
    let mut via_cursor = Vec::new();
    let mut cur = st.entries().include_deleted(true);
    while let Some(e) = cur.next_entry().unwrap() {
        via_cursor.push((e.id, e.deleted, e.field_count()));
    }
    assert_eq!(via_iter, via_cursor);
    assert_eq!(ks[0].entries().count(), 5);
    // Done means done.
    let mut it = st.entries();
    assert_eq!(it.by_ref().count(), 5);
    assert!(it.next().is_none());
}

#[test]
fn kind_displays_its_name() {
    for k in [
        Kind::String,
        Kind::List,
        Kind::Set,
        Kind::ZSet,
        Kind::Hash,
        Kind::Stream,
        Kind::Module,
        Kind::Array,
    ] {
        assert_eq!(k.to_string(), k.name());
        assert_eq!(Kind::from_name(&k.to_string()), Some(k));
    }
}
