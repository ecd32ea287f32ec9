//! The checks behind rdbkit's fuzz targets. Each `check_*` function takes
//! arbitrary bytes and panics only when rdbkit breaks one of its promises:
//! a panic inside rdbkit, a decoder level that accepts less than a weaker
//! one, a value that decodes but cannot be iterated, an encode/decode round
//! trip that changes a value, or a merge whose output does not verify.
//!
//! The fuzz targets in `fuzz_targets/` are one-line wrappers around these
//! functions, and `tests/regressions.rs` includes this file as a module to
//! replay every crash the fuzzers found, so both run exactly the same code.
//! It uses only `std` and `rdbkit`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use rdbkit::decode::{decode_payload, ArrayValue, Decoder, Item, Kind, Level, Options, Value};
use rdbkit::encode::{AllowLoss, KeyMeta, Losses, OwnedValue, RdbWriter, Target};
use rdbkit::format::Lineage;
use rdbkit::merge::{merge, MergeOptions, Policy};
use rdbkit::stats::inspect;
use rdbkit::ErrorKind;

/// Decoder options at `level` with the CRC not compared (a fuzzer cannot
/// fix up checksums; a stored 0 disables them anyway).
pub fn opts(level: Level) -> Options {
    Options {
        level,
        verify_checksum: false,
        ..Options::default()
    }
}

/// Reads every part of a value through the public API: string bytes,
/// every element of a collection, every stream entry (live and deleted),
/// group, PEL entry, consumer and NACK id, module payloads. Returns the
/// number of elements seen.
pub fn exercise_value(v: &Value<'_>) -> rdbkit::Result<u64> {
    let mut n = 0u64;
    match v.kind() {
        Kind::String => {
            let s = v.string()?;
            let b = s.to_bytes()?;
            assert_eq!(b.len(), s.len(), "RdbStr::len disagrees with its bytes");
            n += 1;
        }
        Kind::List | Kind::Set => {
            let mut it = v.items()?;
            while let Some(e) = it.next_elem()? {
                assert_eq!(e.to_bytes().len(), e.len());
                n += 1;
            }
        }
        Kind::ZSet => {
            let mut it = v.items()?;
            while let Some((m, s)) = it.next_scored()? {
                assert!(!s.is_nan(), "NaN score returned");
                let _ = m.to_bytes();
                n += 1;
            }
        }
        Kind::Hash => {
            let mut it = v.items()?;
            while let Some(f) = it.next_field()? {
                let _ = (f.field.to_bytes(), f.value.to_bytes());
                n += 1;
            }
        }
        Kind::Array => {
            let mut it = v.items()?;
            while let Some((_, x)) = it.next_array()? {
                if let ArrayValue::Bytes(b) = x {
                    let _ = b.to_bytes();
                }
                n += 1;
            }
        }
        Kind::Stream => {
            let s = v.stream()?;
            for deleted in [false, true] {
                let mut e = s.entries().include_deleted(deleted);
                while let Some(x) = e.next_entry()? {
                    for (f, val) in x.fields() {
                        let _ = (f.to_bytes(), val.to_bytes());
                    }
                    n += 1;
                }
            }
            for g in s.groups() {
                let g = g?;
                g.name.to_bytes()?;
                for p in g.pel() {
                    p?;
                    n += 1;
                }
                for c in g.consumers() {
                    let c = c?;
                    c.name.to_bytes()?;
                    n += c.pel().count() as u64;
                }
                if let Some(ids) = g.nacked() {
                    n += ids.count() as u64;
                }
            }
        }
        Kind::Module => {
            let m = v.module()?;
            let _ = (m.id.name(), m.id.encver());
        }
        // A type added later: its raw bytes at least.
        _ => {
            let _ = v.raw();
        }
    }
    Ok(n)
}

/// What a whole-file walk found: key count, or the first error.
fn walk_file(data: &[u8], level: Level) -> rdbkit::Result<u64> {
    let mut keys = 0;
    for item in Decoder::new(data, opts(level))? {
        match item? {
            Item::Key(k) => {
                // Skip does not open LZF keys; Full and Deep have checked them.
                if level != Level::Skip {
                    k.key.to_bytes()?;
                }
                let _ = k.value.raw();
                keys += 1;
            }
            Item::Aux { key, value } => {
                key.to_bytes()?;
                value.to_bytes()?;
            }
            Item::Function(code) => {
                code.to_bytes()?;
            }
            _ => {}
        }
    }
    Ok(keys)
}

/// Every key's value at `level`, exercised through [`exercise_value`].
/// Returns `Err` for a decode error, and for an iteration error together
/// with the key index (so callers can tell which promise broke).
fn exercise_file(data: &[u8], level: Level) -> Result<(), (Option<u64>, rdbkit::Error)> {
    let dec = Decoder::new(data, opts(level)).map_err(|e| (None, e))?;
    let mut i = 0;
    for item in dec {
        if let Item::Key(k) = item.map_err(|e| (None, e))? {
            // At Full, stream entries are not parsed (as Redis without
            // sanitize-dump-payload), so only Deep promises they iterate.
            let must = level == Level::Deep || (k.value.kind() != Kind::Stream);
            match exercise_value(&k.value) {
                Err(e) if must => return Err((Some(i), e)),
                _ => {}
            }
            // The `dump` JSON export reads the same way and must produce JSON.
            let mut json = Vec::new();
            match rdbkit::export::json::write_key(&mut json, &k) {
                Err(e) if must => return Err((Some(i), e)),
                Err(_) => {}
                Ok(()) => {
                    if let Err(e) = serde_json::from_slice::<serde_json::Value>(&json) {
                        panic!(
                            "key #{i}: dump JSON does not parse: {e}: {}",
                            String::from_utf8_lossy(&json)
                        );
                    }
                }
            }
            if level == Level::Deep {
                OwnedValue::from_value(&k.value).map_err(|e| (Some(i), e))?;
            }
            i += 1;
        }
    }
    Ok(())
}

/// Target `decode_file`: inspect (Skip, Full, Deep, and Full with the CRC
/// checked) and walk with the decoder API, iterating every value.
///
/// Promises checked: no panic; Deep accepts nothing Full refuses and Full
/// nothing Skip refuses (with the same key count); every value of a file
/// that decodes at Full (streams: at Deep) iterates without error; at Deep
/// every value materialises as an [`OwnedValue`].
pub fn check_file(data: &[u8]) {
    let skip = inspect(data, opts(Level::Skip), 0);
    let full = inspect(data, opts(Level::Full), 0);
    let deep = inspect(data, opts(Level::Deep), 0);
    let _ = inspect(data, Options::default(), 0);
    if let Ok(d) = &deep {
        let f = full
            .as_ref()
            .expect("Deep accepted a file that Full refuses");
        assert_eq!(d.keys(), f.keys());
    }
    if let Ok(f) = &full {
        let s = skip
            .as_ref()
            .expect("Full accepted a file that Skip refuses");
        assert_eq!(f.keys(), s.keys());
    }
    for level in [Level::Skip, Level::Full, Level::Deep] {
        let walked = walk_file(data, level);
        let inspected = match level {
            Level::Skip => skip.as_ref().map(|r| r.keys()),
            Level::Full => full.as_ref().map(|r| r.keys()),
            // Deep (the list above has no other level).
            _ => deep.as_ref().map(|r| r.keys()),
        };
        // A key twice in a database is a whole-file fact the scan engine
        // (inspect) finds at Deep; a Decoder alone does not look for it,
        // so its walk then counts what Full counted.
        let duplicate = level == Level::Deep
            && matches!(&deep, Err(e) if matches!(e.kind(), rdbkit::ErrorKind::DuplicateKey { .. }));
        let inspected = if duplicate {
            full.as_ref().map(|r| r.keys())
        } else {
            inspected
        };
        assert_eq!(
            walked.as_ref().ok(),
            inspected.as_ref().ok(),
            "decoder walk and inspect disagree at {level:?}: {walked:?}"
        );
        if level != Level::Skip && walked.is_ok() {
            if let Err((Some(i), e)) = exercise_file(data, level) {
                panic!("key #{i} decodes at {level:?} but does not iterate: {e}");
            }
        }
    }
    // The memory models and the analysis never panic, and an analysis
    // (which checks like `verify`) only succeeds where Full does.
    for (release, alloc) in [
        ("redis-7.0", rdbkit::memory::Allocator::JemallocQuantum16),
        ("redis-7.4", rdbkit::memory::Allocator::Libc),
    ] {
        let r = rdbkit::release::ServerRelease::parse(release).unwrap();
        let model = rdbkit::memory::Model::new(r, alloc).unwrap();
        let mut o = rdbkit::analyze::AnalyzeOptions::new(model);
        o.now_ms = 0;
        o.max_prefixes = 4;
        if let Ok(a) = rdbkit::analyze::analyze(&[("fuzz", data), ("again", data)], &o) {
            let f = full
                .as_ref()
                .expect("analyze accepted a file that Full refuses");
            // Every copy of every key is counted once or as a duplicate
            // (a key twice in one file, which Full does not look for, too).
            assert_eq!(a.totals.keys + a.totals.duplicates, 2 * f.keys());
            assert!(a.totals.keys <= f.keys());
        }
    }
    // diff never panics, succeeds only where Full does, and finds a file
    // equal to itself; the slot regrouping of split never panics.
    let same = rdbkit::diff::diff(
        &[("fuzz", data)],
        &[("again", data)],
        &rdbkit::diff::DiffOptions::default(),
        |_| Ok(()),
    );
    if let Ok(s) = same {
        let f = full
            .as_ref()
            .expect("diff accepted a file that Full refuses");
        assert_eq!(
            s.only_left + s.only_right + s.type_ + s.value + s.ttl,
            0,
            "{s:?}"
        );
        assert!(s.left_keys <= f.keys());
    }
    let _ = rdbkit::encode::copy_by_slot(
        data,
        std::io::sink(),
        Some(rdbkit::release::Target::redis(12)),
    );
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = rdbkit::cluster::parse_cluster_nodes(text);
        let _ = rdbkit::cluster::parse_ranges(text);
    }
}

/// DUMP payloads of the values of an RDB file: each key record found at
/// [`Level::Skip`] becomes `type, value bytes, u16le version, CRC-64`.
pub fn payloads_of(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let Ok(dec) = Decoder::new(data, opts(Level::Skip)) else {
        return out;
    };
    let version = dec.header().version as u16;
    for item in dec {
        let k = match item {
            Ok(Item::Key(k)) => k,
            Ok(_) => continue,
            Err(_) => break,
        };
        let mut p = vec![k.value.rdb_type()];
        p.extend_from_slice(k.value.raw());
        p.extend_from_slice(&version.to_le_bytes());
        let crc = rdbkit::format::crc::crc64(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        out.push(p);
    }
    out
}

/// Target `decode_payload`: a DUMP payload at every level, iterated. An
/// input that starts like an RDB file is instead cut into the payloads of
/// its values ([`payloads_of`]), each checked the same way, so mutations
/// of whole files also reach the payload decoder with valid footers.
pub fn check_payload(data: &[u8]) {
    if data.starts_with(b"REDIS") || data.starts_with(b"VALKEY") {
        for p in payloads_of(data) {
            check_one_payload(&p);
        }
    } else {
        check_one_payload(data);
    }
}

fn check_one_payload(data: &[u8]) {
    let mut ok = [false; 3];
    for (i, level) in [Level::Skip, Level::Full, Level::Deep]
        .into_iter()
        .enumerate()
    {
        if let Ok(p) = decode_payload(data, opts(level)) {
            ok[i] = true;
            let must =
                level == Level::Deep || (level == Level::Full && p.value.kind() != Kind::Stream);
            let r = exercise_value(&p.value);
            if must {
                if let Err(e) = r {
                    panic!("payload decodes at {level:?} but does not iterate: {e}");
                }
            }
            if level == Level::Deep {
                if let Err(e) = OwnedValue::from_value(&p.value) {
                    panic!("payload decodes at Deep but does not materialise: {e}");
                }
            }
        }
    }
    let _ = decode_payload(data, Options::default());
    assert!(!ok[2] || ok[1], "Deep accepted a payload that Full refuses");
    assert!(!ok[1] || ok[0], "Full accepted a payload that Skip refuses");
}

/// One key of a decoded file, owned.
#[derive(Debug, Clone)]
pub struct OwnedKey {
    /// Database.
    pub db: u64,
    /// Key bytes.
    pub key: Vec<u8>,
    /// Expiry, idle and freq.
    pub meta: KeyMeta,
    /// The value.
    pub value: OwnedValue,
}

/// All keys of a file decoded at `level`, or `None` if it does not decode.
pub fn owned_keys(data: &[u8], o: Options) -> Option<(rdbkit::format::Header, Vec<OwnedKey>)> {
    let dec = Decoder::new(data, o).ok()?;
    let header = dec.header();
    let mut out = Vec::new();
    for item in dec {
        if let Item::Key(k) = item.ok()? {
            out.push(OwnedKey {
                db: k.db,
                key: k.key.to_bytes().ok()?.into_owned(),
                meta: KeyMeta {
                    expire_ms: k.expire_ms,
                    idle: k.idle,
                    freq: k.freq,
                },
                value: OwnedValue::from_value(&k.value).ok()?,
            });
        }
    }
    Some((header, out))
}

/// The target that writes files like the one with this header.
pub fn target_of(h: rdbkit::format::Header) -> Target {
    Target {
        lineage: h.lineage,
        version: h.version,
        valkey: h.lineage == Lineage::Valkey,
    }
}

/// A value in canonical form for comparisons after writing it for
/// `target`: the parts whose order carries no meaning are sorted, and the
/// stream metadata that the target's stream version derives instead of
/// storing (first id, max deleted id, entries added, consumer active time,
/// IDMP settings) is filled in the way a reader of that version derives it.
pub fn canonical(v: &OwnedValue, target: Target) -> OwnedValue {
    use rdbkit::decode::{stream_version_of, StreamId};
    let mut v = v.clone();
    match &mut v {
        OwnedValue::Set(s) => s.sort(),
        OwnedValue::ZSet(z) => z.sort_by(|a, b| a.0.cmp(&b.0)),
        OwnedValue::Hash(h) => h.sort_by(|a, b| a.field.cmp(&b.field)),
        OwnedValue::Stream(s) => {
            let ver = target.stream_type().map_or(0, stream_version_of);
            let first = s.entries.first().map(|e| e.0).unwrap_or_default();
            s.first_id = (ver >= 2).then(|| s.first_id.unwrap_or(first));
            s.max_deleted_id = Some(s.max_deleted_id.unwrap_or(StreamId::default()));
            s.entries_added = Some(s.entries_added.unwrap_or(s.entries.len() as u64));
            for g in &mut s.groups {
                for c in &mut g.consumers {
                    c.active_time_ms = Some(c.active_time_ms.unwrap_or(c.seen_time_ms));
                }
            }
            if ver < 4 {
                s.idmp = None;
            } else if s.idmp.is_none() {
                s.idmp = Some(rdbkit::encode::IdmpValue {
                    duration_s: 100,
                    max_entries: 100,
                    producers: 0,
                    producers_raw: Vec::new(),
                    iids_added: 0,
                    iids_duplicates: 0,
                });
            }
        }
        _ => {}
    }
    v
}

/// Equality of canonical values (array doubles compared bit for bit so
/// that NaN equals itself).
pub fn same_value(a: &OwnedValue, b: &OwnedValue, target: Target) -> bool {
    use rdbkit::encode::ArrayItem;
    match (canonical(a, target), canonical(b, target)) {
        (
            OwnedValue::Array {
                items: x,
                insert_idx: xi,
            },
            OwnedValue::Array {
                items: y,
                insert_idx: yi,
            },
        ) => {
            xi == yi
                && x.len() == y.len()
                && x.iter().zip(&y).all(|((i, p), (j, q))| {
                    i == j
                        && match (p, q) {
                            (ArrayItem::Float(f), ArrayItem::Float(g)) => {
                                f.to_bits() == g.to_bits()
                            }
                            _ => p == q,
                        }
                })
        }
        (x, y) => x == y,
    }
}

/// Writes `keys` as a file for `target`; keys the target cannot hold
/// (an [`ErrorKind::Encode`] error, or an [`ErrorKind::LossNotAllowed`] one
/// for a loss `allow` does not permit) are left out and their indexes
/// returned.
pub fn write_keys(
    keys: &[OwnedKey],
    target: Target,
    allow: AllowLoss,
) -> (Vec<u8>, Vec<usize>, Losses) {
    let mut w = RdbWriter::new(Vec::new(), target).expect("target of a decoded header");
    w.allow = allow;
    let mut db = None;
    let mut skipped = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        if db != Some(k.db) {
            w.select_db(k.db).expect("write to Vec");
            db = Some(k.db);
        }
        if let Err(e) = w.key(&k.key, &k.value, k.meta) {
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::Encode(_) | ErrorKind::LossNotAllowed { .. }
                ),
                "encoding key #{i} for {target} failed with a non-encode error: {e}"
            );
            skipped.push(i);
        }
    }
    let losses = w.losses;
    (w.finish().expect("write to Vec"), skipped, losses)
}

/// Target `roundtrip`: a file that decodes at Deep is rewritten for the
/// same target from owned values; the output must decode at Deep with its
/// CRC verified and hold the same keys, metadata and values.
pub fn check_roundtrip(data: &[u8]) {
    let Some((header, keys)) = owned_keys(data, opts(Level::Deep)) else {
        return;
    };
    let target = target_of(header);
    let (out, skipped, losses) = write_keys(&keys, target, AllowLoss::default());
    assert_eq!(losses, Losses::default(), "losses without allowing any");
    let strict = Options {
        level: Level::Deep,
        ..Options::default()
    };
    let back = match owned_keys(&out, strict) {
        Some((_, b)) => b,
        None => {
            let err = Decoder::new(&out, strict)
                .map(|d| d.filter_map(Result::err).next())
                .err()
                .or_else(|| Decoder::new(&out, strict).ok()?.find_map(Result::err));
            panic!("re-encoded file does not decode: {err:?}\nfile: {out:02x?}");
        }
    };
    let kept: Vec<&OwnedKey> = keys
        .iter()
        .enumerate()
        .filter(|(i, _)| !skipped.contains(i))
        .map(|(_, k)| k)
        .collect();
    assert_eq!(kept.len(), back.len(), "key count changed");
    for (a, b) in kept.iter().zip(&back) {
        assert_eq!((a.db, &a.key), (b.db, &b.key), "key changed");
        assert!(
            same_value(&a.value, &b.value, target),
            "value of key {:?} changed in a round trip through {target}:\n{:?}\n{:?}",
            String::from_utf8_lossy(&a.key),
            a.value,
            b.value
        );
        if target.version >= 3 {
            assert_eq!(a.meta.expire_ms, b.meta.expire_ms, "expiry changed");
        }
        if target.version >= 9 {
            assert_eq!((a.meta.idle, a.meta.freq), (b.meta.idle, b.meta.freq));
        }
    }
}

/// Target `convert`: every key of a file that decodes at Full is encoded
/// for RDB 9, 10 and 11 with losses allowed (no panic, errors only of the
/// "cannot encode" kind). When the file also decodes at Deep, the converted
/// file must decode at Deep and keep every value up to the allowed losses
/// (field TTLs, stream metadata).
pub fn check_convert(data: &[u8]) {
    let allow = AllowLoss {
        field_ttls: true,
        stream_metadata: true,
    };
    if let Ok(dec) = Decoder::new(data, opts(Level::Full)) {
        for item in dec {
            let Ok(Item::Key(k)) = item else { continue };
            let Ok(v) = OwnedValue::from_value(&k.value) else {
                continue;
            };
            for tv in [9, 10, 11] {
                let mut l = Losses::default();
                if let Err(e) = v.encode(Target::redis(tv), allow, &mut l) {
                    assert!(
                        matches!(
                            e.kind(),
                            ErrorKind::Encode(_) | ErrorKind::LossNotAllowed { .. }
                        ),
                        "encode for RDB {tv} failed with a non-encode error: {e}"
                    );
                }
            }
        }
    }
    let Some((_, keys)) = owned_keys(data, opts(Level::Deep)) else {
        return;
    };
    for tv in [9, 10, 11] {
        let target = Target::redis(tv);
        let (out, skipped, _) = write_keys(&keys, target, allow);
        let strict = Options {
            level: Level::Deep,
            ..Options::default()
        };
        let Some((_, back)) = owned_keys(&out, strict) else {
            panic!("file converted to {target} does not decode at Deep\nfile: {out:02x?}");
        };
        let kept: Vec<&OwnedKey> = keys
            .iter()
            .enumerate()
            .filter(|(i, _)| !skipped.contains(i))
            .map(|(_, k)| k)
            .collect();
        assert_eq!(kept.len(), back.len(), "key count changed");
        for (a, b) in kept.iter().zip(&back) {
            assert_eq!((a.db, &a.key), (b.db, &b.key));
            assert_eq!(a.meta.expire_ms, b.meta.expire_ms, "expiry changed");
            assert!(
                same_lossy(&a.value, &b.value, target),
                "value of key {:?} changed beyond the allowed losses converting to {target}:\n{:?}\n{:?}",
                String::from_utf8_lossy(&a.key),
                a.value,
                b.value
            );
        }
    }
}

/// Equality up to the losses a conversion may be allowed: hash field TTLs
/// and stream metadata (entries and the last id must survive).
fn same_lossy(a: &OwnedValue, b: &OwnedValue, target: Target) -> bool {
    match (canonical(a, target), canonical(b, target)) {
        (OwnedValue::Hash(x), OwnedValue::Hash(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(&y)
                    .all(|(p, q)| p.field == q.field && p.value == q.value)
        }
        (OwnedValue::Stream(x), OwnedValue::Stream(y)) => {
            x.entries == y.entries
                && x.last_id == y.last_id
                && x.groups.len() == y.groups.len()
                && x.groups.iter().zip(&y.groups).all(|(g, h)| {
                    g.name == h.name
                        && g.last_id == h.last_id
                        && g.consumers.len() == h.consumers.len()
                })
        }
        _ => same_value(a, b, target),
    }
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A fresh scratch directory under the system temp dir (per process and call).
pub fn scratch_dir(tag: &str) -> PathBuf {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("rdbkit-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create scratch dir");
    d
}

/// Target `merge`: byte 0 picks the options, bytes 1..5 (u32 LE) the size
/// of the first input, the rest is the two inputs. The merge must return
/// `Ok` or `Err`; an `Ok` output must decode at Full with its CRC verified.
pub fn check_merge(data: &[u8]) {
    if data.len() < 5 {
        return;
    }
    let flags = data[0];
    let split = u32::from_le_bytes([data[1], data[2], data[3], data[4]]) as usize;
    let rest = &data[5..];
    let (a, b) = rest.split_at(split.min(rest.len()));
    let dir = scratch_dir("fuzz-merge");
    let (pa, pb, out) = (dir.join("a.rdb"), dir.join("b.rdb"), dir.join("out.rdb"));
    std::fs::write(&pa, a).expect("write input");
    std::fs::write(&pb, b).expect("write input");
    let mut o = MergeOptions::new(vec![pa, pb], out.clone());
    o.policy = match flags & 3 {
        0 => Policy::Error,
        1 => Policy::First,
        2 => Policy::Last,
        _ => Policy::Owner,
    };
    if o.policy == Policy::Owner {
        o.tokens = vec![Some(0), Some(u32::MAX / 2)];
        o.hash_tag = (flags & 4 != 0).then_some((b'{', b'}'));
    }
    o.flatten_dbs = flags & 8 != 0;
    o.keep_dbs = flags & 16 != 0 && !o.flatten_dbs;
    o.drop_expired_at = (flags & 32 != 0).then_some(1_000_000_000_000);
    o.import_at = 0;
    o.force = true;
    if flags & 64 != 0 {
        o.allow = AllowLoss {
            field_ttls: true,
            stream_metadata: true,
        };
        o.drop_functions = true;
    }
    o.target = match (flags >> 6) & 3 {
        2 => Some(Target::redis(9)),
        3 => Some(Target::redis(11)),
        _ => None,
    };
    if merge(&o).is_ok() {
        let merged = std::fs::read(&out).expect("merge said Ok but wrote no output");
        let strict = Options {
            level: Level::Full,
            ..Options::default()
        };
        if let Err(e) = inspect(&merged, strict, 0) {
            panic!("merge output does not verify: {e}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
