//! The README's main command on the Dynomite example pair
//! (`examples/dump1.rdb`, `examples/dump2.rdb`, written by Redis 7.0):
//! the summary numbers match `examples/README.md`, the output holds every
//! data key once (sum of DBSIZEs minus the dropped read-repair metadata),
//! and a real Redis 7.0 loads it with that DBSIZE (skipped with a printed
//! reason when the server is absent).

#[path = "common/servers.rs"]
mod servers;

use rdbkit::decode::{Decoder, Item, Options};
use rdbkit::merge::dynomite;
use servers::*;

/// One row of the README's table.
struct Node {
    file: String,
    token: u32,
    dbsize: u64,
    data_keys: u64,
    field_meta: u64,
    top_meta: u64,
    expires: u64,
}

/// The table of `examples/README.md`.
fn readme_nodes() -> Vec<Node> {
    let text = std::fs::read_to_string(repo().join("examples/README.md")).unwrap();
    text.lines()
        .filter(|l| l.starts_with("| `dump"))
        .map(|l| {
            let cols: Vec<&str> = l.split('|').map(str::trim).collect();
            let n = |i: usize| cols[i].parse::<u64>().unwrap();
            let expires = cols[7]
                .split(',')
                .find_map(|kv| kv.strip_prefix("expires="))
                .unwrap()
                .parse()
                .unwrap();
            Node {
                file: cols[1].trim_matches('`').to_string(),
                token: n(2) as u32,
                dbsize: n(3),
                data_keys: n(4),
                field_meta: n(5),
                top_meta: n(6),
                expires,
            }
        })
        .collect()
}

#[test]
fn readme_main_command() {
    let nodes = readme_nodes();
    assert_eq!(nodes.len(), 2);
    for n in &nodes {
        assert_eq!(n.dbsize, n.data_keys + n.field_meta + n.top_meta);
    }
    let dir = TempDir::new("merge-examples");
    let out = dir.join("x.rdb");
    let report = dir.join("x.json");
    let expect = format!("{},{}", nodes[0].dbsize, nodes[1].dbsize);
    // The command of the brief / README, with the output in a scratch dir.
    let o = merge_examples(
        &out,
        &[
            "--drop-dynomite-metadata",
            "--expect-keys",
            &expect,
            "--report",
            report.to_str().unwrap(),
        ],
    );
    let err = assert_exit(&o, 0);
    let data: u64 = nodes.iter().map(|n| n.data_keys).sum();
    let meta: u64 = nodes.iter().map(|n| n.field_meta + n.top_meta).sum();
    let sum: u64 = nodes.iter().map(|n| n.dbsize).sum();
    assert_eq!(data, sum - meta);
    // Summary on stderr.
    for (i, n) in nodes.iter().enumerate() {
        let line = format!("input {}: examples/{} — ", i + 1, n.file);
        let l = err
            .lines()
            .find(|l| l.starts_with(&line))
            .unwrap_or_else(|| panic!("{line} in\n{err}"));
        assert!(
            l.contains(&format!("{} keys, {} expires", n.dbsize, n.expires)),
            "{l}"
        );
        assert!(l.contains("RDB 10 (redis 7.0.15)"), "{l}");
        assert!(l.contains("checksum OK"), "{l}");
    }
    assert!(
        err.contains(&format!("Dynomite metadata keys dropped: {meta}")),
        "{err}"
    );
    assert!(
        err.contains("functions: dynoapp (1 identical copies dropped)"),
        "{err}"
    );
    let out_line = err.lines().find(|l| l.starts_with("output: ")).unwrap();
    assert!(out_line.contains(&format!("{data} keys")), "{out_line}");
    assert!(out_line.contains("REDIS0010"), "{out_line}");
    assert!(out_line.contains("verified"), "{out_line}");
    assert!(
        err.contains(&format!("expected DBSIZE after import: {data}")),
        "{err}"
    );
    // The report.
    let r = read_json(&report);
    assert_eq!(r["status"], "written");
    assert_eq!(r["inputs"][0]["keys"], nodes[0].dbsize);
    assert_eq!(r["inputs"][1]["keys"], nodes[1].dbsize);
    assert_eq!(r["inputs"][0]["dbs"]["0"]["expires"], nodes[0].expires);
    assert_eq!(r["dropped"]["dynomite_metadata"], meta);
    assert_eq!(r["output"]["keys"], data);
    assert_eq!(r["output"]["expires"], nodes[0].expires + nodes[1].expires);
    assert_eq!(r["expected_dbsize_after_import"], data);
    assert_eq!(r["conflicts"]["count"], 0);
    // A real Redis 7.0 loads it.
    let Some(info) = server("readme_main_command", "redis-7.0") else {
        return;
    };
    let mut s =
        Server::start(&info, &dir.0, "x.rdb", &[]).expect("Redis 7.0 loads the merged file");
    assert_eq!(s.dbsize() as u64, data);
    assert_eq!(s.cmd(&["EXISTS", "._add-set", "._rem-set"]).int(), 0);
    let user = s.cmd(&["GET", "user:1"]).text();
    assert_eq!(
        s.cmd(&["FCALL_RO", "dynoapp_get", "1", "user:1"]).text(),
        user
    );
}

/// Without `--drop-dynomite-metadata` the read-repair sets `._add-set` and
/// `._rem-set` (on both nodes, different members) are conflicts: refused by
/// default, resolved by token ownership with `--on-conflict owner`.
#[test]
fn metadata_keys_conflict_unless_dropped() {
    let dir = TempDir::new("merge-examples-meta");
    let out = dir.join("x.rdb");
    let report = dir.join("x.json");
    let o = merge_examples(&out, &["--report", report.to_str().unwrap()]);
    assert_exit(&o, 1);
    assert!(!out.exists());
    let r = read_json(&report);
    let mut keys: Vec<String> = r["conflicts"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap().to_string())
        .collect();
    keys.sort();
    assert_eq!(keys, ["._add-set", "._rem-set"]);
    // An existing report is replaced only with --force: start afresh.
    std::fs::remove_file(&report).unwrap();
    let nodes = readme_nodes();
    let t1 = format!("dump1.rdb={}", nodes[0].token);
    let t2 = format!("dump2.rdb={}", nodes[1].token);
    let o = merge_examples(
        &out,
        &[
            "--on-conflict",
            "owner",
            "--token",
            &t1,
            "--token",
            &t2,
            "--report",
            report.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 0);
    let r = read_json(&report);
    let tokens = [nodes[0].token, nodes[1].token];
    for c in r["conflicts"]["list"].as_array().unwrap() {
        let k = c["key"].as_str().unwrap();
        let owner = dynomite::owner(dynomite::hash(k.as_bytes()), &tokens).unwrap();
        assert_eq!(c["kept_input"], owner + 1, "{k}");
    }
    let sum: u64 = nodes.iter().map(|n| n.dbsize).sum();
    assert_eq!(r["output"]["keys"], sum - 2);
}

/// Dynomite's placement as rdbkit computes it (murmur + token dispatch)
/// agrees with the example's: every data key sits on the node that owns
/// it, and every `._add-set_<key>` / `._rem-set_<key>` on the owner of <key>.
/// The example was split by an independent (Python) implementation.
#[test]
fn placement_matches_the_example_split() {
    let nodes = readme_nodes();
    let tokens: Vec<u32> = nodes.iter().map(|n| n.token).collect();
    let mut checked = 0;
    for (i, n) in nodes.iter().enumerate() {
        let data = std::fs::read(repo().join("examples").join(&n.file)).unwrap();
        for item in Decoder::new(&data, Options::default()).unwrap() {
            let Item::Key(k) = item.unwrap() else {
                continue;
            };
            let key = k.key.to_bytes().unwrap().into_owned();
            let placed_by = if key == b"._add-set" || key == b"._rem-set" {
                continue;
            } else if let Some(rest) = key
                .strip_prefix(b"._add-set_")
                .or_else(|| key.strip_prefix(b"._rem-set_"))
            {
                rest.to_vec()
            } else {
                key.clone()
            };
            let owner = dynomite::owner(dynomite::hash(&placed_by), &tokens).unwrap();
            assert_eq!(
                owner,
                i,
                "{} is on node {}",
                String::from_utf8_lossy(&key),
                i + 1
            );
            checked += 1;
        }
    }
    let expected: u64 = nodes.iter().map(|n| n.data_keys + n.field_meta).sum();
    assert_eq!(checked, expected);
}

/// The progress bar is drawn only when stderr is a terminal: not here
/// (stderr is a pipe), even with `--progress`; on a pseudo-terminal (via
/// util-linux `script`, when installed) it shows the phases.
#[test]
fn progress_bar_only_on_a_terminal() {
    let dir = TempDir::new("merge-progress");
    let out = dir.join("x.rdb");
    let o = merge_examples(&out, &["--drop-dynomite-metadata", "--progress"]);
    assert_exit(&o, 0);
    let err = stderr(&o);
    assert!(
        !err.contains("verifying inputs") && !err.contains('\r'),
        "{err}"
    );
    let has_script = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_script {
        eprintln!("progress_bar_only_on_a_terminal: pty part SKIPPED: no util-linux `script`");
        return;
    }
    let out2 = dir.join("y.rdb");
    let cmd = format!(
        "'{}' merge examples/dump1.rdb examples/dump2.rdb -o '{}' --drop-dynomite-metadata",
        env!("CARGO_BIN_EXE_rdbkit"),
        out2.display()
    );
    let o = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(repo())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let tty = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{tty}");
    assert!(tty.contains("verifying inputs"), "{tty}");
    assert!(tty.contains("writing"), "{tty}");
    assert!(tty.contains("verifying output"), "{tty}");
    assert!(tty.contains("output: "), "{tty}");
}

#[test]
fn no_verify_says_so() {
    let dir = TempDir::new("merge-noverify");
    let out = dir.join("x.rdb");
    let o = merge_examples(&out, &["--drop-dynomite-metadata", "--no-verify"]);
    let err = assert_exit(&o, 0);
    assert!(err.contains("NOT verified (--no-verify)"), "{err}");
    let data = std::fs::read(&out).unwrap();
    let r = rdbkit::stats::inspect(&data, Options::default(), 0).unwrap();
    assert_eq!(r.keys(), 2553);
}
