//! The input pass: every input is scanned by the scan engine with
//! [`InputSink`], a visitor that embeds the statistics visitor ([`Stats`])
//! and adds what the plan needs: key fingerprints and locations, runs of
//! copyable records, records to leave out or rewrite, functions, module
//! aux, counts per output database, and the problems found.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::cause::Cause;
use super::options::{KeyPartition, MergeOptions};
use super::progress::{Progress, Ticker};
use super::records::*;
use super::report::MAX_LISTED;
use crate::decode::scan::{scan, DbStarts, ScanOptions, Sink, Walked};
use crate::decode::{key_fingerprint, Decoder, Item, KeyRecord, Level, Options, Warnings};
use crate::encode::{EncodeConfig, Losses, OwnedValue, Target};
use crate::format::{rdb_type, Header, ModuleId};
use crate::stats::{library_name, FileStats, Stats};

/// What the pass over one input found.
pub(super) struct Scan {
    /// The input's statistics (as `rdbkit info` gives them).
    pub(super) report: FileStats,
    /// CRC-64 of the whole input.
    pub(super) fingerprint: u64,
    /// (fingerprint, location), sorted.
    pub(super) fps: Vec<(u64, u64)>,
    pub(super) runs: Vec<Run>,
    /// Where each database's key records start.
    pub(super) dbs: DbStarts,
    pub(super) special: Vec<usize>,
    pub(super) functions: Vec<(String, Vec<u8>)>,
    pub(super) module_aux: Vec<(ModuleId, u64, Vec<u8>)>,
    /// Kept keys per output (before duplicates).
    pub(super) counts: BTreeMap<OutId, Counts>,
    pub(super) nonzero: BTreeMap<u64, u64>,
    pub(super) dropped_dynomite: u64,
    pub(super) dropped_expired: u64,
    pub(super) dropped_unselected: u64,
    pub(super) reencode: u64,
    pub(super) problems: Vec<Cause>,
    pub(super) problems_total: u64,
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
        let same_db = a.dbs.continues_in(&b.dbs);
        if let (Some(last), Some(first)) = (a.runs.last_mut(), runs.as_slice().first()) {
            if same_db
                && last.end() == first.start
                && last.part() == first.part()
                && last.grows_to(first.start)
            {
                last.set_end(first.end());
                runs.next();
            }
        }
        a.runs.extend(runs);
        a.dbs.append(b.dbs);
        a.special.extend(b.special);
        a.functions.extend(b.functions);
        a.module_aux.extend(b.module_aux);
        for (id, c) in b.counts {
            a.counts.entry(id).or_default().add(c);
        }
        for (db, n) in b.nonzero {
            *a.nonzero.entry(db).or_default() += n;
        }
        a.dropped_dynomite += b.dropped_dynomite;
        a.dropped_expired += b.dropped_expired;
        a.dropped_unselected += b.dropped_unselected;
        a.reencode += b.reencode;
        a.problems_total += b.problems_total;
        let room = MAX_LISTED.saturating_sub(a.problems.len());
        a.problems.extend(b.problems.into_iter().take(room));
    }
}

pub(super) struct ScanCtx<'a> {
    pub(super) opts: &'a MergeOptions,
    /// The outputs of a split; `None` for a merge.
    pub(super) parts: Option<&'a KeyPartition>,
    pub(super) target: Target,
    pub(super) input: usize,
    pub(super) header: Header,
    pub(super) len: usize,
    pub(super) prog: &'a Progress,
}

/// The merge's visitor of an input: the statistics ([`Stats`]) plus what
/// the plan needs (key fingerprints, runs of copyable records, functions,
/// module aux, per-output-db counts, problems).
pub(super) struct InputSink<'c> {
    cx: &'c ScanCtx<'c>,
    stats: Stats,
    scan: Scan,
    /// The run of key records being read.
    run: Option<Run>,
    /// Kept keys of the output database being read.
    cur_out: Option<(OutId, Counts)>,
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
                dbs: DbStarts::default(),
                special: Vec::new(),
                functions: Vec::new(),
                module_aux: Vec::new(),
                counts: BTreeMap::new(),
                nonzero: BTreeMap::new(),
                dropped_dynomite: 0,
                dropped_expired: 0,
                dropped_unselected: 0,
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
        if let Some((id, c)) = self.cur_out.take() {
            self.scan.counts.entry(id).or_default().add(c);
        }
    }

    /// Records one key record of the scan, going to `part` (see
    /// [`part_of`]).
    fn key(
        &mut self,
        start: usize,
        k: &KeyRecord<'_>,
        key: &[u8],
        part: Option<u32>,
    ) -> crate::Result<()> {
        let cx = self.cx;
        let opts = cx.opts;
        let s = &mut self.scan;
        let v = k.value;
        // Left out before anything else?
        if let Some(f) = filtered(opts, part, k.db, key, k.expire_ms) {
            match f {
                Filter::Dynomite => s.dropped_dynomite += 1,
                Filter::Expired => s.dropped_expired += 1,
                Filter::Unselected => s.dropped_unselected += 1,
            }
            s.special.push(start);
            return Ok(());
        }
        if k.db > 0 {
            *s.nonzero.entry(k.db).or_default() += 1;
        }
        let id = (part.unwrap_or(0), out_db(opts, k.db));
        // Limits.
        if key.len() > MAX_KEY_LEN {
            s.problem(|| Cause::KeyTooLong {
                input: cx.input,
                key: show_key(key),
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
                key: show_key(key),
                kind: v.kind().name(),
                len: vlen,
            });
        }
        // Can the target hold the record as it is? If not, check now that it
        // can be rewritten, so that nothing is written when it cannot.
        let target = cx.target;
        let lineage = cx.header.lineage;
        if k.key_meta.is_some() && !target.holds_key_meta() {
            s.problem(|| Cause::KeyMetaUnsupported {
                input: cx.input,
                key: show_key(key),
                target,
            });
        } else if !target.can_copy(k, lineage) {
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
                        error: e.with_key(key),
                    });
                }
            }
        }
        // The part goes into the fingerprint: copies of one key always
        // share it, and a merge's (part 0) fingerprints stay as they were.
        let fp_db = id.1 ^ u64::from(id.0).rotate_right(8);
        s.fps
            .push((key_fingerprint(fp_db, key), loc(cx.input, start)));
        if self.cur_out.is_none_or(|c| c.0 != id) {
            self.fold_out();
            self.cur_out = Some((id, Counts::default()));
        }
        let c = &mut self.cur_out.as_mut().expect("set above").1;
        c.keys += 1;
        if let Some(e) = k.expire_ms {
            c.expires += 1;
            if e < opts.import_at {
                c.expired += 1;
            }
        }
        Ok(())
    }
}

impl<'a> Sink<'a> for InputSink<'_> {
    /// The merge copies the records after the scan: their pages stay.
    const RELEASE_BEHIND: bool = false;

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
                let key: Cow<'_, [u8]> = k.key.to_bytes()?;
                let part = part_of(cx.parts, k.db, &key);
                // A key no part takes is left out: it does not cut the run.
                let run_part = part.or(self.run.map(|r| r.part())).unwrap_or(0);
                match &mut self.run {
                    Some(r) if r.grows_to(start) && r.part() == run_part => {
                        r.set_end(k.span.end);
                    }
                    _ => {
                        let run = Run::new(start, k.span.end, run_part);
                        self.scan.runs.extend(self.run.replace(run));
                    }
                }
                self.scan.dbs.note(start, k.db);
                self.key(start, k, &key, part)?;
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
pub(super) fn scan_input(cx: &ScanCtx<'_>, data: &[u8], threads: usize) -> crate::Result<Scan> {
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
        let prog = Progress::quiet();
        let cx = ScanCtx {
            opts: &opts,
            parts: None,
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
        DbStarts,
        Vec<usize>,
        BTreeMap<OutId, Counts>,
        Vec<(String, Vec<u8>)>,
        BTreeMap<u64, u64>,
    );

    fn view(s: Scan) -> ScanView {
        (
            s.report,
            s.fps,
            s.runs,
            s.dbs,
            s.special,
            s.counts,
            s.functions,
            s.nonzero,
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
            let dbs: Vec<OutId> = one.5.keys().copied().collect();
            assert_eq!(
                dbs,
                if two_dbs {
                    vec![(0, 0), (0, 5)]
                } else {
                    vec![(0, 0)]
                }
            );
            assert_eq!(one.2.len(), if two_dbs { 2 } else { 1 }, "runs joined");
            assert_eq!(one.3.len(), if two_dbs { 2 } else { 1 }, "databases joined");
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
}
