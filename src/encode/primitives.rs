//! Encoding primitives: lengths, strings (integer and LZF forms), doubles.

use crate::format::lzf::compress_bounded as lzf_compress;
use crate::format::parse_canonical_int;

/// Appends an RDB length in the shortest form.
///
/// ```
/// let mut v = Vec::new();
/// rdbkit::encode::write_len(&mut v, 0x102);
/// assert_eq!(v, [0x41, 0x02]);
/// ```
pub fn write_len(out: &mut Vec<u8>, n: u64) {
    if n < 64 {
        out.push(n as u8);
    } else if n < 16384 {
        out.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
    } else if n <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// How to write strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrOpts {
    /// Try LZF for strings over 20 bytes (Redis's `rdbcompression yes`).
    pub compress: bool,
    /// Use the INT8/16/32 forms for canonical integers.
    pub int_forms: bool,
}

impl Default for StrOpts {
    fn default() -> Self {
        StrOpts {
            compress: true,
            int_forms: true,
        }
    }
}

/// Appends an integer in the INT8/16/32 string form if it fits, returning whether it did.
fn try_int(out: &mut Vec<u8>, v: i64) -> bool {
    if let Ok(b) = i8::try_from(v) {
        out.extend_from_slice(&[0xC0, b as u8]);
    } else if let Ok(h) = i16::try_from(v) {
        out.push(0xC1);
        out.extend_from_slice(&h.to_le_bytes());
    } else if let Ok(w) = i32::try_from(v) {
        out.push(0xC2);
        out.extend_from_slice(&w.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// Appends a string as Redis would write it: integer form for short
/// canonical integers that fit in 32 bits, LZF when longer than 20 bytes and
/// compression saves at least 4 bytes, raw otherwise.
///
/// ```
/// use rdbkit::encode::{write_str, StrOpts};
/// let mut v = Vec::new();
/// write_str(&mut v, b"12", StrOpts::default());
/// assert_eq!(v, [0xC0, 12]);
/// ```
pub fn write_str(out: &mut Vec<u8>, s: &[u8], opts: StrOpts) {
    if opts.int_forms && s.len() <= 11 {
        if let Some(v) = parse_canonical_int(s) {
            if try_int(out, v) {
                return;
            }
        }
    }
    if opts.compress && s.len() > 20 {
        // Redis: lzf_compress(s, len, out, len - 4), kept when it fits.
        if let Some(c) = lzf_compress(s, s.len() - 4) {
            out.push(0xC3);
            write_len(out, c.len() as u64);
            write_len(out, s.len() as u64);
            out.extend_from_slice(&c);
            return;
        }
    }
    write_raw_str(out, s);
}

/// Appends a string in the raw form (length + bytes).
pub fn write_raw_str(out: &mut Vec<u8>, s: &[u8]) {
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Appends a blob (listpack, ziplist, ...) as a string: LZF when it saves
/// at least 4 bytes and compression is on, raw otherwise (never the integer form).
pub fn write_blob(out: &mut Vec<u8>, s: &[u8], opts: StrOpts) {
    write_str(
        out,
        s,
        StrOpts {
            int_forms: false,
            ..opts
        },
    )
}

/// Appends a text double (RDB < 8 sorted sets): `u8 len` + `%.17g`, or 253/254/255.
pub fn write_text_double(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.push(253);
    } else if v == f64::INFINITY {
        out.push(254);
    } else if v == f64::NEG_INFINITY {
        out.push(255);
    } else {
        let s = crate::format::format_double(v);
        out.push(s.len() as u8);
        out.extend_from_slice(s.as_bytes());
    }
}
