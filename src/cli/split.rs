//! `rdbkit split IN... -o DIR`: one file per cluster shard (or per
//! database), each holding what a merge of the inputs' keys of its slots
//! would, all from one reading and plan of the inputs
//! ([`rdbkit::merge::split`]): conflicts follow `--on-conflict`, every
//! output is verified, and the set is published only when all are
//! written.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use rdbkit::cluster::{key_slot, parse_cluster_nodes, parse_ranges, shard_ranges, SLOTS};
use rdbkit::decode::{Decoder, Item, Level, Options};
use rdbkit::merge::{self, KeyPartition, MergeOptions, MergeReport, Policy};

use super::output::{errln, Out};
use rdbkit::atomic::{check_destination, check_paths, AtomicFile, Role, StagingDir};

use super::{Failure, EXIT_DATA};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ConflictPolicy {
    /// Refuse and list the keys whose copies differ.
    Error,
    /// Keep the copy from the earliest input.
    First,
    /// Keep the copy from the latest input.
    Last,
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("how").required(true).args(["shards", "cluster_nodes", "slots", "by_db"])))]
pub struct Args {
    /// Input dumps (the nodes of one deployment).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Output directory (created if missing).
    #[arg(short, long)]
    output: PathBuf,
    /// N shards of contiguous, equal slot ranges, as `redis-cli --cluster create` assigns them.
    #[arg(long, value_name = "N")]
    shards: Option<usize>,
    /// A `CLUSTER NODES` listing: one file per master, with the slots it serves.
    #[arg(long, value_name = "FILE")]
    cluster_nodes: Option<PathBuf>,
    /// Explicit slot ranges, one file per item: 0-5460,5461-10922,10923-16383.
    #[arg(long, value_name = "RANGES")]
    slots: Option<String>,
    /// One file per database, each written as db 0.
    #[arg(long)]
    by_db: bool,
    /// Move keys of every database into db 0 (slot splits refuse keys outside db 0 otherwise).
    #[arg(long)]
    flatten_dbs: bool,
    /// What to do with keys present in several inputs with different values.
    #[arg(long, value_enum, default_value = "error")]
    on_conflict: ConflictPolicy,
    /// Target format: an RDB version or a server (redis-7.2, valkey-9.1, ...).
    #[arg(long)]
    target: Option<String>,
    /// Replace output files that exist.
    #[arg(long)]
    force: bool,
    /// Write a JSON report (keys per output and slot range) to this file.
    #[arg(long)]
    report: Option<PathBuf>,
}

/// One output: its file name, what it holds, and its key test.
struct Part {
    name: String,
    slots: Vec<(u16, u16)>,
    db: Option<u64>,
}

fn plan_parts(a: &Args) -> Result<Vec<Part>, Failure> {
    let ranged = |name: String, slots: Vec<(u16, u16)>| Part {
        name,
        slots,
        db: None,
    };
    if let Some(n) = a.shards {
        if n == 0 || n > usize::from(SLOTS) {
            return Err(Failure::usage("--shards must be 1 to 16384"));
        }
        return Ok(shard_ranges(n)
            .into_iter()
            .enumerate()
            .map(|(i, (f, l))| ranged(format!("shard-{}-slots-{f}-{l}.rdb", i + 1), vec![(f, l)]))
            .collect());
    }
    if let Some(s) = &a.slots {
        let r = parse_ranges(s).map_err(|e| Failure::usage(format!("--slots: {e}")))?;
        return Ok(r
            .into_iter()
            .enumerate()
            .map(|(i, (f, l))| ranged(format!("part-{}-slots-{f}-{l}.rdb", i + 1), vec![(f, l)]))
            .collect());
    }
    if let Some(p) = &a.cluster_nodes {
        let text = std::fs::read_to_string(p)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", p.display())))?;
        let masters = parse_cluster_nodes(&text)
            .map_err(|e| Failure::usage(format!("{}: {e}", p.display())))?;
        if masters.is_empty() {
            return Err(Failure::usage(format!(
                "{}: no master serves any slot",
                p.display()
            )));
        }
        return Ok(masters
            .into_iter()
            .map(|m| {
                let addr: String = m
                    .addr
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '.' {
                            c
                        } else {
                            '-'
                        }
                    })
                    .collect();
                let id: String = m.id.chars().filter(char::is_ascii_alphanumeric).collect();
                ranged(format!("{addr}-{id}.rdb"), m.slots)
            })
            .collect());
    }
    Ok(Vec::new())
}

/// Which output takes each key: by database for `--by-db`, by slot
/// otherwise (a slot no output holds takes none; [`check_coverage`] has
/// refused such keys).
fn partition(parts: &[Part]) -> KeyPartition {
    if parts.iter().any(|p| p.db.is_some()) {
        let dbs: Vec<Option<u64>> = parts.iter().map(|p| p.db).collect();
        return KeyPartition::new(move |db, _| dbs.iter().position(|&d| d == Some(db)));
    }
    let mut owner = vec![u16::MAX; usize::from(SLOTS)];
    for (i, p) in parts.iter().enumerate() {
        for &(f, l) in &p.slots {
            for s in f..=l {
                owner[usize::from(s)] = i as u16;
            }
        }
    }
    KeyPartition::new(move |_, key| match owner[usize::from(key_slot(key))] {
        u16::MAX => None,
        i => Some(usize::from(i)),
    })
}

/// The databases holding keys, over every input (for `--by-db`).
fn databases(inputs: &[rdbkit::Input], names: &[String]) -> Result<Vec<u64>, Failure> {
    let mut dbs = std::collections::BTreeSet::new();
    for (i, data) in inputs.iter().enumerate() {
        let s = rdbkit::stats::inspect(data, Options::default(), 0)
            .map_err(|e| Failure::from_lib(&names[i], e))?;
        dbs.extend(s.dbs.iter().filter(|(_, d)| d.keys > 0).map(|(db, _)| *db));
    }
    Ok(dbs.into_iter().collect())
}

/// Slot ranges that overlap, or a key whose slot no output holds: every
/// key must land in exactly one output.
fn check_coverage(
    parts: &[Part],
    inputs: &[rdbkit::Input],
    names: &[String],
) -> Result<(), Failure> {
    let mut owner = vec![usize::MAX; usize::from(SLOTS)];
    for (i, p) in parts.iter().enumerate() {
        for &(f, l) in &p.slots {
            for s in f..=l {
                let o = &mut owner[usize::from(s)];
                if *o != usize::MAX {
                    return Err(Failure::usage(format!(
                        "slot {s} is in two outputs ({} and {})",
                        parts[*o].name, p.name
                    )));
                }
                *o = i;
            }
        }
    }
    if owner.iter().all(|&o| o != usize::MAX) {
        return Ok(());
    }
    let opts = Options {
        level: Level::Skip,
        ..Options::default()
    };
    for (i, data) in inputs.iter().enumerate() {
        for item in Decoder::new(data, opts).map_err(|e| Failure::from_lib(&names[i], e))? {
            if let Item::Key(k) = item.map_err(|e| Failure::from_lib(&names[i], e))? {
                let key = k
                    .key
                    .to_bytes()
                    .map_err(|e| Failure::from_lib(&names[i], e))?;
                let slot = key_slot(&key);
                if owner[usize::from(slot)] == usize::MAX {
                    return Err(Failure::data(format!(
                        "{}: key '{}' is in slot {slot}, which no output holds",
                        names[i],
                        rdbkit::format::escape_bytes(&key[..key.len().min(64)])
                    )));
                }
            }
        }
    }
    Ok(())
}

pub fn run(a: Args, out: &mut Out) -> Result<(), Failure> {
    let names: Vec<String> = a.inputs.iter().map(|p| p.display().to_string()).collect();
    for n in &names {
        if n == "-" {
            return Err(Failure::usage(
                "split reads its inputs more than once: give files, not -",
            ));
        }
    }
    let mut parts = plan_parts(&a)?;
    let inputs: Vec<rdbkit::Input> = names
        .iter()
        .map(|n| super::open(n))
        .collect::<Result<_, _>>()?;
    if a.by_db {
        parts = databases(&inputs, &names)?
            .into_iter()
            .map(|db| Part {
                name: format!("db{db}.rdb"),
                slots: Vec::new(),
                db: Some(db),
            })
            .collect();
    } else {
        check_coverage(&parts, &inputs, &names)?;
    }
    std::fs::create_dir_all(&a.output)
        .map_err(|e| Failure::usage(format!("cannot create {}: {e}", a.output.display())))?;
    // Every destination, and the report, checked against the inputs and
    // each other before anything is written; the report's temporary file
    // is made now (an existing one without --force fails here, not after
    // the outputs were written).
    let dests: Vec<PathBuf> = parts.iter().map(|p| a.output.join(&p.name)).collect();
    let ins: Vec<Role<'_>> = a
        .inputs
        .iter()
        .map(|i| Role {
            what: "an input",
            path: i,
        })
        .collect();
    let mut outs: Vec<Role<'_>> = dests
        .iter()
        .map(|d| Role {
            what: "an output",
            path: d,
        })
        .collect();
    if let Some(r) = &a.report {
        outs.push(Role {
            what: "the report (--report)",
            path: r,
        });
    }
    check_paths(&ins, &outs).map_err(Failure::usage)?;
    for d in &dests {
        check_destination(d, a.force).map_err(super::destination_failure)?;
    }
    let keep: Vec<&Path> = a.inputs.iter().map(PathBuf::as_path).collect();
    let report = a
        .report
        .as_ref()
        .map(|r| super::create_output(r, a.force, &keep))
        .transpose()?;
    // The outputs wait here until all are written and verified.
    let staging =
        StagingDir::create(&a.output, "split", &keep).map_err(super::destination_failure)?;
    let stale = report.iter().flat_map(|r| r.stale_removed());
    for p in stale.chain(staging.stale_removed()) {
        errln!(
            "removed stale {} (left by an rdbkit process that no longer runs)",
            p.display()
        );
    }
    let target = a
        .target
        .as_deref()
        .map(rdbkit::release::Target::parse)
        .transpose()
        .map_err(Failure::usage)?;
    let mut o = MergeOptions::new(a.inputs.clone(), PathBuf::new());
    o.target = target;
    o.policy = match a.on_conflict {
        ConflictPolicy::Error => Policy::Error,
        ConflictPolicy::First => Policy::First,
        ConflictPolicy::Last => Policy::Last,
    };
    o.flatten_dbs = a.flatten_dbs || a.by_db;
    let partition = partition(&parts);
    let paths: Vec<PathBuf> = parts.iter().map(|p| staging.path().join(&p.name)).collect();
    // One reading and one plan of the inputs for all outputs.
    let written = merge::split(&o, &partition, &paths).map_err(|e| {
        let code = match e {
            rdbkit::merge::MergeError::Refused { .. } => EXIT_DATA,
            rdbkit::merge::MergeError::Interrupted { .. } => {
                return super::signals::failure(super::signals::received().unwrap_or(2));
            }
            _ => super::EXIT_USAGE,
        };
        Failure {
            code,
            msg: super::merge::failure_text(&e),
        }
    })?;
    let reports: Vec<(&Part, MergeReport)> = parts.iter().zip(written).collect();
    for (p, r) in &reports {
        // Redis 7.4+ cluster nodes write each slot's keys together after
        // a SLOT_INFO record: the same layout here, checked again.
        if p.db.is_none() && r.target.is_some_and(|t| t.has_slot_info()) {
            group_by_slot(&staging.path().join(&p.name), r)?;
        }
    }
    // All written and verified: publish them.
    if rdbkit::interrupt::requested() {
        return Err(super::signals::failure(
            super::signals::received().unwrap_or(2),
        ));
    }
    rdbkit::interrupt::test_pause("publishing");
    let set: Vec<(&str, PathBuf)> = reports
        .iter()
        .map(|(p, _)| (p.name.as_str(), a.output.join(&p.name)))
        .collect();
    staging.publish_all(&set, a.force).map_err(|(dest, e)| {
        let none = if a.force {
            ""
        } else {
            "; no output was published"
        };
        Failure::usage(format!("cannot write {}: {e}{none}", dest.display()))
    })?;
    if let Some(f) = report {
        write_report(f, &a, &reports)?;
    }
    summary(out, &a.output, &reports)
        .map_err(|e| Failure::usage(format!("cannot write the summary: {e}")))
}

/// Rewrites a verified output with its keys grouped by slot, each group
/// after its `SLOT_INFO` record, and checks the result (records, checksum,
/// keys and expiries as the merge planned) before it replaces the output.
fn group_by_slot(path: &Path, r: &MergeReport) -> Result<(), Failure> {
    let name = path.display().to_string();
    let fail = |e: String| Failure::data(format!("{name}: grouping by slot: {e}"));
    let data = rdbkit::Input::open(path).map_err(|e| fail(e.to_string()))?;
    let mut file = AtomicFile::create(path, true).map_err(|e| fail(e.to_string()))?;
    let mut w = std::io::BufWriter::new(file.file());
    rdbkit::encode::copy_by_slot(&data, &mut w, r.target).map_err(|e| fail(e.to_string()))?;
    w.flush().map_err(|e| fail(e.to_string()))?;
    drop(w);
    let got = super::written_counts(file.temp_path()).map_err(fail)?;
    let want: BTreeMap<u64, (u64, u64)> = r
        .out_counts
        .iter()
        .filter(|(_, c)| c.0 > 0)
        .map(|(db, c)| (*db, *c))
        .collect();
    if got != want {
        return Err(fail(format!("keys per database {got:?}, planned {want:?}")));
    }
    file.commit().map_err(|e| fail(e.to_string()))
}

fn keys_of(r: &MergeReport) -> (u64, u64) {
    r.out_counts
        .values()
        .fold((0, 0), |a, c| (a.0 + c.0, a.1 + c.1))
}

fn ranges_text(p: &Part) -> String {
    match p.db {
        Some(db) => format!("db {db}"),
        None => p
            .slots
            .iter()
            .map(|(f, l)| {
                if f == l {
                    format!("{f}")
                } else {
                    format!("{f}-{l}")
                }
            })
            .collect::<Vec<_>>()
            .join(","),
    }
}

fn summary(out: &mut Out, dir: &Path, reports: &[(&Part, MergeReport)]) -> std::io::Result<()> {
    let mut total = 0;
    for (p, r) in reports {
        let (k, e) = keys_of(r);
        total += k;
        writeln!(
            out,
            "{}: {} ({k} keys, {e} expires, verified)",
            dir.join(&p.name).display(),
            ranges_text(p)
        )?;
    }
    writeln!(out, "{} files, {total} keys in all", reports.len())
}

fn write_report(
    mut f: AtomicFile,
    a: &Args,
    reports: &[(&Part, MergeReport)],
) -> Result<(), Failure> {
    let outputs: Vec<serde_json::Value> = reports
        .iter()
        .map(|(p, r)| {
            let (k, e) = keys_of(r);
            let per_db: BTreeMap<String, u64> = r
                .out_counts
                .iter()
                .map(|(db, c)| (db.to_string(), c.0))
                .collect();
            serde_json::json!({
                "path": a.output.join(&p.name).display().to_string(),
                "slots": p.slots.iter().map(|(f, l)| [f, l]).collect::<Vec<_>>(),
                "db": p.db,
                "keys": k,
                "expires": e,
                "keys_per_db": per_db,
                "duplicates": r.duplicate_keys,
                "conflicts": r.conflicts_total,
                "expected_dbsize_after_import": k.saturating_sub(r.expired_at_import),
            })
        })
        .collect();
    let total: u64 = reports.iter().map(|(_, r)| keys_of(r).0).sum();
    let json = serde_json::json!({
        "inputs": a.inputs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "outputs": outputs,
        "keys": total,
    });
    let text = serde_json::to_string_pretty(&json).unwrap_or_default() + "\n";
    let name = f.dest().display().to_string();
    f.file()
        .write_all(text.as_bytes())
        .and_then(|()| f.commit())
        .map_err(|e| Failure::usage(format!("cannot write {name}: {e}")))
}
