//! Encoding: a streaming RDB writer for any target version, builders for
//! every value type, and the compact blob encodings.

mod blob;
mod primitives;
mod target;
mod value;
mod writer;

pub use blob::{intset, zipmap, BlobElem, ListpackBuilder, ZiplistBuilder};
pub use primitives::{write_blob, write_len, write_raw_str, write_str, write_text_double, StrOpts};
pub use target::Target;
pub use value::{
    AllowLoss, ArrayItem, ConsumerValue, GroupValue, HashEntry, IdmpValue, Losses, OwnedValue,
    PendingValue, StreamValue,
};
pub use writer::{KeyMeta, RdbWriter};

/// Encodes a DUMP payload (the RESTORE format) of a value for `target`:
/// type byte, value, 2-byte version, CRC-64.
///
/// ```
/// use rdbkit::encode::{dump_payload, OwnedValue, Target};
/// let p = dump_payload(&OwnedValue::String(b"1".to_vec()), Target::redis(10)).unwrap();
/// assert_eq!(&p[..5], &[0x00, 0xc0, 0x01, 0x0a, 0x00]);
/// ```
pub fn dump_payload(v: &OwnedValue, target: Target) -> crate::Result<Vec<u8>> {
    let mut losses = Losses::default();
    let (ty, bytes) = v.encode(target, AllowLoss::default(), &mut losses)?;
    let mut out = Vec::with_capacity(bytes.len() + 11);
    out.push(ty);
    out.extend_from_slice(&bytes);
    out.extend_from_slice(&(target.version as u16).to_le_bytes());
    let crc = crate::format::crc::crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}
