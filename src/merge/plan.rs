//! Planning a merge: decode and verify every input, count, find keys present
//! in several inputs (by 64-bit fingerprints of borrowed keys, 16 bytes per
//! key), resolve them, and de-duplicate functions and module aux data.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::report::{InputSummary, MergeReport};
use super::{dynomite, MergeError, MergeOptions, Policy};
use crate::decode::{Decoder, Item, KeyRecord, Kind, Level, Options};
use crate::encode::{OwnedValue, Target};
use crate::format::{rdb_type, Lineage};
use crate::inspect::{inspect, library_name};
use crate::Input;

/// Bits of a location used for the record offset; the input index is above.
const OFFSET_BITS: u32 = 48;
/// Conflicts listed in the report at most (all are counted).
pub(crate) const MAX_LISTED: usize = 1000;
/// Largest key Redis Enterprise accepts.
const MAX_KEY: usize = 64 * 1024;
/// Largest string value Redis accepts.
const MAX_VALUE: usize = 512 * 1024 * 1024;

/// One input's copy of a conflicting key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictCopy {
    /// Input index.
    pub input: usize,
    /// Value type name.
    pub kind: &'static str,
    /// Encoding name.
    pub encoding: &'static str,
    /// Encoded size of the record in bytes.
    pub bytes: u64,
    /// Absolute expiry (unix ms).
    pub expire_ms: Option<i64>,
}

/// A key present in several inputs with different contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// Output database.
    pub db: u64,
    /// The key (lossy text, for the report).
    pub key: String,
    /// The copies, in input order.
    pub copies: Vec<ConflictCopy>,
    /// Input whose copy was kept, if the policy resolved it.
    pub kept: Option<usize>,
}

pub(crate) struct Plan {
    pub inputs: Vec<Input>,
    pub target: Target,
    /// Sorted locations of key records to leave out.
    pub skip: Vec<u64>,
    /// Per input: (position after SELECTDB, db).
    pub db_marks: Vec<Vec<(usize, u64)>>,
    /// Output counts per db: (keys, expires).
    pub out_counts: BTreeMap<u64, (u64, u64)>,
    /// Function library sources to write, in order.
    pub functions: Vec<Vec<u8>>,
    /// Module aux records to write: (module id, when, payload).
    pub module_aux: Vec<(u64, u64, Vec<u8>)>,
    pub report: MergeReport,
}

pub(crate) fn loc(input: usize, offset: usize) -> u64 {
    ((input as u64) << OFFSET_BITS) | offset as u64
}

fn unloc(l: u64) -> (usize, usize) {
    (
        (l >> OFFSET_BITS) as usize,
        (l & ((1 << OFFSET_BITS) - 1)) as usize,
    )
}

/// Whether a record is left out before conflict detection (metadata, expired).
pub(crate) fn filtered(
    opts: &MergeOptions,
    key: &[u8],
    expire: Option<i64>,
) -> Option<&'static str> {
    if opts.drop_dynomite_metadata && dynomite::is_metadata_key(key) {
        return Some("dynomite");
    }
    if let (Some(t), Some(e)) = (opts.drop_expired_at, expire) {
        if e < t {
            return Some("expired");
        }
    }
    None
}

/// The db a record belongs to: the last SELECTDB before it.
pub(crate) fn db_at(marks: &[(usize, u64)], offset: usize) -> u64 {
    match marks.partition_point(|m| m.0 <= offset) {
        0 => 0,
        i => marks[i - 1].1,
    }
}

fn refused(reason: String, report: MergeReport) -> MergeError {
    MergeError::Refused {
        reason,
        report: Box::new(report),
    }
}

fn skip_opts() -> Options {
    Options {
        level: Level::Skip,
        verify_checksum: false,
        ..Options::default()
    }
}

/// Loads the key record starting at `offset` of input `i`.
fn record_at<'a>(
    data: &'a [u8],
    marks: &[(usize, u64)],
    offset: usize,
) -> crate::Result<KeyRecord<'a>> {
    let mut d = Decoder::resume(data, offset, db_at(marks, offset), skip_opts())?;
    match d.next() {
        Some(Ok(Item::Key(k))) => Ok(k),
        Some(Err(e)) => Err(e),
        _ => Err(crate::Error::corrupt(
            "expected a key record",
            offset as u64,
        )),
    }
}

/// A value normalised for comparison (order-insensitive where the type is).
fn normalised(v: &crate::decode::Value<'_>) -> crate::Result<OwnedValue> {
    let mut o = OwnedValue::from_value(v)?;
    match &mut o {
        OwnedValue::Set(s) => s.sort(),
        OwnedValue::Hash(h) => h.sort_by(|a, b| a.field.cmp(&b.field)),
        OwnedValue::ZSet(z) => z.sort_by(|a, b| a.0.cmp(&b.0)),
        _ => {}
    }
    Ok(o)
}

fn same_value(a: &KeyRecord<'_>, ad: &[u8], b: &KeyRecord<'_>, bd: &[u8]) -> crate::Result<bool> {
    if a.expire_ms != b.expire_ms || a.value.kind() != b.value.kind() {
        return Ok(false);
    }
    if ad[a.body_span.clone()] == bd[b.body_span.clone()] {
        return Ok(true);
    }
    Ok(normalised(&a.value)? == normalised(&b.value)?)
}

fn default_target(summaries: &[InputSummary]) -> Result<Target, String> {
    let redis: Vec<u32> = summaries
        .iter()
        .filter(|s| s.report.header.lineage == Lineage::Redis)
        .map(|s| s.report.header.version)
        .collect();
    let valkey: Vec<u32> = summaries
        .iter()
        .filter(|s| s.report.header.lineage == Lineage::Valkey)
        .map(|s| s.report.header.version)
        .collect();
    match (redis.iter().max(), valkey.iter().max()) {
        (Some(_), Some(_)) => Err(
            "the inputs mix Redis-format and Valkey 80+ files; choose the output format with --target"
                .into(),
        ),
        (Some(&v), None) => {
            let all_valkey = summaries.iter().all(|s| {
                s.report
                    .aux
                    .iter()
                    .any(|(k, _)| k == "valkey-ver")
            });
            Ok(Target {
                valkey: all_valkey,
                ..Target::redis(v)
            })
        }
        (None, Some(&v)) => Ok(Target {
            lineage: Lineage::Valkey,
            version: v,
            valkey: true,
        }),
        (None, None) => Err("no inputs".into()),
    }
}

impl Plan {
    pub(crate) fn build(opts: &MergeOptions) -> Result<Plan, MergeError> {
        let mut report = MergeReport::new(opts);
        if opts.inputs.is_empty() {
            return Err(MergeError::Io {
                reason: "no input files".into(),
                report: None,
            });
        }
        // 1. Open, decode and verify every input.
        let mut inputs = Vec::with_capacity(opts.inputs.len());
        for (i, p) in opts.inputs.iter().enumerate() {
            let input = Input::open(p).map_err(|e| MergeError::Io {
                reason: format!("cannot open input {}: {}", p.display(), e.kind()),
                report: None,
            })?;
            let r = inspect(&input, Options::default(), opts.import_at).map_err(|e| {
                refused(
                    format!("input {} ({}) is invalid: {e}", i + 1, p.display()),
                    report.clone(),
                )
            })?;
            report.inputs.push(InputSummary {
                path: p.display().to_string(),
                report: r,
            });
            inputs.push(input);
        }
        if let Some(exp) = &opts.expect_keys {
            for (i, s) in report.inputs.iter().enumerate() {
                let counted = s.report.keys();
                if exp[i] != counted {
                    let msg = format!(
                        "input {} ({}): expected {} keys, counted {counted}",
                        i + 1,
                        s.path,
                        exp[i]
                    );
                    return Err(refused(msg, report));
                }
            }
        }
        let target = match opts.target {
            Some(t) => t,
            None => match default_target(&report.inputs) {
                Ok(t) => t,
                Err(e) => return Err(refused(e, report)),
            },
        };
        report.target = Some(target);
        // 2. Scan: fingerprints, counts, functions, module aux.
        let mut fps: Vec<(u64, u64)> =
            Vec::with_capacity(report.inputs.iter().map(|s| s.report.keys() as usize).sum());
        let mut db_marks = vec![Vec::new(); inputs.len()];
        let mut out_counts: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        let mut nonzero: BTreeMap<u64, u64> = BTreeMap::new();
        let mut functions: Vec<(String, Vec<u8>, usize)> = Vec::new();
        let mut module_aux: BTreeMap<(String, u64), (u64, Vec<u8>, usize)> = BTreeMap::new();
        let mut aux_order: Vec<(String, u64)> = Vec::new();
        let mut problems: Vec<String> = Vec::new();
        for (i, data) in inputs.iter().enumerate() {
            let mut dec = Decoder::new(data, skip_opts())
                .map_err(|e| refused(e.to_string(), report.clone()))?;
            loop {
                let start = dec.offset();
                let Some(item) = dec.next() else { break };
                let item = item.map_err(|e| {
                    refused(
                        format!("input {}: {e}", opts.inputs[i].display()),
                        report.clone(),
                    )
                })?;
                match item {
                    Item::SelectDb(db) => db_marks[i].push((dec.offset(), db)),
                    Item::Function(code) => {
                        let code = code.to_bytes().map_err(|e| refused(e.to_string(), report.clone()))?;
                        let name = library_name(&code).unwrap_or_else(|| "?".into());
                        match functions.iter_mut().find(|f| f.0 == name) {
                            Some(f) if f.1 == *code => report.functions_deduplicated += 1,
                            Some(f) => match opts.policy {
                                Policy::First => report.function_conflicts.push(name),
                                Policy::Last => {
                                    report.function_conflicts.push(name);
                                    f.1 = code.into_owned();
                                    f.2 = i;
                                }
                                _ => problems.push(format!(
                                    "function library '{name}' differs between input {} and input {}",
                                    f.2 + 1,
                                    i + 1
                                )),
                            },
                            None => functions.push((name, code.into_owned(), i)),
                        }
                    }
                    Item::FunctionPreGa { name, .. } => problems.push(format!(
                        "input {} holds a pre-release (7.0-rc) function '{}' that no current server loads",
                        i + 1,
                        String::from_utf8_lossy(&name.to_bytes().unwrap_or_default())
                    )),
                    Item::ModuleAux(m) => {
                        let k = (m.id.name(), m.when);
                        match module_aux.get(&k) {
                            Some((id, p, _)) if *id == m.id.0 && p == m.payload => {
                                report.module_aux_deduplicated += 1
                            }
                            Some((_, _, first)) => problems.push(format!(
                                "module aux data of {} ({}) differs between input {} and input {}",
                                k.0,
                                if k.1 == 1 { "before keys" } else { "after keys" },
                                first + 1,
                                i + 1
                            )),
                            None => {
                                aux_order.push(k.clone());
                                module_aux.insert(k, (m.id.0, m.payload.to_vec(), i));
                            }
                        }
                    }
                    Item::Key(k) => {
                        let key: Cow<'_, [u8]> = k.key.to_bytes().map_err(|e| refused(e.to_string(), report.clone()))?;
                        if let Some(why) = filtered(opts, &key, k.expire_ms) {
                            match why {
                                "dynomite" => report.dropped_dynomite_metadata += 1,
                                _ => report.dropped_expired += 1,
                            }
                            continue;
                        }
                        if k.db > 0 {
                            *nonzero.entry(k.db).or_default() += 1;
                        }
                        let out_db = if opts.flatten_dbs { 0 } else { k.db };
                        if key.len() > MAX_KEY && problems.len() < MAX_LISTED {
                            problems.push(format!(
                                "input {}: key '{}…' is {} bytes, over the 64 KiB limit",
                                i + 1,
                                String::from_utf8_lossy(&key[..64]),
                                key.len()
                            ));
                        }
                        if k.value.rdb_type() == rdb_type::STRING {
                            if let Ok(s) = k.value.string() {
                                if s.len() > MAX_VALUE && problems.len() < MAX_LISTED {
                                    problems.push(format!(
                                        "input {}: key '{}' holds a {}-byte string, over the 512 MB limit",
                                        i + 1,
                                        String::from_utf8_lossy(&key),
                                        s.len()
                                    ));
                                }
                            }
                        }
                        if k.value.kind() == Kind::Module {
                            if let Ok(m) = k.value.module() {
                                report.modules.insert(m.id.name());
                            }
                        }
                        let fp = crate::decode::fingerprint(&key)
                            ^ out_db.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                        fps.push((fp, loc(i, start)));
                        let c = out_counts.entry(out_db).or_default();
                        c.0 += 1;
                        if let Some(e) = k.expire_ms {
                            c.1 += 1;
                            if e < opts.import_at {
                                report.expired_at_import += 1;
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        if !nonzero.is_empty() && !opts.flatten_dbs && !opts.keep_dbs {
            let list: Vec<String> = nonzero
                .iter()
                .map(|(d, n)| format!("db {d}: {n} keys"))
                .collect();
            problems.push(format!(
                "Redis Enterprise has one keyspace but the inputs hold keys in other databases ({}); use --flatten-dbs to move them into db 0 or --keep-dbs for an open-source target",
                list.join(", ")
            ));
        }
        if !functions.is_empty() && !target.has_functions() {
            if opts.drop_functions {
                report.functions_dropped = functions.len() as u64;
                functions.clear();
            } else {
                problems.push(format!(
                    "{} function libraries cannot be written to {target} (needs RDB 10+); allow with --drop-functions",
                    functions.len()
                ));
            }
        }
        report.functions = functions.iter().map(|f| f.0.clone()).collect();
        // 3. Keys in several inputs.
        fps.sort_unstable();
        let mut skip = Vec::new();
        let mut g = 0;
        while g < fps.len() {
            let mut e = g + 1;
            while e < fps.len() && fps[e].0 == fps[g].0 {
                e += 1;
            }
            if e - g > 1 {
                resolve_group(
                    opts,
                    &inputs,
                    &db_marks,
                    &fps[g..e],
                    &mut skip,
                    &mut out_counts,
                    &mut report,
                )
                .map_err(|err| refused(err.to_string(), report.clone()))?;
            }
            g = e;
        }
        skip.sort_unstable();
        if report.conflicts_total > 0 && report.conflicts_unresolved > 0 {
            problems.push(format!(
                "{} keys differ between inputs (policy {}); see the conflict list",
                report.conflicts_unresolved,
                report.policy_name()
            ));
        }
        let total: u64 = out_counts.values().map(|c| c.0).sum();
        report.out_counts = out_counts.clone();
        if let Some(t) = opts.expect_total {
            if t != total {
                problems.push(format!(
                    "expected {t} keys in the output, the merge gives {total}"
                ));
            }
        }
        if !problems.is_empty() {
            report.problems = problems.clone();
            return Err(refused(problems.join("; "), report));
        }
        let module_aux = aux_order
            .into_iter()
            .filter_map(|k| module_aux.remove(&k).map(|(id, p, _)| (id, k.1, p)))
            .collect();
        Ok(Plan {
            inputs,
            target,
            skip,
            db_marks,
            out_counts,
            functions: functions.into_iter().map(|f| f.1).collect(),
            module_aux,
            report,
        })
    }
}

/// Resolves one group of records with the same fingerprint.
fn resolve_group(
    opts: &MergeOptions,
    inputs: &[Input],
    marks: &[Vec<(usize, u64)>],
    group: &[(u64, u64)],
    skip: &mut Vec<u64>,
    counts: &mut BTreeMap<u64, (u64, u64)>,
    report: &mut MergeReport,
) -> crate::Result<()> {
    let mut recs = Vec::with_capacity(group.len());
    for &(_, l) in group {
        let (i, off) = unloc(l);
        let r = record_at(&inputs[i], &marks[i], off)?;
        let key = r.key.to_bytes()?.into_owned();
        recs.push((key, i, l, r));
    }
    // Split by real key bytes (fingerprint collisions) and output db.
    recs.sort_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2)));
    let mut s = 0;
    while s < recs.len() {
        let mut e = s + 1;
        let odb = |r: &KeyRecord<'_>| if opts.flatten_dbs { 0 } else { r.db };
        while e < recs.len() && recs[e].0 == recs[s].0 && odb(&recs[e].3) == odb(&recs[s].3) {
            e += 1;
        }
        if e - s > 1 {
            resolve_key(opts, inputs, &recs[s..e], skip, counts, report)?;
        }
        s = e;
    }
    Ok(())
}

type Copy<'a> = (Vec<u8>, usize, u64, KeyRecord<'a>);

fn resolve_key(
    opts: &MergeOptions,
    inputs: &[Input],
    copies: &[Copy<'_>],
    skip: &mut Vec<u64>,
    counts: &mut BTreeMap<u64, (u64, u64)>,
    report: &mut MergeReport,
) -> crate::Result<()> {
    let db = if opts.flatten_dbs { 0 } else { copies[0].3.db };
    let mut drop = |c: &Copy<'_>, skip: &mut Vec<u64>, report: &mut MergeReport| {
        skip.push(c.2);
        let e = counts.entry(db).or_default();
        e.0 -= 1;
        if let Some(x) = c.3.expire_ms {
            e.1 -= 1;
            if x < opts.import_at {
                report.expired_at_import -= 1;
            }
        }
    };
    let first = &copies[0];
    let mut all_same = true;
    for c in &copies[1..] {
        if !same_value(&first.3, &inputs[first.1], &c.3, &inputs[c.1])? {
            all_same = false;
            break;
        }
    }
    if all_same {
        report.duplicates_identical += (copies.len() - 1) as u64;
        for c in &copies[1..] {
            drop(c, skip, report);
        }
        return Ok(());
    }
    report.conflicts_total += 1;
    let kept = match opts.policy {
        Policy::Error => None,
        Policy::First => Some(0),
        Policy::Last => Some(copies.len() - 1),
        Policy::Owner => {
            let tokens: Vec<u32> = opts.tokens.iter().map(|t| t.unwrap_or(0)).collect();
            let h = dynomite::hash(dynomite::hashed_part(&first.0, opts.hash_tag));
            dynomite::owner(h, &tokens).and_then(|o| copies.iter().position(|c| c.1 == o))
        }
    };
    match kept {
        Some(k) => {
            for (j, c) in copies.iter().enumerate() {
                if j != k {
                    drop(c, skip, report);
                }
            }
        }
        None => report.conflicts_unresolved += 1,
    }
    if report.conflicts.len() < MAX_LISTED {
        report.conflicts.push(Conflict {
            db,
            key: String::from_utf8_lossy(&first.0).into_owned(),
            copies: copies
                .iter()
                .map(|c| ConflictCopy {
                    input: c.1,
                    kind: c.3.value.kind().name(),
                    encoding: c.3.value.encoding(),
                    bytes: c.3.body_span.len() as u64,
                    expire_ms: c.3.expire_ms,
                })
                .collect(),
            kept: kept.map(|k| copies[k].1),
        });
    }
    Ok(())
}
