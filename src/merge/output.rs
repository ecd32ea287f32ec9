//! Writing the merged file: a temporary file beside the output (created
//! before any input is read, so an unwritable directory fails at once),
//! written in runs copied byte for byte from the memory-mapped inputs,
//! re-read and verified piece by piece while it is written (`reread.rs`),
//! fsynced, compressed for a `.gz` output, then moved into place. The
//! output never exists
//! half-written, no temporary file survives a failure, and an existing file
//! is never replaced without `force`.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::cause::Cause;
use super::error::{io_error, refused, MergeError};
use super::options::{KeyPartition, MergeOptions};
use super::plan::Body;
use super::progress::{Progress, Ticker, STEP};
use super::records::{filtered, part_of, record_at, Run};
use super::report::{InputSummary, MergeReport, OutputSummary, Status};
use super::reread::{self, reread, DbCounts, Tracker};
use super::source::Source;
use crate::atomic::{AtomicFile, CreateError};
use crate::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
use crate::format::Lineage;
use crate::Input;

/// The output's temporary file, created before the inputs are read.
pub(crate) struct Prepared {
    out: AtomicFile,
}

/// Checks the output path and creates the temporary file beside it (the
/// inputs were checked against it by [`crate::atomic::check_paths`]).
pub(crate) fn prepare(
    opts: &MergeOptions,
    report: &mut MergeReport,
) -> Result<Prepared, MergeError> {
    let keep: Vec<&Path> = opts.inputs.iter().map(PathBuf::as_path).collect();
    let out = AtomicFile::create_keeping(&opts.output, opts.force, &keep).map_err(|e| {
        let cause = match e {
            CreateError::Exists(path) => Cause::OutputExists {
                path,
                appeared_while_merging: false,
            },
            CreateError::Io(dir, e) => Cause::CannotCreateOutput(format!(
                "cannot create the output in {}: {e}",
                dir.display()
            )),
            e => Cause::CannotCreateOutput(format!("output: {e}")),
        };
        io_error(cause, report)
    })?;
    // A split prepares several outputs: the list grows.
    let stale = out.stale_removed().iter();
    report
        .stale_removed
        .extend(stale.map(|p| p.display().to_string()));
    Ok(Prepared { out })
}

/// The version written in the `redis-ver` / `valkey-ver` aux field: the
/// newest producer among inputs of exactly the target's format, otherwise
/// the target's own ([`Target::producer`], from the table of releases).
pub(crate) fn producer_version(t: Target, inputs: &[InputSummary]) -> String {
    let field = if t.valkey || t.lineage == Lineage::Valkey {
        "valkey-ver"
    } else {
        "redis-ver"
    };
    let parse = |v: &str| -> Option<Vec<u32>> { v.split('.').map(|p| p.parse().ok()).collect() };
    let best = inputs
        .iter()
        .filter_map(|s| s.report.as_ref())
        .filter(|r| r.header == t.header())
        .flat_map(|r| r.aux.iter())
        .filter(|(k, v)| k == field && parse(v).is_some())
        .max_by_key(|(_, v)| parse(v));
    if let Some((_, v)) = best {
        return v.clone();
    }
    t.producer().to_string()
}

/// The `used-mem` aux value: the sum of the inputs' own values, or of their
/// sizes when one has none.
fn used_mem(inputs: &[InputSummary]) -> u64 {
    let own: Option<u64> = inputs
        .iter()
        .map(|s| {
            s.report.as_ref().and_then(|r| {
                r.aux
                    .iter()
                    .find(|(k, _)| k == "used-mem")
                    .and_then(|(_, v)| v.parse::<u64>().ok())
            })
        })
        .sum();
    own.unwrap_or_else(|| inputs.iter().map(|s| s.size).sum())
}

/// A write-pass failure: I/O errors are usage/I/O failures (exit 2),
/// anything else is a refusal (exit 1).
fn write_error(e: crate::Error, dest: &str, report: &MergeReport) -> MergeError {
    match e.kind() {
        crate::ErrorKind::Io { source, .. } => io_error(
            Cause::WriteFailed(format!("writing {dest}: {source}")),
            report,
        ),
        _ => refused(Cause::WriteRefused(e), report.clone()),
    }
}

/// Bytes written between two background `fdatasync` calls.
const SYNC_EVERY: u64 = 32 << 20;

/// The temporary file, flushed to disk while it is written (as Redis does
/// with `rdb-save-incremental-fsync`): every [`SYNC_EVERY`] bytes a
/// background thread calls `fdatasync`, so the disk writes overlap the
/// copying and the final `fsync` has little left to do. A failed
/// background sync fails the write (a later `fsync` may not report it).
struct SyncingFile<'t> {
    file: File,
    since: u64,
    /// Told of every byte handed to the kernel, for the re-read.
    tracker: Option<&'t Tracker<'t>>,
    kick: std::sync::mpsc::SyncSender<()>,
    syncer: std::thread::JoinHandle<std::io::Result<()>>,
}

impl<'t> SyncingFile<'t> {
    fn new(file: File, tracker: Option<&'t Tracker<'t>>) -> std::io::Result<Self> {
        let clone = file.try_clone()?;
        // One pending request at most: kicks while a sync runs coalesce.
        // Dropping the sender (also on an early error return) ends the
        // thread after its current sync.
        let (kick, rx) = std::sync::mpsc::sync_channel::<()>(1);
        let syncer = std::thread::Builder::new()
            .name("rdbkit-sync".into())
            .spawn(move || {
                let mut first = Ok(());
                while rx.recv().is_ok() {
                    if let (Err(e), true) = (clone.sync_data(), first.is_ok()) {
                        first = Err(e);
                    }
                }
                first
            })?;
        Ok(SyncingFile {
            file,
            since: 0,
            tracker,
            kick,
            syncer,
        })
    }

    /// Stops the background syncs and reports the first failure of one.
    fn finish(self) -> std::io::Result<File> {
        drop(self.kick);
        self.syncer
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))?;
        Ok(self.file)
    }
}

impl std::io::Write for SyncingFile<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(b)?;
        if let Some(t) = self.tracker {
            t.wrote(n);
        }
        self.since += n as u64;
        if self.since >= SYNC_EVERY {
            self.since = 0;
            let _ = self.kick.try_send(());
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Copied ranges from this size on have their CRC computed on another core
/// while they are written.
const PARALLEL_CRC: usize = 1 << 20;

/// Copies are made in pieces of this size, with a check for an
/// interruption between two.
const COPY_PIECE: usize = 16 << 20;

struct Copier<'a, W: std::io::Write> {
    w: RdbWriter<W>,
    opts: &'a MergeOptions,
    parts: Option<&'a KeyPartition>,
    target: Target,
    reencoded: u64,
}

impl<W: std::io::Write> Copier<'_, W> {
    /// Copies `b` (at offset `at` of its input) in pieces, stopping between
    /// two when the work is interrupted or the input faulted.
    fn raw(&mut self, b: &[u8], tick: &mut Ticker<'_>, at: usize) -> crate::Result<()> {
        for (i, c) in b.chunks(COPY_PIECE).enumerate() {
            let at = at + i * COPY_PIECE;
            crate::interrupt::poll(c, at as u64)?;
            if c.len() < PARALLEL_CRC {
                self.w.raw(c)?;
                tick.at(at + c.len(), 0);
            } else {
                self.w.raw_parallel(c, STEP, |done| tick.at(at + done, 0))?;
            }
        }
        Ok(())
    }

    /// Copies one run of key records of database `db`, leaving out and
    /// rewriting the records the plan marked.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &mut self,
        data: &[u8],
        lineage: Lineage,
        run: Run,
        db: u64,
        skip: &[usize],
        special: &[usize],
        tick: &mut Ticker<'_>,
    ) -> crate::Result<()> {
        let mut pos = run.start;
        let end = run.end();
        let mut si = skip.partition_point(|&o| o < pos);
        let mut xi = special.partition_point(|&o| o < pos);
        loop {
            let ns = skip.get(si).copied().filter(|&o| o < end);
            let nx = special.get(xi).copied().filter(|&o| o < end);
            let next = match (ns, nx) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(usize::MAX).min(b.unwrap_or(usize::MAX))),
            };
            let Some(o) = next else {
                self.raw(&data[pos..end], tick, pos)?;
                return Ok(());
            };
            self.raw(&data[pos..o], tick, pos)?;
            let k = record_at(data, o, db)?;
            let skipped = ns == Some(o);
            if skipped {
                si += 1;
            }
            if nx == Some(o) {
                xi += 1;
            }
            if !skipped {
                let key = k.key.to_bytes()?;
                let part = part_of(self.parts, k.db, &key);
                if filtered(self.opts, part, k.db, &key, k.expire_ms).is_none() {
                    let meta = KeyMeta {
                        expire_ms: k.expire_ms,
                        idle: k.idle,
                        freq: k.freq,
                    };
                    if self.target.can_copy(&k, lineage)
                        || self.target.can_read(k.value.rdb_type(), lineage)
                    {
                        self.w.key_verbatim(&k, meta)?;
                    } else {
                        let v = OwnedValue::from_value(&k.value).map_err(|e| e.with_key(&key))?;
                        self.w.key_with_meta(&key, &v, meta, k.key_meta)?;
                        self.reencoded += 1;
                    }
                }
            }
            pos = k.span.end;
        }
    }
}

#[cfg(feature = "gzip")]
fn gzip_file(src: &[u8], f: File, prog: &Progress) -> std::io::Result<()> {
    let mut enc = flate2::write::GzEncoder::new(
        BufWriter::with_capacity(1 << 20, f),
        flate2::Compression::fast(),
    );
    for (i, c) in src.chunks(STEP).enumerate() {
        crate::interrupt::poll(src, (i * STEP) as u64).map_err(std::io::Error::other)?;
        std::io::Write::write_all(&mut enc, c)?;
        prog.add(c.len() as u64, 0);
    }
    let f = enc.finish()?.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()
}

/// Decompresses `gz` and compares it with `rdb` byte for byte.
#[cfg(feature = "gzip")]
fn check_gzip(gz: &Path, rdb: &[u8]) -> std::io::Result<bool> {
    use std::io::Read;
    let mut dec = flate2::read::GzDecoder::new(std::io::BufReader::new(File::open(gz)?));
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0;
    loop {
        let n = dec.read(&mut buf)?;
        if n == 0 {
            return Ok(at == rdb.len());
        }
        if at + n > rdb.len() || buf[..n] != rdb[at..at + n] {
            return Ok(false);
        }
        at += n;
    }
}

/// Without the `gzip` feature a `.gz` output is refused before anything is
/// read (see `check_options`); these only keep that promise if reached.
#[cfg(not(feature = "gzip"))]
fn gzip_file(_: &[u8], _: File, _: &Progress) -> std::io::Result<()> {
    Err(crate::spill::no_gzip())
}

#[cfg(not(feature = "gzip"))]
fn check_gzip(_: &Path, _: &[u8]) -> std::io::Result<bool> {
    Err(crate::spill::no_gzip())
}

/// Why each input no longer is what the input pass read, if it is not:
/// its size or modification time differ, it faulted while mapped, or its
/// bytes no longer have the fingerprint the input pass computed (inputs
/// in parallel).
fn input_changes(inputs: &[Source<'_>], fingerprints: &[u64]) -> Vec<Option<String>> {
    crate::decode::scan::fan_out(inputs.len(), inputs.len(), |i| {
        let (data, fp) = (&inputs[i], fingerprints[i]);
        if let Err(e) = data.check_unchanged() {
            return Some(e.kind().to_string());
        }
        let now = crate::format::crc::fingerprint(data);
        (now != fp).then(|| {
            format!(
                "input changed while being read: its content changed (fingerprint {fp:#018x} when checked, {now:#018x} after copying)"
            )
        })
    })
}

/// The failure for the first input [`input_changes`] found changed.
fn changed_input(
    changes: Vec<Option<String>>,
    inputs: &[Source<'_>],
    report: &MergeReport,
) -> Result<(), MergeError> {
    for (i, p) in changes.into_iter().enumerate() {
        if let Some(why) = p {
            return Err(io_error(
                Cause::InputChanged {
                    input: i,
                    path: inputs[i].name.to_string(),
                    reason: why,
                    while_writing: true,
                },
                report,
            ));
        }
    }
    Ok(())
}

/// The smallest piece of the output the re-read is given (but for the
/// last of each database): runs shorter than this are re-read together.
const MIN_PIECE: usize = 1 << 20;

/// Writes the whole merged file into `out` (`dest` names it in messages),
/// telling `track` where the re-read may cut it. Returns `out` and whether
/// the last piece holds re-encoded records.
fn write_records<W: std::io::Write>(
    opts: &MergeOptions,
    b: &Body<'_>,
    out: W,
    dest: &str,
    report: &mut MergeReport,
    track: Option<&Tracker<'_>>,
    prog: &Progress,
) -> Result<(W, bool), MergeError> {
    let werr = |e: crate::Error, r: &MergeReport| write_error(e, dest, r);
    let target = b.target;
    let mut w = RdbWriter::new(out, target).map_err(|e| werr(e, report))?;
    w.allow = opts.allow;
    let ctime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    w.standard_aux(
        &producer_version(target, &report.inputs),
        ctime,
        used_mem(&report.inputs),
    )
    .map_err(|e| werr(e, report))?;
    for (id, when, p) in b.module_aux.iter().filter(|m| m.1 == 1) {
        w.module_aux(*id, *when, p).map_err(|e| werr(e, report))?;
    }
    for f in &b.functions {
        w.function(f).map_err(|e| werr(e, report))?;
    }
    let mut c = Copier {
        w,
        opts,
        parts: b.parts.as_ref(),
        target,
        reencoded: 0,
    };
    // Re-encoded keys at the last cut: a piece that holds one is
    // re-read fully, one of copied records only for its structure.
    let mut marked = 0;
    // Where the last cut was, and in which database. The re-read's pieces
    // are cut at the first run of each database and then at the first run
    // `MIN_PIECE` bytes or more past the last cut (a split's runs can be
    // single records; each piece is mapped on its own).
    let mut last_cut: Option<(usize, u64)> = None;
    for (db, n) in b.counts() {
        if n.keys == 0 {
            continue;
        }
        c.w.select_db(db).map_err(|e| werr(e, report))?;
        c.w.resize_db(n.keys, n.expires)
            .map_err(|e| werr(e, report))?;
        for (i, data) in b.inputs.iter().enumerate() {
            let lineage = crate::format::Header::parse(data)
                .map(|h| h.lineage)
                .unwrap_or(Lineage::Redis);
            for (run, src_db) in b.runs_into(opts, i, db) {
                let at = c.w.written() as usize;
                if last_cut.is_none_or(|(from, d)| d != db || at - from >= MIN_PIECE) {
                    if let Some(t) = track {
                        t.cut(at, db, c.reencoded > marked);
                    }
                    marked = c.reencoded;
                    last_cut = Some((at, db));
                }
                let mut t = Ticker::new(prog, run.start);
                c.run(
                    data,
                    lineage,
                    run,
                    src_db,
                    &b.skip[i],
                    &b.special[i],
                    &mut t,
                )
                .map_err(|e| match e.kind() {
                    crate::ErrorKind::InputChanged(_) => io_error(
                        Cause::InputChanged {
                            input: i,
                            path: data.name.to_string(),
                            reason: e.to_string(),
                            while_writing: true,
                        },
                        report,
                    ),
                    _ => werr(e, report),
                })?;
                t.flush(run.end());
            }
        }
    }
    for (id, when, p) in b.module_aux.iter().filter(|m| m.1 != 1) {
        c.w.module_aux(*id, *when, p).map_err(|e| werr(e, report))?;
    }
    report.losses = c.w.losses;
    report.reencoded_keys = c.reencoded;
    report.verbatim_keys = report.output_keys().saturating_sub(c.reencoded);
    let full = c.reencoded > marked;
    let out = c.w.finish().map_err(|e| werr(e, report))?;
    Ok((out, full))
}

/// The outcome of re-reading the written file (named by `name`, with a
/// leading space, or empty): a file that does not read back as planned
/// is a failed write (exit 2), not a property of the inputs.
fn verified_as_planned(
    got: crate::Result<DbCounts>,
    planned: &DbCounts,
    name: &str,
    report: &MergeReport,
) -> Result<(), MergeError> {
    let failed = |m: String| Err(io_error(Cause::VerificationFailed(m), report));
    match got {
        Err(e) => failed(format!("the written file{name} failed verification: {e}")),
        Ok(got) if got != *planned => failed(format!(
            "the written file holds {got:?} (db: keys, expires), the plan said {planned:?}"
        )),
        Ok(_) => Ok(()),
    }
}

/// A writer that counts the bytes it passes on.
struct Counted<W> {
    out: W,
    bytes: u64,
}

impl<W: std::io::Write> std::io::Write for Counted<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(b)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Writes the planned merge into `out`, for [`super::merge_bytes`]. With
/// `opts.verify` the file is assembled in memory and checked completely
/// (every record decoded, CRC-64, keys per database against the plan)
/// before its first byte reaches `out`; without, it is streamed.
pub(crate) fn write_to<W: std::io::Write>(
    opts: &MergeOptions,
    body: &Body<'_>,
    mut report: MergeReport,
    out: W,
    prog: &Progress,
) -> Result<(MergeReport, W), MergeError> {
    const DEST: &str = "the output";
    let t0 = Instant::now();
    let total = body.run_bytes();
    prog.phase("writing", total);
    let dbs = body.dbs();
    let ioerr = |e: std::io::Error, r: &MergeReport| {
        io_error(Cause::WriteFailed(format!("writing {DEST}: {e}")), r)
    };
    let (out, bytes) = if opts.verify {
        let buf = Vec::with_capacity(usize::try_from(total).unwrap_or(0).saturating_add(1 << 10));
        let written = write_records(opts, body, buf, DEST, &mut report, None, prog);
        prog.finish();
        let (buf, _) = written?;
        report.phases.push(("writing", t0.elapsed().as_secs_f64()));
        let t1 = Instant::now();
        verified_as_planned(reread::check_bytes(&buf), &dbs, "", &report)?;
        report
            .phases
            .push(("verifying output", t1.elapsed().as_secs_f64()));
        let mut out = out;
        out.write_all(&buf)
            .and_then(|()| out.flush())
            .map_err(|e| ioerr(e, &report))?;
        (out, buf.len() as u64)
    } else {
        let counted = Counted { out, bytes: 0 };
        let written = write_records(
            opts,
            body,
            BufWriter::new(counted),
            DEST,
            &mut report,
            None,
            prog,
        );
        prog.finish();
        let (buf, _) = written?;
        let counted = buf
            .into_inner()
            .map_err(|e| ioerr(e.into_error(), &report))?;
        report.phases.push(("writing", t0.elapsed().as_secs_f64()));
        (counted.out, counted.bytes)
    };
    report.status = Status::Written;
    report.output = Some(OutputSummary {
        path: DEST.to_string(),
        target: body.target,
        bytes,
        dbs,
        verified: opts.verify,
        gzip: false,
    });
    Ok((report, out))
}

/// Writes the output `body.part` of a planned merge (or split) into the
/// prepared temporary file, verifies, compresses and publishes it at
/// `opts.output`.
pub(crate) fn write(
    opts: &MergeOptions,
    body: &Body<'_>,
    mut report: MergeReport,
    prepared: Prepared,
    prog: &Progress,
) -> Result<MergeReport, MergeError> {
    let Prepared { out: mut atomic } = prepared;
    let tmp = atomic.temp_path().to_path_buf();
    let dest = tmp.display().to_string();
    let file = atomic
        .file()
        .try_clone()
        .map_err(|e| io_error(Cause::WriteFailed(format!("writing {dest}: {e}")), &report))?;
    let out = &opts.output;
    crate::interrupt::test_pause("planned");
    let t0 = Instant::now();
    // 1. Write, and meanwhile re-read what is written: worker threads check
    // each piece of the file as soon as the writer has handed it to the
    // kernel (see `reread`).
    let total = body.run_bytes();
    prog.phase("writing", total);
    let tracker = Tracker::new(prog);
    let track = opts.verify.then_some(&tracker);
    let write_all = |report: &mut MergeReport| -> Result<File, MergeError> {
        let file = SyncingFile::new(file, track)
            .map_err(|e| io_error(Cause::WriteFailed(format!("writing {dest}: {e}")), report))?;
        let buf = BufWriter::with_capacity(1 << 20, file);
        let (buf, full) = write_records(opts, body, buf, &dest, report, track, prog)?;
        let file = buf
            .into_inner()
            .map_err(|e| {
                io_error(
                    Cause::WriteFailed(format!("writing {dest}: {}", e.error())),
                    report,
                )
            })?
            .finish()
            .map_err(|e| io_error(Cause::WriteFailed(format!("fsync {dest}: {e}")), report))?;
        if let Some(t) = track {
            t.finish(full);
        }
        Ok(file)
    };
    // 2. fsync when written, while the re-read finishes: it sees the same
    // bytes whether or not they have reached the disk yet, and nothing is
    // published before both are done.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let (synced, checked, changes) = std::thread::scope(|s| {
        let path = tmp.as_path();
        let reader = track.map(|t| s.spawn(move || reread(path, t, workers)));
        let written = write_all(&mut report);
        let t1 = Instant::now();
        match (&written, track) {
            (Ok(_), Some(_)) => {} // the re-read's phase is on the bar now
            (Ok(_), None) => prog.finish(),
            (Err(_), _) => {
                tracker.abort();
                prog.finish();
            }
        }
        if written.is_ok() {
            report.phases.push(("writing", t0.elapsed().as_secs_f64()));
        }
        // The inputs must still be what the input pass read: the records
        // were copied from them just now, and an input rewritten in place
        // after its check would otherwise reach a "verified" output. Checked
        // (on other cores) while the output is flushed to disk.
        let changes = written
            .is_ok()
            .then(|| s.spawn(|| input_changes(&body.inputs, &body.fingerprints)));
        let synced = written.map(|file| {
            let r = file.sync_all();
            (r, t1.elapsed().as_secs_f64())
        });
        let checked = reader.map(|h| {
            let got = h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            prog.finish();
            (got, t1.elapsed())
        });
        let changes = changes.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        (synced, checked, changes)
    });
    let synced = synced?;
    changed_input(changes.unwrap_or_default(), &body.inputs, &report)?;
    synced.0.map_err(|e| {
        io_error(
            Cause::WriteFailed(format!("fsync {}: {e}", tmp.display())),
            &report,
        )
    })?;
    report.phases.push(("fsync", synced.1));
    let dbs = body.dbs();
    let mut verified = false;
    if let Some((got, took)) = checked {
        verified_as_planned(got, &dbs, &format!(" {}", tmp.display()), &report)?;
        verified = true;
        // The part of the re-read left after the writing.
        report.phases.push(("verifying output", took.as_secs_f64()));
    }
    // 3. Compress.
    let gzip = out.extension().is_some_and(|e| e == "gz");
    if gzip {
        let t3 = Instant::now();
        let (gz, gz_file) = atomic
            .sibling(".gz")
            .map_err(|e| io_error(Cause::WriteFailed(format!("compressing: {e}")), &report))?;
        let compressed = (|| -> Result<(), MergeError> {
            let rdb = Input::open(&tmp).map_err(|e| {
                io_error(
                    Cause::WriteFailed(format!("re-reading {}: {e}", tmp.display())),
                    &report,
                )
            })?;
            prog.phase("compressing", rdb.len() as u64);
            let f = gz_file.try_clone().map_err(|e| {
                io_error(
                    Cause::WriteFailed(format!("compressing to {}: {e}", gz.display())),
                    &report,
                )
            })?;
            gzip_file(&rdb, f, prog).map_err(|e| {
                io_error(
                    Cause::WriteFailed(format!("compressing to {}: {e}", gz.display())),
                    &report,
                )
            })?;
            prog.finish();
            if opts.verify {
                match check_gzip(&gz, &rdb) {
                    Ok(true) => {}
                    Ok(false) => {
                        return Err(io_error(
                            Cause::VerificationFailed(format!(
                                "{} does not decompress to the verified file",
                                gz.display()
                            )),
                            &report,
                        ))
                    }
                    Err(e) => {
                        return Err(io_error(
                            Cause::VerificationFailed(format!("re-reading {}: {e}", gz.display())),
                            &report,
                        ))
                    }
                }
            }
            Ok(())
        })();
        if let Err(e) = compressed {
            AtomicFile::discard_sibling(&gz);
            return Err(e);
        }
        atomic.swap_in(gz, gz_file);
        report
            .phases
            .push(("compressing", t3.elapsed().as_secs_f64()));
    }
    let target = body.target;
    // 4. Publish.
    let bytes = atomic.file().metadata().map(|m| m.len()).unwrap_or(0);
    let final_tmp = atomic.temp_path().to_path_buf();
    atomic.commit().map_err(|e| {
        let cause = if e.kind() == std::io::ErrorKind::AlreadyExists {
            Cause::OutputExists {
                path: out.clone(),
                appeared_while_merging: true,
            }
        } else {
            Cause::WriteFailed(format!(
                "moving {} to {}: {e}",
                final_tmp.display(),
                out.display()
            ))
        };
        io_error(cause, &report)
    })?;
    report.status = Status::Written;
    report.output = Some(OutputSummary {
        path: out.display().to_string(),
        target,
        bytes,
        dbs,
        verified,
        gzip,
    });
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn syncing_file_writes_everything_and_syncs_in_the_background() {
        let dest =
            std::env::temp_dir().join(format!("rdbkit-sync-test-{}.rdb", std::process::id()));
        let mut atomic = AtomicFile::create(&dest, false).unwrap();
        let path = atomic.temp_path().to_path_buf();
        let file = atomic.file().try_clone().unwrap();
        let mut w = SyncingFile::new(file, None).unwrap();
        let piece: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        for _ in 0..(3 * SYNC_EVERY as usize / piece.len() + 1) {
            w.write_all(&piece).unwrap();
        }
        let file = w.finish().unwrap();
        file.sync_all().unwrap();
        let got = std::fs::read(&path).unwrap();
        assert_eq!(got.len() as u64, 3 * SYNC_EVERY + (1 << 20));
        assert!(got.chunks(piece.len()).all(|c| c == piece));
    }
}
