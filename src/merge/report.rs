//! The merge report: per input, duplicates, conflicts, policy, output, and
//! the key count an import must show. Available whether or not the merge
//! wrote anything ([`super::MergeError::report`]).

use std::collections::{BTreeMap, BTreeSet};

#[cfg(feature = "json")]
use serde_json::{json, Value};

use super::cause::Cause;
use super::options::{MergeOptions, Policy};
use crate::encode::{Losses, Target};
use crate::format::Kind;
use crate::stats::FileStats;

/// Conflicts and duplicates listed in the report at most (all are counted).
pub const MAX_LISTED: usize = 1000;
/// One input's copy of a conflicting key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictCopy {
    /// Input index (0-based).
    pub input: usize,
    /// Value type.
    pub kind: Kind,
    /// Encoding name (`listpack`, `quicklist2`, ...).
    pub encoding: crate::format::Encoding,
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
    /// The key (bytes; in JSON a string when UTF-8, else `{"base64": ...}`).
    pub key: Vec<u8>,
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
    /// The key (bytes; in JSON a string when UTF-8, else `{"base64": ...}`).
    pub key: Vec<u8>,
    /// Inputs holding a copy (0-based, in input order); the first one's is kept.
    pub inputs: Vec<usize>,
}

/// One input: its path, size, and what decoding it found.
#[derive(Debug, Clone)]
pub struct InputSummary {
    /// Path as given.
    pub path: String,
    /// File size in bytes.
    pub size: u64,
    /// What decoding the whole file found (`None` when it is invalid).
    pub report: Option<FileStats>,
    /// Why the input is invalid (file offset and key included), if it is.
    pub error: Option<String>,
}

/// The written output.
#[derive(Debug, Clone)]
pub struct OutputSummary {
    /// Path.
    pub path: String,
    /// Format.
    pub target: Target,
    /// Bytes on disk.
    pub bytes: u64,
    /// Keys and expires per db, as re-read from the written file (or as
    /// planned with `verify` off).
    pub dbs: BTreeMap<u64, (u64, u64)>,
    /// Whether the file was re-read and verified.
    pub verified: bool,
    /// Gzip-compressed.
    pub gzip: bool,
}

/// How a merge ended.
///
/// ```
/// use rdbkit::merge::Status;
/// assert_eq!(Status::Interrupted.name(), "interrupted");
/// assert_eq!(Status::Written, "written");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// Under way.
    Running,
    /// The output was written, verified (unless asked not to) and published.
    Written,
    /// Refused for data reasons (command-line exit code 1).
    Refused,
    /// A usage or I/O problem (exit code 2).
    Failed,
    /// Stopped by [`crate::interrupt::request`] (e.g. Ctrl-C).
    Interrupted,
}

impl Status {
    /// The name in reports: `running`, `written`, `refused`, `failed`,
    /// `interrupted`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Written => "written",
            Status::Refused => "refused",
            Status::Failed => "failed",
            Status::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialEq<&str> for Status {
    fn eq(&self, other: &&str) -> bool {
        self.name() == *other
    }
}

/// Everything a merge found and did.
#[derive(Debug, Clone)]
pub struct MergeReport {
    /// Where the merge ended (or [`Status::Running`] while under way).
    pub status: Status,
    /// Why the merge did not complete, if it did not.
    pub error: Option<String>,
    /// Inputs, in order.
    pub inputs: Vec<InputSummary>,
    /// Output format.
    pub target: Option<Target>,
    /// Conflict policy.
    pub policy: Policy,
    /// The options the merge ran with, for the record (without their
    /// [`progress`](MergeOptions::progress) sink).
    pub options: MergeOptions,
    /// Keys present in several inputs with identical copies.
    pub duplicate_keys: u64,
    /// Copies dropped because another input held the same key with the same
    /// type, value and expiry.
    pub duplicates_identical: u64,
    /// Identical duplicates listed (at most [`super::MAX_LISTED`]).
    pub duplicates: Vec<Duplicate>,
    /// Keys whose copies differ.
    pub conflicts_total: u64,
    /// Conflicts the policy did not resolve.
    pub conflicts_unresolved: u64,
    /// Conflicts listed (at most [`super::MAX_LISTED`]).
    pub conflicts: Vec<Conflict>,
    /// Dynomite metadata keys dropped.
    pub dropped_dynomite_metadata: u64,
    /// Expired keys dropped.
    pub dropped_expired: u64,
    /// Keys [`super::MergeOptions::select`] left out.
    pub dropped_unselected: u64,
    /// Function libraries written.
    pub functions: Vec<String>,
    /// Identical library copies dropped.
    pub functions_deduplicated: u64,
    /// Library names whose code differed (resolved by the `first` / `last` policy).
    pub function_conflicts: Vec<String>,
    /// Libraries dropped (target without functions).
    pub functions_dropped: u64,
    /// Module aux records written: (module, encver, when: 1 before keys, 2 after).
    pub module_aux: Vec<(String, u32, u64)>,
    /// Identical module aux copies dropped.
    pub module_aux_deduplicated: u64,
    /// Module types used by values (the target needs these modules).
    pub modules: BTreeSet<String>,
    /// Planned output keys and expires per db.
    pub out_counts: BTreeMap<u64, (u64, u64)>,
    /// Output keys already expired at `import_at`.
    pub expired_at_import: u64,
    /// Reference time for expiry (unix ms).
    pub import_at: i64,
    /// Keys the plan found the target cannot read as they are.
    pub planned_reencoded: u64,
    /// Keys copied byte for byte.
    pub verbatim_keys: u64,
    /// Keys re-encoded for the target.
    pub reencoded_keys: u64,
    /// Losses allowed and incurred.
    pub losses: Losses,
    /// Why the merge was refused (at most [`super::MAX_LISTED`] per input
    /// for keys and values over the limits). In the JSON report, their
    /// messages.
    pub problems: Vec<Cause>,
    /// Problems found per key (over the limits, not representable), all counted.
    pub problems_total: u64,
    /// Wall time of each phase, in seconds.
    pub phases: Vec<(&'static str, f64)>,
    /// The output, when written.
    pub output: Option<OutputSummary>,
    /// Temporary files left beside the output by rdbkit processes that no
    /// longer run (killed, or the machine lost power), removed.
    pub stale_removed: Vec<String>,
}

impl MergeReport {
    pub(crate) fn new(opts: &MergeOptions) -> Self {
        let options = MergeOptions {
            progress: None,
            ..opts.clone()
        };
        MergeReport {
            status: Status::Running,
            error: None,
            stale_removed: Vec::new(),
            inputs: Vec::new(),
            target: opts.target,
            policy: opts.policy,
            options,
            duplicate_keys: 0,
            duplicates_identical: 0,
            duplicates: Vec::new(),
            conflicts_total: 0,
            conflicts_unresolved: 0,
            conflicts: Vec::new(),
            dropped_dynomite_metadata: 0,
            dropped_expired: 0,
            dropped_unselected: 0,
            functions: Vec::new(),
            functions_deduplicated: 0,
            function_conflicts: Vec::new(),
            functions_dropped: 0,
            module_aux: Vec::new(),
            module_aux_deduplicated: 0,
            modules: BTreeSet::new(),
            out_counts: BTreeMap::new(),
            expired_at_import: 0,
            import_at: opts.import_at,
            planned_reencoded: 0,
            verbatim_keys: 0,
            reencoded_keys: 0,
            losses: Losses::default(),
            problems: Vec::new(),
            problems_total: 0,
            phases: Vec::new(),
            output: None,
        }
    }

    /// The policy's command-line name.
    pub fn policy_name(&self) -> &'static str {
        self.policy.name()
    }

    /// Keys in the output (planned; equal to the written count once verified).
    pub fn output_keys(&self) -> u64 {
        self.out_counts.values().map(|c| c.0).sum()
    }

    /// Keys with an expiry in the output.
    pub fn output_expires(&self) -> u64 {
        self.out_counts.values().map(|c| c.1).sum()
    }

    /// The DBSIZE an import at `import_at` must show: output keys minus
    /// those already expired then (a loading master drops them).
    ///
    /// ```no_run
    /// use rdbkit::merge::{merge, MergeOptions};
    /// let mut o = MergeOptions::new(vec!["n1.rdb".into(), "n2.rdb".into()], "m.rdb".into());
    /// o.import_at = 4_102_444_800_000; // the planned import time (unix ms)
    /// let r = merge(&o).unwrap();
    /// assert_eq!(r.expected_dbsize_after_import(), r.output_keys() - r.expired_at_import);
    /// ```
    pub fn expected_dbsize_after_import(&self) -> u64 {
        self.output_keys().saturating_sub(self.expired_at_import)
    }
}

#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
impl MergeReport {
    /// The report as JSON (what `rdbkit merge --report FILE` writes): status
    /// and error; per input the path, size, version, producer, keys /
    /// expires / already expired per db, types, functions, modules and
    /// checksum (or the error); duplicates and conflicts (counts and up to
    /// [`super::MAX_LISTED`] listed, each copy with type, size and TTL); the
    /// policy and options; the output's path, format, keys and expires per
    /// db; `expected_dbsize_after_import` for `import_at_ms`.
    ///
    /// ```no_run
    /// use rdbkit::merge::{merge, MergeOptions};
    /// let o = MergeOptions::new(vec!["n1.rdb".into(), "n2.rdb".into()], "m.rdb".into());
    /// let report = match merge(&o) {
    ///     Ok(r) => r.to_json(),
    ///     Err(e) => e.report().map(|r| r.to_json()).unwrap_or_default(),
    /// };
    /// println!("{}", report["expected_dbsize_after_import"]);
    /// ```
    pub fn to_json(&self) -> Value {
        let inputs: Vec<Value> = self
            .inputs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut v = match &s.report {
                    Some(r) => r.to_json(),
                    None => json!({}),
                };
                v["input"] = json!(i + 1);
                v["path"] = json!(s.path);
                v["size"] = json!(s.size);
                v["decoded"] = json!(s.report.is_some());
                if let Some(e) = &s.error {
                    v["error"] = json!(e);
                }
                v
            })
            .collect();
        let import_at = self.import_at;
        let conflicts: Vec<Value> = self
            .conflicts
            .iter()
            .map(|c| {
                json!({"db": c.db, "key": crate::export::json::bytes_json(&c.key), "kept_input": c.kept.map(|k| k + 1),
                    "owner_input": c.owner.map(|k| k + 1),
                    "copies": c.copies.iter().map(|p| json!({
                        "input": p.input + 1, "path": self.inputs.get(p.input).map(|i| i.path.clone()),
                        "type": p.kind.name(), "encoding": p.encoding.name(), "bytes": p.bytes, "expire_ms": p.expire_ms,
                        "ttl_ms": p.expire_ms.map(|e| e - import_at),
                    })).collect::<Vec<_>>()})
            })
            .collect();
        let duplicates: Vec<Value> = self
            .duplicates
            .iter()
            .map(|d| {
                json!({"db": d.db, "key": crate::export::json::bytes_json(&d.key),
                       "inputs": d.inputs.iter().map(|i| i + 1).collect::<Vec<_>>()})
            })
            .collect();
        let dbs = |m: &BTreeMap<u64, (u64, u64)>| -> Value {
            m.iter()
                .map(|(d, (k, e))| (d.to_string(), json!({"keys": k, "expires": e})))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        json!({
            "status": self.status.name(),
            "error": self.error,
            "stale_temporaries_removed": self.stale_removed,
            "inputs": inputs,
            "target": self.target.map(|t| t.to_string()),
            "policy": self.policy_name(),
            "options": options_json(&self.options),
            "duplicates": {"keys": self.duplicate_keys, "identical_copies_dropped": self.duplicates_identical,
                           "listed": duplicates.len(), "list": duplicates},
            "conflicts": {"count": self.conflicts_total, "unresolved": self.conflicts_unresolved,
                          "listed": conflicts.len(), "list": conflicts},
            "dropped": {"dynomite_metadata": self.dropped_dynomite_metadata, "expired": self.dropped_expired,
                        "unselected": self.dropped_unselected},
            "functions": {"written": self.functions, "identical_dropped": self.functions_deduplicated,
                          "conflicting": self.function_conflicts, "dropped": self.functions_dropped},
            "module_aux": {"written": self.module_aux.iter().map(|(m, e, w)| json!({
                              "module": m, "encver": e, "when": if *w == 1 {"before"} else {"after"}})).collect::<Vec<_>>(),
                           "identical_dropped": self.module_aux_deduplicated},
            "modules_required": self.modules,
            "planned": {"keys": self.output_keys(), "expires": self.output_expires(), "dbs": dbs(&self.out_counts)},
            "keys_verbatim": self.verbatim_keys,
            "keys_reencoded": self.reencoded_keys,
            "losses": {"field_ttls": self.losses.field_ttls, "stream_metadata": self.losses.stream_metadata},
            "problems": self.problems.iter().map(Cause::to_string).collect::<Vec<_>>(),
            "problems_total": self.problems_total,
            "phases_s": self.phases.iter().map(|(p, s)| json!({"phase": p, "seconds": s})).collect::<Vec<_>>(),
            "output": self.output.as_ref().map(|o| json!({
                "path": o.path, "format": o.target.to_string(), "version": o.target.version,
                "bytes": o.bytes, "gzip": o.gzip,
                "verified": o.verified, "keys": o.dbs.values().map(|c| c.0).sum::<u64>(),
                "expires": o.dbs.values().map(|c| c.1).sum::<u64>(), "dbs": dbs(&o.dbs)})),
            "import_at_ms": self.import_at,
            "already_expired_at_import": self.expired_at_import,
            "expected_dbsize_after_import": self.expected_dbsize_after_import(),
        })
    }
}

/// The options that shape the result, in the JSON report.
#[cfg(feature = "json")]
fn options_json(opts: &MergeOptions) -> Value {
    json!({
        "flatten_dbs": opts.flatten_dbs,
        "keep_dbs": opts.keep_dbs,
        "drop_dynomite_metadata": opts.drop_dynomite_metadata,
        "drop_expired_at_ms": opts.drop_expired_at,
        "expect_keys": opts.expect_keys,
        "expect_total": opts.expect_total,
        "tokens": opts.tokens,
        "hash_tag": opts.hash_tag.map(|(a, b)| String::from_utf8_lossy(&[a, b]).into_owned()),
        "allow_field_ttl_loss": opts.allow.field_ttls,
        "allow_stream_metadata_loss": opts.allow.stream_metadata,
        "drop_functions": opts.drop_functions,
        "force": opts.force,
        "verify": opts.verify,
    })
}
