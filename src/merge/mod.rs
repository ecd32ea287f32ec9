//! Merging per-node dumps into one file: counting, conflict detection and
//! resolution, function and module-aux de-duplication, writing the output
//! atomically, verifying it, and reporting.
//!
//! ```no_run
//! use rdbkit::merge::{merge, MergeOptions, Policy};
//! let mut opts = MergeOptions::new(vec!["dump1.rdb".into(), "dump2.rdb".into()], "merged.rdb".into());
//! opts.policy = Policy::Error;
//! let report = merge(&opts).unwrap();
//! println!("{} keys", report.output_keys());
//! ```

pub mod dynomite;
mod output;
mod plan;
mod report;

use std::path::PathBuf;

pub use plan::{Conflict, ConflictCopy};
pub use report::{InputSummary, MergeReport};

use crate::encode::{AllowLoss, Target};

/// How a key present in several inputs with different contents is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Refuse the merge and list the conflicts (default).
    #[default]
    Error,
    /// Keep the copy from the earliest input.
    First,
    /// Keep the copy from the latest input.
    Last,
    /// Keep the copy on the node that owns the key by Dynomite token.
    Owner,
}

/// Everything a merge needs to know.
#[derive(Debug, Clone)]
pub struct MergeOptions {
    /// Input files, in order.
    pub inputs: Vec<PathBuf>,
    /// Output file (`.gz` for gzip).
    pub output: PathBuf,
    /// Target format (default: the newest input's version when all inputs share a lineage).
    pub target: Option<Target>,
    /// Conflict policy.
    pub policy: Policy,
    /// Dynomite token of each input (for `Policy::Owner`), by input index.
    pub tokens: Vec<Option<u32>>,
    /// Hash tag pair for Dynomite hashing (e.g. `{` `}`).
    pub hash_tag: Option<(u8, u8)>,
    /// Move every db into db 0.
    pub flatten_dbs: bool,
    /// Keep dbs as they are (open-source targets).
    pub keep_dbs: bool,
    /// Drop Dynomite's read-repair metadata keys.
    pub drop_dynomite_metadata: bool,
    /// Drop keys already expired at this unix ms.
    pub drop_expired_at: Option<i64>,
    /// Expected total keys per input.
    pub expect_keys: Option<Vec<u64>>,
    /// Expected total keys of the output.
    pub expect_total: Option<u64>,
    /// Allowed losses when re-encoding for an older target.
    pub allow: AllowLoss,
    /// Drop function libraries when the target has none.
    pub drop_functions: bool,
    /// Overwrite an existing output.
    pub force: bool,
    /// Re-read and verify the output before publishing it.
    pub verify: bool,
    /// Reference time for "already expired" in the report (unix ms).
    pub import_at: i64,
    /// Show a progress bar on stderr.
    pub progress: bool,
}

impl MergeOptions {
    /// Options with defaults: conflicts are errors, dbs > 0 are refused,
    /// output verified, import time now.
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
            import_at: crate::inspect::now_ms(),
            progress: false,
        }
    }
}

/// Why a merge did not produce an output.
#[derive(Debug)]
pub enum MergeError {
    /// Refused for data reasons (corrupt input, conflicts, count mismatch,
    /// db > 0, unsupported target). The report says what was found.
    Refused {
        /// What is wrong.
        reason: String,
        /// The report so far (inputs, conflicts).
        report: Box<MergeReport>,
    },
    /// Usage or I/O problem (cannot open or write, output exists).
    Io {
        /// What is wrong.
        reason: String,
        /// The report so far, if any.
        report: Option<Box<MergeReport>>,
    },
}

impl std::fmt::Display for MergeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MergeError::Refused { reason, .. } => write!(f, "merge refused: {reason}"),
            MergeError::Io { reason, .. } => write!(f, "{reason}"),
        }
    }
}

impl std::error::Error for MergeError {}

impl MergeError {
    /// The report gathered before the failure, if any.
    pub fn report(&self) -> Option<&MergeReport> {
        match self {
            MergeError::Refused { report, .. } => Some(report),
            MergeError::Io { report, .. } => report.as_deref(),
        }
    }
}

/// Runs a merge: decode and verify every input, plan, write, verify, report.
pub fn merge(opts: &MergeOptions) -> Result<MergeReport, MergeError> {
    let plan = plan::Plan::build(opts)?;
    output::write(opts, plan)
}
