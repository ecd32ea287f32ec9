//! The logical type of a value, shared by the decoder and the encoder.

use super::{rdb_type as t, Lineage};

/// The logical type of a value, as `TYPE` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Kind {
    /// String.
    String,
    /// List.
    List,
    /// Set.
    Set,
    /// Sorted set.
    ZSet,
    /// Hash.
    Hash,
    /// Stream.
    Stream,
    /// Module value.
    Module,
    /// Array (Redis 8.8+).
    Array,
}

impl Kind {
    /// The lower-case name used in JSON output and `--type` filters.
    ///
    /// ```
    /// assert_eq!(rdbkit::format::Kind::ZSet.name(), "zset");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::List => "list",
            Kind::Set => "set",
            Kind::ZSet => "zset",
            Kind::Hash => "hash",
            Kind::Stream => "stream",
            Kind::Module => "module",
            Kind::Array => "array",
        }
    }

    /// Parses a name produced by [`Kind::name`].
    pub fn from_name(s: &str) -> Option<Kind> {
        Some(match s {
            "string" => Kind::String,
            "list" => Kind::List,
            "set" => Kind::Set,
            "zset" => Kind::ZSet,
            "hash" => Kind::Hash,
            "stream" => Kind::Stream,
            "module" => Kind::Module,
            "array" => Kind::Array,
            _ => return None,
        })
    }

    /// The kind of a value type byte in a file of the given lineage, or
    /// `None` when the byte is not a value type there.
    pub fn of(rdb_type: u8, lineage: Lineage) -> Option<Kind> {
        Some(match rdb_type {
            t::STRING => Kind::String,
            t::LIST | t::LIST_ZIPLIST | t::LIST_QUICKLIST | t::LIST_QUICKLIST_2 => Kind::List,
            t::SET | t::SET_INTSET | t::SET_LISTPACK => Kind::Set,
            t::ZSET | t::ZSET_2 | t::ZSET_ZIPLIST | t::ZSET_LISTPACK => Kind::ZSet,
            t::HASH | t::HASH_ZIPMAP | t::HASH_ZIPLIST | t::HASH_LISTPACK => Kind::Hash,
            t::HASH_METADATA_PRE_GA_OR_HASH_2 => Kind::Hash,
            t::HASH_LISTPACK_EX_PRE_GA | t::HASH_METADATA | t::HASH_LISTPACK_EX
                if lineage == Lineage::Redis =>
            {
                Kind::Hash
            }
            t::STREAM_LISTPACKS | t::STREAM_LISTPACKS_2 | t::STREAM_LISTPACKS_3 => Kind::Stream,
            t::STREAM_LISTPACKS_4 | t::STREAM_LISTPACKS_5 if lineage == Lineage::Redis => {
                Kind::Stream
            }
            t::MODULE_PRE_GA | t::MODULE_2 => Kind::Module,
            t::ARRAY if lineage == Lineage::Redis => Kind::Array,
            _ => return None,
        })
    }
}

/// The type name `rdbkit dump` prints ([`Kind::name`]).
///
/// ```
/// assert_eq!(rdbkit::format::Kind::Hash.to_string(), "hash");
/// ```
impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}
