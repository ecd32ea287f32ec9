//! Builders for the compact blob encodings: listpack, ziplist, intset, zipmap.

/// An element to put in a blob: bytes, or an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobElem<'b> {
    /// Bytes (stored as an integer when they are a canonical integer).
    Bytes(&'b [u8]),
    /// An integer.
    Int(i64),
}

impl<'b> BlobElem<'b> {
    fn resolve(self) -> BlobElem<'b> {
        match self {
            BlobElem::Bytes(b) if b.len() <= 20 => match crate::format::parse_canonical_int(b) {
                Some(i) => BlobElem::Int(i),
                None => self,
            },
            _ => self,
        }
    }
}

/// Bytes a listpack entry of `e` takes (encoding, data and back-length),
/// as [`ListpackBuilder::push`] writes it.
pub(crate) fn listpack_entry_len(e: BlobElem<'_>) -> usize {
    let enc = match e.resolve() {
        BlobElem::Int(v) => {
            if (0..=127).contains(&v) {
                1
            } else if (-4096..=4095).contains(&v) {
                2
            } else if (-32768..=32767).contains(&v) {
                3
            } else if (-8388608..=8388607).contains(&v) {
                4
            } else if i32::try_from(v).is_ok() {
                5
            } else {
                9
            }
        }
        BlobElem::Bytes(b) => {
            let l = b.len();
            l + if l < 64 {
                1
            } else if l < 4096 {
                2
            } else {
                5
            }
        }
    };
    enc + match enc {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Shorthand for [`BlobElem::Bytes`] (the collection and stream encoders).
pub(super) fn be(b: &[u8]) -> BlobElem<'_> {
    BlobElem::Bytes(b)
}

/// Builds a listpack.
///
/// ```
/// use rdbkit::encode::{ListpackBuilder, BlobElem};
/// let mut lp = ListpackBuilder::new();
/// for e in [BlobElem::Bytes(b"f"), BlobElem::Bytes(b"v"), BlobElem::Bytes(b"n"), BlobElem::Int(5)] {
///     lp.push(e);
/// }
/// assert_eq!(lp.finish(), [0x12, 0, 0, 0, 4, 0, 0x81, b'f', 2, 0x81, b'v', 2, 0x81, b'n', 2, 5, 1, 0xff]);
/// ```
#[derive(Debug, Clone)]
pub struct ListpackBuilder {
    buf: Vec<u8>,
    count: u64,
}

impl Default for ListpackBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ListpackBuilder {
    /// An empty listpack.
    pub fn new() -> Self {
        ListpackBuilder {
            buf: vec![0; 6],
            count: 0,
        }
    }

    /// Bytes so far (including the 6-byte header, excluding the end byte).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Elements so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Whether no element was pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends an element (canonical integers become integer entries).
    pub fn push(&mut self, e: BlobElem<'_>) {
        let start = self.buf.len();
        match e.resolve() {
            BlobElem::Int(v) => {
                if (0..=127).contains(&v) {
                    self.buf.push(v as u8);
                } else if (-4096..=4095).contains(&v) {
                    let u = (v as u16) & 0x1fff;
                    self.buf
                        .extend_from_slice(&[0xC0 | (u >> 8) as u8, u as u8]);
                } else if (-32768..=32767).contains(&v) {
                    self.buf.push(0xF1);
                    self.buf.extend_from_slice(&(v as i16).to_le_bytes());
                } else if (-8388608..=8388607).contains(&v) {
                    self.buf.push(0xF2);
                    self.buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
                } else if let Ok(w) = i32::try_from(v) {
                    self.buf.push(0xF3);
                    self.buf.extend_from_slice(&w.to_le_bytes());
                } else {
                    self.buf.push(0xF4);
                    self.buf.extend_from_slice(&v.to_le_bytes());
                }
            }
            BlobElem::Bytes(b) => {
                let l = b.len();
                if l < 64 {
                    self.buf.push(0x80 | l as u8);
                } else if l < 4096 {
                    self.buf
                        .extend_from_slice(&[0xE0 | (l >> 8) as u8, l as u8]);
                } else {
                    self.buf.push(0xF0);
                    self.buf.extend_from_slice(&(l as u32).to_le_bytes());
                }
                self.buf.extend_from_slice(b);
            }
        }
        let size = self.buf.len() - start;
        push_backlen(&mut self.buf, size);
        self.count += 1;
    }

    /// Appends all elements of another builder.
    pub fn extend(&mut self, other: ListpackBuilder) {
        self.buf.extend_from_slice(&other.buf[6..]);
        self.count += other.count;
    }

    /// Finishes the listpack: end byte and header.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(0xFF);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let n = if self.count < 65535 {
            self.count as u16
        } else {
            65535
        };
        self.buf[4..6].copy_from_slice(&n.to_le_bytes());
        self.buf
    }
}

fn push_backlen(buf: &mut Vec<u8>, l: usize) {
    let l = l as u64;
    if l <= 127 {
        buf.push(l as u8);
    } else if l < 16383 {
        buf.extend_from_slice(&[(l >> 7) as u8, (l & 127) as u8 | 128]);
    } else if l < 2097151 {
        buf.extend_from_slice(&[
            (l >> 14) as u8,
            ((l >> 7) & 127) as u8 | 128,
            (l & 127) as u8 | 128,
        ]);
    } else if l < 268435455 {
        buf.extend_from_slice(&[
            (l >> 21) as u8,
            ((l >> 14) & 127) as u8 | 128,
            ((l >> 7) & 127) as u8 | 128,
            (l & 127) as u8 | 128,
        ]);
    } else {
        buf.extend_from_slice(&[
            (l >> 28) as u8,
            ((l >> 21) & 127) as u8 | 128,
            ((l >> 14) & 127) as u8 | 128,
            ((l >> 7) & 127) as u8 | 128,
            (l & 127) as u8 | 128,
        ]);
    }
}

/// Builds a ziplist (RDB 2-9 compact encodings).
///
/// ```
/// use rdbkit::encode::{ZiplistBuilder, BlobElem};
/// let mut z = ZiplistBuilder::new();
/// z.push(BlobElem::Bytes(b"a"));
/// z.push(BlobElem::Int(5));
/// let zl = z.finish();
/// assert_eq!(zl.len(), 16);
/// ```
#[derive(Debug, Clone)]
pub struct ZiplistBuilder {
    buf: Vec<u8>,
    count: u64,
    prev: usize,
    last: usize,
    legacy_ints: bool,
}

impl Default for ZiplistBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ZiplistBuilder {
    /// An empty ziplist.
    pub fn new() -> Self {
        ZiplistBuilder {
            buf: vec![0; 10],
            count: 0,
            prev: 0,
            last: 10,
            legacy_ints: false,
        }
    }

    /// An empty ziplist as a server writing RDB `version` builds it: before
    /// RDB 6 (Redis 2.4) ziplists only had the 16, 32 and 64-bit integer
    /// encodings; RDB 6 added 8 and 24-bit integers and the 0..12 immediates.
    ///
    /// ```
    /// use rdbkit::encode::{ZiplistBuilder, BlobElem};
    /// let mut old = ZiplistBuilder::for_version(2);
    /// old.push(BlobElem::Int(5));
    /// assert_eq!(&old.finish()[10..], [0x00, 0xC0, 5, 0, 0xFF]);
    /// let mut new = ZiplistBuilder::for_version(6);
    /// new.push(BlobElem::Int(5));
    /// assert_eq!(&new.finish()[10..], [0x00, 0xF6, 0xFF]);
    /// ```
    pub fn for_version(version: u32) -> Self {
        ZiplistBuilder {
            legacy_ints: version < 6,
            ..Self::new()
        }
    }

    /// Bytes so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether no element was pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Elements so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Appends an element.
    pub fn push(&mut self, e: BlobElem<'_>) {
        let start = self.buf.len();
        if self.prev < 254 {
            self.buf.push(self.prev as u8);
        } else {
            self.buf.push(0xFE);
            self.buf
                .extend_from_slice(&(self.prev as u32).to_le_bytes());
        }
        match e.resolve() {
            BlobElem::Int(v) if self.legacy_ints => {
                if let Ok(h) = i16::try_from(v) {
                    self.buf.push(0xC0);
                    self.buf.extend_from_slice(&h.to_le_bytes());
                } else if let Ok(w) = i32::try_from(v) {
                    self.buf.push(0xD0);
                    self.buf.extend_from_slice(&w.to_le_bytes());
                } else {
                    self.buf.push(0xE0);
                    self.buf.extend_from_slice(&v.to_le_bytes());
                }
            }
            BlobElem::Int(v) => {
                if (0..=12).contains(&v) {
                    self.buf.push(0xF1 + v as u8);
                } else if let Ok(b) = i8::try_from(v) {
                    self.buf.extend_from_slice(&[0xFE, b as u8]);
                } else if let Ok(h) = i16::try_from(v) {
                    self.buf.push(0xC0);
                    self.buf.extend_from_slice(&h.to_le_bytes());
                } else if (-8388608..=8388607).contains(&v) {
                    self.buf.push(0xF0);
                    self.buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
                } else if let Ok(w) = i32::try_from(v) {
                    self.buf.push(0xD0);
                    self.buf.extend_from_slice(&w.to_le_bytes());
                } else {
                    self.buf.push(0xE0);
                    self.buf.extend_from_slice(&v.to_le_bytes());
                }
            }
            BlobElem::Bytes(b) => {
                let l = b.len();
                if l < 64 {
                    self.buf.push(l as u8);
                } else if l < 16384 {
                    self.buf
                        .extend_from_slice(&[0x40 | (l >> 8) as u8, l as u8]);
                } else {
                    self.buf.push(0x80);
                    self.buf.extend_from_slice(&(l as u32).to_be_bytes());
                }
                self.buf.extend_from_slice(b);
            }
        }
        self.last = start;
        self.prev = self.buf.len() - start;
        self.count += 1;
    }

    /// Finishes the ziplist: header and end byte.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(0xFF);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let tail = if self.count == 0 { 10 } else { self.last } as u32;
        self.buf[4..8].copy_from_slice(&tail.to_le_bytes());
        let n = if self.count < 65535 {
            self.count as u16
        } else {
            65535
        };
        self.buf[8..10].copy_from_slice(&n.to_le_bytes());
        self.buf
    }
}

/// Builds an intset from integers (sorted and deduplicated here).
///
/// ```
/// let is = rdbkit::encode::intset(&[3, 1, 2]);
/// assert_eq!(is, [2, 0, 0, 0, 3, 0, 0, 0, 1, 0, 2, 0, 3, 0]);
/// ```
pub fn intset(values: &[i64]) -> Vec<u8> {
    let mut v = values.to_vec();
    v.sort_unstable();
    v.dedup();
    let width: usize = if v.iter().all(|&x| i16::try_from(x).is_ok()) {
        2
    } else if v.iter().all(|&x| i32::try_from(x).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + v.len() * width);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    for x in v {
        out.extend_from_slice(&x.to_le_bytes()[..width]);
    }
    out
}

/// Builds a zipmap (RDB 2-3 small hashes) from field/value pairs.
///
/// ```
/// let zm = rdbkit::encode::zipmap(&[(b"k".as_slice(), b"v".as_slice())]);
/// assert_eq!(zm, [1, 1, b'k', 1, 0, b'v', 0xff]);
/// ```
pub fn zipmap(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = vec![pairs.len().min(254) as u8];
    let zlen = |out: &mut Vec<u8>, l: usize| {
        if l < 254 {
            out.push(l as u8);
        } else {
            out.push(254);
            out.extend_from_slice(&(l as u32).to_le_bytes());
        }
    };
    for (k, v) in pairs {
        zlen(&mut out, k.len());
        out.extend_from_slice(k);
        zlen(&mut out, v.len());
        out.push(0);
        out.extend_from_slice(v);
    }
    out.push(0xFF);
    out
}
