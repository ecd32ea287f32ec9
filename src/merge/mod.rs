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
mod output;
mod plan;
mod progress;
mod report;
mod reread;

use std::path::PathBuf;

pub use cause::Cause;
pub use plan::{Conflict, ConflictCopy, Duplicate, MAX_KEY_LEN, MAX_LISTED, MAX_VALUE_LEN};
pub use report::{InputSummary, MergeReport, OutputSummary, Status};

use crate::atomic::{check_paths, Role};
use crate::encode::{AllowLoss, Target};

/// How a key present in several inputs with different contents is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Refuse the merge and list the conflicts (default). Nothing is written.
    #[default]
    Error,
    /// Keep the copy from the earliest input.
    First,
    /// Keep the copy from the latest input.
    Last,
    /// Keep the copy on the node that owns the key by Dynomite token
    /// ([`dynomite::owner`]); every input needs a token
    /// ([`MergeOptions::tokens`]). A conflict whose owner holds no copy
    /// stays unresolved.
    Owner,
}

impl Policy {
    /// The command-line name (`error`, `first`, `last`, `owner`).
    ///
    /// ```
    /// assert_eq!(rdbkit::merge::Policy::Owner.name(), "owner");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Policy::Error => "error",
            Policy::First => "first",
            Policy::Last => "last",
            Policy::Owner => "owner",
        }
    }
}

/// Everything a merge needs to know. [`MergeOptions::new`] gives the
/// defaults; change the public fields as needed.
///
/// ```
/// use rdbkit::merge::{MergeOptions, Policy};
/// let mut o = MergeOptions::new(vec!["n1.rdb".into(), "n2.rdb".into()], "out.rdb.gz".into());
/// o.policy = Policy::Owner;
/// o.tokens = vec![Some(1073741823), Some(3221225471)];
/// o.drop_dynomite_metadata = true;
/// o.expect_keys = Some(vec![1278, 1327]);
/// assert!(o.verify && !o.force);
/// ```
#[derive(Debug, Clone)]
pub struct MergeOptions {
    /// Input files, in order (`first` / `last` refer to this order). An
    /// input may be gzip-compressed (recognised by its content) or a pipe;
    /// the path `-` is standard input (at most one input may be `-`; a
    /// file named `-` can be given as `./-`). See [`crate::Input::open`].
    pub inputs: Vec<PathBuf>,
    /// Output file; a name ending in `.gz` is written gzip-compressed.
    pub output: PathBuf,
    /// Target format. `None`: the newest input version when all inputs
    /// share a lineage (Redis `REDIS00xx` or Valkey `VALKEY0xx`; Valkey
    /// 7.2-8.1 files count as Valkey when every input was written by Valkey).
    pub target: Option<Target>,
    /// Conflict policy.
    pub policy: Policy,
    /// Dynomite token of each input (for [`Policy::Owner`]), by input index.
    pub tokens: Vec<Option<u32>>,
    /// Dynomite hash tag pair (e.g. `(b'{', b'}')`); `None` hashes whole keys.
    pub hash_tag: Option<(u8, u8)>,
    /// Move every database into db 0; the same key in two databases is then
    /// a duplicate or a conflict like any other.
    pub flatten_dbs: bool,
    /// Keep databases as they are (for an open-source target). Without this
    /// or `flatten_dbs`, keys in db > 0 refuse the merge.
    pub keep_dbs: bool,
    /// Drop Dynomite's read-repair metadata keys (`._add-set*`, `._rem-set*`).
    pub drop_dynomite_metadata: bool,
    /// Drop keys whose expiry is before this unix time (ms).
    pub drop_expired_at: Option<i64>,
    /// Expected key count of each input (all databases), in input order.
    pub expect_keys: Option<Vec<u64>>,
    /// Expected key count of the output.
    pub expect_total: Option<u64>,
    /// Losses allowed when re-encoding for an older target.
    pub allow: AllowLoss,
    /// Drop function libraries when the target has none (RDB < 10).
    pub drop_functions: bool,
    /// Replace an existing output.
    pub force: bool,
    /// Re-read and verify the output before publishing it.
    pub verify: bool,
    /// Reference time (unix ms) for "already expired" counts and the
    /// expected DBSIZE after import.
    pub import_at: i64,
    /// Show a progress bar on stderr (drawn only when stderr is a terminal).
    pub progress: bool,
}

impl MergeOptions {
    /// Options with defaults: conflicts are errors, db > 0 is refused,
    /// the output is verified, the import time is now, no progress bar.
    pub fn new(inputs: Vec<PathBuf>, output: PathBuf) -> Self {
        let n = inputs.len();
        MergeOptions {
            inputs,
            output,
            target: None,
            policy: Policy::Error,
            tokens: vec![None; n],
            hash_tag: None,
            flatten_dbs: false,
            keep_dbs: false,
            drop_dynomite_metadata: false,
            drop_expired_at: None,
            expect_keys: None,
            expect_total: None,
            allow: AllowLoss::default(),
            drop_functions: false,
            force: false,
            verify: true,
            import_at: crate::now_ms(),
            progress: false,
        }
    }
}

/// Why a merge did not produce an output. Either way no output and no
/// temporary file exist afterwards, and the report says what was found.
/// [`MergeError::causes`] gives the problems typed.
#[derive(Debug)]
pub enum MergeError {
    /// Refused for data reasons: a corrupt input, conflicts, a count that
    /// does not match, db > 0, a key or value over the limits, a record the
    /// target cannot hold (command-line exit code 1).
    Refused {
        /// What is wrong: the first causes, joined.
        reason: String,
        /// Every problem found (at least one; see [`Cause::is_refusal`]).
        causes: Vec<Cause>,
        /// The report so far (inputs, duplicates, conflicts).
        report: Box<MergeReport>,
    },
    /// Stopped by [`crate::interrupt::request`] (the command line's
    /// `SIGINT` / `SIGTERM`); the report's status is `interrupted`.
    Interrupted {
        /// The report so far.
        report: Box<MergeReport>,
    },
    /// Usage or I/O problem: bad options, an input that cannot be opened,
    /// an output that exists or is an input, a directory that cannot be
    /// written, a full disk (command-line exit code 2).
    Io {
        /// What is wrong.
        reason: String,
        /// The same, typed.
        cause: Box<Cause>,
        /// The report so far.
        report: Option<Box<MergeReport>>,
    },
}

impl std::fmt::Display for MergeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MergeError::Refused { reason, .. } => write!(f, "merge refused: {reason}"),
            MergeError::Io { reason, .. } => write!(f, "{reason}"),
            MergeError::Interrupted { .. } => {
                write!(f, "interrupted; no output and no temporary file left")
            }
        }
    }
}

impl std::error::Error for MergeError {}

/// Causes a refusal's reason names; the rest are counted.
const CAUSES_IN_REASON: usize = 5;

impl MergeError {
    /// The report gathered before the failure, if any.
    pub fn report(&self) -> Option<&MergeReport> {
        match self {
            MergeError::Refused { report, .. } => Some(report),
            MergeError::Io { report, .. } => report.as_deref(),
            MergeError::Interrupted { report } => Some(report),
        }
    }

    /// What went wrong, typed: every problem of a refusal (the report's
    /// [`problems`](MergeReport::problems) when there are any), the one
    /// usage or I/O problem, nothing for an interruption.
    ///
    /// ```
    /// use rdbkit::merge::{merge, Cause, MergeOptions};
    /// let e = merge(&MergeOptions::new(vec![], "out.rdb".into())).unwrap_err();
    /// assert!(matches!(e.causes(), [Cause::InvalidOptions(_)]));
    /// ```
    pub fn causes(&self) -> &[Cause] {
        match self {
            MergeError::Refused { causes, .. } => causes,
            MergeError::Io { cause, .. } => std::slice::from_ref(&**cause),
            MergeError::Interrupted { .. } => &[],
        }
    }

    /// Whether the merge was refused for data reasons (exit code 1) rather
    /// than a usage or I/O problem (exit code 2).
    ///
    /// ```
    /// use rdbkit::merge::{merge, MergeOptions};
    /// // No inputs: a usage error, not a refusal.
    /// let e = merge(&MergeOptions::new(vec![], "out.rdb".into())).unwrap_err();
    /// assert!(!e.is_refusal());
    /// assert_eq!(e.report().unwrap().status, "failed");
    /// ```
    pub fn is_refusal(&self) -> bool {
        matches!(self, MergeError::Refused { .. })
    }
}

/// The first five of `causes` joined with `"; "`, and how
/// many more there are: a refusal's reason (with `text` the library's
/// [`Display`](std::fmt::Display) or a caller's own wording).
///
/// ```
/// use rdbkit::merge::{join_causes, Cause};
/// let c: Vec<Cause> = (1..=7).map(|n| Cause::TotalMismatch { expected: n, got: 0 }).collect();
/// let s = join_causes(&c, |c| c.to_string());
/// assert!(s.starts_with("expected 1 keys in the output, the merge gives 0; expected 2 keys"));
/// assert!(s.ends_with("; and 2 more (see the report)"));
/// ```
pub fn join_causes(causes: &[Cause], text: impl Fn(&Cause) -> String) -> String {
    let shown: Vec<String> = causes.iter().take(CAUSES_IN_REASON).map(text).collect();
    let mut msg = shown.join("; ");
    if causes.len() > CAUSES_IN_REASON {
        msg.push_str(&format!(
            "; and {} more (see the report)",
            causes.len() - CAUSES_IN_REASON
        ));
    }
    msg
}

/// A refusal carrying `report`, with the reason recorded in it.
pub(crate) fn refused(cause: Cause, report: MergeReport) -> MergeError {
    refused_all(vec![cause], report)
}

/// A refusal for several causes (at least one).
fn refused_all(causes: Vec<Cause>, mut report: MergeReport) -> MergeError {
    let reason = join_causes(&causes, Cause::to_string);
    report.error = Some(reason.clone());
    report.status = Status::Refused;
    MergeError::Refused {
        reason,
        causes,
        report: Box::new(report),
    }
}

/// A refusal for the problems recorded in `report` (at least one).
pub(crate) fn refused_for_problems(report: MergeReport) -> MergeError {
    let causes = report.problems.clone();
    refused_all(causes, report)
}

/// A usage / I/O failure carrying `report`, with the reason recorded in it.
pub(crate) fn io_error(cause: Cause, report: &MergeReport) -> MergeError {
    let mut report = report.clone();
    let reason = cause.to_string();
    report.error = Some(reason.clone());
    report.status = Status::Failed;
    MergeError::Io {
        reason,
        cause: Box::new(cause),
        report: Some(Box::new(report)),
    }
}

fn check_options(opts: &MergeOptions, report: &MergeReport) -> Result<(), MergeError> {
    let n = opts.inputs.len();
    let usage = |m: String| Err(io_error(Cause::InvalidOptions(m), report));
    if n == 0 {
        return usage("no input files".into());
    }
    if opts.inputs.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        return usage("standard input ('-') can be only one of the inputs".into());
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
    if opts.policy == Policy::Owner {
        let missing: Vec<String> = (0..n)
            .filter(|&i| opts.tokens.get(i).copied().flatten().is_none())
            .map(|i| format!("{} ({})", i + 1, opts.inputs[i].display()))
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
///                 println!("conflict in db {}: {}", c.db, c.key);
///             }
///             std::fs::write("report.json", r.to_json().to_string()).unwrap();
///         }
///         if matches!(e, MergeError::Refused { .. }) { 1 } else { 2 }
///     }
/// };
/// std::process::exit(code);
/// ```
pub fn merge(opts: &MergeOptions) -> Result<MergeReport, MergeError> {
    run(opts).map_err(|e| {
        // Whatever an interrupted step failed with, the cause is the
        // interruption.
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
    })
}

fn run(opts: &MergeOptions) -> Result<MergeReport, MergeError> {
    let mut report = MergeReport::new(opts);
    check_options(opts, &report)?;
    let roles: Vec<String> = (1..=opts.inputs.len())
        .map(|i| format!("input {i}"))
        .collect();
    let inputs: Vec<Role<'_>> = opts
        .inputs
        .iter()
        .zip(&roles)
        .map(|(p, what)| Role { what, path: p })
        .collect();
    let output = [Role {
        what: "the output",
        path: &opts.output,
    }];
    check_paths(&inputs, &output).map_err(|e| io_error(Cause::Paths(e), &report))?;
    let prepared = output::prepare(opts, &mut report)?;
    let progress = progress::Progress::new(opts.progress);
    let plan = plan::Plan::build(opts, report, &progress)?;
    output::write(opts, plan, prepared, &progress)
}
