//! The `rdbkit` command line: a thin layer over the library.

// println!/eprintln! panic when stdout/stderr cannot be written: all output
// goes through src/cli/output.rs (see clippy.toml).
#![deny(clippy::disallowed_macros)]

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
