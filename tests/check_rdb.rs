//! `redis-check-rdb` and `rdbkit verify` agree on every fixture.
//!
//! * Always (no servers needed): each fixture's `.meta.json` records what the
//!   real `check-rdb` of its server said when the fixture was made
//!   (`check_rdb_keys`, `check_rdb_expires`, …); `rdbkit verify` (the CLI) and
//!   `rdbkit::inspect` must report the same numbers.
//! * When the servers registry exists (`$RDBKIT_SERVERS/servers.json`, else
//!   `~/.cache/rdbkit-servers/servers.json`, written by
//!   `scripts/install-servers.sh`): each server's `check_rdb` binary is run on
//!   that server's fixtures, and Redis 7.0's on `examples/*.rdb`, and its
//!   `[info] N keys read` / `N expires` / `N already expired` /
//!   `N subexpires` / `N functions` lines are compared live with rdbkit's.
//!   Without a registry the reason is printed and that part is skipped.
//! * A fixture copy with one corrupted byte (in a temporary directory) is
//!   rejected by both tools with exit code 1.
//!
//! Run with `--nocapture` to see what was compared.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use rdbkit::decode::{Decoder, Item, Options};
use serde_json::Value as J;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/fixtures/*/*.rdb`, sorted.
fn fixtures() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in std::fs::read_dir(root().join("tests/fixtures")).expect("tests/fixtures") {
        let d = d.unwrap().path();
        if !d.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&d).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|x| x == "rdb") {
                out.push(f);
            }
        }
    }
    out.sort();
    out
}

fn examples() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join("examples"))
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "rdb"))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// `redis-7.0/all-types` or `examples/dump1`.
fn name(rdb: &Path) -> String {
    let dir = rdb.parent().unwrap().file_name().unwrap().to_string_lossy();
    format!("{dir}/{}", rdb.file_stem().unwrap().to_string_lossy())
}

fn server_of(rdb: &Path) -> String {
    let dir = rdb.parent().unwrap().file_name().unwrap().to_string_lossy();
    if dir == "examples" {
        "redis-7.0".into() // examples/README.md: written by Redis 7.0.15
    } else {
        dir.into_owned()
    }
}

fn read_meta(rdb: &Path) -> Option<J> {
    let text = std::fs::read_to_string(rdb.with_extension("meta.json")).ok()?;
    Some(serde_json::from_str(&text).expect("meta.json"))
}

/// What a checker reported about one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Counts {
    keys: u64,
    expires: u64,
    already_expired: u64,
    /// Only where the checker reports it.
    subexpires: Option<u64>,
    functions: Option<u64>,
}

/// Runs `rdbkit verify [extra] FILE`: exit code, stdout + stderr.
fn rdbkit_verify(file: &Path, extra: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .arg("verify")
        .args(extra)
        .arg(file)
        .output()
        .expect("run rdbkit");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// `rdbkit verify`'s counts, plus subexpires and functions from `inspect`.
fn rdbkit_counts(file: &Path) -> Result<Counts, String> {
    let (code, text) = rdbkit_verify(file, &[]);
    if code != 0 {
        return Err(format!("rdbkit verify exit {code}: {}", text.trim()));
    }
    let re = regex::Regex::new(r"(\d+) keys, (\d+) expires, (\d+) already expired").unwrap();
    let c = re
        .captures(&text)
        .ok_or_else(|| format!("rdbkit verify printed no counts: {}", text.trim()))?;
    let n = |i: usize| c[i].parse::<u64>().unwrap();
    let data = std::fs::read(file).unwrap();
    let r = rdbkit::stats::inspect(&data, Options::default(), rdbkit::now_ms())
        .map_err(|e| format!("inspect: {e}"))?;
    Ok(Counts {
        keys: n(1),
        expires: n(2),
        already_expired: n(3),
        subexpires: Some(r.dbs.values().map(|d| d.subexpires).sum()),
        functions: Some(r.functions.len() as u64),
    })
}

/// Compares the fields the checker reported.
fn diff(rdbkit: &Counts, check: &Counts) -> Vec<String> {
    let mut d = Vec::new();
    let mut one = |what: &str, a: Option<u64>, b: Option<u64>| {
        if let (Some(a), Some(b)) = (a, b) {
            if a != b {
                d.push(format!("{what}: rdbkit {a}, check-rdb {b}"));
            }
        }
    };
    one("keys", Some(rdbkit.keys), Some(check.keys));
    one("expires", Some(rdbkit.expires), Some(check.expires));
    one(
        "already expired",
        Some(rdbkit.already_expired),
        Some(check.already_expired),
    );
    one("subexpires", rdbkit.subexpires, check.subexpires);
    one("functions", rdbkit.functions, check.functions);
    d
}

fn show(c: &Counts) -> String {
    let mut s = format!(
        "{} keys, {} expires, {} already expired",
        c.keys, c.expires, c.already_expired
    );
    if let Some(n) = c.subexpires {
        s.push_str(&format!(", {n} subexpires"));
    }
    if let Some(n) = c.functions {
        s.push_str(&format!(", {n} functions"));
    }
    s
}

// ---------------------------------------------------------------------------
// Recorded check-rdb results (no servers needed)

#[test]
fn rdbkit_verify_matches_recorded_check_rdb() {
    let mut report = String::from("rdbkit verify vs the recorded check-rdb (.meta.json):\n");
    let mut failed = Vec::new();
    let mut compared = 0;
    for rdb in fixtures() {
        let n = name(&rdb);
        let Some(meta) = read_meta(&rdb) else {
            report.push_str(&format!("  skip {n}: no .meta.json\n"));
            continue;
        };
        let Some(keys) = meta["check_rdb_keys"].as_u64() else {
            report.push_str(&format!("  skip {n}: no check_rdb_keys in .meta.json\n"));
            continue;
        };
        compared += 1;
        let recorded = Counts {
            keys,
            expires: meta["check_rdb_expires"].as_u64().unwrap_or(u64::MAX),
            already_expired: meta["check_rdb_already_expired"]
                .as_u64()
                .unwrap_or(u64::MAX),
            subexpires: meta["check_rdb_subexpires"].as_u64(),
            functions: meta["check_rdb_functions"].as_u64(),
        };
        let mut errs = Vec::new();
        if meta["check_rdb_ok"] != J::Bool(true) || meta["check_rdb_exit"] != 0 {
            errs.push(format!(
                "recorded check-rdb did not pass (ok {}, exit {})",
                meta["check_rdb_ok"], meta["check_rdb_exit"]
            ));
        }
        match rdbkit_counts(&rdb) {
            Ok(ours) => {
                errs.extend(diff(&ours, &recorded));
                report.push_str(&format!("  {n:<28} {}\n", show(&ours)));
            }
            Err(e) => errs.push(e),
        }
        let (code, text) = rdbkit_verify(&rdb, &["--deep"]);
        if code != 0 {
            errs.push(format!("rdbkit verify --deep exit {code}: {}", text.trim()));
        }
        // Module AUX records, in file order.
        if let Some(want) = meta["check_rdb_module_aux"].as_array() {
            let data = std::fs::read(&rdb).unwrap();
            let r = rdbkit::stats::inspect(&data, Options::default(), 0).unwrap();
            let ours: Vec<String> = r.module_aux.iter().map(|m| m.module.clone()).collect();
            let want: Vec<String> = want
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            if ours != want {
                errs.push(format!("module aux: rdbkit {ours:?}, check-rdb {want:?}"));
            }
        }
        if !errs.is_empty() {
            report.push_str(&format!("       {}\n", errs.join("\n       ")));
            failed.push(format!("{n}: {}", errs.join("; ")));
        }
    }
    print!("{report}");
    assert!(compared > 0, "no fixture has a recorded check-rdb result");
    assert!(
        failed.is_empty(),
        "rdbkit disagrees with the recorded check-rdb:\n{}",
        failed.join("\n")
    );
}

// ---------------------------------------------------------------------------
// Live check-rdb

fn registry_path() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("RDBKIT_SERVERS") {
        return Some(PathBuf::from(d).join("servers.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/rdbkit-servers/servers.json"))
}

/// Server name -> `check_rdb` executable (`None` when the registry has none),
/// or why there is no registry.
fn registry() -> Result<BTreeMap<String, Option<PathBuf>>, String> {
    let p = registry_path().ok_or("neither $RDBKIT_SERVERS nor $HOME is set")?;
    let text = std::fs::read_to_string(&p).map_err(|e| {
        format!(
            "no servers registry at {} ({e}); run scripts/install-servers.sh",
            p.display()
        )
    })?;
    let v: J = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
    let servers = v["servers"]
        .as_object()
        .ok_or_else(|| format!("{}: no \"servers\" object", p.display()))?;
    Ok(servers
        .iter()
        .map(|(k, s)| (k.clone(), s["check_rdb"].as_str().map(PathBuf::from)))
        .collect())
}

/// Runs a check-rdb binary on `file`: exit code and output, or why it could not run.
fn run_check_rdb(bin: &Path, file: &Path) -> Result<(i32, String), String> {
    let out = Command::new(bin)
        .arg(file)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.code().unwrap_or(-1), text))
}

/// Parses the `[info] N …` lines of check-rdb.
fn parse_check_rdb(text: &str) -> Result<Counts, String> {
    let mut found: BTreeMap<&str, u64> = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("[info] ") else {
            continue;
        };
        let Some((n, what)) = rest.split_once(' ') else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        let what = match what.trim() {
            "keys read" => "keys",
            "expires" => "expires",
            "already expired" => "already expired",
            "subexpires" => "subexpires",
            "functions" => "functions",
            _ => continue,
        };
        found.insert(what, n);
    }
    let need = |w: &str| {
        found
            .get(w)
            .copied()
            .ok_or_else(|| format!("no '[info] N {w}' line in check-rdb output"))
    };
    Ok(Counts {
        keys: need("keys")?,
        expires: need("expires")?,
        already_expired: need("already expired")?,
        subexpires: found.get("subexpires").copied(),
        functions: found.get("functions").copied(),
    })
}

#[test]
fn live_check_rdb_agrees_with_rdbkit_verify() {
    let reg = match registry() {
        Ok(r) => r,
        Err(why) => {
            println!("live check-rdb comparison skipped: {why}");
            return;
        }
    };
    let mut files = fixtures();
    files.extend(examples());
    let mut report = String::from("live check-rdb vs rdbkit verify:\n");
    let mut failed = Vec::new();
    let mut compared = 0;
    for rdb in files {
        let (n, server) = (name(&rdb), server_of(&rdb));
        let bin = match reg.get(&server) {
            None => {
                report.push_str(&format!("  skip {n}: {server} is not in the registry\n"));
                continue;
            }
            Some(None) => {
                report.push_str(&format!("  skip {n}: {server} has no check_rdb\n"));
                continue;
            }
            Some(Some(b)) => b,
        };
        let (code, text) = match run_check_rdb(bin, &rdb) {
            Ok(r) => r,
            Err(why) => {
                report.push_str(&format!("  skip {n}: {why}\n"));
                continue;
            }
        };
        compared += 1;
        let mut errs = Vec::new();
        if code != 0 || !text.contains("RDB looks OK") {
            errs.push(format!("{server} check-rdb exit {code}, no 'RDB looks OK'"));
        }
        match (rdbkit_counts(&rdb), parse_check_rdb(&text)) {
            (Ok(ours), Ok(theirs)) => {
                errs.extend(diff(&ours, &theirs));
                report.push_str(&format!(
                    "  {n:<28} {server} check-rdb: {}\n",
                    show(&theirs)
                ));
            }
            (a, b) => errs.extend(a.err().into_iter().chain(b.err())),
        }
        if !errs.is_empty() {
            report.push_str(&format!("       {}\n", errs.join("\n       ")));
            failed.push(format!("{n}: {}", errs.join("; ")));
        }
    }
    print!("{report}");
    assert!(
        failed.is_empty(),
        "check-rdb and rdbkit verify disagree:\n{}",
        failed.join("\n")
    );
    println!("  ({compared} files compared)");
}

// ---------------------------------------------------------------------------
// Corruption

/// A private temporary directory under Cargo's per-target scratch space.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("check_rdb-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Offsets of the type byte and of the first value byte of a short raw
/// string key.
fn string_key_offsets(data: &[u8], key: &[u8]) -> (usize, usize) {
    for item in Decoder::new(data, Options::default()).unwrap() {
        if let Item::Key(k) = item.unwrap() {
            if &*k.key.to_bytes().unwrap() == key {
                let raw = k.value.raw();
                assert!(raw.len() > 1 && raw[0] < 0x40, "not a short raw string");
                return (k.body_span.start, k.value.offset() + 1);
            }
        }
    }
    panic!("key {} not found", String::from_utf8_lossy(key));
}

#[test]
fn corrupted_byte_is_rejected_by_both() {
    const SERVER: &str = "redis-7.0";
    let src = root().join(format!("tests/fixtures/{SERVER}/all-types.rdb"));
    let data = std::fs::read(&src).unwrap();
    let (type_at, value_at) = string_key_offsets(&data, b"str:short");
    let check_rdb = match registry() {
        Ok(r) => match r.get(SERVER) {
            Some(Some(b)) => Ok(b.clone()),
            _ => Err(format!("{SERVER} has no check_rdb in the registry")),
        },
        Err(why) => Err(why),
    };
    let tmp = TempDir::new("corrupt");
    let mut report = String::from("corrupted copies of redis-7.0/all-types:\n");
    // A value byte: the structure stays valid, only the CRC-64 catches it.
    // A type byte: 63 is no value type, the structure is broken.
    let cases: [(&str, usize, u8, &str); 2] = [
        (
            "value byte (CRC only)",
            value_at,
            data[value_at] ^ 0x20,
            "checksum",
        ),
        ("type byte -> 63", type_at, 63, "type"),
    ];
    for (what, at, byte, word) in cases {
        let mut bad = data.clone();
        assert_ne!(bad[at], byte);
        bad[at] = byte;
        let file = tmp.0.join(format!("corrupt-{at}.rdb"));
        std::fs::write(&file, &bad).unwrap();
        let (code, text) = rdbkit_verify(&file, &[]);
        assert_eq!(code, 1, "rdbkit verify on {what} at {at}: {text}");
        assert!(
            text.to_lowercase().contains(word),
            "rdbkit verify on {what}: expected a '{word}' error, got: {text}"
        );
        report.push_str(&format!(
            "  {what} at offset {at}: rdbkit exit {code} ({})\n",
            text.lines().last().unwrap_or("").trim()
        ));
        match &check_rdb {
            Ok(bin) => match run_check_rdb(bin, &file) {
                Ok((code, text)) => {
                    assert_eq!(code, 1, "{SERVER} check-rdb on {what} at {at}:\n{text}");
                    assert!(!text.contains("RDB looks OK"), "{text}");
                    let err = text
                        .lines()
                        .skip_while(|l| !l.contains("RDB ERROR DETECTED"))
                        .nth(1)
                        .unwrap_or("")
                        .trim();
                    report.push_str(&format!("      {SERVER} check-rdb exit {code} ({err})\n"));
                }
                Err(why) => report.push_str(&format!("      check-rdb skipped: {why}\n")),
            },
            Err(why) => report.push_str(&format!("      check-rdb skipped: {why}\n")),
        }
    }
    // The untouched copy passes both.
    let good = tmp.0.join("good.rdb");
    std::fs::write(&good, &data).unwrap();
    assert_eq!(rdbkit_verify(&good, &["--deep"]).0, 0);
    if let Ok(bin) = &check_rdb {
        if let Ok((code, _)) = run_check_rdb(bin, &good) {
            assert_eq!(code, 0, "check-rdb on the untouched copy");
        }
    }
    print!("{report}");
}

#[test]
fn check_rdb_output_parser() {
    let out = "[offset 0] Checking RDB file x\n[offset 9] \\o/ RDB looks OK! \\o/\n\
               [info] 57 keys read\n[info] 8 expires\n[info] 0 already expired\n\
               [info] 3 subexpires\n";
    let c = parse_check_rdb(out).unwrap();
    assert_eq!((c.keys, c.expires, c.already_expired), (57, 8, 0));
    assert_eq!((c.subexpires, c.functions), (Some(3), None));
    assert!(parse_check_rdb("[info] 1 keys read\n").is_err());
}
