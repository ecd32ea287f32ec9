//! Streams whose stored length differs from the entries their nodes hold
//! (Redis 5 wrote such streams). Redis loads them and keeps the stored
//! length (also with `sanitize-dump-payload yes`), so rdbkit accepts them
//! with a warning, and `dump`, `convert` and `merge` handle them, keeping
//! the stored length.
//!
//! The files are real Redis 6.2 dumps (`tests/fixtures/redis-6.2`, RDB 9,
//! streams of type 15 as Redis 5 writes them) with the length field of one
//! stream rewritten and the CRC-64 recomputed. The server half loads them
//! into the registered Redis 7.0 (`scripts/install-servers.sh`), with and
//! without `sanitize-dump-payload yes`, and runs its `redis-check-rdb`; it
//! is skipped, with the reason printed, when that server is missing.

#[path = "common/servers.rs"]
mod servers;

use std::path::Path;

use rdbkit::decode::{Decoder, Item, Level, Options, RdbStr, Reader};
use rdbkit::format::{crc::crc64, rdb_type};
use rdbkit::stats::inspect;
use rdbkit::Limits;
use servers::{check_rdb, rdbkit, server, Server, TempDir};

const FIXTURE: &str = "tests/fixtures/redis-6.2/all-types.rdb";

/// A stream of the fixture with its length changed.
struct Edited {
    /// The whole file, CRC fixed.
    file: Vec<u8>,
    /// The stream's key.
    key: String,
    /// Its database.
    db: u64,
    /// Live entries the nodes hold.
    entries: u64,
    /// The stored length written.
    length: u64,
    /// Keys in the file.
    keys: u64,
}

/// The fixture with the length of its first type-15 stream holding two or
/// more entries set to `entries + delta`.
fn edited(delta: i64) -> Edited {
    let data = std::fs::read(servers::repo().join(FIXTURE)).expect("fixture");
    let opts = Options {
        level: Level::Skip,
        ..Options::default()
    };
    let mut found = None;
    let mut keys = 0;
    for item in Decoder::new(&data, opts).unwrap() {
        let Item::Key(k) = item.unwrap() else {
            continue;
        };
        keys += 1;
        if found.is_some() || k.value.rdb_type() != rdb_type::STREAM_LISTPACKS {
            continue;
        }
        let s = k.value.stream().unwrap();
        let mut n = 0u64;
        let mut cur = s.entries();
        while cur.next_entry().unwrap().is_some() {
            n += 1;
        }
        if n < 2 || s.length != n {
            continue;
        }
        // Value layout: node count, (key, listpack) per node, length.
        let mut r = Reader::at(&data, k.value.offset());
        let nodes = r.length("nodes").unwrap();
        for _ in 0..2 * nodes {
            RdbStr::skip(&mut r, &Limits::default(), "node").unwrap();
        }
        let at = r.pos();
        assert_eq!(r.length("length").unwrap(), n);
        let key = String::from_utf8(k.key.to_bytes().unwrap().into_owned()).unwrap();
        found = Some((key, k.db, n, at, r.pos()));
    }
    let (key, db, entries, at, end) =
        found.expect("a type-15 stream with 2+ entries in the fixture");
    let length = entries.checked_add_signed(delta).unwrap();
    let mut file = data[..at].to_vec();
    rdbkit::encode::write_len(&mut file, length);
    file.extend_from_slice(&data[end..]);
    let n = file.len();
    let crc = crc64(&file[..n - 8]);
    file[n - 8..].copy_from_slice(&crc.to_le_bytes());
    Edited {
        file,
        key,
        db,
        entries,
        length,
        keys,
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The stored length of stream `key` in `file`, decoded at `Deep`
/// (duplicate keys and every content check), and the file's warnings.
fn stored_length(file: &Path, key: &str) -> (u64, Vec<String>) {
    let data = std::fs::read(file).unwrap();
    let opts = Options {
        level: Level::Deep,
        ..Options::default()
    };
    let mut dec = Decoder::new(&data, opts).unwrap();
    let mut length = None;
    for item in dec.by_ref() {
        if let Item::Key(k) = item.unwrap() {
            if k.key.to_bytes().unwrap().as_ref() == key.as_bytes() {
                length = Some(k.value.stream().unwrap().length);
            }
        }
    }
    let warnings = dec.warnings().lines().collect();
    (length.expect("the stream is in the file"), warnings)
}

#[test]
fn verify_and_info_accept_with_a_warning() {
    for delta in [2, -1] {
        let e = edited(delta);
        let dir = TempDir::new("stream-length");
        let path = dir.join("edited.rdb");
        std::fs::write(&path, &e.file).unwrap();
        let p = path.to_str().unwrap();
        let expect = format!(
            "stream length {} but the node master entries count {} live entries",
            e.length, e.entries
        );
        for deep in [false, true] {
            let mut args = vec!["verify", p];
            if deep {
                args.push("--deep");
            }
            let out = rdbkit(&args);
            let err = text(&out.stderr);
            assert!(out.status.success(), "verify {args:?}: {err}");
            assert!(text(&out.stdout).contains(&format!("{} keys", e.keys)));
            let line = err
                .lines()
                .find(|l| l.starts_with("rdbkit: warning: "))
                .unwrap_or_else(|| panic!("no warning from verify {args:?}: {err}"));
            assert!(line.contains(&expect), "{line}");
            assert!(line.contains(&format!("key '{}'", e.key)), "{line}");
            // One warning: the deep live count agrees with the master counts.
            assert_eq!(err.lines().filter(|l| l.contains("warning")).count(), 1);
        }
        // The library: at every level but Skip, one warning with key and offset.
        for level in [Level::Full, Level::Deep] {
            let opts = Options {
                level,
                ..Options::default()
            };
            let r = inspect(&e.file, opts, 0).unwrap();
            assert_eq!(r.keys(), e.keys);
            assert_eq!(r.warnings.total(), 1, "{level:?}");
            let w = &r.warnings.list()[0];
            assert_eq!(w.key.as_deref(), Some(e.key.as_bytes()));
            assert!(w.message.contains(&expect), "{}", w.message);
            assert!(w.offset > 9 && w.offset < e.file.len() as u64);
            assert_eq!(r.to_json()["warnings"]["total"], 1);
        }
        let skip = Options {
            level: Level::Skip,
            ..Options::default()
        };
        assert!(inspect(&e.file, skip, 0).unwrap().warnings.is_empty());
        // info: text and JSON list it.
        let out = rdbkit(&["info", p]);
        assert!(out.status.success());
        let info = text(&out.stdout);
        assert!(
            info.lines()
                .any(|l| l.starts_with("warning:") && l.contains(&expect)),
            "{info}"
        );
        let out = rdbkit(&["info", "--json", p]);
        assert!(out.status.success());
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(j["warnings"]["total"], 1, "{j}");
        assert_eq!(j["warnings"]["list"][0]["key"], e.key.as_str());
        assert!(j["warnings"]["list"][0]["message"]
            .as_str()
            .unwrap()
            .contains(&expect));
    }
}

#[test]
fn dump_convert_and_merge_keep_the_stored_length() {
    let e = edited(2);
    let dir = TempDir::new("stream-length-tools");
    let path = dir.join("edited.rdb");
    std::fs::write(&path, &e.file).unwrap();
    let p = path.to_str().unwrap();

    // dump: every key, the stream with its stored length and its entries.
    let out = rdbkit(&["dump", p]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, e.keys);
    let s = lines
        .iter()
        .find(|l| l["key"] == e.key.as_str())
        .expect("the stream in the dump");
    let js = s.to_string();
    assert!(js.contains(&format!("\"length\":{}", e.length)), "{js}");
    // RESP export too.
    let out = rdbkit(&["dump", "--format", "resp", p]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // convert: the same target (copy) and newer ones (stream v2, v3
    // re-encoded).
    for target in ["9", "10", "11"] {
        let o = dir.join(&format!("conv-{target}.rdb"));
        let out = rdbkit(&["convert", p, "-o", o.to_str().unwrap(), "--target", target]);
        assert!(
            out.status.success(),
            "convert {target}: {}",
            text(&out.stderr)
        );
        let (len, warnings) = stored_length(&o, &e.key);
        assert_eq!(len, e.length, "convert to {target}");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }

    // merge: with an empty dump (a copy), and for RDB 11 (re-encoded).
    let empty = servers::repo().join("tests/fixtures/redis-6.2/empty.rdb");
    for target in [None, Some("11")] {
        let o = dir.join(&format!("merged-{}.rdb", target.unwrap_or("same")));
        let mut args = vec![
            "merge",
            p,
            empty.to_str().unwrap(),
            "-o",
            o.to_str().unwrap(),
            "--keep-dbs",
        ];
        if let Some(t) = target {
            args.extend(["--target", t]);
        }
        let out = rdbkit(&args);
        let err = text(&out.stderr);
        assert!(out.status.success(), "merge {target:?}: {err}");
        assert!(
            err.lines()
                .any(|l| l.contains("warning:") && l.contains("stream length")),
            "the merge summary lists the input's warning: {err}"
        );
        let (len, _) = stored_length(&o, &e.key);
        assert_eq!(len, e.length, "merge {target:?}");
    }
}

/// Loads `file` in `srv` (with `config`) and returns the keys in all
/// databases and `XLEN` of the stream (times 10^6, plus the entries
/// `XRANGE` returns).
fn load(
    srv: &servers::ServerInfo,
    file: &[u8],
    e: &Edited,
    config: &[(&str, &str)],
) -> Result<(i64, i64), String> {
    let dir = TempDir::new("stream-length-srv");
    std::fs::write(dir.join("dump.rdb"), file).unwrap();
    let mut s = Server::start(srv, dir.path(), "dump.rdb", config)?;
    let n = s.keyspace()?.values().map(|(k, _)| *k as i64).sum();
    let key = e.key.as_str();
    s.cmd(&["SELECT", &e.db.to_string()]);
    let len = s.cmd(&["XLEN", key]).int();
    // The server can read the stream: XRANGE returns the real entries.
    let all = s.cmd(&["XRANGE", key, "-", "+"]).array().len() as i64;
    s.stop();
    Ok((n, len * 1_000_000 + all))
}

#[test]
fn redis_7_0_loads_it_with_and_without_sanitize() {
    let test = "redis_7_0_loads_it_with_and_without_sanitize";
    let Some(srv) = server(test, "redis-7.0") else {
        return;
    };
    for delta in [2, -1] {
        let e = edited(delta);
        server_accepts(&srv, &e);
        // redis-check-rdb (deep checks) agrees.
        let dir = TempDir::new("stream-length-chk");
        let path = dir.join("edited.rdb");
        std::fs::write(&path, &e.file).unwrap();
        match check_rdb(&srv, &path) {
            Ok(c) => {
                assert!(c.ok, "{}", c.output);
                assert_eq!(c.keys, Some(e.keys));
            }
            Err(why) => eprintln!("{test}: check-rdb skipped: {why}"),
        }
        // What convert writes for Redis 7.0 loads with the stored length.
        let out_path = dir.join("conv.rdb");
        let out = rdbkit(&[
            "convert",
            path.to_str().unwrap(),
            "-o",
            out_path.to_str().unwrap(),
            "--target",
            "redis-7.0",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let conv = std::fs::read(&out_path).unwrap();
        let (n, xlen) = load(&srv, &conv, &e, &[("sanitize-dump-payload", "yes")])
            .unwrap_or_else(|why| panic!("{} refused the converted file: {why}", srv.name));
        assert_eq!(n as u64, e.keys);
        assert_eq!(xlen, e.length as i64 * 1_000_000 + e.entries as i64);
    }
}

/// `srv` loads the edited file, with `sanitize-dump-payload yes` too where
/// the server has it (6.2+), and keeps the stored length.
fn server_accepts(srv: &servers::ServerInfo, e: &Edited) {
    let mut configs = vec![vec![]];
    if srv.is_valkey() || srv.vt() >= (6, 2) {
        configs.push(vec![("sanitize-dump-payload", "yes")]);
    }
    for config in configs {
        let (n, xlen) = load(srv, &e.file, e, &config)
            .unwrap_or_else(|why| panic!("{} refused it ({config:?}): {why}", srv.name));
        assert_eq!(n as u64, e.keys, "{}: keys ({config:?})", srv.name);
        assert_eq!(
            xlen,
            e.length as i64 * 1_000_000 + e.entries as i64,
            "{}: XLEN is the stored length, XRANGE the entries ({config:?})",
            srv.name
        );
    }
}

/// Servers that refuse a stream whose length differs from its nodes'
/// live counts, even without `sanitize-dump-payload`: Valkey 9.1+ (the
/// 2026 stream-loading hardening, "Stream length inconsistent with the
/// number of valid entries"). Every earlier release loads it.
fn refuses_length_mismatch(srv: &servers::ServerInfo) -> bool {
    srv.is_valkey() && srv.vt() >= (9, 1)
}

/// Every registered server that reads RDB 9 (Redis 6.0-7.4, Valkey 8.1)
/// loads it, with the stored length; Valkey 9.1 refuses it, which is why
/// the warning names it.
#[test]
fn every_server_loads_it_but_valkey_9_1() {
    let test = "every_server_loads_it_but_valkey_9_1";
    let Some(reg) = servers::registry(test) else {
        return;
    };
    let e = edited(2);
    let header = rdbkit::format::Header::parse(&e.file).unwrap();
    let mut tried = Vec::new();
    for srv in reg
        .iter()
        .filter(|s| s.can_load(header) && s.module_args.is_empty())
    {
        if refuses_length_mismatch(srv) {
            let why = load(srv, &e.file, &e, &[]).expect_err("refused");
            assert!(why.contains("Stream length inconsistent"), "{why}");
        } else {
            server_accepts(srv, &e);
        }
        tried.push(srv.name.clone());
    }
    eprintln!("{test}: tried {tried:?}");
    assert!(!tried.is_empty());
}
