//! The encoding of a value as stored in a file, shared by the decoder and
//! the statistics.

use super::{rdb_type as t, Lineage};

/// How a value is encoded in the file: what its type byte says beyond the
/// [`Kind`](super::Kind). The [names](Encoding::name) are those of
/// `rdbkit info` and `rdbkit verify`.
///
/// ```
/// use rdbkit::format::{Encoding, Lineage};
/// let e = Encoding::of(18, Lineage::Redis);
/// assert_eq!(e, Encoding::Quicklist2);
/// assert_eq!(e.to_string(), "quicklist2");
/// assert_eq!(format!("{e:>12}"), "  quicklist2");
/// ```
///
/// Encodings are ordered by name, as reports list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encoding {
    /// A string (type 0).
    String,
    /// A list of strings (type 1, RDB < 7).
    LinkedList,
    /// A set or hash as a plain element list (types 2, 4).
    Hashtable,
    /// A sorted set with scores as text (type 3).
    SkiplistText,
    /// A sorted set with binary scores (type 5).
    Skiplist,
    /// A module value before the module API's GA format (type 6).
    ModulePreGa,
    /// A module value (type 7).
    Module,
    /// A hash as a zipmap (type 9, Redis < 2.6).
    Zipmap,
    /// A list, sorted set or hash as a ziplist (types 10, 12, 13).
    Ziplist,
    /// A set of integers (type 11).
    Intset,
    /// A list as a quicklist of ziplists (type 14).
    Quicklist,
    /// A list as a quicklist of listpacks (type 18).
    Quicklist2,
    /// A hash, sorted set or set as a listpack (types 16, 17, 20).
    Listpack,
    /// A stream, first format (type 15).
    StreamV1,
    /// A stream, second format (type 19).
    StreamV2,
    /// A stream, third format (type 21).
    StreamV3,
    /// A stream, fourth format (Redis type 26).
    StreamV4,
    /// A stream, fifth format (Redis type 27).
    StreamV5,
    /// A hash with field expiries (Valkey type 22, Redis type 24).
    HashtableTtl,
    /// A hash with field expiries, Redis 7.4 release candidates (Redis
    /// type 22).
    HashtableTtlPreGa,
    /// A listpack hash with field expiries, Redis 7.4 release candidates
    /// (type 23).
    ListpackExPreGa,
    /// A listpack hash with field expiries (type 25).
    ListpackEx,
    /// An array (type 28, Redis 8.8+).
    Array,
    /// A type byte that is not a value type.
    Unknown,
}

impl Encoding {
    /// The encoding of a value type byte in a file of the given lineage.
    ///
    /// ```
    /// use rdbkit::format::{Encoding, Lineage};
    /// assert_eq!(Encoding::of(22, Lineage::Valkey), Encoding::HashtableTtl);
    /// assert_eq!(Encoding::of(22, Lineage::Redis), Encoding::HashtableTtlPreGa);
    /// assert_eq!(Encoding::of(8, Lineage::Redis), Encoding::Unknown);
    /// ```
    pub fn of(rdb_type: u8, lineage: Lineage) -> Encoding {
        match rdb_type {
            t::STRING => Encoding::String,
            t::LIST => Encoding::LinkedList,
            t::SET | t::HASH => Encoding::Hashtable,
            t::ZSET => Encoding::SkiplistText,
            t::ZSET_2 => Encoding::Skiplist,
            t::MODULE_PRE_GA => Encoding::ModulePreGa,
            t::MODULE_2 => Encoding::Module,
            t::HASH_ZIPMAP => Encoding::Zipmap,
            t::LIST_ZIPLIST | t::ZSET_ZIPLIST | t::HASH_ZIPLIST => Encoding::Ziplist,
            t::SET_INTSET => Encoding::Intset,
            t::LIST_QUICKLIST => Encoding::Quicklist,
            t::LIST_QUICKLIST_2 => Encoding::Quicklist2,
            t::HASH_LISTPACK | t::ZSET_LISTPACK | t::SET_LISTPACK => Encoding::Listpack,
            t::STREAM_LISTPACKS => Encoding::StreamV1,
            t::STREAM_LISTPACKS_2 => Encoding::StreamV2,
            t::STREAM_LISTPACKS_3 => Encoding::StreamV3,
            t::HASH_METADATA_PRE_GA_OR_HASH_2 if lineage == Lineage::Valkey => {
                Encoding::HashtableTtl
            }
            t::HASH_METADATA_PRE_GA_OR_HASH_2 => Encoding::HashtableTtlPreGa,
            t::HASH_LISTPACK_EX_PRE_GA => Encoding::ListpackExPreGa,
            t::HASH_METADATA => Encoding::HashtableTtl,
            t::HASH_LISTPACK_EX => Encoding::ListpackEx,
            t::STREAM_LISTPACKS_4 => Encoding::StreamV4,
            t::STREAM_LISTPACKS_5 => Encoding::StreamV5,
            t::ARRAY => Encoding::Array,
            _ => Encoding::Unknown,
        }
    }

    /// The lower-case name shown by `rdbkit info` and `rdbkit verify`.
    ///
    /// ```
    /// assert_eq!(rdbkit::format::Encoding::SkiplistText.name(), "skiplist-text");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Encoding::String => "string",
            Encoding::LinkedList => "linkedlist",
            Encoding::Hashtable => "hashtable",
            Encoding::SkiplistText => "skiplist-text",
            Encoding::Skiplist => "skiplist",
            Encoding::ModulePreGa => "module-pre-ga",
            Encoding::Module => "module",
            Encoding::Zipmap => "zipmap",
            Encoding::Ziplist => "ziplist",
            Encoding::Intset => "intset",
            Encoding::Quicklist => "quicklist",
            Encoding::Quicklist2 => "quicklist2",
            Encoding::Listpack => "listpack",
            Encoding::StreamV1 => "stream-v1",
            Encoding::StreamV2 => "stream-v2",
            Encoding::StreamV3 => "stream-v3",
            Encoding::StreamV4 => "stream-v4",
            Encoding::StreamV5 => "stream-v5",
            Encoding::HashtableTtl => "hashtable-ttl",
            Encoding::HashtableTtlPreGa => "hashtable-ttl-pre-ga",
            Encoding::ListpackExPreGa => "listpack-ex-pre-ga",
            Encoding::ListpackEx => "listpack-ex",
            Encoding::Array => "array",
            Encoding::Unknown => "unknown",
        }
    }
}

impl Ord for Encoding {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name().cmp(other.name())
    }
}

impl PartialOrd for Encoding {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The [name](Encoding::name), padded as the format asks.
impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Kind;

    /// Every value type byte has an encoding that belongs to its kind's
    /// family, every other byte is `Unknown`, and the names are distinct.
    #[test]
    fn every_type_byte_has_its_encoding() {
        let mut names = std::collections::BTreeMap::new();
        for lineage in [Lineage::Redis, Lineage::Valkey] {
            for b in 0..=255u8 {
                let e = Encoding::of(b, lineage);
                let kind = Kind::of(b, lineage);
                if kind.is_none() {
                    // Types 23-28 are Redis-only kinds; their encoding
                    // names are kept for both lineages, as before.
                    assert!(
                        e == Encoding::Unknown || (23..=28).contains(&b),
                        "{b} {lineage:?}: {e}"
                    );
                }
                if kind.is_some() {
                    assert_ne!(e, Encoding::Unknown, "{b} {lineage:?}");
                }
                if let Some(prev) = names.insert(e.name(), e) {
                    assert_eq!(prev, e, "{} named twice", e.name());
                }
            }
        }
        assert_eq!(names.len(), 24, "{names:?}");
        assert_eq!(Encoding::of(0, Lineage::Redis).name(), "string");
        assert_eq!(Encoding::of(11, Lineage::Redis).name(), "intset");
        assert_eq!(Encoding::of(17, Lineage::Valkey).name(), "listpack");
        assert_eq!(Encoding::of(21, Lineage::Redis).name(), "stream-v3");
        assert_eq!(Encoding::of(25, Lineage::Redis).name(), "listpack-ex");
    }

    /// Every type byte's encoding, by name, in both lineages: the names of
    /// `rdbkit info` and the JSON reports, which must not change.
    #[test]
    fn names_of_every_type_byte() {
        let names = [
            "string",
            "linkedlist",
            "hashtable",
            "skiplist-text",
            "hashtable",
            "skiplist",
            "module-pre-ga",
            "module",
            "unknown",
            "zipmap",
            "ziplist",
            "intset",
            "ziplist",
            "ziplist",
            "quicklist",
            "stream-v1",
            "listpack",
            "listpack",
            "quicklist2",
            "stream-v2",
            "listpack",
            "stream-v3",
            "hashtable-ttl-pre-ga", // 22; Valkey: "hashtable-ttl"
            "listpack-ex-pre-ga",
            "hashtable-ttl",
            "listpack-ex",
            "stream-v4",
            "stream-v5",
            "array",
        ];
        for lineage in [Lineage::Redis, Lineage::Valkey] {
            for b in 0..=255u8 {
                let e = Encoding::of(b, lineage);
                let want = match (b, lineage) {
                    (22, Lineage::Valkey) => "hashtable-ttl",
                    _ => names.get(usize::from(b)).copied().unwrap_or("unknown"),
                };
                assert_eq!(e.name(), want, "{b} {lineage:?}");
                assert_eq!(e.to_string(), want);
                assert_eq!(format!("{e:<22}|"), format!("{want:<22}|"));
            }
        }
    }

    /// The order is the order of the names (reports list encodings so).
    #[test]
    fn ordered_by_name() {
        let all: Vec<Encoding> = (0..=255u8)
            .flat_map(|b| {
                [
                    Encoding::of(b, Lineage::Redis),
                    Encoding::of(b, Lineage::Valkey),
                ]
            })
            .collect();
        for a in &all {
            for b in &all {
                assert_eq!(a.cmp(b), a.name().cmp(b.name()), "{a:?} {b:?}");
                assert_eq!(a == b, a.name() == b.name(), "{a:?} {b:?}");
            }
        }
    }
}
