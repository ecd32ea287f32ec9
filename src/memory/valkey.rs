//! Valkey 8.1 and 9.1: what a key costs after the server loads it, as
//! `MEMORY USAGE key SAMPLES 0` reports it.
//!
//! Valkey keeps Redis 7.2's compact encodings (listpacks, intsets,
//! quicklists and their thresholds: [`super::redis70`] prices those), but
//! its keyspace and big encodings are its own. Read from Valkey's
//! `object.c` (`createObjectWithKeyAndExpire`,
//! `createStringObjectWithKeyAndExpire`, `shouldEmbedStringObject`,
//! `objectComputeSize`), `hashtable.c`, `t_hash.c` (`hashTypeCreateEntry`),
//! `t_zset.c` and `rax.c`, and checked key by key by
//! `tests/memory_servers.rs` against the PyPI builds of Valkey 8.1.8 and
//! 9.1.2 (both glibc malloc; see BENCHMARKS.md for the figures).
//!
//! * There is no `dictEntry` and no separate key string: the key is
//!   embedded in the value's object (`robj`, 16 bytes, then an 8-byte
//!   expiry when the key has one or is 128 bytes or longer, then a byte
//!   and the key as an sds). `MEMORY USAGE` counts that whole allocation.
//! * Strings: an integer is that object alone. Otherwise the value is
//!   embedded in the same allocation when the whole fits in 64 bytes
//!   (8.1) or 128 bytes (9.1, where an embedded value also reuses the
//!   object's 8-byte pointer); the allocation takes an expiry slot for
//!   free when the allocator's rounding leaves room for one. Longer values
//!   are the object plus their own sds.
//! * Sets, hashes and sorted sets beyond their compact limits are
//!   `hashtable`s: a 72-byte struct (80 in 9.1; hashes 88 with their
//!   metadata), 64-byte buckets of 7 entries (`5 n / 32` buckets rounded
//!   up to a power of two for `n` entries, sized on load), and child
//!   buckets where more than 7 entries hash to one bucket (their count is
//!   random; the model takes its expected value for Poisson-distributed
//!   buckets). Entries are pointers: a set member is its sds; a hash entry
//!   is one allocation of field and value up to 128 bytes, else the field
//!   with a pointer to the value's own sds; a sorted set member is its
//!   skip-list node (with the member's sds beside it in 8.1 and inside it
//!   in 9.1).
//! * Streams count their rax trees at their allocated size
//!   (`raxAllocSize`): the 32-byte `rax` and every node, computed here
//!   from the IDs the way insertion builds the tree.
//! * The databases' keys and expiries are `hashtable`s of object
//!   pointers, sized on load from `RESIZEDB`.

use super::alloc::Allocator;
use super::MemEncoding;

/// `sizeof(robj)`: type, encoding, LRU and flags, then the value pointer.
const ROBJ: u64 = 16;
/// The object without its value pointer (9.1, embedded values).
const ROBJ_NO_PTR: u64 = 8;
/// Keys this long get an expiry slot on creation
/// (`KEY_SIZE_TO_INCLUDE_EXPIRE_THRESHOLD`).
const KEY_EXPIRE_SLOT: u64 = 128;
/// A bucket: one cache line of 7 entries (`hashtableBucket`).
const BUCKET: u64 = 64;
const ENTRIES_PER_BUCKET: u64 = 7;
/// `EMBED_VALUE_MAX_ALLOC_SIZE`: a hash field and value up to this size
/// share one allocation.
const HASH_EMBED_MAX: u64 = 128;
/// `sizeof(zset)` and `sizeof(zskiplist)` (8.1).
const ZSET: u64 = 16;
const ZSKIPLIST: u64 = 32;
/// A skip-list node before its levels: member pointer, score, backward
/// pointer (8.1); score and backward pointer (9.1, member inside).
const ZNODE_81: u64 = 24;
const ZNODE_91: u64 = 16;
/// 9.1: the zset, its skip list and the list's header, as measured on
/// Valkey 9.1.2 (glibc): what a sorted set of one member costs beyond its
/// object, hash table and node.
const ZSET_FIXED_91: u64 = 496;
/// `sizeof(stream)`, `sizeof(streamCG)`, `sizeof(streamConsumer)`,
/// `sizeof(streamNACK)`, `sizeof(rax)`.
const STREAM_81: u64 = 80;
const STREAM_91: u64 = 96;
const STREAM_CG_81: u64 = 40;
const STREAM_CG_91: u64 = 24;
const STREAM_CONSUMER: u64 = 32;
const STREAM_NACK: u64 = 24;
const RAX: u64 = 32;

/// Which hash table: its struct size differs by use in 9.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Table {
    Set,
    Hash,
    Zset,
    Keys,
}

/// The Valkey rules with an allocator.
#[derive(Debug, Clone, Copy)]
pub(super) struct Valkey {
    pub(super) alloc: Allocator,
    /// Valkey 9.1: values embedded up to 128 bytes without the object's
    /// pointer, members inside skip-list nodes, bigger structs.
    pub(super) v91: bool,
}

impl Valkey {
    fn a(&self, n: u64) -> u64 {
        self.alloc.usable(n)
    }

    /// The object of a value that is not embedded, with the key (and an
    /// expiry slot when needed or free) in its allocation.
    pub(super) fn robj(&self, key: u64, expire: bool) -> u64 {
        let with_key = ROBJ + 1 + sds_size(key);
        if expire || key >= KEY_EXPIRE_SLOT {
            self.a(with_key + 8)
        } else {
            self.a(with_key)
        }
    }

    /// A string value of `len` bytes under a key of `key` bytes: its
    /// figure and encoding (`int` for `int`).
    pub(super) fn string(&self, key: u64, expire: bool, len: u64, int: bool) -> (u64, MemEncoding) {
        if int {
            return (self.robj(key, expire), MemEncoding::Int);
        }
        let (head, limit) = if self.v91 {
            (ROBJ_NO_PTR, 128)
        } else {
            (ROBJ, 64)
        };
        // Embedded: object, key, value as an 8-bit sds. The load first
        // embeds without the expiry; setting it reuses a free slot or
        // builds the object again with one.
        let embeddable = !self.v91 || len <= 255;
        let bare = head + 1 + sds_size(key) + 3 + len + 1;
        if embeddable && bare <= limit {
            let usable = self.a(bare);
            if !expire || usable >= bare + 8 {
                return (usable, MemEncoding::Embstr);
            }
            if bare + 8 <= limit {
                return (self.a(bare + 8), MemEncoding::Embstr);
            }
        }
        (
            self.robj(key, expire) + self.a(sds_size_new(len)),
            MemEncoding::Raw,
        )
    }

    fn table_struct(&self, t: Table) -> u64 {
        match (self.v91, t) {
            (false, _) => 72,
            (true, Table::Hash) => 88,
            (true, _) => 80,
        }
    }

    /// A hash table of `n` entries sized for them: struct, buckets and the
    /// expected child buckets. Returns the figure and what the allocator
    /// adds to the struct.
    pub(super) fn hashtable(&self, n: u64, t: Table) -> (u64, u64) {
        let s = self.table_struct(t);
        if n == 0 {
            return (s, self.a(s) - s);
        }
        let b = buckets(n);
        let children = expected_children(n, b).round() as u64;
        let bytes = if t == Table::Keys {
            self.a(b * BUCKET) + children * self.a(BUCKET)
        } else {
            // `hashtableMemUsage`: 64 bytes per bucket, as allocated.
            (b + children) * BUCKET
        };
        (s + bytes, self.a(s) - s)
    }

    /// A set member's sds (`sdsAllocSize`).
    pub(super) fn member(&self, len: u64) -> u64 {
        self.a(sds_size_new(len))
    }

    /// A hash entry of a field of `field` bytes and a value of `value`
    /// bytes (`hashTypeEntryMemUsage`), `ttl` when the field has one
    /// (9.x).
    pub(super) fn hash_entry(&self, field: u64, value: u64, ttl: bool) -> u64 {
        let ttl_size = if ttl { 8 } else { 0 };
        let mut field_size = sds_size(field);
        if ttl && field < 32 {
            field_size = 3 + field + 1;
        }
        let value_size = 3 + value + 1;
        if field_size + ttl_size + value_size <= HASH_EMBED_MAX {
            self.a(field_size + ttl_size + value_size)
        } else {
            let field_size = if field < 32 {
                3 + field + 1
            } else {
                field_size
            };
            self.a(ttl_size + 8 + field_size) + self.a(sds_size_new(value))
        }
    }

    /// A sorted set's fixed part beyond its object and hash table: zset,
    /// skip list and the list's 32-level header node.
    pub(super) fn zset_fixed(&self) -> u64 {
        if self.v91 {
            ZSET_FIXED_91
        } else {
            ZSET + ZSKIPLIST + self.a(ZNODE_81 + 16 * 32)
        }
    }

    /// What `MEMORY USAGE` adds to the allocator for the zset structs.
    pub(super) fn zset_slack(&self) -> u64 {
        if self.v91 {
            0
        } else {
            self.a(ZSET) - ZSET + self.a(ZSKIPLIST) - ZSKIPLIST
        }
    }

    /// The expected cost of a sorted set member of `len` bytes: its
    /// skip-list node of a random level (p = 1/4) and its sds.
    pub(super) fn zset_member(&self, len: u64) -> f64 {
        let (node, sds) = if self.v91 {
            (ZNODE_91 + 1 + sds_size(len), 0)
        } else {
            (ZNODE_81, self.a(sds_size_new(len)))
        };
        let mut e = 0.0;
        let mut p = 0.75;
        for level in 1..=32u64 {
            let pl = if level == 32 { p / 0.75 } else { p };
            e += pl * self.a(node + 16 * level) as f64;
            p *= 0.25;
        }
        e + sds as f64
    }

    /// The stream struct, a consumer group and a consumer, a NACK.
    pub(super) fn stream_structs(&self) -> (u64, u64, u64, u64) {
        if self.v91 {
            (STREAM_91, STREAM_CG_91, STREAM_CONSUMER, STREAM_NACK)
        } else {
            (STREAM_81, STREAM_CG_81, STREAM_CONSUMER, STREAM_NACK)
        }
    }

    /// `raxAllocSize` of a rax holding `keys` (16-byte IDs, sorted here)
    /// with a value each: the `rax` and every node as allocated.
    pub(super) fn rax_alloc(&self, keys: &mut [[u8; 16]]) -> u64 {
        keys.sort_unstable();
        let mut total = self.a(RAX);
        if keys.is_empty() {
            // The empty head node.
            return total + self.a(rax_node(0, false, false));
        }
        self.rax_subtree(keys, 0, &mut total);
        total
    }

    /// The nodes below depth `d` for `keys`, which share their first `d`
    /// bytes: a compressed node for a longer shared prefix, a branching
    /// node where they differ, a leaf holding the value at the end.
    fn rax_subtree(&self, keys: &[[u8; 16]], d: usize, total: &mut u64) {
        if d >= 16 {
            *total += self.a(rax_node(0, false, true));
            return;
        }
        let p = if keys.len() == 1 {
            16
        } else {
            common(&keys[0], &keys[keys.len() - 1], d)
        };
        if p > d {
            *total += self.a(rax_node((p - d) as u64, true, false));
            return self.rax_subtree(keys, p, total);
        }
        let mut groups = 0u64;
        let mut i = 0;
        while i < keys.len() {
            let mut j = i + 1;
            while j < keys.len() && keys[j][d] == keys[i][d] {
                j += 1;
            }
            groups += 1;
            self.rax_subtree(&keys[i..j], d + 1, total);
            i = j;
        }
        *total += self.a(rax_node(groups, false, false));
    }

    /// The keys and expiries hash tables of a database of `keys` keys,
    /// `expires` of them with an expiry.
    pub(super) fn db_tables(&self, keys: u64, expires: u64) -> u64 {
        let mut b = 0;
        for n in [keys, expires] {
            if n > 0 {
                let (t, _) = self.hashtable(n, Table::Keys);
                b += t - self.table_struct(Table::Keys);
            }
        }
        b
    }
}

/// `raxNodeCurrentLength`: the 4-byte header, the characters padded to a
/// pointer, one child pointer (compressed) or one per character, and the
/// value pointer of a key.
fn rax_node(size: u64, compressed: bool, key: bool) -> u64 {
    let pad = (8 - (size + 4) % 8) % 8;
    let children = if compressed { 8 } else { 8 * size };
    4 + size + pad + children + if key { 8 } else { 0 }
}

/// The length of the prefix `a` and `b` share, known to share `from`.
fn common(a: &[u8; 16], b: &[u8; 16], from: usize) -> usize {
    (from..16).find(|&i| a[i] != b[i]).unwrap_or(16)
}

/// `sdsReqSize(len, sdsReqType(len))`: Valkey's header types (5 below 32
/// bytes, then 8, 16, 32, 64 bits, each up to the length its header and
/// terminator leave in its range).
fn sds_size(len: u64) -> u64 {
    let header = match len {
        0..=31 => 1,
        32..=252 => 3,
        253..=65530 => 5,
        65531..=0xffff_fff6 => 9,
        _ => 17,
    };
    header + len + 1
}

/// An sds made by `sdsnewlen`: the same, but the empty string gets an
/// 8-bit header.
fn sds_size_new(len: u64) -> u64 {
    if len == 0 {
        4
    } else {
        sds_size(len)
    }
}

/// Buckets of a table sized for `n` entries (`nextBucketExp`).
fn buckets(n: u64) -> u64 {
    let min = (n.saturating_mul(5).saturating_sub(1)) / 32 + 1;
    min.checked_next_power_of_two().unwrap_or(1 << 63)
}

/// The expected number of child buckets when `n` entries hash into `b`
/// buckets: a bucket of `x` > 7 entries chains ⌈(x − 7) / 6⌉ children
/// (each full bucket gives its last slot to the next one's pointer).
fn expected_children(n: u64, b: u64) -> f64 {
    let lambda = n as f64 / b as f64;
    let mut p = (-lambda).exp();
    let mut e = 0.0;
    for x in 1..400u64 {
        p *= lambda / x as f64;
        if x > ENTRIES_PER_BUCKET {
            e += p * (x - ENTRIES_PER_BUCKET).div_ceil(6) as f64;
            if p < 1e-15 {
                break;
            }
        }
    }
    e * b as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vk(v91: bool) -> Valkey {
        Valkey {
            alloc: Allocator::Libc,
            v91,
        }
    }

    /// Figures Valkey 8.1.8 and 9.1.2 (glibc) report for strings.
    #[test]
    fn strings_as_measured() {
        let (v81, v91) = (vk(false), vk(true));
        // SET a 1; SET b hello; 20, 44 and 100 x's under one-byte keys.
        assert_eq!(v81.string(1, false, 1, true).0, 24);
        assert_eq!(v81.string(1, false, 5, false), (40, MemEncoding::Embstr));
        assert_eq!(v91.string(1, false, 5, false), (24, MemEncoding::Embstr));
        assert_eq!(v81.string(1, false, 20, false).0, 56);
        assert_eq!(v91.string(1, false, 20, false).0, 40);
        assert_eq!(v81.string(1, false, 44, false), (80, MemEncoding::Raw));
        assert_eq!(v91.string(1, false, 44, false), (72, MemEncoding::Embstr));
        assert_eq!(v81.string(1, false, 100, false).0, 128);
        assert_eq!(v91.string(1, false, 100, false).0, 120);
        // A 40- and a 200-byte key with "hello".
        assert_eq!(v81.string(40, false, 5, false), (96, MemEncoding::Raw));
        assert_eq!(v91.string(40, false, 5, false), (72, MemEncoding::Embstr));
        assert_eq!(v81.string(200, false, 5, false).0, 256);
        assert_eq!(v91.string(200, false, 5, false), (256, MemEncoding::Raw));
        // With a TTL: t1 hello, t2 100 x's, t3 7.
        assert_eq!(v81.string(2, true, 5, false).0, 40);
        assert_eq!(v81.string(2, true, 100, false), (144, MemEncoding::Raw));
        assert_eq!(v91.string(2, true, 100, false), (136, MemEncoding::Embstr));
        assert_eq!(v81.string(2, true, 1, true).0, 40);
    }

    /// One-bucket tables as Valkey reports them: a set of one 100-byte
    /// member, hashes of one field.
    #[test]
    fn small_tables_as_measured() {
        for (v, set, hash1, hash2) in [(vk(false), 264, 280, 496), (vk(true), 272, 296, 512)] {
            let robj = v.robj(2, false);
            assert_eq!(robj + v.hashtable(1, Table::Set).0 + v.member(100), set);
            let h = |f, val| robj + v.hashtable(1, Table::Hash).0 + v.hash_entry(f, val, false);
            assert_eq!(h(1, 100), hash1);
            assert_eq!(h(100, 200), hash2);
        }
        // A 70-byte field with a one-byte value shares one allocation.
        assert_eq!(vk(false).hash_entry(70, 1, false), 88);
    }

    #[test]
    fn rax_of_one_key_and_empty() {
        let v = vk(false);
        assert_eq!(v.rax_alloc(&mut []), 64);
        assert_eq!(v.rax_alloc(&mut [[7u8; 16]]), 104);
    }

    #[test]
    fn bucket_sizing() {
        assert_eq!(buckets(1), 1);
        assert_eq!(buckets(7), 2);
        assert_eq!(buckets(129), 32);
        assert_eq!(buckets(1000), 256);
        // About 5% of buckets overflow at 1000 entries in 256.
        let c = expected_children(1000, 256);
        assert!((10.0..16.0).contains(&c), "{c}");
        assert!(expected_children(10, 1 << 20) < 1e-6);
    }
}
