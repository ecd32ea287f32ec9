//! `rdbkit verify`.

use rdbkit::decode::{decode_payload, Level, Options};
use rdbkit::now_ms;
use rdbkit::stats::inspect;

use super::output::{errln, outln, Out};
use super::{open, Failure};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The RDB file (or DUMP payload with --payload); may be gzip-compressed; - reads standard input.
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

pub fn run(a: Args, out: &mut Out) -> Result<(), Failure> {
    let input = open(&a.file)?;
    let opts = Options {
        level: if a.deep { Level::Deep } else { Level::Full },
        verify_checksum: !a.no_checksum,
        ..Options::default()
    };
    if a.payload {
        // No decoder reaches an EOF record here: check the file explicitly.
        let p = decode_payload(&input, opts)
            .and_then(|p| input.check_unchanged().map(|()| p))
            .map_err(|e| Failure::from_lib(&a.file, input.check_unchanged().err().unwrap_or(e)))?;
        outln!(
            out,
            "payload OK: {} ({}), RDB version {}, checksum {}",
            p.value.kind().name(),
            p.value.encoding(),
            p.version,
            p.checksum
        )?;
        for w in p.warnings.lines() {
            errln!("rdbkit: warning: {w}");
        }
        return Ok(());
    }
    let r = inspect(&input, opts, now_ms()).map_err(|e| Failure::from_lib(&a.file, e))?;
    outln!(
        out,
        "{}: RDB {} ({}), {} keys, {} expires, {} already expired, checksum {}",
        super::shown(&a.file),
        r.header.version,
        r.producer().unwrap_or_else(|| "producer unknown".into()),
        r.keys(),
        r.expires(),
        r.expired(),
        r.checksum
    )?;
    for w in r.warnings.lines() {
        errln!("rdbkit: warning: {w}");
    }
    if r.trailing > 0 {
        errln!(
            "rdbkit: warning: {} bytes after the checksum trailer were ignored",
            r.trailing
        );
    }
    Ok(())
}
