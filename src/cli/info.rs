//! `rdbkit info`.

use std::io::Write;

use rdbkit::decode::{Level, Options};
use rdbkit::now_ms;
use rdbkit::stats::inspect;
use serde_json::{json, Value};

use super::output::{outln, Out};
use super::{open_failure, Failure};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The RDB file (may be gzip-compressed; - reads standard input).
    file: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args, out: &mut Out) -> Result<(), Failure> {
    let opts = Options {
        level: Level::Full,
        ..Options::default()
    };
    let r = rdbkit::Input::open(&a.file)
        .map_err(|e| (open_failure(&a.file, &e), e))
        .and_then(|input| {
            rdbkit::interrupt::test_pause("opened");
            inspect(&input, opts, now_ms()).map_err(|e| (Failure::from_lib(&a.file, e.clone()), e))
        });
    let r = match r {
        Ok(r) => r,
        Err((f, e)) => {
            if a.json {
                // Buffered, not flushed: if stdout cannot take it, `f` is
                // still the outcome (Out::finish adds the write failure).
                let v = serde_json::to_string_pretty(&error_json(&a.file, &e));
                let _ = writeln!(out, "{}", v.unwrap_or_default());
            }
            return Err(f);
        }
    };
    if a.json {
        let mut v = r.to_json();
        if let Value::Object(m) = &mut v {
            m.insert("file".into(), a.file.clone().into());
            m.insert("valid".into(), true.into());
        }
        return print_json(out, &v);
    }
    let magic = match r.header.lineage {
        rdbkit::format::Lineage::Redis => "REDIS",
        rdbkit::format::Lineage::Valkey => "VALKEY",
    };
    outln!(
        out,
        "file:      {} ({} bytes)",
        super::shown(&a.file),
        r.size
    )?;
    outln!(out, "format:    {magic} RDB version {}", r.header.version)?;
    outln!(
        out,
        "producer:  {}",
        r.producer().unwrap_or_else(|| "unknown".into())
    )?;
    outln!(out, "checksum:  {}", r.checksum)?;
    outln!(
        out,
        "keys:      {} ({} with expiry, {} already expired)",
        r.keys(),
        r.expires(),
        r.expired()
    )?;
    if !r.aux.is_empty() {
        outln!(out, "aux fields:")?;
        for (k, v) in &r.aux {
            outln!(out, "  {k} = {v}")?;
        }
    }
    for (db, d) in &r.dbs {
        outln!(
            out,
            "db {db}: {} keys, {} expires, {} already expired{}",
            d.keys,
            d.expires,
            d.expired,
            d.resize_hint
                .map(|(k, e)| format!(" (RESIZEDB hint {k}/{e})"))
                .unwrap_or_default()
        )?;
    }
    if !r.types.is_empty() {
        outln!(out, "types:")?;
        for ((k, enc), t) in &r.types {
            outln!(
                out,
                "  {:<8} {:<22} {:>10} keys {:>14} bytes",
                k.name(),
                enc,
                t.keys,
                t.bytes
            )?;
        }
    }
    if !r.functions.is_empty() {
        outln!(out, "functions: {}", r.functions.join(", "))?;
    }
    for (n, m) in &r.modules {
        outln!(
            out,
            "module type {n} (encver {:?}): {} keys",
            m.encvers,
            m.keys
        )?;
    }
    for m in &r.module_aux {
        outln!(
            out,
            "module aux {} encver {} ({}), {} bytes",
            m.module,
            m.encver,
            if m.when == 1 {
                "before keys"
            } else {
                "after keys"
            },
            m.bytes
        )?;
    }
    if r.slot_infos > 0 {
        outln!(out, "slot info records: {}", r.slot_infos)?;
    }
    if r.slot_imports > 0 {
        outln!(out, "slot import records: {}", r.slot_imports)?;
    }
    for (o, n) in &r.enterprise_opcodes {
        outln!(out, "Redis Enterprise opcode {o}: {n} records (skipped)")?;
    }
    for w in r.warnings.lines() {
        outln!(out, "warning:   {w}")?;
    }
    Ok(())
}

/// Writes a JSON value (pretty, one trailing newline).
fn print_json(out: &mut Out, v: &Value) -> Result<(), Failure> {
    outln!(
        out,
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_default()
    )
}

/// `info --json` for a file that cannot be opened or read to the end: what
/// went wrong and where, so that scripts always get one JSON object.
fn error_json(file: &str, e: &rdbkit::Error) -> Value {
    let io = matches!(e.kind(), rdbkit::ErrorKind::Io { .. });
    json!({
        "file": file,
        "valid": false,
        "error": {
            "message": e.kind().to_string(),
            "io": io,
            "offset": if io { None } else { Some(e.offset()) },
            "key": e.key().map(rdbkit::format::escape_bytes),
        },
    })
}
