//! `rdbkit dump --format resp` replayed with `redis-cli --pipe` into an
//! empty real server must rebuild what the same server holds after loading
//! the original file: same keys per db (`INFO keyspace`), same `DEBUG
//! DIGEST` (values, and the presence of key and field TTLs), and beyond
//! what the digest covers: key expiry times (`PEXPIRETIME`, 7.0+), hash
//! field expiry times (`HPEXPIRETIME`), function libraries and, for every
//! stream (`XINFO STREAM … FULL`), the entries, last / first / max-deleted
//! IDs, entries-added, groups with their last-delivered IDs and pending
//! entries (ID, owner, delivery time, delivery count) and the consumers
//! (names and owned IDs). Not compared: consumer seen/active times and
//! group entries-read/lag, which commands cannot set (see
//! `rdbkit::export::resp`).
//!
//! Every fixture is replayed into every registered server that loads it.
//! Skipped with a printed reason when the server registry or `redis-cli`
//! is absent.

#[path = "common/servers.rs"]
mod servers;

use std::path::{Path, PathBuf};

use rdbkit::decode::Options;
use servers::{
    check_pairs, compare_states, fixture, fixtures, load_file, load_resp, redis_cli, registry,
    resp_export, short, Fixture, Reply, Server, ServerInfo, TempDir, T2100,
};

fn check_pair(srv: &ServerInfo, fx: &Fixture, cli: &Path) -> Result<String, String> {
    // The server loading the original.
    let want = load_file(srv, &fx.path, &fx.keys)?;
    // An empty server fed the RESP export.
    let resp = resp_export(&fx.path, &srv.target_name(), &[])?;
    let got = load_resp(srv, cli, &resp, &fx.keys)?;
    compare_states(&got, &want, "replay", "original", true)?;
    Ok(format!(
        "{:<16} {:<28} {} commands' bytes, {} checks",
        srv.name,
        short(&fx.path),
        resp.len(),
        want.2.len()
    ))
}

#[test]
fn resp_replay_matches_loading_the_file() {
    let test = "resp_replay_matches_loading_the_file";
    let Some(reg) = registry(test) else { return };
    let Some(cli) = redis_cli(test) else { return };
    let fixtures: Vec<Fixture> = fixtures().iter().map(|p| fixture(p)).collect();
    let mut jobs = Vec::new();
    for srv in &reg {
        for fx in &fixtures {
            if !srv.can_load(fx.header) {
                continue; // covered through conversion in convert_servers.rs
            }
            if fx.modules && !srv.has_modules() {
                eprintln!(
                    "{test}: {} {}: skipped: needs modules",
                    srv.name,
                    short(&fx.path)
                );
                continue;
            }
            jobs.push((srv, fx));
        }
    }
    let (pairs, failures) = check_pairs(jobs, |srv, fx| check_pair(srv, fx, &cli));
    assert!(pairs != 0, "no server loads any fixture");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// `rdbkit::encode::dump_payload` against real `DUMP` / `RESTORE`: for
/// values built with commands, re-encoding the server's own DUMP payload
/// for the server's version gives the same bytes, and RESTORE accepts it.
#[test]
fn dump_payload_matches_dump_and_restore() {
    use rdbkit::decode::decode_payload;
    use rdbkit::encode::{dump_payload, OwnedValue};
    let test = "dump_payload_matches_dump_and_restore";
    let Some(reg) = registry(test) else { return };
    let setup: Vec<Vec<&[u8]>> = vec![
        vec![b"SET", b"s:int", b"12345"],
        vec![b"SET", b"s:raw", b"hello"],
        vec![b"SET", b"s:lzf", b"abcabcabcabcabcabcabcabcabcabcabcabc"],
        vec![
            b"RPUSH",
            b"l",
            b"a",
            b"1",
            b"-200",
            b"70000",
            b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        ],
        vec![b"SADD", b"set:ints", b"3", b"1", b"-70000", b"2"],
        vec![b"SADD", b"set:str", b"x", b"y", b"42"],
        vec![
            b"ZADD", b"z", b"1.5", b"a", b"-2", b"b", b"0.1", b"c", b"1e17", b"d", b"inf", b"e",
        ],
        vec![b"HSET", b"h", b"f", b"v", b"n", b"5", b"neg", b"-1"],
        vec![b"XADD", b"x", b"1-1", b"a", b"1", b"b", b"2"],
        vec![b"XADD", b"x", b"1-2", b"a", b"3", b"b", b"4"],
        vec![b"XADD", b"x", b"2-0", b"other", b"5"],
    ];
    // Big values, made in one command each so that the node splits follow
    // the server's append rules: a list of several 8 KB quicklist nodes
    // (list-max-listpack-size -2), a stream of several nodes (split by
    // stream-node-max-bytes and -entries), collections past the listpack
    // and intset limits.
    let words: Vec<Vec<u8>> = (0..3000u32)
        .map(|i| format!("{i}-{}", "w".repeat((i as usize * 7) % 90)).into_bytes())
        .collect();
    let mut big_list: Vec<&[u8]> = vec![b"RPUSH", b"big:list"];
    big_list.extend(words.iter().map(Vec::as_slice));
    let mut big_set: Vec<&[u8]> = vec![b"SADD", b"big:set"];
    big_set.extend(words.iter().take(600).map(Vec::as_slice));
    let ints: Vec<Vec<u8>> = (0..600)
        .map(|i: i32| (i * 37 - 999).to_string().into_bytes())
        .collect();
    let mut big_intset: Vec<&[u8]> = vec![b"SADD", b"big:intset"];
    big_intset.extend(ints.iter().map(Vec::as_slice));
    let mut big_zset: Vec<&[u8]> = vec![b"ZADD", b"big:zset"];
    for (i, w) in words.iter().take(300).enumerate() {
        big_zset.push(if i % 2 == 0 { b"1.25" } else { b"-3" });
        big_zset.push(w);
    }
    let mut setup = setup;
    setup.extend([big_list, big_set, big_intset, big_zset]);
    let ids: Vec<String> = (1..=400)
        .map(|i| format!("{}-{}", 1000 + i / 3, i % 3))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let v = &words[i % words.len()];
        if i % 5 == 0 {
            setup.push(vec![b"XADD", b"big:stream", id.as_bytes(), b"other", v]);
        } else {
            setup.push(vec![
                b"XADD",
                b"big:stream",
                id.as_bytes(),
                b"field",
                v,
                b"n",
                b"7",
            ]);
        }
    }
    // Hash field TTLs (Redis 7.4: types 25 and 24, Valkey 9: HASH_2). TTLs
    // are set in ascending order so that Redis's cached min-expire hint is
    // the true minimum (it is not updated when a smaller TTL comes later).
    let mut hfe: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut hset = vec![b"HSET".to_vec(), b"hfe:big".to_vec()];
    for i in 0..600 {
        hset.push(format!("f{i}").into_bytes());
        hset.push(format!("v{i}").into_bytes());
    }
    hfe.push(hset);
    hfe.push(
        ["HSET", "hfe:small", "a", "1", "b", "2", "c", "3"]
            .iter()
            .map(|x| x.as_bytes().to_vec())
            .collect(),
    );
    for (k, ms, fields) in [
        ("hfe:big", T2100 + 7, &["f9", "f300"][..]),
        ("hfe:big", T2100 + 100, &["f5", "f6", "f599"][..]),
        ("hfe:small", T2100 + 10, &["c"][..]),
        ("hfe:small", T2100 + 50, &["a"][..]),
    ] {
        let mut c = vec![
            b"HPEXPIREAT".to_vec(),
            k.as_bytes().to_vec(),
            ms.to_string().into_bytes(),
            b"FIELDS".to_vec(),
            fields.len().to_string().into_bytes(),
        ];
        c.extend(fields.iter().map(|f| f.as_bytes().to_vec()));
        hfe.push(c);
    }
    let keys: [&[u8]; 14] = [
        b"s:int",
        b"s:raw",
        b"s:lzf",
        b"l",
        b"set:ints",
        b"set:str",
        b"z",
        b"h",
        b"x",
        b"big:list",
        b"big:set",
        b"big:intset",
        b"big:zset",
        b"big:stream",
    ];
    let mut checked = 0;
    for srv in &reg {
        let dir = TempDir::new("dump");
        let mut s = match Server::start(srv, dir.path(), "none.rdb", &[]) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        for c in &setup {
            let r = s.request(c).unwrap();
            assert!(!matches!(r, Reply::Error(_)), "{}: {r:?}", srv.name);
        }
        let with_hfe = srv.has_field_ttls();
        let mut all_keys: Vec<&[u8]> = keys.to_vec();
        if with_hfe {
            for c in &hfe {
                let args: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
                let r = s.request(&args).unwrap();
                assert!(!matches!(r, Reply::Error(_)), "{}: {r:?}", srv.name);
            }
            all_keys.extend([&b"hfe:big"[..], b"hfe:small"]);
        }
        let target = rdbkit::export::resp::ServerRelease::parse(&srv.target_name())
            .unwrap()
            .target();
        for key in all_keys {
            let Reply::Bulk(Some(dump)) = s.request(&[b"DUMP", key]).unwrap() else {
                panic!("{}: DUMP failed", srv.name)
            };
            let p = decode_payload(&dump, Options::default()).unwrap();
            assert_eq!(u32::from(p.version), target.version, "{}", srv.name);
            let v = OwnedValue::from_value(&p.value).unwrap();
            let ours = dump_payload(&v, target).unwrap();
            // Before 5.0.14 / 6.0.16 / 6.2.6 a stream node grew until it was
            // over stream-node-max-bytes; since then it stops before the
            // entry that would reach it (what rdbkit writes).
            let (maj, min, patch) = srv.version_tuple();
            let old_stream_nodes = !srv.is_valkey()
                && matches!((maj, min), (5, 0) | (6, 0) | (6, 2))
                && patch
                    < match min {
                        0 if maj == 5 => 14,
                        0 => 16,
                        _ => 6,
                    };
            if old_stream_nodes && key == b"big:stream" {
                eprintln!(
                    "{}: big:stream: node layout of an old patch release, not compared",
                    srv.name
                );
                continue;
            }
            if let Some(d) = std::env::var_os("RDBKIT_DEBUG_DUMP") {
                let d = PathBuf::from(d);
                let k = String::from_utf8_lossy(key).replace(':', "_");
                let _ = std::fs::write(d.join(format!("{}-{k}.ours", srv.name)), &ours);
                let _ = std::fs::write(d.join(format!("{}-{k}.server", srv.name)), &dump);
            }
            assert_eq!(
                ours,
                dump,
                "{} {}: our payload differs from DUMP",
                srv.name,
                String::from_utf8_lossy(key)
            );
            let mut copy = key.to_vec();
            copy.extend_from_slice(b":copy");
            let r = s.request(&[b"RESTORE", &copy, b"0", &ours]).unwrap();
            assert_eq!(r, Reply::Status("OK".into()), "{}", srv.name);
            let Reply::Bulk(Some(again)) = s.request(&[b"DUMP", &copy]).unwrap() else {
                panic!()
            };
            // Hashtable-encoded values may come back in another order.
            let norm = |b: &[u8]| {
                let p = decode_payload(b, Options::default()).unwrap();
                let mut v = OwnedValue::from_value(&p.value).unwrap();
                match &mut v {
                    OwnedValue::Set(x) => x.sort(),
                    OwnedValue::Hash(h) => h.sort_by(|a, b| a.field.cmp(&b.field)),
                    _ => {}
                }
                v
            };
            assert_eq!(norm(&again), norm(&dump), "{}", srv.name);
            checked += 1;
        }
        s.stop();
    }
    eprintln!("{checked} DUMP payloads reproduced and restored");
}
