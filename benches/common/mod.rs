//! Helpers shared by the benchmarks: a small deterministic generator and
//! the writer of a dump from a list of records. Each bench includes this
//! with `mod common;` and uses only part of it, hence the `dead_code`
//! allowance.
#![allow(dead_code)]

use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, Target};

/// A small deterministic generator (xorshift).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// `n` bytes of words from `words`, space-separated (compressible).
    pub fn text(&mut self, words: &[&str], n: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(n + 8);
        while v.len() < n {
            v.extend_from_slice(words[(self.next() % words.len() as u64) as usize].as_bytes());
            v.push(b' ');
        }
        v.truncate(n);
        v
    }

    /// `n` letters from `a` to `j`.
    pub fn word(&mut self, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| b"abcdefghij"[(self.next() % 10) as usize])
            .collect()
    }

    /// `n` random bytes (incompressible).
    pub fn noise(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// One key: name, value, metadata.
pub type Record = (Vec<u8>, OwnedValue, KeyMeta);

/// A dump of `recs` in db 0 (with RESIZEDB), written into `buf` for
/// `target` with the auxiliary fields of server `version`.
pub fn write_dump(buf: Vec<u8>, target: Target, version: &str, recs: &[Record]) -> Vec<u8> {
    let mut w = RdbWriter::new(buf, target).unwrap();
    w.standard_aux(version, 0, 0).unwrap();
    w.select_db(0).unwrap();
    let expires = recs.iter().filter(|r| r.2.expire_ms.is_some()).count() as u64;
    w.resize_db(recs.len() as u64, expires).unwrap();
    for (k, v, m) in recs {
        w.key(k, v, *m).unwrap();
    }
    w.finish().unwrap()
}
