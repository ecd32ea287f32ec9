//! What keys cost in a server's memory once a dump is loaded: per key the
//! figure `MEMORY USAGE key SAMPLES 0` reports, from the value as the file
//! holds it and the encoding the server turns it into on load.
//!
//! A [`Model`] is one server family's rules with an [`Allocator`]'s size
//! classes: [`redis70`] documents Redis 6.0 to 7.4's and [`valkey`]
//! Valkey 8.1's and 9.1's, each with the figures it was checked against.
//!
//! ```
//! use rdbkit::decode::{Decoder, Item, Options};
//! use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
//! use rdbkit::memory::{Allocator, MemEncoding, Model};
//! use rdbkit::release::ServerRelease;
//!
//! let mut w = RdbWriter::new(Vec::new(), Target::redis(10)).unwrap();
//! w.select_db(0).unwrap();
//! w.key(b"greeting", &OwnedValue::String(b"hello".to_vec()), KeyMeta::default()).unwrap();
//! let file = w.finish().unwrap();
//!
//! let model = Model::new(ServerRelease::parse("redis-7.0").unwrap(), Allocator::Jemalloc).unwrap();
//! for item in Decoder::new(&file, Options::default()).unwrap() {
//!     if let Item::Key(k) = item.unwrap() {
//!         let m = model.key(&k).unwrap();
//!         // dictEntry 24 + key sds 16 + embstr robj 32, as Redis 7.0 reports.
//!         assert_eq!((m.bytes, m.encoding), (72, MemEncoding::Embstr));
//!     }
//! }
//! ```

mod alloc;
pub mod redis70;
mod sds;
pub mod valkey;

pub use alloc::Allocator;

use crate::decode::KeyRecord;
use crate::release::ServerRelease;
use crate::Result;

/// How the server holds a value after loading it (`OBJECT ENCODING`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum MemEncoding {
    /// A string that is an integer.
    Int,
    /// A short string in one allocation with its object.
    Embstr,
    /// A string in its own allocation.
    Raw,
    /// A list of listpack nodes.
    Quicklist,
    /// A compact listpack (hash, sorted set, set, short list).
    Listpack,
    /// A listpack hash with field TTLs (Redis 7.4+).
    ListpackEx,
    /// A compact ziplist (hash, sorted set; Redis 6 and older).
    Ziplist,
    /// A set of integers.
    Intset,
    /// A hash table (set, hash).
    Hashtable,
    /// A skip list with a hash table (sorted set).
    Skiplist,
    /// A stream.
    Stream,
    /// A module value (its module's own figure is unknown here).
    Module,
}

impl MemEncoding {
    /// The name `OBJECT ENCODING` gives.
    ///
    /// ```
    /// assert_eq!(rdbkit::memory::MemEncoding::Embstr.name(), "embstr");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            MemEncoding::Int => "int",
            MemEncoding::Embstr => "embstr",
            MemEncoding::Raw => "raw",
            MemEncoding::Quicklist => "quicklist",
            MemEncoding::Listpack => "listpack",
            MemEncoding::ListpackEx => "listpackex",
            MemEncoding::Ziplist => "ziplist",
            MemEncoding::Intset => "intset",
            MemEncoding::Hashtable => "hashtable",
            MemEncoding::Skiplist => "skiplist",
            MemEncoding::Stream => "stream",
            MemEncoding::Module => "module",
        }
    }
}

/// What one key costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyMemory {
    /// Bytes, as `MEMORY USAGE key SAMPLES 0` reports them.
    pub bytes: u64,
    /// The encoding the server holds the value in.
    pub encoding: MemEncoding,
    /// Bytes the allocator really gives the key (what `used_memory`
    /// counts): `MEMORY USAGE` counts some structures at their `sizeof`,
    /// which the allocator rounds up.
    pub allocated: u64,
    /// Elements of the value (members, fields, list elements; 1 for a
    /// string), when the model saw them all; `None` for streams and
    /// modules.
    pub elements: Option<u64>,
}

/// The server families with a model.
#[derive(Debug, Clone, Copy)]
enum Family {
    Redis70(redis70::Redis70),
}

/// One server family's memory rules with an allocator.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    release: ServerRelease,
    alloc: Allocator,
    family: Family,
}

/// No model for this server release (yet).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no memory model for {release} yet (models: {known})")]
pub struct NoModel {
    /// The release asked for.
    pub release: String,
    /// The releases there are models for.
    pub known: &'static str,
}

impl Model {
    /// The model of `release` with `alloc`'s size classes.
    ///
    /// # Errors
    /// [`NoModel`] for a release without a model.
    pub fn new(release: ServerRelease, alloc: Allocator) -> std::result::Result<Model, NoModel> {
        let family = match (release.valkey, release.major, release.minor) {
            (false, 6, 0 | 2) => Family::Redis70(redis70::Redis70 {
                alloc,
                v72: false,
                v6: true,
                valkey: None,
            }),
            (false, 7, 0) => Family::Redis70(redis70::Redis70 {
                alloc,
                v72: false,
                v6: false,
                valkey: None,
            }),
            (false, 7, 4) => Family::Redis70(redis70::Redis70 {
                alloc,
                v72: true,
                v6: false,
                valkey: None,
            }),
            (true, 8, 1) | (true, 9, 1) => Family::Redis70(redis70::Redis70 {
                alloc,
                v72: true,
                v6: false,
                valkey: Some(valkey::Valkey {
                    alloc,
                    v91: release.major == 9,
                }),
            }),
            _ => {
                return Err(NoModel {
                    release: format!(
                        "{}-{}.{}",
                        if release.valkey { "valkey" } else { "redis" },
                        release.major,
                        release.minor
                    ),
                    known: "redis-6.0, redis-6.2, redis-7.0, redis-7.4, valkey-8.1, valkey-9.1",
                })
            }
        };
        Ok(Model {
            release,
            alloc,
            family,
        })
    }

    /// The release modelled.
    pub fn release(&self) -> ServerRelease {
        self.release
    }

    /// The allocator modelled.
    pub fn allocator(&self) -> Allocator {
        self.alloc
    }

    /// The memory of a database's dicts once `keys` keys (`expires` of them
    /// with an expiry) are loaded: the buckets of the dict of keys and of
    /// the dict of expiries, and an entry per expiry.
    pub fn db_dicts(&self, keys: u64, expires: u64) -> u64 {
        match &self.family {
            Family::Redis70(m) => m.db_dicts(keys, expires),
        }
    }

    /// What `MEMORY USAGE key SAMPLES 0` reports for the key once the
    /// server has loaded it.
    ///
    /// # Errors
    /// A decoding error of the value (with its offset; add the key with
    /// [`crate::Error::with_key`]).
    #[inline]
    pub fn key(&self, rec: &KeyRecord<'_>) -> Result<KeyMemory> {
        match &self.family {
            Family::Redis70(m) => m.key(rec),
        }
    }
}

#[cfg(test)]
mod tests;
