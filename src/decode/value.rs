//! A key's value: its type, encoding and lazily decoded content.

use super::items::{Ctx, Items};
use super::module::{read_module_value, ModuleValue};
use super::reader::Reader;
use super::stream::Stream;
use super::string::RdbStr;
use crate::format::{rdb_type as t, Lineage};
use crate::{ErrorKind, Result};

use crate::format::Kind;

/// The encoding name of a value type byte (for statistics).
///
/// ```
/// use rdbkit::{decode::encoding_name, format::Lineage};
/// assert_eq!(encoding_name(18, Lineage::Redis), "quicklist2");
/// ```
pub fn encoding_name(rdb_type: u8, lineage: Lineage) -> &'static str {
    match rdb_type {
        t::STRING => "string",
        t::LIST => "linkedlist",
        t::SET | t::HASH => "hashtable",
        t::ZSET => "skiplist-text",
        t::ZSET_2 => "skiplist",
        t::MODULE_PRE_GA => "module-pre-ga",
        t::MODULE_2 => "module",
        t::HASH_ZIPMAP => "zipmap",
        t::LIST_ZIPLIST | t::ZSET_ZIPLIST | t::HASH_ZIPLIST => "ziplist",
        t::SET_INTSET => "intset",
        t::LIST_QUICKLIST => "quicklist",
        t::LIST_QUICKLIST_2 => "quicklist2",
        t::HASH_LISTPACK | t::ZSET_LISTPACK | t::SET_LISTPACK => "listpack",
        t::STREAM_LISTPACKS => "stream-v1",
        t::STREAM_LISTPACKS_2 => "stream-v2",
        t::STREAM_LISTPACKS_3 => "stream-v3",
        t::HASH_METADATA_PRE_GA_OR_HASH_2 if lineage == Lineage::Valkey => "hashtable-ttl",
        t::HASH_METADATA_PRE_GA_OR_HASH_2 => "hashtable-ttl-pre-ga",
        t::HASH_LISTPACK_EX_PRE_GA => "listpack-ex-pre-ga",
        t::HASH_METADATA => "hashtable-ttl",
        t::HASH_LISTPACK_EX => "listpack-ex",
        t::STREAM_LISTPACKS_4 => "stream-v4",
        t::STREAM_LISTPACKS_5 => "stream-v5",
        t::ARRAY => "array",
        _ => "unknown",
    }
}

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

    /// The encoding name (`listpack`, `quicklist2`, ...).
    pub fn encoding(&self) -> &'static str {
        encoding_name(self.rdb_type, self.ctx.lineage)
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
    pub fn ctx(&self) -> Ctx {
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
    pub fn string(&self) -> Result<RdbStr<'a>> {
        if self.rdb_type != t::STRING {
            return Err(self.wrong("a string"));
        }
        RdbStr::read(&mut self.reader(), &self.ctx.limits, "string value")
    }

    /// A cursor over the elements of a list, set, sorted set, hash or array.
    pub fn items(&self) -> Result<Items<'a>> {
        Items::new(self.rdb_type, &mut self.reader(), self.ctx, true)
    }

    /// The stream value.
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
    pub fn module(&self) -> Result<ModuleValue<'a>> {
        if self.rdb_type != t::MODULE_2 {
            return Err(self.wrong("a module value"));
        }
        read_module_value(&mut self.reader(), &self.ctx.limits)
    }
}
