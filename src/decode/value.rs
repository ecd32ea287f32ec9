//! A key's value: its type, encoding and lazily decoded content.

use super::items::{Ctx, Items};
use super::iter::{Elements, Fields, Scored};
use super::module::{read_module_value, ModuleValue};
use super::reader::Reader;
use super::stream::Stream;
use super::string::RdbStr;
use crate::format::rdb_type as t;
use crate::{ErrorKind, Result};

use crate::format::{Encoding, Kind};

/// A value as stored: its type byte and its encoded bytes, borrowed from the input.
#[derive(Debug, Clone, Copy)]
pub struct Value<'a> {
    rdb_type: u8,
    input: &'a [u8],
    start: usize,
    end: usize,
    ctx: Ctx,
}

impl<'a> Value<'a> {
    /// Walks the value again at [`Level::Full`](super::Level::Full) as if
    /// it were in a file of RDB `version`: a record may be valid in its own
    /// file (Redis 5.0 loads duplicate zipmap fields) and refused by the
    /// loader of a newer one it is copied into.
    pub(crate) fn check_as(&self, version: u32) -> crate::Result<()> {
        let ctx = Ctx {
            version,
            ..self.ctx
        };
        let mut r = Reader::at(self.input, self.start);
        let mut ignored = super::Warnings::default();
        super::walk::walk_value(self.rdb_type, &mut r, ctx, super::Level::Full, &mut ignored)
    }

    pub(crate) fn new(rdb_type: u8, input: &'a [u8], start: usize, end: usize, ctx: Ctx) -> Self {
        Value {
            rdb_type,
            input,
            start,
            end,
            ctx,
        }
    }

    /// The value type byte.
    pub fn rdb_type(&self) -> u8 {
        self.rdb_type
    }

    /// The logical type.
    pub fn kind(&self) -> Kind {
        Kind::of(self.rdb_type, self.ctx.lineage).unwrap_or(Kind::Module)
    }

    /// How the value is encoded in the file ([`Encoding::Listpack`],
    /// [`Encoding::Quicklist2`], ...).
    pub fn encoding(&self) -> Encoding {
        Encoding::of(self.rdb_type, self.ctx.lineage)
    }

    /// The whole input the value was decoded from.
    pub(crate) fn input(&self) -> &'a [u8] {
        self.input
    }

    /// The encoded value bytes (after the key), borrowed from the input.
    pub fn raw(&self) -> &'a [u8] {
        &self.input[self.start..self.end]
    }

    /// Offset of the value's first byte in the input.
    pub fn offset(&self) -> usize {
        self.start
    }

    /// The decoding context (lineage, version, limits).
    pub(crate) fn ctx(&self) -> Ctx {
        self.ctx
    }

    fn reader(&self) -> Reader<'a> {
        Reader::at(self.input, self.start)
    }

    fn wrong(&self, wanted: &'static str) -> crate::Error {
        self.reader().err(ErrorKind::WrongType {
            rdb_type: self.rdb_type,
            kind: self.kind().name(),
            wanted,
        })
    }

    /// The string value (type 0).
    ///
    /// # Errors
    /// [`ErrorKind::WrongType`] for a value that is not a string; a decoding
    /// error ([`ErrorKind::Truncated`], [`ErrorKind::LimitExceeded`], ...) with
    /// the byte offset.
    pub fn string(&self) -> Result<RdbStr<'a>> {
        if self.rdb_type != t::STRING {
            return Err(self.wrong("a string"));
        }
        RdbStr::read(&mut self.reader(), &self.ctx.limits, "string value")
    }

    /// A cursor over the elements of a list, set, sorted set, hash or
    /// array: the elements it returns borrow from it (no allocation). The
    /// iterators [`Value::elements`], [`Value::scored`] and
    /// [`Value::fields`] are built on it.
    ///
    /// # Errors
    /// [`ErrorKind::WrongType`] for a string, stream or module value; a
    /// decoding error of the value's header with the byte offset (elements are
    /// checked as the cursor reaches them).
    pub fn items(&self) -> Result<Items<'a>> {
        Items::new(self.rdb_type, &mut self.reader(), self.ctx, true)
    }

    /// The cursor of a value of the wanted kinds, or a
    /// [`ErrorKind::WrongType`] error naming what was `wanted`.
    fn items_of(&self, ok: bool, wanted: &'static str) -> Result<Items<'a>> {
        if !ok {
            return Err(self.wrong(wanted));
        }
        self.items()
    }

    /// The elements of a list or set, in stored order, as an [`Iterator`]
    /// of `Result<Cow<[u8]>>` (see [`Elements`]): borrowed from the input
    /// when stored as is, integer-encoded elements as their decimal text.
    ///
    /// Any other type is an [`ErrorKind::WrongType`] error, returned by the
    /// first `next()` (then the iterator ends), as is any error in the
    /// value; errors do not name the key, which the value does not know:
    /// [`KeyRecord::elements`](super::KeyRecord::elements) adds it. For
    /// arrays use [`Value::items`] and [`Items::next_array`].
    ///
    /// ```
    /// # use rdbkit::decode::{Decoder, Item, Options};
    /// # use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
    /// # let mut w = RdbWriter::new(Vec::new(), Target::redis(11))?;
    /// # w.select_db(0)?;
    /// # let list = vec![b"a".to_vec(), b"7".to_vec()];
    /// # w.key(b"l", &OwnedValue::List(list), KeyMeta::default())?;
    /// # let file = w.finish()?;
    /// // `file` holds the list "l" = [a, 7] (7 stored as an integer).
    /// for item in Decoder::new(&file, Options::default())? {
    ///     let Item::Key(k) = item? else { continue };
    ///     let elems: Vec<_> = k.value.elements().collect::<rdbkit::Result<_>>()?;
    ///     assert_eq!(elems, [&b"a"[..], &b"7"[..]]);
    ///     // A list has no fields: the first `next()` says so.
    ///     let e = k.value.fields().next().unwrap().unwrap_err();
    ///     assert!(matches!(e.kind(), rdbkit::ErrorKind::WrongType { .. }));
    /// }
    /// # Ok::<(), rdbkit::Error>(())
    /// ```
    pub fn elements(&self) -> Elements<'a> {
        let k = self.kind();
        Elements::new(self.items_of(
            k == Kind::List || k == Kind::Set,
            "a list or set (elements)",
        ))
    }

    /// The members and scores of a sorted set, in stored order, as an
    /// [`Iterator`] of `Result<(Cow<[u8]>, f64)>` (see [`Scored`]).
    ///
    /// Any other type is an [`ErrorKind::WrongType`] error, returned by the
    /// first `next()`; errors do not name the key:
    /// [`KeyRecord::scored`](super::KeyRecord::scored) adds it.
    ///
    /// ```
    /// # use rdbkit::decode::{Decoder, Item, Options};
    /// # use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
    /// # let mut w = RdbWriter::new(Vec::new(), Target::redis(11))?;
    /// # w.select_db(0)?;
    /// # let z = vec![(b"ada".to_vec(), 1.5), (b"bob".to_vec(), 2.0)];
    /// # w.key(b"z", &OwnedValue::ZSet(z), KeyMeta::default())?;
    /// # let file = w.finish()?;
    /// // `file` holds the sorted set "z" = {ada: 1.5, bob: 2}.
    /// for item in Decoder::new(&file, Options::default())? {
    ///     let Item::Key(k) = item? else { continue };
    ///     let mut total = 0.0;
    ///     for m in k.value.scored() {
    ///         let (member, score) = m?;
    ///         assert!(member.starts_with(b"a") || member.starts_with(b"b"));
    ///         total += score;
    ///     }
    ///     assert_eq!(total, 3.5);
    /// }
    /// # Ok::<(), rdbkit::Error>(())
    /// ```
    pub fn scored(&self) -> Scored<'a> {
        Scored::new(self.items_of(self.kind() == Kind::ZSet, "a sorted set (scored)"))
    }

    /// The fields of a hash, in stored order, as an [`Iterator`] of
    /// `Result<`[`Field`](crate::decode::Field)`>`: field, value and, for the hash-field-expiry
    /// types (Redis 7.4+, Valkey 9), the field's absolute expiry.
    ///
    /// Any other type is an [`ErrorKind::WrongType`] error, returned by the
    /// first `next()`; errors do not name the key:
    /// [`KeyRecord::fields`](super::KeyRecord::fields) adds it.
    ///
    /// ```
    /// # use rdbkit::decode::{Decoder, Item, Options};
    /// # use rdbkit::encode::{HashEntry, KeyMeta, OwnedValue, RdbWriter, Target};
    /// # let mut w = RdbWriter::new(Vec::new(), Target::redis(11))?;
    /// # w.select_db(0)?;
    /// # let h = vec![HashEntry { field: b"name".to_vec(), value: b"ada".to_vec(), expire_ms: None }];
    /// # w.key(b"user:1", &OwnedValue::Hash(h), KeyMeta::default())?;
    /// # let file = w.finish()?;
    /// use rdbkit::decode::lossy;
    /// // `file` holds the hash "user:1" = {name: ada}.
    /// for item in Decoder::new(&file, Options::default())? {
    ///     let Item::Key(k) = item? else { continue };
    ///     for f in k.value.fields() {
    ///         let f = f?;
    ///         assert_eq!(format!("{}={}", lossy(&f.field), lossy(&f.value)), "name=ada");
    ///         assert_eq!(f.expire_ms, None);
    ///     }
    /// }
    /// # Ok::<(), rdbkit::Error>(())
    /// ```
    pub fn fields(&self) -> Fields<'a> {
        Fields::new(self.items_of(self.kind() == Kind::Hash, "a hash (fields)"))
    }

    /// The stream value.
    ///
    /// # Errors
    /// [`ErrorKind::WrongType`] for a value that is not a stream; a decoding
    /// error with the byte offset.
    pub fn stream(&self) -> Result<Stream<'a>> {
        if self.kind() != Kind::Stream {
            return Err(self.wrong("a stream"));
        }
        // Without the node checks there are no warnings to collect.
        let mut none = super::Warnings::default();
        Stream::parse(
            self.rdb_type,
            &mut self.reader(),
            self.ctx,
            false,
            false,
            &mut none,
        )
    }

    /// The module value (type 7).
    ///
    /// # Errors
    /// [`ErrorKind::WrongType`] for a value that is not a module value (type
    /// 7); a decoding error with the byte offset.
    pub fn module(&self) -> Result<ModuleValue<'a>> {
        if self.rdb_type != t::MODULE_2 {
            return Err(self.wrong("a module value"));
        }
        read_module_value(&mut self.reader(), &self.ctx.limits)
    }
}
