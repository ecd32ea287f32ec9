//! # rdbkit
//!
//! Decode, encode, convert and merge Redis and Valkey RDB dump files.
//!
//! The decoder works over borrowed bytes (a memory map for files) and yields
//! one record at a time; keys and raw strings are borrowed, collections are
//! iterated lazily from their encoded blobs.
//!
//! ```
//! use rdbkit::decode::{Decoder, Item, Options};
//! // A minimal RDB 11 file: one key "a" = "1" (see the format reference).
//! let file = b"REDIS0011\xfa\x09redis-ver\x057.2.0\xfe\x00\xfb\x01\x00\x00\x01a\xc0\x01\xff\x11\x53\xe8\x4d\xc2\xcf\xc3\x51";
//! let mut keys = 0;
//! for item in Decoder::new(file, Options::default()).unwrap() {
//!     if let Item::Key(k) = item.unwrap() {
//!         assert_eq!(&*k.key.to_bytes().unwrap(), b"a");
//!         assert_eq!(&*k.value.string().unwrap().to_bytes().unwrap(), b"1");
//!         keys += 1;
//!     }
//! }
//! assert_eq!(keys, 1);
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod decode;
pub mod encode;
mod error;
pub mod format;
pub mod release;

pub use error::{Error, ErrorKind, IoError, Loss, Result};

/// Resource limits applied while decoding untrusted input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest uncompressed length accepted for one LZF string or blob
    /// (default 512 MiB, Redis's `proto-max-bulk-len`).
    pub max_string_len: u64,
    /// Largest element count accepted for one collection (default 2^32).
    pub max_collection_len: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_string_len: 512 << 20,
            max_collection_len: 1 << 32,
        }
    }
}

pub mod atomic;
mod file;
pub mod interrupt;
mod spill;

pub use file::{Input, Mapping};
pub mod export;
pub mod merge;
pub mod stats;

/// The current time in unix milliseconds (the reference time for "already
/// expired").
///
/// ```
/// assert!(rdbkit::now_ms() > 1_700_000_000_000);
/// ```
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
