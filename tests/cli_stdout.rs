//! The binary never panics writing to stdout or stderr: a full stdout is exit
//! 2 with one line on stderr, a closed stdout pipe ends quietly with exit 0,
//! a stderr that cannot be written is ignored, and `info --json` prints a
//! JSON object also for a file it cannot read.
#![cfg(unix)]

use std::fs::OpenOptions;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_rdbkit");

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/dump1.rdb")
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rdbkit-cli-stdout-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn dev_full() -> Stdio {
    OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full")
        .into()
}

/// The write end of a pipe whose read end is already closed: every write
/// fails with EPIPE, deterministically. (The read end belonged to a child
/// that has exited without reading.)
fn closed_pipe() -> Stdio {
    let mut c = Command::new(BIN)
        .arg("--version")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let w = c.stdin.take().unwrap();
    assert!(c.wait().unwrap().success());
    w.into()
}

/// Makes a fresh stdout/stderr for a child.
type MakeStdio = fn() -> Stdio;

fn run(args: &[&str], stdout: Stdio, stderr: Stdio) -> Output {
    Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Exit 0, or killed by SIGPIPE (the conventional status of `cmd | head`).
fn quiet_end(o: &Output) -> bool {
    use std::os::unix::process::ExitStatusExt;
    o.status.code() == Some(0) || o.status.signal() == Some(13)
}

const COMMANDS: &[&[&str]] = &[
    &["verify"],
    &["verify", "--deep"],
    &["info"],
    &["info", "--json"],
    &["dump"],
    &["dump", "--format", "jsonl"],
    &["dump", "--format", "json"],
    &["dump", "--format", "resp"],
];

fn with_file<'a>(cmd: &[&'a str], file: &'a str) -> Vec<&'a str> {
    let mut v = cmd.to_vec();
    v.push(file);
    v
}

#[cfg(target_os = "linux")]
#[test]
fn full_stdout_is_exit_2_with_one_line() {
    let f = example();
    let f = f.to_str().unwrap();
    for cmd in COMMANDS {
        let args = with_file(cmd, f);
        let o = run(&args, dev_full(), Stdio::piped());
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("rdbkit: cannot write to standard output: ")
                && err.contains("No space left on device"),
            "{args:?}: {err}"
        );
    }
}

/// A command that fails on its own keeps its exit code; the write failure
/// is a second line.
#[cfg(target_os = "linux")]
#[test]
fn full_stdout_after_a_data_error_keeps_exit_1() {
    let dir = scratch("full-data");
    let data = std::fs::read(example()).unwrap();
    let corrupt = dir.join("corrupt.rdb");
    std::fs::write(&corrupt, &data[..50_000]).unwrap();
    let o = run(
        &["info", "--json", corrupt.to_str().unwrap()],
        dev_full(),
        Stdio::piped(),
    );
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(lines[0].contains("corrupt.rdb") && lines[0].contains("at byte offset"));
    assert!(lines[1].starts_with("rdbkit: cannot write to standard output: "));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn closed_stdout_pipe_ends_quietly() {
    let f = example();
    let f = f.to_str().unwrap();
    for cmd in COMMANDS {
        let args = with_file(cmd, f);
        let o = run(&args, closed_pipe(), Stdio::piped());
        let err = text(&o.stderr);
        assert!(quiet_end(&o), "{args:?}: {:?} {err}", o.status);
        assert_eq!(err, "", "{args:?}");
    }
}

/// `rdbkit dump F | head -c 10`: the reader leaves while rdbkit is blocked
/// writing (the output is larger than the pipe buffer).
#[test]
fn reader_leaving_early_ends_quietly() {
    let f = example();
    let f = f.to_str().unwrap();
    for format in ["jsonl", "json", "resp"] {
        let args = ["dump", "--format", format, f];
        let all = run(&args, Stdio::piped(), Stdio::piped());
        assert_eq!(all.status.code(), Some(0), "{}", text(&all.stderr));
        assert!(
            all.stdout.len() > 2 * 65536,
            "{format}: output of {} bytes does not exceed the pipe buffer",
            all.stdout.len()
        );

        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut head = [0u8; 10];
        child.stdout.take().unwrap().read_exact(&mut head).unwrap();
        // the read end is dropped here
        assert_eq!(head[..], all.stdout[..10]);
        let o = child.wait_with_output().unwrap();
        let err = text(&o.stderr);
        assert!(quiet_end(&o), "{format}: {:?} {err}", o.status);
        assert_eq!(err, "", "{format}");
    }
}

fn info_json(file: &Path) -> (Option<i32>, serde_json::Value, String) {
    let o = run(
        &["info", "--json", file.to_str().unwrap()],
        Stdio::piped(),
        Stdio::piped(),
    );
    let out = text(&o.stdout);
    let v: serde_json::Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("{file:?}: stdout is not JSON ({e}): {out:?}"));
    (o.status.code(), v, text(&o.stderr))
}

#[test]
fn info_json_reports_errors_as_json() {
    let dir = scratch("info-json");
    let data = std::fs::read(example()).unwrap();

    // Intact: today's fields, plus the file name and "valid": true.
    let (code, v, err) = info_json(&example());
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(v["valid"], true);
    assert_eq!(v["file"], example().to_str().unwrap());
    assert_eq!(v["keys"], 1278);
    assert_eq!(v["version"], 10);
    assert!(v.get("error").is_none());

    // Truncated in a value, and a byte flipped inside an LZF string.
    let truncated = dir.join("truncated.rdb");
    std::fs::write(&truncated, &data[..50_000]).unwrap();
    let flipped = dir.join("flipped.rdb");
    let mut d = data.clone();
    d[30_000] ^= 0xff;
    std::fs::write(&flipped, &d).unwrap();
    for (file, key) in [(&truncated, "._add-set"), (&flipped, "profile:168")] {
        let (code, v, err) = info_json(file);
        assert_eq!(code, Some(1), "{file:?}: {err}");
        assert_eq!(v["valid"], false, "{v}");
        assert_eq!(v["file"], file.to_str().unwrap(), "{v}");
        let e = &v["error"];
        let msg = e["message"].as_str().unwrap();
        assert!(!msg.is_empty() && err.contains(msg), "{v} / {err}");
        let offset = e["offset"].as_u64().unwrap();
        assert!(offset > 0 && offset < 50_000, "{v}");
        assert!(err.contains(&format!("at byte offset {offset}")), "{err}");
        assert_eq!(e["key"], key, "{v}");
        assert_eq!(e["io"], false, "{v}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }

    // Missing, and a directory (opened, but not readable as a file): exit 2.
    for file in [dir.join("missing.rdb"), dir.clone()] {
        let (code, v, err) = info_json(&file);
        assert_eq!(code, Some(2), "{file:?}: {err}");
        assert_eq!(v["valid"], false, "{v}");
        assert_eq!(v["error"]["io"], true, "{v}");
        assert!(v["error"]["offset"].is_null(), "{v}");
        let msg = v["error"]["message"].as_str().unwrap();
        assert!(msg.contains(file.to_str().unwrap()), "{msg}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unwritable_stderr_does_not_panic() {
    let dir = scratch("stderr");
    let data = std::fs::read(example()).unwrap();
    let corrupt = dir.join("corrupt.rdb");
    std::fs::write(&corrupt, &data[..50_000]).unwrap();
    let f = example();
    let f = f.to_str().unwrap();
    let c = corrupt.to_str().unwrap();
    let out = dir.join("out.rdb");
    let out = out.to_str().unwrap();
    let cases: &[(&[&str], i32)] = &[
        (&["verify", c], 1),
        (&["info", c], 1),
        (&["dump", c], 1),
        (&["verify", "/nonexistent/x.rdb"], 2),
        (&["--no-such-option"], 2),
        // the summaries on stderr
        (&["dump", "--format", "resp", f], 0),
        (&["convert", f, "-o", out, "--target", "11", "--force"], 0),
        (&["merge", f, c, "-o", out, "--force"], 1),
    ];
    let mut stderrs: Vec<(&str, MakeStdio)> = vec![("closed pipe", closed_pipe)];
    if cfg!(target_os = "linux") {
        stderrs.push(("/dev/full", dev_full));
    }
    for (args, want) in cases {
        for (what, stderr) in &stderrs {
            let o = run(args, Stdio::null(), stderr());
            assert_eq!(o.status.code(), Some(*want), "{args:?}, stderr {what}");
        }
    }
    // Both stdout and stderr unwritable.
    if cfg!(target_os = "linux") {
        for (args, want) in [(["verify", f], 2), (["verify", c], 1)] {
            for stderr in [dev_full(), closed_pipe()] {
                let o = run(&args, dev_full(), stderr);
                assert_eq!(o.status.code(), Some(want), "{args:?}");
            }
        }
    }
    // Sanity: with a working stderr the same cases do print there.
    let o = run(&["verify", c], Stdio::null(), Stdio::piped());
    assert!(text(&o.stderr).contains("corrupt.rdb"));
    let o = run(
        &["dump", "--format", "resp", f],
        Stdio::null(),
        Stdio::piped(),
    );
    assert!(text(&o.stderr).starts_with("resp: 1278 keys"));
    let _ = std::fs::remove_dir_all(&dir);
}
