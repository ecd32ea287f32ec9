//! Standard output and standard error for every command, without panics.
//!
//! `println!` and `eprintln!` panic when the write fails (a full disk, a
//! closed pipe, a closed stderr); the `rdbkit` binary never uses them
//! (`clippy.toml` forbids them in the binary). Instead:
//!
//! - stdout goes through [`Out`], a buffered writer created once by
//!   [`super::main`] and passed to the command. [`outln!`] writes (and
//!   flushes) a line and returns a [`Failure`] on error; `Out` also
//!   implements [`Write`] for bulk output through the JSON and RESP
//!   exporters. The first write error is
//!   remembered and [`Out::finish`] (called by `main`, so a command cannot
//!   forget it) turns it into the outcome: a closed pipe (`rdbkit dump F |
//!   head`) ends quietly with exit 0, any other error is exit 2 with one line
//!   on stderr (`cannot write to standard output: ...`).
//! - stderr goes through [`errln!`], which ignores write errors: a message
//!   that cannot be shown must not turn into a crash.

use std::fmt;
use std::io::{self, BufWriter, StdoutLock, Write};

use super::Failure;

/// Writes one line to stdout through an [`Out`]: `outln!(out, "x = {x}")?`.
/// Evaluates to `Result<(), Failure>`.
macro_rules! outln {
    ($out:expr) => {
        $out.line(format_args!(""))
    };
    ($out:expr, $($arg:tt)*) => {
        $out.line(format_args!($($arg)*))
    };
}
pub(crate) use outln;

/// Writes one line to stderr, ignoring write errors (never panics).
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::output::err_line(format_args!($($arg)*))
    };
}
pub(crate) use errln;

/// Writes one line to stderr; a failed write is ignored. See [`errln!`].
pub fn err_line(args: fmt::Arguments<'_>) {
    let mut e = io::stderr().lock();
    let _ = e.write_fmt(args).and_then(|()| e.write_all(b"\n"));
    let _ = e.flush();
}

/// Buffered standard output that remembers its first write error.
pub struct Out {
    w: BufWriter<StdoutLock<'static>>,
    /// The first failed write: its kind and text (later writes fail the same way).
    failed: Option<(io::ErrorKind, String)>,
}

impl Out {
    /// Locks stdout for the whole run (64 KiB buffer).
    pub fn stdout() -> Out {
        Out {
            w: BufWriter::with_capacity(1 << 16, io::stdout().lock()),
            failed: None,
        }
    }

    /// Writes `args` and a newline, and flushes (see [`outln!`]): lines and
    /// stderr messages stay in order. Bulk output (`dump`) goes through
    /// [`Write`] instead, flushed when the buffer is full and at the end.
    pub fn line(&mut self, args: fmt::Arguments<'_>) -> Result<(), Failure> {
        self.write_fmt(args)
            .and_then(|()| self.write_all(b"\n"))
            .and_then(|()| self.flush())
            .map_err(|e| stdout_failure(&e.to_string()))
    }

    /// Flushes and settles the outcome of a command that wrote to `self`.
    ///
    /// - A write failed while the command ran: the command stopped because of
    ///   it, so the outcome is the write failure, whatever the command
    ///   returned (its error is a consequence).
    /// - Otherwise the buffered rest is flushed. If the command succeeded, a
    ///   failed flush is the outcome. If the command failed, its failure
    ///   and exit code stand, and a failed flush is reported on a second
    ///   line.
    ///
    /// A closed pipe is never reported: the reader has what it wanted, the
    /// run ends quietly (exit 0 unless the command failed on its own).
    pub fn finish(mut self, r: Result<(), Failure>) -> Result<(), Failure> {
        let during_run = self.failed.is_some();
        if !during_run {
            let _ = self.flush(); // a failure is recorded
        }
        let Some((kind, msg)) = self.failed.take() else {
            return r;
        };
        let write_failure = if kind == io::ErrorKind::BrokenPipe {
            Ok(())
        } else {
            Err(stdout_failure(&msg))
        };
        match (r, write_failure) {
            // The command's failure, then the write failure on a second line.
            (Err(mut f), Err(w)) if !during_run => {
                f.msg = format!("{}\nrdbkit: {}", f.msg, w.msg);
                Err(f)
            }
            (Err(f), Ok(())) if !during_run => Err(f),
            (_, write_failure) => write_failure,
        }
    }

    /// Remembers the first failure (an interrupted write is retried by the
    /// caller, not a failure).
    fn record(&mut self, e: io::Error) -> io::Error {
        if self.failed.is_none() && e.kind() != io::ErrorKind::Interrupted {
            self.failed = Some((e.kind(), e.to_string()));
        }
        e
    }

    fn check(&self) -> io::Result<()> {
        match &self.failed {
            Some((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
            None => Ok(()),
        }
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.check()?;
        self.w.write(buf).map_err(|e| self.record(e))
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.check()?;
        self.w.write_all(buf).map_err(|e| self.record(e))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.check()?;
        self.w.flush().map_err(|e| self.record(e))
    }
}

/// The failure for a write to stdout that failed (`msg` the error's text).
fn stdout_failure(msg: &str) -> Failure {
    Failure::usage(format!("cannot write to standard output: {msg}"))
}
