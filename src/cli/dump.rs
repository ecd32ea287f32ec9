//! `rdbkit dump`.

use std::io::{BufWriter, Write};

use rdbkit::decode::{Decoder, Item, Kind, Level, Options};
use rdbkit::export::json;

use super::{open, Failure};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// One JSON array of key objects.
    Json,
    /// One JSON object per line.
    Jsonl,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The RDB file.
    file: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "jsonl")]
    format: Format,
    /// Only keys of this database.
    #[arg(long)]
    db: Option<u64>,
    /// Only keys matching this regular expression (anywhere in the key, as grep does).
    #[arg(long)]
    key: Option<String>,
    /// Only keys of this type: string, list, set, zset, hash, stream, module, array.
    #[arg(long = "type", value_parser = parse_kind)]
    kind: Option<Kind>,
}

fn parse_kind(s: &str) -> Result<Kind, String> {
    Kind::from_name(s).ok_or_else(|| {
        format!("unknown type '{s}' (string, list, set, zset, hash, stream, module, array)")
    })
}

pub fn run(a: Args) -> Result<(), Failure> {
    let re = match &a.key {
        Some(k) => {
            Some(regex::bytes::Regex::new(k).map_err(|e| Failure::usage(format!("--key: {e}")))?)
        }
        None => None,
    };
    let input = open(&a.file)?;
    let opts = Options {
        level: Level::Full,
        ..Options::default()
    };
    let dec = Decoder::new(&input, opts).map_err(|e| Failure::from_lib(&a.file, e))?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let werr = |e: std::io::Error| Failure::usage(format!("writing output: {e}"));
    let mut first = true;
    if a.format == Format::Json {
        out.write_all(b"[").map_err(werr)?;
    }
    for item in dec {
        let item = item.map_err(|e| Failure::from_lib(&a.file, e))?;
        let Item::Key(k) = item else { continue };
        if a.db.is_some_and(|d| d != k.db) || a.kind.is_some_and(|t| t != k.value.kind()) {
            continue;
        }
        if let Some(re) = &re {
            let kb = k
                .key
                .to_bytes()
                .map_err(|e| Failure::from_lib(&a.file, e))?;
            if !re.is_match(&kb) {
                continue;
            }
        }
        if a.format == Format::Json && !first {
            out.write_all(b",\n").map_err(werr)?;
        }
        first = false;
        json::write_key(&mut out, &k).map_err(|e| Failure::from_lib(&a.file, e))?;
        if a.format == Format::Jsonl {
            out.write_all(b"\n").map_err(werr)?;
        }
    }
    if a.format == Format::Json {
        out.write_all(b"]\n").map_err(werr)?;
    }
    out.flush().map_err(werr)
}
