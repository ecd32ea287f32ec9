//! Encoder tests against bytes written by real servers: every key of every
//! fixture in `tests/fixtures/<server>/` (files saved by Redis 6.0 … 7.4,
//! redis-stack and Valkey 8.1 / 9.1) is decoded, re-encoded for the file's
//! own version with the server settings the fixture was made with, and the
//! result compared with the bytes the server wrote.
//!
//! Values whose layout depends on the order of past operations, not only
//! on the content, are compared where the layout is deterministic only:
//! streams with deleted entries (nodes rebuilt without the tombstones) and
//! a list trimmed down to two PLAIN nodes. Everything else must match
//! exactly once LZF-compressed strings are decompressed, and exactly byte
//! for byte except where the server LZF-compressed a list node in memory
//! (`list-compress-depth`), which a writer does not reproduce.

use std::path::{Path, PathBuf};

use super::*;
use crate::decode::{stream_version_of, Decoder, Item, Options, RdbStr, Reader};
use crate::format::{rdb_type as t, Header, Lineage};
use crate::Limits;

fn fixture_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = Vec::new();
    let Ok(dirs) = std::fs::read_dir(&root) else {
        return out;
    };
    for d in dirs.flatten() {
        let Ok(files) = std::fs::read_dir(d.path()) else {
            continue;
        };
        for f in files.flatten() {
            if f.path().extension().is_some_and(|e| e == "rdb") {
                out.push(f.path());
            }
        }
    }
    out.sort();
    out
}

/// The server settings a fixture was generated with (its `.meta.json`).
fn fixture_config(rdb: &Path) -> EncodeConfig {
    let mut cfg = EncodeConfig::default();
    let meta = rdb.with_extension("meta.json");
    let Ok(text) = std::fs::read_to_string(meta) else {
        return cfg;
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return cfg;
    };
    let get = |k: &str| v["config"][k].as_str().and_then(|s| s.parse::<i64>().ok());
    if let Some(n) = get("list-max-ziplist-size").or(get("list-max-listpack-size")) {
        cfg.list_max_listpack_size = n as i32;
    }
    if let Some(n) = get("stream-node-max-entries") {
        cfg.stream_node_max_entries = n as usize;
    }
    if let Some(n) = get("stream-node-max-bytes") {
        cfg.stream_node_max_bytes = n as usize;
    }
    cfg
}

/// One canonical piece of an encoded value.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A raw or LZF string (decompressed), with whether it was LZF.
    Str(Vec<u8>, bool),
    /// A string in an integer form.
    Int(i64),
    /// A length.
    Len(u64),
    /// Fixed-size bytes.
    Raw(Vec<u8>),
    /// Boundary between a stream's nodes and its metadata.
    Mark,
}

struct Canon<'a> {
    r: Reader<'a>,
    out: Vec<Tok>,
    /// Treat LZF strings as raw (list nodes compressed in memory).
    ignore_lzf: bool,
}

type R<T> = crate::Result<T>;

impl Canon<'_> {
    fn len(&mut self) -> R<u64> {
        let n = self.r.length("len")?;
        self.out.push(Tok::Len(n));
        Ok(n)
    }
    fn str(&mut self) -> R<()> {
        let s = RdbStr::read(&mut self.r, &Limits::default(), "str")?;
        self.out.push(match s {
            RdbStr::Int(i) => Tok::Int(i),
            RdbStr::Raw(b) => Tok::Str(b.to_vec(), false),
            RdbStr::Lzf { .. } => Tok::Str(s.to_bytes()?.into_owned(), !self.ignore_lzf),
        });
        Ok(())
    }
    fn raw(&mut self, n: u64) -> R<()> {
        let b = self.r.take(n, "raw")?;
        self.out.push(Tok::Raw(b.to_vec()));
        Ok(())
    }
    fn id(&mut self) -> R<()> {
        self.len()?;
        self.len().map(|_| ())
    }
}

/// Splits an encoded value into tokens (see [`Tok`]).
fn canon(ty: u8, lineage: Lineage, bytes: &[u8], skip_min_expire: bool) -> R<Vec<Tok>> {
    let mut c = Canon {
        r: Reader::new(bytes),
        out: Vec::new(),
        ignore_lzf: matches!(ty, t::LIST_QUICKLIST | t::LIST_QUICKLIST_2),
    };
    match ty {
        t::STRING => c.str()?,
        t::LIST | t::SET => {
            for _ in 0..c.len()? {
                c.str()?;
            }
        }
        t::ZSET => {
            for _ in 0..c.len()? {
                c.str()?;
                let n = c.r.u8("dbl")?;
                let body = if n >= 253 { 0 } else { u64::from(n) };
                c.out.push(Tok::Len(u64::from(n)));
                c.raw(body)?;
            }
        }
        t::HASH => {
            for _ in 0..c.len()? {
                c.str()?;
                c.str()?;
            }
        }
        t::ZSET_2 => {
            for _ in 0..c.len()? {
                c.str()?;
                c.raw(8)?;
            }
        }
        t::MODULE_2 => {
            c.len()?;
            loop {
                match c.len()? {
                    0 => break,
                    1 | 2 => {
                        c.len()?;
                    }
                    3 => c.raw(4)?,
                    4 => c.raw(8)?,
                    5 => c.str()?,
                    o => panic!("module opcode {o}"),
                }
            }
        }
        t::HASH_ZIPMAP
        | t::LIST_ZIPLIST
        | t::SET_INTSET
        | t::ZSET_ZIPLIST
        | t::HASH_ZIPLIST
        | t::HASH_LISTPACK
        | t::ZSET_LISTPACK
        | t::SET_LISTPACK => c.str()?,
        t::LIST_QUICKLIST => {
            for _ in 0..c.len()? {
                c.str()?;
            }
        }
        t::LIST_QUICKLIST_2 => {
            for _ in 0..c.len()? {
                c.len()?;
                c.str()?;
            }
        }
        t::HASH_METADATA_PRE_GA_OR_HASH_2 if lineage == Lineage::Valkey => {
            for _ in 0..c.len()? {
                c.str()?;
                c.str()?;
                c.raw(8)?;
            }
        }
        t::HASH_METADATA => {
            c.raw(8)?;
            for _ in 0..c.len()? {
                c.len()?;
                c.str()?;
                c.str()?;
            }
        }
        t::HASH_LISTPACK_EX => {
            if skip_min_expire {
                c.r.take(8, "min")?;
            } else {
                c.raw(8)?;
            }
            c.str()?;
        }
        _ if crate::decode::Kind::of(ty, lineage) == Some(crate::decode::Kind::Stream) => {
            let ver = stream_version_of(ty);
            for _ in 0..c.len()? {
                c.str()?;
                c.str()?;
            }
            c.out.push(Tok::Mark);
            c.len()?;
            c.id()?;
            if ver >= 2 {
                c.id()?;
                c.id()?;
                c.len()?;
            }
            for _ in 0..c.len()? {
                c.str()?;
                c.id()?;
                if ver >= 2 {
                    c.len()?;
                }
                for _ in 0..c.len()? {
                    c.raw(16)?;
                    c.raw(8)?;
                    c.len()?;
                }
                for _ in 0..c.len()? {
                    c.str()?;
                    c.raw(8)?;
                    if ver >= 3 {
                        c.raw(8)?;
                    }
                    for _ in 0..c.len()? {
                        c.raw(16)?;
                    }
                }
                if ver >= 5 {
                    for _ in 0..c.len()? {
                        c.raw(16)?;
                    }
                }
            }
            if ver >= 4 {
                c.len()?;
                c.len()?;
                for _ in 0..c.len()? {
                    c.str()?;
                    for _ in 0..c.len()? {
                        c.str()?;
                        c.id()?;
                    }
                }
                c.len()?;
                c.len()?;
            }
        }
        other => panic!("no canonical walker for type {other}"),
    }
    assert!(c.r.is_empty(), "type {ty}: {} bytes left", c.r.remaining());
    Ok(c.out)
}

/// Keys whose layout depends on history, not content.
fn history_dependent(key: &[u8]) -> bool {
    // LTRIM removed the packed head node and left two PLAIN nodes.
    key == b"list:plain-only"
}

struct Stats {
    keys: usize,
    exact: usize,
    canon_only: usize,
    partial: usize,
}

#[test]
fn reencoding_matches_real_servers() {
    let files = fixture_files();
    if files.is_empty() {
        eprintln!("reencoding_matches_real_servers: SKIPPED: no fixtures");
        return;
    }
    let mut st = Stats {
        keys: 0,
        exact: 0,
        canon_only: 0,
        partial: 0,
    };
    let mut failures = Vec::new();
    for path in &files {
        let data = std::fs::read(path).unwrap();
        let header = Header::parse(&data).unwrap();
        let mut cfg = fixture_config(path);
        let mut valkey = false;
        for item in Decoder::new(&data, Options::default()).unwrap() {
            let item = item.unwrap();
            let k = match item {
                Item::Aux { key, .. } => {
                    valkey |= &*key.to_bytes().unwrap() == b"valkey-ver";
                    continue;
                }
                Item::Key(k) => k,
                _ => continue,
            };
            st.keys += 1;
            let key = k.key.to_bytes().unwrap().into_owned();
            let target = Target {
                lineage: header.lineage,
                version: header.version,
                valkey,
            };
            // Fixtures pushed their PLAIN-node lists with a 1 KB packed threshold.
            cfg.packed_threshold = if key.starts_with(b"list:plain") {
                1024
            } else {
                1 << 30
            };
            let v = OwnedValue::from_value(&k.value).unwrap();
            let (ty, bytes) = v
                .encode_with(target, &cfg, AllowLoss::default(), &mut Losses::default())
                .unwrap_or_else(|e| panic!("{}: {:?}: {e}", path.display(), key));
            let what = format!("{} {}", path.display(), String::from_utf8_lossy(&key));
            let orig = k.value.raw();
            if history_dependent(&key) {
                st.partial += 1;
                continue;
            }
            if ty != k.value.rdb_type() {
                failures.push(format!(
                    "{what}: type {ty}, server wrote {}",
                    k.value.rdb_type()
                ));
                continue;
            }
            if bytes == orig {
                st.exact += 1;
                continue;
            }
            let lin = header.lineage;
            let mut a = canon(ty, lin, orig, true).unwrap();
            let mut b = canon(ty, lin, &bytes, true).unwrap();
            let deleted = k.value.kind() == crate::decode::Kind::Stream && {
                let s = k.value.stream().unwrap();
                let mut e = s.entries().include_deleted(true);
                let mut any = false;
                while let Some(x) = e.next_entry().unwrap() {
                    any |= x.deleted;
                }
                any
            };
            if deleted {
                // Compare the metadata only (after the node list).
                let cut = |v: &mut Vec<Tok>| {
                    let m = v.iter().position(|t| *t == Tok::Mark).unwrap();
                    v.drain(..m);
                };
                cut(&mut a);
                cut(&mut b);
                st.partial += 1;
            } else {
                st.canon_only += 1;
            }
            if a != b {
                let i = a
                    .iter()
                    .zip(&b)
                    .position(|(x, y)| x != y)
                    .unwrap_or(a.len().min(b.len()));
                failures.push(format!(
                    "{what}: type {ty} differs at token {i}: server {:?} / ours {:?}",
                    a.get(i),
                    b.get(i)
                ));
            } else if !matches!(ty, t::LIST_QUICKLIST | t::LIST_QUICKLIST_2) && !deleted {
                failures.push(format!(
                    "{what}: type {ty}: same content but different bytes (LZF?)"
                ));
            }
        }
    }
    eprintln!(
        "re-encoded {} keys from {} fixtures: {} byte-identical, {} identical after LZF normalisation, {} partly compared",
        st.keys,
        files.len(),
        st.exact,
        st.canon_only,
        st.partial
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every LZF string a server wrote outside list nodes (rdbSaveRawString's
/// choice) is reproduced: same decision, same compressed bytes.
#[test]
fn lzf_strings_match_real_servers() {
    let mut checked = 0;
    for path in fixture_files() {
        let data = std::fs::read(&path).unwrap();
        let header = Header::parse(&data).unwrap();
        for item in Decoder::new(&data, Options::default()).unwrap() {
            let Item::Key(k) = item.unwrap() else {
                continue;
            };
            let ty = k.value.rdb_type();
            if matches!(ty, t::LIST_QUICKLIST | t::LIST_QUICKLIST_2 | t::MODULE_2) {
                continue;
            }
            let mut c = Canon {
                r: Reader::new(k.value.raw()),
                out: Vec::new(),
                ignore_lzf: false,
            };
            // Only values that are a single STR (strings and blobs).
            if !matches!(
                ty,
                t::STRING
                    | t::HASH_ZIPMAP
                    | t::LIST_ZIPLIST
                    | t::SET_INTSET
                    | t::ZSET_ZIPLIST
                    | t::HASH_ZIPLIST
                    | t::HASH_LISTPACK
                    | t::ZSET_LISTPACK
                    | t::SET_LISTPACK
            ) {
                continue;
            }
            c.str().unwrap();
            let Some(Tok::Str(plain, was_lzf)) = c.out.pop() else {
                continue;
            };
            let mut ours = Vec::new();
            write_blob(&mut ours, &plain, StrOpts::default());
            let ours_lzf = ours[0] == 0xC3;
            assert_eq!(
                was_lzf,
                ours_lzf,
                "{} {:?}: LZF decision differs ({} bytes)",
                path.display(),
                k.key,
                plain.len()
            );
            if was_lzf {
                assert_eq!(ours, k.value.raw(), "{}: LZF bytes differ", path.display());
                checked += 1;
            }
            let _ = header;
        }
    }
    eprintln!("{checked} LZF strings reproduced byte for byte");
}

#[test]
fn lzf_rule() {
    // Redis tries LZF above 20 bytes and keeps it when it saves 4+ bytes.
    let mut v = Vec::new();
    write_str(&mut v, &[b'a'; 20], StrOpts::default());
    assert_eq!(v[0], 20, "20 bytes are never compressed");
    v.clear();
    write_str(&mut v, &[b'a'; 21], StrOpts::default());
    assert_eq!(v[0], 0xC3);
    v.clear();
    let noise: Vec<u8> = (0..200u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    write_str(&mut v, &noise, StrOpts::default());
    assert_eq!(v[0], 0x40, "incompressible data stays raw (2-byte length)");
    // The saving threshold is liblzf's: compress into len - 4 bytes.
    let mut both = [0, 0];
    for n in 21..400 {
        let s: Vec<u8> = (0..n)
            .map(|i| if i % 7 == 0 { b'x' } else { (i as u8) | 0x80 })
            .collect();
        let mut o = Vec::new();
        write_str(&mut o, &s, StrOpts::default());
        let c = crate::format::lzf::compress_bounded(&s, n - 4);
        assert_eq!(o[0] == 0xC3, c.is_some(), "len {n}");
        if let Some(c) = c {
            assert!(c.len() + 4 <= n);
        }
        both[usize::from(o[0] == 0xC3)] += 1;
    }
    assert!(both[0] > 0 && both[1] > 0, "{both:?}");
}

#[test]
fn integer_strings() {
    let enc = |s: &[u8]| {
        let mut v = Vec::new();
        write_str(&mut v, s, StrOpts::default());
        v
    };
    assert_eq!(enc(b"0"), [0xC0, 0]);
    assert_eq!(enc(b"-128"), [0xC0, 0x80]);
    assert_eq!(enc(b"-129"), [0xC1, 0x7F, 0xFF]);
    assert_eq!(enc(b"2147483647"), [0xC2, 0xFF, 0xFF, 0xFF, 0x7F]);
    // Not canonical or not 32-bit: raw.
    for s in [
        &b"-0"[..],
        b"007",
        b"+1",
        b" 1",
        b"2147483648",
        b"9223372036854775808",
        b"",
    ] {
        assert_eq!(
            enc(s)[0] as usize,
            s.len(),
            "{:?}",
            String::from_utf8_lossy(s)
        );
    }
}
