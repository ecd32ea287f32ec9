//! Why a merge did not produce an output, typed: [`Cause`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use super::Policy;
use crate::atomic::PathClash;
use crate::encode::Target;
use crate::{ErrorKind, Loss};

/// Why a merge did not produce an output, one problem each. A
/// [`MergeError`](super::MergeError) carries them
/// ([`MergeError::causes`](super::MergeError::causes)); the problems the
/// plan found (limits, conflicts, counts, databases, functions) are also
/// the report's [`problems`](super::MergeReport::problems).
///
/// Inputs are numbered from 0 here (as in [`Conflict`](super::Conflict));
/// the messages count from 1. The messages say what is wrong; for the
/// causes an option resolves, the variant's documentation names it.
///
/// ```
/// use rdbkit::merge::{Cause, MergeError};
/// # fn show(e: &MergeError) {
/// for c in e.causes() {
///     match c {
///         Cause::KeysOutsideDb0 { per_db } => {
///             eprintln!("{c}; set MergeOptions::flatten_dbs or keep_dbs ({per_db:?})")
///         }
///         Cause::OutputExists { .. } => eprintln!("{c}; set MergeOptions::force to replace it"),
///         other => eprintln!("{other}"),
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Cause {
    // Usage and I/O problems (`MergeError::Io`).
    /// The options do not fit together (no inputs, standard input twice,
    /// both `flatten_dbs` and `keep_dbs`, counts or tokens for another
    /// number of inputs, the owner policy without every token).
    InvalidOptions(String),
    /// Two inputs are the same file, or the output is an input.
    Paths(PathClash),
    /// The output exists and [`MergeOptions::force`](super::MergeOptions::force)
    /// is off.
    OutputExists {
        /// The output.
        path: PathBuf,
        /// It appeared while the merge ran (it was checked before).
        appeared_while_merging: bool,
    },
    /// The output cannot be created: its directory is missing or not
    /// writable, or it is not a regular file.
    CannotCreateOutput(String),
    /// An input cannot be opened.
    CannotOpenInput {
        /// Input index (0-based).
        input: usize,
        /// The input's name.
        path: String,
        /// The operating system's error.
        reason: String,
    },
    /// An input changed (truncated, resized, rewritten) while the merge
    /// read it; nothing read from it can be trusted.
    InputChanged {
        /// Input index (0-based).
        input: usize,
        /// The input's name.
        path: String,
        /// What changed.
        reason: String,
        /// Found after the output was written (its records were copied
        /// from the input), rather than while the input was verified.
        while_writing: bool,
    },
    /// Writing, syncing, compressing or renaming the output failed.
    WriteFailed(String),
    /// The written output does not read back as planned.
    VerificationFailed(String),

    // Refusals for data reasons (`MergeError::Refused`).
    /// An input is corrupt or not an RDB file.
    InvalidInput {
        /// Input index (0-based).
        input: usize,
        /// The input's name.
        path: String,
        /// What is wrong, with the byte offset and key.
        message: String,
    },
    /// The inputs mix Redis-format files and Valkey 80+ files, so there is
    /// no default target: set [`MergeOptions::target`](super::MergeOptions::target).
    MixedLineage {
        /// The newest `REDIS`-magic version among the inputs.
        redis: u32,
        /// The newest `VALKEY`-magic version among the inputs.
        valkey: u32,
        /// A Redis release and a Valkey release that would do.
        suggested: [&'static str; 2],
    },
    /// An input holds a different number of keys than expected
    /// ([`MergeOptions::expect_keys`](super::MergeOptions::expect_keys)).
    KeyCountMismatch {
        /// Input index (0-based).
        input: usize,
        /// The input's name.
        path: String,
        /// The expected count.
        expected: u64,
        /// The keys the input holds (all databases).
        counted: u64,
    },
    /// The output would hold a different number of keys than expected
    /// ([`MergeOptions::expect_total`](super::MergeOptions::expect_total)).
    TotalMismatch {
        /// The expected count.
        expected: u64,
        /// The keys the merge gives.
        got: u64,
    },
    /// Keys in databases other than 0, with neither
    /// [`MergeOptions::flatten_dbs`](super::MergeOptions::flatten_dbs) nor
    /// [`MergeOptions::keep_dbs`](super::MergeOptions::keep_dbs).
    KeysOutsideDb0 {
        /// Keys per database (all inputs).
        per_db: BTreeMap<u64, u64>,
    },
    /// Function libraries for a target without functions (before RDB 10),
    /// with [`MergeOptions::drop_functions`](super::MergeOptions::drop_functions)
    /// off: the [`Loss::Functions`](crate::Loss::Functions) is not allowed.
    FunctionsUnsupported {
        /// Libraries that would be dropped.
        count: usize,
        /// The target.
        target: Target,
    },
    /// Two inputs hold a function library of the same name with different
    /// code, and the policy is neither [`Policy::First`] nor [`Policy::Last`].
    FunctionConflict {
        /// The library's name.
        name: String,
        /// The two inputs (0-based).
        inputs: (usize, usize),
    },
    /// Two inputs hold different module aux data for the same module and
    /// the same place (before or after the keys).
    ModuleAuxConflict {
        /// The module's name.
        module: String,
        /// `1`: before the keys, `2`: after.
        when: u64,
        /// The two inputs (0-based).
        inputs: (usize, usize),
    },
    /// Keys whose copies differ between inputs, left unresolved by the
    /// [`MergeOptions::policy`](super::MergeOptions::policy) (the report
    /// lists them).
    Conflicts {
        /// Conflicts not resolved.
        unresolved: u64,
        /// The policy in force: [`Policy::Error`], or [`Policy::Owner`]
        /// when the owning node holds no copy.
        policy: Policy,
    },
    /// A key longer than [`MAX_KEY_LEN`](super::MAX_KEY_LEN).
    KeyTooLong {
        /// Input index (0-based).
        input: usize,
        /// The key (escaped, shortened to 64 bytes).
        key: String,
        /// Its length in bytes.
        len: usize,
    },
    /// A value larger than [`MAX_VALUE_LEN`](super::MAX_VALUE_LEN).
    ValueTooLarge {
        /// Input index (0-based).
        input: usize,
        /// The key (escaped, shortened to 64 bytes).
        key: String,
        /// The value's type name.
        kind: &'static str,
        /// Its size in bytes.
        len: usize,
    },
    /// A key with module key metadata (`KEY_META`, Redis 8.6+) for a
    /// target that cannot hold it.
    KeyMetaUnsupported {
        /// Input index (0-based).
        input: usize,
        /// The key (escaped, shortened to 64 bytes).
        key: String,
        /// The target.
        target: Target,
    },
    /// A record the target cannot read as it is, and that cannot be
    /// rewritten for it either (the error says why and names the key; an
    /// [`ErrorKind::LossNotAllowed`](crate::ErrorKind::LossNotAllowed) one
    /// needs [`MergeOptions::allow`](super::MergeOptions::allow)).
    Unencodable {
        /// Input index (0-based).
        input: usize,
        /// Why.
        error: crate::Error,
    },
    /// A pre-release (Redis 7.0-rc) function, which no released server
    /// loads.
    PreReleaseFunction {
        /// Input index (0-based).
        input: usize,
        /// The function's name.
        name: String,
    },
    /// A key present in several inputs could not be read again to compare
    /// its copies.
    DuplicateReread(crate::Error),
    /// Writing a record for the target failed for a reason of the data
    /// (not an I/O error).
    WriteRefused(crate::Error),
}

impl Cause {
    /// Whether this cause refuses the merge for data reasons
    /// ([`MergeError::Refused`](super::MergeError::Refused), exit code 1)
    /// rather than a usage or I/O problem (exit code 2).
    ///
    /// ```
    /// use rdbkit::merge::Cause;
    /// assert!(Cause::TotalMismatch { expected: 3, got: 2 }.is_refusal());
    /// assert!(!Cause::InvalidOptions("no input files".into()).is_refusal());
    /// ```
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            Cause::InvalidOptions(_)
                | Cause::Paths(_)
                | Cause::OutputExists { .. }
                | Cause::CannotCreateOutput(_)
                | Cause::CannotOpenInput { .. }
                | Cause::InputChanged { .. }
                | Cause::WriteFailed(_)
                | Cause::VerificationFailed(_)
        )
    }
}

impl Cause {
    /// The [`Loss`] this cause refused, if that is what it is: function
    /// libraries for a target without functions, or a record whose
    /// rewrite for the target would lose hash field TTLs or stream
    /// metadata ([`ErrorKind::LossNotAllowed`]).
    ///
    /// ```
    /// use rdbkit::encode::Target;
    /// use rdbkit::merge::Cause;
    /// use rdbkit::Loss;
    /// let c = Cause::FunctionsUnsupported { count: 2, target: Target::redis(9) };
    /// assert_eq!(c.loss(), Some(Loss::Functions));
    /// assert_eq!(Cause::TotalMismatch { expected: 3, got: 2 }.loss(), None);
    /// ```
    pub fn loss(&self) -> Option<Loss> {
        match self {
            Cause::FunctionsUnsupported { .. } => Some(Loss::Functions),
            Cause::Unencodable { error, .. } | Cause::WriteRefused(error) => match error.kind() {
                ErrorKind::LossNotAllowed { loss, .. } => Some(*loss),
                _ => None,
            },
            _ => None,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::InvalidOptions(m) | Cause::CannotCreateOutput(m) => f.write_str(m),
            Cause::WriteFailed(m) | Cause::VerificationFailed(m) => f.write_str(m),
            Cause::Paths(p) => p.fmt(f),
            Cause::OutputExists {
                path,
                appeared_while_merging,
            } => {
                write!(f, "output {} exists", path.display())?;
                if *appeared_while_merging {
                    f.write_str(" (it appeared while merging)")?;
                }
                Ok(())
            }
            Cause::CannotOpenInput {
                input,
                path,
                reason,
            } => write!(f, "cannot open input {} ({path}): {reason}", input + 1),
            Cause::InputChanged {
                input,
                path,
                reason,
                while_writing: false,
            } => write!(f, "input {} ({path}): {reason}", input + 1),
            Cause::InputChanged {
                input,
                path,
                reason,
                while_writing: true,
            } => write!(
                f,
                "input {} ({path}) changed during the merge: {reason}; nothing was written",
                input + 1
            ),
            Cause::InvalidInput {
                input,
                path,
                message,
            } => write!(f, "input {} ({path}) is invalid: {message}", input + 1),
            Cause::MixedLineage {
                redis,
                valkey,
                suggested: [r, v],
            } => write!(
                f,
                "the inputs mix Redis-format files (newest REDIS{redis:04}) and Valkey 80+ files (VALKEY{valkey:03}): there is no default output format ({r} or {v} would do)"
            ),
            Cause::KeyCountMismatch {
                input,
                path,
                expected,
                counted,
            } => write!(
                f,
                "input {} ({path}): expected {expected} keys, counted {counted}",
                input + 1
            ),
            Cause::TotalMismatch { expected, got } => write!(
                f,
                "expected {expected} keys in the output, the merge gives {got}"
            ),
            Cause::KeysOutsideDb0 { per_db } => {
                let list: Vec<String> = per_db
                    .iter()
                    .map(|(d, n)| format!("db {d}: {n} keys"))
                    .collect();
                write!(
                    f,
                    "the inputs hold keys in databases other than 0 ({}) and Redis Enterprise has one keyspace",
                    list.join(", ")
                )
            }
            Cause::FunctionsUnsupported { count, target } => write!(
                f,
                "{count} function libraries cannot be written to {target} (needs RDB 10+, Redis 7.0)"
            ),
            Cause::FunctionConflict { name, inputs } => write!(
                f,
                "function library '{name}' differs between input {} and input {} (same name, different code)",
                inputs.0 + 1,
                inputs.1 + 1
            ),
            Cause::ModuleAuxConflict {
                module,
                when,
                inputs,
            } => write!(
                f,
                "module aux data of {module} ({} keys) differs between input {} and input {}",
                if *when == 1 { "before" } else { "after" },
                inputs.0 + 1,
                inputs.1 + 1
            ),
            Cause::Conflicts {
                unresolved,
                policy: Policy::Owner,
            } => write!(
                f,
                "{unresolved} keys differ between inputs and their owning node (by token) holds no copy; see the conflict list"
            ),
            Cause::Conflicts { unresolved, .. } => write!(
                f,
                "{unresolved} keys differ between inputs (type, value or expiry); see the conflict list"
            ),
            Cause::KeyTooLong { input, key, len } => write!(
                f,
                "input {}: key '{key}' is {len} bytes long, over the 64 KiB limit",
                input + 1
            ),
            Cause::ValueTooLarge {
                input,
                key,
                kind,
                len,
            } => write!(
                f,
                "input {}: the {kind} value of key '{key}' is {len} bytes, over the 512 MiB limit",
                input + 1
            ),
            Cause::KeyMetaUnsupported { input, key, target } => write!(
                f,
                "input {}: key '{key}' has module key metadata (KEY_META, Redis 8.6+) that {target} cannot hold",
                input + 1
            ),
            Cause::Unencodable { input, error } => write!(f, "input {}: {error}", input + 1),
            Cause::PreReleaseFunction { input, name } => write!(
                f,
                "input {} holds a pre-release (Redis 7.0-rc) function '{name}' that no released server loads",
                input + 1
            ),
            Cause::DuplicateReread(e) => write!(f, "re-reading a duplicated key: {e}"),
            Cause::WriteRefused(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Cause {}
