//! Stream facts that some Redis releases accept and others refuse: rdbkit
//! makes them errors only where every release that reads the payload's RDB
//! version refuses them, warnings otherwise. Each case is a DUMP payload
//! built with rdbkit's encoder, checked through `decode_payload` at `Full`
//! and `Deep`, and (when the servers are installed) through `RESTORE` in
//! real Redis 6.2 and 7.0, with `sanitize-dump-payload yes` as well.

#[path = "common/servers.rs"]
mod servers;

use rdbkit::decode::{decode_payload, Level, Options, StreamId};
use rdbkit::encode::{
    dump_payload, ConsumerValue, GroupValue, OwnedValue, PendingValue, StreamValue, Target,
};
use servers::{Reply, Server, TempDir};

fn id(ms: u64) -> StreamId {
    StreamId { ms, seq: 0 }
}

/// A stream of two entries (1-0, 2-0) and one group whose PEL holds both,
/// with `consumers` as (name, owned IDs).
fn stream(consumers: &[(&str, &[u64])], length: Option<u64>) -> OwnedValue {
    let pel = [1, 2]
        .iter()
        .map(|&ms| PendingValue {
            id: id(ms),
            delivery_time_ms: 1_700_000_000_000,
            delivery_count: 1,
        })
        .collect();
    OwnedValue::Stream(Box::new(StreamValue {
        entries: vec![
            (id(1), vec![(b"f".to_vec(), b"v".to_vec())]),
            (id(2), vec![(b"f".to_vec(), b"w".to_vec())]),
        ],
        length,
        last_id: id(2),
        groups: vec![GroupValue {
            name: b"g".to_vec(),
            last_id: id(2),
            entries_read: None,
            pel,
            consumers: consumers
                .iter()
                .map(|(n, ids)| ConsumerValue {
                    name: n.as_bytes().to_vec(),
                    seen_time_ms: 1_700_000_000_000,
                    active_time_ms: None,
                    pel: ids.iter().map(|&m| id(m)).collect(),
                })
                .collect(),
            nacked: Vec::new(),
        }],
        ..StreamValue::default()
    }))
}

/// A stream with no entry (no node) but a stored length of 3.
fn empty_with_length() -> OwnedValue {
    OwnedValue::Stream(Box::new(StreamValue {
        length: Some(3),
        last_id: id(5),
        ..StreamValue::default()
    }))
}

/// What rdbkit says about a payload at `level`: `Ok(warnings)` or the error.
fn rdbkit_says(p: &[u8], level: Level) -> Result<Vec<String>, String> {
    let opts = Options {
        level,
        ..Options::default()
    };
    decode_payload(p, opts)
        .map(|d| d.warnings.lines().collect())
        .map_err(|e| e.to_string())
}

/// One case: the value, the RDB version of the payload, and what rdbkit
/// must say: `Ok(substring of the one warning)` or `Err(substring of the
/// error)`.
struct Case {
    name: &'static str,
    value: OwnedValue,
    version: u32,
    expect: Result<&'static str, &'static str>,
}

fn cases() -> Vec<Case> {
    let shared: &[(&str, &[u64])] = &[("a", &[1]), ("b", &[1, 2])];
    let dup_name: &[(&str, &[u64])] = &[("a", &[1]), ("a", &[2])];
    let twice: &[(&str, &[u64])] = &[("a", &[1, 1]), ("b", &[2])];
    let mut v = Vec::new();
    for version in [9, 10] {
        v.push(Case {
            name: "an entry owned by two consumers",
            value: stream(shared, None),
            version,
            expect: Ok("owned by two consumers"),
        });
        v.push(Case {
            name: "a consumer PEL listing an entry twice",
            value: stream(twice, None),
            version,
            expect: Err("holds the entry 1-0 twice"),
        });
        v.push(Case {
            name: "a length that differs from the entries",
            value: stream(&[("a", &[1, 2])], Some(5)),
            version,
            expect: Ok("stream length 5 but the node master entries count 2"),
        });
    }
    v.push(Case {
        name: "two consumers of one name (RDB 9)",
        value: stream(dup_name, None),
        version: 9,
        expect: Ok("consumer name 'a' appears twice"),
    });
    v.push(Case {
        name: "two consumers of one name (RDB 10)",
        value: stream(dup_name, None),
        version: 10,
        expect: Err("duplicate consumer name 'a'"),
    });
    v.push(Case {
        name: "a length without nodes (RDB 9)",
        value: empty_with_length(),
        version: 9,
        expect: Ok("stream length 3 but the stream has no node"),
    });
    v.push(Case {
        name: "a length without nodes (RDB 10)",
        value: empty_with_length(),
        version: 10,
        expect: Err("length 3 but the stream has no node"),
    });
    v
}

#[test]
fn rdbkit_errors_only_where_every_loader_refuses() {
    for c in cases() {
        let p = dump_payload(&c.value, Target::redis(c.version)).unwrap();
        for level in [Level::Full, Level::Deep] {
            let got = rdbkit_says(&p, level);
            let what = format!("{} at {level:?}: {got:?}", c.name);
            match c.expect {
                Ok(w) => {
                    let warnings = got.unwrap_or_else(|e| panic!("{what}: refused: {e}"));
                    assert_eq!(warnings.len(), 1, "{what}");
                    assert!(warnings[0].contains(w), "{what}");
                }
                Err(e) => assert!(got.is_err_and(|g| g.contains(e)), "{what}"),
            }
        }
        // Skip level: no content checks, no warnings.
        let skip = rdbkit_says(&p, Level::Skip);
        assert!(skip.is_ok_and(|w| w.is_empty()), "{}", c.name);
    }
}

/// `RESTORE` of `p` in `srv` (with `config`): `Ok` or the error reply.
fn restore(srv: &servers::ServerInfo, p: &[u8], config: &[(&str, &str)]) -> Result<(), String> {
    let dir = TempDir::new("stream-checks");
    let mut s = Server::start(srv, dir.path(), "dump.rdb", config)?;
    let r = s.request(&[b"RESTORE", b"k", b"0", p]);
    let log = s.log_tail();
    s.stop();
    match r {
        Ok(Reply::Error(e)) => Err(format!("{e}\n{log}")),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("{e}\n{log}")),
    }
}

/// The servers agree with rdbkit's rule: every case rdbkit refuses, every
/// installed server that reads its RDB version refuses too ("Bad data
/// format", or a crash for Redis 6.x on a consumer PEL listing an entry
/// twice); every case rdbkit accepts (with a warning), some installed
/// server loads. With and without `sanitize-dump-payload yes` (6.2+).
///
/// What the servers do (2026 builds): an entry owned by two consumers is
/// loaded by Redis 6.0, 6.2, 7.4 and Valkey 8.1, refused by Debian's Redis
/// 7.0.15 (patched for CVE-2026-66373) and Valkey 9.1; a length that
/// differs from the entries is loaded by all but Valkey 9.1; two consumers
/// of one name and a length without nodes are loaded by Redis 6.x only.
#[test]
fn servers_agree() {
    let test = "servers_agree";
    let Some(reg) = servers::registry(test) else {
        return;
    };
    let mut checked = 0;
    for c in cases() {
        let p = dump_payload(&c.value, Target::redis(c.version)).unwrap();
        let header = rdbkit::format::Header {
            lineage: rdbkit::format::Lineage::Redis,
            version: c.version,
        };
        let mut outcomes = Vec::new();
        for srv in reg
            .iter()
            .filter(|s| s.can_load(header) && s.module_args.is_empty())
        {
            let mut configs = vec![vec![]];
            if srv.is_valkey() || srv.vt() >= (6, 2) {
                configs.push(vec![("sanitize-dump-payload", "yes")]);
            }
            for config in configs {
                let r = restore(srv, &p, &config);
                if let Err(e) = &r {
                    assert!(
                        e.contains("Bad data format") || e.contains("connection closed"),
                        "{} {}: {e}",
                        srv.name,
                        c.name
                    );
                }
                outcomes.push((format!("{} {config:?}", srv.name), r.is_ok()));
            }
        }
        eprintln!("{test}: {} (RDB {}): {outcomes:?}", c.name, c.version);
        if outcomes.is_empty() {
            continue;
        }
        checked += 1;
        match c.expect {
            Ok(_) => assert!(
                outcomes.iter().any(|o| o.1),
                "{}: rdbkit accepts it but no server does",
                c.name
            ),
            Err(_) => assert!(
                outcomes.iter().all(|o| !o.1),
                "{}: rdbkit refuses it but a server loads it: {outcomes:?}",
                c.name
            ),
        }
    }
    eprintln!("{test}: {checked} cases checked against the servers");
}
