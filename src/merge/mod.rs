//! Merging per-node dumps into one file ready for import.
//!
//! [`merge`] runs the whole job:
//!
//! 1. **Check the output** before reading anything: it must not be one of
//!    the inputs, must not exist unless [`MergeOptions::force`], and its
//!    directory must be writable (a temporary file is created there).
//! 2. **Decode and verify every input** completely (every value walked,
//!    CRC-64 compared; inputs in parallel). A corrupt input stops the merge
//!    with its file, byte offset and key. Per input and per database the
//!    keys, expires and already expired keys are counted.
//! 3. **Plan**: keys present in several inputs are found with 16 bytes of
//!    memory per key (a 64-bit fingerprint of the key and output database,
//!    and the record's location), sorted per input and merged. Copies that
//!    are identical (type, value and expiry) are de-duplicated; copies that
//!    differ are conflicts, resolved by [`Policy`]. Function libraries are
//!    de-duplicated by name, module aux data by module and `when`.
//! 4. **Write** a temporary file beside the output: fresh aux fields, one
//!    `SELECTDB`/`RESIZEDB` per database with the true counts, and every
//!    record the target reads copied byte for byte (others re-encoded, or
//!    the merge is refused before writing). Meanwhile
//! 5. **verify** the written file: each piece of it is re-read from the file
//!    as soon as it is written (record structure, every element of
//!    re-encoded records, CRC-64, per-database counts); then `fsync`,
//!    compress it if the output ends in `.gz`, and
//!    rename it into place (without `force`, an output that appeared in the
//!    meantime is not replaced either).
//!
//! [`split`] runs the same steps once for several outputs, each key going
//! to the output a [`KeyPartition`] names: one reading and one plan of the
//! inputs, then each output written and verified in turn.
//!
//! Nothing is left behind when the merge fails: no partial output and no
//! temporary file. The [`MergeReport`] (also inside a [`MergeError`]) says
//! what was found and done.
//!
//! ```
//! use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
//! use rdbkit::merge::{merge, MergeOptions};
//!
//! // Two small per-node dumps with disjoint keys.
//! let dir = std::env::temp_dir().join(format!("rdbkit-merge-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! for (name, key) in [("node1.rdb", "a"), ("node2.rdb", "b")] {
//!     let mut w = RdbWriter::new(Vec::new(), Target::redis(11)).unwrap();
//!     w.select_db(0).unwrap();
//!     w.resize_db(1, 0).unwrap();
//!     w.key(key.as_bytes(), &OwnedValue::String(b"v".to_vec()), KeyMeta::default()).unwrap();
//!     std::fs::write(dir.join(name), w.finish().unwrap()).unwrap();
//! }
//! let out = dir.join("merged.rdb");
//! let _ = std::fs::remove_file(&out);
//! let opts = MergeOptions::new(vec![dir.join("node1.rdb"), dir.join("node2.rdb")], out.clone());
//! let report = merge(&opts).unwrap();
//! assert_eq!(report.output_keys(), 2);
//! assert!(report.output.as_ref().unwrap().verified);
//! // Never overwritten without `force`:
//! assert!(merge(&opts).is_err());
//! std::fs::remove_dir_all(&dir).unwrap();
//! ```

mod cause;
pub mod dynomite;
mod error;
mod input;
mod options;
mod output;
mod plan;
mod progress;
mod records;
mod report;
mod reread;
mod resolve;
mod source;
mod target;

pub use cause::Cause;
pub use error::{join_causes, MergeError};
pub use options::{ConflictKey, ConflictResolver, KeyPartition, KeySelector, MergeOptions, Policy};
pub use progress::ProgressSink;
pub(crate) use progress::{Progress, Ticker};
pub use records::{MAX_KEY_LEN, MAX_VALUE_LEN};
pub use report::{
    Conflict, ConflictCopy, Duplicate, InputSummary, MergeReport, OutputSummary, Status, MAX_LISTED,
};

use crate::atomic::{check_paths, Role};
use error::io_error;

/// Checks the options against the inputs' names (`files`: whether they are
/// paths and the output a file).
fn check_options(
    opts: &MergeOptions,
    names: &[String],
    files: bool,
    report: &MergeReport,
) -> Result<(), MergeError> {
    let n = names.len();
    let usage = |m: String| Err(io_error(Cause::InvalidOptions(m), report));
    if n == 0 {
        return usage("no input files".into());
    }
    if files && opts.inputs.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        return usage("standard input ('-') can be only one of the inputs".into());
    }
    #[cfg(not(feature = "gzip"))]
    if files && opts.output.extension().is_some_and(|e| e == "gz") {
        return usage(format!(
            "the output {} ends in .gz, but gzip support is not compiled in (rdbkit's `gzip` feature)",
            opts.output.display()
        ));
    }
    if opts.flatten_dbs && opts.keep_dbs {
        return usage("flatten_dbs and keep_dbs exclude each other".into());
    }
    if let Some(e) = &opts.expect_keys {
        if e.len() != n {
            return usage(format!(
                "expected key counts are given for {} inputs, there are {n}",
                e.len()
            ));
        }
    }
    if opts.tokens.len() > n {
        return usage(format!(
            "{} tokens are given for {n} inputs",
            opts.tokens.len()
        ));
    }
    if opts.policy == Policy::Custom && opts.resolver.is_none() {
        return usage("conflict policy custom needs a resolver".into());
    }
    if opts.policy == Policy::Owner {
        let missing: Vec<String> = (0..n)
            .filter(|&i| opts.tokens.get(i).copied().flatten().is_none())
            .map(|i| format!("{} ({})", i + 1, names[i]))
            .collect();
        if !missing.is_empty() {
            return usage(format!(
                "conflict policy owner needs the Dynomite token of every input; missing for input {}",
                missing.join(", ")
            ));
        }
    }
    Ok(())
}

/// Runs a merge: check the output, decode and verify every input, plan,
/// write, verify, publish. See the [module documentation](self).
///
/// # Errors
/// [`MergeError::Refused`] when the inputs cannot be merged as asked (a
/// corrupt input, unresolved conflicts, keys outside db 0, a loss the
/// options do not allow, key counts that differ from the expected ones);
/// [`MergeError::Interrupted`] after Ctrl-C (see [`crate::interrupt`]);
/// otherwise a usage or I/O failure (inconsistent options, an output
/// that exists or is an input, a failed write, an input changed while it
/// was read). Every error carries the report; [`MergeError::causes`]
/// lists why.
///
/// ```no_run
/// use rdbkit::merge::{merge, MergeError, MergeOptions};
/// let opts = MergeOptions::new(vec!["n1.rdb".into(), "n2.rdb".into()], "merged.rdb".into());
/// let code = match merge(&opts) {
///     Ok(r) => {
///         println!("{} keys, DBSIZE after import {}", r.output_keys(), r.expected_dbsize_after_import());
///         0
///     }
///     Err(e) => {
///         if let Some(r) = e.report() {
///             for c in &r.conflicts {
///                 println!("conflict in db {}: {}", c.db, String::from_utf8_lossy(&c.key));
///             }
///             #[cfg(feature = "json")] // the `json` feature
///             std::fs::write("report.json", r.to_json().to_string()).unwrap();
///         }
///         if matches!(e, MergeError::Refused { .. }) { 1 } else { 2 }
///     }
/// };
/// std::process::exit(code);
/// ```
pub fn merge(opts: &MergeOptions) -> Result<MergeReport, MergeError> {
    run(opts).map_err(|e| interrupted(opts, e))
}

/// Whatever an interrupted step failed with, the cause is the
/// interruption.
fn interrupted(opts: &MergeOptions, e: MergeError) -> MergeError {
    if !crate::interrupt::requested() {
        return e;
    }
    let mut report = e
        .report()
        .cloned()
        .unwrap_or_else(|| MergeReport::new(opts));
    report.status = Status::Interrupted;
    report.error = Some("interrupted".into());
    report.output = None;
    MergeError::Interrupted {
        report: Box::new(report),
    }
}

/// Splits the inputs into several outputs in one pass: every key goes to
/// the output `partition` names (keys it names none for are left out),
/// and each output is what [`merge`] would write with
/// [`MergeOptions::select`] taking that output's keys, from one reading
/// and one plan of the inputs instead of one per output.
///
/// `opts` applies as to a merge, except `opts.output`, which is not used:
/// `outputs[i]` receives the keys of part `i` (at most 65,536 outputs; a
/// partition naming a part with no output refuses the split before
/// anything is written). Every
/// output is checked and its temporary file created before the inputs
/// are read; each is then written, verified, fsynced and renamed into
/// place in turn. When one fails, the outputs before it are already in
/// place: write them in a [`crate::atomic::StagingDir`] and publish them
/// with [`crate::atomic::StagingDir::publish_all`], as `rdbkit split`
/// does, to publish all or none.
///
/// Returns one report per output. Each has what the whole split found
/// (inputs, target, problems, keys left out: those no output takes are in
/// [`MergeReport::dropped_unselected`]) and its own output's keys,
/// expires, duplicates and conflicts ([`MergeReport::out_counts`],
/// [`MergeReport::duplicate_keys`], [`MergeReport::conflicts_total`], the
/// listed ones among the first [`MAX_LISTED`] of the whole split).
/// [`MergeOptions::expect_total`] is checked against all outputs
/// together.
///
/// # Errors
/// As [`merge`]; the report of an error is the whole split's, or the
/// report of the output whose writing failed.
///
/// ```
/// use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
/// use rdbkit::merge::{split, KeyPartition, MergeOptions, Policy};
///
/// let dir = std::env::temp_dir().join(format!("rdbkit-split-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// for (name, keys) in [("n1.rdb", ["a1", "b1"]), ("n2.rdb", ["a2", "b1"])] {
///     let mut w = RdbWriter::new(Vec::new(), Target::redis(11)).unwrap();
///     w.select_db(0).unwrap();
///     w.resize_db(2, 0).unwrap();
///     for k in keys {
///         w.key(k.as_bytes(), &OwnedValue::String(b"v".to_vec()), KeyMeta::default()).unwrap();
///     }
///     std::fs::write(dir.join(name), w.finish().unwrap()).unwrap();
/// }
/// // Keys starting with 'a' to the first output, the others to the second.
/// let by_letter = KeyPartition::new(|_db, key| Some(usize::from(key[0] != b'a')));
/// let outs = [dir.join("a.rdb"), dir.join("b.rdb")];
/// let opts = MergeOptions::new(vec![dir.join("n1.rdb"), dir.join("n2.rdb")], Default::default());
/// let reports = split(&opts, &by_letter, &outs).unwrap();
/// assert_eq!(reports[0].output_keys(), 2);
/// // b1 is in both inputs, with the same value: written once.
/// assert_eq!((reports[1].output_keys(), reports[1].duplicate_keys), (1, 1));
/// assert_eq!(reports[0].duplicate_keys, 0);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn split(
    opts: &MergeOptions,
    partition: &KeyPartition,
    outputs: &[std::path::PathBuf],
) -> Result<Vec<MergeReport>, MergeError> {
    run_split(opts, partition, outputs).map_err(|e| interrupted(opts, e))
}

/// The options of output `i` of a split: the split's, writing `path`.
fn part_options(opts: &MergeOptions, path: &std::path::Path) -> MergeOptions {
    let mut o = opts.clone();
    o.output = path.to_path_buf();
    o
}

fn run_split(
    opts: &MergeOptions,
    partition: &KeyPartition,
    outputs: &[std::path::PathBuf],
) -> Result<Vec<MergeReport>, MergeError> {
    let mut report = MergeReport::new(opts);
    let names = input_names(opts);
    if outputs.is_empty() || outputs.len() > records::MAX_PARTS {
        return Err(io_error(
            Cause::InvalidOptions(format!(
                "a split writes 1 to {} outputs, not {}",
                records::MAX_PARTS,
                outputs.len()
            )),
            &report,
        ));
    }
    let part_opts: Vec<MergeOptions> = outputs.iter().map(|o| part_options(opts, o)).collect();
    for o in &part_opts {
        check_options(o, &names, true, &report)?;
    }
    let out_roles: Vec<String> = (1..=outputs.len()).map(|i| format!("output {i}")).collect();
    let outs: Vec<Role<'_>> = outputs
        .iter()
        .zip(&out_roles)
        .map(|(p, what)| Role { what, path: p })
        .collect();
    check_against_inputs(opts, &outs, &report)?;
    let mut prepared = Vec::with_capacity(outputs.len());
    for o in &part_opts {
        prepared.push(output::prepare(o, &mut report)?);
    }
    let progress = progress::Progress::new(opts.progress.clone());
    let files = open_inputs(opts, &names, &report)?;
    let sources = source::Source::files(&names, &files);
    let plan = plan::Plan::build(opts, Some(partition), sources, report, &progress)?;
    let plan::Plan {
        mut body,
        report,
        tallies,
    } = plan;
    let n = outputs.len();
    if let Some(&(p, _)) = body.out_counts.keys().find(|id| id.0 as usize >= n) {
        return Err(io_error(
            Cause::InvalidOptions(format!(
                "the partition sends keys to output {}, there are {n}",
                p as usize + 1
            )),
            &report,
        ));
    }
    let mut reports = Vec::with_capacity(n);
    for (i, (o, prep)) in part_opts.iter().zip(prepared).enumerate() {
        body.part = i as u32;
        let mut r = report.clone();
        r.options.output = o.output.clone();
        r.out_counts = body.dbs();
        r.expired_at_import = body.counts().map(|c| c.1.expired).sum();
        tallies.narrow(&report, body.part, &mut r);
        reports.push(output::write(o, &body, r, prep, &progress)?);
    }
    Ok(reports)
}

/// Checks the outputs against the inputs and each other (see
/// [`check_paths`]).
fn check_against_inputs(
    opts: &MergeOptions,
    outputs: &[Role<'_>],
    report: &MergeReport,
) -> Result<(), MergeError> {
    let roles: Vec<String> = (1..=opts.inputs.len())
        .map(|i| format!("input {i}"))
        .collect();
    let inputs: Vec<Role<'_>> = opts
        .inputs
        .iter()
        .zip(&roles)
        .map(|(p, what)| Role { what, path: p })
        .collect();
    check_paths(&inputs, outputs).map_err(|e| io_error(Cause::Paths(e), report))
}

/// The inputs' names in messages and the report.
fn input_names(opts: &MergeOptions) -> Vec<String> {
    opts.inputs
        .iter()
        .map(|p| crate::spill::display_name(p))
        .collect()
}

/// Opens every input (named `names` in messages).
fn open_inputs(
    opts: &MergeOptions,
    names: &[String],
    report: &MergeReport,
) -> Result<Vec<crate::Input>, MergeError> {
    let mut files = Vec::with_capacity(names.len());
    for (i, p) in opts.inputs.iter().enumerate() {
        match crate::Input::open(p) {
            Ok(f) => files.push(f),
            Err(e) => {
                let stop = plan::Stop::opening(i, &names[i], &e);
                return Err(stop.into_error(report.clone()));
            }
        }
    }
    crate::interrupt::test_pause("opened");
    Ok(files)
}

fn run(opts: &MergeOptions) -> Result<MergeReport, MergeError> {
    let mut report = MergeReport::new(opts);
    let names = input_names(opts);
    check_options(opts, &names, true, &report)?;
    let output = [Role {
        what: "the output",
        path: &opts.output,
    }];
    check_against_inputs(opts, &output, &report)?;
    let prepared = output::prepare(opts, &mut report)?;
    let progress = progress::Progress::new(opts.progress.clone());
    let files = open_inputs(opts, &names, &report)?;
    let sources = source::Source::files(&names, &files);
    let plan = plan::Plan::build(opts, None, sources, report, &progress)?;
    output::write(opts, &plan.body, plan.report, prepared, &progress)
}

/// Merges inputs held in memory into any writer: the same checks, plan,
/// conflict policies and report as [`merge`], without files.
///
/// `inputs` are (name, bytes) pairs; the names stand for the inputs in the
/// report and in errors. `opts.inputs` must be empty, and `opts.output`
/// and `opts.force` are not used (there is no output file); every other
/// option applies. With `opts.verify` (the default) the merged file is
/// assembled in memory and verified completely (every record decoded, the
/// CRC-64, the keys and expires per database against the plan) before its
/// first byte is written to `out`, so `out` never receives a file that
/// failed; that costs memory for the whole output. Without it the file is
/// streamed into `out` as it is made, and `out` may hold the start of a
/// file when an error is returned.
///
/// Returns the report and `out`.
///
/// # Errors
/// As [`merge`]: [`MergeError::Refused`] when the inputs cannot be merged
/// as asked (a corrupt input, unresolved conflicts, ...), and a usage or
/// I/O error when the options are inconsistent or `out` fails.
///
/// ```
/// use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
/// use rdbkit::merge::{merge_bytes, MergeOptions, Policy};
///
/// let node = |pairs: &[(&str, &str)]| {
///     let mut w = RdbWriter::new(Vec::new(), Target::redis(11)).unwrap();
///     w.select_db(0).unwrap();
///     w.resize_db(pairs.len() as u64, 0).unwrap();
///     for (k, v) in pairs {
///         let v = OwnedValue::String(v.as_bytes().to_vec());
///         w.key(k.as_bytes(), &v, KeyMeta::default()).unwrap();
///     }
///     w.finish().unwrap()
/// };
/// let n1 = node(&[("a", "1"), ("shared", "old")]);
/// let n2 = node(&[("b", "2"), ("shared", "new")]);
/// // The conflicting key takes node 2's value.
/// let opts = MergeOptions { policy: Policy::Last, ..Default::default() };
/// let (report, merged) =
///     merge_bytes(&[("node1", &n1[..]), ("node2", &n2[..])], Vec::new(), &opts).unwrap();
/// assert_eq!(report.output_keys(), 3);
/// assert_eq!(report.conflicts_total, 1);
/// // The merged file holds node 2's copy of the conflicting key.
/// use rdbkit::decode::{Decoder, Item, Options};
/// let mut shared = None;
/// for item in Decoder::new(&merged, Options::default()).unwrap() {
///     if let Item::Key(k) = item.unwrap() {
///         if &*k.key.to_bytes().unwrap() == b"shared" {
///             shared = Some(k.value.string().unwrap().to_bytes().unwrap().into_owned());
///         }
///     }
/// }
/// assert_eq!(shared.as_deref(), Some(&b"new"[..]));
/// ```
pub fn merge_bytes<W: std::io::Write>(
    inputs: &[(&str, &[u8])],
    out: W,
    opts: &MergeOptions,
) -> Result<(MergeReport, W), MergeError> {
    let report = MergeReport::new(opts);
    if !opts.inputs.is_empty() {
        return Err(io_error(
            Cause::InvalidOptions(
                "merge_bytes takes its inputs as arguments; the options' inputs must be empty"
                    .into(),
            ),
            &report,
        ));
    }
    let names: Vec<String> = inputs.iter().map(|(n, _)| n.to_string()).collect();
    check_options(opts, &names, false, &report)?;
    let progress = progress::Progress::new(opts.progress.clone());
    let sources = inputs
        .iter()
        .map(|(name, data)| source::Source::bytes(name, data))
        .collect();
    let plan = plan::Plan::build(opts, None, sources, report, &progress)?;
    output::write_to(opts, &plan.body, plan.report, out, &progress)
}

#[cfg(all(test, not(feature = "gzip")))]
mod tests {
    use super::*;

    /// Without the `gzip` feature a `.gz` output is an option error found
    /// before any input is opened (these do not exist) or anything is
    /// created.
    #[test]
    fn gz_output_without_the_feature_is_refused_first() {
        let dir = std::env::temp_dir().join(format!("rdbkit-nogz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("merged.rdb.gz");
        let opts = MergeOptions::new(vec![dir.join("n1.rdb"), dir.join("n2.rdb")], out.clone());
        let e = merge(&opts).unwrap_err();
        assert!(
            matches!(e.causes(), [Cause::InvalidOptions(m)] if m.contains("gzip support is not compiled in")),
            "{e}"
        );
        assert!(!e.is_refusal());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir(&dir).unwrap();
    }
}
