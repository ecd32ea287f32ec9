//! Lazy element cursors over collection values (lists, sets, sorted sets,
//! hashes, arrays). A cursor reads the encoded value in place; LZF blobs are
//! decompressed one at a time into a buffer the cursor reuses, so iterating a
//! collection of any size costs at most one node's worth of heap.

use std::borrow::Cow;

use super::blob::{BlobIter, BlobKind, ElemPos};
use super::iter::Field;
use super::reader::{parse_double_text, strtod_prefix, Reader};
use super::string::{push_int, Elem, RdbStr};
use crate::format::{lzf, rdb_type as t, Lineage};
use crate::{Error, ErrorKind, Limits, Result};

/// Decoding context of a value: lineage, version and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ctx {
    /// File lineage (decides the meaning of types 22/23).
    pub lineage: Lineage,
    /// RDB version of the file or payload.
    pub version: u32,
    /// Limits for untrusted input.
    pub limits: Limits,
}

/// Where an element's bytes are.
#[derive(Debug, Clone, Copy)]
enum Ref {
    /// Absolute range in the input.
    File(usize, usize),
    /// Range in the arena (decompressed plain strings).
    Arena(usize, usize),
    /// Range in the current blob.
    Blob(usize, usize),
    /// Integer.
    Int(i64),
    /// An LZF string that was validated but not materialised (walk mode).
    Skipped,
}

/// How plain `STR` elements are laid out after the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plain {
    /// `STR` (list, set).
    Str,
    /// `STR member` + text double (type 3).
    ZsetText,
    /// `STR member` + `f64le` (type 5).
    ZsetBin,
    /// `STR field` + `STR value` (type 4).
    Hash,
    /// `LEN ttl` + `STR field` + `STR value` (types 22 Redis pre-GA and 24).
    HashTtlFirst,
    /// `STR field` + `STR value` + `i64le expire` (Valkey `HASH_2`).
    HashTtlLast,
    /// Array elements: `LEN index` + `LEN tag` + payload.
    Array,
}

#[derive(Debug, Clone)]
enum Src<'a> {
    /// Plain sequence of `left` items read from `r`.
    Plain {
        r: Reader<'a>,
        left: u64,
        kind: Plain,
    },
    /// One blob.
    Blob,
    /// Quicklist nodes: `left` nodes still to read from `r`.
    Nodes { r: Reader<'a>, left: u64, v2: bool },
}

/// What a blob-encoded collection groups its elements in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Group {
    /// Single elements (list, set).
    One,
    /// Pairs (hash field/value, zset member/score).
    Two,
    /// Triplets (hash field/value/ttl).
    Three,
}

/// Whether a value type is stored as one blob (zipmap, ziplist, intset or
/// listpack), after an 8-byte min-expire for the listpack-ex hashes.
pub(crate) fn is_single_blob(rdb_type: u8) -> bool {
    matches!(
        rdb_type,
        t::HASH_ZIPMAP
            | t::LIST_ZIPLIST
            | t::SET_INTSET
            | t::ZSET_ZIPLIST
            | t::HASH_ZIPLIST
            | t::HASH_LISTPACK
            | t::ZSET_LISTPACK
            | t::SET_LISTPACK
            | t::HASH_LISTPACK_EX
            | t::HASH_LISTPACK_EX_PRE_GA
    )
}

/// A cursor over the elements of a list, set, sorted set, hash or array value.
///
/// Get one from [`crate::decode::Value::items`]; then call the `next_*`
/// method that matches the value's kind. Each call returns elements that
/// borrow from the cursor and stay valid until the next call.
#[derive(Debug, Clone)]
pub struct Items<'a> {
    input: &'a [u8],
    ctx: Ctx,
    src: Src<'a>,
    /// Current blob: borrowed range of the input, or owned (decompressed) in `blob_buf`.
    blob_range: Option<(usize, usize)>,
    blob_buf: Vec<u8>,
    blob_it: Option<BlobIter>,
    blob_kind: BlobKind,
    /// Absolute offset of the current blob's `STR` (for errors).
    blob_offset: u64,
    /// A quicklist PLAIN node element waiting to be returned.
    pending_plain: Option<Ref>,
    arena: Vec<u8>,
    /// Materialise LZF plain strings (false: validate only, elements are not returned).
    materialise: bool,
    group: Group,
    /// Total element count announced (plain count, or None for blobs until known).
    count: Option<u64>,
    /// The value type byte.
    rdb_type: u8,
    /// Type 25: min-expire prefix.
    pub(crate) min_expire: Option<u64>,
    /// Array: whether an insert index was stored, and its value.
    pub(crate) array_insert_idx: Option<u64>,
    /// Single-blob values: input position just past the blob `STR`.
    blob_end: usize,
    /// Elements read from blobs and quicklist PLAIN nodes so far (checked
    /// against `Limits::max_collection_len`, which plain encodings check
    /// against their stated count up front).
    elems: u64,
    /// Facts Redis checks only in some versions or levels, counted for the
    /// walk to report (see `decode::walk`): blob scores that are not numbers
    /// (read as `strtod` does); an intset not in ascending order.
    pub(crate) odd: Odd,
}

/// Counts of facts a walk turns into warnings or errors by version and level.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Odd {
    /// Blob (ziplist, listpack) scores that are not a number.
    pub text_scores: u64,
    /// An intset whose elements are not strictly ascending.
    pub intset_unordered: bool,
}

/// What a walk at [`Level::Full`](super::Level::Full) shows of each value
/// while it checks it, for a caller that needs every element anyway (the
/// diff's digests): one reading of each element instead of a check and then
/// a second walk. The default shows nothing, and the walk then takes its
/// fastest path.
pub(crate) trait Visit {
    /// Whether [`Visit::elem`], [`Visit::scored`] and [`Visit::field`] are
    /// wanted (plain LZF elements are then decompressed, not only checked).
    const ELEMS: bool = false;

    /// A value of type `rdb_type` starts, in a file of `lineage`.
    #[inline]
    fn start(&mut self, rdb_type: u8, lineage: Lineage) {
        let _ = (rdb_type, lineage);
    }

    /// A string value: checked (an LZF stream end to end) as
    /// [`RdbStr::validate`] does, with the same errors.
    #[inline]
    fn string(&mut self, s: &RdbStr<'_>) -> Result<()> {
        s.validate()
    }

    /// An element of a list or set.
    #[inline]
    fn elem(&mut self, e: Elem<'_>) {
        let _ = e;
    }

    /// A member of a sorted set with its score, as [`Items::next_scored`]
    /// reads it.
    #[inline]
    fn scored(&mut self, m: Elem<'_>, score: f64) {
        let _ = (m, score);
    }

    /// A field of a hash, as [`Items::next_field`] reads it.
    #[inline]
    fn field(&mut self, f: Elem<'_>, v: Elem<'_>, expire_ms: Option<i64>) {
        let _ = (f, v, expire_ms);
    }
}

/// The walk that shows nothing.
pub(crate) struct NoVisit;

impl Visit for NoVisit {}

/// One hash field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HashField<'c> {
    /// Field name.
    pub field: Elem<'c>,
    /// Value.
    pub value: Elem<'c>,
    /// Absolute expiry in unix ms, when the field has a TTL.
    pub expire_ms: Option<i64>,
}

/// One array element's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ArrayValue<'c> {
    /// Byte string (tags 0 and 3).
    Bytes(Elem<'c>),
    /// Integer (tag 1).
    Int(i64),
    /// Double (tag 2).
    Float(f64),
}

/// A ziplist or listpack score as Redis reads it, and whether it is odd
/// (not a number). Redis never checks blob scores: zzlGetScore reads them
/// with strtod (0 when no number starts the text).
#[inline]
fn blob_score(e: Elem<'_>) -> (f64, bool) {
    match e {
        Elem::Int(i) => (i as f64, false),
        Elem::Bytes(b) => match parse_double_text(b) {
            Some(v) => (v, v.is_nan()),
            None => (strtod_prefix(b), true),
        },
    }
}

impl<'a> Items<'a> {
    /// Builds a cursor for a value of type `rdb_type` whose bytes start at
    /// `r`'s position. The reader is advanced past the value's header only.
    pub(crate) fn new(
        rdb_type: u8,
        r: &mut Reader<'a>,
        ctx: Ctx,
        materialise: bool,
    ) -> Result<Items<'a>> {
        let input = r.buf();
        let mut it = Items {
            input,
            ctx,
            src: Src::Blob,
            blob_range: None,
            blob_buf: Vec::new(),
            blob_it: None,
            blob_kind: BlobKind::Listpack,
            blob_offset: 0,
            pending_plain: None,
            arena: Vec::new(),
            materialise,
            group: Group::One,
            count: None,
            rdb_type,
            min_expire: None,
            array_insert_idx: None,
            blob_end: 0,
            elems: 0,
            odd: Odd::default(),
        };
        let valkey = ctx.lineage == Lineage::Valkey;
        let plain = |kind: Plain, r: &mut Reader<'a>, it: &mut Items<'a>, min: u64| -> Result<()> {
            let n = r.count("collection length", min)?;
            it.check_count(n, r)?;
            it.count = Some(n);
            it.src = Src::Plain {
                r: r.clone(),
                left: n,
                kind,
            };
            Ok(())
        };
        match rdb_type {
            t::LIST | t::SET => plain(Plain::Str, r, &mut it, 1)?,
            t::ZSET => {
                it.group = Group::Two;
                plain(Plain::ZsetText, r, &mut it, 2)?
            }
            t::ZSET_2 => {
                it.group = Group::Two;
                plain(Plain::ZsetBin, r, &mut it, 9)?
            }
            t::HASH => {
                it.group = Group::Two;
                plain(Plain::Hash, r, &mut it, 2)?
            }
            t::HASH_METADATA_PRE_GA_OR_HASH_2 if valkey => {
                it.group = Group::Three;
                plain(Plain::HashTtlLast, r, &mut it, 10)?
            }
            t::HASH_METADATA_PRE_GA_OR_HASH_2 => {
                it.group = Group::Three;
                plain(Plain::HashTtlFirst, r, &mut it, 3)?
            }
            t::HASH_METADATA => {
                it.group = Group::Three;
                it.min_expire = Some(r.u64le("hash min expire")?);
                plain(Plain::HashTtlFirst, r, &mut it, 3)?
            }
            // Array (type 28, Redis 8.8+): the element count, flag and tag
            // checks follow the format notes (docs/rdb-format.md); no 8.8
            // loader source was available to check them against.
            t::ARRAY => {
                it.group = Group::Two;
                let n = r.count("array length", 3)?;
                if n == 0 {
                    return Err(r.err(ErrorKind::InvalidValue {
                        value_type: "array",
                        what: "element count 0".into(),
                    }));
                }
                let has_idx = r.length("array has-insert-index flag")?;
                match has_idx {
                    0 => {}
                    1 => it.array_insert_idx = Some(r.length("array insert index")?),
                    v => {
                        return Err(r.err(ErrorKind::InvalidValue {
                            value_type: "array",
                            what: format!("insert-index flag {v} is not 0 or 1"),
                        }))
                    }
                }
                it.check_count(n, r)?;
                it.count = Some(n);
                it.src = Src::Plain {
                    r: r.clone(),
                    left: n,
                    kind: Plain::Array,
                };
            }
            _ if is_single_blob(rdb_type) => {
                let (kind, group) = match rdb_type {
                    t::HASH_ZIPMAP => (BlobKind::Zipmap, Group::Two),
                    t::LIST_ZIPLIST => (BlobKind::Ziplist, Group::One),
                    t::SET_INTSET => (BlobKind::Intset, Group::One),
                    t::ZSET_ZIPLIST | t::HASH_ZIPLIST => (BlobKind::Ziplist, Group::Two),
                    t::SET_LISTPACK => (BlobKind::Listpack, Group::One),
                    t::HASH_LISTPACK | t::ZSET_LISTPACK => (BlobKind::Listpack, Group::Two),
                    _ => (BlobKind::Listpack, Group::Three),
                };
                if rdb_type == t::HASH_LISTPACK_EX_PRE_GA && valkey {
                    return Err(r.err(ErrorKind::UnknownType {
                        byte: rdb_type,
                        lineage: "Valkey",
                        version: ctx.version,
                    }));
                }
                if rdb_type == t::HASH_LISTPACK_EX {
                    it.min_expire = Some(r.u64le("hash min expire")?);
                }
                it.group = group;
                it.blob_kind = kind;
                let s = RdbStr::read(r, &ctx.limits, "blob")?;
                it.load_blob(s, r)?;
                it.blob_end = r.pos();
            }
            t::LIST_QUICKLIST | t::LIST_QUICKLIST_2 => {
                let n = r.count("quicklist node count", 2)?;
                it.blob_kind = if rdb_type == t::LIST_QUICKLIST {
                    BlobKind::Ziplist
                } else {
                    BlobKind::Listpack
                };
                it.src = Src::Nodes {
                    r: r.clone(),
                    left: n,
                    v2: rdb_type == t::LIST_QUICKLIST_2,
                };
            }
            _ => {
                return Err(r.err(ErrorKind::WrongType {
                    rdb_type,
                    kind: crate::decode::Kind::of(rdb_type, ctx.lineage)
                        .map_or("?", crate::decode::Kind::name),
                    wanted: "a list, set, sorted set, hash or array",
                }))
            }
        }
        Ok(it)
    }

    fn check_count(&self, n: u64, r: &Reader<'a>) -> Result<()> {
        if n > self.ctx.limits.max_collection_len {
            return Err(r.err(ErrorKind::LimitExceeded {
                what: "collection length",
                value: n,
                limit: self.ctx.limits.max_collection_len,
            }));
        }
        Ok(())
    }

    /// The value type byte this cursor reads.
    pub fn rdb_type(&self) -> u8 {
        self.rdb_type
    }

    /// The element count announced by the encoding, when it states one
    /// (plain encodings; blobs whose header has a count). For pairs and
    /// triplets this counts entries (fields, members), not elements.
    pub fn len_hint(&self) -> Option<u64> {
        match (self.count, &self.blob_it) {
            (Some(n), _) => Some(n),
            (None, Some(b)) if matches!(self.src, Src::Blob) => b.header_count().map(|c| {
                u64::from(c)
                    / match self.group {
                        Group::One => 1,
                        Group::Two => 2,
                        Group::Three => 3,
                    }
            }),
            _ => None,
        }
    }

    /// Loads a blob `STR` as the current blob, decompressing it when needed.
    fn load_blob(&mut self, s: RdbStr<'a>, r: &Reader<'a>) -> Result<()> {
        let at = r.offset();
        match s {
            RdbStr::Raw(b) => {
                let start = b.as_ptr() as usize - self.input.as_ptr() as usize;
                self.blob_offset = r.offset_of(start);
                self.blob_range = Some((start, start + b.len()));
            }
            RdbStr::Lzf { data, len, offset } => {
                self.blob_offset = offset;
                lzf::decompress_to_vec(data, len, &mut self.blob_buf)
                    .map_err(|e| Error::new(ErrorKind::Lzf(e.to_string()), offset))?;
                self.blob_range = None;
            }
            RdbStr::Int(_) => {
                return Err(Error::new(
                    ErrorKind::Corrupt(format!(
                        "{} blob stored as an integer",
                        self.blob_kind.name()
                    )),
                    at,
                ))
            }
        }
        let data = self.blob();
        let it = BlobIter::new(self.blob_kind, data)
            .map_err(|e| Error::new(e.into(), self.blob_offset))?;
        self.blob_it = Some(it);
        Ok(())
    }

    #[inline]
    fn blob(&self) -> &[u8] {
        match self.blob_range {
            Some((s, e)) => &self.input[s..e],
            None => &self.blob_buf,
        }
    }

    #[inline]
    fn resolve(&self, r: Ref) -> Elem<'_> {
        match r {
            Ref::File(s, e) => Elem::Bytes(&self.input[s..e]),
            Ref::Arena(s, e) => Elem::Bytes(&self.arena[s..e]),
            Ref::Blob(s, e) => match self.blob_range {
                Some((bs, _)) => Elem::Bytes(&self.input[bs + s..bs + e]),
                None => Elem::Bytes(&self.blob_buf[s..e]),
            },
            Ref::Int(i) => Elem::Int(i),
            Ref::Skipped => Elem::Bytes(&[]),
        }
    }

    /// An element as bytes that outlive the cursor: borrowed from the input
    /// when it is stored there as is, copied when it lives in a buffer of
    /// the cursor (LZF-compressed strings and blobs), the decimal text of
    /// an integer.
    #[inline]
    fn resolve_cow(&self, r: Ref) -> Cow<'a, [u8]> {
        let input: &'a [u8] = self.input;
        match r {
            Ref::File(s, e) => Cow::Borrowed(&input[s..e]),
            Ref::Blob(s, e) => match self.blob_range {
                Some((bs, _)) => Cow::Borrowed(&input[bs + s..bs + e]),
                None => Cow::Owned(self.blob_buf[s..e].to_vec()),
            },
            Ref::Arena(s, e) => Cow::Owned(self.arena[s..e].to_vec()),
            Ref::Int(i) => {
                let mut v = Vec::with_capacity(20);
                push_int(&mut v, i);
                Cow::Owned(v)
            }
            Ref::Skipped => Cow::Borrowed(&[]),
        }
    }

    /// Reads a plain `STR` into a reference.
    #[inline]
    fn plain_str(&mut self, r: &mut Reader<'a>) -> Result<Ref> {
        let s = RdbStr::read(r, &self.ctx.limits, "element")?;
        Ok(match s {
            RdbStr::Raw(b) => {
                let start = b.as_ptr() as usize - self.input.as_ptr() as usize;
                Ref::File(start, start + b.len())
            }
            RdbStr::Int(i) => Ref::Int(i),
            RdbStr::Lzf { data, len, offset } => {
                if !self.materialise {
                    lzf::validate(data, len)
                        .map_err(|e| Error::new(ErrorKind::Lzf(e.to_string()), offset))?;
                    return Ok(Ref::Skipped);
                }
                let start = self.arena.len();
                lzf::decompress_append(data, len, &mut self.arena)
                    .map_err(|e| Error::new(ErrorKind::Lzf(e.to_string()), offset))?;
                Ref::Arena(start, start + len)
            }
        })
    }

    /// Next element of the current blob, or `None` at its end.
    #[inline]
    fn blob_next(&mut self) -> Result<Option<Ref>> {
        let Some(mut it) = self.blob_it.take() else {
            return Ok(None);
        };
        let res = it.next(self.blob());
        if it.out_of_order() {
            self.odd.intset_unordered = true;
        }
        let out = match res {
            Ok(Some(ElemPos::Range(s, e))) => Some(Ref::Blob(s, e)),
            Ok(Some(ElemPos::Int(i))) => Some(Ref::Int(i)),
            Ok(None) => None,
            Err(e) => return Err(Error::new(e.into(), self.blob_offset)),
        };
        if out.is_some() {
            self.blob_it = Some(it);
            self.count_elem()?;
        }
        Ok(out)
    }

    /// Counts one element of a blob or quicklist and enforces
    /// `max_collection_len` (in entries: fields, members, elements).
    #[inline]
    fn count_elem(&mut self) -> Result<()> {
        self.elems += 1;
        if self.elems > self.max_elems() {
            return Err(self.too_many());
        }
        Ok(())
    }

    /// Elements per entry.
    #[inline]
    fn per_entry(&self) -> u64 {
        match self.group {
            Group::One => 1,
            Group::Two => 2,
            Group::Three => 3,
        }
    }

    /// Most elements `max_collection_len` allows.
    #[inline]
    fn max_elems(&self) -> u64 {
        self.ctx
            .limits
            .max_collection_len
            .saturating_mul(self.per_entry())
    }

    /// The error for `elems` over [`Items::max_elems`].
    #[cold]
    fn too_many(&self) -> Error {
        Error::new(
            ErrorKind::LimitExceeded {
                what: "collection length",
                value: self.elems.div_ceil(self.per_entry()),
                limit: self.ctx.limits.max_collection_len,
            },
            self.blob_offset,
        )
    }

    /// Walks the rest of the current blob without returning its elements:
    /// the same checks, errors and order as reading it one group at a time
    /// (`next_ref` for single elements, `blob_group` for pairs, with each
    /// score of a sorted set parsed), in one loop.
    fn drain_blob<V: Visit>(&mut self, scores: bool, v: &mut V) -> Result<()> {
        let Some(mut it) = self.blob_it.take() else {
            return Ok(());
        };
        let per = self.per_entry();
        let max = self.max_elems();
        let mut elems = self.elems;
        // Position inside the current group.
        let mut k = 0u64;
        // Scores that are not numbers: counted, as `next_scored` does
        // (Redis reads blob scores with strtod and never checks them).
        let mut text_scores = 0u64;
        let data = self.blob();
        // The first element of the current pair, for a visitor.
        let mut first = ElemPos::Int(0);
        let walked = it.walk(data, |e| {
            elems += 1;
            if elems > max {
                return false;
            }
            if scores && k == 1 {
                let (score, odd) = blob_score(e.get(data));
                if V::ELEMS {
                    v.scored(first.get(data), score);
                }
                text_scores += u64::from(odd);
            } else if V::ELEMS {
                match (per, k) {
                    (1, _) => v.elem(e.get(data)),
                    (2, 0) => first = e,
                    (2, _) => v.field(first.get(data), e.get(data), None),
                    _ => {}
                }
            }
            k += 1;
            if k == per {
                k = 0;
            }
            true
        });
        self.elems = elems;
        self.odd.text_scores += text_scores;
        if it.out_of_order() {
            self.odd.intset_unordered = true;
        }
        match walked {
            Err(e) => Err(Error::new(e.into(), self.blob_offset)),
            Ok(false) => Err(self.too_many()),
            Ok(true) if k != 0 => Err(Error::new(
                ErrorKind::Corrupt(format!(
                    "{} ends in the middle of an entry ({} of {per} elements)",
                    self.blob_kind.name(),
                    k
                )),
                self.blob_offset,
            )),
            Ok(true) => Ok(()),
        }
    }

    /// Next single element from any source (list/set).
    fn next_ref(&mut self) -> Result<Option<Ref>> {
        loop {
            if let Some(p) = self.pending_plain.take() {
                self.count_elem()?;
                return Ok(Some(p));
            }
            if self.blob_it.is_some() {
                if let Some(x) = self.blob_next()? {
                    return Ok(Some(x));
                }
                if matches!(self.src, Src::Blob) {
                    return Ok(None);
                }
            }
            match &mut self.src {
                Src::Blob => return Ok(None),
                Src::Plain { r, left, .. } => {
                    if *left == 0 {
                        return Ok(None);
                    }
                    *left -= 1;
                    let mut rr = r.clone();
                    let x = self.plain_str(&mut rr)?;
                    if let Src::Plain { r, .. } = &mut self.src {
                        *r = rr;
                    }
                    return Ok(Some(x));
                }
                Src::Nodes { r, left, v2 } => {
                    if *left == 0 {
                        return Ok(None);
                    }
                    *left -= 1;
                    let v2 = *v2;
                    let mut rr = r.clone();
                    let container = if v2 {
                        let at = rr.pos();
                        // rdbLoadObject: "Quicklist integrity check failed."
                        // (every version with quicklist v2).
                        let c = rr.length("quicklist container")?;
                        if c != 1 && c != 2 {
                            return Err(rr.err_at(
                                ErrorKind::Corrupt(format!(
                                    "quicklist container {c} is neither PLAIN (1) nor PACKED (2)"
                                )),
                                at,
                            ));
                        }
                        c
                    } else {
                        2
                    };
                    // rdbLoadObject refuses a node whose string is empty,
                    // PLAIN or PACKED alike.
                    let node_at = rr.pos();
                    let s = RdbStr::read(&mut rr.clone(), &self.ctx.limits, "quicklist node")?;
                    if s.is_empty() {
                        return Err(rr.err_at(
                            ErrorKind::Corrupt("quicklist node of 0 bytes".into()),
                            node_at,
                        ));
                    }
                    if container == 1 {
                        let x = self.plain_str(&mut rr)?;
                        self.pending_plain = Some(x);
                    } else {
                        let s = RdbStr::read(&mut rr, &self.ctx.limits, "quicklist node")?;
                        self.load_blob(s, &rr)?;
                    }
                    if let Src::Nodes { r, .. } = &mut self.src {
                        *r = rr;
                    }
                }
            }
        }
    }

    /// Next element of a list or set (`None` at the end).
    ///
    /// # Errors
    /// [`ErrorKind::WrongType`] for a sorted set, hash or array cursor; a
    /// decoding error ([`ErrorKind::Truncated`], [`ErrorKind::InvalidValue`],
    /// [`ErrorKind::Corrupt`], [`ErrorKind::Lzf`],
    /// [`ErrorKind::LimitExceeded`], ...) with the byte offset for a malformed
    /// element. After an error the cursor returns `None`.
    ///
    /// ```
    /// use rdbkit::decode::{Decoder, Item, Options};
    /// // RDB 9 file without checksum: a plain list "l" = ["a", "b"].
    /// let file = b"REDIS0009\xfe\x00\x01\x01l\x02\x01a\x01b\xff\0\0\0\0\0\0\0\0";
    /// for item in Decoder::new(file, Options::default()).unwrap() {
    ///     if let rdbkit::decode::Item::Key(k) = item.unwrap() {
    ///         let mut it = k.value.items().unwrap();
    ///         assert_eq!(it.next_elem().unwrap().unwrap().to_bytes().as_ref(), b"a");
    ///     }
    /// }
    /// ```
    pub fn next_elem(&mut self) -> Result<Option<Elem<'_>>> {
        self.arena.clear();
        if self.group != Group::One {
            return Err(self.wrong_kind("a list or set (next_elem)"));
        }
        Ok(self.next_ref()?.map(|r| self.resolve(r)))
    }

    /// [`Items::next_elem`] as bytes that outlive the cursor (see
    /// `resolve_cow`), for [`crate::decode::Elements`].
    #[inline]
    pub(crate) fn next_elem_cow(&mut self) -> Result<Option<Cow<'a, [u8]>>> {
        self.arena.clear();
        if self.group != Group::One {
            return Err(self.wrong_kind("a list or set (next_elem)"));
        }
        Ok(self.next_ref()?.map(|r| self.resolve_cow(r)))
    }

    fn wrong_kind(&self, wanted: &'static str) -> Error {
        Error::new(
            ErrorKind::WrongType {
                rdb_type: self.rdb_type,
                kind: crate::decode::Kind::of(self.rdb_type, self.ctx.lineage)
                    .map_or("?", crate::decode::Kind::name),
                wanted,
            },
            self.blob_offset,
        )
    }

    /// Reads one group of `n` elements from a blob; errors if the blob ends mid-group.
    fn blob_group<const N: usize>(&mut self) -> Result<Option<[Ref; N]>> {
        let mut out = [Ref::Int(0); N];
        for (i, slot) in out.iter_mut().enumerate() {
            match self.blob_next()? {
                Some(r) => *slot = r,
                None if i == 0 => return Ok(None),
                None => {
                    return Err(Error::new(
                        ErrorKind::Corrupt(format!(
                            "{} ends in the middle of an entry ({} of {N} elements)",
                            self.blob_kind.name(),
                            i
                        )),
                        self.blob_offset,
                    ))
                }
            }
        }
        Ok(Some(out))
    }

    /// Next member and score of a sorted set.
    ///
    /// # Errors
    /// [`ErrorKind::WrongType`] for a cursor that is not over a sorted set; a
    /// decoding error as for [`Items::next_elem`].
    pub fn next_scored(&mut self) -> Result<Option<(Elem<'_>, f64)>> {
        Ok(self.next_scored_ref()?.map(|(m, s)| (self.resolve(m), s)))
    }

    /// [`Items::next_scored`] with a member that outlives the cursor, for
    /// [`crate::decode::Scored`].
    #[inline]
    pub(crate) fn next_scored_cow(&mut self) -> Result<Option<(Cow<'a, [u8]>, f64)>> {
        Ok(self
            .next_scored_ref()?
            .map(|(m, s)| (self.resolve_cow(m), s)))
    }

    /// Next member (where it is) and score of a sorted set.
    #[inline]
    fn next_scored_ref(&mut self) -> Result<Option<(Ref, f64)>> {
        self.arena.clear();
        if let Src::Plain { r, left, kind } = &mut self.src {
            if *left == 0 {
                return Ok(None);
            }
            *left -= 1;
            let kind = *kind;
            let mut rr = r.clone();
            let m = self.plain_str(&mut rr)?;
            let score_at = rr.pos();
            let score = match kind {
                Plain::ZsetText => rr.text_double("zset score")?,
                Plain::ZsetBin => rr.f64le("zset score")?,
                _ => return Err(self.wrong_kind("a sorted set (next_scored)")),
            };
            // rdbLoadObject: "Zset with NAN score detected" since 7.0;
            // before, zslInsert's serverAssert(!isnan(score)) stops the
            // server. No release loads it.
            if score.is_nan() {
                return Err(rr.err_at(
                    ErrorKind::InvalidValue {
                        value_type: "zset",
                        what: "NaN score".into(),
                    },
                    score_at,
                ));
            }
            if let Src::Plain { r, .. } = &mut self.src {
                *r = rr;
            }
            return Ok(Some((m, score)));
        }
        if !matches!(self.rdb_type, t::ZSET_ZIPLIST | t::ZSET_LISTPACK) {
            return Err(self.wrong_kind("a sorted set (next_scored)"));
        }
        let Some([m, s]) = self.blob_group::<2>()? else {
            return Ok(None);
        };
        let (score, odd) = blob_score(self.resolve(s));
        if odd {
            self.odd.text_scores += 1;
        }
        Ok(Some((m, score)))
    }

    /// Next field of a hash (with its TTL for hash-field-expiry encodings).
    ///
    /// # Errors
    /// [`ErrorKind::WrongType`] for a cursor that is not over a hash; a
    /// decoding error as for [`Items::next_elem`].
    pub fn next_field(&mut self) -> Result<Option<HashField<'_>>> {
        Ok(self.next_field_ref()?.map(|(f, v, expire_ms)| HashField {
            field: self.resolve(f),
            value: self.resolve(v),
            expire_ms,
        }))
    }

    /// [`Items::next_field`] with bytes that outlive the cursor, for
    /// [`crate::decode::Fields`].
    #[inline]
    pub(crate) fn next_field_cow(&mut self) -> Result<Option<Field<'a>>> {
        Ok(self.next_field_ref()?.map(|(f, v, expire_ms)| Field {
            field: self.resolve_cow(f),
            value: self.resolve_cow(v),
            expire_ms,
        }))
    }

    /// Next field and value (where they are) and TTL of a hash.
    #[inline]
    fn next_field_ref(&mut self) -> Result<Option<(Ref, Ref, Option<i64>)>> {
        self.arena.clear();
        if let Src::Plain { r, left, kind } = &mut self.src {
            if *left == 0 {
                return Ok(None);
            }
            *left -= 1;
            let kind = *kind;
            let mut rr = r.clone();
            let (f, v, exp) = match kind {
                Plain::Hash => {
                    let f = self.plain_str(&mut rr)?;
                    (f, self.plain_str(&mut rr)?, None)
                }
                Plain::HashTtlFirst => {
                    let ttl = rr.length("hash field ttl")?;
                    let f = self.plain_str(&mut rr)?;
                    let v = self.plain_str(&mut rr)?;
                    let exp = match (ttl, self.min_expire) {
                        (0, _) => None,
                        // Type 24: stored relative to the min expire, plus one.
                        (ttl, Some(min)) => Some(ttl.wrapping_add(min).wrapping_sub(1) as i64),
                        // Type 22 (7.4 pre-release): absolute.
                        (ttl, None) => Some(ttl as i64),
                    };
                    (f, v, exp)
                }
                Plain::HashTtlLast => {
                    let f = self.plain_str(&mut rr)?;
                    let v = self.plain_str(&mut rr)?;
                    let e = rr.i64le("hash field expire")?;
                    (f, v, (e != -1).then_some(e))
                }
                _ => return Err(self.wrong_kind("a hash (next_field)")),
            };
            if let Src::Plain { r, .. } = &mut self.src {
                *r = rr;
            }
            return Ok(Some((f, v, exp)));
        }
        match self.group {
            Group::Two
                if matches!(
                    self.rdb_type,
                    t::HASH_ZIPMAP | t::HASH_ZIPLIST | t::HASH_LISTPACK
                ) =>
            {
                let Some([f, v]) = self.blob_group::<2>()? else {
                    return Ok(None);
                };
                Ok(Some((f, v, None)))
            }
            Group::Three => {
                let Some([f, v, ttl]) = self.blob_group::<3>()? else {
                    return Ok(None);
                };
                // lpGetIntegerValue: an integer, or a string holding one.
                let ttl = match self.resolve(ttl).as_int() {
                    Some(i) => i,
                    None => {
                        return Err(Error::new(
                            ErrorKind::InvalidValue {
                                value_type: "hash",
                                what: "field TTL is not an integer".into(),
                            },
                            self.blob_offset,
                        ))
                    }
                };
                Ok(Some((f, v, (ttl != 0).then_some(ttl))))
            }
            _ => Err(self.wrong_kind("a hash (next_field)")),
        }
    }

    /// Next index and value of an array.
    ///
    /// # Errors
    /// [`ErrorKind::WrongType`] for a cursor that is not over an array; a
    /// decoding error as for [`Items::next_elem`].
    pub fn next_array(&mut self) -> Result<Option<(u64, ArrayValue<'_>)>> {
        self.arena.clear();
        let Src::Plain {
            r,
            left,
            kind: Plain::Array,
        } = &mut self.src
        else {
            return Err(self.wrong_kind("an array (next_array)"));
        };
        if *left == 0 {
            return Ok(None);
        }
        *left -= 1;
        let mut rr = r.clone();
        let idx = rr.length("array index")?;
        let at = rr.pos();
        let tag = rr.length("array element tag")?;
        let v = match tag {
            0 | 3 => Some(self.plain_str(&mut rr)?),
            1 => {
                let i = rr.i64le("array integer")?;
                if let Src::Plain { r, .. } = &mut self.src {
                    *r = rr;
                }
                return Ok(Some((idx, ArrayValue::Int(i))));
            }
            2 => {
                let f = rr.f64le("array float")?;
                if let Src::Plain { r, .. } = &mut self.src {
                    *r = rr;
                }
                return Ok(Some((idx, ArrayValue::Float(f))));
            }
            _ => None,
        };
        let Some(v) = v else {
            return Err(rr.err_at(
                ErrorKind::InvalidValue {
                    value_type: "array",
                    what: format!("unknown element tag {tag}"),
                },
                at,
            ));
        };
        if let Src::Plain { r, .. } = &mut self.src {
            *r = rr;
        }
        Ok(Some((idx, ArrayValue::Bytes(self.resolve(v)))))
    }

    /// Reads every element without returning them (validating as it goes),
    /// and returns the input position just past the value.
    pub(crate) fn finish(self) -> Result<usize> {
        self.finish_odd().map(|(end, _)| end)
    }

    /// [`Items::finish`], also returning the facts counted on the way.
    pub(crate) fn finish_odd(self) -> Result<(usize, Odd)> {
        self.finish_visit(&mut NoVisit)
    }

    /// [`Items::finish_odd`], showing `v` every element on the way (the
    /// same checks, errors and order).
    pub(crate) fn finish_visit<V: Visit>(mut self, v: &mut V) -> Result<(usize, Odd)> {
        match self.group {
            _ if self.rdb_type == t::ARRAY => while self.next_array()?.is_some() {},
            Group::One => loop {
                // Blobs in one loop each; plain elements and the next
                // quicklist node through `next_ref`.
                self.drain_blob(false, v)?;
                self.arena.clear();
                match self.next_ref()? {
                    None => break,
                    Some(r) if V::ELEMS => v.elem(self.resolve(r)),
                    Some(_) => {}
                }
            },
            Group::Two
                if matches!(self.src, Src::Blob)
                    && matches!(
                        self.rdb_type,
                        t::ZSET_ZIPLIST
                            | t::ZSET_LISTPACK
                            | t::HASH_ZIPMAP
                            | t::HASH_ZIPLIST
                            | t::HASH_LISTPACK
                    ) =>
            {
                self.drain_blob(
                    matches!(self.rdb_type, t::ZSET_ZIPLIST | t::ZSET_LISTPACK),
                    v,
                )?
            }
            Group::Two
                if matches!(
                    self.rdb_type,
                    t::ZSET | t::ZSET_2 | t::ZSET_ZIPLIST | t::ZSET_LISTPACK
                ) =>
            {
                while let Some((m, score)) = self.next_scored()? {
                    v.scored(m, score);
                }
            }
            _ => {
                while let Some(f) = self.next_field()? {
                    v.field(f.field, f.value, f.expire_ms);
                }
            }
        }
        Ok((self.end_pos(), self.odd))
    }

    /// Skips the value without looking inside blobs or LZF data and returns
    /// the input position just past it.
    pub(crate) fn skip(mut self) -> Result<usize> {
        let limits = self.ctx.limits;
        match &mut self.src {
            Src::Blob => {}
            Src::Nodes { r, left, v2 } => {
                while *left > 0 {
                    *left -= 1;
                    if *v2 {
                        r.length("quicklist container")?;
                    }
                    RdbStr::skip(r, &limits, "quicklist node")?;
                }
            }
            Src::Plain { .. } => return self.finish(),
        }
        Ok(self.end_pos())
    }

    /// Input position after everything consumed so far.
    pub(crate) fn end_pos(&self) -> usize {
        match &self.src {
            Src::Blob => self.blob_end,
            Src::Plain { r, .. } | Src::Nodes { r, .. } => r.pos(),
        }
    }
}

impl Items<'_> {
    /// The decoding context.
    pub(crate) fn ctx(&self) -> Ctx {
        self.ctx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::lzf;

    /// The element-by-element walk `finish` replaced for blobs.
    /// The end and the counted facts (text scores, intset order).
    fn finish_one_by_one(mut it: Items<'_>) -> Result<(usize, u64, bool)> {
        match it.group {
            Group::One => while it.next_elem()?.is_some() {},
            _ if matches!(it.rdb_type, t::ZSET_ZIPLIST | t::ZSET_LISTPACK) => {
                while it.next_scored()?.is_some() {}
            }
            _ => while it.next_field()?.is_some() {},
        }
        Ok((it.end_pos(), it.odd.text_scores, it.odd.intset_unordered))
    }

    fn listpack(elems: &[&[u8]]) -> Vec<u8> {
        let mut body = Vec::new();
        for e in elems {
            let start = body.len();
            if let Ok(i) = std::str::from_utf8(e).unwrap_or("x").parse::<u8>() {
                if i < 128 {
                    body.push(i);
                }
            }
            if body.len() == start {
                body.push(0x80 | e.len() as u8);
                body.extend_from_slice(e);
            }
            body.push((body.len() - start) as u8);
        }
        let mut lp = ((body.len() + 7) as u32).to_le_bytes().to_vec();
        lp.extend_from_slice(&(elems.len() as u16).to_le_bytes());
        lp.extend_from_slice(&body);
        lp.push(0xff);
        lp
    }

    fn rdb_str(b: &[u8], compress: bool) -> Vec<u8> {
        if compress {
            if let Some(c) = lzf::compress(b) {
                let mut out = vec![0xc3, 0x40 | (c.len() >> 8) as u8, c.len() as u8];
                out.extend_from_slice(&[0x40 | (b.len() >> 8) as u8, b.len() as u8]);
                out.extend_from_slice(&c);
                return out;
            }
        }
        let mut out = vec![0x40 | (b.len() >> 8) as u8, b.len() as u8];
        out.extend_from_slice(b);
        out
    }

    /// `finish` (one loop per blob) and the one-by-one walk agree on every
    /// mutation of hash, zset, set and quicklist listpacks: same end or the
    /// same error, under a tight and a loose collection limit.
    #[test]
    fn drained_blobs_match_the_element_walk() {
        let words: Vec<&[u8]> = vec![
            b"alpha", b"1", b"bravo", b"2.5", b"charlie", b"nan", b"delta", b"77", b"e", b"200",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut seen = std::collections::BTreeMap::new();
        for case in 0..20_000u32 {
            let n = (rnd() % 9) as usize;
            let elems: Vec<&[u8]> = (0..n)
                .map(|_| words[(rnd() % words.len() as u64) as usize])
                .collect();
            let mut lp = listpack(&elems);
            for _ in 0..rnd() % 3 {
                let at = (rnd() % lp.len() as u64) as usize;
                lp[at] = rnd() as u8;
            }
            let ty = [
                t::HASH_LISTPACK,
                t::ZSET_LISTPACK,
                t::SET_LISTPACK,
                t::LIST_QUICKLIST_2,
            ][(case % 4) as usize];
            let mut v = Vec::new();
            if ty == t::LIST_QUICKLIST_2 {
                v.extend_from_slice(&[2, 2]);
                v.extend(rdb_str(&lp, case % 8 < 4));
                v.push(2);
                v.extend(rdb_str(&listpack(&elems), false));
            } else {
                v.extend(rdb_str(&lp, case % 8 < 4));
            }
            for max in [3, u64::MAX] {
                let ctx = Ctx {
                    lineage: Lineage::Redis,
                    version: 11,
                    limits: Limits {
                        max_collection_len: max,
                        ..Limits::default()
                    },
                };
                let run = |fast: bool| {
                    let mut r = Reader::at(&v, 0);
                    let it = Items::new(ty, &mut r, ctx, false)?;
                    if fast {
                        it.finish_odd()
                            .map(|(end, odd)| (end, odd.text_scores, odd.intset_unordered))
                    } else {
                        finish_one_by_one(it)
                    }
                };
                let (a, b) = (run(true), run(false));
                assert_eq!(format!("{a:?}"), format!("{b:?}"), "case {case} type {ty}");
                let outcome = match a {
                    Ok(_) => "ok".to_string(),
                    Err(e) => format!("{e}"),
                };
                *seen.entry(outcome).or_insert(0u32) += 1;
            }
        }
        // Valid blobs, limits, broken entries and half entries (scores
        // that are not numbers are counted, not errors: see `Odd`).
        for what in ["ok", "collection length", "corrupt listpack", "middle"] {
            assert!(
                seen.iter().any(|(k, &n)| k.contains(what) && n > 50),
                "{what}: {seen:?}"
            );
        }
    }
}
