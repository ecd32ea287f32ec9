//! `rdbkit analyze` end to end on the shipped example dumps (two nodes of
//! one deployment): the JSON report's sums agree with each other and with
//! the per-key CSV, keys present in both inputs are counted once, the
//! prefix buckets stay within `--max-prefixes` without losing keys,
//! filters apply, and bad input or a bad destination fails with the
//! documented exit code and no output. Accuracy against real servers is
//! `tests/memory_servers.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_rdbkit");

fn ex(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("analyze")
        .args(args)
        .output()
        .unwrap()
}

fn json(args: &[&str]) -> Value {
    let o = run(&[args, &["--format", "json"]].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn sum(list: &Value, field: &str) -> u64 {
    list.as_array().unwrap().iter().map(|e| u(&e[field])).sum()
}

fn inputs() -> [String; 2] {
    [
        ex("dump1.rdb").display().to_string(),
        ex("dump2.rdb").display().to_string(),
    ]
}

#[test]
fn sums_agree_and_duplicates_count_once() {
    let [a, b] = inputs();
    let one = json(&[&a, "--target", "redis-7.4"]);
    let two = json(&[&a, &b, "--target", "redis-7.4", "--top", "7"]);
    let t = &two["totals"];
    // Per input, everything; in the totals, keys in both inputs once.
    let per_input = sum(&two["inputs"], "keys");
    assert_eq!(
        per_input,
        u(&one["totals"]["keys"]) + u(&two["inputs"][1]["keys"])
    );
    assert!(u(&t["duplicates"]) > 0);
    assert_eq!(u(&t["keys"]) + u(&t["duplicates"]), per_input);
    // Every breakdown adds up to the totals.
    for field in ["keys", "expires", "memory_bytes", "serialized_bytes"] {
        assert_eq!(sum(&two["by_type"], field), u(&t[field]), "by_type {field}");
        assert_eq!(sum(&two["by_db"], field), u(&t[field]), "by_db {field}");
        let ttl = &two["ttl"];
        let in_ttl =
            u(&ttl["no_expiry"][field]) + u(&ttl["expired"][field]) + sum(&ttl["buckets"], field);
        assert_eq!(in_ttl, u(&t[field]), "ttl {field}");
    }
    assert_eq!(
        u(&t["expires"]),
        sum(&two["ttl"]["buckets"], "keys") + u(&two["ttl"]["expired"]["keys"])
    );
    assert!(u(&t["used_memory_estimate"]) > u(&t["memory_bytes"]));
    // The biggest keys, biggest first, no more than asked.
    let top: Vec<u64> = two["top_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| u(&k["memory_bytes"]))
        .collect();
    assert_eq!(top.len(), 7);
    assert!(top.windows(2).all(|w| w[0] >= w[1]), "{top:?}");
    assert_eq!(two["target"], "redis-7.4");
    assert_eq!(two["allocator"], "jemalloc");
    // The CSV lists every key of every input; its memory adds up to the
    // inputs' own sums.
    let o = run(&[&a, &b, "--target", "redis-7.4", "--format", "csv"]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("db,key,type,encoding,elements,serialized_bytes,memory_bytes,expire_ms,input")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len() as u64, per_input);
    let csv_memory: u64 = rows
        .iter()
        .map(|r| r.rsplit(',').nth(2).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(csv_memory, sum(&two["inputs"], "memory_bytes"));
}

#[test]
fn prefixes_stay_bounded_without_losing_keys() {
    let [a, _] = inputs();
    let all = json(&[&a, "--prefix-depth", "1"]);
    let few = json(&[&a, "--prefix-depth", "1", "--max-prefixes", "2"]);
    let named = |v: &Value| -> Vec<Value> {
        v["prefixes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["other"] == false)
            .cloned()
            .collect()
    };
    assert!(named(&all).len() > 2);
    assert_eq!(all["prefixes_exact"], true);
    assert_eq!(few["prefixes_exact"], false);
    assert_eq!(named(&few).len(), 2);
    // The buckets kept hold at most what they hold exactly; the rest is
    // in "(other)", and no key is lost.
    for p in named(&few) {
        let exact = named(&all)
            .into_iter()
            .find(|q| q["prefix"] == p["prefix"])
            .unwrap();
        assert!(u(&p["keys"]) <= u(&exact["keys"]), "{p} {exact}");
    }
    assert_eq!(sum(&few["prefixes"], "keys"), sum(&all["prefixes"], "keys"));
    assert_eq!(
        sum(&few["prefixes"], "memory_bytes"),
        sum(&all["prefixes"], "memory_bytes")
    );
}

#[test]
fn filters_apply() {
    let [a, _] = inputs();
    let all = json(&[&a]);
    let hashes = json(&[&a, "--type", "hash"]);
    assert!(u(&hashes["totals"]["keys"]) > 0);
    assert_eq!(
        hashes["by_type"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["type"] != "hash")
            .count(),
        0
    );
    let users = json(&[&a, "--key", "^user:"]);
    let n = u(&users["totals"]["keys"]);
    assert!(n > 0 && n < u(&all["totals"]["keys"]));
    assert!(users["top_keys"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k["key"].as_str().unwrap().starts_with("user:")));
    assert_eq!(u(&json(&[&a, "--db", "5"])["totals"]["keys"]), 0);
}

#[test]
fn bad_input_and_destinations_fail_cleanly() {
    let dir = std::env::temp_dir().join(format!("rdbkit-analyze-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let [a, b] = inputs();
    // A truncated input: exit 1, naming the file; nothing on stdout, in
    // any format.
    let data = std::fs::read(&b).unwrap();
    let cut = dir.join("cut.rdb");
    std::fs::write(&cut, &data[..data.len() / 2]).unwrap();
    let cut = cut.display().to_string();
    for format in ["text", "json", "csv"] {
        let o = run(&[&a, &cut, "--format", format]);
        assert_eq!(o.status.code(), Some(1), "{format}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&cut) && err.contains("offset"),
            "{format}: {err}"
        );
        if format != "csv" {
            assert!(o.stdout.is_empty(), "{format}");
        }
    }
    // -o: never an input, never an existing file without --force, and
    // nothing left when the analysis fails.
    let before = std::fs::read(&a).unwrap();
    let o = run(&[&a, "-o", &a]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read(&a).unwrap(), before);
    let out = dir.join("report.json");
    let outs = out.display().to_string();
    let o = run(&[&a, "--format", "json", "-o", &outs]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert!(u(&v["totals"]["keys"]) > 0);
    assert_eq!(run(&[&a, "-o", &outs]).status.code(), Some(2));
    assert!(run(&[&a, "-o", &outs, "--force"]).status.success());
    let failed = dir.join("failed.csv");
    let o = run(&[&cut, "--format", "csv", "-o", &failed.display().to_string()]);
    assert_eq!(o.status.code(), Some(1));
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(!failed.exists(), "{left:?}");
    assert_eq!(left.len(), 2, "{left:?}"); // cut.rdb and report.json
                                           // An unknown target or allocator: exit 2, saying which exist.
    let o = run(&[&a, "--target", "redis-2.8"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("redis-7.0"));
    assert_eq!(run(&[&a, "--allocator", "tcmalloc"]).status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The library reports its progress: one "analyzing" phase over the
/// inputs' bytes, every key counted.
#[test]
fn progress_reaches_the_sink() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use rdbkit::analyze::{analyze, AnalyzeOptions};
    use rdbkit::memory::{Allocator, Model};
    use rdbkit::merge::ProgressSink;
    use rdbkit::release::ServerRelease;

    #[derive(Default)]
    struct Log {
        phases: Mutex<Vec<(&'static str, u64)>>,
        bytes: AtomicU64,
        keys: AtomicU64,
    }
    impl ProgressSink for Log {
        fn phase(&self, name: &'static str, total: u64) {
            self.phases.lock().unwrap().push((name, total));
        }
        fn advance(&self, bytes: u64, keys: u64) {
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
            self.keys.fetch_add(keys, Ordering::Relaxed);
        }
    }
    let [a, b] = inputs();
    let (a, b) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    let model = Model::new(
        ServerRelease::parse("redis-7.0").unwrap(),
        Allocator::Jemalloc,
    )
    .unwrap();
    let log = Arc::new(Log::default());
    let mut o = AnalyzeOptions::new(model);
    o.progress = Some(log.clone());
    let r = analyze(&[("a", &a[..]), ("b", &b[..])], &o).unwrap();
    let total = (a.len() + b.len()) as u64;
    assert_eq!(*log.phases.lock().unwrap(), vec![("analyzing", total)]);
    let bytes = log.bytes.load(Ordering::Relaxed);
    assert!(bytes <= total && bytes >= total - 64, "{bytes} of {total}");
    assert_eq!(
        log.keys.load(Ordering::Relaxed),
        r.totals.keys + r.totals.duplicates
    );
}
