//! `rdbkit analyze`: what the keys of one or several dumps cost in a
//! server's memory (the library's `analyze` over its `memory` model).

use std::io::Write;
use std::path::PathBuf;

use rdbkit::analyze::{analyze, for_each_key, Analysis, AnalyzeOptions, KeyRow, TTL_BUCKETS};
use rdbkit::atomic::{check_paths, AtomicFile, Role};
use rdbkit::decode::Kind;
use rdbkit::memory::{Allocator, Model};
use rdbkit::release::ServerRelease;

use super::output::Out;
use super::{open, Failure};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The dumps (the nodes of one deployment); gzip is decompressed; - reads standard input.
    #[arg(required = true)]
    inputs: Vec<String>,
    /// The server whose memory is modelled (redis-7.0, redis-7.4); default: the newest input's.
    #[arg(long)]
    target: Option<String>,
    /// The allocator: jemalloc (as Redis bundles it), jemalloc-q16 (as distributions build it) or libc.
    #[arg(long, default_value = "jemalloc")]
    allocator: String,
    /// The biggest keys to list.
    #[arg(long, default_value_t = 100)]
    top: usize,
    /// Separator of key prefixes.
    #[arg(long, default_value = ":")]
    prefix_sep: String,
    /// Prefix levels.
    #[arg(long, default_value_t = 3)]
    prefix_depth: usize,
    /// Prefix buckets kept (the smallest are folded into "(other)").
    #[arg(long, default_value_t = 100_000)]
    max_prefixes: usize,
    /// Only this database.
    #[arg(long)]
    db: Option<u64>,
    /// Only keys matching this regular expression.
    #[arg(long)]
    key: Option<String>,
    /// Only keys of this type (string, list, set, zset, hash, stream, module).
    #[arg(long = "type")]
    kind: Option<String>,
    /// Output: text, json, html (one self-contained page), or csv (one row per key, streamed).
    #[arg(long, default_value = "text")]
    format: String,
    /// Write the output to FILE (a temporary file, fsynced, renamed) instead of standard output.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Also write one row per key (and input) to FILE as Parquet, for DuckDB, Spark and the like.
    #[arg(long, value_name = "FILE")]
    keys_parquet: Option<PathBuf>,
    /// Replace FILE (and the --keys-parquet file) if it exists.
    #[arg(long)]
    force: bool,
    /// Show a progress bar on stderr (the default when stderr is a terminal).
    #[arg(long, overrides_with = "no_progress")]
    progress: bool,
    /// Never show a progress bar.
    #[arg(long)]
    no_progress: bool,
}

/// The release to model: `--target`, else the newest input's producer.
fn release(a: &Args, inputs: &[rdbkit::Input]) -> Result<ServerRelease, Failure> {
    if let Some(t) = &a.target {
        return ServerRelease::parse(t).map_err(Failure::usage);
    }
    let mut best: Option<ServerRelease> = None;
    for (i, data) in inputs.iter().enumerate() {
        let r = ServerRelease::of_file(data).map_err(|e| Failure::from_lib(&a.inputs[i], e))?;
        if best.is_none_or(|b| (r.major, r.minor) > (b.major, b.minor)) {
            best = Some(r);
        }
    }
    best.ok_or_else(|| Failure::usage("no input"))
}

fn options(a: &Args, inputs: &[rdbkit::Input]) -> Result<AnalyzeOptions, Failure> {
    let alloc = Allocator::from_name(&a.allocator).ok_or_else(|| {
        Failure::usage(format!(
            "unknown allocator {:?} (jemalloc, jemalloc-q16, libc)",
            a.allocator
        ))
    })?;
    let model = Model::new(release(a, inputs)?, alloc)
        .map_err(|e| Failure::usage(format!("{e}; choose one with --target")))?;
    let mut o = AnalyzeOptions::new(model);
    o.top = a.top;
    o.prefix_sep = a.prefix_sep.as_bytes().to_vec();
    o.prefix_depth = a.prefix_depth;
    o.max_prefixes = a.max_prefixes;
    o.db = a.db;
    if !a.no_progress && (a.progress || std::io::IsTerminal::is_terminal(&std::io::stderr())) {
        o.progress = Some(super::progress::Bar::sink());
    }
    if let Some(t) = &a.kind {
        o.kind = Some(Kind::from_name(t).ok_or_else(|| {
            Failure::usage(format!(
                "unknown type {t:?} (string, list, set, zset, hash, stream, module)"
            ))
        })?);
    }
    if let Some(k) = &a.key {
        let re = regex::bytes::Regex::new(k).map_err(|e| Failure::usage(format!("--key: {e}")))?;
        o.key_filter = Some(std::sync::Arc::new(move |key: &[u8]| re.is_match(key)));
    }
    Ok(o)
}

pub fn run(a: Args, out: &mut Out) -> Result<(), Failure> {
    if !matches!(a.format.as_str(), "text" | "json" | "csv" | "html") {
        return Err(Failure::usage(format!(
            "unknown format {:?} (text, json, html, csv)",
            a.format
        )));
    }
    let dest = prepare_output(&a, a.output.as_ref(), "the output (-o)")?;
    let parquet = prepare_output(&a, a.keys_parquet.as_ref(), "the keys (--keys-parquet)")?;
    let inputs: Vec<rdbkit::Input> = a.inputs.iter().map(|p| open(p)).collect::<Result<_, _>>()?;
    let opts = options(&a, &inputs)?;
    let names: Vec<&str> = a.inputs.iter().map(|p| super::shown(p)).collect();
    let data: Vec<(&str, &[u8])> = names
        .iter()
        .zip(&inputs)
        .map(|(n, d)| (*n, &d[..]))
        .collect();
    if let Some(mut file) = parquet {
        // The analysis checks the inputs first: nothing is written for a
        // corrupt one.
        analyze(&data, &opts).map_err(|e| Failure::from_lib(data[e.input].0, e.error))?;
        let name = file.dest().display().to_string();
        let w = std::io::BufWriter::new(file.file());
        let mut pq = rdbkit::analyze::KeysParquet::new(w).map_err(Failure::usage)?;
        for (i, (input, bytes)) in data.iter().enumerate() {
            for_each_key(bytes, i, &opts, |row| pq.push(row))
                .and_then(|()| inputs[i].check_unchanged())
                .map_err(|e| match e.kind() {
                    rdbkit::ErrorKind::Io { .. } => Failure::usage(e),
                    _ => Failure::from_lib(input, e),
                })?;
        }
        let w = pq.finish().map_err(Failure::usage)?;
        let flushed = w.into_inner().map(drop).map_err(|e| e.into_error());
        flushed
            .and_then(|()| file.commit())
            .map_err(|e| Failure::usage(format!("cannot write {name}: {e}")))?;
    }
    match dest {
        Some(mut file) => {
            let name = file.dest().display().to_string();
            let mut w = std::io::BufWriter::new(file.file());
            let written = write(&a, &opts, &data, &inputs, &mut w);
            let flushed = w.flush();
            drop(w);
            written?;
            flushed
                .and_then(|()| file.commit())
                .map_err(|e| Failure::usage(format!("cannot write {name}: {e}")))
        }
        None => write(&a, &opts, &data, &inputs, out),
    }
}

/// Checks an output (`-o`, `--keys-parquet`) against the inputs and the
/// other output, and creates its temporary file before anything is read.
fn prepare_output(
    a: &Args,
    path: Option<&PathBuf>,
    what: &'static str,
) -> Result<Option<AtomicFile>, Failure> {
    let Some(o) = path else { return Ok(None) };
    let paths: Vec<PathBuf> = a.inputs.iter().map(PathBuf::from).collect();
    let names: Vec<String> = (1..=paths.len()).map(|i| format!("input {i}")).collect();
    let ins: Vec<Role<'_>> = paths
        .iter()
        .zip(&names)
        .map(|(p, what)| Role { what, path: p })
        .collect();
    let mut outs = vec![Role { what, path: o }];
    for (other, name) in [
        (&a.output, "the output (-o)"),
        (&a.keys_parquet, "the keys (--keys-parquet)"),
    ] {
        if let Some(p) = other.as_ref().filter(|p| *p != o) {
            outs.push(Role {
                what: name,
                path: p,
            });
        }
    }
    check_paths(&ins, &outs).map_err(Failure::usage)?;
    let keep: Vec<&std::path::Path> = paths.iter().map(PathBuf::as_path).collect();
    super::create_output(o, a.force, &keep).map(Some)
}

fn io(e: std::io::Error) -> Failure {
    Failure::usage(format!("cannot write the output: {e}"))
}

fn write(
    a: &Args,
    opts: &AnalyzeOptions,
    data: &[(&str, &[u8])],
    inputs: &[rdbkit::Input],
    w: &mut impl Write,
) -> Result<(), Failure> {
    if a.format == "csv" {
        writeln!(
            w,
            "db,key,type,encoding,elements,serialized_bytes,memory_bytes,expire_ms,input"
        )
        .map_err(io)?;
        for (i, (name, bytes)) in data.iter().enumerate() {
            // Rows on every core, written in file order once the input
            // checked whole.
            let r = rdbkit::analyze::write_rows(
                bytes,
                i,
                opts,
                |row, buf: &mut Vec<u8>| csv_row(buf, row),
                w,
            );
            r.and_then(|()| inputs[i].check_unchanged())
                .map_err(|e| match e.kind() {
                    rdbkit::ErrorKind::Io { context, .. }
                        if context == "the output" || context == "a temporary file" =>
                    {
                        Failure::usage(e)
                    }
                    _ => Failure::from_lib(name, e),
                })?;
        }
        return Ok(());
    }
    let r = analyze(data, opts).map_err(|e| {
        let e2 = inputs[e.input].check_unchanged().err().unwrap_or(e.error);
        Failure::from_lib(data[e.input].0, e2)
    })?;
    if a.format == "json" {
        let text = serde_json::to_string_pretty(&r.to_json()).unwrap_or_default();
        writeln!(w, "{text}").map_err(io)
    } else if a.format == "html" {
        w.write_all(super::analyze_html::page(&r).as_bytes())
            .map_err(io)
    } else {
        text(w, &r).map_err(io)
    }
}

/// A CSV field: quoted when it holds a comma, quote or line break; keys
/// that are not UTF-8 are written as their escaped text.
fn csv_field(b: &[u8]) -> String {
    let s = match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        Err(_) => rdbkit::format::escape_bytes(b),
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn csv_row(w: &mut Vec<u8>, r: &KeyRow<'_>) {
    push_u64(w, r.db);
    w.push(b',');
    // Most keys are ASCII with nothing to quote: written as they are.
    if r.key.iter().all(|&c| !CSV_SPECIAL[usize::from(c)]) {
        w.extend_from_slice(&r.key);
    } else {
        w.extend_from_slice(csv_field(&r.key).as_bytes());
    }
    w.push(b',');
    w.extend_from_slice(r.kind.name().as_bytes());
    w.push(b',');
    w.extend_from_slice(r.encoding.name().as_bytes());
    for n in [r.elements, r.serialized_bytes, r.memory_bytes] {
        w.push(b',');
        push_u64(w, n);
    }
    w.push(b',');
    if let Some(e) = r.expire_ms {
        if e < 0 {
            w.push(b'-');
        }
        push_u64(w, e.unsigned_abs());
    }
    w.push(b',');
    push_u64(w, r.input as u64 + 1);
    w.push(b'\n');
}

/// Bytes a key cannot hold to be written as it is in a CSV field: the
/// ones that need quoting, and any byte beyond ASCII (such a key is then
/// checked as UTF-8 by [`csv_field`]).
const CSV_SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = c >= 0x80 || matches!(c as u8, b',' | b'"' | b'\n' | b'\r');
        c += 1;
    }
    t
};

/// "00" to "99", two digits at a time.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Appends a number's decimal text (without the formatting machinery:
/// CSV rows are mostly numbers).
fn push_u64(w: &mut Vec<u8>, mut n: u64) {
    if n < 10 {
        w.push(b'0' + n as u8);
        return;
    }
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    while n >= 100 {
        let d = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        digits[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    }
    if n >= 10 {
        let d = n as usize * 2;
        i -= 2;
        digits[i..i + 2].copy_from_slice(&DIGIT_PAIRS[d..d + 2]);
    } else {
        i -= 1;
        digits[i] = b'0' + n as u8;
    }
    w.extend_from_slice(&digits[i..]);
}

/// The TTL buckets' labels, in the order of [`TTL_BUCKETS`].
pub const TTL_LABELS: [&str; TTL_BUCKETS.len()] = [
    "≤ 1 minute",
    "≤ 1 hour",
    "≤ 1 day",
    "≤ 7 days",
    "≤ 30 days",
    "≤ 365 days",
    "later",
];

/// Bytes for people: B, KiB, MiB, GiB, TiB.
pub fn human(b: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

fn text(w: &mut impl Write, r: &Analysis) -> std::io::Result<()> {
    writeln!(w, "memory model: {} ({})", r.target, r.allocator)?;
    for (i, inp) in r.inputs.iter().enumerate() {
        writeln!(
            w,
            "input {}: {} — RDB {}, {} bytes, {} keys, {} in memory",
            i + 1,
            inp.name,
            inp.version,
            inp.bytes,
            inp.sums.keys,
            human(inp.sums.memory_bytes)
        )?;
    }
    let t = &r.totals;
    writeln!(
        w,
        "total: {} keys ({} with expiry, {} duplicates counted once), {} serialized, {} in memory; used_memory after loading ≈ {}",
        t.keys,
        t.expires,
        t.duplicates,
        human(t.serialized_bytes),
        human(t.memory_bytes),
        human(r.used_memory_estimate)
    )?;
    writeln!(w, "\nby type:")?;
    for ((k, e), s) in &r.by_type {
        writeln!(
            w,
            "  {:<7} {:<11} {:>10} keys {:>12} elements {:>12}",
            k.name(),
            e.name(),
            s.keys,
            s.elements,
            human(s.memory_bytes)
        )?;
    }
    writeln!(w, "\nby database:")?;
    for (db, s) in &r.by_db {
        writeln!(
            w,
            "  db {db:<4} {:>10} keys {:>10} expires {:>12}",
            s.keys,
            s.expires,
            human(s.memory_bytes)
        )?;
    }
    writeln!(w, "\nbiggest keys:")?;
    for k in &r.top_keys {
        writeln!(
            w,
            "  {:>12} B  db {} {} {} ({}, {} elements, input {})",
            k.memory_bytes,
            k.db,
            rdbkit::format::escape_bytes(&k.key),
            k.kind.name(),
            k.encoding.name(),
            k.elements,
            k.input + 1
        )?;
    }
    if r.prefixes_exact {
        writeln!(w, "\nprefixes:")?;
    } else {
        writeln!(
            w,
            "\nprefixes (more than --max-prefixes: the smallest were folded into (other); figures are lower bounds):"
        )?;
    }
    for p in r.prefixes.iter().take(50) {
        let name = if p.other {
            "(other)".to_string()
        } else {
            rdbkit::format::escape_bytes(&p.prefix)
        };
        writeln!(
            w,
            "  {:>12}  {:>10} keys  depth {}  {}",
            human(p.sums.memory_bytes),
            p.sums.keys,
            p.depth,
            name
        )?;
    }
    writeln!(w, "\ntime to live:")?;
    let line = |w: &mut dyn Write, label: &str, s: &rdbkit::analyze::Sums| {
        writeln!(
            w,
            "  {label:<16} {:>10} keys {:>12}",
            s.keys,
            human(s.memory_bytes)
        )
    };
    line(w, "no expiry", &r.ttl.no_expiry)?;
    line(w, "already expired", &r.ttl.expired)?;
    for (label, s) in TTL_LABELS.iter().zip(&r.ttl.buckets) {
        line(w, label, s)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdbkit::memory::MemEncoding;
    use std::borrow::Cow;

    #[test]
    fn numbers_as_formatted() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut values = vec![0, 9, 10, 11, 99, 100, 101, 999, 1000, u64::MAX];
        for p in 1..20 {
            let t = 10u64.pow(p);
            values.extend([t - 1, t, t + 1]);
        }
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(x >> (x % 64));
        }
        let mut w = Vec::new();
        for n in values {
            w.clear();
            push_u64(&mut w, n);
            assert_eq!(w, n.to_string().as_bytes());
        }
    }

    #[test]
    fn keys_quoted_only_when_needed() {
        let row = |key: &'static [u8]| {
            let r = KeyRow {
                db: 3,
                key: Cow::Borrowed(key),
                kind: Kind::String,
                encoding: MemEncoding::Embstr,
                elements: 1,
                serialized_bytes: 12,
                memory_bytes: 56,
                allocated_bytes: 56,
                expire_ms: Some(-5),
                input: 0,
            };
            let mut w = Vec::new();
            csv_row(&mut w, &r);
            String::from_utf8(w).unwrap()
        };
        let tail = ",string,embstr,1,12,56,-5,1\n";
        for (key, field) in [
            (&b"user:1"[..], "user:1"),
            (b"", ""),
            ("ключ:é".as_bytes(), "ключ:é"),
            (b"a,b", "\"a,b\""),
            (b"say \"hi\"", "\"say \"\"hi\"\"\""),
            (b"two\nlines", "\"two\nlines\""),
            (b"cr\r", "\"cr\r\""),
            (b"\xff\x00k", "\\xff\\x00k"),
        ] {
            assert_eq!(row(key), format!("3,{field}{tail}"), "key {key:?}");
        }
    }
}
