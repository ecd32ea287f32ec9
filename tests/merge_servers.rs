//! `rdbkit merge` against real servers (skipped, with the reason printed,
//! when the servers of `scripts/install-servers.sh` are absent).
//!
//! For each server version: start two or three "nodes", fill them with
//! disjoint keys of every type the version has (TTLs, streams with
//! consumer groups, hash field TTLs, module values and a search index on
//! redis-stack) and the same function library, `SAVE` each, merge the
//! dumps, load the merged file into a fresh server of the target version
//! (`--dir` / `--dbfilename` pointing at it) and compare it with a reference
//! server that holds all inputs:
//!
//! * the reference starts by loading input 1 (the node's own dump file) and
//!   then receives every key of the other nodes by `DUMP` + `PTTL` +
//!   `RESTORE` from those still-running nodes. `DEBUG RELOAD MERGE` is not
//!   on every version, and `MIGRATE` would move rather than copy without
//!   `COPY`; DUMP/RESTORE works on every version here (6.2 to Valkey 9.1)
//!   and with module types.
//! * checks: `DBSIZE` equals the sum of the nodes' `DBSIZE`; `DEBUG DIGEST`
//!   equals the reference's (the digest covers every key, value and the
//!   presence of a TTL); key by key, type, value and exact `PEXPIRETIME`
//!   equal (7.0+); `INFO keyspace` expires equal; the function libraries
//!   equal; on redis-stack the search index holds every document and
//!   JSON / time series values read back the same.
//!
//! Down-conversion: Redis 7.4 nodes merged with `--target redis-7.0` (set
//! listpacks, v3 streams and hashes with field TTLs re-encoded) load into a
//! real Redis 7.0 with the same values key by key.
//!
//! Overlapping nodes (Redis 7.0): the default policy refuses (exit 1,
//! nothing written, the report lists the conflicts), `first`, `last` and
//! `owner` keep exactly the expected copies, checked with real GETs.

#[path = "common/servers.rs"]
mod servers;

use std::path::{Path, PathBuf};

use rdbkit::merge::dynomite;
use servers::*;

const LIB: &str = "#!lua name=mergelib\n\
redis.register_function('merge_echo', function(keys, args) return args[1] end)\n\
redis.register_function{function_name='merge_get', callback=function(keys, args) return redis.call('GET', keys[1]) end, flags={'no-writes'}}\n";

/// Fills a node with keys prefixed `p:` of every type the server has.
fn populate(s: &mut Server, p: &str) {
    let info = s.info.clone();
    let mut cmds: Vec<Vec<Vec<u8>>> = Vec::new();
    let k = |name: &str| format!("{p}:{name}");
    // Strings: short, integer forms, LZF-compressible, binary, with TTL.
    cmds.push(c(&["SET", &k("str:short"), &format!("hello from {p}")]));
    cmds.push(c(&["SET", &k("str:int"), "12345"]));
    cmds.push(c(&["SET", &k("str:neg"), "-42"]));
    cmds.push(c(&["SET", &k("str:i64"), "9223372036854775807"]));
    cmds.push(c(&["SET", &k("str:lzf"), &"abcdefgh".repeat(64)]));
    cmds.push(vec![
        b"SET".to_vec(),
        k("str:bin").into_bytes(),
        vec![0xff, 0x00, 0x01, 0x80, b'\r', b'\n'],
    ]);
    cmds.push(c(&["SET", &k("str:ttl"), "expires in 2100"]));
    cmds.push(c(&["PEXPIREAT", &k("str:ttl"), &(T2100 + 1).to_string()]));
    for i in 0..300 {
        cmds.push(c(&[
            "SET",
            &k(&format!("k:{i}")),
            &format!("value-{i}-{p}"),
        ]));
        if i % 10 == 0 {
            cmds.push(c(&[
                "PEXPIREAT",
                &k(&format!("k:{i}")),
                &(T2100 + i).to_string(),
            ]));
        }
    }
    // Lists: small (listpack / ziplist) and large (quicklist).
    cmds.push(c(&[
        "RPUSH",
        &k("list:small"),
        "a",
        "b",
        "c",
        "1",
        "-2",
        "300000",
    ]));
    let big: Vec<String> = (0..300)
        .map(|i| format!("element-{i:04}-payload"))
        .collect();
    let mut push = vec!["RPUSH".to_string(), k("list:big")];
    push.extend(big);
    cmds.push(push.iter().map(|s| s.as_bytes().to_vec()).collect());
    // Sets: intset, small strings, large.
    cmds.push(c(&[
        "SADD",
        &k("set:ints"),
        "1",
        "2",
        "3",
        "-5",
        "70000",
        "4294967296",
    ]));
    cmds.push(c(&["SADD", &k("set:small"), "apple", "banana", "cherry"]));
    let mut sadd = vec!["SADD".to_string(), k("set:big")];
    sadd.extend((0..200).map(|i| format!("member-{i}")));
    cmds.push(sadd.iter().map(|s| s.as_bytes().to_vec()).collect());
    // Sorted sets: small and large.
    cmds.push(c(&[
        "ZADD",
        &k("zset:small"),
        "1",
        "one",
        "2.5",
        "two.5",
        "-inf",
        "low",
    ]));
    let mut zadd = vec!["ZADD".to_string(), k("zset:big")];
    for i in 0..200 {
        zadd.push(format!("{}", (i * 37 % 101) as f64 / 4.0));
        zadd.push(format!("m{i}"));
    }
    cmds.push(zadd.iter().map(|s| s.as_bytes().to_vec()).collect());
    // Hashes: small, large, with TTL.
    cmds.push(c(&["HSET", &k("hash:small"), "name", "rdbkit", "n", "42"]));
    let mut hset = vec!["HSET".to_string(), k("hash:big")];
    for i in 0..300 {
        hset.push(format!("field-{i}"));
        hset.push(format!("value-{i}"));
    }
    cmds.push(hset.iter().map(|s| s.as_bytes().to_vec()).collect());
    cmds.push(c(&["HSET", &k("hash:ttl"), "a", "1"]));
    cmds.push(c(&["PEXPIREAT", &k("hash:ttl"), &(T2100 + 2).to_string()]));
    // Streams with a consumer group, a consumer and pending entries.
    for i in 1..=20 {
        cmds.push(c(&[
            "XADD",
            &k("stream"),
            &format!("1700000000000-{i}"),
            "f",
            &i.to_string(),
        ]));
    }
    cmds.push(c(&["XGROUP", "CREATE", &k("stream"), "grp", "0"]));
    s.pipeline(&cmds);
    s.cmd(&[
        "XREADGROUP",
        "GROUP",
        "grp",
        "alice",
        "COUNT",
        "5",
        "STREAMS",
        &k("stream"),
        ">",
    ]);
    s.cmd(&["XACK", &k("stream"), "grp", "1700000000000-1"]);
    if info.has_field_ttls() {
        s.cmd(&["HSET", &k("hfe"), "f1", "v1", "f2", "v2", "f3", "v3"]);
        s.cmd(&[
            "HPEXPIREAT",
            &k("hfe"),
            &(T2100 + 3).to_string(),
            "FIELDS",
            "1",
            "f1",
        ]);
    }
    if info.has_functions() {
        s.cmd(&["FUNCTION", "LOAD", LIB]);
    }
    if !info.module_args.is_empty() {
        s.cmd(&[
            "JSON.SET",
            &k("json"),
            "$",
            r#"{"node":"x","n":[1,2,3.5],"o":{"a":true}}"#,
        ]);
        s.cmd(&["TS.CREATE", &k("ts"), "LABELS", "node", p]);
        for i in 0..20 {
            s.cmd(&[
                "TS.ADD",
                &k("ts"),
                &(1_700_000_000_000i64 + i * 1000).to_string(),
                &format!("{}.5", i),
            ]);
        }
        s.cmd(&["BF.ADD", &k("bf"), "item-1"]);
        s.cmd(&["CF.ADD", &k("cf"), "item-1"]);
        for i in 0..5 {
            s.cmd(&[
                "HSET",
                &format!("doc:{p}:{i}"),
                "title",
                &format!("title {i} of {p}"),
                "n",
                &i.to_string(),
            ]);
        }
        // The same index definition on every node: module aux data.
        s.cmd(&[
            "FT.CREATE",
            "idx",
            "ON",
            "HASH",
            "PREFIX",
            "1",
            "doc:",
            "SCHEMA",
            "title",
            "TEXT",
            "n",
            "NUMERIC",
        ]);
    }
}

fn keyspace_expires(s: &mut Server) -> u64 {
    let info = s.cmd(&["INFO", "keyspace"]).text();
    info.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(db, _)| db.starts_with("db"))
        .flat_map(|(_, v)| v.split(','))
        .filter_map(|kv| kv.strip_prefix("expires="))
        .filter_map(|n| n.parse::<u64>().ok())
        .sum()
}

/// Libraries as (name, code), sorted (FUNCTION LIST order is hash order).
fn function_list(s: &mut Server) -> Option<Vec<(String, String)>> {
    if !s.info.has_functions() {
        return None;
    }
    let mut libs: Vec<(String, String)> = s
        .cmd(&["FUNCTION", "LIST", "WITHCODE"])
        .array()
        .iter()
        .map(|lib| {
            let kv = lib.array();
            let get = |name: &str| {
                kv.chunks(2)
                    .find(|p| p[0].text() == name)
                    .map(|p| p[1].text())
                    .unwrap_or_default()
            };
            (get("library_name"), get("library_code"))
        })
        .collect();
    libs.sort();
    Some(libs)
}

/// Documents in the search index `idx`, once background indexing is done.
fn search_docs(s: &mut Server) -> i64 {
    for _ in 0..500 {
        let r = s.cmd(&["FT.INFO", "idx"]).array();
        let field = |name: &str| {
            r.chunks(2)
                .find(|p| p.len() == 2 && p[0].text() == name)
                .map(|p| match &p[1] {
                    Reply::Int(i) => *i,
                    other => other.text().parse::<f64>().map_or(-1, |f| f as i64),
                })
        };
        if field("indexing") == Some(0) {
            return field("num_docs").unwrap_or(-1);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("search index still indexing");
}

struct Nodes {
    servers: Vec<Server>,
    dumps: Vec<PathBuf>,
    sizes: Vec<i64>,
}

fn make_nodes(info: &ServerInfo, dir: &Path, n: usize) -> Nodes {
    let mut servers = Vec::new();
    let mut dumps = Vec::new();
    let mut sizes = Vec::new();
    for i in 1..=n {
        let d = dir.join(format!("node{i}"));
        let mut s = Server::start(info, &d, &format!("node{i}.rdb"), &[]).expect("start node");
        populate(&mut s, &format!("n{i}"));
        sizes.push(s.dbsize());
        dumps.push(s.save());
        servers.push(s);
    }
    Nodes {
        servers,
        dumps,
        sizes,
    }
}

/// The reference: input 1 loaded by a fresh server, every other node's
/// keys copied in with DUMP / RESTORE.
fn reference(info: &ServerInfo, dir: &Path, nodes: &mut Nodes) -> Server {
    let d = dir.join("ref");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::copy(&nodes.dumps[0], d.join("ref.rdb")).unwrap();
    let mut r = Server::start(info, &d, "ref.rdb", &[]).expect("start reference");
    assert_eq!(r.dbsize(), nodes.sizes[0], "reference loaded input 1");
    for s in nodes.servers.iter_mut().skip(1) {
        r.restore_from(s);
    }
    r
}

fn end_to_end(test: &str, name: &str, n: usize) {
    let Some(info) = server(test, name) else {
        return;
    };
    let dir = TempDir::new(&format!("merge-{name}"));
    let mut nodes = make_nodes(&info, &dir.0, n);
    let mut reference = reference(&info, &dir.0, &mut nodes);
    let total: i64 = nodes.sizes.iter().sum();
    assert_eq!(reference.dbsize(), total);
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let out = out_dir.join("merged.rdb");
    let report = dir.join("report.json");
    let expect: Vec<String> = nodes.sizes.iter().map(i64::to_string).collect();
    let mut args: Vec<String> = vec!["merge".into()];
    args.extend(nodes.dumps.iter().map(|p| p.display().to_string()));
    args.extend([
        "-o".into(),
        out.display().to_string(),
        "--expect-keys".into(),
        expect.join(","),
        "--expect-total".into(),
        total.to_string(),
        "--report".into(),
        report.display().to_string(),
    ]);
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = rdbkit(&a);
    assert!(o.status.success(), "{name}: merge failed:\n{}", stderr(&o));
    let rep = read_json(&report);
    assert_eq!(rep["status"], "written");
    assert_eq!(rep["output"]["keys"], total);
    assert_eq!(rep["output"]["verified"], true);
    assert_eq!(rep["output"]["version"], info.rdb_version);
    assert_eq!(
        rep["keys_reencoded"], 0,
        "same-version inputs are copied verbatim"
    );
    if info.has_functions() {
        assert_eq!(rep["functions"]["written"], serde_json::json!(["mergelib"]));
        assert_eq!(rep["functions"]["identical_dropped"], (n - 1) as u64);
    }
    // Load the merged file into a fresh server of the target version.
    let mut m = Server::start(&info, &out_dir, "merged.rdb", &[])
        .unwrap_or_else(|e| panic!("{name} does not load the merged file: {e}"));
    assert_eq!(m.dbsize(), total, "{name}: DBSIZE of the merged file");
    assert_eq!(m.digest(), reference.digest(), "{name}: DEBUG DIGEST");
    assert_eq!(keyspace_expires(&mut m), keyspace_expires(&mut reference));
    assert_eq!(function_list(&mut m), function_list(&mut reference));
    if info.is_valkey() || info.vt() >= (7, 0) {
        // Key by key with exact expiry times (PEXPIRETIME: 7.0+).
        assert_same(&snapshot(&mut m), &snapshot(&mut reference));
    }
    if !info.module_args.is_empty() {
        assert!(rep["module_aux"]["identical_dropped"].as_u64().unwrap_or(0) > 0);
        assert!(rep["modules_required"]
            .as_array()
            .is_some_and(|m| m.iter().any(|x| x == "ReJSON-RL")));
        assert_eq!(
            search_docs(&mut m),
            5 * n as i64,
            "search index over all nodes' docs"
        );
        assert_eq!(
            m.cmd(&["JSON.GET", "n2:json", "$.n"]).text(),
            reference.cmd(&["JSON.GET", "n2:json", "$.n"]).text()
        );
        assert_eq!(
            format!("{:?}", m.cmd(&["TS.RANGE", "n1:ts", "-", "+"])),
            format!("{:?}", reference.cmd(&["TS.RANGE", "n1:ts", "-", "+"]))
        );
    }
    eprintln!(
        "{test}: {name}: {n} nodes, {total} keys, digest {} OK",
        m.digest()
    );
}

#[test]
fn redis_6_2_two_nodes() {
    end_to_end("redis_6_2_two_nodes", "redis-6.2", 2);
}

#[test]
fn redis_7_0_three_nodes() {
    end_to_end("redis_7_0_three_nodes", "redis-7.0", 3);
}

#[test]
fn redis_stack_7_4_two_nodes_with_modules() {
    end_to_end(
        "redis_stack_7_4_two_nodes_with_modules",
        "redis-stack-7.4",
        2,
    );
}

#[test]
fn valkey_9_1_two_nodes() {
    end_to_end("valkey_9_1_two_nodes", "valkey-9.1", 2);
}

/// A Redis 6.2 node and a Redis 7.0 node: the default target is the newest
/// input's (RDB 10); the 6.2 records are copied as they are.
#[test]
fn mixed_6_2_and_7_0_default_target() {
    let t = "mixed_6_2_and_7_0_default_target";
    let Some(old) = server(t, "redis-6.2") else {
        return;
    };
    let Some(new) = server(t, "redis-7.0") else {
        return;
    };
    let dir = TempDir::new("merge-mixed");
    let mut n1 = Server::start(&old, &dir.join("n1"), "n1.rdb", &[]).unwrap();
    populate(&mut n1, "n1");
    let p1 = n1.save();
    let s1 = n1.dbsize();
    let mut n2 = Server::start(&new, &dir.join("n2"), "n2.rdb", &[]).unwrap();
    populate(&mut n2, "n2");
    let p2 = n2.save();
    let s2 = n2.dbsize();
    std::fs::create_dir_all(dir.join("ref")).unwrap();
    std::fs::copy(&p1, dir.join("ref/ref.rdb")).unwrap();
    let mut r = Server::start(&new, &dir.join("ref"), "ref.rdb", &[]).unwrap();
    r.restore_from(&mut n2);
    let out = dir.join("merged.rdb");
    let o = rdbkit(&[
        "merge",
        p1.to_str().unwrap(),
        p2.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("REDIS0010"), "{}", stderr(&o));
    let mut m = Server::start(&new, &dir.0, "merged.rdb", &[]).unwrap();
    assert_eq!(m.dbsize(), s1 + s2);
    assert_eq!(m.digest(), r.digest());
}

// ---------------------------------------------------------------------------
// Overlapping nodes.

const TOKENS: [u32; 2] = [1_073_741_823, 3_221_225_471];

/// The input (0 or 1) owning `key` by Dynomite token.
fn owner_of(key: &str) -> usize {
    dynomite::owner(dynomite::hash(key.as_bytes()), &TOKENS).unwrap()
}

/// Conflict keys: two owned by node 1, two by node 2.
fn conflict_keys() -> Vec<String> {
    let mut by = [Vec::new(), Vec::new()];
    for i in 0.. {
        let k = format!("conflict:{i}");
        let o = owner_of(&k);
        if by[o].len() < 2 {
            by[o].push(k);
        }
        if by[0].len() == 2 && by[1].len() == 2 {
            break;
        }
    }
    let [a, b] = by;
    a.into_iter().chain(b).collect()
}

struct Overlap {
    _dir: TempDir,
    dumps: [PathBuf; 2],
    /// Unique keys over both nodes.
    unique: i64,
    conflicts: Vec<String>,
}

/// Two Redis 7.0 nodes: own keys, identical shared keys (one stored in
/// different encodings), and conflicting keys (value, type, TTL).
fn overlap(info: &ServerInfo) -> Overlap {
    let dir = TempDir::new("merge-overlap");
    let conflicts = conflict_keys();
    let mut dumps = Vec::new();
    for n in 1..=2 {
        // Node 2 keeps small hashes as hashtables: the shared hash is then
        // stored in another encoding with the same contents.
        let cfg: &[(&str, &str)] = if n == 2 {
            &[("hash-max-listpack-entries", "0")]
        } else {
            &[]
        };
        let mut s =
            Server::start(info, &dir.join(&format!("n{n}")), &format!("n{n}.rdb"), cfg).unwrap();
        for i in 0..50 {
            s.cmd(&["SET", &format!("own{n}:{i}"), "x"]);
        }
        s.cmd(&["SET", "shared:str", "same everywhere"]);
        s.cmd(&["HSET", "shared:hash", "a", "1", "b", "2"]);
        // conflicts[0]: different value; [1]: different type; [2]: different
        // TTL; [3]: different value and TTL.
        s.cmd(&["SET", &conflicts[0], &format!("value of node {n}")]);
        if n == 1 {
            s.cmd(&["SET", &conflicts[1], "a string"]);
        } else {
            s.cmd(&["RPUSH", &conflicts[1], "a", "list"]);
        }
        s.cmd(&["SET", &conflicts[2], "same value"]);
        s.cmd(&[
            "PEXPIREAT",
            &conflicts[2],
            &(T2100 + n as i64 * 1000).to_string(),
        ]);
        s.cmd(&["SET", &conflicts[3], &format!("value {n}")]);
        if n == 2 {
            s.cmd(&["PEXPIREAT", &conflicts[3], &(T2100 + 5000).to_string()]);
        }
        s.cmd(&["FUNCTION", "LOAD", LIB]);
        dumps.push(s.save());
    }
    Overlap {
        _dir: dir,
        dumps: [dumps[0].clone(), dumps[1].clone()],
        unique: 50 + 50 + 2 + conflicts.len() as i64,
        conflicts,
    }
}

/// What a key looks like on a server: type, value, absolute expiry.
fn describe(s: &mut Server, key: &str) -> (String, String, i64) {
    let t = s.cmd(&["TYPE", key]).text();
    let v = match t.as_str() {
        "string" => s.cmd(&["GET", key]).text(),
        "list" => format!("{:?}", s.cmd(&["LRANGE", key, "0", "-1"])),
        other => other.to_string(),
    };
    let e = s.cmd(&["PEXPIRETIME", key]).int();
    (t, v, e)
}

/// How node `node` (0-based) stored conflict key number `key_idx`.
fn expected_copy(key_idx: usize, node: usize) -> (String, String, i64) {
    let n = node + 1;
    match key_idx {
        0 => ("string".into(), format!("value of node {n}"), -1),
        1 if n == 1 => ("string".into(), "a string".into(), -1),
        1 => (
            "list".into(),
            format!(
                "{:?}",
                Reply::Array(Some(vec![
                    Reply::Bulk(Some(b"a".to_vec())),
                    Reply::Bulk(Some(b"list".to_vec()))
                ]))
            ),
            -1,
        ),
        2 => (
            "string".into(),
            "same value".into(),
            T2100 + n as i64 * 1000,
        ),
        _ => (
            "string".into(),
            format!("value {n}"),
            if n == 2 { T2100 + 5000 } else { -1 },
        ),
    }
}

#[test]
fn overlapping_nodes_default_refuses_and_lists_conflicts() {
    let t = "overlapping_nodes_default_refuses_and_lists_conflicts";
    let Some(info) = server(t, "redis-7.0") else {
        return;
    };
    let ov = overlap(&info);
    let out_dir = TempDir::new("merge-overlap-out");
    let out = out_dir.join("merged.rdb");
    let report = out_dir.join("report.json");
    let o = rdbkit(&[
        "merge",
        ov.dumps[0].to_str().unwrap(),
        ov.dumps[1].to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ]);
    let err = assert_exit(&o, 1);
    assert!(err.contains("4 keys differ between inputs"), "{err}");
    for k in &ov.conflicts {
        assert!(err.contains(k.as_str()), "{k} listed on stderr:\n{err}");
    }
    assert_eq!(
        listing(&out_dir.0),
        vec!["report.json"],
        "nothing but the report is written"
    );
    let rep = read_json(&report);
    assert_eq!(rep["status"], "refused");
    assert_eq!(rep["conflicts"]["count"], 4);
    assert_eq!(rep["conflicts"]["unresolved"], 4);
    assert_eq!(
        rep["duplicates"]["keys"], 2,
        "shared:str and shared:hash are identical"
    );
    let list = rep["conflicts"]["list"].as_array().unwrap();
    let by_key = |k: &str| list.iter().find(|c| c["key"] == k).unwrap().clone();
    let c1 = by_key(&ov.conflicts[1]);
    assert_eq!(c1["copies"][0]["type"], "string");
    assert_eq!(c1["copies"][1]["type"], "list");
    assert!(c1["copies"][0]["bytes"].as_u64().unwrap() > 0);
    let c2 = by_key(&ov.conflicts[2]);
    assert_eq!(c2["copies"][0]["expire_ms"], T2100 + 1000);
    assert_eq!(c2["copies"][1]["expire_ms"], T2100 + 2000);
    assert!(c2["copies"][0]["ttl_ms"].as_i64().unwrap() > 0);
    let c3 = by_key(&ov.conflicts[3]);
    assert_eq!(c3["copies"][0]["expire_ms"], serde_json::Value::Null);
}

fn resolve_and_check(policy: &str) {
    let t = format!("overlapping_nodes_{policy}");
    let t = t.as_str();
    let Some(info) = server(t, "redis-7.0") else {
        return;
    };
    let ov = overlap(&info);
    let out_dir = TempDir::new(&format!("merge-overlap-{policy}"));
    let out = out_dir.join("merged.rdb");
    let report = out_dir.join("report.json");
    let t1 = format!("{}={}", ov.dumps[0].display(), TOKENS[0]);
    let t2 = format!("{}={}", ov.dumps[1].display(), TOKENS[1]);
    let mut args = vec![
        "merge",
        ov.dumps[0].to_str().unwrap(),
        ov.dumps[1].to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--on-conflict",
        policy,
        "--report",
        report.to_str().unwrap(),
    ];
    if policy == "owner" {
        args.extend(["--token", &t1, "--token", &t2]);
    }
    let o = rdbkit(&args);
    assert!(o.status.success(), "{policy}: {}", stderr(&o));
    let rep = read_json(&report);
    assert_eq!(rep["conflicts"]["count"], 4);
    assert_eq!(rep["conflicts"]["unresolved"], 0);
    assert_eq!(rep["output"]["keys"], ov.unique);
    let mut m = Server::start(&info, &out_dir.0, "merged.rdb", &[]).expect("load merged");
    assert_eq!(m.dbsize(), ov.unique);
    assert_eq!(m.cmd(&["GET", "shared:str"]).text(), "same everywhere");
    assert_eq!(m.cmd(&["HGET", "shared:hash", "b"]).text(), "2");
    for (i, k) in ov.conflicts.iter().enumerate() {
        let node = match policy {
            "first" => 0,
            "last" => 1,
            _ => owner_of(k),
        };
        let want = expected_copy(i, node);
        assert_eq!(
            describe(&mut m, k),
            want,
            "{policy}: key {k} (owner node {})",
            owner_of(k) + 1
        );
        let kept = rep["conflicts"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == k.as_str())
            .unwrap()["kept_input"]
            .clone();
        assert_eq!(kept, node + 1);
    }
    // The function library is there once.
    assert_eq!(m.cmd(&["FCALL", "merge_echo", "0", "hi"]).text(), "hi");
}

#[test]
fn overlapping_nodes_first() {
    resolve_and_check("first");
}

#[test]
fn overlapping_nodes_last() {
    resolve_and_check("last");
}

#[test]
fn overlapping_nodes_owner() {
    resolve_and_check("owner");
}

// ---------------------------------------------------------------------------
// Down-conversion.

/// Every key's type, value (sorted where order does not matter), absolute
/// expiry, and for streams the entries and groups (name, pending count,
/// last delivered id): what two servers of different versions can compare.
fn snapshot(s: &mut Server) -> std::collections::BTreeMap<Vec<u8>, String> {
    let mut out = std::collections::BTreeMap::new();
    for k in s.keys() {
        let t = s.cmd_b(&[b"TYPE", &k]).text();
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        let texts = |r: Reply| r.array().iter().map(Reply::text).collect::<Vec<_>>();
        let v = match t.as_str() {
            "string" => s.cmd_b(&[b"GET", &k]).text(),
            "list" => format!("{:?}", texts(s.cmd_b(&[b"LRANGE", &k, b"0", b"-1"]))),
            "set" => format!("{:?}", sorted(texts(s.cmd_b(&[b"SMEMBERS", &k])))),
            "zset" => format!(
                "{:?}",
                texts(s.cmd_b(&[b"ZRANGE", &k, b"0", b"-1", b"WITHSCORES"]))
            ),
            "hash" => {
                let flat = texts(s.cmd_b(&[b"HGETALL", &k]));
                format!(
                    "{:?}",
                    sorted(flat.chunks(2).map(|p| p.join("=")).collect())
                )
            }
            "stream" => {
                let entries = format!("{:?}", s.cmd_b(&[b"XRANGE", &k, b"-", b"+"]));
                let groups: Vec<String> = s
                    .cmd_b(&[b"XINFO", b"GROUPS", &k])
                    .array()
                    .iter()
                    .map(|g| {
                        let kv = g.array();
                        let get = |n: &str| {
                            kv.chunks(2)
                                .find(|p| p[0].text() == n)
                                .map(|p| format!("{:?}", p[1]))
                                .unwrap_or_default()
                        };
                        format!(
                            "{} {} {}",
                            get("name"),
                            get("pending"),
                            get("last-delivered-id")
                        )
                    })
                    .collect();
                format!("{entries} {groups:?}")
            }
            other => other.to_string(),
        };
        let e = s.cmd_b(&[b"PEXPIRETIME", &k]).int();
        out.insert(k, format!("{t} {e} {v}"));
    }
    out
}

/// Redis 7.4 nodes merged for Redis 7.0 (`--target redis-7.0`): set
/// listpacks, streams v3 and hashes with field TTLs are re-encoded (field
/// TTLs and stream metadata dropped, as allowed); a real 7.0 loads the file
/// and holds the same values.
#[test]
fn redis_7_4_down_to_7_0() {
    let t = "redis_7_4_down_to_7_0";
    let Some(new) = server(t, "redis-7.4") else {
        return;
    };
    let Some(old) = server(t, "redis-7.0") else {
        return;
    };
    let dir = TempDir::new("merge-down");
    let mut nodes = make_nodes(&new, &dir.0, 2);
    let mut reference = reference(&new, &dir.0, &mut nodes);
    let out = dir.join("merged.rdb");
    let report = dir.join("report.json");
    let base = [
        "merge",
        nodes.dumps[0].to_str().unwrap(),
        nodes.dumps[1].to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--target",
        "redis-7.0",
        "--report",
        report.to_str().unwrap(),
    ];
    // Losing field TTLs needs consent: refused, nothing written.
    let o = rdbkit(&base);
    assert_exit(&o, 1);
    assert!(stderr(&o).contains("field"), "{}", stderr(&o));
    assert!(!out.exists());
    let mut args = base.to_vec();
    // The refusal's report is replaced only with --force.
    args.extend(["--drop-field-ttls", "--drop-stream-metadata", "--force"]);
    let o = rdbkit(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let rep = read_json(&report);
    assert!(rep["keys_reencoded"].as_u64().unwrap() > 0);
    assert_eq!(rep["output"]["format"], "REDIS0010");
    let mut m = Server::start(&old, &dir.0, "merged.rdb", &[]).expect("Redis 7.0 loads it");
    let total: i64 = nodes.sizes.iter().sum();
    assert_eq!(m.dbsize(), total);
    assert_same(&snapshot(&mut m), &snapshot(&mut reference));
}

/// Asserts two snapshots are equal, naming only the keys that differ.
fn assert_same(
    got: &std::collections::BTreeMap<Vec<u8>, String>,
    want: &std::collections::BTreeMap<Vec<u8>, String>,
) {
    let mut diffs = Vec::new();
    for k in got.keys().chain(want.keys()) {
        if got.get(k) != want.get(k) {
            let cut = |v: Option<&String>| v.map(|s| s.chars().take(300).collect::<String>());
            diffs.push(format!(
                "{}: merged {:?}, reference {:?}",
                String::from_utf8_lossy(k),
                cut(got.get(k)),
                cut(want.get(k))
            ));
        }
    }
    diffs.dedup();
    assert!(
        diffs.is_empty(),
        "{} keys differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}
