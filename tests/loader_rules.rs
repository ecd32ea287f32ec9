//! Facts that some Redis releases (or levels) accept and others refuse:
//! rdbkit makes them errors only where every release that reads the
//! payload's RDB version refuses them at that level (`Full`: a plain load,
//! `Deep`: `sanitize-dump-payload yes`), warnings otherwise. Each case is a
//! DUMP payload, checked through `decode_payload` at `Full` and `Deep`, and
//! (when the servers are installed) through `RESTORE` in every registered
//! server that reads its RDB version, with and without
//! `sanitize-dump-payload yes`.

#[path = "common/servers.rs"]
mod servers;

use rdbkit::decode::{decode_payload, Level, Options, StreamId};
use rdbkit::encode::{
    dump_payload, dump_payload_raw, ConsumerValue, GroupValue, OwnedValue, PendingValue,
    StreamValue, Target,
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

/// One case: a DUMP payload of some RDB version, and what rdbkit must
/// say: `Ok(substring of the one warning)` (or `Ok("")`: no warning) or
/// `Err(substring of the error)`, at `Full` and at `Deep`.
struct Case {
    name: &'static str,
    payload: Vec<u8>,
    version: u32,
    full: Result<&'static str, &'static str>,
    deep: Result<&'static str, &'static str>,
}

fn case(
    name: &'static str,
    value: &OwnedValue,
    version: u32,
    expect: Result<&'static str, &'static str>,
) -> Case {
    Case {
        name,
        payload: dump_payload(value, Target::redis(version)).unwrap(),
        version,
        full: expect,
        deep: expect,
    }
}

/// A payload of raw value bytes.
fn raw(
    name: &'static str,
    rdb_type: u8,
    value: &[u8],
    version: u32,
    full: Result<&'static str, &'static str>,
    deep: Result<&'static str, &'static str>,
) -> Case {
    Case {
        name,
        payload: dump_payload_raw(rdb_type, value, version as u16),
        version,
        full,
        deep,
    }
}

/// An RDB string of `b` (short lengths only).
fn rdb_str(b: &[u8]) -> Vec<u8> {
    assert!(b.len() < 64);
    let mut v = vec![b.len() as u8];
    v.extend_from_slice(b);
    v
}

/// A listpack of short strings.
fn listpack(elems: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    for e in elems {
        assert!(e.len() < 64);
        body.push(0x80 | e.len() as u8);
        body.extend_from_slice(e);
        body.push(1 + e.len() as u8);
    }
    let mut lp = ((6 + body.len() + 1) as u32).to_le_bytes().to_vec();
    lp.extend_from_slice(&(elems.len() as u16).to_le_bytes());
    lp.extend_from_slice(&body);
    lp.push(0xff);
    lp
}

fn cases() -> Vec<Case> {
    let shared: &[(&str, &[u64])] = &[("a", &[1]), ("b", &[1, 2])];
    let dup_name: &[(&str, &[u64])] = &[("a", &[1]), ("a", &[2])];
    let twice: &[(&str, &[u64])] = &[("a", &[1, 1]), ("b", &[2])];
    let mut v = Vec::new();
    for version in [9, 10] {
        v.push(case(
            "an entry owned by two consumers",
            &stream(shared, None),
            version,
            Ok("owned by two consumers"),
        ));
        v.push(case(
            "a consumer PEL listing an entry twice",
            &stream(twice, None),
            version,
            Err("holds the entry 1-0 twice"),
        ));
        v.push(case(
            "a length that differs from the entries",
            &stream(&[("a", &[1, 2])], Some(5)),
            version,
            Ok("stream length 5 but the node master entries count 2"),
        ));
        v.push(case(
            "two consumers of one name",
            &stream(dup_name, None),
            version,
            if version >= 10 {
                Err("duplicate consumer name 'a'")
            } else {
                Ok("consumer name 'a' appears twice")
            },
        ));
        // The encoder refuses to write this for RDB 10+ (those loaders
        // refuse it): write it for RDB 9 and label the payload `version`.
        let mut c = case(
            "a length without nodes",
            &empty_with_length(),
            version.min(9),
            if version >= 10 {
                Err("length 3 but the stream has no node")
            } else {
                Ok("stream length 3 but the stream has no node")
            },
        );
        if version >= 10 {
            let n = c.payload.len();
            c.payload[n - 10..n - 8].copy_from_slice(&(version as u16).to_le_bytes());
            let crc = rdbkit::format::crc::crc64(&c.payload[..n - 8]);
            c.payload[n - 8..].copy_from_slice(&crc.to_le_bytes());
            c.version = version;
        }
        v.push(c);
        // Intset {2, 1} (16-bit): the order is a deep check.
        let mut is = 2u32.to_le_bytes().to_vec();
        is.extend_from_slice(&2u32.to_le_bytes());
        is.extend_from_slice(&[2, 0, 1, 0]);
        v.push(raw(
            "an intset out of order",
            11,
            &rdb_str(&is),
            version,
            Ok("intset elements not in strictly ascending order"),
            Err("intset elements not in strictly ascending order"),
        ));
        // Sorted set (type 5) with a NaN score: refused since 7.0; 6.x
        // stop on an assertion (zslInsert).
        let mut z = vec![2];
        z.extend(rdb_str(b"a"));
        z.extend_from_slice(&1.5f64.to_le_bytes());
        z.extend(rdb_str(b"b"));
        z.extend_from_slice(&f64::NAN.to_le_bytes());
        let nan = Err("NaN score");
        v.push(raw("a NaN score", 5, &z, version, nan, nan));
        // A set (type 2) holding "a" twice, and a hash ziplist (type 13)
        // with the field "f" twice: 5.0/6.0 load RDB 9 files without
        // looking for duplicates; 6.2+ refuse them on every load.
        let mut set = vec![2];
        set.extend(rdb_str(b"a"));
        set.extend(rdb_str(b"a"));
        let mut zl = 23u32.to_le_bytes().to_vec();
        zl.extend_from_slice(&19u32.to_le_bytes());
        zl.extend_from_slice(&4u16.to_le_bytes());
        for (i, c) in b"fvfw".iter().enumerate() {
            zl.extend_from_slice(&[if i == 0 { 0 } else { 3 }, 0x01, *c]);
        }
        zl.push(0xff);
        for (name, ty, body) in [
            ("a set member twice", 2u8, set),
            ("a hash ziplist field twice", 13, rdb_str(&zl)),
        ] {
            let full = if version >= 10 {
                Err("duplicate")
            } else {
                Ok("(Redis 5.0/6.0 load it; 6.2+ refuse it)")
            };
            v.push(raw(name, ty, &body, version, full, Err("duplicate")));
        }
        // An LZF string of length 0: any data (6.2+).
        v.push(raw(
            "an LZF string of length 0",
            0,
            &[0xC3, 3, 0, 1, 2, 3],
            version,
            Ok(""),
            Ok(""),
        ));
    }
    // A listpack sorted set (RDB 10+) whose score is not a number.
    v.push(raw(
        "a listpack score that is not a number",
        17,
        &rdb_str(&listpack(&[b"m", b"x1"])),
        10,
        Ok("sorted-set scores are not numbers"),
        Ok("sorted-set scores are not numbers"),
    ));
    v
}

#[test]
fn rdbkit_errors_only_where_every_loader_refuses() {
    for c in cases() {
        for (level, expect) in [(Level::Full, c.full), (Level::Deep, c.deep)] {
            let got = rdbkit_says(&c.payload, level);
            let what = format!("{} (RDB {}) at {level:?}: {got:?}", c.name, c.version);
            match expect {
                Ok("") => assert!(got.is_ok_and(|w| w.is_empty()), "{what}"),
                Ok(w) => {
                    let warnings = got.unwrap_or_else(|e| panic!("{what}: refused: {e}"));
                    assert_eq!(warnings.len(), 1, "{what}");
                    assert!(warnings[0].contains(w), "{what}");
                }
                Err(e) => assert!(got.is_err_and(|g| g.contains(e)), "{what}"),
            }
        }
        // Skip level: no warnings (plain encodings are still read, so a
        // NaN score fails there too).
        if let Ok(w) = rdbkit_says(&c.payload, Level::Skip) {
            assert!(w.is_empty(), "{}", c.name);
        }
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
/// of one name and a length without nodes are loaded by Redis 6.x only; an
/// intset out of order is loaded by all without `sanitize-dump-payload`
/// (but Valkey 9.1) and refused with it; a NaN score by none (6.x stop on
/// an assertion); an LZF string of length 0 by all but 6.0; a listpack
/// score that is not a number by all; duplicates in a set or a hash
/// ziplist by Redis 6.0 only.
#[test]
fn servers_agree() {
    let test = "servers_agree";
    let Some(reg) = servers::registry(test) else {
        return;
    };
    let mut checked = 0;
    for c in cases() {
        let p = &c.payload;
        let header = rdbkit::format::Header {
            lineage: rdbkit::format::Lineage::Redis,
            version: c.version,
        };
        let mut outcomes = Vec::new();
        for srv in reg
            .iter()
            .filter(|s| s.can_load(header) && s.module_args.is_empty())
        {
            let mut configs = vec![(false, vec![])];
            if srv.is_valkey() || srv.vt() >= (6, 2) {
                configs.push((true, vec![("sanitize-dump-payload", "yes")]));
            }
            for (deep, config) in configs {
                let r = restore(srv, p, &config);
                if let Err(e) = &r {
                    assert!(
                        e.contains("Bad data format") || e.contains("connection closed"),
                        "{} {}: {e}",
                        srv.name,
                        c.name
                    );
                }
                outcomes.push((format!("{} {config:?}", srv.name), deep, r.is_ok()));
            }
        }
        eprintln!("{test}: {} (RDB {}): {outcomes:?}", c.name, c.version);
        if outcomes.is_empty() {
            continue;
        }
        checked += 1;
        for (deep, expect) in [(false, c.full), (true, c.deep)] {
            let level: Vec<_> = outcomes.iter().filter(|o| o.1 == deep).collect();
            if level.is_empty() {
                continue;
            }
            match expect {
                Ok(_) => assert!(
                    level.iter().any(|o| o.2),
                    "{} (deep: {deep}): rdbkit accepts it but no server does",
                    c.name
                ),
                Err(_) => assert!(
                    level.iter().all(|o| !o.2),
                    "{} (deep: {deep}): rdbkit refuses it but a server loads it: {level:?}",
                    c.name
                ),
            }
        }
    }
    eprintln!("{test}: {checked} cases checked against the servers");
}
