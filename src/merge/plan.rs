//! Planning a merge: decode and verify every input (in parallel), count,
//! find keys present in several inputs, resolve them, and de-duplicate
//! function libraries and module aux data.
//!
//! Memory per key is 16 bytes: a 64-bit fingerprint of the key bytes and
//! output database, and the record's location (input index and byte
//! offset). Each input's list is sorted on its own and the lists are merged
//! to find equal fingerprints; only those records are read again (from the
//! memory-mapped input) and compared byte for byte, so fingerprint
//! collisions never merge different keys.
//!
//! The write pass copies whole runs of records; what it needs from the
//! plan is, per input, the runs of consecutive key records and the sorted
//! offsets of the records that are not copied as they are (left out, or
//! rewritten for the target).

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::progress::{Progress, Ticker};
use super::report::{InputSummary, MergeReport};
use super::{
    dynomite, io_error, refused, refused_for_problems, Cause, MergeError, MergeOptions, Policy,
};
use crate::decode::scan::{self, scan, ScanOptions, Sink, Walked};
use crate::decode::{fingerprint, Decoder, Item, KeyRecord, Level, Options, Warnings};
use crate::encode::{EncodeConfig, Losses, OwnedValue, Target};
use crate::format::{rdb_type, Header, Lineage, ModuleId};
use crate::release::Support;
use crate::stats::{library_name, FileStats, Stats};
use crate::{Input, Limits};

/// Conflicts and duplicates listed in the report at most (all are counted).
pub const MAX_LISTED: usize = 1000;
/// Longest key name accepted (Redis Enterprise's limit: 64 KiB).
pub const MAX_KEY_LEN: usize = 64 * 1024;
/// Largest value accepted: 512 MiB, Redis's bulk-length limit. For strings
/// the uncompressed length counts, for other types the serialized size
/// (what a `RESTORE` payload would carry).
pub const MAX_VALUE_LEN: usize = 512 * 1024 * 1024;

/// Bits of a location used for the byte offset; the input index is above.
const OFFSET_BITS: u32 = 48;
/// Mixes the output database into a key fingerprint.
const DB_MIX: u64 = 0x9E37_79B9_7F4A_7C15;

/// One input's copy of a conflicting key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictCopy {
    /// Input index (0-based).
    pub input: usize,
    /// Value type name (`string`, `hash`, ...).
    pub kind: &'static str,
    /// Encoding name (`listpack`, `quicklist2`, ...).
    pub encoding: &'static str,
    /// Encoded size of the type byte, key and value in bytes.
    pub bytes: u64,
    /// Absolute expiry (unix ms).
    pub expire_ms: Option<i64>,
}

/// A key present in several inputs with different contents (type, value or
/// expiry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// Output database.
    pub db: u64,
    /// The key (lossy UTF-8, for the report).
    pub key: String,
    /// The copies, in input order.
    pub copies: Vec<ConflictCopy>,
    /// Input whose copy was kept, if the policy resolved the conflict.
    pub kept: Option<usize>,
    /// With [`Policy::Owner`]: the input that owns the key by token.
    pub owner: Option<usize>,
}

/// A key present in several inputs with identical contents; one copy is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    /// Output database.
    pub db: u64,
    /// The key (lossy UTF-8, for the report).
    pub key: String,
    /// Inputs holding a copy (0-based, in input order); the first one's is kept.
    pub inputs: Vec<usize>,
}

/// A run of consecutive key records of one database in one input.
/// Runs are cut at the first record start [`RUN_SPLIT`] bytes or more past
/// theirs: the writer records where each run lands in the output, and the
/// re-read of the output splits its work at those points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    pub start: usize,
    pub end: usize,
    pub db: u64,
}

/// Length after which a run is cut at the next record start.
pub(crate) const RUN_SPLIT: usize = 32 << 20;

impl Run {
    /// Whether a record starting at `at` (right after the run, in its
    /// database) may extend it rather than start the next run.
    fn grows_to(&self, at: usize) -> bool {
        at - self.start < RUN_SPLIT
    }
}

pub(crate) struct Plan {
    pub inputs: Vec<Input>,
    pub target: Target,
    /// Per input: runs of key records, in file order.
    pub runs: Vec<Vec<Run>>,
    /// Per input: sorted offsets of records left out as duplicates or
    /// conflict losers.
    pub skip: Vec<Vec<usize>>,
    /// Per input: sorted offsets of records that are filtered out or must
    /// be rewritten for the target.
    pub special: Vec<Vec<usize>>,
    /// Output keys and expires per database.
    pub out_counts: BTreeMap<u64, (u64, u64)>,
    /// Function library sources to write, in order.
    pub functions: Vec<Vec<u8>>,
    /// Module aux records to write: (module id, when, payload).
    pub module_aux: Vec<(u64, u64, Vec<u8>)>,
    /// Per input: the CRC-64 of the whole file as the input pass read it,
    /// compared again before the output is published (an input changed in
    /// the meantime must not end up in a verified output).
    pub fingerprints: Vec<u64>,
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

/// Why a record is left out before duplicate detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filter {
    Dynomite,
    Expired,
}

/// Whether a record is left out before duplicate detection.
pub(crate) fn filtered(opts: &MergeOptions, key: &[u8], expire: Option<i64>) -> Option<Filter> {
    if opts.drop_dynomite_metadata && dynomite::is_metadata_key(key) {
        return Some(Filter::Dynomite);
    }
    match (opts.drop_expired_at, expire) {
        (Some(t), Some(e)) if e < t => Some(Filter::Expired),
        _ => None,
    }
}

/// The output database of a record of database `db`.
pub(crate) fn out_db(opts: &MergeOptions, db: u64) -> u64 {
    if opts.flatten_dbs {
        0
    } else {
        db
    }
}

/// The database of the run holding `offset`.
pub(crate) fn run_db(runs: &[Run], offset: usize) -> u64 {
    match runs.partition_point(|r| r.start <= offset) {
        0 => 0,
        i => runs[i - 1].db,
    }
}

/// Options for re-reading records already verified.
pub(crate) fn skip_opts() -> Options {
    Options {
        level: Level::Skip,
        verify_checksum: false,
        limits: scan_limits(),
    }
}

/// Limits for the inputs: strings over 512 MiB are reported by the merge
/// itself (with the key), not as decoding errors.
fn scan_limits() -> Limits {
    Limits {
        max_string_len: 1 << 40,
        ..Limits::default()
    }
}

/// Reads the key record starting at `offset` (a record boundary found by
/// the input pass), without checking its value again.
pub(crate) fn record_at(data: &[u8], offset: usize, db: u64) -> crate::Result<KeyRecord<'_>> {
    scan::record_at(data, offset, db, skip_opts())
}

/// Whether a record can be copied byte for byte (prefix opcodes included)
/// into a file for `target`.
pub(crate) fn copyable(k: &KeyRecord<'_>, target: Target, src: Lineage) -> bool {
    target.can_read(k.value.rdb_type(), src)
        && (k.expire_ms.is_none() || target.version >= 3)
        && ((k.idle.is_none() && k.freq.is_none()) || target.version >= 9)
        && (k.key_meta.is_none() || key_meta_ok(target))
}

fn key_meta_ok(target: Target) -> bool {
    target.lineage == Lineage::Redis && target.version >= 13
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

/// Same type, value and expiry (and module key metadata).
fn same_value(a: &KeyRecord<'_>, ad: &[u8], b: &KeyRecord<'_>, bd: &[u8]) -> crate::Result<bool> {
    if a.expire_ms != b.expire_ms || a.value.kind() != b.value.kind() || a.key_meta != b.key_meta {
        return Ok(false);
    }
    if ad[a.body_span.clone()] == bd[b.body_span.clone()] {
        return Ok(true);
    }
    Ok(normalised(&a.value)? == normalised(&b.value)?)
}

/// Header and the aux fields before the first database of a file.
fn preamble(data: &[u8]) -> crate::Result<(Header, Vec<(String, String)>)> {
    let mut dec = Decoder::new(data, skip_opts())?;
    let header = dec.header();
    let mut aux = Vec::new();
    for item in dec.by_ref() {
        match item? {
            Item::Aux { key, value } => aux.push((
                String::from_utf8_lossy(&key.to_bytes()?).into_owned(),
                String::from_utf8_lossy(&value.to_bytes()?).into_owned(),
            )),
            Item::SelectDb(_) | Item::Key(_) | Item::Eof { .. } => break,
            _ => {}
        }
    }
    Ok((header, aux))
}

fn made_by_valkey(aux: &[(String, String)]) -> bool {
    aux.iter().any(|(k, _)| k == "valkey-ver")
}

/// The default target: the newest input version when all inputs share a
/// lineage. Valkey 7.2-8.1 files (`REDIS0011` written by Valkey) go with
/// Valkey 80+ files; Redis files and Valkey 80+ files need an explicit target.
fn default_target(pre: &[(Header, Vec<(String, String)>)]) -> Result<Target, Cause> {
    let redis = pre.iter().filter(|p| p.0.lineage == Lineage::Redis);
    let redis_max = redis.clone().map(|p| p.0.version).max();
    // Valkey writes REDIS-magic files up to 11 (7.2-8.1).
    let valkey_redis = crate::release::newest_format(Lineage::Valkey, Lineage::Redis);
    let all_redis_from_valkey = redis
        .clone()
        .all(|p| made_by_valkey(&p.1) && Some(p.0.version) <= valkey_redis);
    let valkey_max = pre
        .iter()
        .filter(|p| p.0.lineage == Lineage::Valkey)
        .map(|p| p.0.version)
        .max();
    match (redis_max, valkey_max) {
        (Some(_), Some(v)) if all_redis_from_valkey => Ok(Target {
            lineage: Lineage::Valkey,
            version: v,
            valkey: true,
        }),
        (Some(r), Some(v)) => Err(Cause::MixedLineage {
            redis: r,
            valkey: v,
            // The release standing for that format, not older than RDB 9,
            // or the newest Valkey release.
            suggested: [
                Target::redis(r.max(9))
                    .release()
                    .map_or("redis-X.Y", |x| x.name),
                crate::release::RELEASES
                    .iter()
                    .rfind(|x| x.lineage == Lineage::Valkey && x.support == Support::Full)
                    .map_or("valkey-X.Y", |x| x.name),
            ],
        }),
        (Some(v), None) => Ok(Target {
            valkey: all_redis_from_valkey,
            ..Target::redis(v)
        }),
        (None, Some(v)) => Ok(Target {
            lineage: Lineage::Valkey,
            version: v,
            valkey: true,
        }),
        (None, None) => Err(Cause::InvalidOptions("no inputs".into())),
    }
}

/// What the pass over one input found.
struct Scan {
    /// The input's statistics (as `rdbkit info` gives them).
    report: FileStats,
    /// CRC-64 of the whole input.
    fingerprint: u64,
    /// (fingerprint, location), sorted.
    fps: Vec<(u64, u64)>,
    runs: Vec<Run>,
    special: Vec<usize>,
    functions: Vec<(String, Vec<u8>)>,
    module_aux: Vec<(ModuleId, u64, Vec<u8>)>,
    /// Kept keys and expires per output db (before duplicates).
    counts: BTreeMap<u64, (u64, u64)>,
    expired_at_import: u64,
    nonzero: BTreeMap<u64, u64>,
    dropped_dynomite: u64,
    dropped_expired: u64,
    reencode: u64,
    problems: Vec<Cause>,
    problems_total: u64,
}

impl Scan {
    fn problem(&mut self, msg: impl FnOnce() -> Cause) {
        self.problems_total += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(msg());
        }
    }

    /// Appends the scan of the range that follows.
    fn append(&mut self, b: Scan) {
        let a = self;
        a.fps.extend(b.fps);
        let mut runs = b.runs.into_iter();
        if let (Some(last), Some(first)) = (a.runs.last_mut(), runs.as_slice().first()) {
            if last.end == first.start && last.db == first.db && last.grows_to(first.start) {
                last.end = first.end;
                runs.next();
            }
        }
        a.runs.extend(runs);
        a.special.extend(b.special);
        a.functions.extend(b.functions);
        a.module_aux.extend(b.module_aux);
        for (db, c) in b.counts {
            let e = a.counts.entry(db).or_default();
            e.0 += c.0;
            e.1 += c.1;
        }
        for (db, n) in b.nonzero {
            *a.nonzero.entry(db).or_default() += n;
        }
        a.expired_at_import += b.expired_at_import;
        a.dropped_dynomite += b.dropped_dynomite;
        a.dropped_expired += b.dropped_expired;
        a.reencode += b.reencode;
        a.problems_total += b.problems_total;
        let room = MAX_LISTED.saturating_sub(a.problems.len());
        a.problems.extend(b.problems.into_iter().take(room));
    }
}

struct ScanCtx<'a> {
    opts: &'a MergeOptions,
    target: Target,
    input: usize,
    header: Header,
    len: usize,
    prog: &'a Progress,
}

fn show_key(key: &[u8]) -> String {
    let shown = &key[..key.len().min(64)];
    let mut s = crate::format::escape_bytes(shown);
    if key.len() > shown.len() {
        s.push('…');
    }
    s
}

/// The merge's visitor of an input: the statistics ([`Stats`]) plus what
/// the plan needs (key fingerprints, runs of copyable records, functions,
/// module aux, per-output-db counts, problems).
struct InputSink<'c> {
    cx: &'c ScanCtx<'c>,
    stats: Stats,
    scan: Scan,
    /// The run of key records being read.
    run: Option<Run>,
    /// Kept keys and expires of the output database being read.
    cur_out: Option<(u64, u64, u64)>,
    /// Warnings the range's decoder had drawn before the current record.
    warned: u64,
    tick: Ticker<'c>,
}

impl<'c> InputSink<'c> {
    fn new(cx: &'c ScanCtx<'c>, start: usize) -> Self {
        InputSink {
            cx,
            stats: Stats::new(cx.len as u64, cx.header, cx.opts.import_at, start),
            scan: Scan {
                report: FileStats::empty(cx.len as u64, cx.header),
                fingerprint: 0,
                fps: Vec::new(),
                runs: Vec::new(),
                special: Vec::new(),
                functions: Vec::new(),
                module_aux: Vec::new(),
                counts: BTreeMap::new(),
                expired_at_import: 0,
                nonzero: BTreeMap::new(),
                dropped_dynomite: 0,
                dropped_expired: 0,
                reencode: 0,
                problems: Vec::new(),
                problems_total: 0,
            },
            run: None,
            cur_out: None,
            warned: 0,
            tick: Ticker::new(cx.prog, start),
        }
    }

    fn fold_out(&mut self) {
        if let Some((db, keys, expires)) = self.cur_out.take() {
            let e = self.scan.counts.entry(db).or_default();
            e.0 += keys;
            e.1 += expires;
        }
    }

    /// Records one key record of the scan.
    fn key(&mut self, start: usize, k: &KeyRecord<'_>) -> crate::Result<()> {
        let cx = self.cx;
        let opts = cx.opts;
        let s = &mut self.scan;
        let v = k.value;
        let key: Cow<'_, [u8]> = k.key.to_bytes()?;
        // Left out before anything else?
        if let Some(f) = filtered(opts, &key, k.expire_ms) {
            match f {
                Filter::Dynomite => s.dropped_dynomite += 1,
                Filter::Expired => s.dropped_expired += 1,
            }
            s.special.push(start);
            return Ok(());
        }
        if k.db > 0 {
            *s.nonzero.entry(k.db).or_default() += 1;
        }
        let odb = out_db(opts, k.db);
        // Limits.
        if key.len() > MAX_KEY_LEN {
            s.problem(|| Cause::KeyTooLong {
                input: cx.input,
                key: show_key(&key),
                len: key.len(),
            });
        }
        let vlen = if v.rdb_type() == rdb_type::STRING {
            v.string()?.len()
        } else {
            v.raw().len()
        };
        if vlen > MAX_VALUE_LEN {
            s.problem(|| Cause::ValueTooLarge {
                input: cx.input,
                key: show_key(&key),
                kind: v.kind().name(),
                len: vlen,
            });
        }
        // Can the target hold the record as it is? If not, check now that it
        // can be rewritten, so that nothing is written when it cannot.
        let target = cx.target;
        let lineage = cx.header.lineage;
        if k.key_meta.is_some() && !key_meta_ok(target) {
            s.problem(|| Cause::KeyMetaUnsupported {
                input: cx.input,
                key: show_key(&key),
                target,
            });
        } else if !copyable(k, target, lineage) {
            s.special.push(start);
            if !target.can_read(v.rdb_type(), lineage) {
                s.reencode += 1;
                let mut losses = Losses::default();
                let tried = OwnedValue::from_value(&v).and_then(|o| {
                    o.encode_with(target, &EncodeConfig::default(), opts.allow, &mut losses)
                });
                if let Err(e) = tried {
                    s.problem(|| Cause::Unencodable {
                        input: cx.input,
                        error: e.with_key(&key),
                    });
                }
            }
        }
        s.fps.push((
            fingerprint(&key) ^ odb.wrapping_mul(DB_MIX),
            loc(cx.input, start),
        ));
        if self.cur_out.is_none_or(|c| c.0 != odb) {
            self.fold_out();
            self.cur_out = Some((odb, 0, 0));
        }
        let c = self.cur_out.as_mut().expect("set above");
        c.1 += 1;
        if let Some(e) = k.expire_ms {
            c.2 += 1;
            if e < opts.import_at {
                self.scan.expired_at_import += 1;
            }
        }
        Ok(())
    }
}

impl<'a> Sink<'a> for InputSink<'_> {
    fn record(&mut self, start: usize, item: &Item<'a>, dec: &Decoder<'a>) -> crate::Result<()> {
        self.stats.record(start, item, dec)?;
        let cx = self.cx;
        let warned = std::mem::replace(&mut self.warned, dec.warnings().total());
        if !matches!(item, Item::Key(_)) {
            self.scan.runs.extend(self.run.take());
        }
        let mut keys = 0;
        match item {
            Item::Key(k) => {
                keys = 1;
                // A fact its own file's loaders accept (a warning) may be
                // refused by the target's: such a record must not reach the
                // output, copied or re-encoded.
                let version = cx.header.version;
                if self.warned != warned && cx.target.version != version {
                    k.value.check_as(cx.target.version).map_err(|e| {
                        let e = e.with_key(&k.key.to_bytes().unwrap_or_default());
                        crate::Error::new(
                            crate::ErrorKind::Corrupt(format!(
                                "{}, which the target {} refuses (its own RDB {version} loaders accept it); convert for an older target",
                                e.kind(),
                                cx.target,
                            )),
                            start as u64,
                        )
                        .with_key(e.key().unwrap_or_default())
                    })?;
                }
                match &mut self.run {
                    Some(r) if r.grows_to(start) => r.end = k.span.end,
                    _ => {
                        self.scan.runs.extend(self.run.replace(Run {
                            start,
                            end: k.span.end,
                            db: k.db,
                        }));
                    }
                }
                self.key(start, k)?;
            }
            Item::ResizeDb { keys, .. } => {
                // Every key record takes at least 3 bytes: never trust a
                // hint beyond what the rest of the file can hold.
                let room = (cx.len - dec.offset()) as u64 / 3;
                self.scan.fps.reserve_exact((*keys).min(room) as usize);
            }
            Item::ModuleAux(m) => {
                self.scan
                    .module_aux
                    .push((m.id, m.when, m.payload.to_vec()));
            }
            Item::Function(code) => {
                let code = code.to_bytes()?.into_owned();
                let name = library_name(&code).unwrap_or_else(|| "?".into());
                self.scan.functions.push((name, code));
            }
            Item::FunctionPreGa { name, .. } => {
                let name = String::from_utf8_lossy(&name.to_bytes()?).into_owned();
                self.scan.problem(|| Cause::PreReleaseFunction {
                    input: cx.input,
                    name,
                });
            }
            _ => {}
        }
        self.tick.at(dec.offset(), keys);
        Ok(())
    }

    fn end(&mut self, walked: &Walked, warnings: Warnings) -> crate::Result<()> {
        self.scan.runs.extend(self.run.take());
        self.fold_out();
        self.tick.flush(walked.end);
        self.stats.end(walked, warnings)
    }

    fn append(&mut self, next: Self) {
        self.stats.append(next.stats);
        self.scan.append(next.scan);
    }
}

/// One full pass over an input through the scan engine: every value
/// walked, the CRC compared on another core, a big input on `threads`
/// cores.
fn scan_input(cx: &ScanCtx<'_>, data: &[u8], threads: usize) -> crate::Result<Scan> {
    let o = ScanOptions {
        decode: Options {
            level: Level::Full,
            verify_checksum: true,
            limits: scan_limits(),
        },
        threads,
        fingerprint: true,
    };
    let done = scan(data, &o, |start| InputSink::new(cx, start))?;
    let mut s = done.sink.scan;
    s.report = done.sink.stats.finish(done.checksum, done.trailing);
    s.fingerprint = done.fingerprint.unwrap_or(0);
    s.fps.sort_unstable_by_key(|e| e.0);
    Ok(s)
}

struct Resolver<'a> {
    opts: &'a MergeOptions,
    inputs: &'a [Input],
    runs: &'a [Vec<Run>],
    skip: Vec<u64>,
    counts: BTreeMap<u64, (u64, u64)>,
    expired_at_import: u64,
}

/// One input's copy of a key present in several inputs.
struct KeyCopy<'a> {
    /// The key's bytes.
    key: Vec<u8>,
    /// The input holding this copy.
    input: usize,
    /// Its location ([`loc`]: input and byte offset).
    loc: u64,
    /// The record.
    record: KeyRecord<'a>,
}

impl Resolver<'_> {
    /// Resolves one group of records with the same fingerprint.
    fn group(&mut self, group: &[&(u64, u64)], report: &mut MergeReport) -> crate::Result<()> {
        let inputs = self.inputs;
        let mut recs: Vec<KeyCopy<'_>> = Vec::with_capacity(group.len());
        for &&(_, l) in group {
            let (i, off) = unloc(l);
            let r = record_at(&inputs[i], off, run_db(&self.runs[i], off))?;
            let key = r.key.to_bytes()?.into_owned();
            recs.push(KeyCopy {
                key,
                input: i,
                loc: l,
                record: r,
            });
        }
        // Split by real key bytes (fingerprint collisions) and output db.
        let opts = self.opts;
        recs.sort_by(|a, b| {
            a.key
                .cmp(&b.key)
                .then(out_db(opts, a.record.db).cmp(&out_db(opts, b.record.db)))
                .then(a.loc.cmp(&b.loc))
        });
        let mut s = 0;
        while s < recs.len() {
            let mut e = s + 1;
            while e < recs.len()
                && recs[e].key == recs[s].key
                && out_db(opts, recs[e].record.db) == out_db(opts, recs[s].record.db)
            {
                e += 1;
            }
            if e - s > 1 {
                self.key(&recs[s..e], report)?;
            }
            s = e;
        }
        Ok(())
    }

    fn drop_copy(&mut self, db: u64, c: &KeyCopy<'_>) {
        self.skip.push(c.loc);
        let e = self.counts.entry(db).or_default();
        e.0 -= 1;
        if let Some(x) = c.record.expire_ms {
            e.1 -= 1;
            if x < self.opts.import_at {
                self.expired_at_import -= 1;
            }
        }
    }

    /// Resolves the copies of one key (in input order).
    fn key(&mut self, copies: &[KeyCopy<'_>], report: &mut MergeReport) -> crate::Result<()> {
        let opts = self.opts;
        let db = out_db(opts, copies[0].record.db);
        let first = &copies[0];
        let mut all_same = true;
        for c in &copies[1..] {
            if !same_value(
                &first.record,
                &self.inputs[first.input],
                &c.record,
                &self.inputs[c.input],
            )? {
                all_same = false;
                break;
            }
        }
        if all_same {
            report.duplicates_identical += (copies.len() - 1) as u64;
            report.duplicate_keys += 1;
            for c in &copies[1..] {
                self.drop_copy(db, c);
            }
            if report.duplicates.len() < MAX_LISTED {
                report.duplicates.push(Duplicate {
                    db,
                    key: String::from_utf8_lossy(&first.key).into_owned(),
                    inputs: copies.iter().map(|c| c.input).collect(),
                });
            }
            return Ok(());
        }
        report.conflicts_total += 1;
        let mut owner = None;
        let kept = match opts.policy {
            Policy::Error => None,
            Policy::First => Some(0),
            Policy::Last => Some(copies.len() - 1),
            Policy::Owner => {
                let tokens: Vec<u32> = (0..opts.inputs.len())
                    .map(|i| opts.tokens.get(i).copied().flatten().unwrap_or(0))
                    .collect();
                owner = dynomite::owner_of_key(&first.key, &tokens, opts.hash_tag);
                owner.and_then(|o| copies.iter().position(|c| c.input == o))
            }
        };
        match kept {
            Some(k) => {
                for (j, c) in copies.iter().enumerate() {
                    if j != k {
                        self.drop_copy(db, c);
                    }
                }
            }
            None => report.conflicts_unresolved += 1,
        }
        if report.conflicts.len() < MAX_LISTED {
            report.conflicts.push(Conflict {
                db,
                key: String::from_utf8_lossy(&first.key).into_owned(),
                copies: copies
                    .iter()
                    .map(|c| ConflictCopy {
                        input: c.input,
                        kind: c.record.value.kind().name(),
                        encoding: c.record.value.encoding(),
                        bytes: c.record.body_span.len() as u64,
                        expire_ms: c.record.expire_ms,
                    })
                    .collect(),
                kept: kept.map(|k| copies[k].input),
                owner,
            });
        }
        Ok(())
    }
}

impl Plan {
    pub(crate) fn build(
        opts: &MergeOptions,
        mut report: MergeReport,
        prog: &Progress,
    ) -> Result<Plan, MergeError> {
        // 1. Open every input.
        let mut inputs = Vec::with_capacity(opts.inputs.len());
        for (i, p) in opts.inputs.iter().enumerate() {
            match Input::open(p) {
                Ok(input) => inputs.push(input),
                // A corrupt gzip input is refused like any corrupt input.
                Err(e) if !matches!(e.kind(), crate::ErrorKind::Io { .. }) => {
                    let name = crate::spill::display_name(p);
                    return Err(refused(
                        Cause::InvalidInput {
                            input: i,
                            path: name,
                            message: e.to_string(),
                        },
                        report,
                    ));
                }
                Err(e) => {
                    let reason = e.kind().to_string();
                    return Err(io_error(
                        Cause::CannotOpenInput {
                            input: i,
                            path: crate::spill::display_name(p),
                            reason,
                        },
                        &report,
                    ));
                }
            }
        }
        crate::interrupt::test_pause("opened");
        let path = |i: usize| crate::spill::display_name(&opts.inputs[i]);
        // 2. The target, from the headers and leading aux fields.
        let mut pre = Vec::with_capacity(inputs.len());
        let mut early: Vec<Option<String>> = vec![None; inputs.len()];
        for (i, data) in inputs.iter().enumerate() {
            match preamble(data) {
                Ok(p) => pre.push(p),
                Err(e) => early[i] = Some(e.to_string()),
            }
        }
        let target = if early.iter().all(Option::is_none) {
            match opts.target {
                Some(t) => Some(t),
                None => match default_target(&pre) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        report.problems.push(e.clone());
                        None
                    }
                },
            }
        } else {
            None
        };
        report.target = target;
        // 3. Decode and verify every input, in parallel.
        let t0 = std::time::Instant::now();
        // Per input: the scan, or the error and whether the file changed.
        let scans: Vec<Result<Scan, (String, bool)>> = match target {
            Some(target) => {
                let total: u64 = inputs.iter().map(|d| d.len() as u64).sum();
                prog.phase("verifying inputs", total);
                // Cores left over by the inputs go into segments of each.
                let cores = scan::cores();
                let threads = (cores / inputs.len()).max(1);
                let r = scan::fan_out(inputs.len(), cores, |i| {
                    let cx = ScanCtx {
                        opts,
                        target,
                        input: i,
                        header: pre[i].0,
                        len: inputs[i].len(),
                        prog,
                    };
                    // A file that changed while it was read explains any
                    // error it caused (zeros after a truncation, say).
                    scan_input(&cx, &inputs[i], threads).map_err(|e| {
                        let e = inputs[i].check_unchanged().err().unwrap_or(e);
                        let changed = matches!(e.kind(), crate::ErrorKind::InputChanged(_));
                        (e.to_string(), changed)
                    })
                });
                prog.finish();
                r
            }
            None => early
                .iter()
                .map(|e| Err((e.clone().unwrap_or_default(), false)))
                .collect(),
        };
        let mut first_error = None;
        let mut changed = None;
        let mut scans_ok = Vec::with_capacity(scans.len());
        for (i, s) in scans.into_iter().enumerate() {
            match s {
                Ok(s) => {
                    report.inputs.push(InputSummary {
                        path: path(i),
                        size: inputs[i].len() as u64,
                        report: Some(s.report.clone()),
                        error: None,
                    });
                    scans_ok.push(s);
                }
                Err((e, env)) => {
                    let e = if e.is_empty() { None } else { Some(e) };
                    if env && changed.is_none() {
                        changed = Some(Cause::InputChanged {
                            input: i,
                            path: path(i),
                            reason: e.clone().unwrap_or_default(),
                            while_writing: false,
                        });
                    }
                    if first_error.is_none() {
                        if let Some(e) = &e {
                            first_error = Some(Cause::InvalidInput {
                                input: i,
                                path: path(i),
                                message: e.clone(),
                            });
                        }
                    }
                    report.inputs.push(InputSummary {
                        path: path(i),
                        size: inputs[i].len() as u64,
                        report: None,
                        error: e,
                    });
                }
            }
        }
        if let Some(e) = changed {
            return Err(io_error(e, &report));
        }
        if let Some(e) = first_error {
            return Err(refused(e, report));
        }
        if target.is_none() {
            return Err(refused_for_problems(report));
        }
        let target = target.unwrap_or_else(|| Target::redis(11));
        report
            .phases
            .push(("verifying inputs", t0.elapsed().as_secs_f64()));
        let t1 = std::time::Instant::now();
        // 4. Per-input key counts.
        let mut problems: Vec<Cause> = Vec::new();
        if let Some(exp) = &opts.expect_keys {
            for (i, s) in scans_ok.iter().enumerate() {
                let counted = s.report.keys();
                if exp[i] != counted {
                    problems.push(Cause::KeyCountMismatch {
                        input: i,
                        path: path(i),
                        expected: exp[i],
                        counted,
                    });
                }
            }
        }
        // 5. Counts, functions, module aux, per-input problems.
        let mut counts: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        let mut nonzero: BTreeMap<u64, u64> = BTreeMap::new();
        let mut expired_at_import = 0;
        let mut functions: Vec<(String, Vec<u8>, usize)> = Vec::new();
        let mut module_aux: Vec<(ModuleId, u64, Vec<u8>, usize)> = Vec::new();
        for (i, s) in scans_ok.iter_mut().enumerate() {
            for (db, c) in &s.counts {
                let e = counts.entry(*db).or_default();
                e.0 += c.0;
                e.1 += c.1;
            }
            for (db, n) in &s.nonzero {
                *nonzero.entry(*db).or_default() += n;
            }
            expired_at_import += s.expired_at_import;
            report.dropped_dynomite_metadata += s.dropped_dynomite;
            report.dropped_expired += s.dropped_expired;
            report.planned_reencoded += s.reencode;
            report.problems_total += s.problems_total;
            problems.append(&mut s.problems);
            for (name, code) in std::mem::take(&mut s.functions) {
                match functions.iter_mut().find(|f| f.0 == name) {
                    Some(f) if f.1 == code => report.functions_deduplicated += 1,
                    Some(f) => match opts.policy {
                        Policy::First => report.function_conflicts.push(name),
                        Policy::Last => {
                            report.function_conflicts.push(name);
                            f.1 = code;
                            f.2 = i;
                        }
                        _ => problems.push(Cause::FunctionConflict {
                            name,
                            inputs: (f.2, i),
                        }),
                    },
                    None => functions.push((name, code, i)),
                }
            }
            for (id, when, payload) in std::mem::take(&mut s.module_aux) {
                let same_slot = module_aux
                    .iter()
                    .find(|m| m.0.name() == id.name() && m.1 == when);
                match same_slot {
                    Some(m) if m.0 == id && m.2 == payload => report.module_aux_deduplicated += 1,
                    Some(m) => problems.push(Cause::ModuleAuxConflict {
                        module: id.name(),
                        when,
                        inputs: (m.3, i),
                    }),
                    None => module_aux.push((id, when, payload, i)),
                }
            }
            report.modules.extend(s.report.modules.keys().cloned());
        }
        if !nonzero.is_empty() && !opts.flatten_dbs && !opts.keep_dbs {
            problems.push(Cause::KeysOutsideDb0 {
                per_db: nonzero.clone(),
            });
        }
        if !functions.is_empty() && !target.has_functions() {
            if opts.drop_functions {
                report.functions_dropped = functions.len() as u64;
                functions.clear();
            } else {
                problems.push(Cause::FunctionsUnsupported {
                    count: functions.len(),
                    target,
                });
            }
        }
        report.functions = functions.iter().map(|f| f.0.clone()).collect();
        report.module_aux = module_aux
            .iter()
            .map(|m| (m.0.name(), m.0.encver(), m.1))
            .collect();
        // 6. Keys in several inputs.
        let runs: Vec<Vec<Run>> = scans_ok
            .iter_mut()
            .map(|s| std::mem::take(&mut s.runs))
            .collect();
        let mut res = Resolver {
            opts,
            inputs: &inputs,
            runs: &runs,
            skip: Vec::new(),
            counts,
            expired_at_import,
        };
        {
            let lists: Vec<&[(u64, u64)]> = scans_ok.iter().map(|s| &s.fps[..]).collect();
            let r = scan::equal_groups(&lists, |e| e.0, |g| res.group(g, &mut report));
            if let Err(e) = r {
                return Err(refused(Cause::DuplicateReread(e), report));
            }
        }
        let special: Vec<Vec<usize>> = scans_ok
            .iter_mut()
            .map(|s| {
                s.fps = Vec::new();
                std::mem::take(&mut s.special)
            })
            .collect();
        let Resolver {
            mut skip,
            counts,
            expired_at_import,
            ..
        } = res;
        skip.sort_unstable();
        let mut skip_per: Vec<Vec<usize>> = vec![Vec::new(); inputs.len()];
        for l in skip {
            let (i, off) = unloc(l);
            skip_per[i].push(off);
        }
        if report.conflicts_unresolved > 0 {
            problems.push(Cause::Conflicts {
                unresolved: report.conflicts_unresolved,
                policy: opts.policy,
            });
        }
        report.out_counts = counts.clone();
        report.out_counts.retain(|_, c| c.0 > 0);
        report.phases.push(("planning", t1.elapsed().as_secs_f64()));
        report.expired_at_import = expired_at_import;
        let total: u64 = counts.values().map(|c| c.0).sum();
        if let Some(t) = opts.expect_total {
            if t != total {
                problems.push(Cause::TotalMismatch {
                    expected: t,
                    got: total,
                });
            }
        }
        if !problems.is_empty() {
            report.problems.extend(problems);
            return Err(refused_for_problems(report));
        }
        Ok(Plan {
            inputs,
            target,
            runs,
            skip: skip_per,
            special,
            out_counts: report.out_counts.clone(),
            functions: functions.into_iter().map(|f| f.1).collect(),
            module_aux: module_aux
                .into_iter()
                .map(|(id, when, p, _)| (id.0, when, p))
                .collect(),
            fingerprints: scans_ok.iter().map(|s| s.fingerprint).collect(),
            report,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Checksum;

    /// A file of about `mb` MiB: strings (incompressible, 100 B-1 KB) and
    /// small lists, a third with TTLs; every key in db 0, or the second
    /// half in db 5 (so segments after its SELECTDB assume the wrong db).
    fn big_file(mb: usize, two_dbs: bool) -> Vec<u8> {
        use crate::encode::{KeyMeta, RdbWriter};
        let mut w = RdbWriter::new(Vec::new(), Target::redis(11)).unwrap();
        w.aux(b"redis-ver", b"7.2.4").unwrap();
        w.function(b"#!lua name=lib1\nredis.register_function('f', function() return 1 end)")
            .unwrap();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut rnd = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let n = mb * 1024 * 1024 / 600;
        w.select_db(0).unwrap();
        for i in 0..n {
            if two_dbs && i == n / 2 {
                w.select_db(5).unwrap();
            }
            let len = 100 + (rnd() % 900) as usize;
            let v = if i % 7 == 0 {
                OwnedValue::List(
                    (0..len / 50)
                        .map(|j| format!("e{j}-{i}").into_bytes())
                        .collect(),
                )
            } else {
                OwnedValue::String((0..len).map(|_| rnd() as u8).collect())
            };
            let meta = KeyMeta {
                expire_ms: (i % 3 == 0).then_some(1_700_000_000_000 + i as i64),
                ..KeyMeta::default()
            };
            w.key(format!("key:{i}").as_bytes(), &v, meta).unwrap();
        }
        w.finish().unwrap()
    }

    fn scan_with(data: &[u8], threads: usize) -> Result<Scan, String> {
        let opts = MergeOptions::new(vec!["in.rdb".into()], "out.rdb".into());
        let prog = Progress::new(false);
        let cx = ScanCtx {
            opts: &opts,
            target: Target::redis(11),
            input: 0,
            header: Header::parse(data).map_err(|e| e.to_string())?,
            len: data.len(),
            prog: &prog,
        };
        scan_input(&cx, data, threads).map_err(|e| e.to_string())
    }

    /// Everything the plan uses from a scan.
    type ScanView = (
        FileStats,
        Vec<(u64, u64)>,
        Vec<Run>,
        Vec<usize>,
        BTreeMap<u64, (u64, u64)>,
        Vec<(String, Vec<u8>)>,
        BTreeMap<u64, u64>,
        u64,
    );

    fn view(s: Scan) -> ScanView {
        (
            s.report,
            s.fps,
            s.runs,
            s.special,
            s.counts,
            s.functions,
            s.nonzero,
            s.expired_at_import,
        )
    }

    #[test]
    fn segmented_scan_equals_sequential() {
        for two_dbs in [false, true] {
            let data = big_file(20, two_dbs);
            assert!(data.len() > 16 << 20);
            let one = view(scan_with(&data, 1).unwrap());
            assert!(
                matches!(one.0.checksum, Checksum::Verified(_)),
                "{:?}",
                one.0.checksum
            );
            let dbs: Vec<u64> = one.4.keys().copied().collect();
            assert_eq!(dbs, if two_dbs { vec![0, 5] } else { vec![0] });
            assert_eq!(one.2.len(), if two_dbs { 2 } else { 1 }, "runs joined");
            for threads in [2, 3, 8] {
                let many = view(scan_with(&data, threads).unwrap());
                assert!(one == many, "threads {threads}, two dbs {two_dbs}");
            }
        }
    }

    #[test]
    fn segmented_scan_reports_the_first_error() {
        let mut data = big_file(20, false);
        // A CRC that does not match.
        let n = data.len();
        data[n - 1] ^= 1;
        for threads in [1, 2, 4] {
            let e = scan_with(&data, threads).err().unwrap();
            assert!(e.contains("checksum"), "{e}");
        }
        data[n - 1] ^= 1;
        // Damage in the middle of the file and near its end, CRC disabled:
        // every thread count reports the same (first) error.
        data[n - 8..].fill(0);
        for at in [n / 2, n * 9 / 10] {
            let mut bad = data.clone();
            // A type byte no format has, at the start of a key record.
            let rec = (at..n)
                .find(|&i| {
                    bad[i] == 0
                        && (5..=10).contains(&bad[i + 1])
                        && bad.get(i + 2..i + 6) == Some(b"key:")
                })
                .expect("a string record");
            bad[rec] = 0xEE;
            let want = scan_with(&bad, 1).err().unwrap();
            for threads in [2, 4] {
                assert_eq!(scan_with(&bad, threads).err().unwrap(), want);
            }
        }
    }

    #[test]
    fn locations_round_trip() {
        assert_eq!(unloc(loc(3, 123_456_789)), (3, 123_456_789));
    }
}
