//! Writing the merged file: a temporary file beside the output, fsynced,
//! re-read and verified, then renamed into place. The output never exists
//! half-written, and an existing file is never replaced without `force`.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::plan::{db_at, filtered, loc, Plan};
use super::report::{MergeReport, OutputSummary};
use super::{MergeError, MergeOptions};
use crate::decode::{Decoder, Item, Level, Options};
use crate::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
use crate::format::Lineage;
use crate::inspect::inspect;
use crate::Input;

/// The producer version written in the `redis-ver` / `valkey-ver` aux field.
pub(crate) fn producer_version(t: Target) -> &'static str {
    match (t.lineage, t.version, t.valkey) {
        (Lineage::Valkey, _, _) => "9.0.0",
        (_, 11, true) => "8.0.0",
        (_, v, _) if v >= 14 => "8.8.0",
        (_, 13, _) => "8.6.0",
        (_, 12, _) => "7.4.0",
        (_, 11, _) => "7.2.0",
        (_, 10, _) => "7.0.0",
        (_, 9, _) => "6.2.0",
        (_, 8, _) => "4.0.0",
        (_, 7, _) => "3.2.0",
        _ => "2.8.0",
    }
}

fn io(reason: String, report: &MergeReport) -> MergeError {
    MergeError::Io {
        reason,
        report: Some(Box::new(report.clone())),
    }
}

/// Removes a file when dropped unless disarmed.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

fn temp_path(out: &Path, suffix: &str) -> PathBuf {
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(format!(".{name}.rdbkit-{}{suffix}.tmp", std::process::id()))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

pub(crate) fn write(opts: &MergeOptions, plan: Plan) -> Result<MergeReport, MergeError> {
    let Plan {
        inputs,
        target,
        skip,
        db_marks,
        out_counts,
        functions,
        module_aux,
        mut report,
    } = plan;
    let out = &opts.output;
    if opts.inputs.iter().any(|i| same_file(i, out)) {
        return Err(io(
            format!("output {} is one of the inputs", out.display()),
            &report,
        ));
    }
    if out.exists() && !opts.force {
        return Err(io(
            format!("output {} exists; use --force to replace it", out.display()),
            &report,
        ));
    }
    let gzip = out.extension().is_some_and(|e| e == "gz");
    let tmp = temp_path(out, "");
    let mut guard = TempGuard(Some(tmp.clone()));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| io(format!("cannot create {}: {e}", tmp.display()), &report))?;
    let werr = |e: crate::Error, r: &MergeReport| io(format!("writing {}: {e}", tmp.display()), r);
    let mut w = RdbWriter::new(BufWriter::with_capacity(1 << 20, file), target)
        .map_err(|e| werr(e, &report))?;
    w.allow = opts.allow;
    let ctime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let used: u64 = inputs.iter().map(|i| i.len() as u64).sum();
    w.standard_aux(producer_version(target), ctime, used)
        .map_err(|e| werr(e, &report))?;
    for (id, when, p) in module_aux.iter().filter(|m| m.1 == 1) {
        w.module_aux(*id, *when, p).map_err(|e| werr(e, &report))?;
    }
    for f in &functions {
        w.function(f).map_err(|e| werr(e, &report))?;
    }
    let opts_skip = Options {
        level: Level::Skip,
        verify_checksum: false,
        ..Options::default()
    };
    for (&db, &(keys, expires)) in &out_counts {
        if keys == 0 {
            continue;
        }
        w.select_db(db).map_err(|e| werr(e, &report))?;
        w.resize_db(keys, expires).map_err(|e| werr(e, &report))?;
        for (i, data) in inputs.iter().enumerate() {
            let lineage = crate::format::Header::parse(data)
                .map(|h| h.lineage)
                .unwrap_or(Lineage::Redis);
            let mut dec = Decoder::new(data, opts_skip).map_err(|e| werr(e, &report))?;
            loop {
                let start = dec.offset();
                let Some(item) = dec.next() else { break };
                let Item::Key(k) = item.map_err(|e| werr(e, &report))? else {
                    continue;
                };
                let out_db = if opts.flatten_dbs {
                    0
                } else {
                    db_at(&db_marks[i], start)
                };
                if out_db != db || skip.binary_search(&loc(i, start)).is_ok() {
                    continue;
                }
                let key = k.key.to_bytes().map_err(|e| werr(e, &report))?;
                if filtered(opts, &key, k.expire_ms).is_some() {
                    continue;
                }
                let meta = KeyMeta {
                    expire_ms: k.expire_ms,
                    idle: k.idle,
                    freq: k.freq,
                };
                if target.can_read(k.value.rdb_type(), lineage) {
                    w.key_verbatim(&k, data, meta)
                        .map_err(|e| werr(e, &report))?;
                    report.verbatim_keys += 1;
                } else {
                    let v = OwnedValue::from_value(&k.value).map_err(|e| MergeError::Refused {
                        reason: format!("input {}: {}", i + 1, e.with_key(&key)),
                        report: Box::new(report.clone()),
                    })?;
                    w.key(&key, &v, meta).map_err(|e| MergeError::Refused {
                        reason: format!("input {}: {e}", i + 1),
                        report: Box::new(report.clone()),
                    })?;
                    report.reencoded_keys += 1;
                }
            }
        }
    }
    for (id, when, p) in module_aux.iter().filter(|m| m.1 != 1) {
        w.module_aux(*id, *when, p).map_err(|e| werr(e, &report))?;
    }
    report.losses = w.losses;
    let buf = w.finish().map_err(|e| werr(e, &report))?;
    let file = buf
        .into_inner()
        .map_err(|e| io(format!("writing {}: {}", tmp.display(), e.error()), &report))?;
    file.sync_all()
        .map_err(|e| io(format!("fsync {}: {e}", tmp.display()), &report))?;
    drop(file);
    // Verify the written file before publishing it.
    let mut dbs = out_counts.clone();
    dbs.retain(|_, c| c.0 > 0);
    let mut verified = false;
    if opts.verify {
        let written = Input::open(&tmp)
            .map_err(|e| io(format!("re-reading {}: {e}", tmp.display()), &report))?;
        let r = inspect(&written, Options::default(), opts.import_at).map_err(|e| {
            MergeError::Refused {
                reason: format!("the written file failed verification: {e}"),
                report: Box::new(report.clone()),
            }
        })?;
        let got: std::collections::BTreeMap<u64, (u64, u64)> = r
            .dbs
            .iter()
            .filter(|(_, d)| d.keys > 0)
            .map(|(db, d)| (*db, (d.keys, d.expires)))
            .collect();
        if got != dbs {
            return Err(MergeError::Refused {
                reason: format!(
                    "the written file holds {got:?} (db: keys, expires), the plan said {dbs:?}"
                ),
                report: Box::new(report),
            });
        }
        dbs = got;
        verified = true;
    }
    let final_tmp = if gzip {
        let gz = temp_path(out, ".gz");
        let mut gguard = TempGuard(Some(gz.clone()));
        gzip_file(&tmp, &gz)
            .map_err(|e| io(format!("compressing to {}: {e}", gz.display()), &report))?;
        gguard.0 = None;
        let _ = fs::remove_file(&tmp);
        guard.0 = Some(gz.clone());
        gz
    } else {
        tmp.clone()
    };
    let bytes = fs::metadata(&final_tmp).map(|m| m.len()).unwrap_or(0);
    fs::rename(&final_tmp, out).map_err(|e| {
        io(
            format!("renaming {} to {}: {e}", final_tmp.display(), out.display()),
            &report,
        )
    })?;
    guard.0 = None;
    if let Some(dir) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    report.output = Some(OutputSummary {
        path: out.display().to_string(),
        target,
        bytes,
        dbs,
        verified,
        gzip,
    });
    Ok(report)
}

fn gzip_file(src: &Path, dst: &Path) -> std::io::Result<()> {
    let mut input = File::open(src)?;
    let f = OpenOptions::new().write(true).create_new(true).open(dst)?;
    let mut enc = flate2::write::GzEncoder::new(
        BufWriter::with_capacity(1 << 20, f),
        flate2::Compression::fast(),
    );
    std::io::copy(&mut input, &mut enc)?;
    let f = enc.finish()?.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()
}
