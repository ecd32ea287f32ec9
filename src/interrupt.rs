//! Stopping work in progress from another thread or a signal handler.
//!
//! [`request`] asks every decoder, scan and merge running in this process to
//! stop: each checks a flag before every record (and between pieces of the
//! output it writes) and returns [`ErrorKind::Interrupted`]. A merge that
//! stops this way removes its temporary files and reports the status
//! `interrupted`. The command line calls [`request`] on `SIGINT` and
//! `SIGTERM`.
//!
//! ```
//! use rdbkit::decode::{Decoder, Options};
//! use rdbkit::ErrorKind;
//! let file = b"REDIS0011\xfe\x00\x00\x01a\xc0\x01\xff\0\0\0\0\0\0\0\0";
//! rdbkit::interrupt::request();
//! let first = Decoder::new(file, Options::default()).unwrap().next().unwrap();
//! assert_eq!(first.unwrap_err().kind(), &ErrorKind::Interrupted);
//! rdbkit::interrupt::clear();
//! assert!(Decoder::new(file, Options::default()).unwrap().next().unwrap().is_ok());
//! ```

use std::sync::atomic::{AtomicBool, Ordering};

use crate::{Error, ErrorKind, Result};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Asks all work in progress to stop with [`ErrorKind::Interrupted`].
/// Async-signal-safe: it only stores to an atomic.
pub fn request() {
    REQUESTED.store(true, Ordering::Release);
}

/// Withdraws a [`request`], so that new work runs again.
pub fn clear() {
    REQUESTED.store(false, Ordering::Release);
}

/// Whether a stop was requested.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Acquire)
}

/// Whether a decoder must look closer before its next record: a stop was
/// requested or some mapped input faulted. One relaxed load each; called
/// before every record.
#[inline]
pub(crate) fn attention() -> bool {
    REQUESTED.load(Ordering::Relaxed) || crate::file::any_fault()
}

/// The error a decoder over `data` at byte `at` must stop with, if any.
#[cold]
pub(crate) fn check(data: &[u8], at: u64) -> Result<()> {
    if requested() {
        return Err(Error::new(ErrorKind::Interrupted, at));
    }
    crate::file::check_faulted(data, at)
}

/// [`check`] for loops that are not decoders (copying, compressing).
#[inline]
pub(crate) fn poll(data: &[u8], at: u64) -> Result<()> {
    if attention() {
        check(data, at)
    } else {
        Ok(())
    }
}

/// A deterministic pause for tests of files changing underneath: when the
/// environment variable `RDBKIT_TEST_PAUSE` is `POINT:MARKER` and `point`
/// is `POINT`, creates the file `MARKER` and waits (up to 60 s) until the
/// test removes it. Points: `opened` (inputs open, nothing read yet),
/// `planned` (merge inputs checked, nothing written yet) and `publishing`
/// (a split's outputs all written, none published). Not for use outside
/// tests.
#[doc(hidden)]
pub fn test_pause(point: &str) {
    let Some(v) = std::env::var_os("RDBKIT_TEST_PAUSE") else {
        return;
    };
    let v = v.to_string_lossy();
    let Some((p, marker)) = v.split_once(':') else {
        return;
    };
    if p != point || std::fs::write(marker, b"").is_err() {
        return;
    }
    let marker = std::path::Path::new(marker);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while marker.exists() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
