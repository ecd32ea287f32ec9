//! Damaged copies of every fixture (tests/fixtures/**/*.rdb, examples/*.rdb):
//!
//! * truncated at every byte offset (a dense sample for files over 64 KiB):
//!   Level::Full and Level::Deep must give an error, never a panic or a hang;
//! * random single-byte changes and bit flips (seeded, a few thousand in
//!   all): with the CRC checked, always an error; with it disabled, an
//!   error or a success, never a panic. In Deep mode, a flip inside a
//!   listpack, ziplist or intset must be caught whenever it breaks the
//!   blob's structure (checked against an independent validator below);
//! * the CLI: a truncated file and a flipped byte give exit code 1 and a
//!   message.
//!
//! To keep this fast in debug builds, a cut or flip inside the file is
//! decoded from the start of the record it falls in (records before it are
//! byte-identical to the intact file, which is known to decode), and the
//! whole-file `inspect` path is run on a sample.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rdbkit::decode::{Decoder, Item, Level, Options, RdbStr, Reader};
use rdbkit::stats::inspect;
use rdbkit::Limits;

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rdb") {
                out.push(p);
            }
        }
    }
    walk(&root.join("tests/fixtures"), &mut paths);
    walk(&root.join("examples"), &mut paths);
    paths.sort();
    let files: Vec<(String, Vec<u8>)> = paths
        .into_iter()
        .map(|p| {
            let name = p.strip_prefix(&root).unwrap().display().to_string();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    assert!(files.len() >= 10, "fixtures not found");
    files
}

fn opts(level: Level, crc: bool) -> Options {
    Options {
        level,
        verify_checksum: crc,
        ..Options::default()
    }
}

/// Record boundaries of an intact file: (offset, db in force there).
fn boundaries(data: &[u8]) -> Vec<(usize, u64)> {
    let mut dec = Decoder::new(data, opts(Level::Skip, false)).unwrap();
    let mut out = Vec::new();
    let mut db = 0;
    loop {
        out.push((dec.offset(), db));
        match dec.next() {
            Some(Ok(Item::SelectDb(d))) => db = d,
            Some(Ok(Item::Eof { .. })) | None => break,
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("intact fixture does not decode: {e}"),
        }
    }
    out
}

/// The record containing offset `at`: (start, db).
fn record_of(b: &[(usize, u64)], at: usize) -> (usize, u64) {
    let i = b.partition_point(|&(s, _)| s <= at);
    b[i.saturating_sub(1)]
}

/// Decodes `data` from the record boundary `start` to its end.
fn decode_from(data: &[u8], start: usize, db: u64, o: Options) -> rdbkit::Result<u64> {
    struct Keys(u64);
    impl<'a> rdbkit::decode::scan::Sink<'a> for Keys {
        fn record(&mut self, _: usize, item: &Item<'a>, _: &Decoder<'a>) -> rdbkit::Result<()> {
            self.0 += u64::from(matches!(item, Item::Key(_)));
            Ok(())
        }
        fn append(&mut self, next: Self) {
            self.0 += next.0;
        }
    }
    let mut keys = Keys(0);
    rdbkit::decode::scan::walk_range(data, start, usize::MAX, db, o, &mut keys)?;
    Ok(keys.0)
}

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Offsets to cut at: all of them up to 64 KiB; beyond, the first and last
/// 4 KiB, every 16th byte and 2048 random ones.
fn cut_points(len: usize, rng: &mut Rng) -> Vec<usize> {
    if len <= 64 << 10 {
        return (0..len).collect();
    }
    let mut v: Vec<usize> = (0..4096).chain(len - 4096..len).collect();
    v.extend((0..len).step_by(16));
    v.extend((0..2048).map(|_| rng.below(len)));
    v.sort_unstable();
    v.dedup();
    v
}

const SLOW: Duration = Duration::from_secs(10);

/// Cuts every fixture at every offset and decodes at `level`.
fn truncations_fail(level: Level) {
    let mut rng = Rng(0x7275_6e63);
    let mut cuts = 0u64;
    for (name, data) in fixtures() {
        let b = boundaries(&data);
        let points = cut_points(data.len(), &mut rng);
        for (i, &k) in points.iter().enumerate() {
            let cut = &data[..k];
            let t = Instant::now();
            if k < 32 || i % 499 == 0 {
                // The whole-file path, CRC on and off.
                for crc in [true, false] {
                    let r = inspect(cut, opts(level, crc), 0);
                    assert!(r.is_err(), "{name} cut at {k} accepted at {level:?}");
                }
            } else {
                let (start, db) = record_of(&b, k);
                let r = decode_from(cut, start, db, opts(level, false));
                assert!(r.is_err(), "{name} cut at {k} accepted at {level:?}");
            }
            assert!(
                t.elapsed() < SLOW,
                "{name} cut at {k} took {:?}",
                t.elapsed()
            );
            cuts += 1;
        }
    }
    assert!(cuts > 100_000, "{cuts} cuts");
}

#[test]
fn every_truncation_is_an_error_full() {
    truncations_fail(Level::Full);
}

#[test]
fn every_truncation_is_an_error_deep() {
    truncations_fail(Level::Deep);
}

/// Flips per fixture: more for small files (they are cheap).
fn flips_for(len: usize) -> usize {
    if len <= 4096 {
        150
    } else {
        100
    }
}

#[test]
fn byte_and_bit_flips_never_panic() {
    let mut rng = Rng(0x666c_6970);
    let mut total = 0;
    let (mut caught_in_blobs, mut flips_in_blobs) = (0, 0);
    for (name, data) in fixtures() {
        let b = boundaries(&data);
        let blobs = blob_ranges(&data);
        let n = flips_for(data.len());
        for j in 0..n {
            let at = rng.below(data.len());
            let mut m = data.clone();
            if j % 2 == 0 {
                m[at] ^= 1 << rng.below(8);
            } else {
                let v = rng.next() as u8;
                m[at] = if v == data[at] { v ^ 0x80 } else { v };
            }
            let t = Instant::now();
            // CRC checked: any change is an error (structure or checksum).
            // (For RDB < 5, without a checksum, only "no panic" holds.)
            let has_crc = data[..9] >= b"REDIS0005"[..] || data.starts_with(b"VALKEY");
            let r = inspect(&m, opts(Level::Full, true), 0);
            if has_crc && at >= 9 {
                assert!(r.is_err(), "{name}: change at {at} not detected with CRC");
            }
            // CRC off: error or success, at every level, from the record
            // the change is in (the header: the whole file).
            let (start, db) = if at < 9 { (9, 0) } else { record_of(&b, at) };
            let mut deep_ok = false;
            for level in [Level::Skip, Level::Full, Level::Deep] {
                let r = decode_from(&m, start, db, opts(level, false));
                deep_ok = r.is_ok();
            }
            // Deep accepted: any blob the change fell in must still be
            // structurally valid.
            if let Some(&(s, e, kind)) = blobs.iter().find(|&&(s, e, _)| (s..e).contains(&at)) {
                flips_in_blobs += 1;
                let valid = reference_check(kind, &m[s..e]);
                if deep_ok {
                    assert!(
                        valid,
                        "{name}: change at {at} broke a {kind:?} blob and Deep accepted it"
                    );
                } else {
                    caught_in_blobs += 1;
                }
            }
            assert!(
                t.elapsed() < SLOW,
                "{name} change at {at} took {:?}",
                t.elapsed()
            );
            total += 1;
        }
    }
    assert!(total >= 3000, "{total} flips");
    assert!(flips_in_blobs > 100, "{flips_in_blobs} flips fell in blobs");
    assert!(caught_in_blobs > 0);
}

// ---------------------------------------------------------------------------
// Independent structure checks of raw (not LZF) blobs, written from the
// format reference, to judge what Deep lets through.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlobKind {
    Listpack,
    Ziplist,
    Intset,
}

/// Byte ranges of the raw blobs of single-blob values (types 10-13, 16,
/// 17, 20, 25) and quicklist nodes (14, 18) of an intact file.
fn blob_ranges(data: &[u8]) -> Vec<(usize, usize, BlobKind)> {
    let mut out = Vec::new();
    let lim = Limits::default();
    for item in Decoder::new(data, opts(Level::Full, false)).unwrap() {
        let Ok(Item::Key(k)) = item else { continue };
        let v = k.value;
        let base = v.offset();
        let raw = v.raw();
        let mut r = Reader::new(raw);
        let mut blob = |r: &mut Reader<'_>, kind: BlobKind| {
            if let Ok(RdbStr::Raw(b)) = RdbStr::read(r, &lim, "blob") {
                let s = base + (b.as_ptr() as usize - raw.as_ptr() as usize);
                out.push((s, s + b.len(), kind));
            }
        };
        match v.rdb_type() {
            10 | 12 | 13 => blob(&mut r, BlobKind::Ziplist),
            11 => blob(&mut r, BlobKind::Intset),
            16 | 17 | 20 => blob(&mut r, BlobKind::Listpack),
            25 => {
                let _ = r.u64le("min");
                blob(&mut r, BlobKind::Listpack)
            }
            14 | 18 => {
                let n = r.length("nodes").unwrap();
                for _ in 0..n {
                    if v.rdb_type() == 18 {
                        match r.length("container").unwrap() {
                            2 => blob(&mut r, BlobKind::Listpack),
                            _ => RdbStr::skip(&mut r, &lim, "plain").unwrap(),
                        }
                    } else {
                        blob(&mut r, BlobKind::Ziplist)
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn le(b: &[u8], at: usize, n: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(n)?)?;
    Some(s.iter().rev().fold(0u64, |v, &c| (v << 8) | u64::from(c)))
}

fn reference_check(kind: BlobKind, b: &[u8]) -> bool {
    match kind {
        BlobKind::Listpack => ref_listpack(b).is_some(),
        BlobKind::Ziplist => ref_ziplist(b).is_some(),
        BlobKind::Intset => ref_intset(b).is_some(),
    }
}

fn ref_listpack(b: &[u8]) -> Option<()> {
    if b.len() < 7 || le(b, 0, 4)? != b.len() as u64 || *b.last()? != 0xFF {
        return None;
    }
    let count = le(b, 4, 2)?;
    let mut p = 6;
    let mut n = 0u64;
    while b[p] != 0xFF {
        let e = b[p];
        let size = match e {
            0x00..=0x7F => 1,
            0x80..=0xBF => 1 + usize::from(e & 0x3F),
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 2 + ((usize::from(e & 0x0F) << 8) | usize::from(*b.get(p + 1)?)),
            0xF0 => 5 + le(b, p + 1, 4)? as usize,
            0xF1 => 3,
            0xF2 => 4,
            0xF3 => 5,
            0xF4 => 9,
            _ => return None,
        };
        // Minimal-size check is not needed: any consistent encoding is valid.
        let bl = match size {
            0..=127 => 1,
            128..=16382 => 2,
            16383..=2097150 => 3,
            2097151..=268435454 => 4,
            _ => 5,
        };
        let end = p.checked_add(size)?.checked_add(bl)?;
        if end > b.len() - 1 {
            return None;
        }
        let mut v = 0u64;
        for (i, &c) in b[p + size..end].iter().enumerate() {
            if (i == 0) == (c & 0x80 != 0) {
                return None;
            }
            v = (v << 7) | u64::from(c & 0x7F);
        }
        if v != size as u64 {
            return None;
        }
        p = end;
        n += 1;
    }
    (p == b.len() - 1 && (count == 65535 || count == n)).then_some(())
}

fn ref_ziplist(b: &[u8]) -> Option<()> {
    if b.len() < 11 || le(b, 0, 4)? != b.len() as u64 || *b.last()? != 0xFF {
        return None;
    }
    let tail = le(b, 4, 4)? as usize;
    let count = le(b, 8, 2)?;
    let (mut p, mut prev, mut last, mut n) = (10usize, 0u64, 10usize, 0u64);
    while b[p] != 0xFF {
        let (prevlen, mut h) = if b[p] < 254 {
            (u64::from(b[p]), 1)
        } else {
            (le(b, p + 1, 4)?, 5)
        };
        if prevlen != prev {
            return None;
        }
        let e = *b.get(p + h)?;
        let data = match e >> 6 {
            0 => {
                h += 1;
                usize::from(e & 0x3F)
            }
            1 => {
                h += 2;
                (usize::from(e & 0x3F) << 8) | usize::from(*b.get(p + h - 1)?)
            }
            2 => {
                h += 5;
                let d = b.get(p + h - 4..p + h)?;
                u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize
            }
            _ => {
                h += 1;
                match e {
                    0xC0 => 2,
                    0xD0 => 4,
                    0xE0 => 8,
                    0xF0 => 3,
                    0xFE => 1,
                    0xF1..=0xFD => 0,
                    _ => return None,
                }
            }
        };
        let end = p.checked_add(h)?.checked_add(data)?;
        if end > b.len() - 1 {
            return None;
        }
        last = p;
        prev = (end - p) as u64;
        p = end;
        n += 1;
    }
    (p == b.len() - 1 && tail == last && (count == 65535 || count == n)).then_some(())
}

fn ref_intset(b: &[u8]) -> Option<()> {
    let enc = le(b, 0, 4)? as usize;
    let n = le(b, 4, 4)? as usize;
    if !matches!(enc, 2 | 4 | 8) || n == 0 || b.len() != 8 + n * enc {
        return None;
    }
    let vals: Vec<i64> = (0..n)
        .map(|i| {
            let raw = le(b, 8 + i * enc, enc).unwrap();
            match enc {
                2 => i64::from(raw as u16 as i16),
                4 => i64::from(raw as u32 as i32),
                _ => raw as i64,
            }
        })
        .collect();
    vals.windows(2).all(|w| w[0] < w[1]).then_some(())
}

#[test]
fn reference_checks_accept_the_intact_fixtures() {
    let mut n = 0;
    for (name, data) in fixtures() {
        for (s, e, kind) in blob_ranges(&data) {
            assert!(
                reference_check(kind, &data[s..e]),
                "{name}: {kind:?} at {s}"
            );
            n += 1;
        }
    }
    assert!(n > 50, "{n} blobs");
}

// ---------------------------------------------------------------------------
// The command-line tool.

fn cli(args: &[&str]) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .args(args)
        .output()
        .expect("run rdbkit");
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    (out.status.code().unwrap_or(-1), text)
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rdbkit-truncation-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn cli_reports_damaged_files_with_exit_code_1() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let data = std::fs::read(root.join("tests/fixtures/redis-7.4/all-types.rdb")).unwrap();
    let dir = scratch("cli");
    let intact = dir.join("intact.rdb");
    std::fs::write(&intact, &data).unwrap();
    let (code, text) = cli(&["verify", intact.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");

    let truncated = dir.join("truncated.rdb");
    std::fs::write(&truncated, &data[..data.len() / 2]).unwrap();
    for args in [
        vec!["verify", truncated.to_str().unwrap()],
        vec!["verify", "--deep", truncated.to_str().unwrap()],
        vec!["info", truncated.to_str().unwrap()],
    ] {
        let (code, text) = cli(&args);
        assert_eq!(code, 1, "{args:?}: {text}");
        assert!(text.contains("truncated.rdb") && text.len() > 20, "{text}");
        assert!(!text.contains("panicked"), "{text}");
    }

    // A changed byte in a string value: only the checksum can tell.
    let needle = b"redis-ver";
    let at = data
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
        + 3;
    let mut flipped = data.clone();
    flipped[at] ^= 0x20;
    let f = dir.join("flipped.rdb");
    std::fs::write(&f, &flipped).unwrap();
    let (code, text) = cli(&["verify", f.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("checksum"), "{text}");
    let (code, text) = cli(&["verify", "--no-checksum", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
