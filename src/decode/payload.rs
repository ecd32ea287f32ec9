//! DUMP / RESTORE payloads: `[KEY_META] type value u16le version u64le crc`.

use super::items::Ctx;
use super::reader::Reader;
use super::value::Value;
use super::{walk, Checksum, Options};
use crate::format::{crc, opcode, Header, Kind, Lineage};
use crate::{Error, ErrorKind, Result};

/// A decoded DUMP payload.
#[derive(Debug, Clone)]
pub struct Payload<'a> {
    /// RDB version in the footer.
    pub version: u16,
    /// The value.
    pub value: Value<'a>,
    /// Raw `KEY_META` body, if present.
    pub key_meta: Option<&'a [u8]>,
    /// Checksum status.
    pub checksum: Checksum,
    /// Facts Redis accepts in this payload that look wrong.
    pub warnings: super::Warnings,
}

/// Decodes and checks a DUMP payload at the options' validation level.
///
/// # Errors
/// [`ErrorKind::Truncated`] for fewer than 11 bytes,
/// [`ErrorKind::ChecksumMismatch`] for a wrong CRC-64,
/// [`ErrorKind::UnsupportedVersion`] for an RDB version this crate cannot read,
/// [`ErrorKind::UnknownType`] and a decoding error ([`ErrorKind::Truncated`],
/// [`ErrorKind::InvalidValue`], [`ErrorKind::Corrupt`], [`ErrorKind::Lzf`],
/// [`ErrorKind::LimitExceeded`], ...) with the byte offset for the value.
///
/// ```
/// use rdbkit::decode::{decode_payload, Options};
/// // DUMP of the string "1" as Redis 7.0 writes it (type 0, INT8 1, version 10, CRC).
/// let mut p = vec![0x00, 0xc0, 0x01, 0x0a, 0x00];
/// let crc = rdbkit::format::crc::crc64(&p);
/// p.extend_from_slice(&crc.to_le_bytes());
/// let d = decode_payload(&p, Options::default()).unwrap();
/// assert_eq!(&*d.value.string().unwrap().to_bytes().unwrap(), b"1");
/// ```
pub fn decode_payload(data: &[u8], opts: Options) -> Result<Payload<'_>> {
    if data.len() < 11 {
        return Err(Error::new(
            ErrorKind::Truncated {
                what: "DUMP payload (type, value, 10-byte footer)",
                needed: 11,
                available: data.len() as u64,
            },
            0,
        ));
    }
    let foot = data.len() - 10;
    let version = u16::from_le_bytes([data[foot], data[foot + 1]]);
    let stored = u64::from_le_bytes(data[foot + 2..].try_into().unwrap_or([0; 8]));
    let lineage = if version >= 80 {
        Lineage::Valkey
    } else {
        Lineage::Redis
    };
    Header {
        lineage,
        version: u32::from(version),
    }
    .check()
    .map_err(|e| Error::new(e.kind().clone(), foot as u64))?;
    let checksum = if stored == 0 {
        Checksum::Disabled
    } else if !opts.verify_checksum {
        Checksum::NotChecked(stored)
    } else {
        let computed = crc::crc64(&data[..foot + 2]);
        if computed != stored {
            return Err(Error::new(
                ErrorKind::ChecksumMismatch { stored, computed },
                (foot + 2) as u64,
            ));
        }
        Checksum::Verified(stored)
    };
    let body = &data[..foot];
    let ctx = Ctx {
        lineage,
        version: u32::from(version),
        limits: opts.limits,
    };
    let mut r = Reader::new(body);
    let mut key_meta = None;
    if r.peek() == Some(opcode::KEY_META_OR_SLOT_IMPORT) && lineage == Lineage::Redis {
        r.u8("key metadata opcode")?;
        let s = r.pos();
        super::module::skip_key_meta(&mut r, &opts.limits)?;
        key_meta = Some(&body[s..r.pos()]);
    }
    let at = r.pos();
    let rdb_type = r.u8("value type")?;
    if Kind::of(rdb_type, lineage).is_none() {
        return Err(r.err_at(
            ErrorKind::UnknownType {
                byte: rdb_type,
                lineage: lineage.name(),
                version: u32::from(version),
            },
            at,
        ));
    }
    let vstart = r.pos();
    let mut warnings = super::Warnings::default();
    walk::walk_value(rdb_type, &mut r, ctx, opts.level, &mut warnings)?;
    if !r.is_empty() {
        return Err(r.err(ErrorKind::Corrupt(format!(
            "{} bytes after the value, before the footer",
            r.remaining()
        ))));
    }
    let value = Value::new(rdb_type, body, vstart, r.pos(), ctx);
    if opts.level != super::Level::Skip && is_empty_collection(&value)? {
        // rdbLoadObject reports an empty key; RESTORE refuses it (a file
        // load skips such keys instead, so the file decoder accepts them).
        return Err(Error::new(
            ErrorKind::InvalidValue {
                value_type: value.kind().name(),
                what: "empty collection (Redis refuses to restore an empty key)".into(),
            },
            vstart as u64,
        ));
    }
    Ok(Payload {
        version,
        value,
        key_meta,
        checksum,
        warnings,
    })
}

/// Whether a list, set, sorted set or hash value has no element.
fn is_empty_collection(v: &Value<'_>) -> Result<bool> {
    let kind = v.kind();
    if !matches!(kind, Kind::List | Kind::Set | Kind::ZSet | Kind::Hash) {
        return Ok(false);
    }
    let mut it = v.items()?;
    Ok(match kind {
        Kind::ZSet => it.next_scored()?.is_none(),
        Kind::Hash => it.next_field()?.is_none(),
        _ => it.next_elem()?.is_none(),
    })
}
