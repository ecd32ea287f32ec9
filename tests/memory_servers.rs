//! The memory model (`rdbkit::memory`) against real servers, key by key:
//! each dump is loaded into the server of the modelled release and every
//! key's `MEMORY USAGE key SAMPLES 0` is compared with the model's figure
//! (skipped, with the reason printed, when the servers of
//! `scripts/install-servers.sh` are absent).
//!
//! The dumps: the server's own fixtures, the fixtures of older servers it
//! loads (ziplists, zipmaps, intsets converted on load), the merge
//! fixtures it loads, and one file made with the encoder holding small and
//! big collections of every type and encoding, integers, short and long
//! keys and values, with and without TTLs.
//!
//! Goals (issue "rdbkit analyze"): at least 95% of keys within ±10% (or
//! ±16 bytes) and the sum of all keys within ±3%.

#[path = "common/servers.rs"]
mod servers;

use std::path::PathBuf;

use rdbkit::decode::{Decoder, Item, Options, StreamId};
use rdbkit::encode::{HashEntry, KeyMeta, OwnedValue, RdbWriter, StreamValue, Target};
use rdbkit::memory::{Allocator, Model};
use rdbkit::release::ServerRelease;
use servers::*;

/// One key's figures.
struct Compared {
    file: String,
    key: String,
    kind: String,
    encoding: String,
    model_encoding: &'static str,
    server_encoding: String,
    model: u64,
    server: u64,
}

impl Compared {
    fn close(&self) -> bool {
        let d = self.model.abs_diff(self.server);
        d <= 16 || (d as f64) <= 0.10 * self.server as f64
    }
}

/// A file with every type in small and big, compact and plain forms.
fn generated(target: Target) -> Vec<u8> {
    let b = |s: &str| s.as_bytes().to_vec();
    let mut keys: Vec<(Vec<u8>, OwnedValue, Option<i64>)> = Vec::new();
    let far = rdbkit::now_ms() + 86_400_000;
    // Strings: integers, short, embstr limit, raw, long keys.
    for (i, v) in [
        "0",
        "9999",
        "10000",
        "-1",
        "123456789012345678",
        "12345678901234567890123",
        "007",
        "hello",
        &"x".repeat(44),
        &"x".repeat(45),
        &"y".repeat(300),
        &"z".repeat(70_000),
    ]
    .iter()
    .enumerate()
    {
        keys.push((
            format!("str:{i}").into_bytes(),
            OwnedValue::String(b(v)),
            None,
        ));
    }
    for n in [1usize, 31, 32, 255, 256, 1000] {
        keys.push((
            "k".repeat(n).into_bytes(),
            OwnedValue::String(b("v")),
            Some(far),
        ));
    }
    // Lists: small, big (several nodes), big elements, integers.
    for (name, n, w) in [
        ("list:s", 3, 5),
        ("list:m", 200, 10),
        ("list:b", 5000, 12),
        ("list:w", 40, 3000),
    ] {
        let v: Vec<Vec<u8>> = (0..n)
            .map(|i| format!("{i:0w$}", w = w).into_bytes())
            .collect();
        keys.push((b(name), OwnedValue::List(v), None));
    }
    keys.push((
        b("list:int"),
        OwnedValue::List(
            (0..1000)
                .map(|i| (i * 7919).to_string().into_bytes())
                .collect(),
        ),
        None,
    ));
    // Sets: intset small/big/wide, strings small/big.
    let ints = |n: i64, k: i64| -> Vec<Vec<u8>> {
        (0..n).map(|i| (i * k).to_string().into_bytes()).collect()
    };
    keys.push((b("set:int"), OwnedValue::Set(ints(100, 3)), None));
    keys.push((b("set:int32"), OwnedValue::Set(ints(100, 100_000)), None));
    keys.push((b("set:int64"), OwnedValue::Set(ints(50, 1 << 40)), None));
    keys.push((b("set:intbig"), OwnedValue::Set(ints(1000, 3)), None));
    for (name, n) in [
        ("set:str", 10),
        ("set:str100", 100),
        ("set:str600", 600),
        ("set:str5000", 5000),
    ] {
        keys.push((
            b(name),
            OwnedValue::Set((0..n).map(|i| format!("member-{i}").into_bytes()).collect()),
            Some(far),
        ));
    }
    // Sorted sets: listpack, long members, big.
    let zs = |n: usize, w: usize, frac: bool| -> Vec<(Vec<u8>, f64)> {
        (0..n)
            .map(|i| {
                (
                    format!("{i:0w$}", w = w).into_bytes(),
                    if frac { i as f64 / 7.0 } else { i as f64 },
                )
            })
            .collect()
    };
    keys.push((b("zset:s"), OwnedValue::ZSet(zs(10, 4, false)), None));
    keys.push((b("zset:frac"), OwnedValue::ZSet(zs(100, 4, true)), None));
    keys.push((b("zset:long"), OwnedValue::ZSet(zs(20, 100, false)), None));
    keys.push((b("zset:200"), OwnedValue::ZSet(zs(200, 8, true)), None));
    keys.push((b("zset:5000"), OwnedValue::ZSet(zs(5000, 8, false)), None));
    // Hashes: listpack, long values, big.
    let hs = |n: usize, vw: usize| -> Vec<HashEntry> {
        (0..n)
            .map(|i| HashEntry {
                field: format!("field-{i}").into_bytes(),
                value: format!("{i:0vw$}", vw = vw).into_bytes(),
                expire_ms: None,
            })
            .collect()
    };
    keys.push((b("hash:s"), OwnedValue::Hash(hs(5, 3)), None));
    keys.push((b("hash:100"), OwnedValue::Hash(hs(100, 10)), None));
    keys.push((b("hash:long"), OwnedValue::Hash(hs(10, 100)), None));
    keys.push((b("hash:600"), OwnedValue::Hash(hs(600, 6)), Some(far)));
    keys.push((b("hash:5000"), OwnedValue::Hash(hs(5000, 20)), None));
    // Streams.
    for (name, n) in [("stream:s", 3u64), ("stream:b", 2000)] {
        let entries: Vec<_> = (0..n)
            .map(|i| {
                let id = StreamId {
                    ms: 1_700_000_000_000 + i,
                    seq: 0,
                };
                (id, vec![(b"f".to_vec(), format!("value-{i}").into_bytes())])
            })
            .collect();
        let s = StreamValue {
            last_id: entries.last().map(|e| e.0).unwrap(),
            entries,
            ..StreamValue::default()
        };
        keys.push((b(name), OwnedValue::Stream(Box::new(s)), None));
    }
    let mut w = RdbWriter::new(Vec::new(), target).unwrap();
    w.select_db(0).unwrap();
    let expires = keys.iter().filter(|k| k.2.is_some()).count() as u64;
    w.resize_db(keys.len() as u64, expires).unwrap();
    for (k, v, e) in &keys {
        let meta = KeyMeta {
            expire_ms: *e,
            ..KeyMeta::default()
        };
        w.key(k, v, meta).unwrap();
    }
    w.finish().unwrap()
}

/// Loads `data` into `info`'s server and compares every key.
fn compare_file(
    info: &ServerInfo,
    model: &Model,
    name: &str,
    data: &[u8],
    out: &mut Vec<Compared>,
) {
    let dir = TempDir::new("memory");
    std::fs::write(dir.join("dump.rdb"), data).unwrap();
    let mut s = Server::start(info, dir.path(), "dump.rdb", &[])
        .unwrap_or_else(|e| panic!("{name}: {} refused it: {e}", info.name));
    let now = rdbkit::now_ms();
    let mut db = u64::MAX;
    for item in Decoder::new(data, Options::default()).unwrap() {
        let Item::Key(k) = item.unwrap() else {
            continue;
        };
        if k.expire_ms.is_some_and(|e| e <= now + 60_000) {
            continue;
        }
        if k.db != db {
            s.cmd(&["SELECT", &k.db.to_string()]);
            db = k.db;
        }
        let key = k.key.to_bytes().unwrap().into_owned();
        let usage = s.cmd_b(&[b"MEMORY", b"USAGE", &key, b"SAMPLES", b"0"]);
        let Reply::Int(server) = usage else {
            continue; // expired meanwhile
        };
        let enc = s.cmd_b(&[b"OBJECT", b"ENCODING", &key]).text();
        let m = model.key(&k).unwrap();
        out.push(Compared {
            file: name.to_string(),
            key: String::from_utf8_lossy(&key[..key.len().min(40)]).into_owned(),
            kind: k.value.kind().to_string(),
            encoding: k.value.encoding().to_string(),
            model_encoding: m.encoding.name(),
            server_encoding: enc,
            model: m.bytes,
            server: server as u64,
        });
    }
    s.stop();
}

/// Whether the file holds module values or module aux data.
fn uses_modules(data: &[u8]) -> bool {
    Decoder::new(data, Options::default()).is_ok_and(|d| {
        d.into_iter().any(|i| match i {
            Ok(Item::Key(k)) => k.value.kind() == rdbkit::decode::Kind::Module,
            Ok(Item::ModuleAux { .. }) => true,
            _ => false,
        })
    })
}

/// The files a server of `info` loads.
fn files(info: &ServerInfo) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(repo().join("tests/fixtures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for d in dirs {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "rdb"))
            .collect();
        names.sort();
        for p in names {
            let data = std::fs::read(&p).unwrap();
            let Ok(h) = rdbkit::format::Header::parse(&data) else {
                continue;
            };
            if !info.can_load(h) || (uses_modules(&data) && !info.has_modules()) {
                continue;
            }
            let name = p.strip_prefix(repo()).unwrap().display().to_string();
            v.push((name, data));
        }
    }
    v.push((
        "generated".into(),
        generated(info.target_name().parse().unwrap()),
    ));
    v
}

/// The allocator and release of a server (`--version` says which
/// allocator each build uses).
fn server_model(info: &ServerInfo) -> (Allocator, ServerRelease) {
    let version = std::process::Command::new(&info.server)
        .arg("--version")
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&version.stdout).into_owned();
    // Debian's redis-server (the registry's redis-7.0) links the system
    // jemalloc, built with its default 16-byte quantum; the other jemalloc
    // builds bundle Redis's (`--with-lg-quantum=3`).
    let alloc = if !version.contains("malloc=jemalloc") {
        Allocator::Libc
    } else if info.server.starts_with("/usr/") {
        Allocator::JemallocQuantum16
    } else {
        Allocator::Jemalloc
    };
    (alloc, ServerRelease::parse(&info.target_name()).unwrap())
}

/// Every installed server with its allocator (`--version` says which
/// each build uses): each model key by key against its server.
#[test]
fn models_key_by_key() {
    let Some(reg) = registry("memory_servers") else {
        return;
    };
    let mut checked = 0;
    let mut failed = Vec::new();
    for info in &reg {
        if !info.module_args.is_empty() {
            continue; // module values are sized by their module
        }
        let (alloc, release) = server_model(info);
        let Ok(model) = Model::new(release, alloc) else {
            eprintln!("memory model: none for {} yet", info.name);
            continue;
        };
        let mut all = Vec::new();
        for (name, data) in files(info) {
            compare_file(info, &model, &name, &data, &mut all);
        }
        let what = format!("{} ({})", info.name, alloc.name());
        if std::panic::catch_unwind(|| report_and_check(&what, &all)).is_err() {
            failed.push(what);
        }
        checked += 1;
    }
    assert!(failed.is_empty(), "models off: {failed:?}");
    assert!(checked >= 1, "no server had a model");
}

fn report_and_check(what: &str, all: &[Compared]) {
    let close = all.iter().filter(|c| c.close()).count();
    let (m, s): (u64, u64) = all
        .iter()
        .fold((0, 0), |a, c| (a.0 + c.model, a.1 + c.server));
    let mut worst: Vec<&Compared> = all.iter().filter(|c| !c.close()).collect();
    worst.sort_by_key(|c| std::cmp::Reverse(c.model.abs_diff(c.server)));
    if std::env::var_os("RDBKIT_MEMORY_ALL").is_some() {
        for c in all {
            eprintln!(
                "  key: {} {:?} {} {} -> {}: model {} server {}",
                c.file, c.key, c.kind, c.encoding, c.server_encoding, c.model, c.server
            );
        }
    }
    for c in worst.iter().take(25) {
        eprintln!(
            "  off: {} {:?} {} {} -> {}: model {} server {}",
            c.file, c.key, c.kind, c.encoding, c.server_encoding, c.model, c.server
        );
    }
    let wrong: Vec<&Compared> = all
        .iter()
        .filter(|c| c.model_encoding != c.server_encoding)
        .collect();
    for c in wrong.iter().take(25) {
        eprintln!(
            "  encoding: {} {:?} {} {}: model {} server {}",
            c.file, c.key, c.kind, c.encoding, c.model_encoding, c.server_encoding
        );
    }
    let share = close as f64 / all.len() as f64;
    let sum_err = (m as f64 - s as f64) / s as f64;
    eprintln!(
        "memory model {what}: {} keys, {:.1}% within ±10% or ±16 B, sum {m} vs {s} ({:+.2}%)",
        all.len(),
        share * 100.0,
        sum_err * 100.0
    );
    assert!(all.len() >= 100, "{} keys compared", all.len());
    assert!(
        wrong.is_empty(),
        "{what}: {} keys in another encoding",
        wrong.len()
    );
    assert!(share >= 0.95, "{what}: {:.1}% of keys close", share * 100.0);
    assert!(
        sum_err.abs() <= 0.03,
        "{what}: the sum is off by {:+.2}%",
        sum_err * 100.0
    );
}

/// `used_memory` − `used_memory_startup`, read before any other command
/// (a client's buffers count too).
fn used_since_startup(s: &mut Server) -> u64 {
    let mem = s.cmd(&["INFO", "memory"]).text();
    let field = |name: &str| -> u64 {
        mem.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    };
    field("used_memory") - field("used_memory_startup")
}

/// `analyze` over the two example node dumps, against a real server that
/// loaded their merge (first copy of a conflicting key kept, as `analyze`
/// counts it; for a server that cannot read the dumps' RDB 10, the merge
/// is written for it and analysed itself): the sum of `MEMORY USAGE` over every key within ±3% of the
/// analysis' memory total, and `used_memory` − `used_memory_startup`
/// within ±5% of its estimate.
#[test]
fn analyze_totals_match_a_loaded_merge() {
    use rdbkit::analyze::{analyze, AnalyzeOptions};
    use rdbkit::merge::{merge_bytes, MergeOptions, Policy};
    let Some(reg) = registry("memory_servers") else {
        return;
    };
    let a = std::fs::read(repo().join("examples/dump1.rdb")).unwrap();
    let b = std::fs::read(repo().join("examples/dump2.rdb")).unwrap();
    let inputs = [("dump1", &a[..]), ("dump2", &b[..])];
    let mopts = MergeOptions {
        policy: Policy::First,
        ..Default::default()
    };
    let (_, merged) = merge_bytes(&inputs, Vec::new(), &mopts).unwrap();
    let mut checked = 0;
    let header = rdbkit::format::Header::parse(&merged).unwrap();
    for info in reg.iter().filter(|i| i.module_args.is_empty()) {
        let (alloc, release) = server_model(info);
        let Ok(model) = Model::new(release, alloc) else {
            continue;
        };
        let (merged, r) = if info.can_load(header) {
            (
                merged.clone(),
                analyze(&inputs, &AnalyzeOptions::new(model)).unwrap(),
            )
        } else {
            let o = MergeOptions {
                target: Some(info.target_name().parse().unwrap()),
                drop_functions: true,
                ..mopts.clone()
            };
            let (_, m) = merge_bytes(&inputs, Vec::new(), &o).unwrap();
            let r = analyze(&[("merged", &m[..])], &AnalyzeOptions::new(model)).unwrap();
            (m, r)
        };
        // What the keys add: used_memory − used_memory_startup once loaded,
        // less the same of an empty server (this test's connection).
        let dir = TempDir::new("memory-analyze");
        let mut empty = Server::start(info, dir.path(), "none.rdb", &[]).unwrap();
        let baseline = used_since_startup(&mut empty);
        empty.stop();
        std::fs::write(dir.join("dump.rdb"), &merged).unwrap();
        let mut s = Server::start(info, dir.path(), "dump.rdb", &[]).unwrap();
        let used = used_since_startup(&mut s) - baseline;
        let keys = s.keys();
        assert_eq!(keys.len() as u64, r.totals.keys, "{}", info.name);
        let mut sum = 0u64;
        for k in &keys {
            sum += s.cmd_b(&[b"MEMORY", b"USAGE", k, b"SAMPLES", b"0"]).int() as u64;
        }
        s.stop();
        let err = |model: u64, real: u64| (model as f64 - real as f64) / real as f64;
        let (e_keys, e_used) = (
            err(r.totals.memory_bytes, sum),
            err(r.used_memory_estimate, used),
        );
        eprintln!(
            "analyze {}: keys {} model {} server {} ({:+.2}%); used_memory estimate {} server {} ({:+.2}%)",
            info.name,
            r.totals.keys,
            r.totals.memory_bytes,
            sum,
            e_keys * 100.0,
            r.used_memory_estimate,
            used,
            e_used * 100.0
        );
        assert!(
            e_keys.abs() <= 0.03,
            "{}: key sum off by {:+.2}%",
            info.name,
            e_keys * 100.0
        );
        assert!(
            e_used.abs() <= 0.05,
            "{}: used_memory off by {:+.2}%",
            info.name,
            e_used * 100.0
        );
        checked += 1;
    }
    assert!(checked >= 1);
}
