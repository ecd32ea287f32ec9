//! `rdbkit merge` and `rdbkit convert` (a one-input merge that keeps dbs).

use std::io::IsTerminal;
use std::path::PathBuf;

use rdbkit::atomic::{check_paths, AtomicFile, CreateError, Role};
use rdbkit::encode::{AllowLoss, Target};
use rdbkit::merge::{join_causes, merge, Cause, MergeError, MergeOptions, MergeReport, Policy};
use rdbkit::Loss;

use super::output::errln;
use super::progress::Bar;
use super::{describe, loss_hint, Failure, EXIT_DATA, EXIT_USAGE, FORCE_HINT};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ConflictPolicy {
    /// Refuse the merge and list the conflicting keys.
    Error,
    /// Keep the copy from the earliest input.
    First,
    /// Keep the copy from the latest input.
    Last,
    /// Keep the copy on the node that owns the key by Dynomite token (needs --token for every input).
    Owner,
}

/// Options shared by merge and convert.
#[derive(clap::Args, Debug)]
pub struct Common {
    /// Output file; a name ending in .gz is written gzip-compressed.
    #[arg(short, long)]
    output: PathBuf,
    /// Target format: an RDB version (e.g. 11) or a server (redis-7.2, valkey-9.1, redis-enterprise-7.4, ...).
    #[arg(long)]
    target: Option<String>,
    /// Replace OUT if it exists.
    #[arg(long)]
    force: bool,
    /// Skip re-reading and verifying the written file.
    #[arg(long)]
    no_verify: bool,
    /// Allow dropping hash field TTLs for a target below RDB 12.
    #[arg(long)]
    drop_field_ttls: bool,
    /// Allow dropping stream metadata the target's stream type cannot carry.
    #[arg(long)]
    drop_stream_metadata: bool,
    /// Allow dropping function libraries for a target below RDB 10.
    #[arg(long)]
    drop_functions: bool,
    /// Write a JSON report to this file (also when the job is refused or interrupted); an
    /// existing file is replaced only with --force.
    #[arg(long)]
    report: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
#[command(after_long_help = "\
Every input is decoded completely and its checksum verified before anything is written; \
the output is written to a temporary file beside OUT, fsynced, re-read and verified, then \
renamed into place. Without --target the output has the newest input's format when all \
inputs share a lineage (Redis files and Valkey 9+ files together need --target).

Exit codes: 0 written and verified; 1 refused for data reasons (corrupt input, conflicts, \
count mismatch, db > 0, limits), nothing written; 2 usage or I/O error (including an \
existing OUT without --force), nothing written.")]
pub struct MergeArgs {
    /// Input dumps, one per node, in order (may be gzip-compressed; - reads standard input, once).
    #[arg(required = true, num_args = 2..)]
    inputs: Vec<PathBuf>,
    #[command(flatten)]
    common: Common,
    /// Expected key count of each input (comma-separated, in input order; keys of all dbs,
    /// e.g. DBSIZE per node). A mismatch refuses the merge (exit 1).
    #[arg(long, value_delimiter = ',')]
    expect_keys: Option<Vec<u64>>,
    /// Expected key count of the output.
    #[arg(long)]
    expect_total: Option<u64>,
    /// What to do with keys present in several inputs with different values.
    #[arg(long, value_enum, default_value = "error")]
    on_conflict: ConflictPolicy,
    /// Dynomite token of an input, as FILE=TOKEN (repeat for every input; for --on-conflict owner).
    #[arg(long = "token", value_name = "FILE=TOKEN")]
    tokens: Vec<String>,
    /// Dynomite hash tag pair, e.g. "{}".
    #[arg(long)]
    hash_tag: Option<String>,
    /// Move keys of every db into db 0 (cross-db collisions are conflicts).
    #[arg(long, conflicts_with = "keep_dbs")]
    flatten_dbs: bool,
    /// Keep dbs as they are (for an open-source target).
    #[arg(long)]
    keep_dbs: bool,
    /// Drop Dynomite read-repair metadata keys (._add-set*, ._rem-set*).
    #[arg(long)]
    drop_dynomite_metadata: bool,
    /// Drop keys already expired at UNIX_MS (without a value: now).
    #[arg(long, value_name = "UNIX_MS", num_args = 0..=1, default_missing_value = "now")]
    drop_expired: Option<String>,
    /// Time of the import (unix ms): keys expired by then are counted as already expired
    /// and left out of the report's expected_dbsize_after_import (default: now).
    #[arg(long, value_name = "UNIX_MS")]
    import_at: Option<i64>,
    /// Show a progress bar on stderr (the default when stderr is a terminal).
    #[arg(long, overrides_with = "no_progress")]
    progress: bool,
    /// Never show a progress bar.
    #[arg(long)]
    no_progress: bool,
}

#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    /// Input dump (may be gzip-compressed; - reads standard input).
    input: PathBuf,
    #[command(flatten)]
    common: Common,
}

fn parse_time(s: &str) -> Result<i64, Failure> {
    if s == "now" {
        return Ok(rdbkit::now_ms());
    }
    s.parse()
        .map_err(|_| Failure::usage(format!("'{s}' is not a unix time in milliseconds")))
}

fn base_options(inputs: Vec<PathBuf>, c: &Common) -> Result<MergeOptions, Failure> {
    let mut o = MergeOptions::new(inputs, c.output.clone());
    if let Some(t) = &c.target {
        o.target = Some(Target::parse(t).map_err(Failure::usage)?);
    }
    o.force = c.force;
    o.verify = !c.no_verify;
    o.allow = AllowLoss {
        field_ttls: c.drop_field_ttls,
        stream_metadata: c.drop_stream_metadata,
    };
    o.drop_functions = c.drop_functions;
    Ok(o)
}

/// Checks every path the job writes against the inputs and each other, and
/// creates the report's temporary file, before any work starts: a report
/// that would replace an input or the output, an existing report without
/// --force, or an unwritable report directory fail at once (exit 2).
fn prepare_report(
    inputs: &[PathBuf],
    c: &Common,
    force: bool,
) -> Result<Option<AtomicFile>, Failure> {
    let names: Vec<String> = if inputs.len() == 1 {
        vec!["the input".into()]
    } else {
        (1..=inputs.len()).map(|i| format!("input {i}")).collect()
    };
    let ins: Vec<Role<'_>> = inputs
        .iter()
        .zip(&names)
        .map(|(p, what)| Role { what, path: p })
        .collect();
    let mut outs = vec![Role {
        what: "the output (-o)",
        path: &c.output,
    }];
    if let Some(r) = &c.report {
        outs.push(Role {
            what: "the report (--report)",
            path: r,
        });
    }
    check_paths(&ins, &outs).map_err(Failure::usage)?;
    let Some(r) = &c.report else { return Ok(None) };
    let keep: Vec<&std::path::Path> = inputs.iter().map(PathBuf::as_path).collect();
    AtomicFile::create_keeping(r, force, &keep)
        .map(Some)
        .map_err(|e| match e {
            CreateError::Exists(_) => Failure::usage(format!("report: {e}; {FORCE_HINT}")),
            e => Failure::usage(format!("report: {e}")),
        })
}

/// A merge's cause as the command line words it: the library's message
/// and, for a cause an option resolves, the flag.
fn cause_text(c: &Cause) -> String {
    match c {
        Cause::OutputExists { .. } => format!("{c}; {FORCE_HINT}"),
        Cause::MixedLineage {
            redis,
            valkey,
            suggested: [r, v],
            ..
        } => format!(
            "the inputs mix Redis-format files (newest REDIS{redis:04}) and Valkey 80+ files (VALKEY{valkey:03}); choose the output format with --target (e.g. {r} or {v})"
        ),
        Cause::KeysOutsideDb0 { .. } => format!(
            "{c}; use --flatten-dbs to move them into db 0 (the same key in two databases is then a conflict) or --keep-dbs for an open-source target"
        ),
        Cause::FunctionsUnsupported { .. } => format!("{c}; {}", loss_hint(Loss::Functions)),
        Cause::Unencodable { input, error } => format!("input {}: {}", input + 1, describe(error)),
        Cause::WriteRefused(error) => describe(error),
        Cause::Conflicts {
            policy: Policy::Error,
            ..
        } => format!("{c}, or choose a policy with --on-conflict first|last|owner"),
        _ => c.to_string(),
    }
}

/// A failed merge's message: its causes with the flags that resolve them.
pub(super) fn failure_text(e: &MergeError) -> String {
    match e {
        MergeError::Refused { causes, .. } => {
            format!("merge refused: {}", join_causes(causes, cause_text))
        }
        MergeError::Io { cause, .. } => cause_text(cause),
        _ => e.to_string(),
    }
}

/// Writes the report through its temporary file and moves it into place.
fn write_report(file: Option<AtomicFile>, r: Option<&MergeReport>) -> Result<(), Failure> {
    let (Some(mut f), Some(r)) = (file, r) else {
        return Ok(());
    };
    let text = serde_json::to_string_pretty(&r.to_json()).unwrap_or_default() + "\n";
    let dest = f.dest().display().to_string();
    std::io::Write::write_all(f.file(), text.as_bytes())
        .and_then(|()| f.commit())
        .map_err(|e| Failure::usage(format!("cannot write report {dest}: {e}")))
}

fn dbs_text(dbs: &std::collections::BTreeMap<u64, (u64, u64)>) -> String {
    dbs.iter()
        .map(|(db, (k, e))| format!("db {db}: {k} keys, {e} expires"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The summary, on stderr (write errors ignored: the output file is what counts).
fn summary(r: &MergeReport) {
    for p in &r.stale_removed {
        errln!("removed stale temporary file {p} (left by an rdbkit process that no longer runs)");
    }
    for (i, s) in r.inputs.iter().enumerate() {
        match &s.report {
            Some(rep) => {
                errln!(
                    "input {}: {} — {} bytes, RDB {} ({}), {} keys, {} expires, {} already expired, checksum {}",
                    i + 1,
                    s.path,
                    s.size,
                    rep.header.version,
                    rep.producer().unwrap_or_else(|| "producer unknown".into()),
                    rep.keys(),
                    rep.expires(),
                    rep.expired(),
                    rep.checksum
                );
                for (db, d) in &rep.dbs {
                    if d.keys > 0 {
                        errln!(
                            "  db {db}: {} keys, {} expires, {} already expired",
                            d.keys,
                            d.expires,
                            d.expired
                        );
                    }
                }
                for w in rep.warnings.lines() {
                    errln!("  warning: {w}");
                }
            }
            None => match &s.error {
                Some(e) => errln!(
                    "input {}: {} — {} bytes, INVALID: {e}",
                    i + 1,
                    s.path,
                    s.size
                ),
                None => errln!(
                    "input {}: {} — {} bytes, not decoded (the merge stopped before)",
                    i + 1,
                    s.path,
                    s.size
                ),
            },
        }
    }
    if r.duplicates_identical > 0 {
        errln!(
            "identical duplicates: {} keys, {} copies dropped",
            r.duplicate_keys,
            r.duplicates_identical
        );
    }
    if r.conflicts_total > 0 {
        errln!(
            "conflicting keys: {} ({} unresolved, policy {})",
            r.conflicts_total,
            r.conflicts_unresolved,
            r.policy_name()
        );
        for c in r.conflicts.iter().take(20) {
            let copies: Vec<String> = c
                .copies
                .iter()
                .map(|p| {
                    format!(
                        "input {}: {} ({}) {} bytes, {}",
                        p.input + 1,
                        p.kind.name(),
                        p.encoding,
                        p.bytes,
                        p.expire_ms.map_or("no TTL".to_string(), |e| format!(
                            "TTL {} ms",
                            e - r.import_at
                        ))
                    )
                })
                .collect();
            errln!(
                "  db {} '{}': {}{}",
                c.db,
                rdbkit::format::escape_bytes(&c.key),
                copies.join("; "),
                c.kept
                    .map(|k| format!(" -> kept input {}", k + 1))
                    .unwrap_or_default()
            );
        }
        if r.conflicts_total > 20 {
            errln!("  ... {} more (see --report)", r.conflicts_total - 20);
        }
    }
    if r.dropped_dynomite_metadata > 0 {
        errln!(
            "Dynomite metadata keys dropped: {}",
            r.dropped_dynomite_metadata
        );
    }
    if r.dropped_expired > 0 {
        errln!("expired keys dropped: {}", r.dropped_expired);
    }
    if !r.functions.is_empty() || r.functions_deduplicated > 0 {
        errln!(
            "functions: {} ({} identical copies dropped)",
            r.functions.join(", "),
            r.functions_deduplicated
        );
    }
    if !r.module_aux.is_empty() {
        let m: Vec<String> = r
            .module_aux
            .iter()
            .map(|(m, e, w)| format!("{m} v{e} {}", if *w == 1 { "before" } else { "after" }))
            .collect();
        errln!(
            "module aux data: {} ({} identical copies dropped)",
            m.join(", "),
            r.module_aux_deduplicated
        );
    }
    if !r.modules.is_empty() {
        let m: Vec<&str> = r.modules.iter().map(String::as_str).collect();
        errln!(
            "module types present (the target needs these modules): {}",
            m.join(", ")
        );
    }
    if r.losses.field_ttls > 0 || r.losses.stream_metadata > 0 {
        errln!(
            "allowed losses: {} hash field TTLs, {} streams' metadata",
            r.losses.field_ttls,
            r.losses.stream_metadata
        );
    }
    for p in r.problems.iter().take(20) {
        errln!("problem: {}", cause_text(p));
    }
    if r.problems.len() > 20 {
        errln!(
            "  ... {} more problems (see --report)",
            r.problems.len() - 20
        );
    }
    if let Some(o) = &r.output {
        let keys: u64 = o.dbs.values().map(|c| c.0).sum();
        let exp: u64 = o.dbs.values().map(|c| c.1).sum();
        errln!(
            "output: {} — {} ({} bytes{}), {} keys, {} expires ({}), {} copied verbatim, {} re-encoded, {}",
            o.path,
            o.target,
            o.bytes,
            if o.gzip { ", gzip" } else { "" },
            keys,
            exp,
            dbs_text(&o.dbs),
            r.verbatim_keys,
            r.reencoded_keys,
            if o.verified { "verified" } else { "NOT verified (--no-verify)" }
        );
        errln!(
            "expected DBSIZE after import: {} ({} keys already expired at {})",
            r.expected_dbsize_after_import(),
            r.expired_at_import,
            r.import_at
        );
    } else if !r.out_counts.is_empty() {
        errln!(
            "nothing written; the plan was {} keys ({})",
            r.output_keys(),
            dbs_text(&r.out_counts)
        );
    }
}

fn finish(res: Result<MergeReport, MergeError>, report: Option<AtomicFile>) -> Result<(), Failure> {
    match res {
        Ok(r) => {
            summary(&r);
            write_report(report, Some(&r))
        }
        Err(e) => {
            if let Some(r) = e.report() {
                summary(r);
            }
            write_report(report, e.report())?;
            Err(Failure {
                code: match e {
                    MergeError::Refused { .. } => EXIT_DATA,
                    MergeError::Interrupted { .. } => {
                        return Err(super::signals::failure(
                            super::signals::received().unwrap_or(2),
                        ))
                    }
                    // Usage and I/O problems (and any later kind).
                    _ => EXIT_USAGE,
                },
                msg: failure_text(&e),
            })
        }
    }
}

pub fn run_merge(a: MergeArgs) -> Result<(), Failure> {
    let mut o = base_options(a.inputs.clone(), &a.common)?;
    o.expect_total = a.expect_total;
    if let Some(e) = &a.expect_keys {
        if e.len() != a.inputs.len() {
            return Err(Failure::usage(format!(
                "--expect-keys has {} numbers for {} inputs",
                e.len(),
                a.inputs.len()
            )));
        }
    }
    o.expect_keys = a.expect_keys;
    o.policy = match a.on_conflict {
        ConflictPolicy::Error => Policy::Error,
        ConflictPolicy::First => Policy::First,
        ConflictPolicy::Last => Policy::Last,
        ConflictPolicy::Owner => Policy::Owner,
    };
    for t in &a.tokens {
        let (file, tok) = t
            .rsplit_once('=')
            .ok_or_else(|| Failure::usage(format!("--token {t}: expected FILE=TOKEN")))?;
        let tok: u32 = tok
            .parse()
            .map_err(|_| Failure::usage(format!("--token {t}: token must be 0..4294967295")))?;
        let idx = a
            .inputs
            .iter()
            .position(|p| p.as_os_str() == file || p.file_name().is_some_and(|n| n == file))
            .ok_or_else(|| {
                Failure::usage(format!("--token {t}: {file} is not one of the inputs"))
            })?;
        o.tokens[idx] = Some(tok);
    }
    if o.policy == Policy::Owner && o.tokens.iter().any(Option::is_none) {
        return Err(Failure::usage(
            "--on-conflict owner needs --token FILE=TOKEN for every input",
        ));
    }
    if let Some(h) = &a.hash_tag {
        let b = h.as_bytes();
        if b.len() != 2 {
            return Err(Failure::usage(
                "--hash-tag takes two characters, e.g. \"{}\"",
            ));
        }
        o.hash_tag = Some((b[0], b[1]));
    }
    o.flatten_dbs = a.flatten_dbs;
    o.keep_dbs = a.keep_dbs;
    o.drop_dynomite_metadata = a.drop_dynomite_metadata;
    if let Some(t) = &a.drop_expired {
        o.drop_expired_at = Some(parse_time(t)?);
    }
    if let Some(t) = a.import_at {
        o.import_at = t;
    }
    if !a.no_progress && (a.progress || std::io::stderr().is_terminal()) {
        o.progress = Some(Bar::sink());
    }
    let report = prepare_report(&a.inputs, &a.common, o.force)?;
    finish(merge(&o), report)
}

pub fn run_convert(a: ConvertArgs) -> Result<(), Failure> {
    if a.common.target.is_none() {
        return Err(Failure::usage("convert needs --target"));
    }
    let mut o = base_options(vec![a.input.clone()], &a.common)?;
    o.keep_dbs = true;
    if std::io::stderr().is_terminal() {
        o.progress = Some(Bar::sink());
    }
    let report = prepare_report(&[a.input], &a.common, o.force)?;
    finish(merge(&o), report)
}
