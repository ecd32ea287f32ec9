//! The merge report: per input, conflicts, policy, output, and the key
//! count an import must show.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::plan::Conflict;
use super::{MergeOptions, Policy};
use crate::encode::{Losses, Target};
use crate::inspect::Report;

/// One input: its path and what inspecting it found.
#[derive(Debug, Clone)]
pub struct InputSummary {
    /// Path as given.
    pub path: String,
    /// Inspection report.
    pub report: Report,
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
    /// Keys and expires per db, as re-read from the written file (or as planned with `--no-verify`).
    pub dbs: BTreeMap<u64, (u64, u64)>,
    /// Whether the file was re-read and verified.
    pub verified: bool,
    /// Gzip-compressed.
    pub gzip: bool,
}

/// Everything a merge found and did.
#[derive(Debug, Clone)]
pub struct MergeReport {
    /// Inputs, in order.
    pub inputs: Vec<InputSummary>,
    /// Output format.
    pub target: Option<Target>,
    /// Conflict policy.
    pub policy: Policy,
    /// Copies dropped because another input held the same key with the same value and expiry.
    pub duplicates_identical: u64,
    /// Keys whose copies differ.
    pub conflicts_total: u64,
    /// Conflicts the policy could not resolve.
    pub conflicts_unresolved: u64,
    /// Conflicts listed (at most 1000).
    pub conflicts: Vec<Conflict>,
    /// Dynomite metadata keys dropped.
    pub dropped_dynomite_metadata: u64,
    /// Expired keys dropped.
    pub dropped_expired: u64,
    /// Function libraries written.
    pub functions: Vec<String>,
    /// Identical library copies dropped.
    pub functions_deduplicated: u64,
    /// Library names whose code differed (resolved by policy).
    pub function_conflicts: Vec<String>,
    /// Libraries dropped (target without functions).
    pub functions_dropped: u64,
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
    /// Keys copied verbatim.
    pub verbatim_keys: u64,
    /// Keys re-encoded for the target.
    pub reencoded_keys: u64,
    /// Losses allowed and incurred.
    pub losses: Losses,
    /// Why the merge was refused, if it was.
    pub problems: Vec<String>,
    /// The output, when written.
    pub output: Option<OutputSummary>,
}

impl MergeReport {
    pub(crate) fn new(opts: &MergeOptions) -> Self {
        MergeReport {
            inputs: Vec::new(),
            target: opts.target,
            policy: opts.policy,
            duplicates_identical: 0,
            conflicts_total: 0,
            conflicts_unresolved: 0,
            conflicts: Vec::new(),
            dropped_dynomite_metadata: 0,
            dropped_expired: 0,
            functions: Vec::new(),
            functions_deduplicated: 0,
            function_conflicts: Vec::new(),
            functions_dropped: 0,
            module_aux_deduplicated: 0,
            modules: BTreeSet::new(),
            out_counts: BTreeMap::new(),
            expired_at_import: 0,
            import_at: opts.import_at,
            verbatim_keys: 0,
            reencoded_keys: 0,
            losses: Losses::default(),
            problems: Vec::new(),
            output: None,
        }
    }

    /// The policy's command-line name.
    pub fn policy_name(&self) -> &'static str {
        match self.policy {
            Policy::Error => "error",
            Policy::First => "first",
            Policy::Last => "last",
            Policy::Owner => "owner",
        }
    }

    /// Keys in the output.
    pub fn output_keys(&self) -> u64 {
        self.out_counts.values().map(|c| c.0).sum()
    }

    /// The DBSIZE an import at `import_at` must show: output keys minus
    /// those already expired then.
    pub fn expected_dbsize_after_import(&self) -> u64 {
        self.output_keys() - self.expired_at_import
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        let inputs: Vec<Value> = self
            .inputs
            .iter()
            .map(|i| {
                let mut v = i.report.to_json();
                v["path"] = json!(i.path);
                v
            })
            .collect();
        let conflicts: Vec<Value> = self
            .conflicts
            .iter()
            .map(|c| {
                json!({"db": c.db, "key": c.key, "kept_input": c.kept.map(|k| k + 1),
                    "copies": c.copies.iter().map(|p| json!({
                        "input": p.input + 1, "path": self.inputs.get(p.input).map(|i| i.path.clone()),
                        "type": p.kind, "encoding": p.encoding, "bytes": p.bytes, "expire_ms": p.expire_ms,
                    })).collect::<Vec<_>>()})
            })
            .collect();
        let dbs = |m: &BTreeMap<u64, (u64, u64)>| -> Value {
            m.iter()
                .map(|(d, (k, e))| (d.to_string(), json!({"keys": k, "expires": e})))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        json!({
            "inputs": inputs,
            "target": self.target.map(|t| t.to_string()),
            "policy": self.policy_name(),
            "duplicates": {"identical_dropped": self.duplicates_identical},
            "conflicts": {"count": self.conflicts_total, "unresolved": self.conflicts_unresolved,
                          "listed": conflicts.len(), "list": conflicts},
            "dropped": {"dynomite_metadata": self.dropped_dynomite_metadata, "expired": self.dropped_expired},
            "functions": {"written": self.functions, "identical_dropped": self.functions_deduplicated,
                          "conflicting": self.function_conflicts, "dropped": self.functions_dropped},
            "module_aux": {"identical_dropped": self.module_aux_deduplicated},
            "modules_required": self.modules,
            "planned": {"keys": self.output_keys(), "dbs": dbs(&self.out_counts)},
            "keys_verbatim": self.verbatim_keys,
            "keys_reencoded": self.reencoded_keys,
            "losses": {"field_ttls": self.losses.field_ttls, "stream_metadata": self.losses.stream_metadata},
            "problems": self.problems,
            "output": self.output.as_ref().map(|o| json!({
                "path": o.path, "format": o.target.to_string(), "bytes": o.bytes, "gzip": o.gzip,
                "verified": o.verified, "keys": o.dbs.values().map(|c| c.0).sum::<u64>(),
                "expires": o.dbs.values().map(|c| c.1).sum::<u64>(), "dbs": dbs(&o.dbs)})),
            "import_at_ms": self.import_at,
            "expected_dbsize_after_import": self.expected_dbsize_after_import(),
        })
    }
}
