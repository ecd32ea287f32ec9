//! Never lose, never corrupt, never crash: the command line with outputs
//! that would destroy something, signals, stale temporary files and inputs
//! that change while they are read.
//!
//! Inputs changing underneath use the test-only pause points of the binary
//! (`RDBKIT_TEST_PAUSE=POINT:MARKER`, see `rdbkit::interrupt::test_pause`):
//! the command creates MARKER at POINT and waits until the test, having
//! changed the input from its own thread, removes it. So the change lands
//! at a known step every time, while the command is running.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_rdbkit");
const IN1: &str = "examples/dump1.rdb";
const IN2: &str = "examples/dump2.rdb";

/// A fresh directory holding copies of the two example dumps (a.rdb, b.rdb).
fn workdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rdbkit-safety-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(IN1, d.join("a.rdb")).unwrap();
    std::fs::copy(IN2, d.join("b.rdb")).unwrap();
    d
}

fn rdbkit(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The names in `dir`, sorted (hidden temporary files included).
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn temporaries(dir: &Path) -> Vec<String> {
    listing(dir)
        .into_iter()
        .filter(|n| n.contains(".rdbkit-"))
        .collect()
}

const MERGE: &[&str] = &["merge", "a.rdb", "b.rdb", "--drop-dynomite-metadata"];

fn merge_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    MERGE.iter().copied().chain(extra.iter().copied()).collect()
}

#[test]
fn a_report_never_replaces_an_input_or_the_output() {
    let d = workdir("report-clash");
    let b = std::fs::read(d.join("b.rdb")).unwrap();
    for (report, other) in [
        ("b.rdb", "input 2"),
        ("./b.rdb", "input 2"),
        ("out.rdb", "the output"),
        ("./out.rdb", "the output"),
    ] {
        let o = rdbkit(&d, &merge_args(&["-o", "out.rdb", "--report", report]));
        assert_eq!(
            o.status.code(),
            Some(2),
            "--report {report}: {}",
            stderr(&o)
        );
        let e = stderr(&o);
        assert!(
            e.contains("the report (--report)") && e.contains(other),
            "{e}"
        );
        assert!(e.contains(report), "the message names the path: {e}");
        assert_eq!(std::fs::read(d.join("b.rdb")).unwrap(), b, "input 2 intact");
        assert!(!d.join("out.rdb").exists(), "nothing written");
        assert!(temporaries(&d).is_empty());
    }
    // Through a symbolic link to an input, and with --force too.
    std::os::unix::fs::symlink("a.rdb", d.join("link.json")).unwrap();
    let o = rdbkit(
        &d,
        &merge_args(&["-o", "out.rdb", "--report", "link.json", "--force"]),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("input 1"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(d.join("a.rdb")).unwrap(),
        std::fs::read(IN1).unwrap()
    );
    // convert: the report cannot be its input either.
    let o = rdbkit(
        &d,
        &[
            "convert", "a.rdb", "-o", "c.rdb", "--target", "11", "--report", "a.rdb",
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("the input"), "{}", stderr(&o));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn report_problems_are_found_before_the_work() {
    let d = workdir("report-early");
    // Unwritable: its directory does not exist. Nothing is written.
    let o = rdbkit(
        &d,
        &merge_args(&["-o", "out.rdb", "--report", "missing/r.json"]),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("missing"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("input 1:"), "no input was read");
    assert!(!d.join("out.rdb").exists());
    // An existing report needs --force, and is not touched without it.
    std::fs::write(d.join("r.json"), b"keep me").unwrap();
    let o = rdbkit(&d, &merge_args(&["-o", "out.rdb", "--report", "r.json"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("report: r.json exists; use --force to replace it"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(d.join("r.json")).unwrap(), b"keep me");
    assert!(!d.join("out.rdb").exists());
    let o = rdbkit(
        &d,
        &merge_args(&["-o", "out.rdb", "--report", "r.json", "--force"]),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("r.json")).unwrap()).unwrap();
    assert_eq!(v["status"], "written");
    assert!(d.join("out.rdb").exists());
    assert!(temporaries(&d).is_empty(), "{:?}", listing(&d));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn special_files_and_stdout_are_never_outputs() {
    let d = workdir("special");
    // /dev/null stays a device (the test runs as root in CI).
    let o = rdbkit(&d, &merge_args(&["-o", "/dev/null", "--force"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
    {
        use std::os::unix::fs::FileTypeExt;
        let t = std::fs::metadata("/dev/null").unwrap().file_type();
        assert!(t.is_char_device(), "/dev/null is still a device");
    }
    // A FIFO is not replaced either, and no report goes to one.
    let fifo = d.join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let o = rdbkit(&d, &merge_args(&["-o", "fifo", "--force"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = rdbkit(
        &d,
        &merge_args(&["-o", "out.rdb", "--report", "fifo", "--force"]),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(!d.join("out.rdb").exists());
    // `-o -` is refused, and no file named "-" appears.
    let o = rdbkit(&d, &merge_args(&["-o", "-"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("standard output"), "{}", stderr(&o));
    assert!(!d.join("-").exists());
    // A directory.
    std::fs::create_dir(d.join("dir")).unwrap();
    let o = rdbkit(&d, &merge_args(&["-o", "dir", "--force"]));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(d.join("dir").is_dir());
    assert!(temporaries(&d).is_empty(), "{:?}", listing(&d));
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn the_same_input_twice_is_reported() {
    let d = workdir("twice");
    std::os::unix::fs::symlink("a.rdb", d.join("link.rdb")).unwrap();
    std::fs::hard_link(d.join("a.rdb"), d.join("hard.rdb")).unwrap();
    for second in ["./a.rdb", "link.rdb", "hard.rdb", "../{}/a.rdb"] {
        let dirname = d.file_name().unwrap().to_string_lossy().into_owned();
        let second = second.replace("{}", &dirname);
        let o = rdbkit(&d, &["merge", "a.rdb", &second, "-o", "out.rdb"]);
        assert_eq!(o.status.code(), Some(2), "{second}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains("input 1 and input 2 are the same file") && e.contains(&second),
            "{e}"
        );
        assert!(!d.join("out.rdb").exists());
    }
    std::fs::remove_dir_all(&d).unwrap();
}

/// Starts the binary in its own process group, paused at `point`.
fn start_paused(dir: &Path, point: &str, args: &[&str]) -> (Child, PathBuf) {
    use std::os::unix::process::CommandExt;
    let marker = dir.join(format!("pause-{point}"));
    let _ = std::fs::remove_file(&marker);
    let child = Command::new(BIN)
        .current_dir(dir)
        .args(args)
        .env("RDBKIT_TEST_PAUSE", format!("{point}:{}", marker.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    while !marker.exists() {
        assert!(Instant::now() < until, "the command never reached {point}");
        std::thread::sleep(Duration::from_millis(5));
    }
    (child, marker)
}

fn kill(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn sigint_and_sigterm_remove_the_temporary_output() {
    for (sig, code) in [("INT", 130), ("TERM", 143)] {
        let d = workdir(&format!("signal-{sig}"));
        let (child, marker) = start_paused(
            &d,
            "planned",
            &merge_args(&["-o", "out.rdb", "--report", "r.json"]),
        );
        let tmp = temporaries(&d);
        assert_eq!(tmp.len(), 2, "output and report temporaries: {tmp:?}");
        kill(&child, sig);
        std::fs::remove_file(&marker).unwrap();
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(code), "SIG{sig}: {}", stderr(&o));
        assert!(stderr(&o).contains(&format!("SIG{sig}")), "{}", stderr(&o));
        assert!(!d.join("out.rdb").exists());
        assert!(temporaries(&d).is_empty(), "{:?}", listing(&d));
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join("r.json")).unwrap()).unwrap();
        assert_eq!(v["status"], "interrupted");
        std::fs::remove_dir_all(&d).unwrap();
    }
}

#[test]
fn a_second_signal_exits_at_once_and_still_cleans_up() {
    let d = workdir("signal-twice");
    let (child, _marker) = start_paused(&d, "planned", &merge_args(&["-o", "out.rdb"]));
    assert_eq!(temporaries(&d).len(), 1);
    kill(&child, "INT");
    std::thread::sleep(Duration::from_millis(100));
    // Still paused (the marker is there): only the second signal ends it.
    kill(&child, "INT");
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("removed 1 temporary file"),
        "{}",
        stderr(&o)
    );
    assert!(temporaries(&d)
        .iter()
        .all(|n| n.starts_with("pause-") || !n.contains(".rdbkit-")));
    assert!(!d.join("out.rdb").exists());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn temporaries_of_a_killed_run_are_removed_by_the_next() {
    let d = workdir("stale");
    let (mut child, marker) = start_paused(&d, "planned", &merge_args(&["-o", "out.rdb"]));
    let left = temporaries(&d);
    assert_eq!(left.len(), 1, "{left:?}");
    kill(&child, "KILL");
    let _ = child.wait();
    std::fs::remove_file(&marker).unwrap();
    assert_eq!(temporaries(&d), left, "SIGKILL leaves the temporary file");
    // The next run into the same directory removes it and says so.
    let o = rdbkit(&d, &merge_args(&["-o", "out.rdb"]));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("removed stale temporary file") && stderr(&o).contains(&left[0]),
        "{}",
        stderr(&o)
    );
    assert!(temporaries(&d).is_empty(), "{:?}", listing(&d));
    std::fs::remove_dir_all(&d).unwrap();
}

const SPLIT: &[&str] = &[
    "split",
    "a.rdb",
    "b.rdb",
    "-o",
    "out",
    "--slots",
    "0-8000,8001-16383",
    "--on-conflict",
    "first",
];

/// Starts a split paused before writing its second output, the first one
/// finished in the staging directory (which is returned).
fn split_paused_at_second_output(d: &Path) -> (Child, PathBuf, PathBuf) {
    let (child, marker) = start_paused(d, "planned", SPLIT);
    std::fs::remove_file(&marker).unwrap();
    let until = Instant::now() + Duration::from_secs(60);
    while !marker.exists() {
        assert!(
            Instant::now() < until,
            "the second output was never planned"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let staging: Vec<String> = temporaries(&d.join("out"));
    assert_eq!(staging.len(), 1, "{staging:?}");
    let staging = d.join("out").join(&staging[0]);
    assert!(
        listing(&staging).contains(&"part-1-slots-0-8000.rdb".to_string()),
        "{:?}",
        listing(&staging)
    );
    (child, marker, staging)
}

#[test]
fn an_interrupted_split_leaves_no_output_and_no_staging() {
    // One signal unwinds; a second one exits at once from the handler.
    for signals in [1, 2] {
        let d = workdir(&format!("split-signal-{signals}"));
        let (child, marker, _) = split_paused_at_second_output(&d);
        for _ in 0..signals {
            kill(&child, "INT");
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = std::fs::remove_file(&marker);
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(130), "{signals}: {}", stderr(&o));
        assert_eq!(
            listing(&d.join("out")),
            Vec::<String>::new(),
            "{signals}: {}",
            stderr(&o)
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}

#[test]
fn the_staging_of_a_killed_split_is_removed_by_the_next() {
    let d = workdir("split-killed");
    let (mut child, marker, staging) = split_paused_at_second_output(&d);
    kill(&child, "KILL");
    let _ = child.wait();
    std::fs::remove_file(&marker).unwrap();
    assert!(staging.is_dir(), "SIGKILL leaves the staging directory");
    let o = rdbkit(&d, SPLIT);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let name = staging.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        stderr(&o).contains(&format!(
            "removed stale out/{name} (left by an rdbkit process"
        )),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        listing(&d.join("out")),
        ["part-1-slots-0-8000.rdb", "part-2-slots-8001-16383.rdb"]
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_split_publishes_all_its_outputs_or_none() {
    let d = workdir("split-publish");
    let (child, marker) = start_paused(&d, "publishing", SPLIT);
    // Every output is written and verified; one of them appears meanwhile.
    let second = d.join("out/part-2-slots-8001-16383.rdb");
    std::fs::write(&second, b"someone else's").unwrap();
    std::fs::remove_file(&marker).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("part-2-slots-8001-16383.rdb")
            && stderr(&o).contains("no output was published"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&second).unwrap(), b"someone else's");
    assert_eq!(listing(&d.join("out")), ["part-2-slots-8001-16383.rdb"]);
    std::fs::remove_dir_all(&d).unwrap();
}

/// Runs `args` paused at `point`, changes `file` meanwhile with `change`,
/// and returns the result.
fn changed_underneath(
    d: &Path,
    point: &str,
    args: &[&str],
    change: impl FnOnce() + Send,
) -> Output {
    let (child, marker) = start_paused(d, point, args);
    // The change comes from another thread while the command runs.
    std::thread::scope(|s| s.spawn(change).join().unwrap());
    std::fs::remove_file(&marker).unwrap();
    child.wait_with_output().unwrap()
}

fn truncate(p: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(p)
        .unwrap()
        .set_len(len)
        .unwrap();
}

#[test]
fn an_input_truncated_during_the_run_is_an_error_not_a_signal() {
    let d = workdir("truncated");
    let commands: &[&[&str]] = &[
        &["verify", "c.rdb"],
        &["verify", "--deep", "c.rdb"],
        &["info", "c.rdb"],
        &["info", "--json", "c.rdb"],
        &["dump", "c.rdb"],
        &["dump", "--format", "resp", "c.rdb"],
        &["convert", "c.rdb", "-o", "out.rdb", "--target", "11"],
        &[
            "merge",
            "c.rdb",
            "b.rdb",
            "-o",
            "out.rdb",
            "--drop-dynomite-metadata",
        ],
    ];
    // To a page boundary and inside a page (reads past the new end fault),
    // and inside the last page (reads past it see zeros without a fault:
    // only the size tells).
    let full = std::fs::metadata(IN1).unwrap().len();
    assert!(full % 4096 > 200, "the last page is partly used");
    for len in [8192, 50_000, full - 100] {
        for args in commands {
            std::fs::copy(IN1, d.join("c.rdb")).unwrap();
            let c = d.join("c.rdb");
            let o = changed_underneath(&d, "opened", args, || truncate(&c, len));
            let e = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{args:?} at {len}: {e}");
            assert!(
                e.contains("input changed while being read") && e.contains("c.rdb"),
                "{args:?} at {len}: {e}"
            );
            assert!(!d.join("out.rdb").exists());
            assert!(temporaries(&d).is_empty(), "{:?}", listing(&d));
        }
    }
    // Truncated after the merge checked it, while the output is written.
    std::fs::copy(IN1, d.join("c.rdb")).unwrap();
    let c = d.join("c.rdb");
    let o = changed_underneath(&d, "planned", commands[7], || truncate(&c, 8192));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("input 1 (c.rdb) changed during the merge"),
        "{}",
        stderr(&o)
    );
    assert!(!d.join("out.rdb").exists());
    assert!(temporaries(&d).is_empty(), "{:?}", listing(&d));
    std::fs::remove_dir_all(&d).unwrap();
}

/// Overwrites one byte of `p` in place; with `keep_mtime`, puts the
/// modification time back, so only the content tells.
fn flip_byte(p: &Path, at: u64, keep_mtime: bool) {
    use std::os::unix::fs::FileExt;
    let before = std::fs::metadata(p).unwrap().modified().unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
    let mut b = [0u8; 1];
    std::fs::File::open(p).unwrap().read_at(&mut b, at).unwrap();
    f.write_at(&[b[0] ^ 0x20], at).unwrap();
    if keep_mtime {
        f.set_modified(before).unwrap();
    }
}

#[test]
fn an_input_changed_after_its_check_never_reaches_a_verified_output() {
    let d = workdir("flipped");
    // A byte in the middle of a copied value of input 2.
    let at = std::fs::metadata(d.join("b.rdb")).unwrap().len() / 2;
    for keep_mtime in [false, true] {
        std::fs::copy(IN2, d.join("b.rdb")).unwrap();
        let b = d.join("b.rdb");
        let o = changed_underneath(
            &d,
            "planned",
            &merge_args(&["-o", "out.rdb", "--report", "r.json", "--force"]),
            || flip_byte(&b, at, keep_mtime),
        );
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "mtime kept {keep_mtime}: {e}");
        assert!(
            e.contains("input 2 (b.rdb) changed during the merge"),
            "mtime kept {keep_mtime}: {e}"
        );
        assert!(!e.contains("verified"), "{e}");
        assert!(!d.join("out.rdb").exists(), "no output is published");
        assert!(temporaries(&d).is_empty(), "{:?}", listing(&d));
        let v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join("r.json")).unwrap()).unwrap();
        assert_eq!(v["status"], "failed");
    }
    std::fs::remove_dir_all(&d).unwrap();
}
