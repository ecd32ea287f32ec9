//! `rdbkit split` against a real Redis Cluster: a dump written by a real
//! server is split with `--shards 3`; three Redis 7.x servers with
//! `cluster-enabled yes` on loopback each start on one file, are given
//! the rest of their slot range (`CLUSTER ADDSLOTSRANGE`; a node claims
//! the slots its file holds keys of when it loads it) and meet; then
//! `redis-cli --cluster check` reports every slot covered and no error,
//! every key is answered by its node, the DBSIZEs add up to the input's
//! keys, and `rdbkit diff` of the three files against the input is equal.
//! Other split modes and refusals are checked without servers.

#[path = "common/cli.rs"]
mod cli;
#[path = "common/servers.rs"]
mod servers;

use cli::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rdbkit::cluster::{key_slot, shard_ranges};
use rdbkit::decode::{Decoder, Item, Options};
use servers::*;

/// Keys of a file, with their slots.
fn keys(path: &Path) -> Vec<(Vec<u8>, u16)> {
    let data = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    for item in Decoder::new(&data, Options::default()).unwrap() {
        if let Item::Key(k) = item.unwrap() {
            let key = k.key.to_bytes().unwrap().into_owned();
            let slot = key_slot(&key);
            out.push((key, slot));
        }
    }
    out
}

/// The `.rdb` files of a directory (none when it does not exist).
fn shard_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(d) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = d
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rdb"))
        .collect();
    v.sort();
    v
}

/// The slots a node says it serves (`CLUSTER NODES`, its `myself` line).
fn own_slots(s: &mut Server) -> Vec<bool> {
    let text = s.cmd(&["CLUSTER", "NODES"]).lossy_text();
    let mut own = vec![false; 16384];
    for line in text.lines().filter(|l| l.contains("myself")) {
        for f in line.split_whitespace().skip(8) {
            if f.starts_with('[') {
                continue;
            }
            let (a, b) = f.split_once('-').unwrap_or((f, f));
            let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
            own[a..=b].iter_mut().for_each(|o| *o = true);
        }
    }
    own
}

#[test]
fn three_shards_make_a_working_cluster() {
    let Some(reg) = registry("split_cluster") else {
        return;
    };
    let Some(cli) = redis_cli("split_cluster") else {
        return;
    };
    let Some(info) = ["redis-7.4", "redis-7.0"]
        .iter()
        .find_map(|n| reg.iter().find(|s| &s.name == n))
        .cloned()
    else {
        eprintln!("split_cluster: SKIPPED: no Redis 7.x server installed");
        return;
    };
    let dir = TempDir::new("split-cluster");
    let input = example("dump1.rdb");
    let out = dir.join("shards");
    // Written for the cluster's own release: for Redis 7.4 (RDB 12), keys
    // grouped by slot after SLOT_INFO records, as a cluster node saves.
    let target = info.target_name();
    ok(&rdbkit(&[
        "split",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--shards",
        "3",
        "--target",
        &target,
    ]));
    let files = shard_files(&out);
    assert_eq!(files.len(), 3);
    let slot_info = target
        .parse::<rdbkit::release::Target>()
        .unwrap()
        .has_slot_info();
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let mut infos: Vec<(u64, u64, u64)> = Vec::new();
        let mut counted: Vec<(u64, u64, u64)> = Vec::new();
        for item in Decoder::new(&data, Options::default()).unwrap() {
            match item.unwrap() {
                Item::SlotInfo {
                    slot,
                    keys,
                    expires,
                } => {
                    infos.push((slot, keys, expires));
                    counted.push((slot, 0, 0));
                }
                Item::Key(k) => {
                    let slot = u64::from(key_slot(&k.key.to_bytes().unwrap()));
                    if let Some(c) = counted.last_mut() {
                        assert_eq!(
                            c.0,
                            slot,
                            "{}: key of slot {slot} after SLOT_INFO {}",
                            f.display(),
                            c.0
                        );
                        c.1 += 1;
                        c.2 += u64::from(k.expire_ms.is_some());
                    }
                }
                _ => {}
            }
        }
        if slot_info {
            assert!(!infos.is_empty(), "{}: no SLOT_INFO", f.display());
            assert_eq!(infos, counted, "{}", f.display());
            assert!(infos.windows(2).all(|w| w[0].0 < w[1].0));
        } else {
            assert!(infos.is_empty());
        }
    }
    let ranges = shard_ranges(3);
    // Every key in exactly one file, the file of its slot.
    let all = keys(&input);
    let mut seen = 0;
    for (f, (lo, hi)) in files.iter().zip(&ranges) {
        for (_, slot) in keys(f) {
            assert!((*lo..=*hi).contains(&slot), "{}: slot {slot}", f.display());
            seen += 1;
        }
    }
    assert_eq!(seen, all.len());
    // Three cluster nodes, each on its file.
    let mut nodes: Vec<Server> = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let d = dir.join(&format!("node{i}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(f, d.join("dump.rdb")).unwrap();
        let s = Server::start(
            &info,
            &d,
            "dump.rdb",
            &[
                ("cluster-enabled", "yes"),
                ("cluster-config-file", "nodes.conf"),
                ("cluster-node-timeout", "5000"),
            ],
        )
        .unwrap_or_else(|e| panic!("node {i}: {e}"));
        nodes.push(s);
    }
    for (s, (lo, hi)) in nodes.iter_mut().zip(&ranges) {
        let own = own_slots(s);
        let mut slot = usize::from(*lo);
        while slot <= usize::from(*hi) {
            if own[slot] {
                slot += 1;
                continue;
            }
            let start = slot;
            while slot <= usize::from(*hi) && !own[slot] {
                slot += 1;
            }
            let r = s.cmd(&[
                "CLUSTER",
                "ADDSLOTSRANGE",
                &start.to_string(),
                &(slot - 1).to_string(),
            ]);
            assert!(
                !matches!(r, Reply::Error(_)),
                "ADDSLOTSRANGE {start} {}: {r:?}",
                slot - 1
            );
        }
    }
    let first = nodes[0].port;
    for s in nodes.iter_mut().skip(1) {
        let r = s.cmd(&["CLUSTER", "MEET", "127.0.0.1", &first.to_string()]);
        assert!(!matches!(r, Reply::Error(_)), "{r:?}");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = nodes.iter_mut().all(|s| {
            let i = s.cmd(&["CLUSTER", "INFO"]).lossy_text();
            i.contains("cluster_state:ok") && i.contains("cluster_known_nodes:3")
        });
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "the cluster did not converge");
        std::thread::sleep(Duration::from_millis(200));
    }
    let check = Command::new(&cli)
        .args(["--cluster", "check", &format!("127.0.0.1:{first}")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(text.contains("[OK] All 16384 slots covered."), "{text}");
    assert!(!text.contains("[ERR]"), "{text}");
    // Every key is where the cluster looks for it.
    let now = rdbkit::now_ms();
    let data = std::fs::read(&input).unwrap();
    let mut live = 0;
    for item in Decoder::new(&data, Options::default()).unwrap() {
        if let Item::Key(k) = item.unwrap() {
            if k.expire_ms.is_some_and(|e| e <= now + 60_000) {
                continue;
            }
            live += 1;
            let key = k.key.to_bytes().unwrap().into_owned();
            let slot = key_slot(&key);
            let n = ranges
                .iter()
                .position(|(a, b)| (*a..=*b).contains(&slot))
                .unwrap();
            let r = nodes[n].cmd_b(&[b"EXISTS", &key]);
            assert_eq!(
                r.int(),
                1,
                "key {:?} not on node {n}",
                String::from_utf8_lossy(&key)
            );
        }
    }
    let total: i64 = nodes.iter_mut().map(|s| s.dbsize()).sum();
    assert_eq!(total, live as i64);
    for s in nodes {
        s.stop();
    }
    // The three files are the input, key for key.
    let mut args = vec!["diff".to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.extend(["--against".to_string(), input.display().to_string()]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = ok(&rdbkit(&a));
    assert!(text.lines().last().unwrap().starts_with("equal:"), "{text}");
}

#[test]
fn other_modes_and_refusals() {
    let dir = TempDir::new("split-modes");
    let (a, b) = (example("dump1.rdb"), example("dump2.rdb"));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    // Explicit ranges and a CLUSTER NODES listing cut the same way.
    let nodes = dir.join("nodes.txt");
    std::fs::write(
        &nodes,
        "aaaa 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-8000\n\
         bbbb 127.0.0.1:7002@17002 master - 0 0 2 connected 8001-16383\n\
         cccc 127.0.0.1:7003@17003 slave aaaa 0 0 1 connected\n",
    )
    .unwrap();
    let o1 = dir.join("by-slots");
    let o2 = dir.join("by-nodes");
    ok(&rdbkit(&[
        "split",
        a,
        "-o",
        o1.to_str().unwrap(),
        "--slots",
        "0-8000,8001-16383",
    ]));
    ok(&rdbkit(&[
        "split",
        a,
        "-o",
        o2.to_str().unwrap(),
        "--cluster-nodes",
        nodes.to_str().unwrap(),
    ]));
    let (f1, f2) = (shard_files(&o1), shard_files(&o2));
    assert_eq!((f1.len(), f2.len()), (2, 2));
    assert!(f2[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .contains("aaaa"));
    for (x, y) in f1.iter().zip(&f2) {
        assert_eq!(keys(x), keys(y));
    }
    // Ranges that leave a key's slot out, or overlap: refused, nothing written.
    let o3 = dir.join("partial");
    let r = rdbkit(&["split", a, "-o", o3.to_str().unwrap(), "--slots", "0-100"]);
    assert_eq!(
        r.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    assert!(String::from_utf8_lossy(&r.stderr).contains("no output holds"));
    let r = rdbkit(&[
        "split",
        a,
        "-o",
        o3.to_str().unwrap(),
        "--slots",
        "0-9000,8000-16383",
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(shard_files(&o3).is_empty());
    // Two nodes whose copies of a key differ: refused unless a policy
    // says which stays; with one, the outputs hold each key once.
    let o4 = dir.join("two");
    let r = rdbkit(&["split", a, b, "-o", o4.to_str().unwrap(), "--shards", "2"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(
        shard_files(&o4).is_empty(),
        "nothing is published when one output fails"
    );
    let names: Vec<String> = std::fs::read_dir(&o4)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(names.is_empty(), "left behind: {names:?}");
    ok(&rdbkit(&[
        "split",
        a,
        b,
        "-o",
        o4.to_str().unwrap(),
        "--shards",
        "2",
        "--on-conflict",
        "first",
    ]));
    let mut all: Vec<Vec<u8>> = shard_files(&o4)
        .iter()
        .flat_map(|f| keys(f))
        .map(|k| k.0)
        .collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "a key in two outputs");
    // Existing outputs are replaced only with --force.
    let r = rdbkit(&[
        "split",
        a,
        "-o",
        o1.to_str().unwrap(),
        "--slots",
        "0-8000,8001-16383",
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("--force"));
    // An existing report without --force is found before any output is
    // written.
    let o6 = dir.join("with-report");
    let rep = dir.join("report.json");
    std::fs::write(&rep, b"old").unwrap();
    let r = rdbkit(&[
        "split",
        a,
        "-o",
        o6.to_str().unwrap(),
        "--shards",
        "2",
        "--report",
        rep.to_str().unwrap(),
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(shard_files(&o6).is_empty());
    assert_eq!(std::fs::read(&rep).unwrap(), b"old");
    ok(&rdbkit(&[
        "split",
        a,
        "-o",
        o6.to_str().unwrap(),
        "--shards",
        "2",
        "--report",
        rep.to_str().unwrap(),
        "--force",
    ]));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&rep).unwrap()).unwrap();
    assert_eq!(report["outputs"].as_array().unwrap().len(), 2);
    // --by-db: one file per database, written as db 0.
    let o5 = dir.join("dbs");
    ok(&rdbkit(&[
        "split",
        a,
        "-o",
        o5.to_str().unwrap(),
        "--by-db",
    ]));
    let files = shard_files(&o5);
    assert!(!files.is_empty());
    for f in &files {
        let data = std::fs::read(f).unwrap();
        for item in Decoder::new(&data, Options::default()).unwrap() {
            if let Item::Key(k) = item.unwrap() {
                assert_eq!(k.db, 0);
            }
        }
    }
}
