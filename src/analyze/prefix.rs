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

/// The prefix buckets of a range or an input.
pub(super) struct Prefixes {
    sep: Vec<u8>,
    depth: usize,
    max: usize,
    /// Per depth (index 0: depth 1), prefix -> sums.
    maps: Vec<Map>,
    /// Per depth, the prefix of the keys just seen and what they hold,
    /// not in `maps` yet: keys of one prefix often come in runs.
    runs: Vec<(Vec<u8>, Sums)>,
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
            runs: vec![(Vec::new(), Sums::default()); opts.prefix_depth],
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
        let mut maps = std::mem::take(&mut self.maps);
        let mut runs = std::mem::take(&mut self.runs);
        self.each_end(&r.key, |d, end| {
            let prefix = &r.key[..end];
            let run = &mut runs[d];
            if run.1.keys > 0 && run.0 != prefix {
                flush(&mut maps[d], run);
            }
            if run.1.keys == 0 {
                run.0.clear();
                run.0.extend_from_slice(prefix);
            }
            run.1.add(r);
        });
        self.maps = maps;
        self.runs = runs;
        if self.len() > 2 * self.max {
            self.fold();
        }
    }

    /// Moves the pending runs into the maps.
    fn flush_runs(&mut self) {
        for (m, run) in self.maps.iter_mut().zip(self.runs.iter_mut()) {
            if run.1.keys > 0 {
                flush(m, run);
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

/// Adds a run to its bucket and empties it.
fn flush(m: &mut Map, run: &mut (Vec<u8>, Sums)) {
    match m.get_mut(&run.0[..]) {
        Some(s) => s.merge(&run.1),
        None => {
            m.insert(run.0.clone(), run.1);
        }
    }
    run.1 = Sums::default();
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() == 1 {
        return hay.iter().position(|&b| b == needle[0]);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}
