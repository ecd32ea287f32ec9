//! Embedded blob layouts: listpack, ziplist, intset and zipmap. A
//! [`BlobIter`] walks one blob element by element, checking the structure of
//! every entry (lengths within bounds, encodings, listpack back-lengths,
//! ziplist prev-lengths, the end marker and the header count). It keeps no
//! reference to the blob: each call gets the bytes again, so the blob can
//! live in a reusable buffer.

use std::fmt;

/// Which blob layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobKind {
    /// Listpack (RDB 10+ compact encodings, streams, quicklist-v2 nodes).
    Listpack,
    /// Ziplist (RDB 2-9 compact encodings, quicklist-v1 nodes).
    Ziplist,
    /// Intset (integer sets).
    Intset,
    /// Zipmap (RDB 2-3 small hashes).
    Zipmap,
}

impl BlobKind {
    /// Lower-case name for messages.
    pub fn name(self) -> &'static str {
        match self {
            BlobKind::Listpack => "listpack",
            BlobKind::Ziplist => "ziplist",
            BlobKind::Intset => "intset",
            BlobKind::Zipmap => "zipmap",
        }
    }
}

/// A structural error inside a blob: what is wrong and where (offset inside the blob).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobError {
    /// The blob kind.
    pub kind: BlobKind,
    /// What is wrong.
    pub what: String,
    /// Offset inside the blob.
    pub at: usize,
}

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "corrupt {}: {} (at offset {})",
            self.kind.name(),
            self.what,
            self.at
        )
    }
}

impl std::error::Error for BlobError {}

impl From<BlobError> for crate::ErrorKind {
    fn from(e: BlobError) -> Self {
        crate::ErrorKind::Blob {
            blob: e.kind.name(),
            what: e.what,
            at: e.at,
        }
    }
}

/// Where an element lies: a byte range of the blob, or an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElemPos {
    /// Bytes `start..end` of the blob.
    Range(usize, usize),
    /// An integer element.
    Int(i64),
}

impl ElemPos {
    /// Resolves the position against the blob bytes.
    #[inline]
    pub fn get<'b>(self, blob: &'b [u8]) -> super::Elem<'b> {
        match self {
            ElemPos::Range(s, e) => super::Elem::Bytes(&blob[s..e]),
            ElemPos::Int(i) => super::Elem::Int(i),
        }
    }
}

/// A walker over one blob. Create it with [`BlobIter::new`] (which checks the
/// header) and call [`BlobIter::next`] with the same bytes until it returns `None`.
///
/// ```
/// use rdbkit::decode::{BlobIter, BlobKind, Elem};
/// // listpack {"f", 5}
/// let lp = [0x0c, 0, 0, 0, 2, 0, 0x81, b'f', 2, 0x05, 1, 0xff];
/// let mut it = BlobIter::new(BlobKind::Listpack, &lp).unwrap();
/// assert_eq!(it.next(&lp).unwrap().unwrap().get(&lp), Elem::Bytes(b"f"));
/// assert_eq!(it.next(&lp).unwrap().unwrap().get(&lp), Elem::Int(5));
/// assert!(it.next(&lp).unwrap().is_none());
/// ```
#[derive(Debug, Clone)]
pub struct BlobIter {
    kind: BlobKind,
    pos: usize,
    /// Header count, when the header states one.
    count: Option<u32>,
    seen: u32,
    /// Intset element width; zipmap: 0 = expect key, 1 = expect value.
    aux: u32,
    /// Ziplist: size of the previous entry; intset: previous value (deep ordering).
    prev: i64,
    /// Ziplist: offset of the last entry seen (for the zltail check).
    last_entry: usize,
    /// Intset: an element was not above the one before it.
    unordered: bool,
    done: bool,
}

/// Number of bytes `lpEncodeBacklen` uses for an element of size `l`.
#[inline]
fn backlen_size(l: usize) -> usize {
    if l <= 127 {
        1
    } else if l < 16383 {
        2
    } else if l < 2097151 {
        3
    } else if l < 268435455 {
        4
    } else {
        5
    }
}

#[inline]
fn le(data: &[u8], at: usize, n: usize) -> u64 {
    let mut v = 0u64;
    for (i, b) in data[at..at + n].iter().enumerate() {
        v |= u64::from(*b) << (8 * i);
    }
    v
}

impl BlobIter {
    fn err(&self, what: impl Into<String>, at: usize) -> BlobError {
        BlobError {
            kind: self.kind,
            what: what.into(),
            at,
        }
    }

    /// Checks the header of `data` and positions at the first element.
    ///
    /// # Errors
    /// A [`BlobError`] when the header is malformed or disagrees with the
    /// blob's length.
    pub fn new(kind: BlobKind, data: &[u8]) -> Result<BlobIter, BlobError> {
        let mut it = BlobIter {
            kind,
            pos: 0,
            count: None,
            seen: 0,
            aux: 0,
            prev: 0,
            last_entry: 0,
            unordered: false,
            done: false,
        };
        match kind {
            // Header checks: lpValidateIntegrity with deep = 0, which Redis
            // runs on every load (size >= 7, total bytes = size, end byte).
            BlobKind::Listpack => {
                if data.len() < 7 {
                    return Err(it.err("blob shorter than the 7-byte minimum", 0));
                }
                let total = le(data, 0, 4) as usize;
                if total != data.len() {
                    return Err(it.err(
                        format!("header says {total} bytes, blob has {}", data.len()),
                        0,
                    ));
                }
                if data[data.len() - 1] != 0xff {
                    return Err(it.err("missing end marker", data.len() - 1));
                }
                let n = le(data, 4, 2) as u32;
                it.count = (n != 65535).then_some(n);
                it.pos = 6;
            }
            // ziplistValidateIntegrity's header checks (every load: 6.2+
            // runs it deep on every ziplist it converts, 7.0+ on all).
            BlobKind::Ziplist => {
                if data.len() < 11 {
                    return Err(it.err("blob shorter than the 11-byte minimum", 0));
                }
                let total = le(data, 0, 4) as usize;
                if total != data.len() {
                    return Err(it.err(
                        format!("header says {total} bytes, blob has {}", data.len()),
                        0,
                    ));
                }
                let tail = le(data, 4, 4) as usize;
                if tail > data.len() - 1 {
                    return Err(it.err(format!("tail offset {tail} beyond the blob"), 4));
                }
                if data[data.len() - 1] != 0xff {
                    return Err(it.err("missing end marker", data.len() - 1));
                }
                let n = le(data, 8, 2) as u32;
                it.count = (n != 65535).then_some(n);
                it.pos = 10;
                it.last_entry = 10;
            }
            // intsetValidateIntegrity with deep = 0 (every load since 6.2):
            // encoding 2/4/8, count x width = size, count > 0. The order is
            // deep only: see `out_of_order`.
            BlobKind::Intset => {
                if data.len() < 8 {
                    return Err(it.err("blob shorter than the 8-byte header", 0));
                }
                let enc = le(data, 0, 4) as u32;
                if !matches!(enc, 2 | 4 | 8) {
                    return Err(it.err(format!("invalid encoding {enc}"), 0));
                }
                let n = le(data, 4, 4);
                if n == 0 {
                    return Err(it.err("empty intset", 4));
                }
                if 8 + n * u64::from(enc) != data.len() as u64 {
                    return Err(it.err(
                        format!(
                            "{n} elements of {enc} bytes do not fill the {}-byte blob",
                            data.len()
                        ),
                        4,
                    ));
                }
                it.count = Some(n as u32);
                it.aux = enc;
                it.pos = 8;
            }
            // zipmapValidateIntegrity, run deep on every load since 6.2.
            BlobKind::Zipmap => {
                if data.len() < 2 {
                    return Err(it.err("blob shorter than 2 bytes", 0));
                }
                if data[data.len() - 1] != 0xff {
                    return Err(it.err("missing end marker", data.len() - 1));
                }
                let n = u32::from(data[0]);
                // The count byte counts pairs; 254 means "unknown".
                it.count = (n < 254).then_some(n * 2);
                it.pos = 1;
            }
        }
        Ok(it)
    }

    /// The element count stated by the header (for zipmaps: fields + values), if any.
    pub fn header_count(&self) -> Option<u32> {
        self.count
    }

    /// Intset: whether an element so far was not above the one before it.
    /// `intsetValidateIntegrity` checks the order only with `deep` (Redis
    /// 6.2+ with `sanitize-dump-payload yes`), so the walk does not fail on
    /// it; callers decide.
    pub fn out_of_order(&self) -> bool {
        self.unordered
    }

    /// Elements returned so far.
    pub fn seen(&self) -> u32 {
        self.seen
    }

    /// Offset inside the blob of the next element.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Checks that the blob ended exactly with the count its header states
    /// (the deep checks of lpValidateIntegrity / ziplistValidateIntegrity /
    /// zipmapValidateIntegrity). Every walk runs them: rdbkit's `Full` level
    /// walks every element, as Redis does for every ziplist and zipmap it
    /// converts (6.2+) but for listpacks only with `sanitize-dump-payload
    /// yes`; a blob that fails the walk cannot be decoded at all.
    fn finish(&mut self, data: &[u8]) -> Result<Option<ElemPos>, BlobError> {
        let end = self.pos;
        if end != data.len() - 1 {
            return Err(self.err("data after the end marker", end + 1));
        }
        if let Some(c) = self.count {
            if c != self.seen {
                return Err(self.err(format!("header count {c} but {} elements", self.seen), end));
            }
        }
        if self.kind == BlobKind::Ziplist {
            let tail = le(data, 4, 4) as usize;
            if tail != self.last_entry {
                return Err(self.err(
                    format!(
                        "tail offset {tail} is not the last entry's offset {}",
                        self.last_entry
                    ),
                    4,
                ));
            }
        }
        if self.kind == BlobKind::Zipmap && self.aux != 0 {
            return Err(self.err("field without a value", end));
        }
        // zipmapValidateIntegrity: an empty zipmap is corrupt.
        if self.kind == BlobKind::Zipmap && self.seen == 0 {
            return Err(self.err("empty zipmap", end));
        }
        self.done = true;
        Ok(None)
    }

    /// Returns the next element, `None` at the end marker (after checking it).
    ///
    /// # Errors
    /// A [`BlobError`] for an element or end marker that is malformed or runs
    /// past the blob.
    #[inline]
    pub fn next(&mut self, data: &[u8]) -> Result<Option<ElemPos>, BlobError> {
        if self.done {
            return Ok(None);
        }
        match self.kind {
            BlobKind::Listpack => self.next_listpack(data),
            BlobKind::Ziplist => self.next_ziplist(data),
            BlobKind::Intset => self.next_intset(data),
            BlobKind::Zipmap => self.next_zipmap(data),
        }
    }

    /// Walks elements until the end marker (which it checks) or until `f`
    /// returns `false` for one, calling `f` with each element. The same checks,
    /// in the same order, as calling [`BlobIter::next`] until `None`, in a
    /// loop specialised for the blob kind; returns whether the end was reached.
    ///
    /// # Errors
    /// A [`BlobError`] as for [`BlobIter::next`].
    #[inline]
    pub fn walk(
        &mut self,
        data: &[u8],
        mut f: impl FnMut(ElemPos) -> bool,
    ) -> Result<bool, BlobError> {
        #[inline(always)]
        fn each(
            it: &mut BlobIter,
            data: &[u8],
            f: &mut impl FnMut(ElemPos) -> bool,
            next: impl Fn(&mut BlobIter, &[u8]) -> Result<Option<ElemPos>, BlobError>,
        ) -> Result<bool, BlobError> {
            if it.done {
                return Ok(true);
            }
            while let Some(e) = next(it, data)? {
                if !f(e) {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        match self.kind {
            BlobKind::Listpack => each(self, data, &mut f, BlobIter::next_listpack),
            BlobKind::Ziplist => each(self, data, &mut f, BlobIter::next_ziplist),
            BlobKind::Intset => each(self, data, &mut f, BlobIter::next_intset),
            BlobKind::Zipmap => each(self, data, &mut f, BlobIter::next_zipmap),
        }
    }

    #[inline]
    fn need(&self, data: &[u8], at: usize, n: usize) -> Result<(), BlobError> {
        // The last byte is the end marker: entries must end before it.
        if at.checked_add(n).is_none_or(|e| e > data.len() - 1) {
            return Err(self.err(format!("entry of {n} bytes runs past the blob end"), at));
        }
        Ok(())
    }

    #[inline]
    fn next_listpack(&mut self, data: &[u8]) -> Result<Option<ElemPos>, BlobError> {
        let p = self.pos;
        let b = data[p];
        if b == 0xff {
            return self.finish(data);
        }
        let (size, elem) = if b & 0x80 == 0 {
            (1, ElemPos::Int(i64::from(b)))
        } else if b & 0xc0 == 0x80 {
            let l = usize::from(b & 0x3f);
            self.need(data, p, 1 + l)?;
            (1 + l, ElemPos::Range(p + 1, p + 1 + l))
        } else if b & 0xe0 == 0xc0 {
            self.need(data, p, 2)?;
            let v = (u16::from(b & 0x1f) << 8) | u16::from(data[p + 1]);
            // Sign-extend 13 bits.
            let v = ((v << 3) as i16 >> 3) as i64;
            (2, ElemPos::Int(v))
        } else if b & 0xf0 == 0xe0 {
            self.need(data, p, 2)?;
            let l = (usize::from(b & 0x0f) << 8) | usize::from(data[p + 1]);
            self.need(data, p, 2 + l)?;
            (2 + l, ElemPos::Range(p + 2, p + 2 + l))
        } else {
            match b {
                0xf0 => {
                    self.need(data, p, 5)?;
                    let l = le(data, p + 1, 4) as usize;
                    self.need(data, p, 5 + l)?;
                    (5 + l, ElemPos::Range(p + 5, p + 5 + l))
                }
                0xf1 => {
                    self.need(data, p, 3)?;
                    (3, ElemPos::Int(i64::from(le(data, p + 1, 2) as u16 as i16)))
                }
                0xf2 => {
                    self.need(data, p, 4)?;
                    let v = le(data, p + 1, 3) as u32;
                    (4, ElemPos::Int(i64::from(((v << 8) as i32) >> 8)))
                }
                0xf3 => {
                    self.need(data, p, 5)?;
                    (5, ElemPos::Int(i64::from(le(data, p + 1, 4) as u32 as i32)))
                }
                0xf4 => {
                    self.need(data, p, 9)?;
                    (9, ElemPos::Int(le(data, p + 1, 8) as i64))
                }
                _ => return Err(self.err(format!("invalid entry encoding 0x{b:02x}"), p)),
            }
        };
        // Entries of up to 127 bytes (almost all of them) have a one-byte
        // back-length equal to their size; anything else takes the general
        // path below, which reports the precise error.
        if size <= 127 && data.get(p + size) == Some(&(size as u8)) && p + size + 1 < data.len() {
            self.pos = p + size + 1;
            self.seen = self.seen.saturating_add(1);
            return Ok(Some(elem));
        }
        let bl = backlen_size(size);
        self.need(data, p, size + bl)?;
        // Decode the back-length (first byte holds the high bits, bit 7 clear;
        // later bytes have bit 7 set) and compare it with the entry size.
        let mut v = 0u64;
        for (i, &c) in data[p + size..p + size + bl].iter().enumerate() {
            if (i == 0) == (c & 0x80 != 0) {
                return Err(self.err("malformed back-length", p + size + i));
            }
            v = (v << 7) | u64::from(c & 0x7f);
        }
        if v != size as u64 {
            return Err(self.err(
                format!("back-length {v} does not match the entry size {size}"),
                p + size,
            ));
        }
        self.pos = p + size + bl;
        self.seen = self.seen.saturating_add(1);
        Ok(Some(elem))
    }

    #[inline]
    fn next_ziplist(&mut self, data: &[u8]) -> Result<Option<ElemPos>, BlobError> {
        let p = self.pos;
        if data[p] == 0xff {
            return self.finish(data);
        }
        // prevlen
        let (prevlen, mut h) = if data[p] < 254 {
            (u64::from(data[p]), 1)
        } else if data[p] == 254 {
            self.need(data, p, 5)?;
            (le(data, p + 1, 4), 5)
        } else {
            unreachable_end()
        };
        if prevlen != self.prev as u64 {
            return Err(self.err(
                format!(
                    "prevlen {prevlen} does not match the previous entry size {}",
                    self.prev
                ),
                p,
            ));
        }
        self.need(data, p, h + 1)?;
        let e = data[p + h];
        let elem = match e >> 6 {
            0 => {
                let l = usize::from(e & 0x3f);
                h += 1;
                self.need(data, p, h + l)?;
                let r = ElemPos::Range(p + h, p + h + l);
                h += l;
                r
            }
            1 => {
                self.need(data, p, h + 2)?;
                let l = (usize::from(e & 0x3f) << 8) | usize::from(data[p + h + 1]);
                h += 2;
                self.need(data, p, h + l)?;
                let r = ElemPos::Range(p + h, p + h + l);
                h += l;
                r
            }
            2 => {
                self.need(data, p, h + 5)?;
                let d = &data[p + h + 1..p + h + 5];
                let l = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize;
                h += 5;
                self.need(data, p, h + l)?;
                let r = ElemPos::Range(p + h, p + h + l);
                h += l;
                r
            }
            _ => {
                let (n, v): (usize, i64) = match e {
                    0xc0 => {
                        self.need(data, p, h + 3)?;
                        (2, i64::from(le(data, p + h + 1, 2) as u16 as i16))
                    }
                    0xd0 => {
                        self.need(data, p, h + 5)?;
                        (4, i64::from(le(data, p + h + 1, 4) as u32 as i32))
                    }
                    0xe0 => {
                        self.need(data, p, h + 9)?;
                        (8, le(data, p + h + 1, 8) as i64)
                    }
                    0xf0 => {
                        self.need(data, p, h + 4)?;
                        let v = le(data, p + h + 1, 3) as u32;
                        (3, i64::from(((v << 8) as i32) >> 8))
                    }
                    0xfe => {
                        self.need(data, p, h + 2)?;
                        (1, i64::from(data[p + h + 1] as i8))
                    }
                    0xf1..=0xfd => (0, i64::from(e & 0x0f) - 1),
                    _ => return Err(self.err(format!("invalid entry encoding 0x{e:02x}"), p + h)),
                };
                h += 1 + n;
                ElemPos::Int(v)
            }
        };
        self.last_entry = p;
        self.prev = h as i64;
        self.pos = p + h;
        self.seen = self.seen.saturating_add(1);
        Ok(Some(elem))
    }

    #[inline]
    fn next_intset(&mut self, data: &[u8]) -> Result<Option<ElemPos>, BlobError> {
        let w = self.aux as usize;
        let p = self.pos;
        if p >= data.len() {
            self.done = true;
            return Ok(None);
        }
        let raw = le(data, p, w);
        let v = match w {
            2 => i64::from(raw as u16 as i16),
            4 => i64::from(raw as u32 as i32),
            _ => raw as i64,
        };
        if self.seen > 0 && v <= self.prev {
            self.unordered = true;
        }
        self.prev = v;
        self.pos = p + w;
        self.seen += 1;
        Ok(Some(ElemPos::Int(v)))
    }

    #[inline]
    fn next_zipmap(&mut self, data: &[u8]) -> Result<Option<ElemPos>, BlobError> {
        let p = self.pos;
        let b = data[p];
        if b == 0xff {
            if self.aux != 0 {
                return Err(self.err("field without a value", p));
            }
            return self.finish(data);
        }
        let (l, mut h) = if b < 254 {
            (u64::from(b), 1)
        } else {
            self.need(data, p, 5)?;
            let l = le(data, p + 1, 4);
            // zipmapValidateIntegrity: lengths below 254 must use the 1-byte form.
            if l < 254 {
                return Err(self.err(
                    format!("length {l} uses the 5-byte encoding (must be 1 byte below 254)"),
                    p,
                ));
            }
            (l, 5)
        };
        let free = if self.aux == 1 {
            self.need(data, p, h + 1)?;
            let f = usize::from(data[p + h]);
            h += 1;
            f
        } else {
            0
        };
        let l = l as usize;
        self.need(data, p, h + l + free)?;
        let elem = ElemPos::Range(p + h, p + h + l);
        self.pos = p + h + l + free;
        self.aux ^= 1;
        self.seen = self.seen.saturating_add(1);
        Ok(Some(elem))
    }
}

#[inline]
fn unreachable_end() -> (u64, usize) {
    // data[p] == 0xff is handled before the prevlen is read.
    (0, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(kind: BlobKind, data: &[u8]) -> Result<Vec<ElemPos>, BlobError> {
        let mut it = BlobIter::new(kind, data)?;
        let mut v = vec![];
        while let Some(e) = it.next(data)? {
            v.push(e);
        }
        Ok(v)
    }

    #[test]
    fn listpack_doc_vector() {
        let lp = [
            0x12, 0, 0, 0, 4, 0, 0x81, b'f', 2, 0x81, b'v', 2, 0x81, b'n', 2, 5, 1, 0xff,
        ];
        let v = all(BlobKind::Listpack, &lp).unwrap();
        assert_eq!(v.len(), 4);
        assert_eq!(v[3], ElemPos::Int(5));
        let mut bad = lp;
        bad[8] = 3; // wrong backlen
        assert!(all(BlobKind::Listpack, &bad).is_err());
        let mut bad = lp;
        bad[4] = 5; // wrong count
        assert!(all(BlobKind::Listpack, &bad).is_err());
    }

    #[test]
    fn listpack_ints() {
        // 13-bit -1: 0xdf 0xff; int16 -300; int24 -70000; int32; int64
        let mut body = vec![0xdf, 0xff, 2];
        body.extend([0xf1, 0xd4, 0xfe, 3]);
        body.extend([0xf2, 0x90, 0xee, 0xfe, 4]);
        body.extend([0xf3, 0, 0, 0, 0x80, 5]);
        body.extend([0xf4, 1, 0, 0, 0, 0, 0, 0, 0x80, 9]);
        let mut lp = vec![0, 0, 0, 0, 5, 0];
        lp.extend(body);
        lp.push(0xff);
        let n = lp.len() as u32;
        lp[..4].copy_from_slice(&n.to_le_bytes());
        let v = all(BlobKind::Listpack, &lp).unwrap();
        assert_eq!(
            v,
            vec![
                ElemPos::Int(-1),
                ElemPos::Int(-300),
                ElemPos::Int(-70000),
                ElemPos::Int(i64::from(i32::MIN)),
                ElemPos::Int(i64::MIN + 1),
            ]
        );
    }

    #[test]
    fn intset_order() {
        let mut is = vec![2, 0, 0, 0, 2, 0, 0, 0];
        is.extend([1, 0, 2, 0]);
        assert_eq!(all(BlobKind::Intset, &is).unwrap().len(), 2);
        let mut bad = is.clone();
        bad[10] = 1;
        // Walked (the order is a deep check), flagged.
        assert_eq!(all(BlobKind::Intset, &bad).unwrap().len(), 2);
        let mut it = BlobIter::new(BlobKind::Intset, &bad).unwrap();
        while it.next(&bad).unwrap().is_some() {}
        assert!(it.out_of_order());
    }

    #[test]
    fn ziplist_basic() {
        // zlbytes, zltail, zllen=2, entry "a" (prev 0, enc 0x01), entry imm 5 (prev 3, 0xf6), end
        let mut zl = vec![0, 0, 0, 0, 13, 0, 0, 0, 2, 0, 0, 1, b'a', 3, 0xf6, 0xff];
        let n = zl.len() as u32;
        zl[..4].copy_from_slice(&n.to_le_bytes());
        let v = all(BlobKind::Ziplist, &zl).unwrap();
        assert_eq!(v, vec![ElemPos::Range(12, 13), ElemPos::Int(5)]);
        zl[13] = 2;
        assert!(all(BlobKind::Ziplist, &zl).is_err());
    }

    #[test]
    fn zipmap_basic() {
        let zm = [1, 1, b'k', 1, 2, b'v', 0, 0, 0xff];
        let v = all(BlobKind::Zipmap, &zm).unwrap();
        assert_eq!(v, vec![ElemPos::Range(2, 3), ElemPos::Range(5, 6)]);
    }
}
