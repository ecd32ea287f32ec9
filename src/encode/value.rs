//! Owned values: a builder model for every type, built by hand or from a
//! decoded value, and encoded for a target version with the encodings a
//! server of that version would choose.
//!
//! The write side of `decode/value.rs`: [`OwnedValue`] is the owned
//! counterpart of [`Value`](crate::decode::Value). Collections are encoded
//! in `items.rs` (facing `decode/items.rs`), streams in `stream.rs` (facing
//! `decode/stream.rs`).

use super::items::{
    encode_array, encode_hash, encode_list, encode_set, encode_zset, ArrayItem, HashEntry,
};
use super::primitives::{write_len, write_str, StrOpts};
use super::stream::{encode_stream, stream_from_value, StreamValue};
use crate::decode::{ArrayValue, Value};
use crate::format::{rdb_type as t, Kind, ModuleId};
use crate::release::Target;
use crate::{Error, ErrorKind, Result};

/// A value of any type, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedValue {
    /// String.
    String(Vec<u8>),
    /// List.
    List(Vec<Vec<u8>>),
    /// Set.
    Set(Vec<Vec<u8>>),
    /// Sorted set.
    ZSet(Vec<(Vec<u8>, f64)>),
    /// Hash.
    Hash(Vec<HashEntry>),
    /// Stream.
    Stream(Box<StreamValue>),
    /// Module value: id and sub-opcode stream (including the final EOF).
    Module {
        /// Module type id.
        id: ModuleId,
        /// Serialised payload.
        payload: Vec<u8>,
    },
    /// Array (Redis 8.8+): elements by index, and the insert index if any.
    Array {
        /// Elements in index order.
        items: Vec<(u64, ArrayItem)>,
        /// Insert index.
        insert_idx: Option<u64>,
    },
}

/// Which information losses the caller allows when a target cannot hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AllowLoss {
    /// Drop hash field TTLs (target below RDB 12).
    pub field_ttls: bool,
    /// Drop stream metadata the target's stream type cannot carry.
    pub stream_metadata: bool,
}

/// Losses that happened (allowed) while encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Losses {
    /// Hash fields whose TTL was dropped.
    pub field_ttls: u64,
    /// Streams whose metadata was reduced.
    pub stream_metadata: u64,
}

impl Losses {
    /// Adds another tally.
    pub fn add(&mut self, o: Losses) {
        self.field_ttls += o.field_ttls;
        self.stream_metadata += o.stream_metadata;
    }
}

/// The server settings that decide which encoding a value gets and how big
/// list and stream nodes grow. [`EncodeConfig::default`] holds the defaults
/// of Redis 2.4 … 8.x and Valkey 7.2 … 9.x (the same everywhere; checked
/// with `CONFIG GET` on Redis 6.0, 6.2, 7.0, 7.4 and Valkey 8.1, 9.1).
///
/// Encodings are only a size hint for the loading server (it converts a
/// compact blob that exceeds its own thresholds), so any config produces
/// files every server reads; the defaults produce the bytes a default
/// server would write.
///
/// ```
/// use rdbkit::encode::{AllowLoss, EncodeConfig, Losses, OwnedValue, Target};
/// let cfg = EncodeConfig { list_max_listpack_size: 2, ..EncodeConfig::default() };
/// let list = OwnedValue::List(vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
/// let (ty, bytes) = list
///     .encode_with(Target::redis(11), &cfg, AllowLoss::default(), &mut Losses::default())
///     .unwrap();
/// assert_eq!(ty, 18);       // quicklist 2
/// assert_eq!(bytes[0], 2);  // two nodes of at most two elements
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeConfig {
    /// `hash-max-listpack-entries` (also `hash-max-ziplist-entries`, `hash-max-zipmap-entries`): 512.
    pub hash_max_listpack_entries: usize,
    /// `hash-max-listpack-value`: 64 bytes.
    pub hash_max_listpack_value: usize,
    /// `zset-max-listpack-entries` (`zset-max-ziplist-entries`): 128.
    pub zset_max_listpack_entries: usize,
    /// `zset-max-listpack-value`: 64 bytes.
    pub zset_max_listpack_value: usize,
    /// `set-max-intset-entries`: 512.
    pub set_max_intset_entries: usize,
    /// `set-max-listpack-entries` (Redis 7.2+, Valkey): 128.
    pub set_max_listpack_entries: usize,
    /// `set-max-listpack-value`: 64 bytes.
    pub set_max_listpack_value: usize,
    /// `list-max-listpack-size` (`list-max-ziplist-size`, RDB 7+): -2 (8 KB
    /// nodes); negative values are size classes, positive ones entry counts.
    pub list_max_listpack_size: i32,
    /// `list-max-ziplist-entries` of Redis 2.4 … 3.0 (RDB < 7): 512.
    pub list_max_ziplist_entries: usize,
    /// `list-max-ziplist-value` of Redis 2.4 … 3.0: 64 bytes.
    pub list_max_ziplist_value: usize,
    /// Elements at least this long get their own PLAIN quicklist node
    /// (RDB 10+; Redis's `packed_threshold`, 1 GiB).
    pub packed_threshold: usize,
    /// `stream-node-max-bytes`: 4096.
    pub stream_node_max_bytes: usize,
    /// `stream-node-max-entries`: 100.
    pub stream_node_max_entries: usize,
    /// `rdbcompression`: LZF for strings and blobs over 20 bytes.
    pub compression: bool,
}

impl Default for EncodeConfig {
    fn default() -> Self {
        EncodeConfig {
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            set_max_intset_entries: 512,
            set_max_listpack_entries: 128,
            set_max_listpack_value: 64,
            list_max_listpack_size: -2,
            list_max_ziplist_entries: 512,
            list_max_ziplist_value: 64,
            packed_threshold: 1 << 30,
            stream_node_max_bytes: 4096,
            stream_node_max_entries: 100,
            compression: true,
        }
    }
}

impl EncodeConfig {
    pub(super) fn str_opts(&self) -> StrOpts {
        StrOpts {
            compress: self.compression,
            int_forms: true,
        }
    }
}

pub(super) fn enc_err(what: String) -> Error {
    Error::new(ErrorKind::Encode(what), 0)
}

impl OwnedValue {
    /// The logical type.
    pub fn kind(&self) -> Kind {
        match self {
            OwnedValue::String(_) => Kind::String,
            OwnedValue::List(_) => Kind::List,
            OwnedValue::Set(_) => Kind::Set,
            OwnedValue::ZSet(_) => Kind::ZSet,
            OwnedValue::Hash(_) => Kind::Hash,
            OwnedValue::Stream(_) => Kind::Stream,
            OwnedValue::Module { .. } => Kind::Module,
            OwnedValue::Array { .. } => Kind::Array,
        }
    }

    /// Materialises a decoded value.
    ///
    /// ```
    /// use rdbkit::decode::{decode_payload, Options};
    /// use rdbkit::encode::OwnedValue;
    /// let mut p = vec![0x00, 0x01, b'x', 0x0a, 0x00];
    /// p.extend_from_slice(&[0; 8]);
    /// let d = decode_payload(&p, Options::default()).unwrap();
    /// assert_eq!(OwnedValue::from_value(&d.value).unwrap(), OwnedValue::String(b"x".to_vec()));
    /// ```
    pub fn from_value(v: &Value<'_>) -> Result<OwnedValue> {
        Ok(match v.kind() {
            Kind::String => OwnedValue::String(v.string()?.to_bytes()?.into_owned()),
            Kind::List | Kind::Set => {
                let mut it = v.items()?;
                let mut out = Vec::new();
                while let Some(e) = it.next_elem()? {
                    out.push(e.to_bytes().into_owned());
                }
                if v.kind() == Kind::List {
                    OwnedValue::List(out)
                } else {
                    OwnedValue::Set(out)
                }
            }
            Kind::ZSet => {
                let mut it = v.items()?;
                let mut out = Vec::new();
                while let Some((m, s)) = it.next_scored()? {
                    out.push((m.to_bytes().into_owned(), s));
                }
                OwnedValue::ZSet(out)
            }
            Kind::Hash => {
                let mut it = v.items()?;
                let mut out = Vec::new();
                while let Some(f) = it.next_field()? {
                    out.push(HashEntry {
                        field: f.field.to_bytes().into_owned(),
                        value: f.value.to_bytes().into_owned(),
                        expire_ms: f.expire_ms,
                    });
                }
                OwnedValue::Hash(out)
            }
            Kind::Array => {
                let mut it = v.items()?;
                let insert_idx = it.array_insert_idx;
                let mut items = Vec::new();
                while let Some((i, x)) = it.next_array()? {
                    items.push((
                        i,
                        match x {
                            ArrayValue::Bytes(b) => ArrayItem::Bytes(b.to_bytes().into_owned()),
                            ArrayValue::Int(n) => ArrayItem::Int(n),
                            ArrayValue::Float(f) => ArrayItem::Float(f),
                        },
                    ));
                }
                OwnedValue::Array { items, insert_idx }
            }
            Kind::Module => {
                let m = v.module()?;
                OwnedValue::Module {
                    id: m.id,
                    payload: m.payload.to_vec(),
                }
            }
            Kind::Stream => OwnedValue::Stream(Box::new(stream_from_value(v)?)),
        })
    }

    /// Encodes the value for `target` with the default server settings,
    /// returning the type byte and the value bytes. Information the target
    /// cannot hold is an error unless allowed in `allow`; allowed losses are
    /// added to `losses`.
    ///
    /// ```
    /// use rdbkit::encode::{OwnedValue, Target, AllowLoss, Losses};
    /// let v = OwnedValue::Set(vec![b"1".to_vec(), b"2".to_vec()]);
    /// let mut l = Losses::default();
    /// let (ty, _) = v.encode(Target::redis(10), AllowLoss::default(), &mut l).unwrap();
    /// assert_eq!(ty, 11); // intset
    /// ```
    pub fn encode(
        &self,
        target: Target,
        allow: AllowLoss,
        losses: &mut Losses,
    ) -> Result<(u8, Vec<u8>)> {
        self.encode_with(target, &EncodeConfig::default(), allow, losses)
    }

    /// [`OwnedValue::encode`] with explicit server settings.
    ///
    /// The encoding is the one a server of the target version with these
    /// settings writes: compact blobs (listpack, ziplist, intset, zipmap)
    /// for small values, quicklist nodes split as the server splits them,
    /// strings as integers or LZF where the server does. Empty collections
    /// (which servers never hold) are written in the plain form with a
    /// count of zero.
    ///
    /// ```
    /// use rdbkit::encode::{AllowLoss, EncodeConfig, Losses, OwnedValue, Target};
    /// let z = OwnedValue::ZSet(vec![(b"a".to_vec(), 0.1)]);
    /// let cfg = EncodeConfig { compression: false, ..EncodeConfig::default() };
    /// let mut l = Losses::default();
    /// // Redis 7.0 writes the score as %.17g, Redis 7.2+ as the shortest text.
    /// let (_, v10) = z.encode_with(Target::redis(10), &cfg, AllowLoss::default(), &mut l).unwrap();
    /// let (_, v11) = z.encode_with(Target::redis(11), &cfg, AllowLoss::default(), &mut l).unwrap();
    /// assert!(v10.windows(19).any(|w| w == b"0.10000000000000001"));
    /// assert!(v11.windows(3).any(|w| w == b"0.1"));
    /// ```
    pub fn encode_with(
        &self,
        target: Target,
        cfg: &EncodeConfig,
        allow: AllowLoss,
        losses: &mut Losses,
    ) -> Result<(u8, Vec<u8>)> {
        let so = cfg.str_opts();
        let v = target.version;
        let mut out = Vec::new();
        let ty = match self {
            OwnedValue::String(s) => {
                write_str(&mut out, s, so);
                t::STRING
            }
            OwnedValue::List(items) => encode_list(items, target, cfg, &mut out),
            OwnedValue::Set(items) => encode_set(items, target, cfg, &mut out),
            OwnedValue::ZSet(items) => encode_zset(items, target, cfg, &mut out)?,
            OwnedValue::Hash(fields) => encode_hash(fields, target, cfg, allow, losses, &mut out)?,
            OwnedValue::Stream(s) => encode_stream(s, target, cfg, allow, losses, &mut out)?,
            OwnedValue::Module { id, payload } => {
                if v < 8 {
                    return Err(enc_err(format!(
                        "module value ({}) needs RDB 8 or later; target is {target}",
                        id.name()
                    )));
                }
                write_len(&mut out, id.0);
                out.extend_from_slice(payload);
                t::MODULE_2
            }
            OwnedValue::Array { items, insert_idx } => {
                encode_array(items, *insert_idx, target, cfg, &mut out)?
            }
        };
        Ok((ty, out))
    }
}
