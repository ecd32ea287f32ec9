//! `SIGINT` and `SIGTERM`: stop the work, remove temporary files, exit with
//! 128 + the signal number (130, 143).
//!
//! A signal asks the library to stop ([`rdbkit::interrupt::request`]): every
//! decoder and the merge writer check that between records, so the command
//! unwinds normally within moments, its temporary files are removed by
//! their owners, and a merge report is still written with the status
//! `interrupted`. Should the command not have ended [`GRACE`] later (a
//! long `fsync`, say), or on a second signal, the temporary files are
//! removed here and the process exits at once.

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

/// How long a command may take to stop after the first signal.
const GRACE: Duration = Duration::from_secs(10);

static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// The signal that interrupted the command, if one did.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::Acquire) {
        0 => None,
        s => Some(s),
    }
}

fn name(sig: i32) -> &'static str {
    match sig {
        2 => "SIGINT",
        15 => "SIGTERM",
        _ => "a signal",
    }
}

/// The exit code and message of a command ended by `sig`.
pub fn failure(sig: i32) -> super::Failure {
    super::Failure {
        code: (128 + sig).clamp(0, 255) as u8,
        msg: format!(
            "interrupted by {}; nothing was published and no temporary file was left",
            name(sig)
        ),
    }
}

fn exit_now(sig: i32) -> ! {
    let removed = rdbkit::atomic::remove_temporaries();
    super::output::errln!(
        "rdbkit: interrupted by {}; removed {} temporary file(s)",
        name(sig),
        removed.len()
    );
    std::process::exit(128 + sig)
}

/// Installs the handlers (a thread that waits for the signals).
#[cfg(unix)]
pub fn install() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("rdbkit-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if RECEIVED
                    .compare_exchange(0, sig, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    exit_now(sig);
                }
                rdbkit::interrupt::request();
                let _ = std::thread::Builder::new()
                    .name("rdbkit-grace".into())
                    .spawn(move || {
                        std::thread::sleep(GRACE);
                        exit_now(sig)
                    });
            }
        });
}

/// No signal handling on this platform.
#[cfg(not(unix))]
pub fn install() {}
