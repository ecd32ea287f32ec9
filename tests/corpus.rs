//! Compatibility tests against the third-party RDB corpus in
//! `../shared/corpus` (see its README.md and INDEX.tsv). The corpus lives
//! outside the repository and is never copied into it; when it is absent
//! the tests print why and pass.
//!
//! * `corpus_dumps`: every stored `dump` row decodes as its notes say
//!   (valid files at `Level::Full` and `Level::Deep` with the key counts,
//!   per-db counts, expiry counts, type counts and trailing bytes of the
//!   notes' `scan:` part; corrupt ones give an error, never a panic).
//! * `corpus_expected_outputs`: decoded values agree with the reference
//!   JSON outputs shipped by librdb (rdb2json, `data` level) and rdb-rs (the
//!   JSON formatter, for the redis-rdb-tools dumps).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{corpus_dir, normalise, read_tsv, text, Norm, Row};
use rdbkit::decode::{Decoder, Item, Level, Options, StreamId};
use rdbkit::now_ms;
use rdbkit::stats::{inspect, FileStats};
use rdbkit::ErrorKind;
use serde_json::Value as Json;

/// Facts from the `scan:` part of a row's notes.
#[derive(Debug, Default)]
struct Scan {
    keys: u64,
    per_db: BTreeMap<u64, u64>,
    with_expiry: u64,
    /// RDB type byte -> keys.
    types: BTreeMap<u8, u64>,
    trailing: usize,
    functions: usize,
}

fn type_byte(name: &str) -> Option<u8> {
    Some(match name {
        "string" => 0,
        "list" => 1,
        "set" => 2,
        "zset" => 3,
        "hash" => 4,
        "zset2" => 5,
        "module2" => 7,
        "hash_zipmap" => 9,
        "list_ziplist" => 10,
        "set_intset" => 11,
        "zset_ziplist" => 12,
        "hash_ziplist" => 13,
        "list_quicklist" => 14,
        "stream_listpacks" => 15,
        "hash_listpack" => 16,
        "zset_listpack" => 17,
        "list_quicklist2" => 18,
        "stream_listpacks2" => 19,
        "set_listpack" => 20,
        "stream_listpacks3" => 21,
        "hash_metadata_pre_ga" => 22,
        "hash_listpack_ex_pre_ga" => 23,
        "hash_metadata" => 24,
        "hash_listpack_ex" => 25,
        "stream_listpacks4" => 26,
        "stream_listpacks5" => 27,
        "array" => 28,
        _ => return None,
    })
}

fn parse_scan(notes: &str) -> Scan {
    let mut s = Scan::default();
    let Some((_, scan)) = notes.split_once("scan:") else {
        return s;
    };
    for part in scan.split(';').map(str::trim) {
        if let Some(rest) = part.strip_prefix("keys=") {
            // `keys=6 (db0:6,db1:1), with-expiry=1`
            let (n, rest) = rest.split_once(' ').unwrap_or((rest, ""));
            s.keys = n.trim_end_matches(',').parse().expect("keys=N");
            if let Some(dbs) = rest.strip_prefix('(').and_then(|r| r.split_once(')')) {
                for d in dbs.0.split(',') {
                    let (db, k) = d.trim().trim_start_matches("db").split_once(':').unwrap();
                    s.per_db.insert(db.parse().unwrap(), k.parse().unwrap());
                }
            }
            if let Some(e) = rest.split("with-expiry=").nth(1) {
                s.with_expiry = e.trim().parse().expect("with-expiry=N");
            }
        } else if let Some(types) = part.strip_prefix("types:") {
            for t in types.split(',') {
                let (name, n) = t.trim().rsplit_once(" x").expect("type xN");
                let b = type_byte(name).unwrap_or_else(|| panic!("unknown scan type {name}"));
                s.types.insert(b, n.parse().unwrap());
            }
        } else if let Some(n) = part.strip_suffix(" bytes after EOF/CRC") {
            s.trailing = n.parse().unwrap();
        } else if let Some(f) = part.strip_prefix("functions:") {
            s.functions = f.split(" | ").count();
        }
    }
    s
}

fn opts(level: Level, verify_checksum: bool) -> Options {
    Options {
        level,
        verify_checksum,
        ..Options::default()
    }
}

/// Decodes every key of a file with the iterator API, normalising every
/// value: `(db, key, expire_ms, type byte, value)`.
type Keys = Vec<(u64, Vec<u8>, Option<i64>, u8, Norm)>;

fn decode_all(data: &[u8], level: Level, verify_checksum: bool) -> rdbkit::Result<Keys> {
    let mut out = Vec::new();
    for item in Decoder::new(data, opts(level, verify_checksum))? {
        if let Item::Key(k) = item? {
            let key = k.key.to_bytes()?.into_owned();
            let v = normalise(&k.value).map_err(|e| e.with_key(&key))?;
            out.push((k.db, key, k.expire_ms, k.value.rdb_type(), v));
        }
    }
    Ok(out)
}

/// Checks a valid file against its scan facts; returns problems found.
fn check_valid(data: &[u8], scan: &Scan, verify_checksum: bool) -> Vec<String> {
    let mut bad = Vec::new();
    let now = now_ms();
    for level in [Level::Full, Level::Deep] {
        let r: FileStats = match inspect(data, opts(level, verify_checksum), now) {
            Ok(r) => r,
            Err(e) => {
                bad.push(format!("inspect at {level:?} failed: {e}"));
                continue;
            }
        };
        if r.keys() != scan.keys {
            bad.push(format!(
                "{level:?}: {} keys, scan says {}",
                r.keys(),
                scan.keys
            ));
        }
        for (db, n) in &scan.per_db {
            let got = r.dbs.get(db).map_or(0, |d| d.keys);
            if got != *n {
                bad.push(format!("{level:?}: db{db} has {got} keys, scan says {n}"));
            }
        }
        let extra: Vec<_> = r
            .dbs
            .iter()
            .filter(|(db, d)| d.keys > 0 && !scan.per_db.contains_key(db))
            .collect();
        if !extra.is_empty() && !scan.per_db.is_empty() {
            bad.push(format!(
                "{level:?}: keys in dbs the scan does not list: {extra:?}"
            ));
        }
        if r.expires() != scan.with_expiry {
            bad.push(format!(
                "{level:?}: {} keys with expiry, scan says {}",
                r.expires(),
                scan.with_expiry
            ));
        }
        if r.trailing != scan.trailing {
            bad.push(format!(
                "{level:?}: {} trailing bytes reported, scan says {}",
                r.trailing, scan.trailing
            ));
        }
        if r.functions.len() != scan.functions {
            bad.push(format!(
                "{level:?}: {} functions, scan says {}",
                r.functions.len(),
                scan.functions
            ));
        }
    }
    // Every value iterated to its end, and the type bytes counted.
    match decode_all(data, Level::Deep, verify_checksum) {
        Ok(keys) => {
            let mut types = BTreeMap::new();
            for k in &keys {
                *types.entry(k.3).or_insert(0u64) += 1;
            }
            if types != scan.types {
                bad.push(format!("type bytes {types:?}, scan says {:?}", scan.types));
            }
        }
        Err(e) => bad.push(format!("iterating values failed: {e}")),
    }
    bad
}

fn run_dump_row(dir: &Path, row: &Row) -> Result<String, Vec<String>> {
    let path = row.get("path");
    let notes = row.get("notes");
    let data = std::fs::read(dir.join(path)).map_err(|e| vec![format!("cannot read: {e}")])?;
    let scan = parse_scan(notes);
    let name = Path::new(path).file_name().unwrap().to_string_lossy();
    let deep = opts(Level::Deep, true);
    let now = now_ms();

    if name == "future_v19.rdb" {
        return match inspect(&data, deep, now) {
            Err(e) => match e.kind() {
                ErrorKind::UnsupportedVersion { version: 99, .. } => {
                    Ok(format!("rejected as expected: {e}"))
                }
                _ => Err(vec![format!(
                    "wrong error (want UnsupportedVersion 99): {e}"
                )]),
            },
            Ok(_) => Err(vec!["accepted a version-99 file".into()]),
        };
    }
    if name == "invalid_chksum_v8.rdb" {
        // Bad CRC: an error with checking on, a clean decode with it off.
        let mut bad = Vec::new();
        match inspect(&data, deep, now) {
            Err(e) if matches!(e.kind(), ErrorKind::ChecksumMismatch { .. }) => {}
            Err(e) => bad.push(format!("wrong error (want ChecksumMismatch): {e}")),
            Ok(_) => bad.push("bad CRC accepted".into()),
        }
        bad.extend(check_valid(&data, &scan, false));
        return if bad.is_empty() {
            Ok("checksum mismatch detected; decodes with checking off".into())
        } else {
            Err(bad)
        };
    }
    if name == "corrupt_empty_keys.rdb" {
        // Every key is an empty collection. Redis skips them on load
        // ("rdbLoadObject skipping empty key"), so the file is not corrupt:
        // we decode all 9 keys and each one is empty.
        let mut bad = check_valid(&data, &scan, true);
        match decode_all(&data, Level::Deep, true) {
            Ok(keys) => {
                if keys.len() != 9 {
                    bad.push(format!("{} keys decoded, want 9", keys.len()));
                }
                for (_, k, _, t, v) in &keys {
                    if !v.is_empty() {
                        bad.push(format!("key {} (type {t}) is not empty", text(k)));
                    }
                }
            }
            Err(e) => bad.push(format!("decode failed: {e}")),
        }
        return if bad.is_empty() {
            Ok("9 empty keys decoded (Redis skips them)".into())
        } else {
            Err(bad)
        };
    }
    if notes.starts_with("CORRUPT-ON-PURPOSE") {
        // An error inside a key's value names the key (and every error
        // has an offset within the file).
        return match inspect(&data, deep, now) {
            Err(e) if e.offset() > data.len() as u64 => {
                Err(vec![format!("error offset beyond the file: {e}")])
            }
            Err(e)
                if e.key().is_none() && !matches!(e.kind(), ErrorKind::ChecksumMismatch { .. }) =>
            {
                Err(vec![format!("error does not name the key: {e}")])
            }
            Err(e) => Ok(format!("rejected as expected: {e}")),
            Ok(_) => Err(vec!["corrupt file accepted at Level::Deep".into()]),
        };
    }
    if notes.starts_with("INVALID-ON-PURPOSE") {
        return Err(vec![format!(
            "INVALID-ON-PURPOSE file without a specific expectation in this test: {notes}"
        )]);
    }
    let bad = check_valid(&data, &scan, true);
    if bad.is_empty() {
        let extra = if scan.trailing > 0 {
            format!(", {} trailing bytes reported", scan.trailing)
        } else {
            String::new()
        };
        Ok(format!("OK, {} keys{extra}", scan.keys))
    } else {
        Err(bad)
    }
}

#[test]
fn corpus_dumps() {
    let Some(dir) = corpus_dir("corpus_dumps") else {
        return;
    };
    let rows = read_tsv(&dir.join("INDEX.tsv"));
    let mut failures = Vec::new();
    let mut n = 0;
    for row in rows
        .iter()
        .filter(|r| r.get("kind") == "dump" && r.get("stored") == "yes")
    {
        n += 1;
        let path = row.get("path").to_string();
        let res = std::panic::catch_unwind(|| run_dump_row(&dir, row))
            .unwrap_or_else(|_| Err(vec!["PANIC".into()]));
        match res {
            Ok(msg) => eprintln!("ok   {path}: {msg}"),
            Err(errs) => {
                for e in &errs {
                    eprintln!("FAIL {path}: {e}");
                }
                failures.push(format!("{path}: {}", errs.join("; ")));
            }
        }
    }
    eprintln!("{n} dumps, {} failed", failures.len());
    assert!(n > 0, "no stored dump rows in INDEX.tsv");
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------
// Reference outputs

/// Which reference format an expected output is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavour {
    /// librdb rdb2json: a JSON fragment `"key":value, ...` (one db or all
    /// dbs merged), or an array of one object per non-empty db.
    Librdb,
    /// librdb test files that show the keyspace of a Redis that loaded the
    /// dump: expired keys are dropped.
    RedisAfterLoad,
    /// rdb-rs JSON formatter: an array of one object per non-empty db.
    RdbRs,
}

/// Expected outputs compared, with the flavour; other rows (struct/raw
/// levels, filtered outputs, RESP, rdb-rs plain/protocol) describe other
/// output shapes and are not compared.
fn flavour(path: &str, notes: &str) -> Option<Flavour> {
    let name = Path::new(path).file_name()?.to_str()?;
    if path.starts_with("badboy-rdb-rs/tests/dumps/json/") {
        return Some(Flavour::RdbRs);
    }
    if !path.starts_with("redis-librdb/") || !name.ends_with(".json") {
        return None;
    }
    if notes.contains("JSON of Redis after loading") {
        return Some(Flavour::RedisAfterLoad);
    }
    let data_level = name.ends_with("_data.json")
        || notes.contains("level=data")
        || matches!(
            name,
            "string_int_encoded.json"
                | "function2.json"
                | "cluster_slot_info.json"
                | "stream_data_with_meta.json"
                | "stream_v13.json"
                | "multiple_lists_strings_no_aux.json"
        );
    data_level.then_some(Flavour::Librdb)
}

/// The dump an expected-output row belongs to (named in its notes).
fn dump_of(notes: &str) -> Option<&str> {
    let rest = notes.split("of dump ").nth(1)?;
    Some(rest.split([' ', '|']).next()?.trim())
}

/// Parses an expected output into one key map per non-empty db (or a single
/// map for all keys when the format does not split dbs).
fn parse_expected(text_in: &str) -> Result<(bool, Vec<serde_json::Map<String, Json>>), String> {
    let t = text_in.trim();
    if t.starts_with('[') {
        let v: Json = serde_json::from_str(t).map_err(|e| format!("bad JSON: {e}"))?;
        let dbs = v
            .as_array()
            .ok_or("top level is not an array")?
            .iter()
            .map(|d| d.as_object().cloned().ok_or("db is not an object"))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok((true, dbs));
    }
    let v: Json =
        serde_json::from_str(&format!("{{{t}}}")).map_err(|e| format!("bad JSON: {e}"))?;
    Ok((false, vec![v.as_object().cloned().ok_or("not an object")?]))
}

fn want_str(j: &Json) -> Result<&str, String> {
    j.as_str()
        .ok_or_else(|| format!("expected a JSON string, got {j}"))
}

fn parse_score(s: &str) -> Option<f64> {
    match s {
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

fn parse_id(s: &str) -> Option<StreamId> {
    let (ms, seq) = s.split_once('-')?;
    Some(StreamId {
        ms: ms.parse().ok()?,
        seq: seq.parse().ok()?,
    })
}

/// Compares a stream with librdb's `{"entries":[{"id","items"}], ...meta}`.
fn cmp_stream(s: &common::NormStream, j: &Json) -> Result<(), String> {
    let o = j.as_object().ok_or("stream is not an object")?;
    let entries = o
        .get("entries")
        .and_then(Json::as_array)
        .ok_or("no entries array")?;
    if entries.len() != s.entries.len() {
        return Err(format!(
            "{} entries, expected {}",
            s.entries.len(),
            entries.len()
        ));
    }
    for (e, (id, fields)) in entries.iter().zip(&s.entries) {
        let want_id = e
            .get("id")
            .and_then(Json::as_str)
            .ok_or("entry without id")?;
        if want_id != id.to_string() {
            return Err(format!("entry {id}, expected {want_id}"));
        }
        let items = e
            .get("items")
            .and_then(Json::as_object)
            .ok_or("entry without items")?;
        let ours: BTreeMap<String, String> =
            fields.iter().map(|(f, v)| (text(f), text(v))).collect();
        let theirs: BTreeMap<String, String> = items
            .iter()
            .map(|(k, v)| Ok((k.clone(), want_str(v)?.to_string())))
            .collect::<Result<_, String>>()?;
        if ours != theirs {
            return Err(format!("entry {id}: fields {ours:?}, expected {theirs:?}"));
        }
    }
    let num = |k: &str| o.get(k).and_then(Json::as_u64);
    let id = |k: &str| o.get(k).and_then(Json::as_str).and_then(parse_id);
    let mut checks: Vec<(&str, Option<String>, Option<String>)> = vec![
        (
            "length",
            num("length").map(|v| v.to_string()),
            Some(s.length.to_string()),
        ),
        (
            "lastID",
            id("lastID").map(|v| v.to_string()),
            Some(s.last_id.to_string()),
        ),
        (
            "firstID",
            id("firstID").map(|v| v.to_string()),
            s.first_id.map(|v| v.to_string()),
        ),
        (
            "maxDelEntryID",
            id("maxDelEntryID").map(|v| v.to_string()),
            s.max_deleted_id.map(|v| v.to_string()),
        ),
        (
            "entriesAdded",
            num("entriesAdded").map(|v| v.to_string()),
            s.entries_added.map(|v| v.to_string()),
        ),
    ];
    if let Some(idmp) = o.get("idmp") {
        // Only the IDMP header is compared: producer details are not exposed
        // by the decoder API (it keeps their byte span only).
        let (d, m, p) = s.idmp.ok_or("expected IDMP state")?;
        let n = |k: &str| idmp.get(k).and_then(Json::as_u64).map(|v| v.to_string());
        checks.push(("idmp.duration", n("duration"), Some(d.to_string())));
        checks.push(("idmp.maxEntries", n("maxEntries"), Some(m.to_string())));
        checks.push(("idmp.numProducers", n("numProducers"), Some(p.to_string())));
    }
    for (what, want, got) in checks {
        if want.is_some() && want != got {
            return Err(format!("{what} {got:?}, expected {want:?}"));
        }
    }
    if let Some(groups) = o.get("groups").and_then(Json::as_array) {
        if groups.len() != s.groups.len() {
            return Err(format!(
                "{} groups, expected {}",
                s.groups.len(),
                groups.len()
            ));
        }
        for (jg, g) in groups.iter().zip(&s.groups) {
            let name = jg.get("name").and_then(Json::as_str).unwrap_or("");
            if name != text(&g.name) {
                return Err(format!("group {}, expected {name}", text(&g.name)));
            }
            if jg.get("lastid").and_then(Json::as_str).and_then(parse_id) != Some(g.last_id) {
                return Err(format!("group {name}: last id {}", g.last_id));
            }
            if let Some(er) = jg.get("entriesRead").and_then(Json::as_u64) {
                if g.entries_read != Some(er) {
                    return Err(format!("group {name}: entries read {:?}", g.entries_read));
                }
            }
            let pend: Vec<(StreamId, i64, u64)> = jg
                .get("pending")
                .and_then(Json::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|p| {
                            Some((
                                parse_id(p.get("id")?.as_str()?)?,
                                p.get("sent")?.as_i64()?,
                                p.get("count")?.as_u64()?,
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default();
            if pend != g.pel {
                return Err(format!("group {name}: PEL {:?}, expected {pend:?}", g.pel));
            }
            let cons = jg
                .get("consumers")
                .and_then(Json::as_array)
                .ok_or("group without consumers")?;
            if cons.len() != g.consumers.len() {
                return Err(format!("group {name}: consumer count"));
            }
            for (jc, c) in cons.iter().zip(&g.consumers) {
                let cname = jc.get("name").and_then(Json::as_str).unwrap_or("");
                let seen = jc.get("seenTime").and_then(Json::as_i64);
                let active = jc.get("activeTime").and_then(Json::as_i64);
                let pel: Vec<StreamId> = jc
                    .get("pending")
                    .and_then(Json::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|p| parse_id(p.get("id")?.as_str()?))
                            .collect()
                    })
                    .unwrap_or_default();
                if cname != text(&c.0) || seen != Some(c.1) || active != c.2 || pel != c.3 {
                    return Err(format!("group {name}: consumer {c:?}, expected {jc}"));
                }
            }
        }
    }
    Ok(())
}

/// Compares one decoded value with its reference JSON value.
fn cmp_value(v: &Norm, j: &Json, fl: Flavour) -> Result<(), String> {
    match v {
        Norm::Str(b) => {
            let w = want_str(j)?;
            (text(b) == w)
                .then_some(())
                .ok_or_else(|| format!("string {:?}, expected {w:?}", text(b)))
        }
        Norm::List(items) => {
            let w: Vec<&str> = j
                .as_array()
                .ok_or("expected an array")?
                .iter()
                .map(want_str)
                .collect::<Result<_, _>>()?;
            let ours: Vec<String> = items.iter().map(|x| text(x)).collect();
            (ours == w)
                .then_some(())
                .ok_or_else(|| format!("list {ours:?}, expected {w:?}"))
        }
        Norm::Set(items) => {
            let mut w: Vec<&str> = j
                .as_array()
                .ok_or("expected an array")?
                .iter()
                .map(want_str)
                .collect::<Result<_, _>>()?;
            w.sort_unstable();
            let mut ours: Vec<String> = items.iter().map(|x| text(x)).collect();
            ours.sort_unstable();
            (ours == w)
                .then_some(())
                .ok_or_else(|| format!("set {ours:?}, expected {w:?}"))
        }
        Norm::Hash(m) => {
            let o = j.as_object().ok_or("expected an object")?;
            let w: BTreeMap<&str, &str> = o
                .iter()
                .map(|(k, v)| Ok((k.as_str(), want_str(v)?)))
                .collect::<Result<_, String>>()?;
            let ours: BTreeMap<String, String> =
                m.iter().map(|(k, v)| (text(k), text(v))).collect();
            let ours_ref: BTreeMap<&str, &str> =
                ours.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            (ours_ref == w)
                .then_some(())
                .ok_or_else(|| format!("hash {ours_ref:?}, expected {w:?}"))
        }
        Norm::ZSet(m) => {
            let o = j.as_object().ok_or("expected an object")?;
            if o.len() != m.len() {
                return Err(format!("{} members, expected {}", m.len(), o.len()));
            }
            for (k, s) in m {
                let w = o
                    .get(&text(k))
                    .ok_or_else(|| format!("unexpected member {}", text(k)))?;
                let ws = match w {
                    Json::String(x) => parse_score(x),
                    Json::Number(n) => n.as_f64(),
                    _ => None,
                }
                .ok_or_else(|| format!("bad expected score {w}"))?;
                // The references print scores with up to 17 significant
                // digits (%.17g) or fewer: compare within one ulp-ish.
                let same = ws == *s || ((ws - s).abs() <= ws.abs().max(s.abs()) * 1e-15);
                if !same {
                    return Err(format!("member {}: score {s}, expected {ws}", text(k)));
                }
            }
            Ok(())
        }
        Norm::Stream(s) => match fl {
            Flavour::RdbRs => Err("rdb-rs streams are not compared".into()),
            _ => cmp_stream(s, j),
        },
        // librdb's data level prints module values as a description string
        // ("<Content of Module 'x'. Occupies a serialized size of N bytes>"):
        // compare the name only.
        Norm::Module(name, _, _) => {
            let w = want_str(j)?;
            w.contains(&format!("'{name}'"))
                .then_some(())
                .ok_or_else(|| format!("module {name}, expected {w}"))
        }
        Norm::Array(_) => Err("arrays have no reference output".into()),
    }
}

/// Compares a dump with one reference output; returns the number of keys compared.
fn compare_expected(dir: &Path, exp_path: &str, dump: &str, fl: Flavour) -> Result<usize, String> {
    let exp = std::fs::read_to_string(dir.join(exp_path)).map_err(|e| e.to_string())?;
    let data = std::fs::read(dir.join(dump)).map_err(|e| format!("dump {dump}: {e}"))?;
    let (split_dbs, dbs) = parse_expected(&exp)?;
    let now = now_ms();
    let mut keys = decode_all(&data, Level::Deep, true).map_err(|e| format!("decode: {e}"))?;
    if fl == Flavour::RedisAfterLoad {
        keys.retain(|k| k.2.is_none_or(|e| e >= now));
    }
    // Our keys grouped like the reference: per non-empty db in file order,
    // or all together.
    let mut ours: Vec<BTreeMap<String, &Norm>> = Vec::new();
    let mut last_db = None;
    for (db, k, _, _, v) in &keys {
        if ours.is_empty() || (split_dbs && last_db != Some(*db)) {
            ours.push(BTreeMap::new());
        }
        last_db = Some(*db);
        let cur = ours.last_mut().unwrap();
        if cur.insert(text(k), v).is_some() {
            return Err(format!("key {} appears twice", text(k)));
        }
    }
    let mut theirs = dbs;
    for m in &mut theirs {
        // librdb metadata sections (__aux__, __func__, __dbsize__,
        // __slotinfo__) are not keys; aux and functions are checked below.
        m.retain(|k, _| !(k.starts_with("__") && k.ends_with("__")));
    }
    theirs.retain(|m| !m.is_empty() || !split_dbs);
    if ours.is_empty() && theirs.iter().all(|m| m.is_empty()) {
        return Ok(0);
    }
    if ours.len() != theirs.len() {
        return Err(format!(
            "{} key groups (dbs), expected {}",
            ours.len(),
            theirs.len()
        ));
    }
    let mut n = 0;
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        let ok: Vec<&String> = o.keys().collect();
        let tk: Vec<&String> = t.keys().collect();
        if ok != tk {
            return Err(format!("db group {i}: keys {ok:?}, expected {tk:?}"));
        }
        for (k, v) in o {
            cmp_value(v, &t[k], fl).map_err(|e| format!("key {k}: {e}"))?;
            n += 1;
        }
    }
    // Metadata sections of librdb outputs.
    if fl == Flavour::Librdb {
        let whole: Json = parse_expected(&exp).map(|(_, d)| Json::Object(d[0].clone()))?;
        let mut aux = BTreeMap::new();
        let mut funcs = Vec::new();
        let mut slots = Vec::new();
        for item in Decoder::new(&data, Options::default()).map_err(|e| e.to_string())? {
            match item.map_err(|e| e.to_string())? {
                Item::Aux { key, value } => {
                    aux.insert(
                        text(&key.to_bytes().unwrap()),
                        text(&value.to_bytes().unwrap()),
                    );
                }
                Item::Function(code) => funcs.push(text(&code.to_bytes().unwrap())),
                Item::SlotInfo {
                    slot,
                    keys,
                    expires,
                } => slots.push((slot, keys, expires)),
                _ => {}
            }
        }
        if let Some(a) = whole.get("__aux__").and_then(Json::as_object) {
            for (k, v) in a {
                if aux.get(k).map(String::as_str) != v.as_str() {
                    return Err(format!("aux {k}: {:?}, expected {v}", aux.get(k)));
                }
            }
        }
        if let Some(f) = whole.get("__func__").and_then(Json::as_object) {
            let mut want: Vec<String> = f
                .values()
                .map(|v| want_str(v).map(str::to_string))
                .collect::<Result<_, _>>()?;
            want.sort();
            funcs.sort();
            if want != funcs {
                return Err(format!("functions differ: {funcs:?} vs {want:?}"));
            }
        }
        if let Some(s) = whole.get("__slotinfo__") {
            let g = |k: &str| s.get(k).and_then(Json::as_u64).unwrap_or(u64::MAX);
            let want = (g("slotId"), g("slotSize"), g("slotSExpiresSize"));
            if slots != [want] {
                return Err(format!("slot info {slots:?}, expected {want:?}"));
            }
        }
    }
    Ok(n)
}

#[test]
fn corpus_expected_outputs() {
    let Some(dir) = corpus_dir("corpus_expected_outputs") else {
        return;
    };
    let rows = read_tsv(&dir.join("INDEX.tsv"));
    let mut failures = Vec::new();
    let (mut compared, mut skipped) = (0, 0);
    for row in rows
        .iter()
        .filter(|r| r.get("kind") == "expected-output" && r.get("stored") == "yes")
    {
        let path = row.get("path");
        let notes = row.get("notes");
        let Some(fl) = flavour(path, notes) else {
            skipped += 1;
            continue;
        };
        let Some(dump) = dump_of(notes) else {
            failures.push(format!("{path}: notes name no dump"));
            continue;
        };
        compared += 1;
        let res = std::panic::catch_unwind(|| compare_expected(&dir, path, dump, fl))
            .unwrap_or_else(|_| Err("PANIC".into()));
        match res {
            Ok(n) => eprintln!("agree    {path} ({n} keys) vs {dump}"),
            Err(e) => {
                eprintln!("DISAGREE {path} vs {dump}: {e}");
                failures.push(format!("{path}: {e}"));
            }
        }
    }
    eprintln!(
        "{compared} reference outputs compared, {} disagree, {skipped} of other shapes not compared",
        failures.len()
    );
    assert!(compared > 0, "no reference outputs found");
    assert!(
        failures.is_empty(),
        "disagreements:\n{}",
        failures.join("\n")
    );
}
