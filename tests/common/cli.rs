//! For integration tests that run the `rdbkit` binary (with
//! `servers::rdbkit`): the shipped example dumps, and the output of a run
//! that must succeed.
#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};
use std::process::Output;

/// A shipped example dump (`examples/NAME`).
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// The standard output of a run that must succeed (else a panic showing
/// its exit code and standard error).
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}
