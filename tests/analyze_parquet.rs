//! `rdbkit analyze --keys-parquet` read back by a real DuckDB (PyPI
//! `duckdb`, installed by `scripts/install-servers.sh`; the test skips
//! with the reason printed when it is absent): one row per key and input,
//! and its sums equal the JSON report's per-input sums.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_rdbkit");

fn ex(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
        .display()
        .to_string()
}

fn duckdb_python() -> Option<PathBuf> {
    let dir = std::env::var_os("RDBKIT_SERVERS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/rdbkit-servers"))
        })?;
    let py = dir.join("venvs/duckdb/bin/python");
    let ok = Command::new(&py)
        .args(["-c", "import duckdb"])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some(py)
}

#[test]
fn duckdb_reads_what_the_report_sums() {
    let Some(py) = duckdb_python() else {
        eprintln!("analyze_parquet: skipped: no DuckDB (scripts/install-servers.sh installs it)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("rdbkit-parquet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pq = dir.join("keys.parquet");
    let o = Command::new(BIN)
        .args([
            "analyze",
            &ex("dump1.rdb"),
            &ex("dump2.rdb"),
            "--format",
            "json",
            "--keys-parquet",
        ])
        .arg(&pq)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let sum = |f: &str| -> u64 {
        report["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i[f].as_u64().unwrap())
            .sum()
    };
    let query = format!(
        "import duckdb; r = duckdb.sql(\"select count(*), sum(memory_bytes), count(expire_ms), \
         sum(serialized_bytes), count(distinct input), \
         sum(case when key = '._add-set'::BLOB then 1 else 0 end), \
         min(typeof(key)) from '{}'\").fetchone(); print(','.join(str(x) for x in r))",
        pq.display()
    );
    let out = Command::new(&py).args(["-c", &query]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let f: Vec<&str> = text.trim().split(',').collect();
    assert_eq!(f[0].parse::<u64>().unwrap(), sum("keys"), "rows: {text}");
    assert_eq!(f[1].parse::<u64>().unwrap(), sum("memory_bytes"), "{text}");
    assert_eq!(f[2].parse::<u64>().unwrap(), sum("expires"), "{text}");
    assert_eq!(
        f[3].parse::<u64>().unwrap(),
        sum("serialized_bytes"),
        "{text}"
    );
    assert_eq!(f[4], "2", "{text}");
    assert_eq!(f[5], "2", "the key in both inputs, once per input: {text}");
    assert_eq!(f[6], "BLOB", "{text}");
    // Never over an input; nothing written for a corrupt input.
    let input = ex("dump1.rdb");
    let before = std::fs::read(&input).unwrap();
    let o = Command::new(BIN)
        .args(["analyze", &input, "--keys-parquet", &input])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read(&input).unwrap(), before);
    let cut = dir.join("cut.rdb");
    std::fs::write(&cut, &before[..before.len() / 2]).unwrap();
    let pq2 = dir.join("cut.parquet");
    let o = Command::new(BIN)
        .arg("analyze")
        .arg(&cut)
        .arg("--keys-parquet")
        .arg(&pq2)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(!pq2.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
