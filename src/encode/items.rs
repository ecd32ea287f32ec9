//! Collections: lists, sets, sorted sets, hashes and arrays, encoded in the
//! form a server of the target version chooses (quicklist, listpack,
//! ziplist, intset, zipmap or the plain form).
//!
//! The write side of `decode/items.rs`: [`HashEntry`] is the owned
//! counterpart of [`HashField`](crate::decode::HashField), [`ArrayItem`] of
//! [`ArrayValue`](crate::decode::ArrayValue).

use super::blob::{be, intset, zipmap, BlobElem, ListpackBuilder, ZiplistBuilder};
use super::config::{enc_err, AllowLoss, EncodeConfig, Losses};
use super::double::{score_text, text_double};
use super::primitives::{write_blob, write_len, write_str, write_text_double, StrOpts};
use crate::format::{parse_canonical_int, rdb_type as t, Lineage};
use crate::release::Target;
use crate::Result;

/// One hash field.
#[derive(Debug, Clone, PartialEq)]
pub struct HashEntry {
    /// Field name.
    pub field: Vec<u8>,
    /// Value.
    pub value: Vec<u8>,
    /// Absolute expiry in unix ms.
    pub expire_ms: Option<i64>,
}

/// One array element value.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrayItem {
    /// Byte string.
    Bytes(Vec<u8>),
    /// Integer.
    Int(i64),
    /// Double.
    Float(f64),
}

/// Quicklist node size classes of `list-max-listpack-size` -1 … -5.
const OPTIMIZATION_LEVEL: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// Quicklist nodes never grow past this with a count limit.
const SIZE_SAFETY_LIMIT: usize = 8192;

/// Whether a quicklist node of `node_sz` bytes and `count` elements takes
/// one more element of `sz` bytes (`_quicklistNodeAllowInsert`).
pub(crate) fn node_allows(
    version: u32,
    fill: i32,
    node_sz: usize,
    count: usize,
    sz: usize,
) -> bool {
    if version >= 10 {
        // Redis 7.0+ (listpack nodes): a flat 8-byte estimate and
        // quicklistNodeExceedsLimit (checked against Redis 7.0 and 7.4).
        let new_sz = node_sz + sz + 8;
        if fill < 0 {
            let level = ((-(fill as i64)) - 1).min(4) as usize;
            new_sz <= OPTIMIZATION_LEVEL[level]
        } else {
            new_sz <= SIZE_SAFETY_LIMIT && count < fill.max(1) as usize
        }
    } else {
        // Redis 3.2 … 6.2 (ziplist nodes): the ziplist entry-overhead estimate.
        let mut overhead = if sz < 254 { 1 } else { 5 };
        overhead += if sz < 64 {
            1
        } else if sz < 16384 {
            2
        } else {
            5
        };
        let new_sz = node_sz + sz + overhead;
        if fill < 0 {
            let level = ((-(fill as i64)) - 1).min(4) as usize;
            new_sz <= OPTIMIZATION_LEVEL[level]
        } else {
            new_sz <= SIZE_SAFETY_LIMIT && count < fill as usize
        }
    }
}

/// Writes a collection in its plain form: count, then each string.
fn write_plain(out: &mut Vec<u8>, items: &[Vec<u8>], so: StrOpts) {
    write_len(out, items.len() as u64);
    for i in items {
        write_str(out, i, so);
    }
}

/// One quicklist node: a packed run of elements or one PLAIN element.
enum QlNode<'v> {
    Packed(Vec<u8>),
    Plain(&'v [u8]),
}

/// Splits a list into quicklist nodes as the server does when the
/// elements are pushed one by one at the tail.
fn quicklist_nodes<'v>(
    items: &'v [Vec<u8>],
    target: Target,
    cfg: &EncodeConfig,
) -> Vec<QlNode<'v>> {
    let v = target.version;
    let fill = cfg.list_max_listpack_size;
    let mut nodes = Vec::new();
    if v >= 10 {
        let mut cur = ListpackBuilder::new();
        for it in items {
            let sz = it.len();
            if sz >= cfg.packed_threshold {
                if !cur.is_empty() {
                    nodes.push(QlNode::Packed(std::mem::take(&mut cur).finish()));
                }
                nodes.push(QlNode::Plain(it.as_slice()));
                continue;
            }
            if !cur.is_empty() && !node_allows(v, fill, cur.len() + 1, cur.count() as usize, sz) {
                nodes.push(QlNode::Packed(std::mem::take(&mut cur).finish()));
            }
            cur.push(be(it));
        }
        if !cur.is_empty() {
            nodes.push(QlNode::Packed(cur.finish()));
        }
    } else {
        let mut cur = ZiplistBuilder::new();
        for it in items {
            let sz = it.len();
            if !cur.is_empty() && !node_allows(v, fill, cur.len() + 1, cur.count() as usize, sz) {
                nodes.push(QlNode::Packed(std::mem::take(&mut cur).finish()));
            }
            cur.push(be(it));
        }
        if !cur.is_empty() {
            nodes.push(QlNode::Packed(cur.finish()));
        }
    }
    nodes
}

pub(super) fn encode_list(
    items: &[Vec<u8>],
    target: Target,
    cfg: &EncodeConfig,
    out: &mut Vec<u8>,
) -> u8 {
    let so = cfg.str_opts();
    let v = target.version;
    if items.is_empty() {
        write_len(out, 0);
        return t::LIST;
    }
    if v >= 7 {
        let nodes = quicklist_nodes(items, target, cfg);
        write_len(out, nodes.len() as u64);
        for n in nodes {
            match n {
                QlNode::Packed(b) => {
                    if v >= 10 {
                        write_len(out, 2);
                    }
                    write_blob(out, &b, so);
                }
                QlNode::Plain(e) => {
                    write_len(out, 1);
                    write_blob(out, e, so);
                }
            }
        }
        return if v >= 10 {
            t::LIST_QUICKLIST_2
        } else {
            t::LIST_QUICKLIST
        };
    }
    if v >= 2
        && items.len() <= cfg.list_max_ziplist_entries
        && items.iter().all(|i| i.len() <= cfg.list_max_ziplist_value)
    {
        let mut z = ZiplistBuilder::for_version(v);
        for i in items {
            z.push(be(i));
        }
        write_blob(out, &z.finish(), so);
        return t::LIST_ZIPLIST;
    }
    write_plain(out, items, so);
    t::LIST
}

pub(super) fn encode_set(
    items: &[Vec<u8>],
    target: Target,
    cfg: &EncodeConfig,
    out: &mut Vec<u8>,
) -> u8 {
    let so = cfg.str_opts();
    let v = target.version;
    if v >= 2 && !items.is_empty() && items.len() <= cfg.set_max_intset_entries {
        let ints: Option<Vec<i64>> = items.iter().map(|i| parse_canonical_int(i)).collect();
        if let Some(ints) = ints {
            write_blob(out, &intset(&ints), so);
            return t::SET_INTSET;
        }
    }
    if v >= 11
        && !items.is_empty()
        && items.len() <= cfg.set_max_listpack_entries
        && items.iter().all(|i| i.len() <= cfg.set_max_listpack_value)
    {
        let mut lp = ListpackBuilder::new();
        for i in items {
            lp.push(be(i));
        }
        write_blob(out, &lp.finish(), so);
        return t::SET_LISTPACK;
    }
    write_plain(out, items, so);
    t::SET
}

pub(super) fn encode_zset(
    items: &[(Vec<u8>, f64)],
    target: Target,
    cfg: &EncodeConfig,
    out: &mut Vec<u8>,
) -> Result<u8> {
    let so = cfg.str_opts();
    let v = target.version;
    if items.iter().any(|(_, s)| s.is_nan()) {
        return Err(enc_err("sorted set with a NaN score".into()));
    }
    // Ascending (score, member) as the server orders them; -0 and 0 are equal scores.
    let mut sorted: Vec<&(Vec<u8>, f64)> = items.iter().collect();
    sorted.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    if v >= 2
        && !items.is_empty()
        && items.len() <= cfg.zset_max_listpack_entries
        && items
            .iter()
            .all(|(m, _)| m.len() <= cfg.zset_max_listpack_value)
    {
        if v >= 10 {
            let mut lp = ListpackBuilder::new();
            for (m, s) in &sorted {
                lp.push(be(m));
                lp.push(be(score_text(*s, v).as_bytes()));
            }
            write_blob(out, &lp.finish(), so);
            return Ok(t::ZSET_LISTPACK);
        }
        let mut z = ZiplistBuilder::for_version(v);
        for (m, s) in &sorted {
            z.push(be(m));
            z.push(be(score_text(*s, v).as_bytes()));
        }
        write_blob(out, &z.finish(), so);
        return Ok(t::ZSET_ZIPLIST);
    }
    write_len(out, items.len() as u64);
    // Skiplists are saved from the tail: highest score first.
    for (m, s) in sorted.iter().rev() {
        write_str(out, m, so);
        if v >= 8 {
            out.extend_from_slice(&s.to_le_bytes());
        } else if s.is_finite() {
            let txt = text_double(*s);
            out.push(txt.len() as u8);
            out.extend_from_slice(txt.as_bytes());
        } else {
            write_text_double(out, *s);
        }
    }
    Ok(if v >= 8 { t::ZSET_2 } else { t::ZSET })
}

/// Largest hash field TTL Redis stores (`EB_EXPIRE_TIME_MAX`, 2^48 - 1).
const HFE_MAX: i64 = 0xFFFF_FFFF_FFFF;

pub(super) fn encode_hash(
    fields: &[HashEntry],
    target: Target,
    cfg: &EncodeConfig,
    allow: AllowLoss,
    losses: &mut Losses,
    out: &mut Vec<u8>,
) -> Result<u8> {
    let so = cfg.str_opts();
    let v = target.version;
    let ttls = fields.iter().filter(|f| f.expire_ms.is_some()).count() as u64;
    let small = !fields.is_empty()
        && fields.len() <= cfg.hash_max_listpack_entries
        && fields.iter().all(|f| {
            f.field.len() <= cfg.hash_max_listpack_value
                && f.value.len() <= cfg.hash_max_listpack_value
        });
    if ttls > 0 && !target.has_field_ttls() {
        if !allow.field_ttls {
            return Err(crate::Error::loss(crate::Loss::FieldTtls, format!(
                "{ttls} hash field TTLs cannot be written to {target} (needs Redis RDB 12+ or Valkey 9)"
            )));
        }
        losses.field_ttls += ttls;
    }
    if ttls > 0 && target.has_field_ttls() {
        if target.lineage == Lineage::Valkey {
            // Valkey HASH_2: field, value, i64 expire (-1 = none).
            if let Some(bad) = fields.iter().filter_map(|f| f.expire_ms).find(|e| *e < 0) {
                return Err(enc_err(format!("hash field TTL {bad} is out of range")));
            }
            write_len(out, fields.len() as u64);
            for f in fields {
                write_str(out, &f.field, so);
                write_str(out, &f.value, so);
                out.extend_from_slice(&f.expire_ms.unwrap_or(-1).to_le_bytes());
            }
            return Ok(t::HASH_METADATA_PRE_GA_OR_HASH_2);
        }
        if let Some(bad) = fields
            .iter()
            .filter_map(|f| f.expire_ms)
            .find(|e| !(1..=HFE_MAX).contains(e))
        {
            return Err(enc_err(format!(
                "hash field TTL {bad} is out of Redis's range 1..2^48-1"
            )));
        }
        let min = fields.iter().filter_map(|f| f.expire_ms).min().unwrap_or(0);
        // min_expire: Redis writes its cached next-expiry hint (the loader
        // ignores it for type 25 and uses it as the base for type 24); the
        // true minimum is always valid.
        out.extend_from_slice(&(min as u64).to_le_bytes());
        if small {
            // Listpack-ex: TTL'd fields first in ascending TTL order, then the rest.
            let mut order: Vec<&HashEntry> = fields.iter().collect();
            order.sort_by_key(|f| (f.expire_ms.is_none(), f.expire_ms.unwrap_or(0)));
            let mut lp = ListpackBuilder::new();
            for f in order {
                lp.push(be(&f.field));
                lp.push(be(&f.value));
                lp.push(BlobElem::Int(f.expire_ms.unwrap_or(0)));
            }
            write_blob(out, &lp.finish(), so);
            return Ok(t::HASH_LISTPACK_EX);
        }
        // Hashtable with TTLs: each TTL relative to min_expire, plus one; 0 = none.
        write_len(out, fields.len() as u64);
        for f in fields {
            let ttl = f.expire_ms.map_or(0, |e| (e - min) as u64 + 1);
            write_len(out, ttl);
            write_str(out, &f.field, so);
            write_str(out, &f.value, so);
        }
        return Ok(t::HASH_METADATA);
    }
    if v >= 10 && small {
        let mut lp = ListpackBuilder::new();
        for f in fields {
            lp.push(be(&f.field));
            lp.push(be(&f.value));
        }
        write_blob(out, &lp.finish(), so);
        return Ok(t::HASH_LISTPACK);
    }
    if (4..10).contains(&v) && small {
        let mut z = ZiplistBuilder::for_version(v);
        for f in fields {
            z.push(be(&f.field));
            z.push(be(&f.value));
        }
        write_blob(out, &z.finish(), so);
        return Ok(t::HASH_ZIPLIST);
    }
    if (2..4).contains(&v) && small {
        let pairs: Vec<(&[u8], &[u8])> = fields
            .iter()
            .map(|f| (f.field.as_slice(), f.value.as_slice()))
            .collect();
        write_blob(out, &zipmap(&pairs), so);
        return Ok(t::HASH_ZIPMAP);
    }
    write_len(out, fields.len() as u64);
    for f in fields {
        write_str(out, &f.field, so);
        write_str(out, &f.value, so);
    }
    Ok(t::HASH)
}

/// Writes an array (Redis 8.8+): count, insert index, then each element
/// with its index and its type.
pub(super) fn encode_array(
    items: &[(u64, ArrayItem)],
    insert_idx: Option<u64>,
    target: Target,
    cfg: &EncodeConfig,
    out: &mut Vec<u8>,
) -> Result<u8> {
    let so = cfg.str_opts();
    if !target.can_read(t::ARRAY, Lineage::Redis) {
        return Err(enc_err(format!(
            "arrays need Redis RDB 14 (Redis 8.8); target is {target}"
        )));
    }
    if items.is_empty() {
        return Err(enc_err("an array must have at least one element".into()));
    }
    write_len(out, items.len() as u64);
    match insert_idx {
        Some(i) => {
            write_len(out, 1);
            write_len(out, i);
        }
        None => write_len(out, 0),
    }
    for (i, x) in items {
        write_len(out, *i);
        match x {
            ArrayItem::Bytes(b) => {
                write_len(out, if b.len() <= 7 { 3 } else { 0 });
                write_str(out, b, so);
            }
            ArrayItem::Int(n) => {
                write_len(out, 1);
                out.extend_from_slice(&n.to_le_bytes());
            }
            ArrayItem::Float(f) => {
                write_len(out, 2);
                out.extend_from_slice(&f.to_le_bytes());
            }
        }
    }
    Ok(t::ARRAY)
}
