//! # rdbkit
//!
//! Decode, encode, convert and merge Redis and Valkey RDB dump files
//! (Redis RDB 1–14, Valkey 80/81).
//!
//! ## Modules
//!
//! | module | what |
//! |---|---|
//! | [`format`](mod@format) | what reading and writing share: opcodes, type ids, [`format::Kind`], [`format::Header`], [`format::KeyMeta`], CRC-64, LZF |
//! | [`release`] | the table of Redis / Valkey releases; [`release::Target`] (a file format to write) |
//! | [`decode`] | the lazy zero-copy [`decode::Decoder`], values and their cursors, and the scan engine ([`decode::scan`]) every whole-file pass runs on |
//! | [`encode`] | the write side: [`encode::RdbWriter`], [`encode::OwnedValue`], conversion for a target, [`encode::copy_filtered`] |
//! | [`stats`] | [`stats::FileStats`] and its visitor ([`stats::inspect`]: verify and count a file) |
//! | [`merge`] | merging per-node dumps into one verified file ([`merge::merge`]) |
//! | [`atomic`], [`Input`], [`interrupt`] | safe outputs (temporary file, fsync, rename), guarded inputs, stopping work |
//! | [`export`] | JSON (feature `json`) and RESP renderings |
//! | [`memory`] | what a key costs in a server's memory once loaded, per server family and allocator |
//! | [`analyze`] | memory by type, database, prefix and TTL, the biggest keys, over several dumps |
//! | [`cluster`] | Redis Cluster key slots, slot ranges, `CLUSTER NODES` listings |
//! | [`diff`] | whether two datasets (each one or several dumps) hold the same keys and values, whatever the encoding |
//!
//! `ARCHITECTURE.md` in the repository shows how they fit together.
//!
//! ## Features
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `gzip` | yes | gzip-compressed inputs ([`Input`]) and `.gz` merge outputs (flate2) |
//! | `json` | yes | [`export::json`](mod@export) and the `to_json` methods of [`stats::FileStats`], [`merge::MergeReport`], [`decode::Warnings`] (serde_json, base64) |
//! | `parquet` | yes | `analyze::KeysParquet`: one row per key as Parquet (parquet, without arrow) |
//! | `cli` | yes | the `rdbkit` binary (clap, indicatif, regex, signal-hook); implies `gzip`, `json` and `parquet` |
//!
//! With `default-features = false` rdbkit decodes, verifies, encodes,
//! converts and merges with nom, thiserror, memmap2 and crc-fast only (and
//! libc on Linux). Without `gzip` a gzip input is an [`ErrorKind::Io`]
//! error of kind [`std::io::ErrorKind::Unsupported`], and a `.gz` merge
//! output is refused before anything is read.
//!
//! ## Decode
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
//!
//! ## Encode
//!
//! ```
//! use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
//! let mut w = RdbWriter::new(Vec::new(), "redis-7.0".parse::<Target>().unwrap()).unwrap();
//! w.select_db(0).unwrap();
//! w.key(b"list", &OwnedValue::List(vec![b"a".to_vec()]), KeyMeta::default()).unwrap();
//! let file = w.finish().unwrap();
//! assert_eq!(rdbkit::stats::inspect(&file, Default::default(), 0).unwrap().keys(), 1);
//! ```
//!
//! ## Convert
//!
//! A copy for another target: records the target reads are copied byte
//! for byte, the others re-encoded ([`encode::copy_filtered`], keeping
//! every key here).
//!
//! ```
//! use rdbkit::encode::{copy_filtered, KeyMeta, OwnedValue, RdbWriter, Target};
//! let mut w = RdbWriter::new(Vec::new(), Target::redis(11)).unwrap();
//! w.select_db(0).unwrap();
//! w.key(b"s", &OwnedValue::Set(vec![b"x".to_vec(), b"y".to_vec()]), KeyMeta::default()).unwrap();
//! let redis72 = w.finish().unwrap();
//! let mut redis60 = Vec::new();
//! let s = copy_filtered(&redis72, &mut redis60, Some(Target::redis(9)), |_| true).unwrap();
//! assert_eq!(s.kept_keys(), 1);
//! assert_eq!(&redis60[..9], b"REDIS0009");
//! ```
//!
//! ## Merge
//!
//! [`merge::merge`] takes per-node files and writes one verified output;
//! see the [`merge`] module for a complete example. [`merge::split`]
//! writes several outputs (cluster shards, say) from one reading of the
//! inputs. [`merge::merge_bytes`] does the same as a merge for inputs held
//! in memory, writing into any [`std::io::Write`]:
//!
//! ```
//! use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
//! use rdbkit::merge::{merge_bytes, MergeOptions};
//!
//! let node = |key: &[u8]| {
//!     let mut w = RdbWriter::new(Vec::new(), Target::redis(11)).unwrap();
//!     w.select_db(0).unwrap();
//!     w.resize_db(1, 0).unwrap();
//!     w.key(key, &OwnedValue::String(b"v".to_vec()), KeyMeta::default()).unwrap();
//!     w.finish().unwrap()
//! };
//! let (n1, n2) = (node(b"a"), node(b"b"));
//! let inputs = [("node1", &n1[..]), ("node2", &n2[..])];
//! let (report, merged) = merge_bytes(&inputs, Vec::new(), &MergeOptions::default()).unwrap();
//! assert_eq!(report.output_keys(), 2);
//! assert!(report.output.unwrap().verified);
//! assert_eq!(&merged[..9], b"REDIS0011");
//! ```
//!
//! ## Errors
//!
//! Every fallible function returns [`Result`]: an [`Error`] with an
//! [`ErrorKind`], the byte offset and, when known, the key. Merges return
//! a [`merge::MergeError`] carrying the report and typed causes.
#![deny(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod decode;
pub mod encode;
mod error;
pub mod format;
pub mod release;

pub use error::{Error, ErrorKind, InputError, IoError, Loss, Result};

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

pub use file::Input;
pub mod analyze;
pub mod cluster;
pub mod diff;
pub mod export;
pub mod memory;
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
