//! `rdbkit filter`: a subset of one file, written as `convert` writes (a
//! temporary file beside the output, fsynced, re-read and checked, then
//! renamed), through the library's filtered copy
//! ([`rdbkit::encode::copy_filtered`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args as ClapArgs;
use rdbkit::atomic::{check_paths, AtomicFile, Role};
use rdbkit::decode::{KeyRecord, Kind};
use rdbkit::encode::{copy_filtered, CopySummary};
use rdbkit::release::Target;

use super::output::Out;
use super::Failure;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Input dump (may be gzip-compressed).
    input: PathBuf,
    /// Output file (never an input; replaced only with --force).
    #[arg(short, long)]
    output: PathBuf,
    /// Keep keys matching this regular expression (repeatable: any of them).
    #[arg(long = "key", value_name = "REGEX")]
    keys: Vec<String>,
    /// Drop keys matching this regular expression (repeatable).
    #[arg(long = "exclude-key", value_name = "REGEX")]
    exclude: Vec<String>,
    /// Keep only this database (repeatable).
    #[arg(long = "db", value_name = "N")]
    dbs: Vec<u64>,
    /// Keep only this type (repeatable): string, list, set, zset, hash,
    /// stream, module.
    #[arg(long = "type", value_name = "T")]
    types: Vec<String>,
    /// Drop keys expired at this unix time in milliseconds (default: now).
    #[arg(long, value_name = "UNIX_MS", num_args = 0..=1, default_missing_value = "now")]
    drop_expired: Option<String>,
    /// Target server or RDB version (default: the input's own format).
    #[arg(long)]
    target: Option<String>,
    /// Replace an existing output (and report).
    #[arg(long)]
    force: bool,
    /// Also write what was kept and dropped as JSON to this file.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

/// Which keys stay.
struct Keep {
    keys: Vec<regex::bytes::Regex>,
    exclude: Vec<regex::bytes::Regex>,
    dbs: Vec<u64>,
    kinds: Vec<Kind>,
    expired_at: Option<i64>,
}

impl Keep {
    fn new(a: &Args) -> Result<Keep, Failure> {
        let re = |flag: &str, v: &[String]| -> Result<Vec<regex::bytes::Regex>, Failure> {
            v.iter()
                .map(|r| {
                    regex::bytes::Regex::new(r).map_err(|e| Failure::usage(format!("{flag}: {e}")))
                })
                .collect()
        };
        let kinds = a
            .types
            .iter()
            .map(|t| {
                Kind::from_name(t).ok_or_else(|| {
                    Failure::usage(format!(
                        "unknown type {t:?} (string, list, set, zset, hash, stream, module)"
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        let expired_at = match a.drop_expired.as_deref() {
            None => None,
            Some("now") => Some(rdbkit::now_ms()),
            Some(t) => Some(t.parse().map_err(|_| {
                Failure::usage(format!(
                    "--drop-expired: '{t}' is not a unix time in milliseconds"
                ))
            })?),
        };
        Ok(Keep {
            keys: re("--key", &a.keys)?,
            exclude: re("--exclude-key", &a.exclude)?,
            dbs: a.dbs.clone(),
            kinds,
            expired_at,
        })
    }

    fn keeps(&self, k: &KeyRecord<'_>) -> bool {
        if !self.dbs.is_empty() && !self.dbs.contains(&k.db) {
            return false;
        }
        if !self.kinds.is_empty() && !self.kinds.contains(&k.value.kind()) {
            return false;
        }
        if let (Some(at), Some(e)) = (self.expired_at, k.expire_ms) {
            if e <= at {
                return false;
            }
        }
        if self.keys.is_empty() && self.exclude.is_empty() {
            return true;
        }
        // A key that does not decode is kept here: the copy's own check
        // of the value reports it with its offset.
        let Ok(key) = k.key.to_bytes() else {
            return true;
        };
        (self.keys.is_empty() || self.keys.iter().any(|r| r.is_match(&key)))
            && !self.exclude.iter().any(|r| r.is_match(&key))
    }
}

fn create(dest: &Path, force: bool, input: &Path) -> Result<AtomicFile, Failure> {
    super::create_output(dest, force, &[input])
}

pub fn run(a: Args, out: &mut Out) -> Result<(), Failure> {
    let keep = Keep::new(&a)?;
    let target = a
        .target
        .as_deref()
        .map(Target::parse)
        .transpose()
        .map_err(Failure::usage)?;
    let mut outs = vec![Role {
        what: "the output (-o)",
        path: &a.output,
    }];
    if let Some(r) = &a.report {
        outs.push(Role {
            what: "the report (--report)",
            path: r,
        });
    }
    check_paths(
        &[Role {
            what: "the input",
            path: &a.input,
        }],
        &outs,
    )
    .map_err(Failure::usage)?;
    let mut file = create(&a.output, a.force, &a.input)?;
    let mut report = a
        .report
        .as_ref()
        .map(|r| create(r, a.force, &a.input))
        .transpose()?;
    let in_name = a.input.display().to_string();
    let input = rdbkit::Input::open(&a.input).map_err(|e| Failure::from_lib(&in_name, e))?;
    let name = file.dest().display().to_string();
    let write_err = |e: std::io::Error| Failure::usage(format!("cannot write {name}: {e}"));

    // The copy (which checks the whole input first), then the written file
    // read back and checked whole: records, checksum, keys per database.
    let summary = {
        let mut w = std::io::BufWriter::new(file.file());
        let copied = copy_filtered(&input, &mut w, target, |k| keep.keeps(k));
        let flushed = w.flush();
        drop(w);
        let s = copied.map_err(|e| match e.kind() {
            rdbkit::ErrorKind::Io { .. } => write_err(std::io::Error::other(e.to_string())),
            _ => Failure::from_lib(&in_name, e),
        })?;
        flushed.map_err(write_err)?;
        s
    };
    file.file().sync_all().map_err(write_err)?;
    check_written(file.temp_path(), &summary, &name)?;
    input
        .check_unchanged()
        .map_err(|e| Failure::from_lib(&in_name, e))?;
    if let Some(r) = &mut report {
        let text = serde_json::to_string_pretty(&report_json(&a, &summary)).unwrap_or_default();
        let rname = r.dest().display().to_string();
        writeln!(r.file(), "{text}")
            .map_err(|e| Failure::usage(format!("cannot write {rname}: {e}")))?;
    }
    // Ctrl-C after the last record: nothing is published.
    if rdbkit::interrupt::requested() {
        return Err(super::signals::failure(
            super::signals::received().unwrap_or(2),
        ));
    }
    file.commit().map_err(write_err)?;
    if let Some(r) = report {
        let rname = r.dest().display().to_string();
        r.commit()
            .map_err(|e| Failure::usage(format!("cannot write {rname}: {e}")))?;
    }
    print_summary(out, &summary, &name)
        .map_err(|e| Failure::usage(format!("cannot write the summary: {e}")))
}

/// Reads the written file back: every record decodes, the checksum
/// matches, and each database holds the keys the copy kept.
fn check_written(path: &Path, s: &CopySummary, name: &str) -> Result<(), Failure> {
    let bad =
        |what: String| Failure::data(format!("{name}: the written file does not check: {what}"));
    let got = super::written_counts(path).map_err(bad)?;
    if got != s.kept {
        return Err(bad(format!(
            "keys per database {got:?}, the copy wrote {:?}",
            s.kept
        )));
    }
    Ok(())
}

fn report_json(a: &Args, s: &CopySummary) -> serde_json::Value {
    let dbs: std::collections::BTreeSet<u64> =
        s.kept.keys().chain(s.dropped.keys()).copied().collect();
    serde_json::json!({
        "input": a.input.display().to_string(),
        "output": a.output.display().to_string(),
        "kept_keys": s.kept_keys(),
        "dropped_keys": s.dropped_keys(),
        "reencoded": s.reencoded,
        "bytes": s.bytes,
        "dbs": dbs.iter().map(|db| {
            let (kept, expires) = s.kept.get(db).copied().unwrap_or_default();
            serde_json::json!({
                "db": db,
                "kept": kept,
                "kept_with_expiry": expires,
                "dropped": s.dropped.get(db).copied().unwrap_or_default(),
            })
        }).collect::<Vec<_>>(),
    })
}

fn print_summary(out: &mut Out, s: &CopySummary, name: &str) -> std::io::Result<()> {
    let dbs: std::collections::BTreeSet<u64> =
        s.kept.keys().chain(s.dropped.keys()).copied().collect();
    for db in dbs {
        let kept = s.kept.get(&db).map_or(0, |c| c.0);
        let dropped = s.dropped.get(&db).copied().unwrap_or_default();
        writeln!(out, "db {db}: kept {kept}, dropped {dropped}")?;
    }
    writeln!(
        out,
        "wrote {name}: {} keys kept, {} dropped, {} records re-encoded, {} bytes (checked)",
        s.kept_keys(),
        s.dropped_keys(),
        s.reencoded,
        s.bytes
    )
}
