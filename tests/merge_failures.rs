//! `rdbkit merge` failing cleanly: the right exit code (1 refused for data
//! reasons, 2 usage or I/O), a clear message, no partial output and no
//! temporary file left behind.
//!
//! * output directory not writable: a read-only tmpfs mounted for the test
//!   (root can write anywhere else); without mount permission, an output
//!   path under `/proc` (simulated).
//! * disk full: a 64 KiB tmpfs; without mount permission, a file-size
//!   limit (`ulimit -f`, with SIGXFSZ ignored) makes the write fail the same
//!   way (simulated).
//! * an input truncated in the middle of a value, a flipped byte, a missing
//!   input, an existing output, an output that is an input, bad counts.

#[path = "common/servers.rs"]
mod servers;

use std::path::{Path, PathBuf};
use std::process::Command;

use rdbkit::decode::{Decoder, Item, Options};
use servers::*;

const IN1: &str = "examples/dump1.rdb";
const IN2: &str = "examples/dump2.rdb";

/// A tmpfs mounted for one test, unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(dir: &Path, opts: &str) -> Option<Mount> {
        std::fs::create_dir_all(dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", opts, "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Mount(dir.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// The example merge (Dynomite metadata dropped) with a `--report` file.
fn merge_reporting(out: &Path, report: &Path) -> std::process::Output {
    merge_examples(
        out,
        &[
            "--drop-dynomite-metadata",
            "--report",
            report.to_str().unwrap(),
        ],
    )
}

#[test]
fn output_directory_not_writable() {
    let s = TempDir::new("merge-ro");
    let dir = s.join("ro");
    let report = s.join("report.json");
    let m = Mount::tmpfs(&dir, "ro,size=1m");
    let (out, simulated) = match &m {
        Some(_) => (dir.join("x.rdb"), false),
        None => {
            eprintln!("output_directory_not_writable: mount not permitted; simulating with a path under /proc");
            (PathBuf::from("/proc/rdbkit-merge-test/x.rdb"), true)
        }
    };
    let o = merge_reporting(&out, &report);
    let err = assert_exit(&o, 2);
    assert!(err.contains("cannot create the output in"), "{err}");
    if !simulated {
        assert!(err.contains("Read-only file system"), "{err}");
        assert_clean(&dir, "x.rdb");
    }
    // Refused before reading the inputs, and the report says so.
    let r = read_json(&report);
    assert_eq!(r["status"], "failed");
    assert!(r["error"]
        .as_str()
        .unwrap()
        .contains("cannot create the output"));
    assert_eq!(r["inputs"].as_array().unwrap().len(), 0);
}

#[test]
fn disk_full() {
    let s = TempDir::new("merge-full");
    let dir = s.join("small");
    let report = s.join("report.json");
    // The merged example is ~147 KB; the file system holds 64 KiB.
    let m = Mount::tmpfs(&dir, "size=64k");
    let out = dir.join("x.rdb");
    let o = match &m {
        Some(_) => merge_reporting(&out, &report),
        None => {
            eprintln!("disk_full: mount not permitted; simulating with a 32 KiB file-size limit");
            std::fs::create_dir_all(&dir).unwrap();
            let script = format!(
                "trap '' XFSZ; ulimit -f 64; exec '{}' merge {IN1} {IN2} -o '{}' --drop-dynomite-metadata --report '{}'",
                env!("CARGO_BIN_EXE_rdbkit"),
                out.display(),
                report.display()
            );
            Command::new("sh")
                .args(["-c", &script])
                .current_dir(repo())
                .output()
                .unwrap()
        }
    };
    let err = assert_exit(&o, 2);
    assert!(err.contains("writing "), "{err}");
    if m.is_some() {
        assert!(err.contains("No space left on device"), "{err}");
    }
    assert_clean(&dir, "x.rdb");
    assert_eq!(
        listing(&dir),
        Vec::<String>::new(),
        "the space is given back"
    );
    let r = read_json(&report);
    assert_eq!(r["status"], "failed");
    assert!(r["output"].is_null());
    assert_eq!(
        r["inputs"].as_array().unwrap().len(),
        2,
        "inputs were read and summarised"
    );
}

/// Offset and key of a large record of `file`, to cut it in the middle.
fn big_record(file: &str) -> (usize, usize, String) {
    let data = std::fs::read(repo().join(file)).unwrap();
    let mut best = (0, 0, String::new());
    for item in Decoder::new(&data, Options::default()).unwrap() {
        if let Item::Key(k) = item.unwrap() {
            if k.span.len() > best.1 - best.0 {
                let key = String::from_utf8_lossy(&k.key.to_bytes().unwrap()).into_owned();
                best = (k.span.start, k.span.end, key);
            }
        }
    }
    best
}

#[test]
fn input_truncated_mid_value() {
    let s = TempDir::new("merge-trunc");
    let (start, end, key) = big_record(IN2);
    let data = std::fs::read(repo().join(IN2)).unwrap();
    let cut = s.join("cut.rdb");
    std::fs::write(&cut, &data[..(start + end) / 2]).unwrap();
    let out = s.join("x.rdb");
    let report = s.join("r.json");
    let o = rdbkit(&[
        "merge",
        IN1,
        cut.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    let err = assert_exit(&o, 1);
    let msg = err.lines().find(|l| l.starts_with("rdbkit: ")).unwrap();
    assert!(
        msg.contains(&format!("input 2 ({}) is invalid", cut.display())),
        "{msg}"
    );
    assert!(msg.contains("unexpected end of input"), "{msg}");
    assert!(msg.contains("at byte offset"), "{msg}");
    assert!(msg.contains(&format!("(key '{key}')")), "{msg}");
    assert_clean(&s.0, "x.rdb");
    let r = read_json(&report);
    assert_eq!(r["status"], "refused");
    assert_eq!(r["inputs"][1]["decoded"], false);
    assert!(r["inputs"][1]["error"]
        .as_str()
        .unwrap()
        .contains("unexpected end of input"));
    assert_eq!(
        r["inputs"][0]["keys"], 1278,
        "the valid input is summarised"
    );
}

#[test]
fn input_with_a_flipped_byte() {
    let s = TempDir::new("merge-flip");
    let (start, end, _) = big_record(IN1);
    let mut data = std::fs::read(repo().join(IN1)).unwrap();
    // Inside a value: only the CRC can tell.
    data[(start + end) / 2] ^= 0x01;
    let bad = s.join("bad.rdb");
    std::fs::write(&bad, &data).unwrap();
    let out = s.join("x.rdb");
    let o = rdbkit(&[
        "merge",
        bad.to_str().unwrap(),
        IN2,
        "-o",
        out.to_str().unwrap(),
    ]);
    let err = assert_exit(&o, 1);
    assert!(err.contains("input 1 ("), "{err}");
    assert!(
        err.contains("checksum mismatch") || err.contains("corrupt"),
        "{err}"
    );
    assert!(err.contains("at byte offset"), "{err}");
    assert_clean(&s.0, "x.rdb");
}

#[test]
fn missing_input_is_an_io_error() {
    let s = TempDir::new("merge-missing");
    let out = s.join("x.rdb");
    let o = rdbkit(&[
        "merge",
        IN1,
        "examples/nope.rdb",
        "-o",
        out.to_str().unwrap(),
    ]);
    let err = assert_exit(&o, 2);
    assert!(
        err.contains("cannot open input 2 (examples/nope.rdb)"),
        "{err}"
    );
    assert_clean(&s.0, "x.rdb");
}

#[test]
fn existing_output_needs_force() {
    let s = TempDir::new("merge-exists");
    let out = s.join("x.rdb");
    std::fs::write(&out, b"precious").unwrap();
    let report = s.join("r.json");
    let o = merge_reporting(&out, &report);
    let err = assert_exit(&o, 2);
    assert!(err.contains("exists; use --force to replace it"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    assert_eq!(read_json(&report)["status"], "failed");
    let o = merge_examples(&out, &["--drop-dynomite-metadata", "--force"]);
    assert_exit(&o, 0);
    assert_ne!(std::fs::read(&out).unwrap(), b"precious");
    assert_eq!(listing(&s.0), vec!["r.json", "x.rdb"]);
}

/// The library's messages name no flag; the command line adds the one
/// that resolves a refusal, on the `problem:` lines and in the final
/// message. The JSON report keeps the library's texts.
#[test]
fn refusals_name_the_flag_that_resolves_them() {
    let s = TempDir::new("merge-hints");
    let out = s.join("x.rdb");
    let report = s.join("r.json");
    // Conflicting read-repair sets (no --drop-dynomite-metadata).
    let o = merge_examples(&out, &["--report", report.to_str().unwrap()]);
    let err = assert_exit(&o, 1);
    let conflicts = "2 keys differ between inputs (type, value or expiry); see the conflict list, or choose a policy with --on-conflict first|last|owner";
    assert!(
        err.contains(&format!("problem: {conflicts}")),
        "problem line: {err}"
    );
    assert!(
        err.contains(&format!("rdbkit: merge refused: {conflicts}")),
        "final line: {err}"
    );
    let problems = read_json(&report)["problems"].clone();
    assert_eq!(
        problems,
        serde_json::json!([
            "2 keys differ between inputs (type, value or expiry); see the conflict list"
        ])
    );
    std::fs::remove_file(&report).unwrap();
    // Keys outside db 0.
    let fx = |n: &str| format!("tests/fixtures/merge/{n}");
    let o = rdbkit(&[
        "merge",
        &fx("multidb-a.rdb"),
        &fx("multidb-b.rdb"),
        "-o",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    let err = assert_exit(&o, 1);
    let dbs = "the inputs hold keys in databases other than 0 (db 3: 5 keys) and Redis Enterprise has one keyspace; use --flatten-dbs to move them into db 0 (the same key in two databases is then a conflict) or --keep-dbs for an open-source target";
    assert!(err.contains(&format!("problem: {dbs}")), "{err}");
    assert!(
        err.contains(&format!("rdbkit: merge refused: {dbs}")),
        "{err}"
    );
    let problems = read_json(&report)["problems"].clone();
    assert!(
        problems[0].as_str().unwrap().ends_with("one keyspace"),
        "{problems}"
    );
    // Redis and Valkey 9 files: the target must be named.
    let o = rdbkit(&[
        "merge",
        &fx("cluster-redis-a.rdb"),
        &fx("valkey9-a.rdb"),
        "-o",
        out.to_str().unwrap(),
    ]);
    let err = assert_exit(&o, 1);
    assert!(
        err.contains(
            "(VALKEY080); choose the output format with --target (e.g. redis-7.4 or valkey-"
        ),
        "{err}"
    );
    assert_clean(&s.0, "x.rdb");
}

#[test]
fn output_that_is_an_input_is_refused_even_with_force() {
    let s = TempDir::new("merge-self");
    let a = s.join("a.rdb");
    std::fs::copy(repo().join(IN1), &a).unwrap();
    let before = std::fs::read(&a).unwrap();
    let link = s.join("link.rdb");
    std::fs::hard_link(&a, &link).unwrap();
    for out in [&a, &link] {
        let o = rdbkit(&[
            "merge",
            a.to_str().unwrap(),
            IN2,
            "-o",
            out.to_str().unwrap(),
            "--force",
        ]);
        let err = assert_exit(&o, 2);
        assert!(err.contains("would overwrite input 1"), "{err}");
    }
    assert_eq!(std::fs::read(&a).unwrap(), before);
    assert_eq!(listing(&s.0), vec!["a.rdb", "link.rdb"]);
}

#[test]
fn output_directory_missing() {
    let s = TempDir::new("merge-nodir");
    let out = s.join("no/such/dir/x.rdb");
    let o = merge_examples(&out, &[]);
    let err = assert_exit(&o, 2);
    assert!(err.contains("No such file or directory"), "{err}");
}

#[test]
fn expected_counts() {
    let s = TempDir::new("merge-expect");
    let out = s.join("x.rdb");
    let o = merge_examples(
        &out,
        &["--drop-dynomite-metadata", "--expect-keys", "1278,1000"],
    );
    let err = assert_exit(&o, 1);
    assert!(
        err.contains("input 2 (examples/dump2.rdb): expected 1000 keys, counted 1327"),
        "{err}"
    );
    let o = merge_examples(
        &out,
        &["--drop-dynomite-metadata", "--expect-total", "2554"],
    );
    let err = assert_exit(&o, 1);
    assert!(
        err.contains("expected 2554 keys in the output, the merge gives 2553"),
        "{err}"
    );
    // Usage errors: exit 2.
    let o = merge_examples(&out, &["--expect-keys", "1278"]);
    assert_exit(&o, 2);
    let o = merge_examples(&out, &["--on-conflict", "owner", "--token", "dump1.rdb=5"]);
    let err = assert_exit(&o, 2);
    assert!(err.contains("--token"), "{err}");
    assert_clean(&s.0, "x.rdb");
}

#[test]
fn gzip_output_round_trips() {
    let s = TempDir::new("merge-gz");
    let out = s.join("x.rdb.gz");
    let o = merge_examples(&out, &["--drop-dynomite-metadata"]);
    let err = assert_exit(&o, 0);
    assert!(err.contains(", gzip)"), "{err}");
    let gz = std::fs::read(&out).unwrap();
    assert_eq!(&gz[..2], &[0x1f, 0x8b]);
    let mut rdb = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut rdb).unwrap();
    let r = rdbkit::stats::inspect(&rdb, Options::default(), 0).unwrap();
    assert_eq!(r.keys(), 2553);
    assert_eq!(listing(&s.0), vec!["x.rdb.gz"]);
}
