//! What the decoder and the encoder share: opcodes and type ids, the file
//! [`Header`] and its [`Lineage`], [`ModuleId`], a value's [`Kind`],
//! [`StreamId`], CRC-64 ([`crc`]), LZF ([`lzf`]) and the text forms of
//! integers and doubles.
//!
//! The read side (the byte [`Reader`](crate::decode::Reader),
//! [`RdbStr`](crate::decode::RdbStr), the blob walkers of
//! [`decode::blob`](crate::decode::blob)) is in [`crate::decode`]; the write
//! side (length and string writers, blob builders) in [`crate::encode`].

pub mod crc;
mod encoding;
mod kind;
pub mod lzf;
mod stream_id;

pub use encoding::Encoding;
pub use kind::Kind;
pub use stream_id::StreamId;

/// Opcodes: bytes in type position that are not value types.
pub mod opcode {
    /// Hash-template registry (Redis RDB 15) / `UPDATE` (Valkey 81). Layout unknown.
    pub const OP_242: u8 = 0xF2;
    /// Redis: `KEY_META` (RDB 13+). Valkey: `SLOT_IMPORT` (RDB 80+).
    pub const KEY_META_OR_SLOT_IMPORT: u8 = 0xF3;
    /// `SLOT_INFO` (RDB 12+, cluster mode).
    pub const SLOT_INFO: u8 = 0xF4;
    /// `FUNCTION2`: one library's source.
    pub const FUNCTION2: u8 = 0xF5;
    /// `FUNCTION_PRE_GA` (Redis 7.0-rc1/rc2).
    pub const FUNCTION_PRE_GA: u8 = 0xF6;
    /// `MODULE_AUX`.
    pub const MODULE_AUX: u8 = 0xF7;
    /// `IDLE`: LRU idle seconds of the next key.
    pub const IDLE: u8 = 0xF8;
    /// `FREQ`: LFU counter of the next key.
    pub const FREQ: u8 = 0xF9;
    /// `AUX`: key/value metadata.
    pub const AUX: u8 = 0xFA;
    /// `RESIZEDB`: key and expire counts of the current db.
    pub const RESIZEDB: u8 = 0xFB;
    /// `EXPIRETIME_MS`: absolute expiry of the next key in ms.
    pub const EXPIRETIME_MS: u8 = 0xFC;
    /// `EXPIRETIME`: absolute expiry of the next key in seconds (RDB 1-2).
    pub const EXPIRETIME: u8 = 0xFD;
    /// `SELECTDB`.
    pub const SELECTDB: u8 = 0xFE;
    /// `EOF`, followed by the CRC for RDB >= 5.
    pub const EOF: u8 = 0xFF;
    /// Redis Enterprise private opcode `GCAS`.
    pub const RE_GCAS: u8 = 101;
    /// Redis Enterprise private opcode `GFLAGS`.
    pub const RE_GFLAGS: u8 = 102;
    /// Redis Enterprise private opcode `RAM_LRU`.
    pub const RE_RAM_LRU: u8 = 107;
    /// Redis Enterprise private opcode `SLOT_NUM`.
    pub const RE_SLOT_NUM: u8 = 121;
}

/// Value type ids (the byte before a key).
pub mod rdb_type {
    /// Plain string.
    pub const STRING: u8 = 0;
    /// Linked list of strings.
    pub const LIST: u8 = 1;
    /// Hashtable set.
    pub const SET: u8 = 2;
    /// Sorted set with text-double scores.
    pub const ZSET: u8 = 3;
    /// Hashtable hash.
    pub const HASH: u8 = 4;
    /// Sorted set with binary-double scores.
    pub const ZSET_2: u8 = 5;
    /// Pre-release module value (cannot be skipped).
    pub const MODULE_PRE_GA: u8 = 6;
    /// Module value with sub-opcode stream.
    pub const MODULE_2: u8 = 7;
    /// Zipmap hash.
    pub const HASH_ZIPMAP: u8 = 9;
    /// Ziplist list.
    pub const LIST_ZIPLIST: u8 = 10;
    /// Intset set.
    pub const SET_INTSET: u8 = 11;
    /// Ziplist sorted set.
    pub const ZSET_ZIPLIST: u8 = 12;
    /// Ziplist hash.
    pub const HASH_ZIPLIST: u8 = 13;
    /// Quicklist of ziplists.
    pub const LIST_QUICKLIST: u8 = 14;
    /// Stream, version 1.
    pub const STREAM_LISTPACKS: u8 = 15;
    /// Listpack hash.
    pub const HASH_LISTPACK: u8 = 16;
    /// Listpack sorted set.
    pub const ZSET_LISTPACK: u8 = 17;
    /// Quicklist of listpacks / plain nodes.
    pub const LIST_QUICKLIST_2: u8 = 18;
    /// Stream, version 2.
    pub const STREAM_LISTPACKS_2: u8 = 19;
    /// Listpack set.
    pub const SET_LISTPACK: u8 = 20;
    /// Stream, version 3.
    pub const STREAM_LISTPACKS_3: u8 = 21;
    /// Redis: hash with field TTLs, 7.4 pre-release. Valkey: `HASH_2`.
    pub const HASH_METADATA_PRE_GA_OR_HASH_2: u8 = 22;
    /// Redis: listpack hash with field TTLs, 7.4 pre-release. Valkey 81: `PATH_HASH`.
    pub const HASH_LISTPACK_EX_PRE_GA: u8 = 23;
    /// Hashtable hash with field TTLs.
    pub const HASH_METADATA: u8 = 24;
    /// Listpack hash with field TTLs.
    pub const HASH_LISTPACK_EX: u8 = 25;
    /// Stream, version 4 (IDMP).
    pub const STREAM_LISTPACKS_4: u8 = 26;
    /// Stream, version 5 (NACK zone).
    pub const STREAM_LISTPACKS_5: u8 = 27;
    /// Sparse array.
    pub const ARRAY: u8 = 28;
}

/// The producer lineage of a file, decided by its magic and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lineage {
    /// `REDIS` magic, any version (versions <= 11 are shared with Valkey 7.2-8.1).
    Redis,
    /// `VALKEY` magic (RDB 80+).
    Valkey,
}

impl Lineage {
    /// `"Redis"` or `"Valkey"`.
    pub fn name(self) -> &'static str {
        match self {
            Lineage::Redis => "Redis",
            Lineage::Valkey => "Valkey",
        }
    }
}

/// Newest Redis-lineage RDB version this crate reads.
pub const MAX_REDIS_VERSION: u32 = 14;
/// Newest Valkey-lineage RDB version this crate reads.
pub const MAX_VALKEY_VERSION: u32 = 81;

/// Per-key metadata stored before a key's type byte: what a decoded
/// record carries ([`KeyRecord::meta`](crate::decode::KeyRecord::meta))
/// and what the writer writes
/// ([`RdbWriter::key`](crate::encode::RdbWriter::key)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyMeta {
    /// Absolute expiry in unix ms.
    pub expire_ms: Option<i64>,
    /// LRU idle seconds (written for RDB 9+ targets).
    pub idle: Option<u64>,
    /// LFU counter (written for RDB 9+ targets).
    pub freq: Option<u8>,
}

/// The 9-byte file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Producer lineage (from the magic).
    pub lineage: Lineage,
    /// RDB version number.
    pub version: u32,
}

impl Header {
    /// Parses and checks the 9-byte header.
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`](crate::ErrorKind::Truncated) for fewer than 9 bytes, [`ErrorKind::BadMagic`](crate::ErrorKind::BadMagic)
    /// when they are not `REDIS`/`VALKEY` and 4 or 3 digits, and the errors of
    /// [`Header::check`].
    ///
    /// ```
    /// use rdbkit::format::{Header, Lineage};
    /// let h = Header::parse(b"REDIS0011rest").unwrap();
    /// assert_eq!((h.lineage, h.version), (Lineage::Redis, 11));
    /// assert!(Header::parse(b"REDIS0099").is_err());
    /// ```
    pub fn parse(data: &[u8]) -> crate::Result<Header> {
        use crate::{Error, ErrorKind};
        if data.len() < 9 {
            let shown = String::from_utf8_lossy(&data[..data.len().min(9)]).into_owned();
            return Err(
                if b"REDIS".starts_with(&data[..data.len().min(5)])
                    || b"VALKEY".starts_with(&data[..data.len().min(6)])
                {
                    Error::new(
                        ErrorKind::Truncated {
                            what: "header",
                            needed: 9,
                            available: data.len() as u64,
                        },
                        0,
                    )
                } else {
                    Error::new(ErrorKind::BadMagic(shown), 0)
                },
            );
        }
        let (lineage, digits) = if &data[..5] == b"REDIS" {
            (Lineage::Redis, &data[5..9])
        } else if &data[..6] == b"VALKEY" {
            (Lineage::Valkey, &data[6..9])
        } else {
            return Err(Error::new(ErrorKind::BadMagic(escape_bytes(&data[..9])), 0));
        };
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(Error::new(ErrorKind::BadMagic(escape_bytes(&data[..9])), 0));
        }
        let version = digits
            .iter()
            .fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
        let h = Header { lineage, version };
        h.check()?;
        Ok(h)
    }

    /// Checks that this crate can read the version.
    ///
    /// # Errors
    /// [`ErrorKind::UnsupportedVersion`](crate::ErrorKind::UnsupportedVersion) for a version this crate cannot read
    /// (0, or newer than it knows).
    pub fn check(&self) -> crate::Result<()> {
        use crate::{Error, ErrorKind};
        let (magic, why) = match self.lineage {
            Lineage::Redis if self.version == 0 => ("REDIS", "version 0 does not exist"),
            Lineage::Redis if self.version > MAX_REDIS_VERSION && self.version < 80 => (
                "REDIS",
                "newer than this decoder knows (it reads Redis RDB 1-14)",
            ),
            Lineage::Redis if self.version >= 80 => (
                "REDIS",
                "versions 80+ are Valkey's and need the VALKEY magic",
            ),
            Lineage::Valkey if self.version < 80 => (
                "VALKEY",
                "the VALKEY magic is only used with versions 80 and above",
            ),
            Lineage::Valkey if self.version > MAX_VALKEY_VERSION => (
                "VALKEY",
                "newer than this decoder knows (it reads Valkey RDB 80 and 81)",
            ),
            _ => return Ok(()),
        };
        Err(Error::new(
            ErrorKind::UnsupportedVersion {
                version: self.version,
                magic,
                why,
            },
            0,
        ))
    }

    /// The 9 header bytes for this lineage and version.
    ///
    /// ```
    /// use rdbkit::format::{Header, Lineage};
    /// assert_eq!(&Header { lineage: Lineage::Valkey, version: 80 }.bytes(), b"VALKEY080");
    /// ```
    pub fn bytes(&self) -> [u8; 9] {
        let mut out = [0u8; 9];
        let s = match self.lineage {
            Lineage::Redis => format!("REDIS{:04}", self.version),
            Lineage::Valkey => format!("VALKEY{:03}", self.version),
        };
        out.copy_from_slice(&s.as_bytes()[..9]);
        out
    }

    /// Whether the file carries a CRC-64 trailer (RDB >= 5).
    pub fn has_checksum(&self) -> bool {
        self.version >= 5
    }
}

/// A module type id: 9-character name and encoding version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModuleId(pub u64);

const MODULE_CHARSET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

impl ModuleId {
    /// The 9-character module type name.
    ///
    /// ```
    /// use rdbkit::format::ModuleId;
    /// let id = ModuleId(0x45E25238DF912C03);
    /// assert_eq!(id.name(), "ReJSON-RL");
    /// assert_eq!(id.encver(), 3);
    /// ```
    pub fn name(&self) -> String {
        let mut s = String::with_capacity(9);
        for i in 0..9 {
            let shift = 10 + 6 * (8 - i);
            s.push(MODULE_CHARSET[((self.0 >> shift) & 63) as usize] as char);
        }
        s
    }

    /// The encoding version (low 10 bits).
    pub fn encver(&self) -> u32 {
        (self.0 & 1023) as u32
    }

    /// Builds an id from a 9-character name and an encoding version.
    ///
    /// ```
    /// use rdbkit::format::ModuleId;
    /// assert_eq!(ModuleId::from_name("ReJSON-RL", 3), Some(ModuleId(0x45E25238DF912C03)));
    /// ```
    pub fn from_name(name: &str, encver: u32) -> Option<ModuleId> {
        let b = name.as_bytes();
        if b.len() != 9 || encver > 1023 {
            return None;
        }
        let mut id = 0u64;
        for &c in b {
            let v = MODULE_CHARSET.iter().position(|&x| x == c)? as u64;
            id = (id << 6) | v;
        }
        Some(ModuleId((id << 10) | u64::from(encver)))
    }
}

/// Renders bytes for a message: printable ASCII as is, the rest as `\xNN`.
///
/// ```
/// assert_eq!(rdbkit::format::escape_bytes(b"a\x00b"), "a\\x00b");
/// ```
pub fn escape_bytes(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for &c in b {
        if (0x20..0x7f).contains(&c) && c != b'\\' {
            s.push(c as char);
        } else {
            s.push_str(&format!("\\x{c:02x}"));
        }
    }
    s
}

/// Parses a decimal integer the way Redis's `string2ll` does: canonical form
/// only (no `+`, no leading zeros, no `-0`), fitting in i64.
///
/// ```
/// use rdbkit::format::parse_canonical_int;
/// assert_eq!(parse_canonical_int(b"-42"), Some(-42));
/// assert_eq!(parse_canonical_int(b"042"), None);
/// assert_eq!(parse_canonical_int(b"-0"), None);
/// ```
pub fn parse_canonical_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else {
        i64::try_from(v).ok()
    }
}

/// Formats a double the way Redis renders scores as text (`%.17g`, `inf`, `-inf`, `nan`).
///
/// ```
/// assert_eq!(rdbkit::format::format_double(1.5), "1.5");
/// assert_eq!(rdbkit::format::format_double(f64::INFINITY), "inf");
/// assert_eq!(rdbkit::format::format_double(3.0), "3");
/// ```
pub fn format_double(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v == f64::INFINITY {
        "inf".into()
    } else if v == f64::NEG_INFINITY {
        "-inf".into()
    } else {
        // Shortest representation that round-trips; integral values without ".0".
        let s = format!("{v}");
        s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
    }
}
