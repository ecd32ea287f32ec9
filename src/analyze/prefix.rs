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
    /// The deepest prefix of the keys just seen, the ends of its
    /// shallower prefixes, and what the keys hold: counted only here
    /// while the run lasts (one comparison per key), then added to every
    /// depth at once.
    cur: Vec<u8>,
    cur_ends: Vec<usize>,
    cur_sums: Sums,

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
            cur: Vec::new(),
            cur_ends: Vec::with_capacity(opts.prefix_depth),
            cur_sums: Sums::default(),

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

    pub(super) fn add(&mut self, r: &KeyRow<'_>) {
        if self.sep.is_empty() {
            return;
        }
        let key: &[u8] = &r.key;
        // The deepest prefix's end; the run's check needs nothing else.
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
        if self.cur_sums.keys > 0 && self.cur == prefix {
            self.cur_sums.add(r);
            return;
        }
        self.settle_cur();
        self.cur.clear();
        self.cur.extend_from_slice(prefix);
        let mut ends = std::mem::take(&mut self.cur_ends);
        ends.clear();
        self.each_end(prefix, |_, end| ends.push(end));
        ends.push(deepest);
        self.cur_ends = ends;
        self.cur_sums.add(r);
    }

    /// Adds the current run to the bucket of each of its prefixes.
    fn settle_cur(&mut self) {
        if self.cur_sums.keys == 0 {
            return;
        }
        let sums = std::mem::take(&mut self.cur_sums);
        let mut grew = false;
        for (d, &end) in self.cur_ends.iter().enumerate() {
            let prefix = &self.cur[..end];
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
        if grew && self.len() > 2 * self.max {
            self.fold();
        }
    }

    /// Moves the current run and the cached prefixes into the maps.
    fn flush_runs(&mut self) {
        self.settle_cur();
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
