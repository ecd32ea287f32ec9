//! Why a merge did not produce an output: [`MergeError`], and the
//! constructors the merge's steps use.

use super::cause::Cause;
use super::report::{MergeReport, Status};

/// Why a merge did not produce an output. Either way no output and no
/// temporary file exist afterwards, and the report says what was found.
/// [`MergeError::causes`] gives the problems typed.
#[derive(Debug)]
#[non_exhaustive]
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
