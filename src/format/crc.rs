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

/// The state [`fingerprint`] starts from (the marker byte fed).
pub(crate) fn fingerprint_start() -> Crc64 {
    let mut c = Crc64::new();
    c.update(&[0xa5]);
    c
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
