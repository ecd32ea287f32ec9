//! Target versions: what a given server release writes and reads.

use std::fmt;

use crate::format::{rdb_type as t, Header, Lineage};

/// The format a file is written for: lineage (magic) and RDB version, and
/// whether the producer is Valkey (which writes `valkey-ver` instead of `redis-ver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Header magic lineage.
    pub lineage: Lineage,
    /// RDB version.
    pub version: u32,
    /// Produced as by a Valkey server (affects aux fields only).
    pub valkey: bool,
}

/// Server releases and the RDB version they write.
const RELEASES: &[(&str, u32)] = &[
    ("redis-2.4", 2),
    ("redis-2.6", 6),
    ("redis-2.8", 6),
    ("redis-3.0", 6),
    ("redis-3.2", 7),
    ("redis-4.0", 8),
    ("redis-5.0", 9),
    ("redis-6.0", 9),
    ("redis-6.2", 9),
    ("redis-7.0", 10),
    ("redis-7.2", 11),
    ("redis-7.4", 12),
    ("redis-8.0", 12),
    ("redis-8.2", 12),
    ("redis-8.4", 12),
    ("redis-8.6", 13),
    ("redis-8.8", 14),
    ("valkey-7.2", 11),
    ("valkey-8.0", 11),
    ("valkey-8.1", 11),
    ("valkey-9.0", 80),
    ("valkey-9.1", 80),
];

impl Target {
    /// A Redis-lineage target of the given version.
    pub fn redis(version: u32) -> Target {
        Target {
            lineage: Lineage::Redis,
            version,
            valkey: false,
        }
    }

    /// Parses an RDB version number (`10`, `80`) or a server name
    /// (`redis-7.0`, `valkey-9.1`, `redis-enterprise-7.4`).
    ///
    /// ```
    /// use rdbkit::encode::Target;
    /// assert_eq!(Target::parse("redis-7.0").unwrap().version, 10);
    /// assert_eq!(Target::parse("valkey-9.1").unwrap().version, 80);
    /// assert_eq!(Target::parse("redis-enterprise-7.4").unwrap().version, 12);
    /// assert_eq!(Target::parse("11").unwrap().version, 11);
    /// assert!(Target::parse("redis-9.9").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Target, String> {
        if let Ok(v) = s.parse::<u32>() {
            let tgt = if v >= 80 {
                Target {
                    lineage: Lineage::Valkey,
                    version: v,
                    valkey: true,
                }
            } else {
                Target::redis(v)
            };
            tgt.header()
                .check()
                .map_err(|e| format!("target {s}: {}", e.kind()))?;
            return Ok(tgt);
        }
        let name = s
            .strip_prefix("redis-enterprise-")
            .map(|v| format!("redis-{v}"))
            .unwrap_or_else(|| s.to_owned());
        let (_, v) = RELEASES.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            format!(
                "unknown target '{s}': use an RDB version (1-14, 80) or one of {}, redis-enterprise-X.Y",
                RELEASES.iter().map(|r| r.0).collect::<Vec<_>>().join(", ")
            )
        })?;
        let valkey = name.starts_with("valkey");
        Ok(Target {
            lineage: if *v >= 80 {
                Lineage::Valkey
            } else {
                Lineage::Redis
            },
            version: *v,
            valkey,
        })
    }

    /// The file header for this target.
    pub fn header(&self) -> Header {
        Header {
            lineage: self.lineage,
            version: self.version,
        }
    }

    /// The stream type byte this target writes, if it has streams.
    pub fn stream_type(&self) -> Option<u8> {
        match (self.lineage, self.version) {
            (Lineage::Valkey, _) => Some(t::STREAM_LISTPACKS_3),
            (_, v) if v >= 14 => Some(t::STREAM_LISTPACKS_5),
            (_, 13) => Some(t::STREAM_LISTPACKS_4),
            (_, 11 | 12) => Some(t::STREAM_LISTPACKS_3),
            (_, 10) => Some(t::STREAM_LISTPACKS_2),
            (_, 9) => Some(t::STREAM_LISTPACKS),
            _ => None,
        }
    }

    /// Whether this target can hold hash field TTLs.
    pub fn has_field_ttls(&self) -> bool {
        self.lineage == Lineage::Valkey || self.version >= 12
    }

    /// Whether this target has function libraries (`FUNCTION2`).
    pub fn has_functions(&self) -> bool {
        self.lineage == Lineage::Valkey || self.version >= 10
    }

    /// Whether this target knows the value type `rdb_type` as written in a
    /// file of lineage `src` (types 22/23 mean different things per lineage).
    pub fn can_read(&self, rdb_type: u8, src: Lineage) -> bool {
        let v = self.version;
        let valkey_tgt = self.lineage == Lineage::Valkey;
        match rdb_type {
            t::STRING | t::LIST | t::SET | t::ZSET | t::HASH => true,
            t::ZSET_2 | t::MODULE_2 => v >= 8,
            t::HASH_ZIPMAP | t::LIST_ZIPLIST | t::SET_INTSET | t::ZSET_ZIPLIST => v >= 2,
            t::HASH_ZIPLIST => v >= 4,
            t::LIST_QUICKLIST => v >= 7,
            t::STREAM_LISTPACKS => v >= 9,
            t::HASH_LISTPACK | t::ZSET_LISTPACK | t::LIST_QUICKLIST_2 | t::STREAM_LISTPACKS_2 => {
                v >= 10
            }
            t::SET_LISTPACK | t::STREAM_LISTPACKS_3 => v >= 11,
            t::HASH_METADATA_PRE_GA_OR_HASH_2 => src == Lineage::Valkey && valkey_tgt,
            t::HASH_METADATA | t::HASH_LISTPACK_EX => {
                src == Lineage::Redis && !valkey_tgt && v >= 12
            }
            t::STREAM_LISTPACKS_4 => src == Lineage::Redis && !valkey_tgt && v >= 13,
            t::STREAM_LISTPACKS_5 | t::ARRAY => src == Lineage::Redis && !valkey_tgt && v >= 14,
            _ => false,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.lineage {
            Lineage::Redis => write!(f, "REDIS{:04}", self.version),
            Lineage::Valkey => write!(f, "VALKEY{:03}", self.version),
        }
    }
}
