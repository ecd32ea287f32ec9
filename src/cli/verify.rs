//! `rdbkit verify`.

use rdbkit::decode::{decode_payload, Level, Options};
use rdbkit::inspect::{checksum_text, inspect, now_ms};

use super::{open, Failure};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The RDB file (or DUMP payload with --payload).
    file: String,
    /// Also run the checks Redis runs with `sanitize-dump-payload yes`, and detect duplicate keys.
    #[arg(long)]
    deep: bool,
    /// Read FILE as one DUMP payload (the RESTORE format) instead of an RDB file.
    #[arg(long)]
    payload: bool,
    /// Do not compare the CRC-64 (as Redis does with checksum validation off).
    #[arg(long)]
    no_checksum: bool,
}

pub fn run(a: Args) -> Result<(), Failure> {
    let input = open(&a.file)?;
    let opts = Options {
        level: if a.deep { Level::Deep } else { Level::Full },
        verify_checksum: !a.no_checksum,
        ..Options::default()
    };
    if a.payload {
        let p = decode_payload(&input, opts).map_err(|e| Failure::from_lib(&a.file, e))?;
        println!(
            "payload OK: {} ({}), RDB version {}, checksum {}",
            p.value.kind().name(),
            p.value.encoding(),
            p.version,
            checksum_text(p.checksum)
        );
        for w in p.warnings.lines() {
            eprintln!("rdbkit: warning: {w}");
        }
        return Ok(());
    }
    let r = inspect(&input, opts, now_ms()).map_err(|e| Failure::from_lib(&a.file, e))?;
    println!(
        "{}: RDB {} ({}), {} keys, {} expires, {} already expired, checksum {}",
        a.file,
        r.header.version,
        r.producer().unwrap_or_else(|| "producer unknown".into()),
        r.keys(),
        r.expires(),
        r.expired(),
        checksum_text(r.checksum)
    );
    for w in r.warnings.lines() {
        eprintln!("rdbkit: warning: {w}");
    }
    if r.trailing > 0 {
        eprintln!(
            "rdbkit: warning: {} bytes after the checksum trailer were ignored",
            r.trailing
        );
    }
    Ok(())
}
