//! Compressed and piped inputs: a gzip-compressed dump (recognised by its
//! magic bytes, whatever its name; several members like `cat a.gz b.gz`)
//! and `-` / pipes are accepted by every command that reads a file, with the
//! same results as the plain file; a corrupt gzip stream is a data error
//! (exit 1) saying so, never decoded as RDB data; inputs larger than the
//! in-memory limit are spilled to an unlinked temporary file in TMPDIR, so
//! nothing is left there.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use flate2::write::GzEncoder;
use flate2::Compression;

const BIN: &str = env!("CARGO_BIN_EXE_rdbkit");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn dump1() -> PathBuf {
    repo().join("examples/dump1.rdb")
}

fn dump2() -> PathBuf {
    repo().join("examples/dump2.rdb")
}

/// A fresh empty directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        use std::sync::atomic::{AtomicU64, Ordering};
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("rdbkit-gzin-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The names of the entries in the directory.
    fn entries(&self) -> Vec<String> {
        std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn write(path: &Path, data: &[u8]) -> String {
    std::fs::write(path, data).unwrap();
    path.to_str().unwrap().to_string()
}

/// How the child's standard input is fed.
enum In<'a> {
    Null,
    /// Redirected from a file (`< file`).
    File(&'a Path),
    /// A real pipe written by a thread (`cat file | rdbkit ...`).
    Pipe(Vec<u8>),
}

fn run_with(args: &[&str], input: In<'_>, env: &[(&str, &Path)], spill: Option<&str>) -> Output {
    let mut c = Command::new(BIN);
    c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    c.env_remove("RDBKIT_SPILL_THRESHOLD");
    if let Some(t) = spill {
        c.env("RDBKIT_SPILL_THRESHOLD", t);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    match input {
        In::Null => {
            c.stdin(Stdio::null());
            c.output().unwrap()
        }
        In::File(p) => {
            c.stdin(std::fs::File::open(p).unwrap());
            c.output().unwrap()
        }
        In::Pipe(bytes) => {
            c.stdin(Stdio::piped());
            let mut child = c.spawn().unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let writer = std::thread::spawn(move || {
                // Small writes, so that the reader sees a real stream. A
                // broken pipe (the child stopped reading) is not our failure.
                for chunk in bytes.chunks(4096) {
                    if stdin.write_all(chunk).is_err() {
                        break;
                    }
                }
            });
            let out = child.wait_with_output().unwrap();
            writer.join().unwrap();
            out
        }
    }
}

fn run(args: &[&str]) -> Output {
    run_with(args, In::Null, &[], None)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts the exit code; returns stdout.
fn ok(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// Asserts exit 1; returns stderr.
fn data_error(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(1),
        "stdout:\n{}\nstderr:\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stderr)
}

/// The commands compared between the plain file and other forms of it.
const COMMANDS: [&[&str]; 5] = [
    &["info"],
    &["info", "--json"],
    &["verify"],
    &["verify", "--deep"],
    &["dump"],
];

fn plain_output(cmd: &[&str]) -> String {
    let path = dump1();
    let path = path.to_str().unwrap();
    let mut args = cmd.to_vec();
    args.push(path);
    ok(&run(&args)).replace(path, "INPUT")
}

#[test]
fn gzip_file_gives_the_same_results_as_the_plain_file() {
    let dir = Scratch::new("same");
    let plain = std::fs::read(dump1()).unwrap();
    // The name does not matter: detection is by content.
    for name in ["dump1.rdb.gz", "dump1.rdb"] {
        let f = write(&dir.join(name), &gz(&plain));
        for cmd in COMMANDS {
            let mut args = cmd.to_vec();
            args.push(&f);
            let got = ok(&run(&args)).replace(&f, "INPUT");
            assert_eq!(got, plain_output(cmd), "{cmd:?} {name}");
        }
    }
    // Sanity: the outputs say something real.
    let v = plain_output(&["verify"]);
    assert!(v.contains("1278 keys") && v.contains("checksum OK"), "{v}");
}

#[test]
fn multi_member_gzip_is_one_stream() {
    let dir = Scratch::new("multi");
    let plain = std::fs::read(dump1()).unwrap();
    let third = plain.len() / 3;
    // Like `cat a.gz b.gz c.gz`, with an empty member in the middle.
    let mut cat = gz(&plain[..third]);
    cat.extend(gz(b""));
    cat.extend(gz(&plain[third..2 * third]));
    cat.extend(gz(&plain[2 * third..]));
    let f = write(&dir.join("cat.gz"), &cat);
    for cmd in [&["verify"][..], &["dump"][..]] {
        let mut args = cmd.to_vec();
        args.push(&f);
        assert_eq!(
            ok(&run(&args)).replace(&f, "INPUT"),
            plain_output(cmd),
            "{cmd:?}"
        );
    }
    // The library gives the same bytes.
    let input = rdbkit::Input::open(&f).unwrap();
    assert_eq!(&*input, &plain[..]);
    let input = rdbkit::Input::from_reader(&cat[..], "cat.gz").unwrap();
    assert_eq!(&*input, &plain[..]);
}

#[test]
fn corrupt_gzip_is_a_data_error_saying_gzip() {
    let dir = Scratch::new("corrupt");
    let plain = std::fs::read(dump1()).unwrap();
    let good = gz(&plain);
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x40; // inside the deflate data
    let mut crc = good.clone();
    let n = crc.len();
    crc[n - 6] ^= 0x01; // the CRC-32 trailer
    let cases: [(&str, &[u8]); 4] = [
        ("flipped.gz", &flipped),
        ("truncated.gz", &good[..good.len() * 2 / 3]),
        ("no-trailer.gz", &good[..good.len() - 4]),
        ("crc.gz", &crc),
    ];
    for (name, bytes) in cases {
        let f = write(&dir.join(name), bytes);
        for cmd in [&["verify"][..], &["info"][..], &["dump"][..]] {
            let mut args = cmd.to_vec();
            args.push(&f);
            let o = run(&args);
            let err = data_error(&o);
            assert!(err.contains(&f), "{name} {cmd:?}: {err}");
            assert!(err.contains("corrupt gzip stream"), "{name} {cmd:?}: {err}");
            assert!(err.contains("compressed data at byte offset"), "{err}");
            assert!(!err.contains("magic"), "{name} {cmd:?}: {err}");
            // Nothing was decoded: no key printed.
            assert!(o.stdout.is_empty(), "{name} {cmd:?}");
        }
        // Through standard input too, named as such.
        let o = run_with(&["verify", "-"], In::Pipe(bytes.to_vec()), &[], None);
        let err = data_error(&o);
        assert!(
            err.contains("standard input: corrupt gzip stream"),
            "{name}: {err}"
        );
    }
    // The truncation offset is where the data stopped.
    let f = write(&dir.join("t.gz"), &good[..1000]);
    let err = data_error(&run(&["verify", &f]));
    assert!(err.contains("truncated"), "{err}");
    assert!(err.contains("at byte offset 1000"), "{err}");
    // A merge refuses a corrupt gzip input (exit 1) and writes nothing.
    let out = dir.join("out.rdb");
    let d2 = dump2();
    let o = run(&[
        "merge",
        &f,
        d2.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--drop-dynomite-metadata",
    ]);
    let err = data_error(&o);
    assert!(
        err.contains("corrupt gzip stream") && err.contains(&f),
        "{err}"
    );
    assert!(!out.exists());
}

/// `merge` with the key counts of its JSON report.
fn merge_counts(inputs: &[&str], out: &Path, report: &Path, input: In<'_>) -> (u64, u64, u64) {
    let mut args = vec!["merge"];
    args.extend_from_slice(inputs);
    args.extend_from_slice(&[
        "-o",
        out.to_str().unwrap(),
        "--drop-dynomite-metadata",
        "--report",
        report.to_str().unwrap(),
    ]);
    ok(&run_with(&args, input, &[], None));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    assert_eq!(r["status"], "written");
    let k = |v: &serde_json::Value| v.as_u64().unwrap();
    (
        k(&r["inputs"][0]["keys"]),
        k(&r["inputs"][1]["keys"]),
        k(&r["output"]["keys"]),
    )
}

#[test]
fn merge_and_convert_accept_gzip_and_stdin() {
    let dir = Scratch::new("merge");
    let (d1, d2) = (dump1(), dump2());
    let (d1s, d2s) = (d1.to_str().unwrap(), d2.to_str().unwrap());
    let plain = merge_counts(
        &[d1s, d2s],
        &dir.join("plain.rdb"),
        &dir.join("plain.json"),
        In::Null,
    );
    assert!(plain.2 > 2000, "{plain:?}");
    let a_gz = write(&dir.join("a.rdb.gz"), &gz(&std::fs::read(&d1).unwrap()));
    let got = merge_counts(
        &[&a_gz, d2s],
        &dir.join("gz.rdb"),
        &dir.join("gz.json"),
        In::Null,
    );
    assert_eq!(got, plain);
    // The second input from a pipe, gzip-compressed.
    let got = merge_counts(
        &[&a_gz, "-"],
        &dir.join("pipe.rdb"),
        &dir.join("pipe.json"),
        In::Pipe(gz(&std::fs::read(&d2).unwrap())),
    );
    assert_eq!(got, plain);
    // The outputs hold the same keys and values (the files differ only
    // in their creation time).
    let dump = |name: &str| ok(&run(&["dump", dir.join(name).to_str().unwrap()]));
    let a = dump("plain.rdb");
    assert!(a == dump("gz.rdb") && a == dump("pipe.rdb"));
    // Standard input can be one input only: a usage error (exit 2).
    let o = run(&["merge", "-", "-", "-o", dir.join("x.rdb").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("standard input"));
    assert!(!dir.join("x.rdb").exists());
    // The same through the library: an I/O / usage error, not a refusal.
    let opts = rdbkit::merge::MergeOptions::new(vec!["-".into(), "-".into()], dir.join("y.rdb"));
    let e = rdbkit::merge::merge(&opts).unwrap_err();
    assert!(!e.is_refusal(), "{e}");
    // convert from a gzip pipe.
    let conv = dir.join("conv.rdb");
    ok(&run_with(
        &[
            "convert",
            "-",
            "--target",
            "11",
            "-o",
            conv.to_str().unwrap(),
        ],
        In::Pipe(gz(&std::fs::read(&d1).unwrap())),
        &[],
        None,
    ));
    let v = ok(&run(&["verify", conv.to_str().unwrap()]));
    assert!(v.contains("RDB 11") && v.contains("1278 keys"), "{v}");
}

#[test]
fn stdin_redirect_and_pipes() {
    let dir = Scratch::new("stdin");
    let d1 = dump1();
    let plain = std::fs::read(&d1).unwrap();
    let gz_path = dir.join("d.gz");
    write(&gz_path, &gz(&plain));
    let inputs: [(&str, In<'_>); 4] = [
        ("< file", In::File(&d1)),
        ("< gzip file", In::File(&gz_path)),
        ("| pipe", In::Pipe(plain.clone())),
        ("| gzip pipe", In::Pipe(gz(&plain))),
    ];
    let expected = plain_output(&["verify"]).replace("INPUT", "standard input");
    for (how, input) in inputs {
        let got = ok(&run_with(&["verify", "-"], input, &[], None));
        assert_eq!(got, expected, "{how}");
    }
    for cmd in [&["info"][..], &["dump"][..]] {
        let mut args = cmd.to_vec();
        args.push("-");
        let got = ok(&run_with(&args, In::Pipe(gz(&plain)), &[], None));
        assert_eq!(
            got,
            plain_output(cmd).replace("INPUT", "standard input"),
            "{cmd:?}"
        );
    }
    // An empty pipe is an empty input: invalid data, named.
    let o = run_with(&["verify", "-"], In::Pipe(Vec::new()), &[], None);
    assert!(data_error(&o).contains("standard input"));
}

/// A named pipe (FIFO), as process substitution gives (`<(zcat x.gz)`).
#[cfg(unix)]
#[test]
fn fifo_input() {
    let dir = Scratch::new("fifo");
    let fifo = dir.join("in.fifo");
    match Command::new("mkfifo").arg(&fifo).status() {
        Ok(s) if s.success() => {}
        _ => {
            eprintln!("skipped: mkfifo unavailable");
            return;
        }
    }
    let plain = std::fs::read(dump1()).unwrap();
    let data = gz(&plain);
    let f = fifo.clone();
    let writer = std::thread::spawn(move || {
        let mut w = std::fs::OpenOptions::new().write(true).open(&f).unwrap();
        w.write_all(&data).unwrap();
    });
    let fs = fifo.to_str().unwrap();
    let got = ok(&run(&["verify", fs])).replace(fs, "INPUT");
    writer.join().unwrap();
    assert_eq!(got, plain_output(&["verify"]));
}

/// Inputs larger than the in-memory limit (lowered through the test-only
/// RDBKIT_SPILL_THRESHOLD) are spilled to TMPDIR and leave nothing there.
#[test]
fn spilled_inputs_leave_nothing_behind() {
    let tmp = Scratch::new("tmpdir");
    let dir = Scratch::new("spill");
    let d1 = dump1();
    let plain = std::fs::read(&d1).unwrap();
    let gz_file = write(&dir.join("d.gz"), &gz(&plain));
    let env = [("TMPDIR", tmp.0.as_path())];
    let threshold = Some("4096");
    let expected = plain_output(&["verify"]);
    let got = ok(&run_with(&["verify", &gz_file], In::Null, &env, threshold));
    assert_eq!(got.replace(&gz_file, "INPUT"), expected);
    for input in [In::Pipe(plain.clone()), In::Pipe(gz(&plain))] {
        let got = ok(&run_with(&["dump", "-"], input, &env, threshold));
        assert_eq!(got, plain_output(&["dump"]));
    }
    // A merge with a spilled input.
    let out = dir.join("m.rdb");
    let d2 = dump2();
    ok(&run_with(
        &[
            "merge",
            &gz_file,
            d2.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--drop-dynomite-metadata",
        ],
        In::Null,
        &env,
        threshold,
    ));
    assert!(out.exists());
    assert_eq!(tmp.entries(), Vec::<String>::new());

    // The spill really goes to TMPDIR: a missing one fails (exit 2) naming
    // the input and the directory; under the limit, it is never used.
    let missing = tmp.join("missing");
    let env = [("TMPDIR", missing.as_path())];
    let o = run_with(&["verify", &gz_file], In::Null, &env, threshold);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains(&gz_file), "{err}");
    assert!(err.contains(missing.to_str().unwrap()), "{err}");
    assert!(err.contains("temporary file"), "{err}");
    let o = run_with(&["verify", &gz_file], In::Null, &env, None);
    assert_eq!(ok(&o).replace(&gz_file, "INPUT"), expected);
}
