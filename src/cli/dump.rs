//! `rdbkit dump`.

use std::io::Write;

use rdbkit::decode::{Decoder, Item, Kind, Level, Options};
use rdbkit::encode::AllowLoss;
use rdbkit::export::json;
use rdbkit::export::resp::{RespOptions, RespWriter, ServerRelease};

use super::output::{errln, Out};
use super::{open, Failure};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// One JSON array of key objects.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// RESP commands for `redis-cli --pipe` (SELECT, SET/RPUSH/SADD/ZADD/HSET,
    /// XADD/XSETID/XGROUP/XCLAIM, PEXPIREAT, HPEXPIREAT, FUNCTION LOAD,
    /// RESTORE for module values), meant for an empty server.
    Resp,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The RDB file (may be gzip-compressed; - reads standard input).
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
    /// RESP: the receiving server (redis-6.2, valkey-9.1, an RDB version, ...);
    /// default: the server that wrote the file.
    #[arg(long)]
    target: Option<String>,
    /// RESP: most elements per command.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// RESP: drop hash field TTLs the server cannot set.
    #[arg(long)]
    drop_field_ttls: bool,
    /// RESP: drop stream metadata the server cannot set.
    #[arg(long)]
    drop_stream_metadata: bool,
    /// RESP: drop function libraries for a server without functions.
    #[arg(long)]
    drop_functions: bool,
}

fn parse_kind(s: &str) -> Result<Kind, String> {
    Kind::from_name(s).ok_or_else(|| {
        format!("unknown type '{s}' (string, list, set, zset, hash, stream, module, array)")
    })
}

pub fn run(a: Args, out: &mut Out) -> Result<(), Failure> {
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
    if a.format == Format::Resp {
        return run_resp(&a, &input, dec, re.as_ref(), out);
    }
    if a.target.is_some() || a.drop_field_ttls || a.drop_stream_metadata || a.drop_functions {
        return Err(Failure::usage(
            "--target and --drop-* apply to --format resp only",
        ));
    }
    let werr = |e: std::io::Error| Failure::usage(format!("writing output: {e}"));
    let mut first = true;
    if a.format == Format::Json {
        out.write_all(b"[").map_err(werr)?;
    }
    let fail = |e: rdbkit::Error| {
        // A file that changed while it was read explains the error.
        let e = input.check_unchanged().err().unwrap_or(e);
        Failure::from_lib(&a.file, e)
    };
    for item in dec {
        let item = item.map_err(fail)?;
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
        json::write_key(out, &k).map_err(|e| Failure::from_lib(&a.file, e))?;
        if a.format == Format::Jsonl {
            out.write_all(b"\n").map_err(werr)?;
        }
    }
    if a.format == Format::Json {
        out.write_all(b"]\n").map_err(werr)?;
    }
    Ok(())
}

fn run_resp(
    a: &Args,
    input: &rdbkit::Input,
    dec: Decoder<'_>,
    re: Option<&regex::bytes::Regex>,
    out: &mut Out,
) -> Result<(), Failure> {
    let server = match &a.target {
        Some(t) => ServerRelease::parse(t).map_err(Failure::usage)?,
        None => ServerRelease::of_file(input).map_err(|e| Failure::from_lib(&a.file, e))?,
    };
    let mut opts = RespOptions::new(server);
    opts.batch = a.batch.max(1);
    opts.allow = AllowLoss {
        field_ttls: a.drop_field_ttls,
        stream_metadata: a.drop_stream_metadata,
    };
    opts.drop_functions = a.drop_functions;
    let mut w = RespWriter::new(out, opts);
    let fail = |e: rdbkit::Error| {
        let e = input.check_unchanged().err().unwrap_or(e);
        Failure::from_lib(&a.file, e)
    };
    for item in dec {
        let item = item.map_err(fail)?;
        if let Item::Key(k) = &item {
            if a.db.is_some_and(|d| d != k.db) || a.kind.is_some_and(|t| t != k.value.kind()) {
                continue;
            }
            if let Some(re) = re {
                if !re.is_match(&k.key.to_bytes().map_err(fail)?) {
                    continue;
                }
            }
        }
        w.item(&item).map_err(fail)?;
    }
    let (_, st) = w.finish().map_err(fail)?;
    errln!(
        "resp: {} keys, {} commands ({} via RESTORE), {} function libraries",
        st.keys,
        st.commands,
        st.restored,
        st.functions
    );
    let notes = [
        (st.module_aux_skipped, "module aux records not recreated"),
        (st.functions_dropped, "function libraries dropped"),
        (st.field_ttls_dropped, "hash field TTLs dropped"),
        (st.stream_metadata_dropped, "streams' metadata reduced"),
        (
            st.pel_entries_skipped,
            "pending entries not recreated (deleted entry or no owner)",
        ),
        (
            st.consumers_skipped,
            "consumers without pending entries not recreated",
        ),
    ];
    for (n, what) in notes {
        if n > 0 {
            errln!("resp: {n} {what}");
        }
    }
    Ok(())
}
