//! Decoding: a lazy, zero-copy reader of RDB files and DUMP payloads.
//!
//! [`Decoder`] walks a file record by record. Each key comes out as a
//! [`KeyRecord`] that borrows its key and value bytes from the input and
//! knows its exact byte span, so a merge can copy it without re-encoding.
//!
//! A value's content is read two ways:
//!
//! * iterators, for `for` loops and adapters: [`Value::elements`] (lists and
//!   sets), [`Value::scored`] (sorted sets), [`Value::fields`] (hashes),
//!   [`Stream::entries`] (streams). They yield `Result`s whose bytes are a
//!   [`Cow`](std::borrow::Cow) borrowed from the input when stored as is.
//!   Called on a [`KeyRecord`] ([`KeyRecord::elements`], ...) their errors
//!   also name the key;
//! * cursors, the allocation-free layer underneath: [`Value::items`] and
//!   [`Items::next_elem`] (and `next_scored`, `next_field`, `next_array`),
//!   [`Entries::next_entry`]; what they return borrows from the cursor until
//!   the next call.

pub mod blob;
mod items;
mod iter;
mod module;
mod payload;
mod reader;
pub mod scan;
mod stream;
mod string;
mod value;
mod walk;
mod warning;

use std::ops::Range;

pub use crate::format::{Encoding, Kind, StreamId};
pub use blob::{BlobIter, BlobKind};
use items::Ctx;
pub(crate) use items::Visit;
pub use items::{ArrayValue, HashField, Items};
pub use iter::{Elements, Field, Fields, Scored};
pub use module::{skip_sub_opcodes, sub, ModuleAux, ModuleValue};
pub use payload::{decode_payload, Payload};
pub use reader::{parse_double_text, strtod_prefix, Len, Reader};
pub use stream::{
    stream_version_of, Consumer, Entries, Entry, Group, Idmp, PendingEntry, Stream, StreamEntry,
};
pub use string::{lossy, Elem, RdbStr};
pub use value::Value;
pub(crate) use walk::{fingerprint, key_fingerprint};
pub use warning::{Warning, Warnings};

use crate::format::{crc, opcode as op, Header, Lineage};
use crate::{Error, ErrorKind, Limits, Result};

/// How thoroughly each value is checked while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Level {
    /// Find each value's extent only: lengths are bounds-checked, blobs and
    /// LZF streams are not opened. Fastest; enough for copying records.
    Skip,
    /// Check every value completely: every LZF stream end to end, every blob
    /// element walked (what `rdbkit verify` does).
    #[default]
    Full,
    /// Also run the checks Redis runs with `sanitize-dump-payload yes`
    /// (duplicates, orders, stream consistency). A key that occurs twice in
    /// a database is a fact about the whole file: the [`scan`] engine finds
    /// it at this level (and so do [`crate::stats::inspect`] and
    /// `rdbkit verify --deep`), a [`Decoder`] alone does not.
    Deep,
}

/// Decoder options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Validation level.
    pub level: Level,
    /// Compare the CRC-64 trailer with the content.
    pub verify_checksum: bool,
    /// Resource limits.
    pub limits: Limits,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            level: Level::Full,
            verify_checksum: true,
            limits: Limits::default(),
        }
    }
}

/// What the CRC-64 trailer said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Checksum {
    /// Stored and equal to the computed value.
    Verified(u64),
    /// Stored as 0: the file was saved with `rdbchecksum no`.
    Disabled,
    /// Present but not compared (`verify_checksum` off).
    NotChecked(u64),
    /// RDB < 5: the format has no checksum.
    Absent,
}

/// One line for people: `OK (0x…)`, `disabled (…)`, `not checked (…)`,
/// `none (…)`.
///
/// ```
/// use rdbkit::decode::Checksum;
/// assert_eq!(Checksum::Verified(0xab).to_string(), "OK (0x00000000000000ab)");
/// ```
impl std::fmt::Display for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Checksum::Verified(v) => write!(f, "OK (0x{v:016x})"),
            Checksum::Disabled => f.write_str("disabled (file saved without a checksum)"),
            Checksum::NotChecked(v) => write!(f, "not checked (stored 0x{v:016x})"),
            Checksum::Absent => f.write_str("none (RDB < 5 has no checksum)"),
        }
    }
}

/// One key and its value.
#[derive(Debug, Clone)]
pub struct KeyRecord<'a> {
    /// Database number.
    pub db: u64,
    /// The key.
    pub key: RdbStr<'a>,
    /// Absolute expiry in unix ms.
    pub expire_ms: Option<i64>,
    /// LRU idle time in seconds (`IDLE`).
    pub idle: Option<u64>,
    /// LFU counter (`FREQ`).
    pub freq: Option<u8>,
    /// Raw `KEY_META` body (Redis 8.6+), after the opcode.
    pub key_meta: Option<&'a [u8]>,
    /// The value.
    pub value: Value<'a>,
    /// Byte span of the whole record in the input, from its first prefix
    /// opcode (expiry, idle, freq, key-meta) to the end of the value.
    pub span: Range<usize>,
    /// Byte span of the type byte, key and value (without prefix opcodes).
    pub body_span: Range<usize>,
}

impl<'a> KeyRecord<'a> {
    /// The record's expiry, idle time and LFU counter, as the writer takes
    /// them: copying a record never needs them rebuilt by hand.
    ///
    /// ```
    /// use rdbkit::decode::{Decoder, Item, Options};
    /// // Key "a" with an expiry (ms opcode 0xFC).
    /// let file = b"REDIS0011\xfe\x00\xfc\x10\x27\x00\x00\x00\x00\x00\x00\x00\x01a\xc0\x01\xff\0\0\0\0\0\0\0\0";
    /// let k = Decoder::new(file, Options::default()).unwrap().find_map(|i| match i.unwrap() {
    ///     Item::Key(k) => Some(k),
    ///     _ => None,
    /// }).unwrap();
    /// assert_eq!(k.meta().expire_ms, Some(10_000));
    /// assert_eq!(k.meta().idle, None);
    /// ```
    pub fn meta(&self) -> crate::format::KeyMeta {
        crate::format::KeyMeta {
            expire_ms: self.expire_ms,
            idle: self.idle,
            freq: self.freq,
        }
    }

    /// The record's type byte, key and value, as stored ([`Self::body_span`]
    /// of the input it was decoded from).
    pub fn body(&self) -> &'a [u8] {
        self.value
            .input()
            .get(self.body_span.clone())
            .unwrap_or_default()
    }

    /// The whole record as stored, prefix opcodes (expiry, idle, freq,
    /// key metadata) included ([`Self::span`]).
    pub fn bytes(&self) -> &'a [u8] {
        self.value
            .input()
            .get(self.span.clone())
            .unwrap_or_default()
    }

    /// [`Value::elements`] of the record's value, with the key in every
    /// error (as the decoder's own errors have it).
    ///
    /// ```
    /// # use rdbkit::decode::{Decoder, Item, Options};
    /// # use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
    /// # let mut w = RdbWriter::new(Vec::new(), Target::redis(11))?;
    /// # w.select_db(0)?;
    /// # w.key(b"queue", &OwnedValue::List(vec![b"a".to_vec(), b"b".to_vec()]), KeyMeta::default())?;
    /// # w.key(b"name", &OwnedValue::String(b"ada".to_vec()), KeyMeta::default())?;
    /// # let file = w.finish()?;
    /// // `file` holds the list "queue" = [a, b] and the string "name".
    /// for item in Decoder::new(&file, Options::default())? {
    ///     let Item::Key(k) = item? else { continue };
    ///     match k.elements().collect::<rdbkit::Result<Vec<_>>>() {
    ///         Ok(v) => assert_eq!(v, [&b"a"[..], &b"b"[..]]),
    ///         Err(e) => assert_eq!(e.key(), Some(&b"name"[..])), // not a list
    ///     }
    /// }
    /// # Ok::<(), rdbkit::Error>(())
    /// ```
    pub fn elements(&self) -> Elements<'a> {
        self.value.elements().with_key(self.key)
    }

    /// [`Value::scored`] of the record's value, with the key in every error.
    ///
    /// ```
    /// # use rdbkit::decode::{Decoder, Item, Options};
    /// # use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
    /// # let mut w = RdbWriter::new(Vec::new(), Target::redis(11))?;
    /// # w.select_db(0)?;
    /// # w.key(b"board", &OwnedValue::ZSet(vec![(b"ada".to_vec(), 3.0)]), KeyMeta::default())?;
    /// # let file = w.finish()?;
    /// // `file` holds the sorted set "board" = {ada: 3}.
    /// for item in Decoder::new(&file, Options::default())? {
    ///     let Item::Key(k) = item? else { continue };
    ///     for m in k.scored() {
    ///         let (member, score) = m?;
    ///         assert_eq!((&*member, score), (&b"ada"[..], 3.0));
    ///     }
    /// }
    /// # Ok::<(), rdbkit::Error>(())
    /// ```
    pub fn scored(&self) -> Scored<'a> {
        self.value.scored().with_key(self.key)
    }

    /// [`Value::fields`] of the record's value, with the key in every error.
    ///
    /// ```
    /// # use rdbkit::decode::{Decoder, Item, Options};
    /// # use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
    /// # let mut w = RdbWriter::new(Vec::new(), Target::redis(11))?;
    /// # w.select_db(0)?;
    /// # w.key(b"tags", &OwnedValue::Set(vec![b"x".to_vec()]), KeyMeta::default())?;
    /// # let file = w.finish()?;
    /// // `file` holds the set "tags": not a hash.
    /// for item in Decoder::new(&file, Options::default())? {
    ///     let Item::Key(k) = item? else { continue };
    ///     let e = k.fields().next().unwrap().unwrap_err();
    ///     assert!(e.to_string().contains("(key 'tags')"), "{e}");
    /// }
    /// # Ok::<(), rdbkit::Error>(())
    /// ```
    pub fn fields(&self) -> Fields<'a> {
        self.value.fields().with_key(self.key)
    }

    /// The live entries of a stream value ([`Value::stream`] and
    /// [`Stream::entries`]), with the key in every error, as an iterator or
    /// a cursor. A value that is not a stream, or whose stream metadata
    /// cannot be read, is an error returned by the first `next()` (or
    /// [`Entries::next_entry`]).
    ///
    /// ```
    /// # use rdbkit::decode::{Decoder, Item, Options, StreamId};
    /// # use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, StreamValue, Target};
    /// # let id = StreamId { ms: 7, seq: 0 };
    /// # let s = StreamValue {
    /// #     entries: vec![(id, vec![(b"temp".to_vec(), b"21".to_vec())])],
    /// #     last_id: id,
    /// #     ..StreamValue::default()
    /// # };
    /// # let mut w = RdbWriter::new(Vec::new(), Target::redis(11))?;
    /// # w.select_db(0)?;
    /// # w.key(b"events", &OwnedValue::Stream(Box::new(s)), KeyMeta::default())?;
    /// # let file = w.finish()?;
    /// // `file` holds the stream "events" with one entry, 7-0 temp=21.
    /// for item in Decoder::new(&file, Options::default())? {
    ///     let Item::Key(k) = item? else { continue };
    ///     for entry in k.entries() {
    ///         let entry = entry?;
    ///         assert_eq!(entry.id, StreamId { ms: 7, seq: 0 });
    ///         assert_eq!(&*entry.fields[0].1, b"21");
    ///     }
    /// }
    /// # Ok::<(), rdbkit::Error>(())
    /// ```
    pub fn entries(&self) -> Entries<'a> {
        match self.value.stream() {
            Ok(s) => s.entries().with_key(self.key),
            Err(e) => Entries::failed(&self.value, e).with_key(self.key),
        }
    }
}

/// One record of the file, in file order.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Item<'a> {
    /// `AUX` field.
    Aux {
        /// Field name.
        key: RdbStr<'a>,
        /// Field value.
        value: RdbStr<'a>,
    },
    /// `SELECTDB`.
    SelectDb(u64),
    /// `RESIZEDB` hint.
    ResizeDb {
        /// Keys in the db.
        keys: u64,
        /// Keys with an expiry.
        expires: u64,
    },
    /// `MODULE_AUX`.
    ModuleAux(ModuleAux<'a>),
    /// `FUNCTION2`: one library's complete source.
    Function(RdbStr<'a>),
    /// `FUNCTION_PRE_GA` (Redis 7.0-rc1/rc2).
    FunctionPreGa {
        /// Library/function name.
        name: RdbStr<'a>,
        /// Engine.
        engine: RdbStr<'a>,
        /// Description.
        desc: Option<RdbStr<'a>>,
        /// Code.
        code: RdbStr<'a>,
    },
    /// `SLOT_INFO` (cluster mode hint).
    SlotInfo {
        /// Slot.
        slot: u64,
        /// Keys in the slot.
        keys: u64,
        /// Expires in the slot.
        expires: u64,
    },
    /// Valkey `SLOT_IMPORT` (an in-progress atomic slot import).
    SlotImport {
        /// 40-byte job name.
        job: RdbStr<'a>,
        /// Slot ranges (start, end), raw `LEN` pairs.
        ranges: Vec<(u64, u64)>,
    },
    /// A Redis Enterprise private opcode (skipped).
    Enterprise {
        /// The opcode.
        opcode: u8,
        /// Its value.
        value: u64,
    },
    /// A key.
    Key(KeyRecord<'a>),
    /// `EOF`: the end of the data.
    Eof {
        /// Checksum status.
        checksum: Checksum,
        /// Offset of the EOF opcode.
        offset: usize,
        /// Bytes after the trailer (a warning, not an error).
        trailing: usize,
    },
}

/// A lazy decoder over a whole RDB file. It is an iterator of records;
/// after an error or `EOF` it returns `None`.
#[derive(Debug)]
pub struct Decoder<'a> {
    r: Reader<'a>,
    header: Header,
    opts: Options,
    db: u64,
    done: bool,
    /// Facts Redis accepts that look wrong (see [`Warnings`]).
    warnings: Warnings,
}

impl<'a> Decoder<'a> {
    /// Starts decoding `data`: checks the header and positions after it.
    ///
    /// # Errors
    /// A bad magic or a version this crate does not read. Later problems
    /// come from the iterator, one record at a time.
    ///
    /// ```
    /// use rdbkit::decode::{Decoder, Options};
    /// assert!(Decoder::new(b"REDIS0011\xff", Options::default()).is_ok());
    /// assert!(Decoder::new(b"NOTREDIS!", Options::default()).is_err());
    /// ```
    pub fn new(data: &'a [u8], opts: Options) -> Result<Self> {
        let header = Header::parse(data)?;
        Ok(Decoder {
            r: Reader::at(data, 9),
            header,
            opts,
            db: 0,
            done: false,
            warnings: Warnings::default(),
        })
    }

    /// A decoder positioned at byte `pos` of `data` (a record boundary found
    /// by an earlier pass), with `db` as the current database. The scan
    /// engine ([`scan`]) is built on it; callers use
    /// [`scan::walk_range`] to read part of a file.
    pub(crate) fn resume(data: &'a [u8], pos: usize, db: u64, opts: Options) -> Result<Self> {
        let mut d = Decoder::new(data, opts)?;
        d.r = Reader::at(data, pos.max(9));
        d.db = db;
        Ok(d)
    }

    /// The warnings found so far: facts Redis accepts on load that look
    /// wrong (only at [`Level::Full`] and [`Level::Deep`]).
    pub fn warnings(&self) -> &Warnings {
        &self.warnings
    }

    /// Takes the warnings found so far, leaving none.
    pub fn take_warnings(&mut self) -> Warnings {
        std::mem::take(&mut self.warnings)
    }

    /// The file header.
    pub fn header(&self) -> Header {
        self.header
    }

    /// The decoding context values are built with.
    pub(crate) fn ctx(&self) -> Ctx {
        Ctx {
            lineage: self.header.lineage,
            version: self.header.version,
            limits: self.opts.limits,
        }
    }

    /// Current byte offset.
    pub fn offset(&self) -> usize {
        self.r.pos()
    }

    fn unknown(&self, b: u8, at: usize) -> Error {
        self.r.err_at(
            ErrorKind::UnknownType {
                byte: b,
                lineage: self.header.lineage.name(),
                version: self.header.version,
            },
            at,
        )
    }

    fn next_item(&mut self, v: Option<&mut dyn walk::WalkValue>) -> Result<Item<'a>> {
        let limits = self.opts.limits;
        let valkey = self.header.lineage == Lineage::Valkey;
        let start = self.r.pos();
        let (mut expire, mut idle, mut freq, mut key_meta) = (None, None, None, None);
        loop {
            let at = self.r.pos();
            let b = self.r.u8("opcode or value type")?;
            match b {
                op::EOF => return self.eof(at),
                op::SELECTDB => {
                    self.db = self.r.length("db number")?;
                    return Ok(Item::SelectDb(self.db));
                }
                op::RESIZEDB => {
                    let keys = self.r.length("resizedb keys")?;
                    let expires = self.r.length("resizedb expires")?;
                    return Ok(Item::ResizeDb { keys, expires });
                }
                op::AUX => {
                    let key = RdbStr::read(&mut self.r, &limits, "aux key")?;
                    let value = RdbStr::read(&mut self.r, &limits, "aux value")?;
                    if self.opts.level != Level::Skip {
                        key.validate()?;
                        value.validate()?;
                    }
                    return Ok(Item::Aux { key, value });
                }
                op::MODULE_AUX => {
                    let m = module::read_module_aux(&mut self.r, &limits)?;
                    if m.when != 1 && m.when != 2 && self.opts.level != Level::Skip {
                        let (name, when) = (m.id.name(), m.when);
                        self.warnings.add(at as u64, || {
                            format!(
                                "module aux for {name}: 'when' is {when}, not 1 (before keys) \
                                 or 2 (after); Redis passes it to the module unchecked"
                            )
                        });
                    }
                    return Ok(Item::ModuleAux(m));
                }
                op::FUNCTION2 => {
                    let code = RdbStr::read(&mut self.r, &limits, "function library")?;
                    if self.opts.level != Level::Skip {
                        code.validate()?;
                    }
                    return Ok(Item::Function(code));
                }
                op::FUNCTION_PRE_GA => {
                    let name = RdbStr::read(&mut self.r, &limits, "function name")?;
                    let engine = RdbStr::read(&mut self.r, &limits, "function engine")?;
                    let desc = match self.r.length("function description flag")? {
                        0 => None,
                        _ => Some(RdbStr::read(&mut self.r, &limits, "function description")?),
                    };
                    let code = RdbStr::read(&mut self.r, &limits, "function code")?;
                    return Ok(Item::FunctionPreGa {
                        name,
                        engine,
                        desc,
                        code,
                    });
                }
                op::SLOT_INFO => {
                    let slot = self.r.length("slot")?;
                    let keys = self.r.length("slot keys")?;
                    let expires = self.r.length("slot expires")?;
                    return Ok(Item::SlotInfo {
                        slot,
                        keys,
                        expires,
                    });
                }
                op::KEY_META_OR_SLOT_IMPORT if valkey => {
                    let job = RdbStr::read(&mut self.r, &limits, "slot import job name")?;
                    let n = self.r.count("slot import range count", 2)?;
                    let mut ranges = Vec::with_capacity(n.min(16384) as usize);
                    for _ in 0..n {
                        let a = self.r.length("slot range start")?;
                        let b = self.r.length("slot range end")?;
                        ranges.push((a, b));
                    }
                    return Ok(Item::SlotImport { job, ranges });
                }
                op::KEY_META_OR_SLOT_IMPORT if self.header.version >= 13 => {
                    let s = self.r.pos();
                    module::skip_key_meta(&mut self.r, &limits)?;
                    key_meta = Some(&self.r.buf()[s..self.r.pos()]);
                }
                op::EXPIRETIME_MS => {
                    expire = Some(self.r.i64le("expire time")?);
                }
                op::EXPIRETIME => {
                    let s = self.r.u32le("expire time")? as i32;
                    expire = Some(i64::from(s) * 1000);
                }
                op::IDLE => idle = Some(self.r.length("idle time")?),
                op::FREQ => freq = Some(self.r.u8("lfu frequency")?),
                op::RE_GCAS | op::RE_GFLAGS | op::RE_RAM_LRU | op::RE_SLOT_NUM if !valkey => {
                    let value = self.r.length("enterprise opcode value")?;
                    return Ok(Item::Enterprise { opcode: b, value });
                }
                _ => {
                    if Kind::of(b, self.header.lineage).is_none() {
                        return Err(self.unknown(b, at));
                    }
                    return self.key(b, at, start, expire, idle, freq, key_meta, v);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn key(
        &mut self,
        rdb_type: u8,
        type_at: usize,
        start: usize,
        expire_ms: Option<i64>,
        idle: Option<u64>,
        freq: Option<u8>,
        key_meta: Option<&'a [u8]>,
        v: Option<&mut dyn walk::WalkValue>,
    ) -> Result<Item<'a>> {
        let ctx = self.ctx();
        let key = RdbStr::read(&mut self.r, &self.opts.limits, "key")?;
        let keyerr = |e: Error| match key.to_bytes() {
            Ok(k) => e.with_key(&k),
            Err(_) => e,
        };
        if self.opts.level != Level::Skip {
            key.validate().map_err(keyerr)?;
        }
        let vstart = self.r.pos();
        let mark = self.warnings.kept_len();
        let total = self.warnings.total();
        match v {
            None => walk::walk_value(
                rdb_type,
                &mut self.r,
                ctx,
                self.opts.level,
                &mut self.warnings,
            ),
            Some(v) => v.walk(
                rdb_type,
                &mut self.r,
                ctx,
                self.opts.level,
                &mut self.warnings,
            ),
        }
        .map_err(keyerr)?;
        if self.warnings.total() != total && self.warnings.kept_len() > mark {
            if let Ok(k) = key.to_bytes() {
                self.warnings.set_key(mark, &k);
            }
        }
        let vend = self.r.pos();
        Ok(Item::Key(KeyRecord {
            db: self.db,
            key,
            expire_ms,
            idle,
            freq,
            key_meta,
            value: Value::new(rdb_type, self.r.buf(), vstart, vend, ctx),
            span: start..vend,
            body_span: type_at..vend,
        }))
    }

    fn eof(&mut self, at: usize) -> Result<Item<'a>> {
        self.done = true;
        // Decoding reached the end of what the input held when it was
        // mapped; make sure that is still the file.
        crate::file::check_region(self.r.buf(), at as u64)?;
        let data = self.r.buf();
        if !self.header.has_checksum() {
            return Ok(Item::Eof {
                checksum: Checksum::Absent,
                offset: at,
                trailing: self.r.remaining(),
            });
        }
        let stored = self.r.u64le("checksum")?;
        let checksum = if stored == 0 {
            Checksum::Disabled
        } else if !self.opts.verify_checksum {
            Checksum::NotChecked(stored)
        } else {
            let computed = crc::crc64(&data[..=at]);
            if computed != stored {
                return Err(Error::new(
                    ErrorKind::ChecksumMismatch { stored, computed },
                    (at + 1) as u64,
                ));
            }
            Checksum::Verified(stored)
        };
        Ok(Item::Eof {
            checksum,
            offset: at,
            trailing: self.r.remaining(),
        })
    }
}

impl<'a> Decoder<'a> {
    /// The next record, as [`Iterator::next`] reads it, showing `v` the
    /// value of a key record as the decoder checks it (see
    /// [`items::Visit`]).
    #[inline]
    pub(crate) fn next_visiting(
        &mut self,
        v: &mut dyn walk::WalkValue,
    ) -> Option<Result<Item<'a>>> {
        self.read_next(Some(v))
    }

    /// The one caller of `next_item`: with `next_item` inlined here, the
    /// record is built where the caller wants it (otherwise the 200-byte
    /// `Item` is copied once per record, a third of `verify`'s time).
    fn read_next(&mut self, v: Option<&mut dyn walk::WalkValue>) -> Option<Result<Item<'a>>> {
        if self.done {
            return None;
        }
        if crate::interrupt::attention() {
            let at = self.r.pos() as u64;
            if let Err(e) = crate::interrupt::check(self.r.buf(), at) {
                self.done = true;
                return Some(Err(e));
            }
        }
        let r = self.next_item(v);
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}

impl<'a> Iterator for Decoder<'a> {
    type Item = Result<Item<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.read_next(None)
    }
}
