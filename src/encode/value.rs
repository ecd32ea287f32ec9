//! Owned values: a builder model for every type, built by hand or from a
//! decoded value, and encoded for a target version with the encodings a
//! server of that version would choose.
//!
//! The write side of `decode/value.rs`: [`OwnedValue`] is the owned
//! counterpart of [`Value`](crate::decode::Value). Collections are encoded
//! in `items.rs` (facing `decode/items.rs`), streams in `stream.rs` (facing
//! `decode/stream.rs`).

use super::config::{enc_err, AllowLoss, EncodeConfig, Losses};
use super::items::{
    encode_array, encode_hash, encode_list, encode_set, encode_zset, ArrayItem, HashEntry,
};
use super::primitives::{write_len, write_str};
use super::stream::{encode_stream, stream_from_value, StreamValue};
use crate::decode::{ArrayValue, Value};
use crate::format::{rdb_type as t, Kind, ModuleId};
use crate::release::Target;
use crate::Result;

/// A value of any type, owned.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
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
    /// # Errors
    /// The decoding errors of the value (they name no key: add it with
    /// [`Error::with_key`](crate::Error::with_key)).
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
    /// # Errors
    /// [`ErrorKind::LossNotAllowed`](crate::ErrorKind::LossNotAllowed) when the
    /// target cannot hold part of the value (field TTLs, stream metadata) and
    /// `allow` does not allow dropping it;
    /// [`ErrorKind::Encode`](crate::ErrorKind::Encode) for a value the target
    /// has no type for.
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
    /// # Errors
    /// As [`OwnedValue::encode`].
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
