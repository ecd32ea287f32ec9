//! `rdbkit info`.

use rdbkit::decode::{Level, Options};
use rdbkit::inspect::{inspect, now_ms};

use super::{open, Failure};
use rdbkit::inspect::checksum_text;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The RDB file.
    file: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> Result<(), Failure> {
    let input = open(&a.file)?;
    let opts = Options {
        level: Level::Full,
        ..Options::default()
    };
    let r = inspect(&input, opts, now_ms()).map_err(|e| Failure::from_lib(&a.file, e))?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&r.to_json()).unwrap_or_default()
        );
        return Ok(());
    }
    let magic = match r.header.lineage {
        rdbkit::format::Lineage::Redis => "REDIS",
        rdbkit::format::Lineage::Valkey => "VALKEY",
    };
    println!("file:      {} ({} bytes)", a.file, r.size);
    println!("format:    {magic} RDB version {}", r.header.version);
    println!(
        "producer:  {}",
        r.producer().unwrap_or_else(|| "unknown".into())
    );
    println!("checksum:  {}", checksum_text(r.checksum));
    println!(
        "keys:      {} ({} with expiry, {} already expired)",
        r.keys(),
        r.expires(),
        r.expired()
    );
    if !r.aux.is_empty() {
        println!("aux fields:");
        for (k, v) in &r.aux {
            println!("  {k} = {v}");
        }
    }
    for (db, d) in &r.dbs {
        println!(
            "db {db}: {} keys, {} expires, {} already expired{}",
            d.keys,
            d.expires,
            d.expired,
            d.resize_hint
                .map(|(k, e)| format!(" (RESIZEDB hint {k}/{e})"))
                .unwrap_or_default()
        );
    }
    if !r.types.is_empty() {
        println!("types:");
        for ((k, enc), t) in &r.types {
            println!(
                "  {:<8} {:<22} {:>10} keys {:>14} bytes",
                k.name(),
                enc,
                t.keys,
                t.bytes
            );
        }
    }
    if !r.functions.is_empty() {
        println!("functions: {}", r.functions.join(", "));
    }
    for (n, m) in &r.modules {
        println!("module type {n} (encver {:?}): {} keys", m.encvers, m.keys);
    }
    for m in &r.module_aux {
        println!(
            "module aux {} encver {} ({}), {} bytes",
            m.module,
            m.encver,
            if m.when == 1 {
                "before keys"
            } else {
                "after keys"
            },
            m.bytes
        );
    }
    if r.slot_infos > 0 {
        println!("slot info records: {}", r.slot_infos);
    }
    if r.slot_imports > 0 {
        println!("slot import records: {}", r.slot_imports);
    }
    for (o, n) in &r.enterprise_opcodes {
        println!("Redis Enterprise opcode {o}: {n} records (skipped)");
    }
    for w in r.warnings.lines() {
        println!("warning:   {w}");
    }
    Ok(())
}
