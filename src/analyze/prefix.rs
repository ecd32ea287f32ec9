//! Key prefixes: a key `a:b:c` counts towards `a` (depth 1) and `a:b`
//! (depth 2); the key itself is not a prefix. At most
//! [`AnalyzeOptions::max_prefixes`](super::AnalyzeOptions::max_prefixes)
//! buckets are kept: when there are twice as many, the smallest by memory
//! are folded into one `(other)` bucket per depth, so memory stays bounded
//! on any dump and no key is lost from the sums. Once a fold happened
//! ([`Analysis::prefixes_exact`](super::Analysis::prefixes_exact) is
//! false) a kept bucket may miss what it held before a fold (counted in
//! `(other)`): its figures are lower bounds.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use super::{AnalyzeOptions, KeyRow, Sums};

/// One prefix bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    /// The prefix bytes (without the trailing separator); `(other)` for
    /// the folded bucket.
    pub prefix: Vec<u8>,
    /// Its level (1: the first segment).
    pub depth: usize,
    /// Whether this is the bucket of folded small prefixes.
    pub other: bool,
    /// What its keys hold.
    pub sums: Sums,
}

/// A fast hash of prefix bytes, seeded per process (the maps hold at most
/// twice `max_prefixes` buckets).
#[derive(Clone, Copy)]
struct Seeded(u64);

impl BuildHasher for Seeded {
    type Hasher = SeededHasher;
    fn build_hasher(&self) -> SeededHasher {
        SeededHasher(self.0)
    }
}

struct SeededHasher(u64);

impl Hasher for SeededHasher {
    fn write(&mut self, b: &[u8]) {
        self.0 = (self.0 ^ crate::decode::fingerprint(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0 ^ n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }

    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

fn seed() -> u64 {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SEED.get_or_init(|| std::collections::hash_map::RandomState::new().hash_one(0x5eed_u64))
}

type Map = HashMap<Vec<u8>, Sums, Seeded>;

/// Cached prefixes per depth.
const SLOTS: usize = 8;

/// A cached prefix: its hash, bytes and sums (none when `sums.keys` is 0).
#[derive(Clone, Default)]
struct Run {
    hash: u64,
    prefix: Vec<u8>,
    sums: Sums,
}

/// Deepest prefixes cached.
const DEEP_SLOTS: usize = 16;

/// A deepest prefix, the ends of its shallower prefixes, and what its
/// keys hold (nothing cached when `sums.keys` is 0).
#[derive(Clone, Default)]
struct Deepest {
    hash: u64,
    prefix: Vec<u8>,
    /// Its first 8 bytes (little-endian, zero-padded) and the mask of
    /// those it has.
    head: u64,
    mask: u64,
    ends: Vec<usize>,
    sums: Sums,
}

impl Deepest {
    /// Whether `key`'s deepest prefix is this one, the `depth` kept and
    /// the one-byte separator `sep` given: the key is this prefix, the
    /// separator, and (when the prefix is shallower than the depth kept)
    /// a rest without one. A longer separator is not checked here: it
    /// could straddle the prefix's end.
    #[inline]
    fn holds_key(&self, key: &[u8], sep: u8, depth: usize) -> bool {
        let n = self.prefix.len();
        if self.sums.keys == 0 || key.get(n) != Some(&sep) {
            return false;
        }
        let head = match key.first_chunk::<8>() {
            Some(w) if n <= 8 => (u64::from_le_bytes(*w) ^ self.head) & self.mask == 0,
            _ => same(&key[..n], &self.prefix),
        };
        head && (self.ends.len() >= depth || !holds(key, n + 1, sep))
    }

    /// Makes this the cache of `prefix` (with `hash`).
    fn set(&mut self, prefix: &[u8], hash: u64) {
        self.hash = hash;
        self.prefix.clear();
        self.prefix.extend_from_slice(prefix);
        let head = &prefix[..prefix.len().min(8)];
        self.head = head.iter().rev().fold(0, |w, &b| (w << 8) | u64::from(b));
        self.mask = u64::MAX
            .checked_shr(64 - 8 * head.len() as u32)
            .unwrap_or(0);
    }
}

/// The prefix buckets of a range or an input.
pub(super) struct Prefixes {
    sep: Vec<u8>,
    depth: usize,
    max: usize,
    /// Per depth (index 0: depth 1), prefix -> sums.
    maps: Vec<Map>,
    /// Per depth, a few recent prefixes and what they hold, not in `maps`
    /// yet (a direct-mapped cache by hash): keys of one prefix often come
    /// interleaved with a few others.
    runs: Vec<[Run; SLOTS]>,
    /// The deepest prefixes of recent keys (a direct-mapped cache by
    /// hash), with what their keys hold: counted only here while they
    /// stay, then added to every depth at once.
    deep: Vec<Deepest>,
    /// The slot of the last key's: keys of one prefix often come in runs
    /// (one comparison per key).
    last: usize,

    /// Folded buckets per depth.
    other: Vec<Sums>,
    /// A fold happened.
    pub(super) folded: bool,
}

impl Prefixes {
    pub(super) fn new(opts: &AnalyzeOptions) -> Self {
        Prefixes {
            sep: opts.prefix_sep.clone(),
            depth: opts.prefix_depth,
            max: opts.max_prefixes.max(1),
            maps: (0..opts.prefix_depth)
                .map(|_| HashMap::with_hasher(Seeded(seed())))
                .collect(),
            runs: vec![Default::default(); opts.prefix_depth],
            deep: vec![Deepest::default(); DEEP_SLOTS],
            last: 0,

            other: vec![Sums::default(); opts.prefix_depth],
            folded: false,
        }
    }

    /// Calls `f` with each prefix depth (0-based) and the prefix's end.
    fn each_end(&self, key: &[u8], mut f: impl FnMut(usize, usize)) {
        if self.sep.is_empty() {
            return;
        }
        let mut at = 0;
        for d in 0..self.depth {
            let Some(i) = find(&key[at..], &self.sep) else {
                break;
            };
            f(d, at + i);
            at += i + self.sep.len();
        }
    }

    fn len(&self) -> usize {
        self.maps.iter().map(HashMap::len).sum()
    }

    #[inline]
    pub(super) fn add(&mut self, r: &KeyRow<'_>) {
        if let [sep] = self.sep[..] {
            if self.deep[self.last].holds_key(&r.key, sep, self.depth) {
                self.deep[self.last].sums.add(r);
                return;
            }
        }
        self.add_new(r);
    }

    fn add_new(&mut self, r: &KeyRow<'_>) {
        if self.sep.is_empty() {
            return;
        }
        let key: &[u8] = &r.key;
        // The deepest prefix's end.
        let (mut depth, mut at, mut deepest) = (0, 0, 0);
        while depth < self.depth {
            let Some(i) = find(&key[at..], &self.sep) else {
                break;
            };
            deepest = at + i;
            at = deepest + self.sep.len();
            depth += 1;
        }
        if depth == 0 {
            return;
        }
        let prefix = &key[..deepest];
        let hash = crate::decode::fingerprint(prefix);
        let slot = (hash as usize) % DEEP_SLOTS;
        self.last = slot;
        let d = &self.deep[slot];
        if d.sums.keys == 0 || d.hash != hash || d.prefix != prefix {
            if self.settle(slot) && self.len() > 2 * self.max {
                self.fold();
            }
            let mut ends = std::mem::take(&mut self.deep[slot].ends);
            ends.clear();
            self.each_end(prefix, |_, end| ends.push(end));
            ends.push(deepest);
            let d = &mut self.deep[slot];
            d.ends = ends;
            d.set(prefix, hash);
        }
        self.deep[slot].sums.add(r);
    }

    /// Adds a cached deepest prefix's keys to the bucket of each of its
    /// prefixes; true when a bucket is new.
    fn settle(&mut self, slot: usize) -> bool {
        let sums = std::mem::take(&mut self.deep[slot].sums);
        if sums.keys == 0 {
            return false;
        }
        let mut grew = false;
        let deep = &self.deep[slot];
        for (d, &end) in deep.ends.iter().enumerate() {
            let prefix = &deep.prefix[..end];
            let hash = crate::decode::fingerprint(prefix);
            let run = &mut self.runs[d][(hash as usize) % SLOTS];
            if run.sums.keys == 0 || run.hash != hash || run.prefix != prefix {
                if run.sums.keys > 0 {
                    grew |= flush(&mut self.maps[d], run);
                }
                run.hash = hash;
                run.prefix.clear();
                run.prefix.extend_from_slice(prefix);
            }
            run.sums.merge(&sums);
        }
        grew
    }

    /// Moves the current run and the cached prefixes into the maps.
    fn flush_runs(&mut self) {
        for slot in 0..DEEP_SLOTS {
            self.settle(slot);
        }
        for (m, slots) in self.maps.iter_mut().zip(self.runs.iter_mut()) {
            for run in slots.iter_mut() {
                if run.sums.keys > 0 {
                    flush(m, run);
                }
            }
        }
    }

    /// Takes a key counted twice off its buckets (or off `(other)` when
    /// its bucket was folded).
    pub(super) fn sub(&mut self, r: &KeyRow<'_>) {
        self.flush_runs();
        let mut maps = std::mem::take(&mut self.maps);
        let mut other = std::mem::take(&mut self.other);
        self.each_end(&r.key, |d, end| match maps[d].get_mut(&r.key[..end]) {
            Some(s) if s.keys > 0 => s.sub(r),
            _ if other[d].keys > 0 => other[d].sub(r),
            _ => {}
        });
        self.maps = maps;
        self.other = other;
    }

    /// Keeps the `max` biggest buckets; the others go to `(other)`.
    fn fold(&mut self) {
        self.flush_runs();
        self.folded = true;
        let mut all: Vec<(usize, Vec<u8>, Sums)> = Vec::with_capacity(self.len());
        for (d, m) in self.maps.iter_mut().enumerate() {
            all.extend(m.drain().map(|(p, s)| (d, p, s)));
        }
        all.sort_unstable_by(|a, b| {
            b.2.memory_bytes
                .cmp(&a.2.memory_bytes)
                .then_with(|| (a.0, &a.1).cmp(&(b.0, &b.1)))
        });
        for (d, _, s) in all.drain(self.max.min(all.len())..) {
            self.other[d].merge(&s);
        }
        for (d, p, s) in all {
            self.maps[d].insert(p, s);
        }
    }

    pub(super) fn merge(&mut self, mut next: Prefixes) {
        self.flush_runs();
        next.flush_runs();
        self.folded |= next.folded;
        for (a, b) in self.maps.iter_mut().zip(next.maps) {
            for (p, s) in b {
                a.entry(p).or_default().merge(&s);
            }
        }
        for (a, b) in self.other.iter_mut().zip(&next.other) {
            a.merge(b);
        }
        if self.len() > 2 * self.max {
            self.fold();
        }
    }

    /// The buckets, biggest first (at most `max`, then the folded ones).
    pub(super) fn into_sorted(mut self) -> Vec<Prefix> {
        self.flush_runs();
        if self.len() > self.max {
            self.fold();
        }
        let mut v: Vec<Prefix> = Vec::with_capacity(self.len());
        for (d, m) in self.maps.into_iter().enumerate() {
            v.extend(m.into_iter().map(|(prefix, sums)| Prefix {
                prefix,
                depth: d + 1,
                other: false,
                sums,
            }));
        }
        v.sort_unstable_by(|a, b| {
            b.sums
                .memory_bytes
                .cmp(&a.sums.memory_bytes)
                .then_with(|| a.depth.cmp(&b.depth))
                .then_with(|| a.prefix.cmp(&b.prefix))
        });
        for (i, s) in self.other.into_iter().enumerate() {
            if s.keys > 0 {
                v.push(Prefix {
                    prefix: b"(other)".to_vec(),
                    depth: i + 1,
                    other: true,
                    sums: s,
                });
            }
        }
        v
    }
}

/// Adds a cached prefix to its bucket and empties it; true when the
/// bucket is new.
fn flush(m: &mut Map, run: &mut Run) -> bool {
    let new = match m.get_mut(&run.prefix[..]) {
        Some(s) => {
            s.merge(&run.sums);
            false
        }
        None => {
            m.insert(run.prefix.clone(), run.sums);
            true
        }
    };
    run.sums = Sums::default();
    new
}

/// `a == b` for slices of one length, short ones without a call.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().unwrap_or([0; 8]));
    let half = |s: &[u8], i: usize| u32::from_le_bytes(s[i..i + 4].try_into().unwrap_or([0; 4]));
    match n {
        0..4 => a.iter().zip(b).all(|(x, y)| x == y),
        4..8 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=16 => word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8),
        _ => a == b,
    }
}

/// Whether `key[from..]` holds `b`, eight bytes at a time (the last
/// word overlapping what was checked).
#[inline]
fn holds(key: &[u8], from: usize, b: u8) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let n = key.len();
    if n < 8 {
        return key.get(from..).is_some_and(|r| r.contains(&b));
    }
    let pattern = LO * u64::from(b);
    let zero = |w: u64| w.wrapping_sub(LO) & !w & HI != 0;
    let word = |i: usize| u64::from_le_bytes(key[i..i + 8].try_into().unwrap_or([0; 8]));
    let mut at = from;
    while at + 8 <= n {
        if zero(word(at) ^ pattern) {
            return true;
        }
        at += 8;
    }
    if at >= n {
        return false;
    }
    // The bytes before `at` in the last word are set to 0xff (never a
    // zero byte, and no borrow).
    let seen = 8 - (n - at);
    zero((word(n - 8) ^ pattern) | (u64::MAX >> (64 - 8 * seen)))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() == 1 {
        return find_byte(hay, needle[0]);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The first `b` in `hay`, eight bytes at a time.
#[inline]
fn find_byte(hay: &[u8], b: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pattern = LO * u64::from(b);
    let mut chunks = hay.chunks_exact(8);
    let mut at = 0;
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) ^ pattern;
        // A zero byte of `w` is a match; the lowest flagged byte is exact.
        let zero = w.wrapping_sub(LO) & !w & HI;
        if zero != 0 {
            return Some(at + (zero.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&x| x == b)
        .map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use super::find_byte;
    use super::{Prefixes, Sums};
    use crate::analyze::{AnalyzeOptions, KeyRow};
    use crate::format::Kind;
    use crate::memory::{Allocator, MemEncoding, Model};
    use crate::release::ServerRelease;
    use std::borrow::Cow;
    use std::collections::BTreeMap;

    fn row(key: &[u8], memory: u64) -> KeyRow<'_> {
        KeyRow {
            db: 0,
            key: Cow::Borrowed(key),
            kind: Kind::String,
            encoding: MemEncoding::Raw,
            elements: 1,
            serialized_bytes: 10,
            memory_bytes: memory,
            allocated_bytes: memory,
            expire_ms: None,
            input: 0,
        }
    }

    /// The word-at-a-time checks agree with plain ones at every length,
    /// start and position of the byte.
    #[test]
    fn word_checks_match_plain_ones() {
        for n in 0..40usize {
            for from in 0..=n + 1 {
                for hit in 0..=n {
                    let mut key: Vec<u8> = (0..n).map(|i| b'a' + (i % 7) as u8).collect();
                    if hit < n {
                        key[hit] = b':';
                    }
                    let plain = key.get(from..).is_some_and(|r| r.contains(&b':'));
                    assert_eq!(super::holds(&key, from, b':'), plain, "{key:?} from {from}");
                }
            }
            let a: Vec<u8> = (0..n as u8).collect();
            for i in 0..n {
                let mut b = a.clone();
                b[i] ^= 1;
                assert!(!super::same(&a, &b));
            }
            assert!(super::same(&a, &a.clone()));
        }
    }

    /// Runs, interleavings, separators of two bytes, keys without one and
    /// folds: every bucket holds what a plain count of its keys gives.
    #[test]
    fn buckets_match_a_plain_count() {
        let model = Model::new(
            ServerRelease::parse("redis-7.4").unwrap(),
            Allocator::Jemalloc,
        )
        .unwrap();
        for (sep, max) in [(":", 100_000), ("::", 100_000), (":", 3)] {
            let mut o = AnalyzeOptions::new(model);
            o.prefix_sep = sep.as_bytes().to_vec();
            o.max_prefixes = max;
            let mut p = Prefixes::new(&o);
            let mut want: BTreeMap<(usize, Vec<u8>), Sums> = BTreeMap::new();
            let mut x = 7u64;
            for i in 0..5000u64 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let parts = ["a", "bb", "c", "", "dd"];
                let n = (x >> 60) as usize % 5;
                let mut key: Vec<String> = (0..n)
                    .map(|j| parts[((x >> (8 * j)) % 5) as usize].to_string())
                    .collect();
                // Runs of one prefix now and then.
                if i % 50 < 10 {
                    key = vec!["run".into(), "x".into(), i.to_string()];
                }
                let key = key.join(sep).into_bytes();
                let r = row(&key, 1 + i % 7);
                p.add(&r);
                let mut at = 0;
                for d in 0..o.prefix_depth {
                    let Some(j) = super::find(&key[at..], sep.as_bytes()) else {
                        break;
                    };
                    want.entry((d + 1, key[..at + j].to_vec()))
                        .or_default()
                        .add(&r);
                    at += j + sep.len();
                }
            }
            let got = p.into_sorted();
            let total = |f: &dyn Fn(&Sums) -> u64, d: usize| -> (u64, u64) {
                let g = got
                    .iter()
                    .filter(|b| b.depth == d)
                    .map(|b| f(&b.sums))
                    .sum();
                let w = want
                    .iter()
                    .filter(|(k, _)| k.0 == d)
                    .map(|(_, s)| f(s))
                    .sum();
                (g, w)
            };
            for d in 1..=3 {
                let (g, w) = total(&|s| s.memory_bytes, d);
                assert_eq!(g, w, "memory at depth {d}, sep {sep:?}");
                let (g, w) = total(&|s| s.keys, d);
                assert_eq!(g, w, "keys at depth {d}, sep {sep:?}");
            }
            if max >= 100_000 {
                for b in &got {
                    assert_eq!(
                        Some(&b.sums),
                        want.get(&(b.depth, b.prefix.clone())),
                        "{:?}",
                        b.prefix
                    );
                }
                assert_eq!(got.len(), want.len());
            } else {
                assert!(got.iter().any(|b| b.other));
            }
        }
    }

    #[test]
    fn find_byte_agrees_with_position() {
        let hay: Vec<u8> = (0..40u8)
            .map(|i| if i % 7 == 3 { b':' } else { i })
            .collect();
        for start in 0..hay.len() {
            for end in start..=hay.len() {
                let h = &hay[start..end];
                for b in [b':', 0, 1, 39, 0x80, 0xff] {
                    assert_eq!(find_byte(h, b), h.iter().position(|&x| x == b));
                }
            }
        }
    }
}
