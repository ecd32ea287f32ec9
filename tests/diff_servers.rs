//! `rdbkit::diff` against real servers' `DEBUG DIGEST-VALUE`: one dataset
//! (every type, small and big, compact and plain encodings, TTLs) is
//! loaded by every installed server and saved again by each, so the same
//! data arrives written by different servers and versions; then one
//! server changes some keys (values, a type, TTLs, a deletion, an
//! addition) and saves. For every pair of files, `diff` calls a key's
//! value equal exactly when the servers' `DEBUG DIGEST-VALUE` of the key
//! agree, and reports a TTL change exactly where `PEXPIRETIME` (or `PTTL`
//! on servers before 7.0) moved. Skipped with the reason printed when the
//! servers of `scripts/install-servers.sh` are absent.

#[path = "common/servers.rs"]
mod servers;

use std::collections::BTreeMap;

use rdbkit::diff::{diff, Change, DiffOptions};
use rdbkit::encode::{HashEntry, KeyMeta, OwnedValue, RdbWriter, Target};
use servers::*;

fn dataset() -> Vec<u8> {
    let b = |s: &str| s.as_bytes().to_vec();
    let far = rdbkit::now_ms() + 86_400_000;
    let he = |f: String, v: Vec<u8>| HashEntry {
        field: f.into_bytes(),
        value: v,
        expire_ms: None,
    };
    let mut keys: Vec<(Vec<u8>, OwnedValue, Option<i64>)> = vec![
        (b("s:int"), OwnedValue::String(b("12345")), None),
        (b("s:neg"), OwnedValue::String(b("-7")), Some(far)),
        (b("s:text"), OwnedValue::String(b("hello world")), None),
        (b("s:long"), OwnedValue::String(vec![b'z'; 5000]), None),
        (
            b("l:small"),
            OwnedValue::List((0..5).map(|i| format!("e{i}").into_bytes()).collect()),
            None,
        ),
        (
            b("l:big"),
            OwnedValue::List(
                (0..2000)
                    .map(|i| format!("element-{i}").into_bytes())
                    .collect(),
            ),
            Some(far),
        ),
        (
            b("set:ints"),
            OwnedValue::Set((0..50).map(|i| i.to_string().into_bytes()).collect()),
            None,
        ),
        (
            b("set:bigints"),
            OwnedValue::Set(
                (0..1000)
                    .map(|i| (i * 7919).to_string().into_bytes())
                    .collect(),
            ),
            None,
        ),
        (
            b("set:words"),
            OwnedValue::Set((0..20).map(|i| format!("w{i}").into_bytes()).collect()),
            None,
        ),
        (
            b("set:big"),
            OwnedValue::Set(
                (0..600)
                    .map(|i| format!("member-{i}").into_bytes())
                    .collect(),
            ),
            None,
        ),
        (
            b("z:small"),
            OwnedValue::ZSet(vec![
                (b("a"), 1.0),
                (b("b"), f64::INFINITY),
                (b("c"), -0.5),
                (b("d"), 1e-300),
            ]),
            None,
        ),
        (
            b("z:big"),
            OwnedValue::ZSet(
                (0..300)
                    .map(|i| (format!("m{i}").into_bytes(), i as f64 / 7.0))
                    .collect(),
            ),
            None,
        ),
        (
            b("h:small"),
            OwnedValue::Hash(
                (0..4)
                    .map(|i| he(format!("f{i}"), format!("v{i}").into_bytes()))
                    .collect(),
            ),
            None,
        ),
        (
            b("h:big"),
            OwnedValue::Hash(
                (0..700)
                    .map(|i| he(format!("field{i}"), vec![b'x'; i % 80]))
                    .collect(),
            ),
            None,
        ),
        (
            b("h:longval"),
            OwnedValue::Hash(vec![he("f".into(), vec![b'q'; 200])]),
            None,
        ),
    ];
    for i in 0..100 {
        keys.push((
            format!("k:{i}").into_bytes(),
            OwnedValue::String(format!("v{i}").into_bytes()),
            None,
        ));
    }
    // RDB 9: every installed server loads it.
    let mut w = RdbWriter::new(Vec::new(), Target::redis(9)).unwrap();
    w.select_db(0).unwrap();
    for (k, v, e) in &keys {
        let meta = KeyMeta {
            expire_ms: *e,
            ..KeyMeta::default()
        };
        w.key(k, v, meta).unwrap();
    }
    w.finish().unwrap()
}

/// What a server says of every key: `DEBUG DIGEST-VALUE` and the expiry.
struct Said {
    digest: BTreeMap<Vec<u8>, String>,
    expire: BTreeMap<Vec<u8>, i64>,
}

fn ask(s: &mut Server) -> Said {
    let mut said = Said {
        digest: BTreeMap::new(),
        expire: BTreeMap::new(),
    };
    let now = rdbkit::now_ms();
    for k in s.keys() {
        let d = s.cmd_b(&[b"DEBUG", b"DIGEST-VALUE", &k]);
        let d = d.array().first().map(|r| r.text()).unwrap_or_default();
        // PEXPIRETIME where there is one (7.0+); PTTL moves with the
        // clock, so the test compares expiries to two seconds (the
        // changed ones move by hours).
        let at = match s.try_cmd(&["PEXPIRETIME", &String::from_utf8_lossy(&k)]) {
            Ok(Reply::Int(t)) => t,
            _ => match s.cmd_b(&[b"PTTL", &k]).int() {
                e if e < 0 => -1,
                e => now + e,
            },
        };
        said.digest.insert(k.clone(), d);
        said.expire.insert(k, at);
    }
    said
}

/// Loads `data` into `info`'s server, asks it, applies `change`, asks
/// again and saves: (what it said before, after, the saved file).
fn through(info: &ServerInfo, data: &[u8], change: &dyn Fn(&mut Server)) -> (Said, Vec<u8>) {
    let dir = TempDir::new("diff-servers");
    std::fs::write(dir.join("dump.rdb"), data).unwrap();
    let mut s = Server::start(info, dir.path(), "dump.rdb", &[])
        .unwrap_or_else(|e| panic!("{} refused the dataset: {e}", info.name));
    change(&mut s);
    let said = ask(&mut s);
    let file = s.save();
    let bytes = std::fs::read(file).unwrap();
    s.stop();
    (said, bytes)
}

fn changes(s: &mut Server) {
    for c in [
        vec!["SET", "s:text", "hello world!"],
        vec!["RPUSH", "l:small", "e5"],
        vec!["SADD", "set:big", "member-new"],
        vec!["SREM", "set:ints", "7"],
        vec!["ZADD", "z:small", "2", "a"],
        vec!["HSET", "h:big", "field3", "changed"],
        vec!["DEL", "k:5"],
        vec!["SET", "k:new", "x"],
        vec!["DEL", "k:6"],
        vec!["RPUSH", "k:6", "now a list"],
        vec!["EXPIRE", "k:7", "7200"],
        vec!["PERSIST", "s:neg"],
    ] {
        let r = s.cmd(&c);
        assert!(!matches!(r, Reply::Error(_)), "{c:?}: {r:?}");
    }
}

/// What `judge` says of `data`'s keys after loading it.
fn judged(judge: &ServerInfo, data: &[u8]) -> Said {
    let dir = TempDir::new("diff-judge");
    std::fs::write(dir.join("dump.rdb"), data).unwrap();
    let mut s = Server::start(judge, dir.path(), "dump.rdb", &[])
        .unwrap_or_else(|e| panic!("{} refused a file it should read: {e}", judge.name));
    let said = ask(&mut s);
    s.stop();
    said
}

#[test]
fn equal_exactly_when_debug_digest_value_agrees() {
    let Some(reg) = registry("diff_servers") else {
        return;
    };
    let data = dataset();
    let servers: Vec<&ServerInfo> = reg.iter().filter(|i| i.module_args.is_empty()).collect();
    assert!(!servers.is_empty());
    // The same data saved by every server; the changed data by the last.
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for info in &servers {
        let (_, bytes) = through(info, &data, &|_| {});
        files.push((info.name.clone(), bytes));
    }
    let last = servers[servers.len() - 1];
    let (_, bytes) = through(last, &data, &changes);
    files.push((format!("{} (changed)", last.name), bytes));
    // Digests differ between releases for the same value (Redis 7.0 turned
    // scores into text another way), so both files of a pair are judged by
    // one server that reads both: the newest.
    let mut cache: BTreeMap<(String, usize), std::rc::Rc<Said>> = BTreeMap::new();
    let mut said = |judge: &ServerInfo, i: usize| -> std::rc::Rc<Said> {
        cache
            .entry((judge.name.clone(), i))
            .or_insert_with(|| std::rc::Rc::new(judged(judge, &files[i].1)))
            .clone()
    };
    let header = |b: &[u8]| rdbkit::format::Header::parse(b).unwrap();
    let (mut pairs, mut unjudged) = (0, 0);
    for ai in 0..files.len() {
        for bi in 0..files.len() {
            let (an, a) = (&files[ai].0, &files[ai].1);
            let (bn, b) = (&files[bi].0, &files[bi].1);
            let Some(judge) = servers
                .iter()
                .rev()
                .find(|s| s.can_load(header(a)) && s.can_load(header(b)))
            else {
                unjudged += 1;
                continue;
            };
            let (asaid, bsaid) = (said(judge, ai), said(judge, bi));
            let mut reported: BTreeMap<Vec<u8>, Change> = BTreeMap::new();
            let s = diff(
                &[(an, &a[..])],
                &[(bn, &b[..])],
                &DiffOptions::default(),
                |d| {
                    reported.insert(d.key.clone(), d.change);
                    Ok(())
                },
            )
            .unwrap_or_else(|e| panic!("{an} vs {bn}: {e}"));
            let keys: std::collections::BTreeSet<&Vec<u8>> =
                asaid.digest.keys().chain(bsaid.digest.keys()).collect();
            for k in keys {
                let what = format!(
                    "{an} vs {bn} (judged by {}), key {}",
                    judge.name,
                    String::from_utf8_lossy(k)
                );
                let got = reported.get(k).copied();
                match (asaid.digest.get(k), bsaid.digest.get(k)) {
                    (Some(_), None) => assert_eq!(got, Some(Change::OnlyLeft), "{what}"),
                    (None, Some(_)) => assert_eq!(got, Some(Change::OnlyRight), "{what}"),
                    (Some(x), Some(y)) => {
                        let (ea, eb) = (asaid.expire[k], bsaid.expire[k]);
                        let moved = ea.abs_diff(eb) > 2000;
                        // DEBUG DIGEST-VALUE also mixes in whether the key
                        // has an expiry (not when).
                        let presence = (ea == -1) != (eb == -1);
                        match got {
                            Some(Change::Value | Change::Type) => {
                                assert!(x != y, "{what}: {got:?}")
                            }
                            Some(Change::Ttl) => {
                                assert!(moved, "{what}: ttl reported, expiries {ea} and {eb}");
                                assert_eq!(x != y, presence, "{what}");
                            }
                            None => {
                                assert!(x == y && !moved, "{what}: equal, expiries {ea} and {eb}")
                            }
                            other => panic!("{what}: {other:?}"),
                        }
                    }
                    (None, None) => unreachable!(),
                }
            }
            assert_eq!(s.differences() as usize, reported.len());
            pairs += 1;
        }
    }
    eprintln!(
        "diff vs DEBUG DIGEST-VALUE: {} files from {} servers, {pairs} pairs agree ({unjudged} pairs no server reads both)",
        files.len(),
        servers.len()
    );
    assert!(pairs >= files.len());
    // The changed copy differs from the original in exactly the 11 changed
    // keys.
    let mut count = 0;
    let n = servers.len();
    diff(
        &[("a", &files[n - 1].1[..])],
        &[("b", &files[n].1[..])],
        &DiffOptions::default(),
        |_| {
            count += 1;
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(count, 11);
}
