//! Command-line interface. Exit codes: 0 success, 1 the data is invalid or
//! refused, 2 usage or I/O error (including a failed write to stdout). A
//! closed stdout pipe (`rdbkit dump F | head`) ends the run quietly with
//! exit 0. All output goes through [`output`]: never `println!`/`eprintln!`.

mod analyze;
mod analyze_html;
mod diff;
mod dump;
mod filter;
mod info;
mod merge;
mod output;
mod progress;
mod signals;
mod split;
mod verify;

use output::{errln, Out};

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code: the input is valid / the job succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: the data is invalid, or the job was refused for data reasons.
pub const EXIT_DATA: u8 = 1;
/// Exit code: usage error or I/O error (cannot open, cannot write, stdout full).
pub const EXIT_USAGE: u8 = 2;

/// Decode, verify, convert and merge Redis / Valkey RDB dump files.
#[derive(Parser, Debug)]
#[command(name = "rdbkit", version, about, long_about = None)]
#[command(
    after_help = "Exit codes: 0 success, 1 invalid data or refused, 2 usage or I/O error \
                  (a closed stdout pipe, as in `rdbkit dump F | head`, is a quiet exit 0)."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Show what a file holds: version, producer, aux fields, per-db counts,
    /// types and encodings, functions, modules, checksum.
    Info(info::Args),
    /// Decode every record and check the checksum; exit 1 if the file is invalid.
    Verify(verify::Args),
    /// Print every key as JSON.
    Dump(dump::Args),
    /// Merge per-node dumps into one file ready for import.
    Merge(merge::MergeArgs),
    /// Rewrite a file for another target version.
    Convert(merge::ConvertArgs),
    /// What the keys cost in a server's memory, by key, type, database, prefix and TTL.
    Analyze(analyze::Args),
    /// Keep a subset of a file's keys (by key, database, type, expiry).
    Filter(filter::Args),
    /// Whether two datasets hold the same keys, values and expiries (exit 1 if not).
    Diff(diff::Args),
    /// One file per Redis Cluster shard (or per database), each verified.
    Split(split::Args),
}

/// What the command line adds to a library error for a destination that
/// exists (`rdbkit::atomic::CreateError::Exists`, a merge's
/// `OutputExists`).
pub const FORCE_HINT: &str = "use --force to replace it";

/// The failure for a destination that cannot be written: exit 2, with the
/// `--force` hint when it exists.
pub fn destination_failure(e: rdbkit::atomic::CreateError) -> Failure {
    match e {
        rdbkit::atomic::CreateError::Exists(_) => Failure::usage(format!("{e}; {FORCE_HINT}")),
        e => Failure::usage(e),
    }
}

/// The temporary file of an output (`-o`, `--report`), created before any
/// work starts; `keep` are the inputs (never removed as stale).
pub fn create_output(
    dest: &std::path::Path,
    force: bool,
    keep: &[&std::path::Path],
) -> Result<rdbkit::atomic::AtomicFile, Failure> {
    rdbkit::atomic::AtomicFile::create_keeping(dest, force, keep).map_err(destination_failure)
}

/// The hint naming the flag that allows a loss the library refused.
pub fn loss_hint(loss: rdbkit::Loss) -> &'static str {
    match loss {
        rdbkit::Loss::FieldTtls => "allow with --drop-field-ttls",
        rdbkit::Loss::StreamMetadata => "allow with --drop-stream-metadata",
        rdbkit::Loss::Functions => "allow dropping them with --drop-functions",
        _ => "no option of the command line allows it",
    }
}

/// A library error as the command line words it: the library's message,
/// except that a loss it refused ends with the flag that allows it
/// instead of the library setting.
pub fn describe(e: &rdbkit::Error) -> String {
    match e.kind() {
        rdbkit::ErrorKind::LossNotAllowed { loss, detail } => {
            format!(
                "cannot encode: {detail} {}; {}",
                e.location(),
                loss_hint(*loss)
            )
        }
        _ => e.to_string(),
    }
}

/// A failure: message and exit code.
pub struct Failure {
    pub code: u8,
    pub msg: String,
}

impl Failure {
    pub fn data(msg: impl std::fmt::Display) -> Self {
        Failure {
            code: EXIT_DATA,
            msg: msg.to_string(),
        }
    }

    pub fn usage(msg: impl std::fmt::Display) -> Self {
        Failure {
            code: EXIT_USAGE,
            msg: msg.to_string(),
        }
    }

    /// Maps a library error: I/O errors and an input that changed while
    /// it was read are exit 2, an interruption 128 + the signal, everything
    /// else exit 1.
    pub fn from_lib(path: &str, e: rdbkit::Error) -> Self {
        match e.kind() {
            rdbkit::ErrorKind::Io { .. } => Failure::usage(e),
            rdbkit::ErrorKind::InputChanged(_) => Failure::usage(format!("{}: {e}", shown(path))),
            rdbkit::ErrorKind::Interrupted => signals::failure(signals::received().unwrap_or(2)),
            _ => Failure::data(format!("{}: {}", shown(path), describe(&e))),
        }
    }
}

/// How an input argument is named in messages: `-` is standard input.
pub fn shown(path: &str) -> &str {
    if path == "-" {
        "standard input"
    } else {
        path
    }
}

/// Reads a file this run wrote back whole, as `verify` does (every record,
/// the checksum): its keys and expiries per database holding keys.
pub fn written_counts(
    path: &std::path::Path,
) -> Result<std::collections::BTreeMap<u64, (u64, u64)>, String> {
    let data = rdbkit::Input::open(path).map_err(|e| e.to_string())?;
    let opts = rdbkit::decode::Options {
        level: rdbkit::decode::Level::Full,
        verify_checksum: true,
        ..rdbkit::decode::Options::default()
    };
    let stats = rdbkit::stats::inspect(&data, opts, 0).map_err(|e| e.to_string())?;
    Ok(stats
        .dbs
        .iter()
        .filter(|(_, d)| d.keys > 0)
        .map(|(db, d)| (*db, (d.keys, d.expires)))
        .collect())
}

/// Opens an input file (`-` is standard input; gzip is decompressed): see
/// [`open_failure`] for the exit codes.
pub fn open(path: &str) -> Result<rdbkit::Input, Failure> {
    let input = rdbkit::Input::open(path).map_err(|e| open_failure(path, &e))?;
    rdbkit::interrupt::test_pause("opened");
    Ok(input)
}

/// The failure for an input that cannot be opened: an I/O failure is exit
/// 2, a corrupt gzip stream exit 1.
pub fn open_failure(path: &str, e: &rdbkit::Error) -> Failure {
    match e.kind() {
        rdbkit::ErrorKind::Io { context, source } if context == path => {
            Failure::usage(format!("cannot open {}: {source}", shown(path)))
        }
        rdbkit::ErrorKind::Io { .. } => {
            Failure::usage(format!("cannot open {}: {}", shown(path), e.kind()))
        }
        _ => Failure::from_lib(path, e.clone()),
    }
}

pub fn main() -> ExitCode {
    signals::install();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let mut out = Out::stdout();
    let r = match cli.cmd {
        Cmd::Info(a) => info::run(a, &mut out),
        Cmd::Verify(a) => verify::run(a, &mut out),
        Cmd::Dump(a) => dump::run(a, &mut out),
        Cmd::Merge(a) => merge::run_merge(a),
        Cmd::Convert(a) => merge::run_convert(a),
        Cmd::Analyze(a) => analyze::run(a, &mut out),
        Cmd::Filter(a) => filter::run(a, &mut out),
        Cmd::Diff(a) => diff::run(a, &mut out),
        Cmd::Split(a) => split::run(a, &mut out),
    };
    // A command that ended after a signal failed because of it, whatever
    // it reports.
    let r = match (out.finish(r), signals::received()) {
        (Err(f), Some(sig)) if f.code != EXIT_OK => Err(signals::failure(sig)),
        (r, _) => r,
    };
    match r {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(f) => {
            errln!("rdbkit: {}", f.msg);
            ExitCode::from(f.code)
        }
    }
}
