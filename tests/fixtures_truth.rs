//! Ground truth from real servers: every `tests/fixtures/<server>/<name>.rdb`
//! that has a `.jsonl` beside it is decoded with rdbkit (`Level::Deep`),
//! rendered key by key with `rdbkit::export::json::write_key` (the
//! `rdbkit dump --format jsonl` format) and compared with the server's own
//! view of the same keys (read back with ordinary commands by
//! `tests/fixtures/gen/readback.py`). The `.meta.json` counts, function
//! library names and header are compared with `rdbkit::stats::inspect`.
//!
//! The server's view has no file order, so values are normalised:
//!
//! * strings and lists compare exactly (lists in order);
//! * sets compare as sorted multisets;
//! * hashes compare sorted by field (`[field, value]` or
//!   `[field, value, expire_ms]`);
//! * zsets compare sorted by (score, member), scores as `f64` (the file
//!   writes `1.0` where rdbkit writes `1`; `"inf"` / `"-inf"` are strings);
//! * streams compare `length`, `last_id`, `first_id`, `max_deleted_id`,
//!   `entries_added`, the entries in order, and the groups sorted by name
//!   (`last_id`, `entries_read`, the PEL in order as
//!   `[id, consumer, delivery_time_ms, delivery_count]`, consumers sorted by
//!   name with `seen_time_ms`, `active_time_ms` and their PEL ids).
//!
//!   A `null` in the expected file means one of two things:
//!   - the server version cannot report the field (`first_id`,
//!     `max_deleted_id`, `entries_added`, `entries_read` before 7.0;
//!     `active_time_ms` before 7.2): the field is skipped (rdbkit reports
//!     `null` there too, since such a file does not store it either);
//!   - for `entries_read` on 7.0+, the server itself reports it unknown:
//!     `XINFO` answers nil exactly when the group's counter is
//!     `SCG_INVALID_ENTRIES_READ` (-1), which the file stores as the length
//!     `u64::MAX` and rdbkit renders as `null`. That case is compared
//!     strictly (`null` == `null`).
//!
//!   Redis 7.0 stores `first_id` but its `XINFO` does not show it; the
//!   generator writes the first live entry's id (`0-0` when empty), which is
//!   what 7.0 keeps, and it is compared strictly too.
//! * module values compare the 9-character type name, `encver` and
//!   `payload_base64` byte for byte, with two documented exceptions:
//!   - a key that `.meta.json` `notes` call non-deterministic (RedisBloom
//!     Top-K uses `rand()`): the payload need only exist and be a valid
//!     sub-opcode stream;
//!   - RedisTimeSeries (`TSDB-TYPE`) leaves a series' cross references (its
//!     source key and its compaction rules) out of `DUMP` payloads
//!     ("on dump command (restore) we don't keep the cross references",
//!     `series_rdb_save`), but writes them on `SAVE`. For those keys the
//!     file's payload must equal the `DUMP` payload once the source key and
//!     the rules are removed (token by token, see [`ts_without_cross_refs`]).
//!
//! Run with `--nocapture` to see the per-fixture summary.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use rdbkit::decode::{Decoder, Item, Level, Options, RdbStr, Reader};
use rdbkit::format::Lineage;
use rdbkit::Limits;
use serde_json::Value as J;

/// How many differing keys are shown per fixture.
const SHOW_DIFFS: usize = 6;

fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `tests/fixtures/*/*.rdb` that have a `.jsonl` beside them, sorted.
fn fixtures() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(fixtures_root())
        .expect("tests/fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for d in dirs {
        let mut files: Vec<_> = std::fs::read_dir(&d)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "rdb"))
            .filter(|p| p.with_extension("jsonl").is_file())
            .collect();
        files.sort();
        out.extend(files);
    }
    out
}

/// `redis-7.0/all-types`.
fn fixture_name(rdb: &Path) -> String {
    let dir = rdb.parent().unwrap().file_name().unwrap().to_string_lossy();
    let stem = rdb.file_stem().unwrap().to_string_lossy();
    format!("{dir}/{stem}")
}

fn read_meta(rdb: &Path) -> Option<J> {
    let p = rdb.with_extension("meta.json");
    let text = std::fs::read_to_string(&p).ok()?;
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
}

/// `"7.0.15"` -> `(7, 0)`.
fn version_of(meta: Option<&J>) -> (u32, u32) {
    let v = meta
        .and_then(|m| m["server_version"].as_str())
        .unwrap_or("999.0");
    let mut it = v.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// A JSON value shortened for messages.
fn short(v: &J) -> String {
    let s = v.to_string();
    if s.chars().count() > 240 {
        let head: String = s.chars().take(240).collect();
        format!("{head}… ({} chars)", s.len())
    } else {
        s
    }
}

/// Canonical text of a JSON value, for sorting and map keys.
fn canon(v: &J) -> String {
    v.to_string()
}

// ---------------------------------------------------------------------------
// Comparison

/// Differences found in one key, plus fields skipped by rule.
#[derive(Default)]
struct Cmp {
    diffs: Vec<String>,
    skipped: Vec<String>,
    notes: Vec<String>,
}

fn nums_equal(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    match (a.as_i64(), b.as_i64(), a.as_u64(), b.as_u64()) {
        (Some(x), Some(y), _, _) => x == y,
        (_, _, Some(x), Some(y)) => x == y,
        _ => a.as_f64() == b.as_f64() && a.as_f64().is_some(),
    }
}

/// The first path at which `ours` and `exp` differ.
fn first_diff(path: &str, ours: &J, exp: &J) -> Option<String> {
    match (ours, exp) {
        (J::Number(a), J::Number(b)) if nums_equal(a, b) => None,
        (J::Array(a), J::Array(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                if let Some(d) = first_diff(&format!("{path}[{i}]"), x, y) {
                    return Some(d);
                }
            }
            if a.len() != b.len() {
                let i = a.len().min(b.len());
                return Some(format!(
                    "{path}: {} elements, expected {} (first unmatched [{i}]: ours {}, expected {})",
                    a.len(),
                    b.len(),
                    a.get(i).map_or("-".into(), short),
                    b.get(i).map_or("-".into(), short),
                ));
            }
            None
        }
        (J::Object(a), J::Object(b)) => {
            for (k, y) in b {
                let x = a.get(k).unwrap_or(&J::Null);
                if let Some(d) = first_diff(&format!("{path}.{k}"), x, y) {
                    return Some(d);
                }
            }
            for k in a.keys() {
                if !b.contains_key(k) {
                    return Some(format!("{path}.{k}: present in ours only"));
                }
            }
            None
        }
        _ if ours == exp => None,
        _ => Some(format!(
            "{path}: ours {}, expected {}",
            short(ours),
            short(exp)
        )),
    }
}

impl Cmp {
    fn eq(&mut self, path: &str, ours: &J, exp: &J) {
        if let Some(d) = first_diff(path, ours, exp) {
            self.diffs.push(d);
        }
    }

    /// A field the server may be unable to report: skipped when the
    /// expected value is `null` and `reportable` is false.
    fn maybe(&mut self, path: &str, ours: &J, exp: &J, reportable: bool) {
        if exp.is_null() && !reportable {
            self.skipped.push(path.to_owned());
            return;
        }
        self.eq(path, ours, exp);
    }
}

fn arr(v: &J) -> Vec<J> {
    v.as_array().cloned().unwrap_or_default()
}

/// Sorted by canonical text of `key(elem)`.
fn sorted_by(v: &J, key: impl Fn(&J) -> String) -> J {
    let mut a = arr(v);
    a.sort_by_cached_key(|e| key(e));
    J::Array(a)
}

/// A zset score from `dump` JSON (number or `"inf"` / `"-inf"` / `"nan"`).
fn score(v: &J) -> Option<f64> {
    match v {
        J::Number(n) => n.as_f64(),
        J::String(s) => match s.as_str() {
            "inf" | "+inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            "nan" => Some(f64::NAN),
            _ => None,
        },
        _ => None,
    }
}

/// `[[member, score], …]` -> `[(score, member)]` sorted; scores that do not
/// parse are kept as `NaN` with a marker so they show up in the diff.
fn zset_norm(v: &J) -> Vec<(f64, String, J)> {
    let mut out: Vec<(f64, String, J)> = arr(v)
        .iter()
        .map(|p| {
            let m = p.get(0).cloned().unwrap_or(J::Null);
            let s = p.get(1).and_then(score).unwrap_or(f64::NAN);
            (s, canon(&m), m)
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    out
}

fn compare_zset(c: &mut Cmp, ours: &J, exp: &J) {
    let (o, e) = (zset_norm(ours), zset_norm(exp));
    for (i, (x, y)) in o.iter().zip(&e).enumerate() {
        // -0.0 == 0.0 and each score must be the same double.
        let same_score = x.0 == y.0 || (x.0.is_nan() && y.0.is_nan());
        if x.2 != y.2 || !same_score {
            c.diffs.push(format!(
                "value(sorted)[{i}]: ours [{}, {}], expected [{}, {}]",
                short(&x.2),
                x.0,
                short(&y.2),
                y.0
            ));
            return;
        }
    }
    if o.len() != e.len() {
        c.diffs
            .push(format!("value: {} members, expected {}", o.len(), e.len()));
    }
}

/// Sets as multisets: reports members only in one side.
fn compare_set(c: &mut Cmp, ours: &J, exp: &J) {
    let mut count: BTreeMap<String, i64> = BTreeMap::new();
    for m in arr(ours) {
        *count.entry(canon(&m)).or_default() += 1;
    }
    for m in arr(exp) {
        *count.entry(canon(&m)).or_default() -= 1;
    }
    let side = |pos: bool| {
        let v: Vec<&str> = count
            .iter()
            .filter(|(_, n)| if pos { **n > 0 } else { **n < 0 })
            .map(|(m, _)| m.as_str())
            .collect();
        let more = if v.len() > 5 {
            format!(" … ({})", v.len())
        } else {
            String::new()
        };
        (
            v.len(),
            format!(
                "{}{more}",
                v.iter().take(5).copied().collect::<Vec<_>>().join(", ")
            ),
        )
    };
    let ((no, o), (ne, e)) = (side(true), side(false));
    if no + ne > 0 {
        c.diffs.push(format!(
            "value: members only in ours: [{o}]; only in expected: [{e}]"
        ));
    }
}

fn compare_stream(c: &mut Cmp, ours: &J, exp: &J, ver: (u32, u32)) {
    // Fields a server can report: stream v2 fields from 7.0, active time from 7.2.
    let v70 = ver >= (7, 0);
    let v72 = ver >= (7, 2);
    for f in ["length", "last_id"] {
        c.eq(&format!("value.{f}"), &ours[f], &exp[f]);
    }
    for f in ["first_id", "max_deleted_id", "entries_added"] {
        c.maybe(&format!("value.{f}"), &ours[f], &exp[f], v70);
    }
    c.eq("value.entries", &ours["entries"], &exp["entries"]);
    let name_key = |g: &J| canon(&g["name"]);
    let (og, eg) = (
        sorted_by(&ours["groups"], name_key),
        sorted_by(&exp["groups"], name_key),
    );
    let names = |v: &J| arr(v).iter().map(|g| canon(&g["name"])).collect::<Vec<_>>();
    if names(&og) != names(&eg) {
        c.diffs.push(format!(
            "value.groups: ours {:?}, expected {:?}",
            names(&og),
            names(&eg)
        ));
        return;
    }
    for (o, e) in arr(&og).iter().zip(arr(&eg).iter()) {
        let gp = format!("value.groups[{}]", canon(&e["name"]));
        c.eq(&format!("{gp}.last_id"), &o["last_id"], &e["last_id"]);
        // 7.0+: null = the server reports it unknown = file holds -1: strict.
        c.maybe(
            &format!("{gp}.entries_read"),
            &o["entries_read"],
            &e["entries_read"],
            v70,
        );
        c.eq(&format!("{gp}.pel"), &o["pel"], &e["pel"]);
        let (oc, ec) = (
            sorted_by(&o["consumers"], name_key),
            sorted_by(&e["consumers"], name_key),
        );
        if names(&oc) != names(&ec) {
            c.diffs.push(format!(
                "{gp}.consumers: ours {:?}, expected {:?}",
                names(&oc),
                names(&ec)
            ));
            continue;
        }
        for (x, y) in arr(&oc).iter().zip(arr(&ec).iter()) {
            let cp = format!("{gp}.consumers[{}]", canon(&y["name"]));
            c.eq(
                &format!("{cp}.seen_time_ms"),
                &x["seen_time_ms"],
                &y["seen_time_ms"],
            );
            c.maybe(
                &format!("{cp}.active_time_ms"),
                &x["active_time_ms"],
                &y["active_time_ms"],
                v72,
            );
            c.eq(&format!("{cp}.pel"), &x["pel"], &y["pel"]);
        }
    }
}

/// One module sub-opcode item: opcode, its raw bytes, and the value of a
/// `UINT`.
#[derive(Debug, PartialEq)]
struct Tok<'a> {
    op: u64,
    raw: &'a [u8],
    uint: Option<u64>,
}

/// Splits a module payload into its sub-opcode items (up to and including
/// the final `EOF`), using rdbkit's public `Reader` / `RdbStr`.
fn tokens(p: &[u8]) -> Result<Vec<Tok<'_>>, String> {
    let limits = Limits::default();
    let mut r = Reader::new(p);
    let mut out = Vec::new();
    loop {
        let at = r.pos();
        let op = r.length("sub-opcode").map_err(|e| e.to_string())?;
        let mut uint = None;
        match op {
            0 => {}
            1 | 2 => uint = Some(r.length("int").map_err(|e| e.to_string())?),
            3 => r.skip(4, "float").map_err(|e| e.to_string())?,
            4 => r.skip(8, "double").map_err(|e| e.to_string())?,
            5 => RdbStr::skip(&mut r, &limits, "string").map_err(|e| e.to_string())?,
            _ => return Err(format!("unknown sub-opcode {op} at {at}")),
        }
        out.push(Tok {
            op,
            raw: &p[at..r.pos()],
            uint,
        });
        if op == 0 {
            break;
        }
    }
    if r.pos() != p.len() {
        return Err(format!("{} bytes after EOF", p.len() - r.pos()));
    }
    Ok(out)
}

/// RedisTimeSeries (`TSDB-TYPE`, encver 8) `series_rdb_save` writes: key name,
/// retention, chunk size, options, last timestamp, last value, total samples,
/// duplicate policy, `has_src_key` [+ src key], ignore max time diff, ignore
/// max value diff, label count + labels, rule count + rules, chunk count +
/// chunks. On `DUMP` it writes `has_src_key` 0 and rule count 0. Checks that
/// `file` equals `dump` but for those cross references; returns what was
/// removed.
fn ts_without_cross_refs(file: &[u8], dump: &[u8]) -> Result<String, String> {
    let (f, d) = (tokens(file)?, tokens(dump)?);
    const HAS_SRC: usize = 8;
    if f.len() <= HAS_SRC || d.len() <= HAS_SRC || f[..HAS_SRC] != d[..HAS_SRC] {
        return Err("the series headers (first 8 items) differ".into());
    }
    let uint = |t: Option<&Tok>| t.filter(|t| t.op == 2).and_then(|t| t.uint);
    if uint(d.get(HAS_SRC)) != Some(0) {
        return Err("DUMP payload has a source key".into());
    }
    let (mut i, mut j) = (HAS_SRC + 1, HAS_SRC + 1);
    let src = match uint(f.get(HAS_SRC)) {
        Some(0) => String::new(),
        Some(1) if f.get(i).is_some_and(|t| t.op == 5) => {
            i += 1;
            "source key, ".into()
        }
        _ => return Err("bad has_src_key item".into()),
    };
    // ignore-max-time-diff, ignore-max-val-diff, label count, labels.
    let labels = uint(f.get(i + 2)).ok_or("no label count")? as usize;
    let n = 3 + 2 * labels;
    if f.len() < i + n || d.len() < j + n || f[i..i + n] != d[j..j + n] {
        return Err("ignore settings or labels differ".into());
    }
    i += n;
    j += n;
    let rules = uint(f.get(i)).ok_or("no rule count")?;
    if uint(d.get(j)) != Some(0) {
        return Err("DUMP payload has rules".into());
    }
    let tail = &d[j + 1..];
    if f.len() < i + 1 + tail.len() || f[f.len() - tail.len()..] != *tail {
        return Err("chunks differ".into());
    }
    let removed = f.len() - tail.len() - (i + 1);
    if (rules == 0) != (removed == 0) || (rules > 0 && f[i + 1].op != 5) {
        return Err(format!("{rules} rules but {removed} items between"));
    }
    Ok(format!("{src}{rules} compaction rule(s) ({removed} items)"))
}

/// Keys whose module payload the fixture's notes call non-deterministic.
fn nondeterministic_keys(meta: Option<&J>) -> Vec<String> {
    let notes = meta.map(|m| arr(&m["notes"])).unwrap_or_default();
    notes
        .iter()
        .filter_map(J::as_str)
        .filter(|n| n.contains("not deterministic") || n.contains("non-deterministic"))
        .filter_map(|n| n.split_once(" payload").map(|(k, _)| k.trim().to_owned()))
        .collect()
}

fn compare_module(c: &mut Cmp, key: &J, ours: &J, exp: &J, nondet: &[String]) {
    c.eq("value.module", &ours["module"], &exp["module"]);
    c.eq("value.encver", &ours["encver"], &exp["encver"]);
    let b64 = |v: &J| {
        v["payload_base64"]
            .as_str()
            .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
    };
    let (Some(o), Some(e)) = (b64(ours), b64(exp)) else {
        c.diffs
            .push("value.payload_base64: missing or not base64".into());
        return;
    };
    let key_text = key.as_str().unwrap_or_default();
    let nondet = nondet.iter().any(|k| k == key_text);
    if o == e {
        if nondet {
            c.notes.push(format!(
                "{key_text}: payload equal (meta notes it non-deterministic across runs)"
            ));
        }
        return;
    }
    if nondet {
        match tokens(&o) {
            Ok(t) if t.len() > 1 => c.notes.push(format!(
                "{key_text}: payload not compared (non-deterministic per meta notes), {} bytes / {} items",
                o.len(),
                t.len()
            )),
            Ok(_) => c.diffs.push("value.payload_base64: empty payload".into()),
            Err(err) => c.diffs.push(format!("value.payload_base64: {err}")),
        }
        return;
    }
    if ours["module"] == "TSDB-TYPE" && ours["encver"] == 8 {
        match ts_without_cross_refs(&o, &e) {
            Ok(what) => c.notes.push(format!(
                "{key_text}: TSDB-TYPE payload = DUMP payload + {what} (RedisTimeSeries keeps them out of DUMP)"
            )),
            Err(err) => c.diffs.push(format!(
                "value.payload_base64: TimeSeries payload differs beyond the cross references: {err}"
            )),
        }
        return;
    }
    c.eq(
        "value.payload_base64",
        &ours["payload_base64"],
        &exp["payload_base64"],
    );
}

fn compare_key(key: &J, ours: &J, exp: &J, ver: (u32, u32), nondet: &[String]) -> Cmp {
    let mut c = Cmp::default();
    c.eq("type", &ours["type"], &exp["type"]);
    c.eq("expire_ms", &ours["expire_ms"], &exp["expire_ms"]);
    if !c.diffs.is_empty() {
        return c;
    }
    let (o, e) = (&ours["value"], &exp["value"]);
    match exp["type"].as_str().unwrap_or("") {
        "string" | "list" => c.eq("value", o, e),
        "set" => compare_set(&mut c, o, e),
        "hash" => {
            let field = |p: &J| canon(&p[0]);
            c.eq(
                "value(by field)",
                &sorted_by(o, field),
                &sorted_by(e, field),
            )
        }
        "zset" => compare_zset(&mut c, o, e),
        "stream" => compare_stream(&mut c, o, e, ver),
        "module" => compare_module(&mut c, key, o, e, nondet),
        t => c
            .diffs
            .push(format!("unexpected type {t:?} in the expected file")),
    }
    c
}

// ---------------------------------------------------------------------------
// Per fixture

type KeyMap = BTreeMap<(u64, String), J>;

struct Decoded {
    keys: KeyMap,
    /// Keys without an `IDLE` / with an `IDLE`, without / with `FREQ`.
    idle: (usize, usize),
    freq: (usize, usize),
}

fn decode(data: &[u8]) -> Result<Decoded, String> {
    let opts = Options {
        level: Level::Deep,
        ..Options::default()
    };
    let dec = Decoder::new(data, opts).map_err(|e| format!("header: {e}"))?;
    let mut out = Decoded {
        keys: BTreeMap::new(),
        idle: (0, 0),
        freq: (0, 0),
    };
    let mut saw_eof = false;
    for item in dec {
        match item.map_err(|e| format!("decode (Level::Deep): {e}"))? {
            Item::Key(k) => {
                let mut line = Vec::new();
                rdbkit::export::json::write_key(&mut line, &k)
                    .map_err(|e| format!("write_key: {e}"))?;
                let v: J = serde_json::from_slice(&line).map_err(|e| {
                    format!(
                        "write_key produced invalid JSON ({e}): {}",
                        String::from_utf8_lossy(&line)
                    )
                })?;
                if k.idle.is_some() {
                    out.idle.1 += 1;
                } else {
                    out.idle.0 += 1;
                }
                if k.freq.is_some() {
                    out.freq.1 += 1;
                } else {
                    out.freq.0 += 1;
                }
                let id = (k.db, canon(&v["key"]));
                if out.keys.insert(id.clone(), v).is_some() {
                    return Err(format!("key {} appears twice in db {}", id.1, id.0));
                }
            }
            Item::Eof { .. } => saw_eof = true,
            _ => {}
        }
    }
    if !saw_eof {
        return Err("no EOF".into());
    }
    Ok(out)
}

fn expected(jsonl: &Path) -> Result<KeyMap, String> {
    let text = std::fs::read_to_string(jsonl).map_err(|e| e.to_string())?;
    let mut m = BTreeMap::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
        let v: J = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        let db = v["db"].as_u64().ok_or(format!("line {}: no db", n + 1))?;
        if m.insert((db, canon(&v["key"])), v).is_some() {
            return Err(format!("line {}: duplicate key", n + 1));
        }
    }
    Ok(m)
}

struct Outcome {
    summary: String,
    failures: Vec<String>,
}

fn check_keys(rdb: &Path) -> Outcome {
    let meta = read_meta(rdb);
    let ver = version_of(meta.as_ref());
    let nondet = nondeterministic_keys(meta.as_ref());
    let mut failures = Vec::new();
    let data = std::fs::read(rdb).unwrap();
    let dec = match decode(&data) {
        Ok(d) => d,
        Err(e) => {
            return Outcome {
                summary: "decode failed".into(),
                failures: vec![e],
            }
        }
    };
    let exp = match expected(&rdb.with_extension("jsonl")) {
        Ok(e) => e,
        Err(e) => {
            return Outcome {
                summary: "bad .jsonl".into(),
                failures: vec![format!("expected file: {e}")],
            }
        }
    };
    let missing: Vec<_> = exp.keys().filter(|k| !dec.keys.contains_key(k)).collect();
    let extra: Vec<_> = dec.keys.keys().filter(|k| !exp.contains_key(k)).collect();
    let fmt = |v: &[&(u64, String)]| {
        v.iter()
            .take(SHOW_DIFFS)
            .map(|(db, k)| format!("db {db} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !missing.is_empty() {
        failures.push(format!(
            "{} keys missing from rdbkit's decode: {}",
            missing.len(),
            fmt(&missing)
        ));
    }
    if !extra.is_empty() {
        failures.push(format!(
            "{} keys decoded that the server does not have: {}",
            extra.len(),
            fmt(&extra)
        ));
    }
    let (mut bad, mut skipped, mut notes) = (0usize, 0usize, Vec::new());
    for (id, e) in &exp {
        let Some(o) = dec.keys.get(id) else { continue };
        let c = compare_key(&e["key"], o, e, ver, &nondet);
        skipped += c.skipped.len();
        notes.extend(c.notes);
        if !c.diffs.is_empty() {
            bad += 1;
            if bad <= SHOW_DIFFS {
                failures.push(format!(
                    "db {} key {} ({}): {}",
                    id.0,
                    id.1,
                    e["type"].as_str().unwrap_or("?"),
                    c.diffs
                        .iter()
                        .take(3)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
        }
    }
    if bad > SHOW_DIFFS {
        failures.push(format!("… and {} more differing keys", bad - SHOW_DIFFS));
    }
    // LRU / LFU fixtures: every key carries IDLE / FREQ; others none.
    let policy = meta
        .as_ref()
        .and_then(|m| m["config"]["maxmemory-policy"].as_str())
        .unwrap_or("");
    let (want_idle, want_freq) = (policy.contains("lru"), policy.contains("lfu"));
    let n = dec.keys.len();
    if (want_idle && dec.idle.1 != n) || (!want_idle && dec.idle.1 != 0) {
        failures.push(format!(
            "{} of {n} keys have IDLE (maxmemory-policy {policy:?})",
            dec.idle.1
        ));
    }
    if (want_freq && dec.freq.1 != n) || (!want_freq && dec.freq.1 != 0) {
        failures.push(format!(
            "{} of {n} keys have FREQ (maxmemory-policy {policy:?})",
            dec.freq.1
        ));
    }
    let mut per_db: BTreeMap<u64, usize> = BTreeMap::new();
    for (db, _) in exp.keys() {
        *per_db.entry(*db).or_default() += 1;
    }
    let dbs = per_db
        .iter()
        .map(|(d, n)| format!("db{d} {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut summary = format!(
        "{} keys ({}), {} matched{}",
        exp.len(),
        if dbs.is_empty() { "none" } else { &dbs },
        exp.len() - bad - missing.len(),
        if skipped > 0 {
            format!(
                ", {skipped} stream fields skipped (not reported by {}.{})",
                ver.0, ver.1
            )
        } else {
            String::new()
        }
    );
    if want_idle || want_freq {
        summary.push_str(if want_idle {
            ", IDLE on every key"
        } else {
            ", FREQ on every key"
        });
    }
    for n in notes {
        summary.push_str("\n      note: ");
        summary.push_str(&n);
    }
    Outcome { summary, failures }
}

fn check_meta(rdb: &Path) -> Outcome {
    let mut failures = Vec::new();
    let Some(meta) = read_meta(rdb) else {
        return Outcome {
            summary: "no .meta.json".into(),
            failures,
        };
    };
    let data = std::fs::read(rdb).unwrap();
    let opts = Options {
        level: Level::Deep,
        ..Options::default()
    };
    let r = match rdbkit::stats::inspect(&data, opts, rdbkit::now_ms()) {
        Ok(r) => r,
        Err(e) => {
            return Outcome {
                summary: "inspect failed".into(),
                failures: vec![format!("inspect: {e}")],
            }
        }
    };
    let counts = |f: fn(&rdbkit::stats::DbStats) -> u64| -> BTreeMap<String, u64> {
        r.dbs
            .iter()
            .map(|(db, d)| (db.to_string(), f(d)))
            .filter(|(_, n)| *n > 0)
            .collect()
    };
    let from_meta = |k: &str| -> BTreeMap<String, u64> {
        meta[k]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(db, n)| (db.clone(), n.as_u64().unwrap_or(u64::MAX)))
                    .filter(|(_, n)| *n > 0)
                    .collect()
            })
            .unwrap_or_default()
    };
    let (keys, expires) = (counts(|d| d.keys), counts(|d| d.expires));
    if keys != from_meta("keys_per_db") {
        failures.push(format!(
            "keys per db: inspect {keys:?}, meta {:?}",
            from_meta("keys_per_db")
        ));
    }
    if expires != from_meta("expires_per_db") {
        failures.push(format!(
            "expires per db: inspect {expires:?}, meta {:?}",
            from_meta("expires_per_db")
        ));
    }
    for (what, ours, k) in [
        ("keys_total", r.keys(), "keys_total"),
        ("expires_total", r.expires(), "expires_total"),
    ] {
        if meta[k].as_u64() != Some(ours) {
            failures.push(format!("{what}: inspect {ours}, meta {}", meta[k]));
        }
    }
    let mut funcs = r.functions.clone();
    funcs.sort();
    let mut want: Vec<String> = arr(&meta["functions"])
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    want.sort();
    if funcs != want {
        failures.push(format!(
            "function libraries: inspect {funcs:?}, meta {want:?}"
        ));
    }
    let magic = match r.header.lineage {
        Lineage::Redis => "REDIS",
        Lineage::Valkey => "VALKEY",
    };
    if meta["rdb_magic"].as_str() != Some(magic)
        || meta["rdb_version"].as_u64() != Some(u64::from(r.header.version))
    {
        failures.push(format!(
            "header: {magic} {}, meta {} {}",
            r.header.version, meta["rdb_magic"], meta["rdb_version"]
        ));
    }
    Outcome {
        summary: format!(
            "{magic}{:03} keys {} expires {} functions {:?}",
            r.header.version,
            r.keys(),
            r.expires(),
            funcs
        ),
        failures,
    }
}

fn run(what: &str, check: fn(&Path) -> Outcome) {
    let all = fixtures();
    assert!(
        !all.is_empty(),
        "no fixtures with a .jsonl under tests/fixtures"
    );
    let mut failed = Vec::new();
    // One print at the end: the tests run in parallel.
    let mut report = format!("{what}:\n");
    for rdb in &all {
        let name = fixture_name(rdb);
        let o = check(rdb);
        let status = if o.failures.is_empty() {
            "ok  "
        } else {
            "FAIL"
        };
        report.push_str(&format!("  {status} {name:<28} {}\n", o.summary));
        for f in &o.failures {
            report.push_str(&format!("         {f}\n"));
        }
        if !o.failures.is_empty() {
            failed.push(format!("{name}:\n    {}", o.failures.join("\n    ")));
        }
    }
    print!("{report}");
    assert!(
        failed.is_empty(),
        "{what}: {} of {} fixtures differ:\n{}",
        failed.len(),
        all.len(),
        failed.join("\n")
    );
}

#[test]
fn keys_match_the_servers_view() {
    run("keys vs the server's view (.jsonl)", check_keys);
}

#[test]
fn meta_counts_match_inspect() {
    run("counts vs .meta.json", check_meta);
}

#[test]
fn ts_cross_reference_normalisation_is_strict() {
    // DUMP: key "k", 8 header items, no src, ignore fields, 0 labels, 0 rules,
    // 0 chunks, EOF.
    let head: &[u8] = &[
        5, 1, b'k', 2, 0, 2, 1, 2, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0,
    ];
    let mid: &[u8] = &[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0];
    let dump = [head, &[2, 0], mid, &[2, 0], &[2, 0, 0]].concat();
    // SAVE: src key "s" and one rule (dest "d" + 4 uints + a double).
    let rule: &[u8] = &[
        5, 1, b'd', 2, 1, 2, 0, 2, 4, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let file = [head, &[2, 1, 5, 1, b's'], mid, &[2, 1], rule, &[2, 0, 0]].concat();
    assert!(ts_without_cross_refs(&file, &dump).is_ok());
    assert!(ts_without_cross_refs(&dump, &dump).is_ok());
    // A changed chunk count is not a cross reference.
    let mut other = file.clone();
    let n = other.len();
    other[n - 2] = 1;
    assert!(ts_without_cross_refs(&other, &dump).is_err());
}
