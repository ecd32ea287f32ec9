//! Command-line interface. Exit codes: 0 success, 1 the data is invalid or
//! refused, 2 usage or I/O error.

mod dump;
mod info;
mod merge;
mod verify;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code: the input is valid / the job succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: the data is invalid, or the job was refused for data reasons.
pub const EXIT_DATA: u8 = 1;
/// Exit code: usage error or I/O error (cannot open, cannot write).
pub const EXIT_USAGE: u8 = 2;

/// Decode, verify, convert and merge Redis / Valkey RDB dump files.
#[derive(Parser, Debug)]
#[command(name = "rdbkit", version, about, long_about = None)]
#[command(after_help = "Exit codes: 0 success, 1 invalid data or refused, 2 usage or I/O error.")]
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

    /// Maps a library error: I/O errors are exit 2, everything else exit 1.
    pub fn from_lib(path: &str, e: rdbkit::Error) -> Self {
        match e.kind() {
            rdbkit::ErrorKind::Io(_) => Failure::usage(e),
            _ => Failure::data(format!("{}: {e}", shown(path))),
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

/// Opens an input file (`-` is standard input; gzip is decompressed): an
/// I/O failure is exit 2, a corrupt gzip stream exit 1.
pub fn open(path: &str) -> Result<rdbkit::Input, Failure> {
    rdbkit::Input::open(path).map_err(|e| match e.kind() {
        rdbkit::ErrorKind::Io(_) => {
            Failure::usage(format!("cannot open {}: {}", shown(path), e.kind()))
        }
        _ => Failure::from_lib(path, e),
    })
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let r = match cli.cmd {
        Cmd::Info(a) => info::run(a),
        Cmd::Verify(a) => verify::run(a),
        Cmd::Dump(a) => dump::run(a),
        Cmd::Merge(a) => merge::run_merge(a),
        Cmd::Convert(a) => merge::run_convert(a),
    };
    match r {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(f) => {
            eprintln!("rdbkit: {}", f.msg);
            ExitCode::from(f.code)
        }
    }
}
