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

/// The prefix buckets of a range or an input.
pub(super) struct Prefixes {
    sep: Vec<u8>,
    depth: usize,
    max: usize,
    map: HashMap<(usize, Vec<u8>), Sums>,
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
            map: HashMap::new(),
            other: vec![Sums::default(); opts.prefix_depth],
            folded: false,
        }
    }

    /// The ends of the key's prefixes, by depth.
    fn ends(&self, key: &[u8]) -> Vec<usize> {
        let mut v = Vec::new();
        if self.sep.is_empty() {
            return v;
        }
        let mut at = 0;
        for _ in 0..self.depth {
            let Some(i) = find(&key[at..], &self.sep) else {
                break;
            };
            v.push(at + i);
            at += i + self.sep.len();
        }
        v
    }

    pub(super) fn add(&mut self, r: &KeyRow) {
        for (d, end) in self.ends(&r.key).into_iter().enumerate() {
            match self.map.get_mut(&(d + 1, r.key[..end].to_vec())) {
                Some(s) => s.add(r),
                None => {
                    let mut s = Sums::default();
                    s.add(r);
                    self.map.insert((d + 1, r.key[..end].to_vec()), s);
                }
            }
        }
        if self.map.len() > 2 * self.max {
            self.fold();
        }
    }

    /// Takes a key counted twice off its buckets (or off `(other)` when
    /// its bucket was folded).
    pub(super) fn sub(&mut self, r: &KeyRow) {
        for (d, end) in self.ends(&r.key).into_iter().enumerate() {
            match self.map.get_mut(&(d + 1, r.key[..end].to_vec())) {
                Some(s) if s.keys > 0 => s.sub(r),
                _ if self.other[d].keys > 0 => self.other[d].sub(r),
                _ => {}
            }
        }
    }

    /// Keeps the `max` biggest buckets; the others go to `(other)`.
    fn fold(&mut self) {
        self.folded = true;
        let mut all: Vec<((usize, Vec<u8>), Sums)> = self.map.drain().collect();
        all.sort_unstable_by(|a, b| {
            b.1.memory_bytes
                .cmp(&a.1.memory_bytes)
                .then_with(|| a.0.cmp(&b.0))
        });
        for ((d, _), s) in all.drain(self.max.min(all.len())..) {
            self.other[d - 1].merge(&s);
        }
        self.map.extend(all);
    }

    pub(super) fn merge(&mut self, next: Prefixes) {
        self.folded |= next.folded;
        for (k, s) in next.map {
            self.map.entry(k).or_default().merge(&s);
        }
        for (a, b) in self.other.iter_mut().zip(&next.other) {
            a.merge(b);
        }
        if self.map.len() > 2 * self.max {
            self.fold();
        }
    }

    /// The buckets, biggest first (at most `max`, then the folded ones).
    pub(super) fn into_sorted(mut self) -> Vec<Prefix> {
        if self.map.len() > self.max {
            self.fold();
        }
        let mut v: Vec<Prefix> = self
            .map
            .into_iter()
            .map(|((depth, prefix), sums)| Prefix {
                prefix,
                depth,
                other: false,
                sums,
            })
            .collect();
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

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() == 1 {
        return hay.iter().position(|&b| b == needle[0]);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}
