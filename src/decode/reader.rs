//! A bounds-checked cursor over borrowed bytes. Every read either returns a
//! slice of the input or a typed error carrying the offset; nothing allocates.

use nom::number::complete::{be_u32, be_u64, le_f64, le_i64, le_u16, le_u32, le_u64};
use nom::IResult;

use crate::{Error, ErrorKind, Result};

/// A decoded RDB length prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Len {
    /// A plain length (6-, 14-, 32- or 64-bit form).
    Int(u64),
    /// A "special encoding" byte `11eeeeee`: the low 6 bits.
    Special(u8),
}

/// Parses one RDB length prefix (nom parser).
fn rdb_len(input: &[u8]) -> IResult<&[u8], std::result::Result<Len, u8>> {
    let (first, rest) = match input.split_first() {
        Some((f, r)) => (*f, r),
        None => {
            return Err(nom::Err::Error(nom::error::Error::new(
                input,
                nom::error::ErrorKind::Eof,
            )))
        }
    };
    match first >> 6 {
        0 => Ok((rest, Ok(Len::Int(u64::from(first & 0x3f))))),
        1 => {
            let (rest, lo) = nom::number::complete::u8(rest)?;
            Ok((
                rest,
                Ok(Len::Int((u64::from(first & 0x3f) << 8) | u64::from(lo))),
            ))
        }
        3 => Ok((rest, Ok(Len::Special(first & 0x3f)))),
        _ => match first {
            0x80 => {
                let (rest, v) = be_u32(rest)?;
                Ok((rest, Ok(Len::Int(u64::from(v)))))
            }
            0x81 => {
                let (rest, v) = be_u64(rest)?;
                Ok((rest, Ok(Len::Int(v))))
            }
            b => Ok((rest, Err(b))),
        },
    }
}

/// A cursor over a byte slice that knows its absolute position in the input,
/// so that every error can name the byte offset.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Added to `pos` when reporting offsets (for readers over a sub-slice).
    base: u64,
}

macro_rules! fixed {
    ($name:ident, $ty:ty, $parser:ident, $n:expr, $doc:expr) => {
        #[doc = $doc]
        #[inline]
        pub fn $name(&mut self, what: &'static str) -> Result<$ty> {
            match $parser::<_, nom::error::Error<&[u8]>>(&self.buf[self.pos..]) {
                Ok((_, v)) => {
                    self.pos += $n;
                    Ok(v)
                }
                Err(_) => Err(self.truncated(what, $n)),
            }
        }
    };
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`; offsets are reported relative to `buf`.
    ///
    /// ```
    /// use rdbkit::decode::{Reader, Len};
    /// let mut r = Reader::new(&[0x41, 0x02, 0x05]);
    /// assert_eq!(r.len("x").unwrap(), Len::Int(0x102));
    /// assert_eq!(r.length("y").unwrap(), 5);
    /// assert!(r.u8("z").is_err());
    /// ```
    pub fn new(buf: &'a [u8]) -> Self {
        Reader {
            buf,
            pos: 0,
            base: 0,
        }
    }

    /// A reader over `buf` whose offsets are reported as `base + position`.
    pub fn with_base(buf: &'a [u8], base: u64) -> Self {
        Reader { buf, pos: 0, base }
    }

    /// A reader over all of `buf`, positioned at `pos`.
    pub fn at(buf: &'a [u8], pos: usize) -> Self {
        Reader {
            buf,
            pos: pos.min(buf.len()),
            base: 0,
        }
    }

    /// Current position within the underlying slice.
    #[inline]
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Absolute offset of the current position (base + pos).
    #[inline]
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Absolute offset of a position within the underlying slice.
    #[inline]
    pub fn offset_of(&self, pos: usize) -> u64 {
        self.base + pos as u64
    }

    /// The underlying slice.
    #[inline]
    pub fn buf(&self) -> &'a [u8] {
        self.buf
    }

    /// Bytes left.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether all bytes have been read.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The unread bytes.
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Builds an error at the current offset.
    pub fn err(&self, kind: ErrorKind) -> Error {
        Error::new(kind, self.offset())
    }

    /// Builds an error at the offset of `pos`.
    pub fn err_at(&self, kind: ErrorKind, pos: usize) -> Error {
        Error::new(kind, self.offset_of(pos))
    }

    fn truncated(&self, what: &'static str, needed: u64) -> Error {
        self.err(ErrorKind::Truncated {
            what,
            needed,
            available: self.remaining() as u64,
        })
    }

    /// Reads one byte.
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`] at the end of the input.
    #[inline]
    pub fn u8(&mut self, what: &'static str) -> Result<u8> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.truncated(what, 1)),
        }
    }

    /// Looks at the next byte without consuming it.
    #[inline]
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Takes `n` bytes; an `n` beyond the remaining input is an error, never an allocation.
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`] when fewer than `n` bytes remain.
    #[inline]
    pub fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8]> {
        if n > self.remaining() as u64 {
            return Err(if n > (self.remaining() as u64).saturating_add(1 << 20) {
                self.err(ErrorKind::LengthTooLarge {
                    what,
                    value: n,
                    remaining: self.remaining() as u64,
                })
            } else {
                self.truncated(what, n)
            });
        }
        let s = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    /// Skips `n` bytes (same checks as [`Reader::take`]).
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`] when fewer than `n` bytes remain.
    #[inline]
    pub fn skip(&mut self, n: u64, what: &'static str) -> Result<()> {
        self.take(n, what).map(|_| ())
    }

    fixed!(u16le, u16, le_u16, 2, "Reads a little-endian u16.");
    fixed!(u32le, u32, le_u32, 4, "Reads a little-endian u32.");
    fixed!(u64le, u64, le_u64, 8, "Reads a little-endian u64.");
    fixed!(i64le, i64, le_i64, 8, "Reads a little-endian i64.");
    fixed!(
        f64le,
        f64,
        le_f64,
        8,
        "Reads a little-endian IEEE-754 double."
    );
    fixed!(u64be, u64, be_u64, 8, "Reads a big-endian u64.");

    /// Reads a little-endian f32.
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`] when fewer than 4 bytes remain.
    #[inline]
    pub fn f32le(&mut self, what: &'static str) -> Result<f32> {
        self.u32le(what).map(f32::from_bits)
    }

    /// Reads an RDB length prefix (or a special-encoding marker).
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`] at the end of the input,
    /// [`ErrorKind::BadLengthEncoding`] for an unknown prefix.
    #[inline]
    pub fn len(&mut self, what: &'static str) -> Result<Len> {
        let start = self.pos;
        match rdb_len(&self.buf[self.pos..]) {
            Ok((rest, Ok(l))) => {
                self.pos = self.buf.len() - rest.len();
                Ok(l)
            }
            Ok((_, Err(b))) => Err(self.err_at(ErrorKind::BadLengthEncoding(b), start)),
            Err(_) => Err(self.truncated(what, 1)),
        }
    }

    /// Reads a plain length; a special-encoding marker is an error.
    ///
    /// # Errors
    /// As [`Reader::len`], and [`ErrorKind::Corrupt`] for a special-encoding
    /// marker.
    #[inline]
    pub fn length(&mut self, what: &'static str) -> Result<u64> {
        let start = self.pos;
        match self.len(what)? {
            Len::Int(v) => Ok(v),
            Len::Special(e) => Err(self.err_at(
                ErrorKind::Corrupt(format!(
                    "{what}: expected a length, found string encoding marker 0x{:02x}",
                    0xC0 | e
                )),
                start,
            )),
        }
    }

    /// Reads a count of items that each take at least `min_item_bytes`:
    /// a count the remaining input cannot hold is an error.
    ///
    /// # Errors
    /// As [`Reader::length`], and [`ErrorKind::LengthTooLarge`] when the
    /// remaining input cannot hold that many items.
    #[inline]
    pub fn count(&mut self, what: &'static str, min_item_bytes: u64) -> Result<u64> {
        let start = self.pos;
        let n = self.length(what)?;
        let remaining = self.remaining() as u64;
        if n.saturating_mul(min_item_bytes) > remaining {
            return Err(self.err_at(
                ErrorKind::LengthTooLarge {
                    what,
                    value: n,
                    remaining,
                },
                start,
            ));
        }
        Ok(n)
    }

    /// Reads a text double (`u8 len` + ASCII, or 253/254/255 for NaN/+inf/-inf).
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`] at the end of the input,
    /// [`ErrorKind::Corrupt`] for text that is not a number.
    pub fn text_double(&mut self, what: &'static str) -> Result<f64> {
        let start = self.pos;
        let n = self.u8(what)?;
        match n {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let s = self.take(u64::from(n), what)?;
                parse_double_text(s).ok_or_else(|| {
                    self.err_at(
                        ErrorKind::Corrupt(format!(
                            "{what}: invalid double text '{}'",
                            crate::format::escape_bytes(s)
                        )),
                        start,
                    )
                })
            }
        }
    }
}

/// Reads a double the way C's `strtod` does for a score Redis never
/// checked (`zzlStrtod` of a ziplist or listpack sorted-set score): leading
/// white space, then the longest decimal number (or `inf`, `infinity`,
/// `nan`, any case) that starts the text; 0 when none does. Hexadecimal
/// floats read as their leading `0`.
///
/// ```
/// use rdbkit::decode::strtod_prefix;
/// assert_eq!(strtod_prefix(b" 1.5e2xyz"), 150.0);
/// assert_eq!(strtod_prefix(b"-Inf!"), f64::NEG_INFINITY);
/// assert_eq!(strtod_prefix(b"abc"), 0.0);
/// ```
pub fn strtod_prefix(s: &[u8]) -> f64 {
    let s = &s[..s.len().min(127)];
    let start = s
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
        .unwrap_or(s.len());
    let t = &s[start..];
    let (neg, body) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let lower: Vec<u8> = body.iter().take(8).map(u8::to_ascii_lowercase).collect();
    let special = if lower.starts_with(b"inf") {
        Some(f64::INFINITY)
    } else if lower.starts_with(b"nan") {
        Some(f64::NAN)
    } else {
        None
    };
    if let Some(v) = special {
        return if neg { -v } else { v };
    }
    // digits [. digits] [e [sign] digits]
    let digits = |from: usize| {
        body[from..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let int = digits(0);
    let mut end = int;
    let mut frac = 0;
    if body.get(end) == Some(&b'.') {
        frac = digits(end + 1);
        if int + frac > 0 {
            end += 1 + frac;
        }
    }
    if int + frac == 0 {
        return 0.0;
    }
    if matches!(body.get(end), Some(b'e' | b'E')) {
        let mut e = end + 1;
        if matches!(body.get(e), Some(b'+' | b'-')) {
            e += 1;
        }
        let n = digits(e);
        if n > 0 {
            end = e + n;
        }
    }
    let text = std::str::from_utf8(&body[..end]).unwrap_or("0");
    let v: f64 = text.parse().unwrap_or(0.0);
    if neg {
        -v
    } else {
        v
    }
}

/// Parses the text form of a double as Redis writes it (`%.17g`, `inf`, `-inf`, `nan`).
///
/// ```
/// assert_eq!(rdbkit::decode::parse_double_text(b"1.5"), Some(1.5));
/// assert_eq!(rdbkit::decode::parse_double_text(b"-inf"), Some(f64::NEG_INFINITY));
/// assert_eq!(rdbkit::decode::parse_double_text(b"x"), None);
/// ```
pub fn parse_double_text(s: &[u8]) -> Option<f64> {
    let t = std::str::from_utf8(s).ok()?;
    match t {
        "inf" | "+inf" | "infinity" | "+infinity" | "Infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" | "-Infinity" => Some(f64::NEG_INFINITY),
        "nan" | "-nan" | "NaN" => Some(f64::NAN),
        _ => {
            if t.is_empty() || t.starts_with(|c: char| c.is_whitespace()) {
                return None;
            }
            t.parse::<f64>().ok()
        }
    }
}
