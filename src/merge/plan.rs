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

use std::collections::BTreeMap;

use super::cause::Cause;
use super::error::{io_error, refused, refused_for_problems, MergeError};
use super::input::{scan_input, Scan, ScanCtx};
use super::options::{KeyPartition, MergeOptions, Policy};
use super::progress::Progress;
use super::records::{out_db, unloc, Counts, OutId, Run};
use super::report::{InputSummary, MergeReport};
use super::resolve::{Resolver, Tallies};
use super::source::Source;
use super::target::{default_target, preamble};
use crate::decode::scan::{self, DbStarts};
use crate::encode::Target;
use crate::format::{Header, ModuleId};

pub(crate) struct Plan<'d> {
    /// What the write pass copies.
    pub body: Body<'d>,
    pub report: MergeReport,
    /// Duplicates and conflicts per output of a split.
    pub tallies: Tallies,
}

/// What the write pass copies, from which input.
pub(crate) struct Body<'d> {
    pub inputs: Vec<Source<'d>>,
    pub target: Target,
    /// Per input: runs of key records, in file order.
    pub runs: Vec<Vec<Run>>,
    /// Per input: where each database's key records start.
    pub dbs: Vec<DbStarts>,
    /// Per input: sorted offsets of records left out as duplicates or
    /// conflict losers.
    pub skip: Vec<Vec<usize>>,
    /// Per input: sorted offsets of records that are filtered out or must
    /// be rewritten for the target.
    pub special: Vec<Vec<usize>>,
    /// Kept keys per output (part) and database.
    pub out_counts: BTreeMap<OutId, Counts>,
    /// The outputs of a split (`None` for a merge).
    pub parts: Option<KeyPartition>,
    /// The output being written: its runs and databases are the ones
    /// copied (always 0 but in a split).
    pub part: u32,
    /// Function library sources to write, in order.
    pub functions: Vec<Vec<u8>>,
    /// Module aux records to write: (module id, when, payload).
    pub module_aux: Vec<(u64, u64, Vec<u8>)>,
    /// Per input: the CRC-64 of the whole file as the input pass read it,
    /// compared again before the output is published (an input changed in
    /// the meantime must not end up in a verified output).
    pub fingerprints: Vec<u64>,
}

impl Body<'_> {
    /// Bytes of the key records to copy into the output being written
    /// (before records are left out).
    pub fn run_bytes(&self) -> u64 {
        self.runs
            .iter()
            .flatten()
            .filter(|r| r.part() == self.part)
            .map(|r| (r.end() - r.start) as u64)
            .sum()
    }

    /// Kept keys of the output being written, per database.
    pub fn counts(&self) -> impl Iterator<Item = (u64, Counts)> + '_ {
        self.out_counts
            .range((self.part, 0)..=(self.part, u64::MAX))
            .map(|(id, c)| (id.1, *c))
    }

    /// Input `i`'s runs going to database `db` of the output being written,
    /// in file order, each with its source database: the runs of this
    /// output in each stretch of the input whose records go to `db`.
    pub fn runs_into<'b>(
        &'b self,
        opts: &'b MergeOptions,
        i: usize,
        db: u64,
    ) -> impl Iterator<Item = (Run, u64)> + 'b {
        let runs = &self.runs[i];
        let stretches = self.dbs[i].stretches();
        let in_db = stretches.filter(move |s| out_db(opts, s.2) == db);
        in_db
            .flat_map(move |(from, to, src_db)| {
                let first = runs.partition_point(|r| r.start < from);
                let last = runs.partition_point(|r| r.start < to);
                runs[first..last].iter().map(move |r| (*r, src_db))
            })
            .filter(|r| r.0.part() == self.part)
    }

    /// Keys and expires per database of the output being written,
    /// databases without keys left out.
    pub fn dbs(&self) -> BTreeMap<u64, (u64, u64)> {
        db_counts(self.counts())
    }
}

/// Keys and expires per database, databases without keys left out.
pub(crate) fn db_counts(c: impl Iterator<Item = (u64, Counts)>) -> BTreeMap<u64, (u64, u64)> {
    let mut dbs = BTreeMap::new();
    for (db, c) in c.filter(|c| c.1.keys > 0) {
        let e: &mut (u64, u64) = dbs.entry(db).or_default();
        e.0 += c.keys;
        e.1 += c.expires;
    }
    dbs
}

/// Why planning stopped: turned into a [`MergeError`] carrying the report.
pub(super) enum Stop {
    /// Refused for this cause.
    Refused(Cause),
    /// Refused for the problems recorded in the report.
    Problems,
    /// A usage or I/O failure.
    Io(Cause),
}

impl Stop {
    /// The error for a failure to open input `i`: a corrupt gzip input is
    /// refused like any corrupt input; one that cannot be opened is an I/O
    /// failure.
    pub(super) fn opening(i: usize, name: &str, e: &crate::Error) -> Stop {
        if matches!(e.kind(), crate::ErrorKind::Io { .. }) {
            Stop::Io(Cause::CannotOpenInput {
                input: i,
                path: name.to_string(),
                reason: e.kind().to_string(),
            })
        } else {
            Stop::Refused(Cause::InvalidInput {
                input: i,
                path: name.to_string(),
                message: e.to_string(),
            })
        }
    }

    pub(super) fn into_error(self, report: MergeReport) -> MergeError {
        match self {
            Stop::Refused(c) => refused(c, report),
            Stop::Problems => refused_for_problems(report),
            Stop::Io(c) => io_error(c, &report),
        }
    }
}

/// The header and the aux fields before the first database of an input.
type Preamble = (Header, Vec<(String, String)>);

/// What the inputs hold together, before duplicates are resolved.
struct Joined {
    /// Kept keys per output and database.
    counts: BTreeMap<OutId, Counts>,
    /// Function libraries: name, code, input.
    functions: Vec<(String, Vec<u8>, usize)>,
    /// Module aux records: module, when, payload, input.
    module_aux: Vec<(ModuleId, u64, Vec<u8>, usize)>,
}

/// Where each input's records go once duplicates are resolved.
struct Resolved {
    runs: Vec<Vec<Run>>,
    dbs: Vec<DbStarts>,
    skip: Vec<Vec<usize>>,
    special: Vec<Vec<usize>>,
    counts: BTreeMap<OutId, Counts>,
    tallies: Tallies,
}

impl<'d> Plan<'d> {
    /// Plans the merge of the opened inputs, one step after the other:
    /// choose the target, scan every input, check the key counts, join what the
    /// inputs hold, resolve keys present in several inputs, check the
    /// totals. With `parts` (a split), each kept key goes to one output.
    pub(crate) fn build(
        opts: &MergeOptions,
        parts: Option<&KeyPartition>,
        inputs: Vec<Source<'d>>,
        mut report: MergeReport,
        prog: &Progress,
    ) -> Result<Plan<'d>, MergeError> {
        macro_rules! step {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(stop) => return Err(stop.into_error(report)),
                }
            };
        }
        let (pre, target) = choose_target(opts, &inputs, &mut report);
        let t0 = std::time::Instant::now();
        let (mut scans, target) = step!(scan_inputs(
            opts,
            parts,
            &inputs,
            &pre,
            target,
            &mut report,
            prog
        ));
        report
            .phases
            .push(("verifying inputs", t0.elapsed().as_secs_f64()));
        let t1 = std::time::Instant::now();
        let mut problems = check_key_counts(opts, &inputs, &scans);
        let joined = join_inputs(opts, target, &mut scans, &mut report, &mut problems);
        let Joined {
            counts,
            functions,
            module_aux,
        } = joined;
        let resolved = step!(resolve_duplicates(
            opts,
            parts,
            &inputs,
            &mut scans,
            counts,
            &mut report
        ));
        let Resolved {
            runs,
            dbs,
            skip,
            special,
            counts,
            tallies,
        } = resolved;
        if report.conflicts_unresolved > 0 {
            problems.push(Cause::Conflicts {
                unresolved: report.conflicts_unresolved,
                policy: opts.policy,
            });
        }
        report.out_counts = db_counts(counts.iter().map(|(id, c)| (id.1, *c)));
        report.phases.push(("planning", t1.elapsed().as_secs_f64()));
        report.expired_at_import = counts.values().map(|c| c.expired).sum();
        let total: u64 = counts.values().map(|c| c.keys).sum();
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
            return Err(Stop::Problems.into_error(report));
        }
        let body = Body {
            inputs,
            target,
            runs,
            dbs,
            skip,
            special,
            out_counts: counts,
            parts: parts.cloned(),
            part: 0,
            functions: functions.into_iter().map(|f| f.1).collect(),
            module_aux: module_aux
                .into_iter()
                .map(|(id, when, p, _)| (id.0, when, p))
                .collect(),
            fingerprints: scans.iter().map(|s| s.fingerprint).collect(),
        };
        Ok(Plan {
            body,
            report,
            tallies,
        })
    }
}

/// Step 1: the target, from the headers and leading aux fields (the
/// options' target when given). Per input: its preamble, or why it could
/// not be read (reported with the scans).
fn choose_target(
    opts: &MergeOptions,
    inputs: &[Source<'_>],
    report: &mut MergeReport,
) -> (Vec<crate::Result<Preamble>>, Option<Target>) {
    let pre: Vec<crate::Result<Preamble>> = inputs.iter().map(|data| preamble(data)).collect();
    let target = if pre.iter().all(Result::is_ok) {
        let ok: Vec<Preamble> = pre.iter().flatten().cloned().collect();
        match opts.target {
            Some(t) => Some(t),
            None => match default_target(&ok) {
                Ok(t) => Some(t),
                Err(e) => {
                    report.problems.push(e);
                    None
                }
            },
        }
    } else {
        None
    };
    report.target = target;
    (pre, target)
}

/// Step 2: decode and verify every input, in parallel (cores left over by
/// the inputs go into ranges of each), and list them in the report. An
/// input that changed while it was read is an I/O failure; the first
/// invalid input refuses the merge.
fn scan_inputs(
    opts: &MergeOptions,
    parts: Option<&KeyPartition>,
    inputs: &[Source<'_>],
    pre: &[crate::Result<Preamble>],
    target: Option<Target>,
    report: &mut MergeReport,
    prog: &Progress,
) -> Result<(Vec<Scan>, Target), Stop> {
    // Per input: the scan, or the error and whether the file changed.
    let scans: Vec<Result<Scan, (String, bool)>> = match target {
        Some(target) => {
            let total: u64 = inputs.iter().map(|d| d.len() as u64).sum();
            prog.phase("verifying inputs", total);
            let cores = scan::cores();
            let threads = (cores / inputs.len()).max(1);
            let r = scan::fan_out(inputs.len(), cores, |i| {
                let Ok((header, _)) = &pre[i] else {
                    return Err((String::new(), false));
                };
                let cx = ScanCtx {
                    opts,
                    parts,
                    target,
                    input: i,
                    header: *header,
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
        None => pre
            .iter()
            .map(|p| {
                Err((
                    p.as_ref().err().map(|e| e.to_string()).unwrap_or_default(),
                    false,
                ))
            })
            .collect(),
    };
    let mut first_error = None;
    let mut changed = None;
    let mut scans_ok = Vec::with_capacity(scans.len());
    for (i, s) in scans.into_iter().enumerate() {
        let (summary, error) = match s {
            Ok(s) => {
                let summary = Some(s.report.clone());
                scans_ok.push(s);
                (summary, None)
            }
            Err((e, env)) => {
                let e = if e.is_empty() { None } else { Some(e) };
                if env && changed.is_none() {
                    changed = Some(Cause::InputChanged {
                        input: i,
                        path: inputs[i].name.to_string(),
                        reason: e.clone().unwrap_or_default(),
                        while_writing: false,
                    });
                }
                if first_error.is_none() {
                    if let Some(e) = &e {
                        first_error = Some(Cause::InvalidInput {
                            input: i,
                            path: inputs[i].name.to_string(),
                            message: e.clone(),
                        });
                    }
                }
                (None, e)
            }
        };
        report.inputs.push(InputSummary {
            path: inputs[i].name.to_string(),
            size: inputs[i].len() as u64,
            report: summary,
            error,
        });
    }
    if let Some(e) = changed {
        return Err(Stop::Io(e));
    }
    if let Some(e) = first_error {
        return Err(Stop::Refused(e));
    }
    match target {
        Some(t) => Ok((scans_ok, t)),
        None => Err(Stop::Problems),
    }
}

/// Step 3: the key count of every input, against the expected ones.
fn check_key_counts(opts: &MergeOptions, inputs: &[Source<'_>], scans: &[Scan]) -> Vec<Cause> {
    let Some(exp) = &opts.expect_keys else {
        return Vec::new();
    };
    scans
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let counted = s.report.keys();
            (exp[i] != counted).then(|| Cause::KeyCountMismatch {
                input: i,
                path: inputs[i].name.to_string(),
                expected: exp[i],
                counted,
            })
        })
        .collect()
}

/// Step 4: what the inputs hold together: counts per output database,
/// function libraries (de-duplicated by name, conflicts by policy),
/// module aux data (by module and `when`), and the problems each input
/// found or the target has with them.
fn join_inputs(
    opts: &MergeOptions,
    target: Target,
    scans: &mut [Scan],
    report: &mut MergeReport,
    problems: &mut Vec<Cause>,
) -> Joined {
    let mut j = Joined {
        counts: BTreeMap::new(),
        functions: Vec::new(),
        module_aux: Vec::new(),
    };
    let mut nonzero: BTreeMap<u64, u64> = BTreeMap::new();
    for (i, s) in scans.iter_mut().enumerate() {
        for (id, c) in &s.counts {
            j.counts.entry(*id).or_default().add(*c);
        }
        for (db, n) in &s.nonzero {
            *nonzero.entry(*db).or_default() += n;
        }
        report.dropped_dynomite_metadata += s.dropped_dynomite;
        report.dropped_expired += s.dropped_expired;
        report.dropped_unselected += s.dropped_unselected;
        report.planned_reencoded += s.reencode;
        report.problems_total += s.problems_total;
        problems.append(&mut s.problems);
        for (name, code) in std::mem::take(&mut s.functions) {
            match j.functions.iter_mut().find(|f| f.0 == name) {
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
                None => j.functions.push((name, code, i)),
            }
        }
        for (id, when, payload) in std::mem::take(&mut s.module_aux) {
            let same_slot = j
                .module_aux
                .iter()
                .find(|m| m.0.name() == id.name() && m.1 == when);
            match same_slot {
                Some(m) if m.0 == id && m.2 == payload => report.module_aux_deduplicated += 1,
                Some(m) => problems.push(Cause::ModuleAuxConflict {
                    module: id.name(),
                    when,
                    inputs: (m.3, i),
                }),
                None => j.module_aux.push((id, when, payload, i)),
            }
        }
        report.modules.extend(s.report.modules.keys().cloned());
    }
    if !nonzero.is_empty() && !opts.flatten_dbs && !opts.keep_dbs {
        problems.push(Cause::KeysOutsideDb0 { per_db: nonzero });
    }
    if !j.functions.is_empty() && !target.has_functions() {
        if opts.drop_functions {
            report.functions_dropped = j.functions.len() as u64;
            j.functions.clear();
        } else {
            problems.push(Cause::FunctionsUnsupported {
                count: j.functions.len(),
                target,
            });
        }
    }
    report.functions = j.functions.iter().map(|f| f.0.clone()).collect();
    report.module_aux = j
        .module_aux
        .iter()
        .map(|m| (m.0.name(), m.0.encver(), m.1))
        .collect();
    j
}

/// Step 5: keys present in several inputs, found by one k-way merge of the
/// inputs' sorted fingerprints and resolved by [`Resolver`]; the records
/// left out, per input.
fn resolve_duplicates(
    opts: &MergeOptions,
    parts: Option<&KeyPartition>,
    inputs: &[Source<'_>],
    scans: &mut [Scan],
    counts: BTreeMap<OutId, Counts>,
    report: &mut MergeReport,
) -> Result<Resolved, Stop> {
    let runs: Vec<Vec<Run>> = scans
        .iter_mut()
        .map(|s| std::mem::take(&mut s.runs))
        .collect();
    let dbs: Vec<DbStarts> = scans
        .iter_mut()
        .map(|s| std::mem::take(&mut s.dbs))
        .collect();
    let mut res = Resolver {
        opts,
        parts,
        inputs,
        dbs: &dbs,
        skip: Vec::new(),
        counts,
        tallies: Tallies::default(),
    };
    let lists: Vec<&[(u64, u64)]> = scans.iter().map(|s| &s.fps[..]).collect();
    let grouped = scan::equal_groups(&lists, |e| e.0, |g| res.group(g, report));
    res.tallies.set_totals(report);
    grouped.map_err(|e| Stop::Refused(Cause::DuplicateReread(e)))?;
    let Resolver {
        mut skip,
        counts,
        tallies,
        ..
    } = res;
    let special: Vec<Vec<usize>> = scans
        .iter_mut()
        .map(|s| {
            s.fps = Vec::new();
            std::mem::take(&mut s.special)
        })
        .collect();
    skip.sort_unstable();
    let mut skip_per: Vec<Vec<usize>> = vec![Vec::new(); inputs.len()];
    for l in skip {
        let (i, off) = unloc(l);
        skip_per[i].push(off);
    }
    Ok(Resolved {
        runs,
        dbs,
        skip: skip_per,
        special,
        counts,
        tallies,
    })
}
