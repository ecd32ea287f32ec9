//! What an allocation of `n` bytes really takes: the allocator's usable
//! size, which is what Redis's `zmalloc_size` reports and `MEMORY USAGE`
//! adds up.

/// The allocator a server is built with (`redis-server --version` says
/// `malloc=jemalloc-5.3.0` or `malloc=libc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Allocator {
    /// jemalloc 5 as Redis and Valkey bundle it (`deps/Makefile`:
    /// `--with-lg-quantum=3`, an 8-byte quantum): what Redis and Redis
    /// Enterprise ship with.
    Jemalloc,
    /// jemalloc 5 with its default 16-byte quantum, as distributions
    /// package it and link their Redis with (Debian's `redis-server`).
    JemallocQuantum16,
    /// glibc's malloc on 64-bit Linux (`malloc_usable_size`).
    Libc,
}

impl Allocator {
    /// The name used on the command line: `jemalloc` or `libc`.
    ///
    /// ```
    /// assert_eq!(rdbkit::memory::Allocator::Libc.name(), "libc");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Allocator::Jemalloc => "jemalloc",
            Allocator::JemallocQuantum16 => "jemalloc-q16",
            Allocator::Libc => "libc",
        }
    }

    /// Parses [`Allocator::name`].
    pub fn from_name(s: &str) -> Option<Allocator> {
        match s {
            "jemalloc" => Some(Allocator::Jemalloc),
            "jemalloc-q16" => Some(Allocator::JemallocQuantum16),
            "libc" => Some(Allocator::Libc),
            _ => None,
        }
    }

    /// The usable size of an allocation of `n` bytes.
    ///
    /// jemalloc rounds to its size classes: with an 8-byte quantum 8, 16,
    /// then multiples of 8 up to 64; with a 16-byte quantum 8, then
    /// multiples of 16 up to 64; then for both four classes per doubling
    /// (80, 96, 112, 128, 160, 192, ...), the same rule on for its large
    /// and huge classes. glibc adds its
    /// 8-byte chunk header, rounds the chunk to 16 bytes (32 at least),
    /// and maps requests from 128 KiB on by themselves (page-rounded, with
    /// a 16-byte header).
    ///
    /// ```
    /// use rdbkit::memory::Allocator;
    /// assert_eq!(Allocator::Jemalloc.usable(3), 8);
    /// assert_eq!(Allocator::Jemalloc.usable(23), 24);
    /// assert_eq!(Allocator::JemallocQuantum16.usable(23), 32);
    /// assert_eq!(Allocator::Jemalloc.usable(100), 112);
    /// assert_eq!(Allocator::Jemalloc.usable(129), 160);
    /// assert_eq!(Allocator::Jemalloc.usable(536), 640);
    /// assert_eq!(Allocator::Libc.usable(3), 24);
    /// assert_eq!(Allocator::Libc.usable(25), 40);
    /// ```
    #[inline]
    pub fn usable(self, n: u64) -> u64 {
        match self {
            Allocator::Jemalloc => jemalloc(n, 8),
            Allocator::JemallocQuantum16 => jemalloc(n, 16),
            Allocator::Libc => glibc(n),
        }
    }
}

#[inline]
fn jemalloc(n: u64, quantum: u64) -> u64 {
    if n <= 8 {
        return 8;
    }
    if n <= 64 {
        return round_up(n, quantum);
    }
    // Four classes per doubling: (2^k, 2^(k+1)] in steps of 2^(k-2).
    let lg = 63 - u64::from((n - 1).leading_zeros());
    round_up(n, 1u64 << (lg - 2))
}

/// `n` rounded up to a multiple of `step`, a power of two (a mask, not a
/// division: this runs several times per key), saturating.
#[inline]
fn round_up(n: u64, step: u64) -> u64 {
    debug_assert!(step.is_power_of_two());
    n.checked_add(step - 1)
        .map_or(u64::MAX, |m| m & !(step - 1))
}

/// glibc's default `M_MMAP_THRESHOLD` (it can grow at run time; Redis
/// frees little, so the default is what a freshly loaded server sees).
const MMAP_THRESHOLD: u64 = 128 << 10;
const PAGE: u64 = 4096;

fn glibc(n: u64) -> u64 {
    if n >= MMAP_THRESHOLD {
        return round_up(n.saturating_add(16), PAGE) - 16;
    }
    let chunk = ((n + 8 + 15) & !15).max(32);
    chunk - 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jemalloc_classes() {
        for (quantum, first) in [
            (
                16u64,
                &[
                    8u64, 16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320,
                ][..],
            ),
            (
                8,
                &[8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192][..],
            ),
        ] {
            let classes: Vec<u64> = (1..=4096).map(|n| jemalloc(n, quantum)).collect();
            let mut distinct = classes.clone();
            distinct.dedup();
            assert_eq!(&distinct[..first.len()], first);
            // Every size fits its class, and the class is the smallest one.
            for (i, &c) in classes.iter().enumerate() {
                let n = i as u64 + 1;
                assert!(c >= n);
                assert!(distinct.iter().all(|&d| d < n || d >= c));
            }
            assert_eq!(jemalloc(14336, quantum), 14336);
            assert_eq!(jemalloc(14337, quantum), 16384);
            assert_eq!(jemalloc(16385, quantum), 20480);
            assert_eq!(jemalloc(1 << 20, quantum), 1 << 20);
            assert_eq!(jemalloc((1 << 20) + 1, quantum), 1_310_720);
        }
    }

    #[test]
    fn glibc_chunks() {
        assert_eq!(glibc(0), 24);
        assert_eq!(glibc(24), 24);
        assert_eq!(glibc(25), 40);
        assert_eq!(glibc(40), 40);
        assert_eq!(glibc(41), 56);
        assert_eq!(glibc(MMAP_THRESHOLD), 135_152);
    }
}
