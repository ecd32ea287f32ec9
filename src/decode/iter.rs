//! Iterators over collection values: [`Elements`] (lists and sets),
//! [`Scored`] (sorted sets) and [`Fields`] (hashes), from
//! [`Value::elements`](super::Value::elements),
//! [`Value::scored`](super::Value::scored) and
//! [`Value::fields`](super::Value::fields), or from the methods of the
//! same names of [`KeyRecord`](super::KeyRecord), which also name the key
//! in their errors.
//!
//! They are built on the cursors ([`Items`]) and yield bytes that outlive
//! them: a [`Cow`] borrowed from the input when the element is stored there
//! as is, owned when it is not (an element of an LZF-compressed string or
//! blob, the decimal text of an integer-encoded element). Stream entries
//! are iterated the same way with [`Entries`](super::Entries).

use std::borrow::Cow;
use std::iter::FusedIterator;

use super::items::Items;
use super::string::RdbStr;
use crate::{Error, Result};

/// One field of a hash, as [`Fields`] returns it.
///
/// ```
/// use std::borrow::Cow;
/// use rdbkit::decode::Field;
/// let f = Field {
///     field: Cow::Borrowed(&b"name"[..]),
///     value: Cow::Borrowed(&b"ada"[..]),
///     expire_ms: None,
/// };
/// assert_eq!(&*f.value, b"ada");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    /// Field name.
    pub field: Cow<'a, [u8]>,
    /// Value (integer-encoded values as their decimal text).
    pub value: Cow<'a, [u8]>,
    /// Absolute expiry in unix ms, when the field has a TTL (hash field
    /// expiry: Redis 7.4+, Valkey 9).
    pub expire_ms: Option<i64>,
}

/// The cursor an iterator reads, or the error to return first, and the
/// key to name in errors.
#[derive(Debug, Clone)]
struct Cursor<'a> {
    items: Option<Items<'a>>,
    err: Option<Error>,
    key: Option<RdbStr<'a>>,
}

impl<'a> Cursor<'a> {
    fn new(items: Result<Items<'a>>) -> Self {
        match items {
            Ok(it) => Cursor {
                items: Some(it),
                err: None,
                key: None,
            },
            Err(e) => Cursor {
                items: None,
                err: Some(e),
                key: None,
            },
        }
    }

    /// One step of the cursor; at the end or after an error the cursor is
    /// dropped and every later step is `None`.
    #[inline]
    fn step<T>(
        &mut self,
        f: impl FnOnce(&mut Items<'a>) -> Result<Option<T>>,
    ) -> Option<Result<T>> {
        let Some(it) = self.items.as_mut() else {
            let e = self.err.take()?;
            return Some(Err(with_key(e, self.key)));
        };
        match f(it) {
            Ok(Some(x)) => Some(Ok(x)),
            Ok(None) => {
                self.items = None;
                None
            }
            Err(e) => {
                self.items = None;
                Some(Err(with_key(e, self.key)))
            }
        }
    }
}

/// `e` naming `key`, when there is one (and it decompresses).
#[cold]
pub(crate) fn with_key(e: Error, key: Option<RdbStr<'_>>) -> Error {
    match key.map(|k| k.to_bytes()) {
        Some(Ok(k)) => e.with_key(&k),
        _ => e,
    }
}

/// The elements of a list or set ([`Value::elements`](super::Value::elements),
/// or [`KeyRecord::elements`](super::KeyRecord::elements) whose errors name
/// the key).
///
/// Each element is a `Cow<[u8]>`: borrowed from the input when stored as
/// is, owned otherwise; integer-encoded elements (intsets, listpack
/// integers) are their decimal text. The first error ends the iteration,
/// including [`ErrorKind::WrongType`](crate::ErrorKind::WrongType) for a
/// value that is not a list or set, returned by the first `next()`.
///
/// ```
/// # use rdbkit::decode::{Decoder, Item, Options};
/// # use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
/// # let mut w = RdbWriter::new(Vec::new(), Target::redis(11))?;
/// # w.select_db(0)?;
/// # let set = vec![b"1".to_vec(), b"2".to_vec(), b"3".to_vec()];
/// # w.key(b"s", &OwnedValue::Set(set), KeyMeta::default())?;
/// # let file = w.finish()?;
/// // `file` holds the set "s" = {1, 2, 3}, stored as an intset.
/// for item in Decoder::new(&file, Options::default())? {
///     let Item::Key(k) = item? else { continue };
///     assert_eq!(k.value.encoding(), rdbkit::decode::Encoding::Intset);
///     let mut total = 0;
///     for e in k.value.elements() {
///         total += rdbkit::decode::lossy(&e?).parse::<i64>().unwrap();
///     }
///     assert_eq!(total, 6);
/// }
/// # Ok::<(), rdbkit::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Elements<'a>(Cursor<'a>);

impl<'a> Elements<'a> {
    pub(crate) fn new(items: Result<Items<'a>>) -> Self {
        Elements(Cursor::new(items))
    }

    /// Names `key` in every error (for [`KeyRecord`](super::KeyRecord)).
    pub(crate) fn with_key(mut self, key: RdbStr<'a>) -> Self {
        self.0.key = Some(key);
        self
    }
}

impl<'a> Iterator for Elements<'a> {
    type Item = Result<Cow<'a, [u8]>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.0.step(Items::next_elem_cow)
    }
}

impl FusedIterator for Elements<'_> {}

/// The members and scores of a sorted set
/// ([`Value::scored`](super::Value::scored), or
/// [`KeyRecord::scored`](super::KeyRecord::scored) whose errors name the
/// key), in stored order (ascending score for every encoding Redis writes).
///
/// Members are `Cow<[u8]>` as in [`Elements`]. The first error ends the
/// iteration, including
/// [`ErrorKind::WrongType`](crate::ErrorKind::WrongType) for a value that
/// is not a sorted set, returned by the first `next()`.
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
///     let best = k.value.scored().last().unwrap()?;
///     assert_eq!((&*best.0, best.1), (&b"bob"[..], 2.0));
/// }
/// # Ok::<(), rdbkit::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Scored<'a>(Cursor<'a>);

impl<'a> Scored<'a> {
    pub(crate) fn new(items: Result<Items<'a>>) -> Self {
        Scored(Cursor::new(items))
    }

    /// Names `key` in every error (for [`KeyRecord`](super::KeyRecord)).
    pub(crate) fn with_key(mut self, key: RdbStr<'a>) -> Self {
        self.0.key = Some(key);
        self
    }
}

impl<'a> Iterator for Scored<'a> {
    type Item = Result<(Cow<'a, [u8]>, f64)>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.0.step(Items::next_scored_cow)
    }
}

impl FusedIterator for Scored<'_> {}

/// The fields of a hash ([`Value::fields`](super::Value::fields), or
/// [`KeyRecord::fields`](super::KeyRecord::fields) whose errors name the
/// key), each a [`Field`] with its TTL when the encoding stores one.
///
/// The first error ends the iteration, including
/// [`ErrorKind::WrongType`](crate::ErrorKind::WrongType) for a value that
/// is not a hash, returned by the first `next()`.
///
/// ```
/// # use rdbkit::decode::{Decoder, Item, Options};
/// # use rdbkit::encode::{HashEntry, KeyMeta, OwnedValue, RdbWriter, Target};
/// # let mut w = RdbWriter::new(Vec::new(), Target::redis(12))?;
/// # w.select_db(0)?;
/// # let h = vec![
/// #     HashEntry { field: b"name".to_vec(), value: b"ada".to_vec(), expire_ms: None },
/// #     HashEntry { field: b"otp".to_vec(), value: b"1234".to_vec(), expire_ms: Some(4_000_000_000_000) },
/// # ];
/// # w.key(b"user:1", &OwnedValue::Hash(h), KeyMeta::default())?;
/// # let file = w.finish()?;
/// // `file` (Redis 7.4) holds the hash "user:1" = {name: ada, otp: 1234},
/// // "otp" with a TTL.
/// for item in Decoder::new(&file, Options::default())? {
///     let Item::Key(k) = item? else { continue };
///     let expiring: Vec<_> = k
///         .value
///         .fields()
///         .filter(|f| f.as_ref().map_or(true, |f| f.expire_ms.is_some()))
///         .collect::<rdbkit::Result<_>>()?;
///     assert_eq!(&*expiring[0].field, b"otp");
///     assert_eq!(&*expiring[0].value, b"1234");
///     assert_eq!(expiring[0].expire_ms, Some(4_000_000_000_000));
/// }
/// # Ok::<(), rdbkit::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Fields<'a>(Cursor<'a>);

impl<'a> Fields<'a> {
    pub(crate) fn new(items: Result<Items<'a>>) -> Self {
        Fields(Cursor::new(items))
    }

    /// Names `key` in every error (for [`KeyRecord`](super::KeyRecord)).
    pub(crate) fn with_key(mut self, key: RdbStr<'a>) -> Self {
        self.0.key = Some(key);
        self
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.0.step(Items::next_field_cow)
    }
}

impl FusedIterator for Fields<'_> {}
