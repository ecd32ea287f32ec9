//! The DUMP payloads of Redis's `tests/integration/corrupt-dump.tcl`, from
//! `../shared/corpus/redis-redis-corrupt-dump` (outside the repository;
//! never copied into it; the tests print why and pass when it is absent).
//!
//! Each payload is decoded with `decode_payload` at `Level::Deep` and then
//! every element of the value is read (an error while iterating counts as a
//! rejection too). The outcome is tallied against the corpus's
//! `deep_validator` column:
//!
//! * `must-reject`: Redis rejected these bytes: we must return an error;
//! * `must-accept`: Redis loaded them with deep sanitization: we must not;
//! * `should-reject`: corrupt, but Redis's test only shows what happens
//!   without deep sanitization: disagreements are printed, not fatal.
//!
//! Nothing may panic. The same payloads also go through
//! `rdbkit verify --payload --deep`, which must exit 1 or 0 accordingly.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{corpus_dir, normalise, read_tsv, Row};
use rdbkit::decode::{decode_payload, Level, Options};

struct Case {
    file: String,
    expect: String,
    /// Redis rejected the payload without deep sanitization
    /// (`sanitize-dump-payload` `no` or default).
    shallow_reject: bool,
    verify_checksum: bool,
    data: Vec<u8>,
}

fn cases(dir: &Path) -> Vec<Case> {
    let rows: Vec<Row> = read_tsv(&dir.join("INDEX.tsv"));
    rows.iter()
        .filter(|r| r.get("file") != "-")
        .map(|r| {
            let file = r.get("file").to_string();
            let data = std::fs::read(dir.join(&file))
                .unwrap_or_else(|e| panic!("cannot read {file}: {e}"));
            Case {
                expect: r.get("deep_validator").to_string(),
                shallow_reject: r.get("expectation") == "rejected-by-restore"
                    && r.get("sanitize") != "yes",
                verify_checksum: !(r.get("checksum_validation_skipped") == "yes"
                    || r.get("crc") != "valid"),
                file,
                data,
            }
        })
        .collect()
}

/// Decodes a payload and reads every element of its value.
/// `Ok(description)` when accepted, `Err(error text)` when rejected.
/// Payloads that today's Redis refuses but that earlier releases reading
/// the same format load. rdbkit makes a fact an error only where every
/// release that reads the format refuses it (at that level), so it accepts
/// these with a warning, which counts as flagging them:
/// * the 2026 stream-loading hardening (RDB 13 payloads: a PEL entry shared
///   by two consumers, deleted flags against the master entry's count, a
///   stored length above the live entries, a node whose entries are all
///   deleted), which the 8.6 releases before it (8.6.0 on) do not have;
/// * duplicates in RDB 9 payloads (a hash ziplist, a plain set), which
///   Redis 5.0 and 6.0 load without looking (shown against a real 6.0 in
///   `tests/loader_rules.rs`); `--deep` (6.2+) refuses them.
const FLAGGED: &[&str] = &["089-", "090-", "091-", "092-", "004-", "029-", "041-"];

fn flagged_ok(file: &str, res: &Result<String, String>) -> bool {
    FLAGGED.iter().any(|p| file.starts_with(p)) && res.as_ref().is_ok_and(|d| d.contains("warning"))
}

fn check(data: &[u8], verify_checksum: bool) -> Result<String, String> {
    check_at(data, Level::Deep, verify_checksum)
}

fn check_at(data: &[u8], level: Level, verify_checksum: bool) -> Result<String, String> {
    let opts = Options {
        level,
        verify_checksum,
        ..Options::default()
    };
    let p = decode_payload(data, opts).map_err(|e| {
        assert!(
            e.offset() <= data.len() as u64,
            "error offset {} beyond the {}-byte payload: {e}",
            e.offset(),
            data.len()
        );
        format!("{e}")
    })?;
    let v = normalise(&p.value).map_err(|e| format!("while iterating: {e}"))?;
    Ok(format!(
        "{} ({}) with {} elements{}",
        p.value.kind().name(),
        p.value.encoding(),
        v.len(),
        p.warnings
            .lines()
            .map(|w| format!("; warning: {w}"))
            .collect::<String>()
    ))
}

#[test]
fn corrupt_dump_payloads() {
    let Some(corpus) = corpus_dir("corrupt_dump_payloads") else {
        return;
    };
    let dir = corpus.join("redis-redis-corrupt-dump");
    if !dir.is_dir() {
        eprintln!(
            "corrupt_dump_payloads: SKIPPED: {} is absent",
            dir.display()
        );
        return;
    }
    let cases = cases(&dir);
    assert!(!cases.is_empty(), "no stored rows in INDEX.tsv");
    // (expectation) -> (agree, disagree)
    let mut table: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    let mut panics = Vec::new();
    let mut fatal = Vec::new();
    let mut soft = Vec::new();
    for c in &cases {
        let res = std::panic::catch_unwind(|| check(&c.data, c.verify_checksum));
        let res = match res {
            Ok(r) => r,
            Err(_) => {
                panics.push(c.file.clone());
                continue;
            }
        };
        let want_reject = c.expect != "must-accept";
        let agree = res.is_err() == want_reject || flagged_ok(&c.file, &res);
        let slot = table.entry(c.expect.clone()).or_default();
        if agree {
            slot.0 += 1;
        } else {
            slot.1 += 1;
        }
        let (tag, what) = match &res {
            Ok(d) => ("accepted", d.as_str()),
            Err(e) => ("rejected", e.as_str()),
        };
        eprintln!(
            "{} {:13} {tag}: {} -- {what}",
            if agree { "agree   " } else { "DISAGREE" },
            c.expect,
            c.file
        );
        if !agree {
            let line = format!("{} ({}): {tag}: {what}", c.file, c.expect);
            if c.expect == "should-reject" {
                soft.push(line);
            } else {
                fatal.push(line);
            }
        }
    }
    eprintln!("\n| deep_validator | rows | agree | disagree |");
    eprintln!("|---|---|---|---|");
    for (k, (a, d)) in &table {
        eprintln!("| {k} | {} | {a} | {d} |", a + d);
    }
    eprintln!("panics: {}", panics.len());
    for s in &soft {
        eprintln!("should-reject disagreement: {s}");
    }
    assert!(panics.is_empty(), "decoder panicked on: {panics:?}");
    assert!(
        fatal.is_empty(),
        "must-reject / must-accept disagreements:\n{}",
        fatal.join("\n")
    );
}

/// Checks Redis runs without `sanitize-dump-payload yes` belong to every
/// level but `Skip`: payloads Redis rejected with sanitization off must be
/// rejected at `Level::Full` too, and the one Redis accepted with deep
/// sanitization must be accepted.
#[test]
fn corrupt_dump_shallow_checks_at_full_level() {
    let Some(corpus) = corpus_dir("corrupt_dump_shallow_checks_at_full_level") else {
        return;
    };
    let dir = corpus.join("redis-redis-corrupt-dump");
    if !dir.is_dir() {
        eprintln!(
            "corrupt_dump_shallow_checks_at_full_level: SKIPPED: {} is absent",
            dir.display()
        );
        return;
    }
    let mut bad = Vec::new();
    let mut n = 0;
    for c in cases(&dir) {
        if !c.shallow_reject && c.expect != "must-accept" {
            continue;
        }
        n += 1;
        let res = std::panic::catch_unwind(|| check_at(&c.data, Level::Full, c.verify_checksum));
        match res {
            Err(_) => bad.push(format!("{}: panicked", c.file)),
            Ok(Ok(d)) if c.shallow_reject && !flagged_ok(&c.file, &Ok(d.clone())) => {
                bad.push(format!("{}: accepted at Level::Full: {d}", c.file))
            }
            Ok(Err(e)) if !c.shallow_reject => {
                bad.push(format!("{}: rejected at Level::Full: {e}", c.file))
            }
            Ok(_) => {}
        }
    }
    eprintln!("{n} rows checked at Level::Full, {} disagree", bad.len());
    assert!(
        bad.is_empty(),
        "Level::Full disagreements:\n{}",
        bad.join("\n")
    );
}

#[test]
fn corrupt_dump_cli_verify() {
    let Some(corpus) = corpus_dir("corrupt_dump_cli_verify") else {
        return;
    };
    let dir = corpus.join("redis-redis-corrupt-dump");
    if !dir.is_dir() {
        eprintln!(
            "corrupt_dump_cli_verify: SKIPPED: {} is absent",
            dir.display()
        );
        return;
    }
    let bin = env!("CARGO_BIN_EXE_rdbkit");
    let mut bad = Vec::new();
    for c in cases(&dir) {
        let lib = std::panic::catch_unwind(|| check(&c.data, c.verify_checksum));
        let Ok(lib) = lib else {
            bad.push(format!("{}: library panicked", c.file));
            continue;
        };
        let mut cmd = Command::new(bin);
        cmd.args(["verify", "--payload", "--deep"]);
        if !c.verify_checksum {
            cmd.arg("--no-checksum");
        }
        let out = cmd
            .arg(dir.join(&c.file))
            .output()
            .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
        let want = if lib.is_err() { 1 } else { 0 };
        let warned = String::from_utf8_lossy(&out.stderr).contains("rdbkit: warning: ");
        if lib.as_ref().is_ok_and(|d| d.contains("warning")) != warned {
            bad.push(format!(
                "{}: the library and the CLI disagree on warnings",
                c.file
            ));
        }
        match out.status.code() {
            Some(code) if code == want => {}
            code => bad.push(format!(
                "{}: exit {code:?} (signal or crash if None), want {want}; stderr: {}",
                c.file,
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        }
    }
    assert!(bad.is_empty(), "CLI disagreements:\n{}", bad.join("\n"));
}
