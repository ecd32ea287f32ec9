//! Whole-file inspection: decode and check every record, verify the CRC
//! (computed on a second core while the first decodes), and gather the
//! statistics `rdbkit info` and `rdbkit verify` report.

use std::collections::BTreeMap;

use crate::decode::{Checksum, Decoder, Item, Kind, Level, Options, Warnings};
use crate::format::{crc, Header};
use crate::{Error, ErrorKind, Result};
use serde_json::{json, Map, Value};

/// Key counts of one database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DbStats {
    /// Keys.
    pub keys: u64,
    /// Keys with an expiry.
    pub expires: u64,
    /// Keys whose expiry is before the reference time.
    pub expired: u64,
    /// Keys that have hash fields with TTLs.
    pub subexpires: u64,
    /// The `RESIZEDB` hint (keys, expires), if the file had one.
    pub resize_hint: Option<(u64, u64)>,
}

/// Count and encoded size of values of one type and encoding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TypeStats {
    /// Number of keys.
    pub keys: u64,
    /// Bytes of their records (key + value).
    pub bytes: u64,
}

/// A module type seen in values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleStats {
    /// Encoding versions seen.
    pub encvers: Vec<u32>,
    /// Keys holding this module's values.
    pub keys: u64,
}

/// A `MODULE_AUX` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleAuxInfo {
    /// Module type name.
    pub module: String,
    /// Encoding version.
    pub encver: u32,
    /// 1 = before keys, 2 = after.
    pub when: u64,
    /// Payload size in bytes.
    pub bytes: usize,
}

/// What inspecting a file found.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// File size.
    pub size: u64,
    /// Header.
    pub header: Header,
    /// AUX fields in file order (lossy UTF-8).
    pub aux: Vec<(String, String)>,
    /// Per-database counts.
    pub dbs: BTreeMap<u64, DbStats>,
    /// Per (type, encoding) counts.
    pub types: BTreeMap<(Kind, &'static str), TypeStats>,
    /// Function library names, in file order.
    pub functions: Vec<String>,
    /// Module types used by values, by name.
    pub modules: BTreeMap<String, ModuleStats>,
    /// Module aux records.
    pub module_aux: Vec<ModuleAuxInfo>,
    /// `SLOT_INFO` records (and Valkey `slot-info` aux fields).
    pub slot_infos: u64,
    /// Valkey `SLOT_IMPORT` records.
    pub slot_imports: u64,
    /// Redis Enterprise private opcodes seen, by opcode.
    pub enterprise_opcodes: BTreeMap<u8, u64>,
    /// Checksum status.
    pub checksum: Checksum,
    /// Bytes after the trailer.
    pub trailing: usize,
    /// Facts Redis accepts that look wrong (the first 100, and the total).
    pub warnings: Warnings,
}

impl Report {
    /// A report with no records counted yet.
    pub(crate) fn empty(size: u64, header: Header) -> Report {
        Report {
            size,
            header,
            aux: Vec::new(),
            dbs: BTreeMap::new(),
            types: BTreeMap::new(),
            functions: Vec::new(),
            modules: BTreeMap::new(),
            module_aux: Vec::new(),
            slot_infos: 0,
            slot_imports: 0,
            enterprise_opcodes: BTreeMap::new(),
            checksum: Checksum::Absent,
            trailing: 0,
            warnings: Warnings::default(),
        }
    }

    /// The report as JSON (`rdbkit info --json`, and per input in merge reports).
    pub fn to_json(&self) -> Value {
        let r = self;
        let dbs: Map<String, Value> = r
            .dbs
            .iter()
            .map(|(db, d)| {
                (
                    db.to_string(),
                    json!({"keys": d.keys, "expires": d.expires, "already_expired": d.expired,
                       "keys_with_field_ttls": d.subexpires,
                       "resizedb": d.resize_hint.map(|(k, e)| json!({"keys": k, "expires": e}))}),
                )
            })
            .collect();
        let types: Vec<Value> = r
        .types
        .iter()
        .map(|((k, enc), t)| json!({"type": k.name(), "encoding": enc, "keys": t.keys, "bytes": t.bytes}))
        .collect();
        let modules: Vec<Value> = r
            .modules
            .iter()
            .map(|(n, m)| json!({"name": n, "encvers": m.encvers, "keys": m.keys}))
            .collect();
        let module_aux: Vec<Value> = r
        .module_aux
        .iter()
        .map(|m| json!({"module": m.module, "encver": m.encver, "when": if m.when == 1 {"before"} else {"after"}, "bytes": m.bytes}))
        .collect();
        let aux: Map<String, Value> = r
            .aux
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        json!({
            "size": r.size,
            "magic": match r.header.lineage { crate::format::Lineage::Redis => "REDIS", crate::format::Lineage::Valkey => "VALKEY" },
            "version": r.header.version,
            "producer": r.producer(),
            "aux": aux,
            "keys": r.keys(),
            "expires": r.expires(),
            "already_expired": r.expired(),
            "dbs": dbs,
            "types": types,
            "functions": r.functions,
            "modules": modules,
            "module_aux": module_aux,
            "slot_info_records": r.slot_infos,
            "slot_import_records": r.slot_imports,
            "enterprise_opcodes": r.enterprise_opcodes.iter().map(|(o, n)| json!({"opcode": o, "count": n})).collect::<Vec<_>>(),
            "checksum": r.checksum.to_string(),
            "trailing_bytes": r.trailing,
            "warnings": r.warnings.to_json(),
        })
    }

    /// The producer version (`redis-ver` or `valkey-ver` aux field).
    pub fn producer(&self) -> Option<String> {
        self.aux
            .iter()
            .find(|(k, _)| k == "redis-ver" || k == "valkey-ver")
            .map(|(k, v)| format!("{} {v}", if k == "redis-ver" { "redis" } else { "valkey" }))
    }

    /// Adds a later segment's partial report to this one.
    pub(crate) fn absorb(&mut self, p: Report) {
        self.aux.extend(p.aux);
        for (db, d) in p.dbs {
            let e = self.dbs.entry(db).or_default();
            e.keys += d.keys;
            e.expires += d.expires;
            e.expired += d.expired;
            e.subexpires += d.subexpires;
            if d.resize_hint.is_some() {
                e.resize_hint = d.resize_hint;
            }
        }
        for (k, t) in p.types {
            let e = self.types.entry(k).or_default();
            e.keys += t.keys;
            e.bytes += t.bytes;
        }
        self.functions.extend(p.functions);
        for (n, m) in p.modules {
            let e = self.modules.entry(n).or_default();
            e.keys += m.keys;
            for v in m.encvers {
                if !e.encvers.contains(&v) {
                    e.encvers.push(v);
                }
            }
        }
        self.module_aux.extend(p.module_aux);
        self.slot_infos += p.slot_infos;
        self.slot_imports += p.slot_imports;
        for (o, n) in p.enterprise_opcodes {
            *self.enterprise_opcodes.entry(o).or_default() += n;
        }
        self.warnings.absorb(p.warnings);
        if p.checksum != Checksum::Absent || p.trailing > 0 {
            self.checksum = p.checksum;
            self.trailing = p.trailing;
        }
    }

    /// Total keys.
    pub fn keys(&self) -> u64 {
        self.dbs.values().map(|d| d.keys).sum()
    }

    /// Total keys with an expiry.
    pub fn expires(&self) -> u64 {
        self.dbs.values().map(|d| d.expires).sum()
    }

    /// Total keys already expired at the reference time.
    pub fn expired(&self) -> u64 {
        self.dbs.values().map(|d| d.expired).sum()
    }
}

/// The library name in a function library's shebang line (`#!lua name=mylib`).
///
/// ```
/// assert_eq!(rdbkit::inspect::library_name(b"#!lua name=mylib\nreturn 1"), Some("mylib".into()));
/// ```
pub fn library_name(code: &[u8]) -> Option<String> {
    let line = code.split(|&c| c == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    line.strip_prefix("#!")?
        .split_whitespace()
        .find_map(|t| t.strip_prefix("name="))
        .map(str::to_owned)
}

/// The current time in unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Decodes and checks all of `data`, returning the statistics. Keys whose
/// expiry is before `now_ms` count as expired.
///
/// ```
/// use rdbkit::{decode::Options, inspect::inspect};
/// let file = b"REDIS0011\xfa\x09redis-ver\x057.2.0\xfe\x00\xfb\x01\x00\x00\x01a\xc0\x01\xff\x11\x53\xe8\x4d\xc2\xcf\xc3\x51";
/// let r = inspect(file, Options::default(), 0).unwrap();
/// assert_eq!(r.keys(), 1);
/// assert_eq!(r.producer().as_deref(), Some("redis 7.2.0"));
/// ```
pub fn inspect(data: &[u8], opts: Options, now_ms: i64) -> Result<Report> {
    let header = Header::parse(data)?;
    let mut dec_opts = opts;
    dec_opts.verify_checksum = false;
    with_crc(
        data,
        opts.verify_checksum && header.has_checksum(),
        || walk(data, header, dec_opts, now_ms),
        |r| (&mut r.checksum, r.trailing),
    )
    // A file that changed while it was read explains whatever error its
    // new bytes caused (zeros after a truncation, for example).
    .map_err(|e| {
        crate::file::check_region(data, e.offset())
            .err()
            .unwrap_or(e)
    })
}

/// Runs `walk` (a decode with the checksum comparison switched off) while
/// the CRC-64 of `data` is computed on another core, assuming the trailer
/// is the last 8 bytes; then compares it with the stored checksum the walk
/// found (`sum` gives its [`Checksum`] and the bytes after the trailer),
/// computing it again where EOF turned out to be. With `want` false the
/// walk alone runs.
pub(crate) fn with_crc<T>(
    data: &[u8],
    want: bool,
    walk: impl FnOnce() -> Result<T>,
    sum: impl FnOnce(&mut T) -> (&mut Checksum, usize),
) -> Result<T> {
    with_crcs(data, want, false, walk, sum).map(|(t, _)| t)
}

/// [`with_crc`], and with `whole` also the [`crc::fingerprint`] of all of
/// `data` (to find out later whether the input changed), computed on the
/// same core as the checksum.
pub(crate) fn with_crcs<T>(
    data: &[u8],
    want: bool,
    whole: bool,
    walk: impl FnOnce() -> Result<T>,
    sum: impl FnOnce(&mut T) -> (&mut Checksum, usize),
) -> Result<(T, Option<u64>)> {
    let want = want && data.len() >= 17;
    let cut = if want { data.len() - 8 } else { data.len() };
    std::thread::scope(|s| {
        let handle = (want || whole).then(|| {
            s.spawn(move || {
                let mut head = crc::Crc64::new();
                head.update(&data[..cut]);
                let all = whole.then(|| {
                    let mut tail = crc::Crc64::new();
                    tail.update(&data[cut..]);
                    let mut all = crc::fingerprint_start();
                    all.combine(&head);
                    all.combine(&tail);
                    all.value()
                });
                (head.value(), all)
            })
        });
        let mut out = walk()?;
        let (head, all) = match handle {
            Some(h) => {
                let (head, all) = h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
                (Some(head), all)
            }
            None => (None, None),
        };
        let (checksum, trailing) = sum(&mut out);
        if let (true, Checksum::NotChecked(stored)) = (want, *checksum) {
            let eof = data.len() - 8 - trailing;
            let computed = match head {
                Some(h) if trailing == 0 => h,
                _ => crc::crc64(&data[..eof]),
            };
            if computed != stored {
                return Err(Error::new(
                    ErrorKind::ChecksumMismatch { stored, computed },
                    eof as u64,
                ));
            }
            *checksum = Checksum::Verified(stored);
        }
        Ok((out, all))
    })
}

fn empty_report(data: &[u8], header: Header) -> Report {
    Report::empty(data.len() as u64, header)
}

/// Segments smaller than this are not worth a thread.
pub(crate) const SEGMENT: usize = 8 << 20;

/// Walks the file: in parallel segments when it is large and the level is
/// not `Deep` (duplicate-key detection needs one pass over the whole file).
fn walk(data: &[u8], header: Header, opts: Options, now_ms: i64) -> Result<Report> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if threads < 2 || data.len() < 2 * SEGMENT {
        let mut rep = empty_report(data, header);
        walk_range(data, 9, usize::MAX, 0, opts, now_ms, &mut rep, None)?;
        return Ok(rep);
    }
    walk_parallel(data, header, opts, now_ms, threads)
}

/// A db number standing for "the db the previous segment ended in".
const DB_UNKNOWN: u64 = u64::MAX;

/// Records that must parse in a row from a candidate offset before it is
/// taken as a record boundary.
const RESYNC_RECORDS: usize = 32;

/// How far past a candidate the parse must go before a boundary is taken.
/// A start inside a value can parse as records for a while (LZF literal
/// runs look like type byte + string), but record streams resynchronise:
/// once a bogus record ends on a real boundary, the parse follows the real
/// records. So the boundary is taken late, at the last record start
/// reached after this many bytes.
const RESYNC_SPAN: usize = 64 << 10;

/// Records a [`resync`] may parse in all, over every candidate offset it
/// tries. A success from a true boundary needs at most `RESYNC_SPAN`
/// records (each takes a byte or more); the rest bounds the work crafted
/// input can cause, where every offset parses a long way before failing.
/// Past it the segment is not split off: a loss of speed, never of
/// correctness.
const RESYNC_BUDGET: u64 = 1 << 18;

/// Finds a plausible record boundary at or after `from`: from a candidate
/// offset, at least `RESYNC_RECORDS` records (or everything up to EOF) must
/// parse and the parse must run `RESYNC_SPAN` bytes; the boundary is the
/// last record start reached. A wrong guess costs only speed: segments are
/// joined only when they meet exactly. Gives up after parsing
/// [`RESYNC_BUDGET`] records; also returns how many it parsed.
fn resync(data: &[u8], opts: Options, from: usize) -> (Option<usize>, u64) {
    let skip = Options {
        level: Level::Skip,
        verify_checksum: false,
        ..opts
    };
    let end = from.saturating_add(4 << 20).min(data.len());
    let mut parsed: u64 = 0;
    let found = (from.max(9)..end).find_map(|q| {
        let mut d = Decoder::resume(data, q, 0, skip).ok()?;
        let mut n = 0;
        loop {
            let at = d.offset();
            if n >= RESYNC_RECORDS && at >= q + RESYNC_SPAN {
                return Some(Some(at));
            }
            if parsed >= RESYNC_BUDGET {
                return Some(None);
            }
            parsed += 1;
            match d.next() {
                // Only the real end of the file: a 0xFF byte inside a value
                // parses as EOF too.
                Some(Ok(Item::Eof { .. })) => {
                    return (d.offset() == data.len()).then_some(Some(at))
                }
                Some(Ok(_)) => n += 1,
                _ => return None,
            }
        }
    });
    (found.flatten(), parsed)
}

/// Candidate segment starts for a parallel walk on `threads` cores: 9 (the
/// first record) and a [`resync`] boundary near each `i/parts` of the file,
/// ascending. Twice as many segments as cores: the cost per byte varies
/// along a file (big LZF strings, small keys, blobs), so smaller pieces
/// balance.
pub(crate) fn segment_starts(data: &[u8], opts: Options, threads: usize) -> Vec<usize> {
    segment_starts_in(data, opts, (threads * 2).min(16), threads)
}

/// [`segment_starts`] for `parts` pieces, the resyncs run on `threads`
/// cores. A boundary counts only if it lies in its own piece (before the
/// next piece's nominal start), so the starts ascend whatever each resync
/// finds, and every boundary depends on its piece alone.
pub(crate) fn segment_starts_in(
    data: &[u8],
    opts: Options,
    parts: usize,
    threads: usize,
) -> Vec<usize> {
    let parts = parts.max(1);
    let nominal = |i: usize| data.len() / parts * i;
    let found = pool(parts - 1, threads, |i| {
        let i = i + 1;
        resync(data, opts, nominal(i))
            .0
            .filter(|&b| i + 1 == parts || b < nominal(i + 1))
    });
    let mut starts = vec![9usize];
    for b in found.into_iter().flatten() {
        if b > *starts.last().unwrap_or(&0) {
            starts.push(b);
        }
    }
    starts
}

/// Runs `f(0)`, ..., `f(n - 1)` on up to `threads` threads, each taking the
/// next index when it is free (so cores stay busy until the last piece
/// whatever each costs), and returns the results in index order. `f` must
/// not panic (callers catch panics themselves).
pub(crate) fn pool<T: Send>(n: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                return done;
            }
            done.push((i, f(i)));
        }
    };
    let mut all: Vec<(usize, T)> = if threads < 2 || n < 2 {
        work()
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads.min(n)).map(|_| s.spawn(work)).collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    };
    all.sort_unstable_by_key(|x| x.0);
    all.into_iter().map(|x| x.1).collect()
}

/// Pieces of about this size balance the parallel walk: many more than
/// cores (taken one at a time by whichever core is free), each still far
/// longer than a resync.
const PIECE: usize = 4 << 20;

/// One segment's outcome.
struct Segment {
    result: Result<Report>,
    /// Deep mode: fingerprints of the segment's keys.
    fps: Vec<u32>,
    /// Offset of the first record at or after the segment's bound.
    end: usize,
    /// The db current at `end`.
    db: u64,
}

/// Speculative parallel walk: the file is cut into pieces of about
/// [`PIECE`] bytes (at least two per core; two per core in deep mode), and segment `i` starts at a
/// record boundary found by [`resync`] in piece `i` and stops at the first
/// record at or after the next segment's start. The segments are walked by
/// `threads` workers, each taking the next one when it is free. A segment's results count only if
/// the previous (true) segment ended exactly where it began; otherwise the
/// rest of the file is walked sequentially, so the result never depends on
/// the guess. The first error in file order wins.
fn walk_parallel(
    data: &[u8],
    header: Header,
    opts: Options,
    now_ms: i64,
    threads: usize,
) -> Result<Report> {
    // Deep mode merges one sorted fingerprint list per segment (a k-way
    // merge whose cost grows with k), so it keeps two segments per core.
    let parts = if opts.level == Level::Deep {
        (threads * 2).min(16)
    } else {
        (data.len() / PIECE)
            .clamp(threads * 2, threads * 16)
            .min(64)
    };
    let starts = segment_starts_in(data, opts, parts, threads);
    let segments: Vec<Segment> = pool(starts.len(), threads, |i| {
        let start = starts[i];
        let bound = starts.get(i + 1).copied().unwrap_or(usize::MAX);
        let db = if i == 0 { 0 } else { DB_UNKNOWN };
        let walk = || {
            let mut rep = empty_report(data, header);
            let mut fps: Vec<u32> = Vec::new();
            let deep = (opts.level == Level::Deep).then_some(&mut fps);
            match walk_range(data, start, bound, db, opts, now_ms, &mut rep, deep) {
                Ok((end, db)) => Segment {
                    result: Ok(rep),
                    fps: {
                        fps.sort_unstable();
                        fps.shrink_to_fit();
                        fps
                    },
                    end,
                    db,
                },
                Err(e) => Segment {
                    result: Err(e),
                    fps: Vec::new(),
                    end: usize::MAX,
                    db: 0,
                },
            }
        };
        // A panic is a bug, never "corrupt data": it propagates.
        walk()
    });
    let mut rep = empty_report(data, header);
    let mut prev_db = 0;
    // Record-aligned (start, db) of the segments known to be true.
    let mut true_segments: Vec<(usize, u64)> = vec![(9, 0)];
    let deep = opts.level == Level::Deep;
    let mut all_fps: Vec<Vec<u32>> = Vec::new();
    for (i, mut seg) in segments.into_iter().enumerate() {
        let mut part = seg.result?;
        all_fps.push(std::mem::take(&mut seg.fps));
        if let Some(d) = part.dbs.remove(&DB_UNKNOWN) {
            let e = part.dbs.entry(prev_db).or_default();
            e.keys += d.keys;
            e.expires += d.expires;
            e.expired += d.expired;
            e.subexpires += d.subexpires;
        }
        rep.absorb(part);
        prev_db = if seg.db == DB_UNKNOWN {
            prev_db
        } else {
            seg.db
        };
        if let Some(&next) = starts.get(i + 1) {
            if seg.end == next {
                true_segments.push((next, prev_db));
            } else {
                // The guess was not a record boundary: finish sequentially.
                let mut tail = empty_report(data, header);
                let mut tail_fps = Vec::new();
                walk_range(
                    data,
                    seg.end,
                    usize::MAX,
                    prev_db,
                    opts,
                    now_ms,
                    &mut tail,
                    deep.then_some(&mut tail_fps),
                )?;
                tail_fps.sort_unstable();
                all_fps.push(tail_fps);
                rep.absorb(tail);
                break;
            }
        }
    }
    if deep {
        crate::decode::check_duplicate_keys_in(data, all_fps, opts, &true_segments)?;
    }
    Ok(rep)
}

#[allow(clippy::too_many_arguments)]
/// Walks the records that start in `start..end` (the record at `end` and
/// after are left to the next segment), adding to `rep`.
fn walk_range(
    data: &[u8],
    start: usize,
    end: usize,
    db: u64,
    opts: Options,
    now_ms: i64,
    rep: &mut Report,
    fps: Option<&mut Vec<u32>>,
) -> Result<(usize, u64)> {
    let mut cur_db = db;
    let mut dec = Decoder::resume(data, start, db, opts)?;
    if fps.is_some() {
        dec.defer_duplicate_check();
    }
    let lineage = dec.header().lineage;
    let (mut counts_db, mut counts) = (db, DbStats::default());
    let mut by_type = [TypeStats::default(); 256];
    loop {
        if dec.offset() >= end {
            break;
        }
        let Some(item) = dec.next() else { break };
        match item? {
            Item::Aux { key, value } => {
                let (k, v) = (lossy(&key.to_bytes()?), lossy(&value.to_bytes()?));
                if k == "slot-info" {
                    rep.slot_infos += 1;
                }
                rep.aux.push((k, v));
            }
            Item::SelectDb(db) => {
                cur_db = db;
                rep.dbs.entry(db).or_default();
            }
            Item::ResizeDb { keys, expires } => {
                rep.dbs.entry(cur_db).or_default().resize_hint = Some((keys, expires));
            }
            Item::ModuleAux(m) => rep.module_aux.push(ModuleAuxInfo {
                module: m.id.name(),
                encver: m.id.encver(),
                when: m.when,
                bytes: m.payload.len(),
            }),
            Item::Function(code) => {
                let code = code.to_bytes()?;
                rep.functions
                    .push(library_name(&code).unwrap_or_else(|| "?".into()));
            }
            Item::FunctionPreGa { name, .. } => rep.functions.push(lossy(&name.to_bytes()?)),
            Item::SlotInfo { .. } => rep.slot_infos += 1,
            Item::SlotImport { .. } => rep.slot_imports += 1,
            Item::Enterprise { opcode, .. } => {
                *rep.enterprise_opcodes.entry(opcode).or_default() += 1
            }
            Item::Key(k) => {
                // Per-key counting stays in locals; maps are updated once per range.
                if k.db != counts_db {
                    flush(rep, counts_db, &mut counts, &mut by_type, lineage);
                    counts_db = k.db;
                }
                counts.keys += 1;
                if let Some(e) = k.expire_ms {
                    counts.expires += 1;
                    if e < now_ms {
                        counts.expired += 1;
                    }
                }
                let v = k.value;
                if matches!(v.rdb_type(), 22..=25) {
                    counts.subexpires += 1;
                }
                let t = &mut by_type[usize::from(v.rdb_type())];
                t.keys += 1;
                t.bytes += k.body_span.len() as u64;
                if v.rdb_type() == crate::format::rdb_type::MODULE_2 {
                    let m = v.module()?;
                    let ms = rep.modules.entry(m.id.name()).or_default();
                    ms.keys += 1;
                    if !ms.encvers.contains(&m.id.encver()) {
                        ms.encvers.push(m.id.encver());
                    }
                }
            }
            Item::Eof {
                checksum, trailing, ..
            } => {
                rep.checksum = checksum;
                rep.trailing = trailing;
            }
        }
    }
    flush(rep, counts_db, &mut counts, &mut by_type, lineage);
    rep.warnings.absorb(dec.take_warnings());
    if let Some(f) = fps {
        f.extend(dec.take_key_fingerprints());
    }
    Ok((dec.offset(), cur_db))
}

/// Adds the locally gathered per-db and per-type counts to the report.
fn flush(
    rep: &mut Report,
    db: u64,
    counts: &mut DbStats,
    by_type: &mut [TypeStats; 256],
    lineage: crate::format::Lineage,
) {
    if counts.keys > 0 {
        let d = rep.dbs.entry(db).or_default();
        d.keys += counts.keys;
        d.expires += counts.expires;
        d.expired += counts.expired;
        d.subexpires += counts.subexpires;
        *counts = DbStats::default();
    }
    for (ty, t) in by_type.iter_mut().enumerate() {
        if t.keys > 0 {
            let ty = ty as u8;
            let kind = Kind::of(ty, lineage).unwrap_or(Kind::Module);
            let e = rep
                .types
                .entry((kind, crate::decode::encoding_name(ty, lineage)))
                .or_default();
            e.keys += t.keys;
            e.bytes += t.bytes;
            *t = TypeStats::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of tiny records where every offset parses a long way: a
    /// string record `a` = `b` (5 bytes) repeated, with a byte no record
    /// starts with every `gap` bytes.
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
        // Every candidate parses up to ~60 KiB (about 12,000 records) and
        // then fails: unbounded, one resync would parse billions.
        let data = tiny_records(24 << 20, 60 << 10);
        let (found, parsed) = resync(&data, Options::default(), 10 << 20);
        assert_eq!(found, None);
        assert!(parsed <= RESYNC_BUDGET, "{parsed}");
        // With no bad bytes the first candidate on a record start wins.
        let data = tiny_records(24 << 20, usize::MAX);
        let (found, parsed) = resync(&data, Options::default(), 10 << 20);
        let b = found.expect("a boundary");
        assert!(b >= 10 << 20);
        assert_eq!((b - 9) % 5, 0, "a record start");
        assert!(parsed < RESYNC_BUDGET / 4, "{parsed}");
    }

    /// About `mb` MiB of strings (half LZF text), listpack hashes and
    /// lists, in dbs 0 and 5 (and key `dup` twice when `dup`).
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

    fn sequential(data: &[u8], opts: Options) -> Result<Report> {
        let header = Header::parse(data)?;
        let mut rep = empty_report(data, header);
        walk_range(data, 9, usize::MAX, 0, opts, 0, &mut rep, None)?;
        Ok(rep)
    }

    /// The pooled walk over many pieces gives the sequential walk's report,
    /// or its first error, for any thread count, at every level.
    #[test]
    fn pooled_walk_equals_sequential() {
        let clean = big_file(80, false);
        assert!(clean.len() > 8 * PIECE, "{}", clean.len());
        let header = Header::parse(&clean).unwrap();
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
                let want = sequential(data, opts).map(|r| r.to_json());
                errors += usize::from(want.is_err());
                for threads in [2, 3, 8] {
                    let got = walk_parallel(data, header, opts, 0, threads).map(|r| r.to_json());
                    assert_eq!(
                        format!("{got:?}"),
                        format!("{want:?}"),
                        "threads {threads} level {level:?}"
                    );
                }
            }
        }
        // Both damaged files at both levels, the duplicate key in deep mode.
        assert_eq!(errors, 5);
    }

    #[test]
    fn verify_of_crafted_input_fails_with_bounded_resync() {
        let data = tiny_records(24 << 20, 60 << 10);
        let e = inspect(&data, Options::default(), 0).unwrap_err();
        assert!(e.to_string().contains("offset"), "{e}");
    }
}
