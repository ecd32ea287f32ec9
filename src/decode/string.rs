//! RDB strings (`STR`) and the elements of collections.

use std::borrow::Cow;

use super::reader::{Len, Reader};
use crate::format::lzf;
use crate::{Error, ErrorKind, Limits, Result};

/// The largest output LZF can produce per input byte (a 3-byte back-reference
/// expands to at most 264 bytes). A longer claimed length is impossible.
pub const LZF_MAX_RATIO: u64 = 88;

/// An RDB string as stored: borrowed raw bytes, an integer form, or an LZF
/// stream that is decompressed only when asked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RdbStr<'a> {
    /// Raw bytes, borrowed from the input.
    Raw(&'a [u8]),
    /// An integer stored in the INT8/16/32 form; its value is the decimal text.
    Int(i64),
    /// An LZF-compressed string.
    Lzf {
        /// The compressed bytes, borrowed from the input.
        data: &'a [u8],
        /// The uncompressed length.
        len: usize,
        /// Absolute offset of the compressed bytes (for error messages).
        offset: u64,
    },
}

impl<'a> RdbStr<'a> {
    /// Reads a `STR` at the reader's position, checking lengths against the
    /// remaining input and `limits`. The LZF stream itself is not checked here
    /// (see [`RdbStr::validate`]).
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`], [`ErrorKind::BadStringEncoding`] or
    /// [`ErrorKind::LimitExceeded`] (a string over `limits`), with the byte
    /// offset.
    ///
    /// ```
    /// use rdbkit::{decode::{Reader, RdbStr}, Limits};
    /// let mut r = Reader::new(&[0x03, b'a', b'b', b'c', 0xC0, 0xFF]);
    /// assert_eq!(RdbStr::read(&mut r, &Limits::default(), "s").unwrap(), RdbStr::Raw(b"abc"));
    /// assert_eq!(RdbStr::read(&mut r, &Limits::default(), "s").unwrap(), RdbStr::Int(-1));
    /// ```
    #[inline]
    pub fn read(r: &mut Reader<'a>, limits: &Limits, what: &'static str) -> Result<RdbStr<'a>> {
        let start = r.pos();
        match r.len(what)? {
            Len::Int(n) => Ok(RdbStr::Raw(r.take(n, what)?)),
            Len::Special(0) => Ok(RdbStr::Int(i64::from(r.u8(what)? as i8))),
            Len::Special(1) => Ok(RdbStr::Int(i64::from(r.u16le(what)? as i16))),
            Len::Special(2) => Ok(RdbStr::Int(i64::from(r.u32le(what)? as i32))),
            Len::Special(3) => {
                let clen = r.length(what)?;
                let ulen = r.length(what)?;
                if ulen > clen.saturating_mul(LZF_MAX_RATIO) {
                    return Err(r.err_at(
                        ErrorKind::Lzf(format!(
                            "{what}: claimed length {ulen} is impossible for {clen} compressed bytes"
                        )),
                        start,
                    ));
                }
                if ulen > limits.max_string_len {
                    return Err(r.err_at(
                        ErrorKind::LimitExceeded {
                            what: "LZF uncompressed length",
                            value: ulen,
                            limit: limits.max_string_len,
                        },
                        start,
                    ));
                }
                let offset = r.offset();
                let data = r.take(clen, what)?;
                if ulen == 0 {
                    // Since 6.2 rdbLoadLzfStringObject accepts what
                    // lzf_decompress returns when it equals the length:
                    // with a length of 0, any data gives the empty string.
                    return Ok(RdbStr::Raw(&data[..0]));
                }
                Ok(RdbStr::Lzf {
                    data,
                    len: ulen as usize,
                    offset,
                })
            }
            Len::Special(e) => Err(r.err_at(ErrorKind::BadStringEncoding(0xC0 | e), start)),
        }
    }

    /// Skips a `STR` without looking at LZF content (the cheapest walk).
    ///
    /// # Errors
    /// As [`RdbStr::read`].
    #[inline]
    pub fn skip(r: &mut Reader<'a>, limits: &Limits, what: &'static str) -> Result<()> {
        Self::read(r, limits, what).map(|_| ())
    }

    /// The length of the string's value in bytes (decimal length for integers).
    pub fn len(&self) -> usize {
        match self {
            RdbStr::Raw(b) => b.len(),
            RdbStr::Int(i) => int_len(*i),
            RdbStr::Lzf { len, .. } => *len,
        }
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks an LZF stream end to end without materialising it; other forms are always valid.
    ///
    /// # Errors
    /// [`ErrorKind::Lzf`] for a broken LZF stream.
    pub fn validate(&self) -> Result<()> {
        if let RdbStr::Lzf { data, len, offset } = self {
            lzf::validate(data, *len)
                .map_err(|e| Error::new(ErrorKind::Lzf(e.to_string()), *offset))?;
        }
        Ok(())
    }

    /// The value's bytes: borrowed when raw, otherwise materialised.
    ///
    /// # Errors
    /// [`ErrorKind::Lzf`] for a broken LZF stream.
    ///
    /// ```
    /// use rdbkit::decode::RdbStr;
    /// assert_eq!(&*RdbStr::Int(-12).to_bytes().unwrap(), b"-12");
    /// ```
    #[inline]
    pub fn to_bytes(&self) -> Result<Cow<'a, [u8]>> {
        match *self {
            RdbStr::Raw(b) => Ok(Cow::Borrowed(b)),
            _ => self.materialise(),
        }
    }

    /// The first `n` bytes of the value without decompressing it: a raw
    /// string's, or an LZF string's when its first literal run holds them
    /// (an LZF stream always starts with a literal run of up to 32 bytes);
    /// `None` otherwise (an integer, a shorter string, a shorter run).
    ///
    /// ```
    /// use rdbkit::decode::RdbStr;
    /// assert_eq!(RdbStr::Raw(b"abcdef").prefix(3), Some(&b"abc"[..]));
    /// let lzf = RdbStr::Lzf { data: b"\x05abcdef", len: 6, offset: 0 };
    /// assert_eq!(lzf.prefix(4), Some(&b"abcd"[..]));
    /// assert_eq!(RdbStr::Int(7).prefix(1), None);
    /// ```
    pub fn prefix(&self, n: usize) -> Option<&'a [u8]> {
        match *self {
            RdbStr::Raw(b) => b.get(..n),
            RdbStr::Lzf { data, len, .. } => {
                let run = usize::from(*data.first()?) + 1;
                (data[0] < 32 && run >= n && len >= n)
                    .then(|| data.get(1..1 + n))
                    .flatten()
            }
            RdbStr::Int(_) => None,
        }
    }

    /// The first `N` bytes of the string's value, decompressing no more
    /// than them (a blob's header); `None` for an integer or a shorter
    /// string.
    ///
    /// ```
    /// use rdbkit::decode::RdbStr;
    /// let lzf = RdbStr::Lzf { data: b"\x01ab\x40\x01", len: 6, offset: 0 };
    /// assert_eq!(lzf.head::<5>(), Some(*b"ababa"));
    /// assert_eq!(RdbStr::Raw(b"abc").head::<2>(), Some(*b"ab"));
    /// ```
    pub fn head<const N: usize>(&self) -> Option<[u8; N]> {
        match *self {
            RdbStr::Raw(b) => b.first_chunk::<N>().copied(),
            RdbStr::Lzf { data, len, .. } if len >= N => lzf::decompress_prefix::<N>(data),
            _ => None,
        }
    }

    /// [`RdbStr::to_bytes`] of an integer or LZF string (kept out of line,
    /// so the borrowed case inlines).
    #[cold]
    fn materialise(&self) -> Result<Cow<'a, [u8]>> {
        match *self {
            RdbStr::Raw(b) => Ok(Cow::Borrowed(b)),
            RdbStr::Int(i) => Ok(Cow::Owned(i.to_string().into_bytes())),
            RdbStr::Lzf { data, len, offset } => lzf::decompress(data, len)
                .map(Cow::Owned)
                .map_err(|e| Error::new(ErrorKind::Lzf(e.to_string()), offset)),
        }
    }

    /// The value as text, for people: invalid UTF-8 sequences become
    /// `U+FFFD` ([`lossy`]). Borrowed from the input when raw and valid.
    /// # Errors
    /// [`ErrorKind::Lzf`] for LZF data that does not decompress (the only
    /// error).
    ///
    /// ```
    /// use rdbkit::decode::RdbStr;
    /// assert_eq!(RdbStr::Raw(b"caf\xc3\xa9").to_lossy_string().unwrap(), "café");
    /// assert_eq!(RdbStr::Raw(b"a\xffb").to_lossy_string().unwrap(), "a\u{fffd}b");
    /// assert_eq!(RdbStr::Int(-7).to_lossy_string().unwrap(), "-7");
    /// ```
    pub fn to_lossy_string(&self) -> Result<Cow<'a, str>> {
        Ok(lossy_cow(self.to_bytes()?))
    }

    /// Writes the value's bytes into `buf` (cleared first) unless raw, and
    /// returns them; raw strings are returned borrowed without copying.
    ///
    /// # Errors
    /// [`ErrorKind::Lzf`] for a broken LZF stream.
    pub fn bytes_in<'s>(&self, buf: &'s mut Vec<u8>) -> Result<&'s [u8]>
    where
        'a: 's,
    {
        match *self {
            RdbStr::Raw(b) => Ok(b),
            RdbStr::Int(i) => {
                buf.clear();
                push_int(buf, i);
                Ok(&buf[..])
            }
            RdbStr::Lzf { data, len, offset } => {
                lzf::decompress_to_vec(data, len, buf)
                    .map_err(|e| Error::new(ErrorKind::Lzf(e.to_string()), offset))?;
                Ok(&buf[..])
            }
        }
    }

    /// The value as an [`Elem`], decompressing LZF into `buf`.
    ///
    /// # Errors
    /// [`ErrorKind::Lzf`] for a broken LZF stream.
    pub fn elem_in<'s>(&self, buf: &'s mut Vec<u8>) -> Result<Elem<'s>>
    where
        'a: 's,
    {
        match *self {
            RdbStr::Int(i) => Ok(Elem::Int(i)),
            _ => self.bytes_in(buf).map(Elem::Bytes),
        }
    }
}

/// Bytes as text, for people: invalid UTF-8 sequences become `U+FFFD`
/// ([`String::from_utf8_lossy`]); borrowed when the bytes are valid UTF-8.
/// For the elements the iterators return ([`Value::elements`](super::Value::elements)
/// and the others), keys, and any byte string of a file. (`rdbkit dump`
/// writes bytes that are not UTF-8 as base64 instead, which loses nothing.)
///
/// ```
/// use rdbkit::decode::lossy;
/// assert_eq!(lossy(b"user:1"), "user:1");
/// assert_eq!(lossy(b"\xffid"), "\u{fffd}id");
/// ```
pub fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// [`lossy`] of bytes that may be owned, keeping them when they are text.
fn lossy_cow(b: Cow<'_, [u8]>) -> Cow<'_, str> {
    match b {
        Cow::Borrowed(b) => String::from_utf8_lossy(b),
        Cow::Owned(v) => match String::from_utf8(v) {
            Ok(s) => Cow::Owned(s),
            Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        },
    }
}

/// Number of decimal characters of an integer.
pub(crate) fn int_len(i: i64) -> usize {
    let mut n = if i < 0 { 2 } else { 1 };
    let mut v = i.unsigned_abs();
    while v >= 10 {
        v /= 10;
        n += 1;
    }
    n
}

/// Appends the decimal text of an integer.
pub(crate) fn push_int(buf: &mut Vec<u8>, i: i64) {
    let mut tmp = [0u8; 20];
    let mut p = tmp.len();
    let mut v = i.unsigned_abs();
    loop {
        p -= 1;
        tmp[p] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if i < 0 {
        buf.push(b'-');
    }
    buf.extend_from_slice(&tmp[p..]);
}

/// One element of a collection: bytes, or an integer whose value is its decimal text.
/// Equality compares values: `Int(5)` equals `Bytes(b"5")`.
#[derive(Debug, Clone, Copy)]
pub enum Elem<'b> {
    /// A byte string.
    Bytes(&'b [u8]),
    /// An integer (listpack/ziplist/intset integer forms, RDB integer strings).
    Int(i64),
}

impl<'b> Elem<'b> {
    /// The element's bytes: borrowed for byte strings, decimal text for integers.
    ///
    /// ```
    /// use rdbkit::decode::Elem;
    /// assert_eq!(&*Elem::Int(7).to_bytes(), b"7");
    /// assert_eq!(&*Elem::Bytes(b"x").to_bytes(), b"x");
    /// ```
    pub fn to_bytes(&self) -> Cow<'b, [u8]> {
        match *self {
            Elem::Bytes(b) => Cow::Borrowed(b),
            Elem::Int(i) => {
                let mut v = Vec::with_capacity(20);
                push_int(&mut v, i);
                Cow::Owned(v)
            }
        }
    }

    /// The element as text, for people: integers as their decimal text,
    /// invalid UTF-8 sequences as `U+FFFD` ([`lossy`]).
    ///
    /// ```
    /// use rdbkit::decode::Elem;
    /// assert_eq!(Elem::Int(-3).to_lossy_string(), "-3");
    /// assert_eq!(Elem::Bytes(b"ok\xff").to_lossy_string(), "ok\u{fffd}");
    /// ```
    pub fn to_lossy_string(&self) -> Cow<'b, str> {
        lossy_cow(self.to_bytes())
    }

    /// Appends the element's bytes to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match *self {
            Elem::Bytes(b) => out.extend_from_slice(b),
            Elem::Int(i) => push_int(out, i),
        }
    }

    /// Length of the element's bytes.
    pub fn len(&self) -> usize {
        match *self {
            Elem::Bytes(b) => b.len(),
            Elem::Int(i) => int_len(i),
        }
    }

    /// Whether the element is the empty string.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element as an integer, if it is one or its bytes are a canonical integer.
    pub fn as_int(&self) -> Option<i64> {
        match *self {
            Elem::Int(i) => Some(i),
            Elem::Bytes(b) => crate::format::parse_canonical_int(b),
        }
    }

    /// The element parsed as a double (integers exactly, text with `strtod` rules).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Elem::Int(i) => Some(i as f64),
            Elem::Bytes(b) => super::parse_double_text(b),
        }
    }

    /// Compares the element's byte value with `other` without allocating.
    pub fn eq_bytes(&self, other: &[u8]) -> bool {
        match *self {
            Elem::Bytes(b) => b == other,
            Elem::Int(i) => {
                let mut tmp = Vec::with_capacity(20);
                push_int(&mut tmp, i);
                tmp == other
            }
        }
    }
}

impl PartialEq for Elem<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (*self, *other) {
            (Elem::Int(a), Elem::Int(b)) => a == b,
            (Elem::Bytes(a), Elem::Bytes(b)) => a == b,
            (Elem::Int(_), Elem::Bytes(b)) => self.eq_bytes(b),
            (Elem::Bytes(a), Elem::Int(_)) => other.eq_bytes(a),
        }
    }
}

impl Eq for Elem<'_> {}
