//! CRC-64/REDIS (Jones polynomial, reflected, init 0, xorout 0), computed by
//! the SIMD `crc-fast` crate.

use crc_fast::{CrcAlgorithm, Digest};

/// Computes CRC-64/REDIS of a buffer in one call.
///
/// ```
/// assert_eq!(rdbkit::format::crc::crc64(b"123456789"), 0xe9c6d914c4b8d9ca);
/// ```
pub fn crc64(data: &[u8]) -> u64 {
    crc_fast::checksum(CrcAlgorithm::Crc64Redis, data)
}

/// The content fingerprint of a whole file: CRC-64/REDIS of a marker byte
/// followed by `data`. (The plain CRC-64 of an RDB file that ends with its
/// own little-endian CRC-64 is always 0, so it fingerprints nothing.)
///
/// ```
/// use rdbkit::format::crc::{crc64, fingerprint};
/// let mut file = b"REDIS0011\xff".to_vec();
/// let sum = crc64(&file);
/// file.extend_from_slice(&sum.to_le_bytes());
/// assert_eq!(crc64(&file), 0);
/// assert_ne!(fingerprint(&file), 0);
/// ```
pub fn fingerprint(data: &[u8]) -> u64 {
    let mut c = fingerprint_start();
    c.update(data);
    c.value()
}

/// The piece [`fingerprint`] starts from (the marker byte).
pub(crate) fn fingerprint_piece() -> Piece {
    Piece::of(&[0xa5])
}

/// The state [`fingerprint`] starts from (the marker byte fed).
pub(crate) fn fingerprint_start() -> Crc64 {
    let mut c = Crc64::new();
    c.update(&[0xa5]);
    c
}

/// The reflected CRC-64/REDIS polynomial (Jones, `0xad93d23594c935a9`
/// bit-reversed).
const POLY: u64 = 0x95ac_9329_ac4b_c9b5;

/// `a * b` modulo the polynomial, both in the reflected representation
/// (`x^0` is the top bit).
const fn mul_mod(a: u64, mut b: u64) -> u64 {
    if a == 0 {
        return 0;
    }
    let mut m = 1u64 << 63;
    let mut p = 0;
    loop {
        if a & m != 0 {
            p ^= b;
            if a & (m - 1) == 0 {
                return p;
            }
        }
        m >>= 1;
        b = if b & 1 != 0 { (b >> 1) ^ POLY } else { b >> 1 };
    }
}

/// `x^(2^k)` modulo the polynomial, for k in 0..64.
const X2N: [u64; 64] = {
    let mut t = [0u64; 64];
    t[0] = 1 << 62;
    let mut k = 1;
    while k < 64 {
        t[k] = mul_mod(t[k - 1], t[k - 1]);
        k += 1;
    }
    t
};

/// The CRC-64/REDIS of some bytes with their length: two pieces join into
/// the CRC of their concatenation in a few hundred operations (the
/// polynomial arithmetic of zlib's `crc32_combine`; the CRC has init 0 and
/// no final xor, so it is linear), whatever their lengths.
///
/// ```
/// use rdbkit::format::crc::{crc64, Piece};
/// let (a, b) = (Piece::of(b"1234"), Piece::of(b"56789"));
/// assert_eq!(a.join(b).crc, crc64(b"123456789"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Piece {
    /// The CRC of the bytes.
    pub crc: u64,
    /// How many bytes.
    pub len: u64,
}

impl Piece {
    /// The piece of `data`.
    pub fn of(data: &[u8]) -> Piece {
        Piece {
            crc: crc64(data),
            len: data.len() as u64,
        }
    }

    /// The piece of this piece's bytes followed by `next`'s.
    pub fn join(self, next: Piece) -> Piece {
        // crc(A || B) = crc(A) * x^(8 |B|) + crc(B)
        let mut shift = 1u64 << 63;
        let mut n = next.len;
        let mut k = 3;
        while n != 0 {
            if n & 1 != 0 {
                shift = mul_mod(X2N[k & 63], shift);
            }
            n >>= 1;
            k += 1;
        }
        Piece {
            crc: mul_mod(shift, self.crc) ^ next.crc,
            len: self.len + next.len,
        }
    }
}

/// An incremental CRC-64/REDIS.
///
/// ```
/// use rdbkit::format::crc::{crc64, Crc64};
/// let mut c = Crc64::new();
/// c.update(b"1234");
/// c.update(b"56789");
/// assert_eq!(c.value(), crc64(b"123456789"));
/// ```
#[derive(Clone)]
pub struct Crc64(Digest);

impl Crc64 {
    /// A fresh CRC (value 0).
    pub fn new() -> Self {
        Crc64(Digest::new(CrcAlgorithm::Crc64Redis))
    }

    /// Feeds bytes.
    #[inline]
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// Appends the bytes `other` was fed: afterwards `self` is the CRC of
    /// its own bytes followed by those (computed without them, so the two
    /// halves can be fed on different threads).
    ///
    /// ```
    /// use rdbkit::format::crc::{crc64, Crc64};
    /// let (mut a, mut b) = (Crc64::new(), Crc64::new());
    /// a.update(b"1234");
    /// b.update(b"56789");
    /// a.combine(&b);
    /// assert_eq!(a.value(), crc64(b"123456789"));
    /// ```
    pub fn combine(&mut self, other: &Crc64) {
        self.0.combine(&other.0);
    }

    /// The CRC of everything fed so far.
    pub fn value(&self) -> u64 {
        self.0.finalize()
    }
}

impl Default for Crc64 {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Crc64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Crc64({:#018x})", self.value())
    }
}

#[cfg(test)]
mod tests {
    use super::{crc64, Piece};

    /// Joined pieces are the CRC of the concatenation: every split of
    /// random data (empty pieces included), and chains of many pieces.
    #[test]
    fn pieces_join_into_the_crc_of_their_concatenation() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let data: Vec<u8> = (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for cut in (0..data.len()).step_by(37).chain([0, 1, 4999, 5000]) {
            let (a, b) = data.split_at(cut);
            let joined = Piece::of(a).join(Piece::of(b));
            assert_eq!(joined, Piece::of(&data), "cut {cut}");
        }
        let mut all = Piece::default();
        for chunk in data.chunks(333) {
            all = all.join(Piece::of(chunk));
        }
        assert_eq!(all.crc, crc64(&data));
        assert_eq!(crc64(b"123456789"), 0xe9c6d914c4b8d9ca);
    }
}
