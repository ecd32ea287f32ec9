//! Encoding: a streaming RDB writer for any target version, builders for
//! every value type, and the compact blob encodings.
//!
//! The encodings chosen for a target are the ones a server of that version
//! with default settings writes ([`EncodeConfig`]): integer and LZF string
//! forms, listpack / ziplist / intset / zipmap blobs with the same element
//! encodings, quicklist and stream nodes split where the server splits
//! them, sorted-set scores rendered as that version renders them. The
//! crate's tests compare these bytes with files written by real servers.
//!
//! The files face their [`crate::decode`] counterparts: `value.rs`
//! ([`OwnedValue`]) faces `decode/value.rs`, `items.rs` (collections)
//! `decode/items.rs`, `stream.rs` `decode/stream.rs`, and `blob.rs` (the
//! blob builders) `decode/blob.rs` (the blob walkers). What both sides
//! share is in [`crate::format`].

mod blob;
mod config;
mod copy;
pub(crate) mod double;
mod items;
mod primitives;
mod stream;
mod value;
mod writer;

#[cfg(test)]
mod tests;

/// The format a file is written for (defined in [`crate::release`]).
pub use crate::release::Target;
pub(crate) use blob::listpack_entry_len;
pub use blob::{intset, zipmap, BlobElem, ListpackBuilder, ZiplistBuilder};
pub use config::{AllowLoss, EncodeConfig, Losses};
pub use copy::{copy_by_slot, copy_filtered, CopySummary};
pub use double::{format_g17, format_shortest, score_text, text_double};
pub(crate) use items::node_allows;
pub use items::{ArrayItem, HashEntry};
pub use primitives::{write_blob, write_len, write_raw_str, write_str, write_text_double, StrOpts};
pub use stream::{
    ConsumerValue, GroupValue, IdmpValue, PendingValue, StreamFields, StreamValue,
    IDMP_DEFAULT_DURATION_S, IDMP_DEFAULT_MAX_ENTRIES,
};
pub use value::OwnedValue;
pub use writer::{KeyMeta, RdbWriter};

/// Encodes a DUMP payload (the RESTORE format) of a value for `target`:
/// type byte, value, 2-byte version, CRC-64.
///
/// # Errors
/// As [`OwnedValue::encode`]: a value the target cannot hold
/// ([`ErrorKind::LossNotAllowed`](crate::ErrorKind::LossNotAllowed),
/// [`ErrorKind::Encode`](crate::ErrorKind::Encode)).
///
/// ```
/// use rdbkit::encode::{dump_payload, OwnedValue, Target};
/// let p = dump_payload(&OwnedValue::String(b"1".to_vec()), Target::redis(10)).unwrap();
/// assert_eq!(&p[..5], &[0x00, 0xc0, 0x01, 0x0a, 0x00]);
/// ```
pub fn dump_payload(v: &OwnedValue, target: Target) -> crate::Result<Vec<u8>> {
    let mut losses = Losses::default();
    let (ty, bytes) = v.encode(target, AllowLoss::default(), &mut losses)?;
    Ok(dump_payload_raw(ty, &bytes, target.version as u16))
}

/// Wraps already encoded value bytes into a DUMP payload: `rdb_type`, the
/// value bytes, `version` (u16 LE) and the CRC-64 (LE) of everything before
/// it. Use it to RESTORE a value copied verbatim from a file (for example a
/// module value, whose bytes only the module understands); `version` must
/// not be newer than what the receiving server writes.
///
/// ```
/// use rdbkit::decode::{decode_payload, Options};
/// use rdbkit::encode::dump_payload_raw;
/// let p = dump_payload_raw(0, &[0x01, b'x'], 9);
/// let d = decode_payload(&p, Options::default()).unwrap();
/// assert_eq!(d.version, 9);
/// assert_eq!(&*d.value.string().unwrap().to_bytes().unwrap(), b"x");
/// ```
pub fn dump_payload_raw(rdb_type: u8, value: &[u8], version: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 11);
    out.push(rdb_type);
    out.extend_from_slice(value);
    out.extend_from_slice(&version.to_le_bytes());
    let crc = crate::format::crc::crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}
