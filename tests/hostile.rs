//! Hostile inputs: length fields and counts that lie, LZF streams that claim
//! more output than they can produce, and pathological sizes. Every case
//! must end in a clean error (or, where the input is valid, the right
//! result), in linear time, with the heap bounded by 64 MiB + 4 x the input
//! size. Heap use is measured with a counting global allocator.
//!
//! Files are built by hand with a small writer that records where every
//! `LEN` field is, so each one can be replaced with 2^32-1, 2^32, 2^63 and
//! u64::MAX.

#[path = "common/alloc.rs"]
mod alloc;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

use std::time::{Duration, Instant};

use rdbkit::decode::{decode_payload, Decoder, Item, Level, Options};
use rdbkit::encode::{BlobElem, ListpackBuilder, OwnedValue};
use rdbkit::format::crc::crc64;
use rdbkit::format::{lzf, ModuleId};
use rdbkit::stats::inspect;
use rdbkit::{ErrorKind, Limits};

const MIB: usize = 1 << 20;

/// The heap budget for decoding `n` bytes of hostile input.
fn budget(n: usize) -> usize {
    64 * MIB + 4 * n
}

fn opts(level: Level) -> Options {
    Options {
        level,
        verify_checksum: false,
        ..Options::default()
    }
}

const LEVELS: [Level; 3] = [Level::Skip, Level::Full, Level::Deep];

// ---------------------------------------------------------------------------
// A file writer that remembers its length fields.

/// One `LEN` field of a built file.
#[derive(Debug, Clone, Copy)]
struct LenField {
    at: usize,
    width: usize,
    what: &'static str,
    /// A size, count or enumerated code: a huge value must be an error.
    /// (Unbounded fields, such as ids, times or db numbers, may decode.)
    bounded: bool,
}

fn enc_len(n: u64) -> Vec<u8> {
    if n < 64 {
        vec![n as u8]
    } else if n < 16384 {
        vec![0x40 | (n >> 8) as u8, n as u8]
    } else if n <= u64::from(u32::MAX) {
        let mut v = vec![0x80];
        v.extend_from_slice(&(n as u32).to_be_bytes());
        v
    } else {
        let mut v = vec![0x81];
        v.extend_from_slice(&n.to_be_bytes());
        v
    }
}

struct B {
    out: Vec<u8>,
    lens: Vec<LenField>,
}

impl B {
    fn new(magic: &[u8; 9]) -> B {
        B {
            out: magic.to_vec(),
            lens: Vec::new(),
        }
    }
    fn byte(&mut self, b: u8) -> &mut Self {
        self.out.push(b);
        self
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.out.extend_from_slice(b);
        self
    }
    fn len(&mut self, n: u64, what: &'static str, bounded: bool) -> &mut Self {
        let e = enc_len(n);
        self.lens.push(LenField {
            at: self.out.len(),
            width: e.len(),
            what,
            bounded,
        });
        self.out.extend_from_slice(&e);
        self
    }
    /// A count or size field (bounded).
    fn n(&mut self, n: u64, what: &'static str) -> &mut Self {
        self.len(n, what, true)
    }
    /// An id, time or other free number (unbounded).
    fn free(&mut self, n: u64, what: &'static str) -> &mut Self {
        self.len(n, what, false)
    }
    /// A raw `STR`.
    fn s(&mut self, s: &[u8]) -> &mut Self {
        self.n(s.len() as u64, "string length");
        self.bytes(s)
    }
    /// An LZF `STR` (the data must compress).
    fn lzf(&mut self, s: &[u8]) -> &mut Self {
        let c = lzf::compress(s).expect("test data compresses");
        self.byte(0xC3);
        self.n(c.len() as u64, "lzf compressed length");
        self.n(s.len() as u64, "lzf uncompressed length");
        self.bytes(&c)
    }
    /// A key record header: type byte and raw key.
    fn key(&mut self, ty: u8, k: &[u8]) -> &mut Self {
        self.byte(ty);
        self.s(k)
    }
    fn finish(&mut self) -> (Vec<u8>, Vec<LenField>) {
        let mut f = std::mem::take(&mut self.out);
        f.push(0xFF);
        f.extend_from_slice(&[0; 8]);
        fix_crc(&mut f);
        (f, std::mem::take(&mut self.lens))
    }
}

/// Rewrites the trailing CRC-64 of a file that ends with EOF + CRC.
fn fix_crc(f: &mut [u8]) {
    let n = f.len();
    let c = crc64(&f[..n - 8]);
    f[n - 8..].copy_from_slice(&c.to_le_bytes());
}

fn lp(elems: &[BlobElem<'_>]) -> Vec<u8> {
    let mut b = ListpackBuilder::new();
    for e in elems {
        b.push(*e);
    }
    b.finish()
}

fn by(s: &str) -> BlobElem<'_> {
    BlobElem::Bytes(s.as_bytes())
}

/// A ziplist of short strings (< 64 bytes each), built by hand.
fn ziplist(items: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut prev = 0usize;
    let mut tail = 10;
    for it in items {
        tail = 10 + body.len();
        let start = body.len();
        body.push(prev as u8);
        body.push(it.len() as u8);
        body.extend_from_slice(it);
        prev = body.len() - start;
    }
    let mut z = Vec::new();
    let total = 10 + body.len() + 1;
    z.extend_from_slice(&(total as u32).to_le_bytes());
    z.extend_from_slice(&(tail as u32).to_le_bytes());
    z.extend_from_slice(&(items.len() as u16).to_le_bytes());
    z.extend_from_slice(&body);
    z.push(0xFF);
    z
}

fn intset16(v: &[i16]) -> Vec<u8> {
    let mut out = vec![2, 0, 0, 0];
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

fn stream_id(ms: u64, seq: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&ms.to_be_bytes());
    b[8..].copy_from_slice(&seq.to_be_bytes());
    b
}

/// A stream node listpack with `n` entries of one field "f" = "v<i>",
/// ids `ms`-`0..n` relative to the master id `ms`-0.
fn stream_node(n: usize) -> Vec<u8> {
    let mut b = ListpackBuilder::new();
    for e in [BlobElem::Int(n as i64), BlobElem::Int(0), BlobElem::Int(1)] {
        b.push(e);
    }
    b.push(by("f"));
    b.push(BlobElem::Int(0));
    for i in 0..n {
        b.push(BlobElem::Int(2)); // SAMEFIELDS
        b.push(BlobElem::Int(0));
        b.push(BlobElem::Int(i as i64));
        b.push(BlobElem::Bytes(format!("v{i}").as_bytes()));
        b.push(BlobElem::Int(4));
    }
    b.finish()
}

// ---------------------------------------------------------------------------
// The valid files whose length fields are attacked.

/// Aux, function, db selection, strings (raw, LZF), expiry, idle, module
/// aux and a module value (RDB 11).
fn file_misc() -> (Vec<u8>, Vec<LenField>) {
    let mut b = B::new(b"REDIS0011");
    b.byte(0xFA).s(b"redis-ver").s(b"7.2.0");
    b.byte(0xF5)
        .s(b"#!lua name=lib\nredis.register_function('f', function() return 1 end)");
    let id = ModuleId::from_name("testmodul", 1).unwrap().0;
    b.byte(0xF7).free(id, "module id");
    // Redis hands 'when' to the module unchecked (a warning when not 1 or 2).
    b.n(2, "module aux when opcode").free(2, "module aux when");
    b.n(5, "module sub-opcode").s(b"aux-data");
    b.n(0, "module eof");
    b.byte(0xFE).free(0, "db number");
    b.byte(0xFB)
        .free(4, "resizedb keys")
        .free(1, "resizedb expires");
    b.byte(0xFC).bytes(&4_000_000_000_000i64.to_le_bytes());
    b.key(0, b"s1").s(b"hello");
    b.byte(0xF8).free(100, "idle");
    b.key(0, b"s2")
        .lzf(b"abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabc");
    b.key(0, b"s3").byte(0xC1).bytes(&300i16.to_le_bytes());
    b.key(7, b"m").free(id, "module id");
    b.n(2, "module sub-opcode").free(7, "module uint");
    b.n(5, "module sub-opcode").s(b"payload");
    b.n(4, "module sub-opcode").bytes(&1.5f64.to_le_bytes());
    b.n(0, "module eof");
    b.finish()
}

/// Every list, set, sorted set and hash encoding (RDB 11).
fn file_collections() -> (Vec<u8>, Vec<LenField>) {
    let mut b = B::new(b"REDIS0011");
    b.byte(0xFE).free(0, "db number");
    b.key(1, b"list").n(3, "list length");
    b.s(b"a").s(b"b").lzf(&[b'x'; 40]);
    b.key(2, b"set").n(2, "set size").s(b"m1").s(b"m2");
    b.key(3, b"zset-text").n(2, "zset size");
    b.s(b"m1").bytes(b"\x031.5").s(b"m2").byte(254);
    b.key(5, b"zset-bin").n(2, "zset size");
    b.s(b"m1").bytes(&1.5f64.to_le_bytes());
    b.s(b"m2").bytes(&(-2.0f64).to_le_bytes());
    b.key(4, b"hash").n(2, "hash size");
    b.s(b"f1").s(b"v1").s(b"f2").lzf(&[b'y'; 50]);
    b.key(18, b"quicklist2").n(2, "quicklist node count");
    b.n(2, "quicklist container")
        .s(&lp(&[by("a"), by("b"), BlobElem::Int(7)]));
    b.n(1, "quicklist container").s(b"a plain node");
    b.key(14, b"quicklist1").n(1, "quicklist node count");
    b.s(&ziplist(&[b"a", b"bb"]));
    b.key(10, b"ziplist-list").s(&ziplist(&[b"x", b"y", b"z"]));
    b.key(16, b"hash-lp")
        .s(&lp(&[by("f1"), by("v1"), by("f2"), by("v2")]));
    let big: Vec<BlobElem<'_>> = (0..40).flat_map(|_| [by("field"), by("value")]).collect();
    let mut big = big;
    // Distinct fields so that the deep duplicate check passes.
    let names: Vec<String> = (0..40).map(|i| format!("field{i}")).collect();
    for (i, n) in names.iter().enumerate() {
        big[2 * i] = BlobElem::Bytes(n.as_bytes());
    }
    b.key(16, b"hash-lp-lzf").lzf(&lp(&big));
    b.key(17, b"zset-lp")
        .s(&lp(&[by("m1"), BlobElem::Int(1), by("m2"), by("2.5")]));
    b.key(20, b"set-lp")
        .s(&lp(&[by("a"), by("b"), BlobElem::Int(-5)]));
    b.key(11, b"intset").s(&intset16(&[1, 2, 300]));
    b.key(13, b"hash-zl").s(&ziplist(&[b"f", b"v", b"g", b"w"]));
    b.key(12, b"zset-zl").s(&ziplist(&[b"m", b"1", b"n", b"2"]));
    b.key(9, b"zipmap").s(&[1, 1, b'k', 1, 0, b'v', 0xFF]);
    b.finish()
}

/// A stream (type 21, v3) with a group, a PEL entry and a consumer.
fn file_stream() -> (Vec<u8>, Vec<LenField>) {
    let mut b = B::new(b"REDIS0011");
    b.key(21, b"stream").n(1, "stream node count");
    b.s(&stream_id(1000, 0)).s(&stream_node(2));
    // Redis keeps any stored length (a warning when it differs from the entries).
    b.free(2, "stream length");
    b.free(1000, "last id ms").free(1, "last id seq");
    b.free(1000, "first id ms").free(0, "first id seq");
    b.free(0, "max deleted ms").free(0, "max deleted seq");
    b.free(2, "entries added");
    b.n(1, "group count").s(b"group");
    b.free(1000, "group last id ms")
        .free(0, "group last id seq");
    b.free(1, "entries read");
    b.n(1, "group PEL size").bytes(&stream_id(1000, 0));
    b.bytes(&5i64.to_le_bytes()).free(1, "delivery count");
    b.n(1, "consumer count").s(b"alice");
    b.bytes(&5i64.to_le_bytes()).bytes(&6i64.to_le_bytes());
    b.n(1, "consumer PEL size").bytes(&stream_id(1000, 0));
    b.finish()
}

/// RDB 14: key metadata, an array, a hash with field TTLs (type 24) and a
/// stream v5 with a NACK zone and IDMP state.
fn file_v14() -> (Vec<u8>, Vec<LenField>) {
    let mut b = B::new(b"REDIS0014");
    b.byte(0xF3)
        .n(1, "key meta class count")
        .bytes(&1u32.to_le_bytes());
    b.n(2, "module sub-opcode")
        .free(5, "module uint")
        .n(0, "module eof");
    b.key(0, b"with-meta").s(b"v");
    b.key(28, b"array")
        .n(2, "array length")
        .n(1, "insert index flag");
    b.free(5, "insert index");
    b.free(0, "array index").n(3, "array tag").s(b"ab");
    b.free(7, "array index")
        .n(1, "array tag")
        .bytes(&9i64.to_le_bytes());
    let min = 1_700_000_000_000u64;
    b.key(24, b"hash-ttl")
        .bytes(&min.to_le_bytes())
        .n(2, "hash size");
    b.free(1, "field ttl").s(b"f1").s(b"v1");
    b.free(0, "field ttl").s(b"f2").s(b"v2");
    b.key(27, b"stream5").n(1, "stream node count");
    b.s(&stream_id(1000, 0)).s(&stream_node(2));
    // Redis keeps any stored length (a warning when it differs from the entries).
    b.free(2, "stream length");
    b.free(1000, "last id ms").free(1, "last id seq");
    b.free(1000, "first id ms").free(0, "first id seq");
    b.free(0, "max deleted ms").free(0, "max deleted seq");
    b.free(2, "entries added");
    b.n(1, "group count").s(b"group");
    b.free(1000, "group last id ms")
        .free(1, "group last id seq");
    b.free(2, "entries read");
    b.n(2, "group PEL size");
    for seq in 0..2 {
        b.bytes(&stream_id(1000, seq));
        b.bytes(&5i64.to_le_bytes()).free(1, "delivery count");
    }
    b.n(1, "consumer count").s(b"alice");
    b.bytes(&5i64.to_le_bytes()).bytes(&6i64.to_le_bytes());
    b.n(1, "consumer PEL size").bytes(&stream_id(1000, 0));
    b.n(1, "NACK zone size").bytes(&stream_id(1000, 1));
    b.n(100, "IDMP duration").n(100, "IDMP max entries");
    b.n(1, "IDMP producer count").s(b"producer");
    b.n(1, "IDMP entry count")
        .s(b"iid")
        .free(1000, "iid ms")
        .free(0, "iid seq");
    b.free(1, "iids added").free(0, "iids duplicates");
    b.finish()
}

/// Valkey 9 (RDB 80): a hash with field TTLs (type 22) and a slot import.
fn file_valkey() -> (Vec<u8>, Vec<LenField>) {
    let mut b = B::new(b"VALKEY080");
    b.byte(0xF3).s(&[b'j'; 40]).n(1, "slot range count");
    b.free(0, "slot range start").free(100, "slot range end");
    b.key(22, b"hash2").n(2, "hash size");
    b.s(b"f1")
        .s(b"v1")
        .bytes(&1_700_000_000_000i64.to_le_bytes());
    b.s(b"f2").s(b"v2").bytes(&(-1i64).to_le_bytes());
    b.finish()
}

type Builder = fn() -> (Vec<u8>, Vec<LenField>);
const FILES: [(&str, Builder); 5] = [
    ("misc", file_misc),
    ("collections", file_collections),
    ("stream", file_stream),
    ("v14", file_v14),
    ("valkey", file_valkey),
];

/// Decodes `file` at every level through `inspect` and, where that
/// succeeds, materialises every value; checks the heap budget. Returns
/// whether each level accepted the file.
fn decode_all(file: &[u8], what: &str) -> [bool; 3] {
    let mut ok = [false; 3];
    for (i, level) in LEVELS.into_iter().enumerate() {
        let (r, usage) = alloc::measure(|| {
            let r = inspect(file, opts(level), 0).map(|r| r.keys());
            if r.is_ok() && level != Level::Skip {
                for item in Decoder::new(file, opts(level)).unwrap() {
                    if let Ok(Item::Key(k)) = item {
                        let _ = OwnedValue::from_value(&k.value);
                    }
                }
            }
            r
        });
        assert!(
            usage.peak_bytes < budget(file.len()),
            "{what} at {level:?}: peak heap {} bytes for {} input bytes",
            usage.peak_bytes,
            file.len()
        );
        ok[i] = r.is_ok();
    }
    ok
}

#[test]
fn built_files_are_valid() {
    for (name, build) in FILES {
        let (f, lens) = build();
        let strict = Options {
            level: Level::Deep,
            ..Options::default()
        };
        if let Err(e) = inspect(&f, strict, 0) {
            panic!("{name}: {e}");
        }
        assert!(!lens.is_empty());
    }
}

/// Every length field set to 2^32-1, 2^32, 2^63 and u64::MAX: an error for
/// every size, count or code, never a panic, always within the heap budget.
#[test]
fn every_length_field_set_huge() {
    let mut cases = 0;
    for (name, build) in FILES {
        let (f, lens) = build();
        for l in &lens {
            for v in [u64::from(u32::MAX), 1 << 32, 1 << 63, u64::MAX] {
                let mut m = f[..l.at].to_vec();
                m.extend_from_slice(&enc_len(v));
                m.extend_from_slice(&f[l.at + l.width..]);
                fix_crc(&mut m);
                let what = format!("{name}: {} at {} = {v}", l.what, l.at);
                let ok = decode_all(&m, &what);
                if l.bounded {
                    assert_eq!(ok[1..], [false, false], "{what} was accepted");
                }
                // With the CRC checked as well (it was fixed up).
                let r = inspect(&m, Options::default(), 0);
                assert!(!(l.bounded && r.is_ok()), "{what} was accepted with CRC");
                cases += 1;
            }
        }
    }
    assert!(cases > 300, "{cases} cases");
}

/// The same attack through the DUMP payload decoder: every length field
/// inside a value's bytes, replaced in the payload of that value.
#[test]
fn every_length_field_set_huge_in_payloads() {
    for (name, build) in FILES {
        let (f, lens) = build();
        let dec = Decoder::new(&f, opts(Level::Full)).unwrap();
        let version = dec.header().version as u16;
        for item in dec {
            let Item::Key(k) = item.unwrap() else {
                continue;
            };
            let (vs, ve) = (k.value.offset(), k.value.offset() + k.value.raw().len());
            for l in lens.iter().filter(|l| l.at >= vs && l.at < ve) {
                for v in [1u64 << 32, u64::MAX] {
                    let mut p = vec![k.value.rdb_type()];
                    p.extend_from_slice(&f[vs..l.at]);
                    p.extend_from_slice(&enc_len(v));
                    p.extend_from_slice(&f[l.at + l.width..ve]);
                    p.extend_from_slice(&version.to_le_bytes());
                    p.extend_from_slice(&crc64(&p).to_le_bytes());
                    for level in LEVELS {
                        let (r, u) = alloc::measure(|| {
                            decode_payload(&p, opts(level))
                                .map(|d| OwnedValue::from_value(&d.value).is_ok())
                        });
                        assert!(u.peak_bytes < budget(p.len()));
                        if l.bounded && level != Level::Skip {
                            assert!(r.is_err(), "{name}: payload {} = {v} accepted", l.what);
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Blob header counts that promise more than the blob holds.

#[test]
fn blob_counts_that_lie() {
    let lp3 = lp(&[by("a"), by("b"), by("c")]);
    let zl3 = ziplist(&[b"a", b"b", b"c"]);
    let is3 = intset16(&[1, 2, 3]);
    let mut cases: Vec<(u8, Vec<u8>)> = Vec::new();
    for c in [4u16, 1000, 65534] {
        let mut l = lp3.clone();
        l[4..6].copy_from_slice(&c.to_le_bytes());
        cases.push((20, l));
        let mut z = zl3.clone();
        z[8..10].copy_from_slice(&c.to_le_bytes());
        cases.push((10, z));
    }
    for c in [4u32, 1 << 20, u32::MAX] {
        let mut i = is3.clone();
        i[4..8].copy_from_slice(&c.to_le_bytes());
        cases.push((11, i));
    }
    // Zipmap count byte 3 pairs, holding one.
    cases.push((9, vec![3, 1, b'k', 1, 0, b'v', 0xFF]));
    // Listpack / ziplist total-bytes fields beyond the blob.
    let mut l = lp3.clone();
    l[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    cases.push((20, l));
    let mut z = zl3.clone();
    z[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    cases.push((10, z));
    for (ty, blob) in cases {
        let mut b = B::new(b"REDIS0011");
        b.key(ty, b"k").s(&blob);
        let (f, _) = b.finish();
        let ok = decode_all(&f, &format!("type {ty} blob {blob:?}"));
        assert_eq!(ok[1..], [false, false], "type {ty} blob {blob:?} accepted");
    }
}

// ---------------------------------------------------------------------------
// LZF streams that claim more output than they hold.

/// A file holding one value whose LZF stream is `data` with claimed
/// length `ulen`, in the position `place` says.
fn lzf_file(place: &str, data: &[u8], ulen: u64) -> Vec<u8> {
    let mut b = B::new(b"REDIS0011");
    let lzf_str = |b: &mut B| {
        b.byte(0xC3)
            .n(data.len() as u64, "clen")
            .n(ulen, "ulen")
            .bytes(data);
    };
    match place {
        "string value" => {
            b.key(0, b"k");
            lzf_str(&mut b);
        }
        "key" => {
            b.byte(0);
            lzf_str(&mut b);
            b.s(b"v");
        }
        "aux value" => {
            b.byte(0xFA).s(b"k");
            lzf_str(&mut b);
        }
        "set member" => {
            b.key(2, b"k").n(1, "n");
            lzf_str(&mut b);
        }
        "listpack" => {
            b.key(20, b"k");
            lzf_str(&mut b);
        }
        "quicklist node" => {
            b.key(18, b"k").n(1, "nodes").n(2, "container");
            lzf_str(&mut b);
        }
        "stream node" => {
            b.key(21, b"k").n(1, "nodes").s(&stream_id(1, 0));
            lzf_str(&mut b);
            b.n(1, "len").n(1, "ms").n(0, "seq").n(1, "ms").n(0, "seq");
            b.n(0, "ms").n(0, "seq").n(1, "added").n(0, "groups");
        }
        _ => unreachable!(),
    }
    b.finish().0
}

const PLACES: [&str; 7] = [
    "string value",
    "key",
    "aux value",
    "set member",
    "listpack",
    "quicklist node",
    "stream node",
];

/// Junk that is a well-formed start of an LZF stream and then runs out:
/// literal runs of 32 bytes (33 input bytes each).
fn lzf_junk(n: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(n);
    while v.len() + 33 <= n {
        v.push(31);
        v.extend_from_slice(&[b'z'; 32]);
    }
    v.resize(n, 0);
    v
}

#[test]
fn lzf_claims_beyond_the_input() {
    let max = Limits::default().max_string_len;
    for place in PLACES {
        for (clen, ulen) in [
            (10u64, 1u64 << 32),
            (10, 1 << 63),
            (10, u64::MAX),
            (10, 88 * 10 + 1),
            (10, max + 1),
            (10, 88 * 10),
            (100_000, 88 * 100_000),
            (1 << 20, 88 << 20),
        ] {
            let f = lzf_file(place, &lzf_junk(clen as usize), ulen);
            let what = format!("LZF in a {place}: {clen} bytes claiming {ulen}");
            let ok = decode_all(&f, &what);
            assert_eq!(ok[1..], [false, false], "{what} accepted");
            // Materialising at Skip (which does not open LZF) is where an
            // eager allocation of the claimed length would happen.
            let (_, u) = alloc::measure(|| {
                for item in Decoder::new(&f, opts(Level::Skip)).unwrap() {
                    match item {
                        Ok(Item::Key(k)) => {
                            let _ = k.key.to_bytes();
                            let _ = OwnedValue::from_value(&k.value);
                        }
                        Ok(Item::Aux { value, .. }) => {
                            let _ = value.to_bytes();
                        }
                        _ => {}
                    }
                }
            });
            assert!(
                u.peak_bytes < budget(f.len()),
                "{what}: {} bytes of heap at Skip",
                u.peak_bytes
            );
        }
    }
}

/// A valid, highly compressible value decodes, and lower limits reject it.
#[test]
fn lzf_limit_is_configurable() {
    let data = vec![b'q'; 100_000];
    for place in PLACES {
        if place == "stream node" {
            continue;
        }
        let (payload, ulen) = match place {
            "listpack" | "quicklist node" => {
                let blob = lp(&[BlobElem::Bytes(&data)]);
                (lzf::compress(&blob).unwrap(), blob.len() as u64)
            }
            _ => (lzf::compress(&data).unwrap(), data.len() as u64),
        };
        let f = lzf_file(place, &payload, ulen);
        assert!(inspect(&f, opts(Level::Deep), 0).is_ok(), "{place}");
        let mut o = opts(Level::Full);
        o.limits.max_string_len = ulen - 1;
        let e = inspect(&f, o, 0).unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::LimitExceeded { .. }),
            "{place}: {e}"
        );
        o.limits.max_string_len = ulen;
        assert!(inspect(&f, o, 0).is_ok(), "{place}");
    }
}

#[test]
fn collection_limit_is_configurable() {
    // A plain set, a listpack set and a quicklist of 10 elements.
    let mut b = B::new(b"REDIS0011");
    b.key(2, b"plain").n(10, "n");
    for i in 0..10 {
        b.s(format!("m{i}").as_bytes());
    }
    let (plain, _) = b.finish();
    let names: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    let elems: Vec<BlobElem<'_>> = names
        .iter()
        .map(|n| BlobElem::Bytes(n.as_bytes()))
        .collect();
    let mut b = B::new(b"REDIS0011");
    b.key(20, b"listpack").s(&lp(&elems));
    let (packed, _) = b.finish();
    let mut b = B::new(b"REDIS0011");
    b.key(18, b"quicklist").n(2, "nodes");
    b.n(2, "c")
        .s(&lp(&elems[..5]))
        .n(2, "c")
        .s(&lp(&elems[5..]));
    let (ql, _) = b.finish();
    let mut b = B::new(b"REDIS0011");
    b.key(16, b"hash").s(&lp(&elems));
    let (hash, _) = b.finish();
    for (name, f, entries) in [
        ("plain", &plain, 10),
        ("listpack", &packed, 10),
        ("quicklist", &ql, 10),
        ("hash", &hash, 5),
    ] {
        for level in [Level::Full, Level::Deep] {
            let mut o = opts(level);
            assert!(inspect(f, o, 0).is_ok(), "{name}");
            o.limits.max_collection_len = entries;
            assert!(inspect(f, o, 0).is_ok(), "{name} at the limit");
            o.limits.max_collection_len = entries - 1;
            let e = inspect(f, o, 0).unwrap_err();
            assert!(
                matches!(e.kind(), ErrorKind::LimitExceeded { .. }),
                "{name} at {level:?}: {e}"
            );
        }
    }
}

#[test]
fn default_limits_are_safe() {
    let l = Limits::default();
    assert_eq!(l.max_string_len, 512 << 20);
    assert!(l.max_collection_len <= 1 << 32);
}

// ---------------------------------------------------------------------------
// Pathological sizes.

#[test]
fn zero_length_blobs_are_errors() {
    for ty in [9u8, 10, 11, 12, 13, 16, 17, 20, 25] {
        let mut b = B::new(b"REDIS0012");
        b.key(ty, b"k");
        if ty == 25 {
            b.bytes(&0u64.to_le_bytes());
        }
        b.s(b"");
        let (f, _) = b.finish();
        let ok = decode_all(&f, &format!("empty blob of type {ty}"));
        assert_eq!(ok[1..], [false, false], "type {ty}");
    }
    for ty in [14u8, 18] {
        let mut b = B::new(b"REDIS0011");
        b.key(ty, b"k").n(2, "nodes");
        for _ in 0..2 {
            if ty == 18 {
                b.n(2, "container");
            }
            b.s(b"");
        }
        let (f, _) = b.finish();
        let ok = decode_all(&f, &format!("quicklist type {ty} of empty nodes"));
        assert_eq!(ok[1..], [false, false], "type {ty}");
    }
    // A zero-length string is a valid string.
    let mut b = B::new(b"REDIS0011");
    b.key(0, b"").s(b"");
    let (f, _) = b.finish();
    assert_eq!(decode_all(&f, "empty string"), [true; 3]);
}

/// A quicklist of `n` empty listpack nodes.
fn quicklist_of_empty_nodes(n: usize) -> Vec<u8> {
    let mut b = B::new(b"REDIS0011");
    b.key(18, b"k").n(n as u64, "nodes");
    let empty = ListpackBuilder::new().finish();
    for _ in 0..n {
        b.n(2, "container").s(&empty);
    }
    b.finish().0
}

#[test]
fn quicklist_of_many_empty_nodes() {
    let f = quicklist_of_empty_nodes(50_000);
    let ok = decode_all(&f, "quicklist of empty nodes");
    // Either refused, or an empty list.
    for (i, level) in LEVELS.into_iter().enumerate().skip(1) {
        if ok[i] {
            for item in Decoder::new(&f, opts(level)).unwrap() {
                if let Item::Key(k) = item.unwrap() {
                    assert_eq!(
                        OwnedValue::from_value(&k.value).unwrap(),
                        OwnedValue::List(vec![])
                    );
                }
            }
        }
    }
    assert_linear("quicklist of empty nodes", quicklist_of_empty_nodes, 20_000);
}

/// A listpack set of `n` distinct elements with header count `count`.
fn big_listpack_set(n: usize, count: Option<u16>) -> Vec<u8> {
    let mut b = ListpackBuilder::new();
    for i in 0..n {
        b.push(BlobElem::Bytes(format!("e{i}").as_bytes()));
    }
    let mut blob = b.finish();
    if let Some(c) = count {
        blob[4..6].copy_from_slice(&c.to_le_bytes());
    }
    let mut f = B::new(b"REDIS0011");
    f.key(20, b"k").s(&blob);
    f.finish().0
}

fn count_elems(f: &[u8], level: Level) -> rdbkit::Result<usize> {
    let mut n = 0;
    for item in Decoder::new(f, opts(level))? {
        if let Item::Key(k) = item? {
            let mut it = k.value.items()?;
            while it.next_elem()?.is_some() {
                n += 1;
            }
        }
    }
    Ok(n)
}

#[test]
fn listpacks_of_65535_elements_and_more() {
    for (n, count, want) in [
        (65_534, None, Some(65_534)),
        (65_535, None, Some(65_535)),
        (65_535, Some(65_535), Some(65_535)),
        (70_000, Some(65_535), Some(70_000)),
        (65_535, Some(65_534), None),
        (70_000, Some(70_000u32 as u16), None),
    ] {
        let f = big_listpack_set(n, count);
        for level in [Level::Full, Level::Deep] {
            assert!(
                inspect(&f, opts(level), 0).is_ok() == want.is_some(),
                "{n} {count:?}"
            );
            assert_eq!(
                count_elems(&f, level).ok(),
                want,
                "{n} {count:?} at {level:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Linear time: decoding 4n must cost about 4 times decoding n. Quadratic
// work would cost 16 times; the assertion allows 9 (plus a millisecond of
// noise), taking the fastest of several runs of each size.

fn time_deep(f: &[u8]) -> Duration {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            let r = inspect(f, opts(Level::Deep), 0);
            let d = t.elapsed();
            std::hint::black_box(r.map(|r| r.keys()).ok());
            d
        })
        .min()
        .unwrap()
}

/// Builds a file whose size grows with its argument.
type FileOfSize = fn(usize) -> Vec<u8>;

/// Sizes are chosen for debug builds; optimised builds are 10-30x faster,
/// so they use 8 times larger inputs to keep timings well above noise.
fn scaled(n: usize) -> usize {
    if cfg!(debug_assertions) {
        n
    } else {
        8 * n
    }
}

fn assert_linear(what: &str, build: FileOfSize, n: usize) {
    let n = scaled(n);
    let (small, big) = (build(n), build(4 * n));
    // Operation count: heap allocations are deterministic, so their ratio
    // is an exact check of the work done per element.
    let count = |f: &[u8]| alloc::measure(|| inspect(f, opts(Level::Deep), 0).is_ok()).1;
    let (a1, a4) = (count(&small).allocations, count(&big).allocations);
    assert!(
        a4 <= a1 * 9 + 64,
        "{what}: n={n} made {a1} allocations, 4n made {a4}"
    );
    // Time, with retries: other tests share the cores.
    let mut last = (Duration::ZERO, Duration::ZERO);
    for _ in 0..3 {
        let (t1, t4) = (time_deep(&small), time_deep(&big));
        if t4 <= t1 * 9 + Duration::from_millis(2) {
            return;
        }
        last = (t1, t4);
    }
    panic!("{what}: n={n} took {:?}, 4n took {:?}", last.0, last.1);
}

fn plain_set_of_tiny_lzf(n: usize) -> Vec<u8> {
    let mut b = B::new(b"REDIS0011");
    b.key(2, b"k").n(n as u64, "n");
    for i in 0..n as u64 {
        // Literal of 8 unique bytes, then an 8-byte back-reference: 16 bytes.
        b.byte(0xC3).n(11, "clen").n(16, "ulen");
        b.byte(7).bytes(&i.to_le_bytes()).bytes(&[0xC0, 7]);
    }
    b.finish().0
}

fn many_keys(n: usize) -> Vec<u8> {
    let mut b = B::new(b"REDIS0011");
    for i in 0..n {
        b.key(0, format!("key:{i}").as_bytes()).s(b"v");
    }
    b.finish().0
}

fn plain_hash(n: usize) -> Vec<u8> {
    let mut b = B::new(b"REDIS0011");
    b.key(4, b"k").n(n as u64, "n");
    for i in 0..n {
        b.s(format!("field:{i}").as_bytes()).s(b"v");
    }
    b.finish().0
}

fn plain_zset(n: usize) -> Vec<u8> {
    let mut b = B::new(b"REDIS0011");
    b.key(5, b"k").n(n as u64, "n");
    for i in 0..n {
        b.s(format!("m:{i}").as_bytes())
            .bytes(&(i as f64).to_le_bytes());
    }
    b.finish().0
}

fn long_listpack(n: usize) -> Vec<u8> {
    big_listpack_set(n, Some(65535))
}

fn quicklist_of_small_nodes(n: usize) -> Vec<u8> {
    let mut b = B::new(b"REDIS0011");
    b.key(18, b"k").n(n as u64, "nodes");
    for i in 0..n {
        b.n(2, "container")
            .s(&lp(&[BlobElem::Int(i as i64), by("x")]));
    }
    b.finish().0
}

/// A stream of `n` entries in nodes of 100, one group whose PEL holds every
/// entry, owned by 10 consumers in turn.
fn big_stream(n: usize) -> Vec<u8> {
    let nodes = n.div_ceil(100);
    let mut b = B::new(b"REDIS0011");
    b.key(21, b"k").n(nodes as u64, "nodes");
    for i in 0..nodes {
        // Each node: master id i*1000-0, entries seq 0..100.
        b.s(&stream_id(i as u64 * 1000 + 1, 0)).s(&stream_node(100));
    }
    let total = nodes as u64 * 100;
    b.n(total, "length");
    b.n(nodes as u64 * 1000, "ms").n(99, "seq");
    b.n(1, "ms")
        .n(0, "seq")
        .n(0, "ms")
        .n(0, "seq")
        .n(total, "added");
    b.n(1, "groups").s(b"g").n(0, "ms").n(0, "seq").n(0, "read");
    b.n(total, "pel");
    let ids: Vec<[u8; 16]> = (0..nodes)
        .flat_map(|i| (0..100).map(move |s| stream_id(i as u64 * 1000 + 1, s)))
        .collect();
    for id in &ids {
        b.bytes(id).bytes(&1i64.to_le_bytes()).n(1, "count");
    }
    b.n(10, "consumers");
    for c in 0..10 {
        b.s(format!("c{c}").as_bytes()).bytes(&[0; 16]);
        let mine: Vec<&[u8; 16]> = ids.iter().skip(c).step_by(10).collect();
        b.n(mine.len() as u64, "pel");
        for id in mine {
            b.bytes(id);
        }
    }
    b.finish().0
}

#[test]
fn decoding_time_is_linear() {
    let cases: [(&str, FileOfSize, usize); 8] = [
        ("set of tiny LZF members", plain_set_of_tiny_lzf, 20_000),
        ("many keys", many_keys, 20_000),
        ("plain hash", plain_hash, 20_000),
        ("plain zset", plain_zset, 20_000),
        ("long listpack", long_listpack, 20_000),
        ("quicklist of small nodes", quicklist_of_small_nodes, 10_000),
        ("stream with a big PEL", big_stream, 5_000),
        ("quicklist of empty nodes", quicklist_of_empty_nodes, 20_000),
    ];
    for (what, build, n) in cases {
        let f = build(n);
        let strict = Options {
            level: Level::Deep,
            ..Options::default()
        };
        if let Err(e) = inspect(&f, strict, 0) {
            assert!(what == "quicklist of empty nodes", "{what}: {e}");
        }
        let (_, u) = alloc::measure(|| inspect(&f, opts(Level::Deep), 0).map(|r| r.keys()));
        assert!(
            u.peak_bytes < budget(f.len()),
            "{what}: {} bytes",
            u.peak_bytes
        );
        assert_linear(what, build, n);
    }
}

/// A stream v5 (RDB 14) whose group PEL holds `n` entries, all in the
/// group's NACK zone (allowed: NACKed entries have no consumer).
fn stream_with_nacks(n: usize) -> Vec<u8> {
    let mut b = B::new(b"REDIS0014");
    b.key(27, b"k").n(1, "nodes");
    b.s(&stream_id(1, 0)).s(&stream_node(1));
    b.n(1, "length")
        .n(1, "ms")
        .n(0, "seq")
        .n(1, "ms")
        .n(0, "seq");
    b.n(0, "ms").n(0, "seq").n(1, "added");
    b.n(1, "groups").s(b"g").n(1, "ms").n(0, "seq").n(1, "read");
    b.n(n as u64, "pel");
    for i in 0..n as u64 {
        b.bytes(&stream_id(1, i))
            .bytes(&1i64.to_le_bytes())
            .n(1, "count");
    }
    b.n(0, "consumers").n(n as u64, "nack");
    for i in 0..n as u64 {
        b.bytes(&stream_id(1, i));
    }
    b.n(100, "duration").n(100, "max").n(0, "producers");
    b.n(0, "added").n(0, "dups");
    b.finish().0
}

/// Converting to an older target (which drops the NACK zone from the
/// group PEL) must be linear too.
#[test]
fn conversion_time_is_linear() {
    use rdbkit::encode::{AllowLoss, Losses, Target};
    let convert = |f: &[u8]| {
        let t = Instant::now();
        for item in Decoder::new(f, opts(Level::Full)).unwrap() {
            if let Item::Key(k) = item.unwrap() {
                let v = OwnedValue::from_value(&k.value).unwrap();
                let allow = AllowLoss {
                    field_ttls: true,
                    stream_metadata: true,
                };
                let r = v.encode(Target::redis(11), allow, &mut Losses::default());
                std::hint::black_box(r.unwrap());
            }
        }
        t.elapsed()
    };
    let n = scaled(3000);
    let (small, big) = (stream_with_nacks(n), stream_with_nacks(4 * n));
    assert!(inspect(&big, opts(Level::Deep), 0).is_ok());
    let mut last = (Duration::ZERO, Duration::ZERO);
    for _ in 0..3 {
        let t1 = (0..3).map(|_| convert(&small)).min().unwrap();
        let t4 = (0..3).map(|_| convert(&big)).min().unwrap();
        if t4 <= t1 * 9 + Duration::from_millis(2) {
            return;
        }
        last = (t1, t4);
    }
    panic!("n={n} took {:?}, 4n took {:?}", last.0, last.1);
}
