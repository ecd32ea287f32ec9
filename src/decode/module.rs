//! Module data: `MODULE_2` values, `MODULE_AUX` records and `KEY_META`
//! classes are all skipped through the module sub-opcode stream, exactly as
//! `redis-check-rdb` skips them without the module loaded.

use super::reader::Reader;
use super::string::RdbStr;
use crate::format::ModuleId;
use crate::{ErrorKind, Limits, Result};

/// Sub-opcodes of the module serialisation stream.
pub mod sub {
    /// End of the value.
    pub const EOF: u64 = 0;
    /// Signed integer (`LEN`, two's complement).
    pub const SINT: u64 = 1;
    /// Unsigned integer (`LEN`).
    pub const UINT: u64 = 2;
    /// `f32le`.
    pub const FLOAT: u64 = 3;
    /// `f64le`.
    pub const DOUBLE: u64 = 4;
    /// `STR`.
    pub const STRING: u64 = 5;
}

/// Skips a sub-opcode stream up to and including its `EOF`, checking every
/// item. Returns the number of items.
///
/// # Errors
/// A decoding error ([`ErrorKind::Truncated`], [`ErrorKind::InvalidValue`],
/// [`ErrorKind::Corrupt`], [`ErrorKind::Lzf`], [`ErrorKind::LimitExceeded`],
/// ...) with the byte offset, for a sub-opcode stream that is malformed or not
/// ended by `EOF`.
pub fn skip_sub_opcodes(r: &mut Reader<'_>, limits: &Limits) -> Result<u64> {
    let mut n = 0u64;
    loop {
        let at = r.pos();
        match r.length("module sub-opcode")? {
            sub::EOF => return Ok(n),
            sub::SINT | sub::UINT => {
                r.length("module integer")?;
            }
            sub::FLOAT => r.skip(4, "module float")?,
            sub::DOUBLE => r.skip(8, "module double")?,
            sub::STRING => RdbStr::skip(r, limits, "module string")?,
            op => {
                return Err(r.err_at(
                    ErrorKind::Corrupt(format!("unknown module sub-opcode {op}")),
                    at,
                ))
            }
        }
        n += 1;
    }
}

/// A module value (type 7): the module id and its serialised payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModuleValue<'a> {
    /// Module type id (name and encoding version).
    pub id: ModuleId,
    /// The sub-opcode stream after the id, including the final `EOF`.
    pub payload: &'a [u8],
}

/// A `MODULE_AUX` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModuleAux<'a> {
    /// Module type id.
    pub id: ModuleId,
    /// 1 = before the keyspace, 2 = after.
    pub when: u64,
    /// The sub-opcode stream after `when`, including the final `EOF`.
    pub payload: &'a [u8],
}

/// Reads a `MODULE_2` value at `r`.
pub(crate) fn read_module_value<'a>(
    r: &mut Reader<'a>,
    limits: &Limits,
) -> Result<ModuleValue<'a>> {
    let id = ModuleId(r.length("module id")?);
    let start = r.pos();
    skip_sub_opcodes(r, limits)?;
    Ok(ModuleValue {
        id,
        payload: &r.buf()[start..r.pos()],
    })
}

/// Reads a `MODULE_AUX` record body (after the opcode) at `r`.
pub(crate) fn read_module_aux<'a>(r: &mut Reader<'a>, limits: &Limits) -> Result<ModuleAux<'a>> {
    let id = ModuleId(r.length("module id")?);
    let at = r.pos();
    let op = r.length("module aux when opcode")?;
    if op != sub::UINT {
        return Err(r.err_at(
            ErrorKind::Corrupt(format!(
                "module aux for {}: expected the UINT 'when' field, found sub-opcode {op}",
                id.name()
            )),
            at,
        ));
    }
    // rdbLoad reads 'when' and hands it to the module's aux_load without
    // checking it: a value other than 1 or 2 is a warning (Decoder).
    let when = r.length("module aux when")?;
    let start = r.pos();
    skip_sub_opcodes(r, limits)?;
    Ok(ModuleAux {
        id,
        when,
        payload: &r.buf()[start..r.pos()],
    })
}

/// Skips a Redis `KEY_META` record body (after the opcode): class count, then
/// per class a u32 spec and a sub-opcode stream.
pub(crate) fn skip_key_meta(r: &mut Reader<'_>, limits: &Limits) -> Result<u64> {
    let at = r.pos();
    let n = r.length("key metadata class count")?;
    if n == 0 || n > 7 {
        return Err(r.err_at(
            ErrorKind::Corrupt(format!("key metadata class count {n} is not 1..7")),
            at,
        ));
    }
    for _ in 0..n {
        r.u32le("key metadata class spec")?;
        skip_sub_opcodes(r, limits)?;
    }
    Ok(n)
}

/// Checks the payload of a module value whose loader is part of Redis
/// itself, the way its `rdb_load` callback does (other modules' payloads
/// can only be walked, which [`read_module_value`] does). `base` is the
/// absolute offset of `v.payload`.
///
/// Known: the `vectorset` type of Redis 8 (encoding version 0,
/// `VectorSetRdbLoad`): dimension 1..=65536, quantization 0/1/2, projection
/// matrix sizes, and per element a name, an optional attribute, a vector of
/// exactly the quantized size and the HNSW link parameters. The HNSW graph
/// itself (`hnsw_deserialize_index`) is not rebuilt.
pub(crate) fn check_module_value(v: &ModuleValue<'_>, base: u64, limits: &Limits) -> Result<()> {
    if v.id.name() != "vectorset" {
        return Ok(());
    }
    let mut r = Reader::with_base(v.payload, base);
    let bad = |r: &Reader<'_>, what: String| {
        r.err(ErrorKind::InvalidValue {
            value_type: "vectorset module",
            what,
        })
    };
    if v.id.encver() != 0 {
        return Err(bad(
            &r,
            format!("encoding version {} is not 0", v.id.encver()),
        ));
    }
    fn expect(r: &mut Reader<'_>, want: u64, what: &'static str) -> Result<()> {
        let at = r.pos();
        let op = r.length(what)?;
        if op != want {
            return Err(r.err_at(
                ErrorKind::InvalidValue {
                    value_type: "vectorset module",
                    what: format!("{what}: sub-opcode {op}, expected {want}"),
                },
                at,
            ));
        }
        Ok(())
    }
    // RedisModule_LoadUnsigned, stored into a uint32_t where Redis does.
    let uint = |r: &mut Reader<'_>, what: &'static str| -> Result<u64> {
        expect(r, sub::UINT, what)?;
        r.length(what)
    };
    let string_len = |r: &mut Reader<'_>, what: &'static str| -> Result<usize> {
        expect(r, sub::STRING, what)?;
        Ok(RdbStr::read(r, limits, what)?.len())
    };
    const MAX_DIM: u32 = 1 << 16;
    let dim = uint(&mut r, "vector dimension")? as u32;
    let mut elements = uint(&mut r, "element count")?;
    let config = uint(&mut r, "HNSW config")? as u32;
    if dim == 0 || dim > MAX_DIM {
        return Err(bad(&r, format!("vector dimension {dim} is not 1..=65536")));
    }
    let quant = config & 0xff;
    let vector_bytes = match quant {
        0 => dim as usize * 4,
        1 => dim as usize,
        2 => (dim as usize).div_ceil(64) * 8,
        q => return Err(bad(&r, format!("unknown quantization type {q}"))),
    };
    let flags = uint(&mut r, "save flags")? as u32;
    if flags & 1 != 0 {
        let input = uint(&mut r, "projection input dimension")? as u32;
        if input == 0 || input > MAX_DIM || dim > input {
            return Err(bad(
                &r,
                format!("projection matrix {input} x {dim} has invalid dimensions"),
            ));
        }
        let len = string_len(&mut r, "projection matrix")?;
        if len as u64 != 4 * u64::from(input) * u64::from(dim) {
            return Err(bad(&r, format!("projection matrix of {len} bytes")));
        }
    }
    while elements > 0 {
        elements -= 1;
        string_len(&mut r, "element name")?;
        if flags & 2 != 0 {
            string_len(&mut r, "element attributes")?;
        }
        let at = r.pos();
        let len = string_len(&mut r, "element vector")?;
        if len != vector_bytes {
            return Err(r.err_at(
                ErrorKind::InvalidValue {
                    value_type: "vectorset module",
                    what: format!("vector of {len} bytes, expected {vector_bytes}"),
                },
                at,
            ));
        }
        let params = uint(&mut r, "node parameter count")? as u32;
        for _ in 0..params {
            uint(&mut r, "node parameter")?;
        }
    }
    expect(&mut r, sub::EOF, "module value end")
}
