//! Owned values: a builder model for every type, built by hand or from a
//! decoded value, and encoded for a target version with the encodings a
//! server of that version would choose.

use super::blob::{intset, zipmap, BlobElem, ListpackBuilder, ZiplistBuilder};
use super::primitives::{
    write_blob, write_len, write_raw_str, write_str, write_text_double, StrOpts,
};
use super::target::Target;
use crate::decode::{ArrayValue, Kind, StreamId, Value};
use crate::format::{parse_canonical_int, rdb_type as t, Lineage, ModuleId};
use crate::{Error, ErrorKind, Result};

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

/// One pending entry of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingValue {
    /// Entry ID.
    pub id: StreamId,
    /// Last delivery (unix ms).
    pub delivery_time_ms: i64,
    /// Delivery count.
    pub delivery_count: u64,
}

/// A consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerValue {
    /// Name.
    pub name: Vec<u8>,
    /// Seen time (unix ms).
    pub seen_time_ms: i64,
    /// Active time (unix ms), v3+.
    pub active_time_ms: Option<i64>,
    /// Owned PEL IDs.
    pub pel: Vec<StreamId>,
}

/// A consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    /// Name.
    pub name: Vec<u8>,
    /// Last delivered ID.
    pub last_id: StreamId,
    /// Entries read (`None` = unknown).
    pub entries_read: Option<u64>,
    /// Group PEL.
    pub pel: Vec<PendingValue>,
    /// Consumers.
    pub consumers: Vec<ConsumerValue>,
    /// NACK zone (v5+).
    pub nacked: Vec<StreamId>,
}

/// IDMP state copied verbatim (v4+).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdmpValue {
    /// Duration in seconds.
    pub duration_s: u64,
    /// Max entries.
    pub max_entries: u64,
    /// Producer count.
    pub producers: u64,
    /// Encoded producer list.
    pub producers_raw: Vec<u8>,
    /// IIDs added.
    pub iids_added: u64,
    /// Duplicates.
    pub iids_duplicates: u64,
}

/// A stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamValue {
    /// Live entries in ID order.
    pub entries: Vec<(StreamId, Vec<(Vec<u8>, Vec<u8>)>)>,
    /// Last ID ever added.
    pub last_id: StreamId,
    /// First live ID (`None`: derive from entries).
    pub first_id: Option<StreamId>,
    /// Max deleted ID (`None`: 0-0).
    pub max_deleted_id: Option<StreamId>,
    /// Entries ever added (`None`: the entry count).
    pub entries_added: Option<u64>,
    /// Groups.
    pub groups: Vec<GroupValue>,
    /// IDMP state.
    pub idmp: Option<IdmpValue>,
}

/// A value of any type, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum OwnedValue {
    /// String.
    String(Vec<u8>),
    /// List.
    List(Vec<Vec<u8>>),
    /// Set.
    Set(Vec<Vec<u8>>),
    /// Sorted set.
    ZSet(Vec<(Vec<u8>, f64)>),
    /// Hash.
    Hash(Vec<HashEntry>),
    /// Stream.
    Stream(Box<StreamValue>),
    /// Module value: id and sub-opcode stream (including the final EOF).
    Module {
        /// Module type id.
        id: ModuleId,
        /// Serialised payload.
        payload: Vec<u8>,
    },
    /// Array (Redis 8.8+): elements by index, and the insert index if any.
    Array {
        /// Elements in index order.
        items: Vec<(u64, ArrayItem)>,
        /// Insert index.
        insert_idx: Option<u64>,
    },
}

/// Which information losses the caller allows when a target cannot hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AllowLoss {
    /// Drop hash field TTLs (target below RDB 12).
    pub field_ttls: bool,
    /// Drop stream metadata the target's stream type cannot carry.
    pub stream_metadata: bool,
}

/// Losses that happened (allowed) while encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Losses {
    /// Hash fields whose TTL was dropped.
    pub field_ttls: u64,
    /// Streams whose metadata was reduced.
    pub stream_metadata: u64,
}

impl Losses {
    /// Adds another tally.
    pub fn add(&mut self, o: Losses) {
        self.field_ttls += o.field_ttls;
        self.stream_metadata += o.stream_metadata;
    }
}

/// Redis's default thresholds for compact encodings.
mod limits {
    pub const LISTPACK_ENTRIES: usize = 128;
    pub const ZIPLIST_HASH_ENTRIES: usize = 512;
    pub const VALUE_BYTES: usize = 64;
    pub const INTSET_ENTRIES: usize = 512;
    pub const LIST_ZIPLIST_ENTRIES: usize = 512;
    pub const NODE_BYTES: usize = 8192;
    pub const STREAM_NODE_ENTRIES: usize = 100;
    pub const STREAM_NODE_BYTES: usize = 4096;
}

fn enc_err(what: String) -> Error {
    Error::new(ErrorKind::Encode(what), 0)
}

impl OwnedValue {
    /// The logical type.
    pub fn kind(&self) -> Kind {
        match self {
            OwnedValue::String(_) => Kind::String,
            OwnedValue::List(_) => Kind::List,
            OwnedValue::Set(_) => Kind::Set,
            OwnedValue::ZSet(_) => Kind::ZSet,
            OwnedValue::Hash(_) => Kind::Hash,
            OwnedValue::Stream(_) => Kind::Stream,
            OwnedValue::Module { .. } => Kind::Module,
            OwnedValue::Array { .. } => Kind::Array,
        }
    }

    /// Materialises a decoded value.
    ///
    /// ```
    /// use rdbkit::decode::{decode_payload, Options};
    /// use rdbkit::encode::OwnedValue;
    /// let mut p = vec![0x00, 0x01, b'x', 0x0a, 0x00];
    /// p.extend_from_slice(&[0; 8]);
    /// let d = decode_payload(&p, Options::default()).unwrap();
    /// assert_eq!(OwnedValue::from_value(&d.value).unwrap(), OwnedValue::String(b"x".to_vec()));
    /// ```
    pub fn from_value(v: &Value<'_>) -> Result<OwnedValue> {
        Ok(match v.kind() {
            Kind::String => OwnedValue::String(v.string()?.to_bytes()?.into_owned()),
            Kind::List | Kind::Set => {
                let mut it = v.items()?;
                let mut out = Vec::new();
                while let Some(e) = it.next_elem()? {
                    out.push(e.to_bytes().into_owned());
                }
                if v.kind() == Kind::List {
                    OwnedValue::List(out)
                } else {
                    OwnedValue::Set(out)
                }
            }
            Kind::ZSet => {
                let mut it = v.items()?;
                let mut out = Vec::new();
                while let Some((m, s)) = it.next_scored()? {
                    out.push((m.to_bytes().into_owned(), s));
                }
                OwnedValue::ZSet(out)
            }
            Kind::Hash => {
                let mut it = v.items()?;
                let mut out = Vec::new();
                while let Some(f) = it.next_field()? {
                    out.push(HashEntry {
                        field: f.field.to_bytes().into_owned(),
                        value: f.value.to_bytes().into_owned(),
                        expire_ms: f.expire_ms,
                    });
                }
                OwnedValue::Hash(out)
            }
            Kind::Array => {
                let mut it = v.items()?;
                let insert_idx = it.array_insert_idx;
                let mut items = Vec::new();
                while let Some((i, x)) = it.next_array()? {
                    items.push((
                        i,
                        match x {
                            ArrayValue::Bytes(b) => ArrayItem::Bytes(b.to_bytes().into_owned()),
                            ArrayValue::Int(n) => ArrayItem::Int(n),
                            ArrayValue::Float(f) => ArrayItem::Float(f),
                        },
                    ));
                }
                OwnedValue::Array { items, insert_idx }
            }
            Kind::Module => {
                let m = v.module()?;
                OwnedValue::Module {
                    id: m.id,
                    payload: m.payload.to_vec(),
                }
            }
            Kind::Stream => OwnedValue::Stream(Box::new(stream_from_value(v)?)),
        })
    }

    /// Encodes the value for `target`, returning the type byte and the value
    /// bytes. Information the target cannot hold is an error unless allowed
    /// in `allow`; allowed losses are added to `losses`.
    ///
    /// ```
    /// use rdbkit::encode::{OwnedValue, Target, AllowLoss, Losses};
    /// let v = OwnedValue::Set(vec![b"1".to_vec(), b"2".to_vec()]);
    /// let mut l = Losses::default();
    /// let (ty, _) = v.encode(Target::redis(10), AllowLoss::default(), &mut l).unwrap();
    /// assert_eq!(ty, 11); // intset
    /// ```
    pub fn encode(
        &self,
        target: Target,
        allow: AllowLoss,
        losses: &mut Losses,
    ) -> Result<(u8, Vec<u8>)> {
        let so = StrOpts::default();
        let v = target.version;
        let mut out = Vec::new();
        let ty = match self {
            OwnedValue::String(s) => {
                write_str(&mut out, s, so);
                t::STRING
            }
            OwnedValue::List(items) => encode_list(items, target, &mut out),
            OwnedValue::Set(items) => encode_set(items, target, &mut out),
            OwnedValue::ZSet(items) => encode_zset(items, target, &mut out)?,
            OwnedValue::Hash(fields) => encode_hash(fields, target, allow, losses, &mut out)?,
            OwnedValue::Stream(s) => encode_stream(s, target, allow, losses, &mut out)?,
            OwnedValue::Module { id, payload } => {
                if v < 8 {
                    return Err(enc_err(format!(
                        "module value ({}) needs RDB 8 or later",
                        id.name()
                    )));
                }
                write_len(&mut out, id.0);
                out.extend_from_slice(payload);
                t::MODULE_2
            }
            OwnedValue::Array { items, insert_idx } => {
                if !target.can_read(t::ARRAY, Lineage::Redis) {
                    return Err(enc_err(format!(
                        "arrays need Redis RDB 14 (Redis 8.8); target is {target}"
                    )));
                }
                if items.is_empty() {
                    return Err(enc_err("an array must have at least one element".into()));
                }
                write_len(&mut out, items.len() as u64);
                match insert_idx {
                    Some(i) => {
                        write_len(&mut out, 1);
                        write_len(&mut out, *i);
                    }
                    None => write_len(&mut out, 0),
                }
                for (i, x) in items {
                    write_len(&mut out, *i);
                    match x {
                        ArrayItem::Bytes(b) => {
                            write_len(&mut out, if b.len() <= 7 { 3 } else { 0 });
                            write_str(&mut out, b, so);
                        }
                        ArrayItem::Int(n) => {
                            write_len(&mut out, 1);
                            out.extend_from_slice(&n.to_le_bytes());
                        }
                        ArrayItem::Float(f) => {
                            write_len(&mut out, 2);
                            out.extend_from_slice(&f.to_le_bytes());
                        }
                    }
                }
                t::ARRAY
            }
        };
        Ok((ty, out))
    }
}

fn be(b: &[u8]) -> BlobElem<'_> {
    BlobElem::Bytes(b)
}

fn encode_list(items: &[Vec<u8>], target: Target, out: &mut Vec<u8>) -> u8 {
    let so = StrOpts::default();
    let v = target.version;
    if v >= 7 {
        // Quicklist: nodes of at most 8 KB (list-max-listpack-size -2).
        let mut nodes: Vec<Vec<u8>> = Vec::new();
        if v >= 10 {
            let mut cur = ListpackBuilder::new();
            for it in items {
                if !cur.is_empty() && cur.len() + it.len() + 11 > limits::NODE_BYTES {
                    nodes.push(std::mem::take(&mut cur).finish());
                }
                cur.push(be(it));
            }
            if !cur.is_empty() {
                nodes.push(cur.finish());
            }
            write_len(out, nodes.len() as u64);
            for n in nodes {
                write_len(out, 2);
                write_blob(out, &n, so);
            }
            return t::LIST_QUICKLIST_2;
        }
        let mut cur = ZiplistBuilder::new();
        for it in items {
            if !cur.is_empty() && cur.len() + it.len() + 11 > limits::NODE_BYTES {
                nodes.push(std::mem::take(&mut cur).finish());
            }
            cur.push(be(it));
        }
        if !cur.is_empty() {
            nodes.push(cur.finish());
        }
        write_len(out, nodes.len() as u64);
        for n in nodes {
            write_blob(out, &n, so);
        }
        return t::LIST_QUICKLIST;
    }
    if v >= 2
        && items.len() <= limits::LIST_ZIPLIST_ENTRIES
        && items.iter().all(|i| i.len() <= limits::VALUE_BYTES)
    {
        let mut z = ZiplistBuilder::new();
        for i in items {
            z.push(be(i));
        }
        write_blob(out, &z.finish(), so);
        return t::LIST_ZIPLIST;
    }
    write_len(out, items.len() as u64);
    for i in items {
        write_str(out, i, so);
    }
    t::LIST
}

fn encode_set(items: &[Vec<u8>], target: Target, out: &mut Vec<u8>) -> u8 {
    let so = StrOpts::default();
    let v = target.version;
    if v >= 2 && !items.is_empty() && items.len() <= limits::INTSET_ENTRIES {
        let ints: Option<Vec<i64>> = items.iter().map(|i| parse_canonical_int(i)).collect();
        if let Some(ints) = ints {
            write_blob(out, &intset(&ints), so);
            return t::SET_INTSET;
        }
    }
    if v >= 11
        && items.len() <= limits::LISTPACK_ENTRIES
        && items.iter().all(|i| i.len() <= limits::VALUE_BYTES)
    {
        let mut lp = ListpackBuilder::new();
        for i in items {
            lp.push(be(i));
        }
        write_blob(out, &lp.finish(), so);
        return t::SET_LISTPACK;
    }
    write_len(out, items.len() as u64);
    for i in items {
        write_str(out, i, so);
    }
    t::SET
}

fn score_elem(s: f64, buf: &mut String) -> BlobElem<'_> {
    if s.fract() == 0.0 && s.abs() < 1e17 {
        BlobElem::Int(s as i64)
    } else {
        *buf = crate::format::format_double(s);
        BlobElem::Bytes(buf.as_bytes())
    }
}

fn encode_zset(items: &[(Vec<u8>, f64)], target: Target, out: &mut Vec<u8>) -> Result<u8> {
    let so = StrOpts::default();
    let v = target.version;
    if items.iter().any(|(_, s)| s.is_nan()) {
        return Err(enc_err("sorted set with a NaN score".into()));
    }
    let mut sorted: Vec<&(Vec<u8>, f64)> = items.iter().collect();
    sorted.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    if v >= 2
        && items.len() <= limits::LISTPACK_ENTRIES
        && items.iter().all(|(m, _)| m.len() <= limits::VALUE_BYTES)
    {
        let mut buf = String::new();
        if v >= 10 {
            let mut lp = ListpackBuilder::new();
            for (m, s) in &sorted {
                lp.push(be(m));
                lp.push(score_elem(*s, &mut buf));
            }
            write_blob(out, &lp.finish(), so);
            return Ok(t::ZSET_LISTPACK);
        }
        let mut z = ZiplistBuilder::new();
        for (m, s) in &sorted {
            z.push(be(m));
            z.push(score_elem(*s, &mut buf));
        }
        write_blob(out, &z.finish(), so);
        return Ok(t::ZSET_ZIPLIST);
    }
    write_len(out, items.len() as u64);
    // Redis saves skiplists highest score first.
    for (m, s) in sorted.iter().rev() {
        write_str(out, m, so);
        if v >= 8 {
            out.extend_from_slice(&s.to_le_bytes());
        } else {
            write_text_double(out, *s);
        }
    }
    Ok(if v >= 8 { t::ZSET_2 } else { t::ZSET })
}

fn encode_hash(
    fields: &[HashEntry],
    target: Target,
    allow: AllowLoss,
    losses: &mut Losses,
    out: &mut Vec<u8>,
) -> Result<u8> {
    let so = StrOpts::default();
    let v = target.version;
    let ttls = fields.iter().filter(|f| f.expire_ms.is_some()).count() as u64;
    let small = |n: usize| {
        fields.len() <= n
            && fields.iter().all(|f| {
                f.field.len() <= limits::VALUE_BYTES && f.value.len() <= limits::VALUE_BYTES
            })
    };
    if ttls > 0 && !target.has_field_ttls() {
        if !allow.field_ttls {
            return Err(enc_err(format!(
                "{ttls} hash field TTLs cannot be written to {target} (needs RDB 12+); allow with --drop-field-ttls"
            )));
        }
        losses.field_ttls += ttls;
    }
    if ttls > 0 && target.has_field_ttls() {
        if let Some(bad) = fields
            .iter()
            .filter_map(|f| f.expire_ms)
            .find(|e| !(0..=0xFFFF_FFFF_FFFF).contains(e))
        {
            return Err(enc_err(format!("hash field TTL {bad} is out of range")));
        }
        if target.lineage == Lineage::Valkey {
            write_len(out, fields.len() as u64);
            for f in fields {
                write_str(out, &f.field, so);
                write_str(out, &f.value, so);
                out.extend_from_slice(&f.expire_ms.unwrap_or(-1).to_le_bytes());
            }
            return Ok(t::HASH_METADATA_PRE_GA_OR_HASH_2);
        }
        let min = fields.iter().filter_map(|f| f.expire_ms).min().unwrap_or(0);
        if small(limits::LISTPACK_ENTRIES) {
            let mut order: Vec<&HashEntry> = fields.iter().collect();
            order.sort_by_key(|f| (f.expire_ms.is_none(), f.expire_ms.unwrap_or(0)));
            out.extend_from_slice(&(min as u64).to_le_bytes());
            let mut lp = ListpackBuilder::new();
            for f in order {
                lp.push(be(&f.field));
                lp.push(be(&f.value));
                lp.push(BlobElem::Int(f.expire_ms.unwrap_or(0)));
            }
            write_blob(out, &lp.finish(), so);
            return Ok(t::HASH_LISTPACK_EX);
        }
        out.extend_from_slice(&(min as u64).to_le_bytes());
        write_len(out, fields.len() as u64);
        for f in fields {
            let ttl = f.expire_ms.map_or(0, |e| (e - min) as u64 + 1);
            write_len(out, ttl);
            write_str(out, &f.field, so);
            write_str(out, &f.value, so);
        }
        return Ok(t::HASH_METADATA);
    }
    if v >= 10 && small(limits::LISTPACK_ENTRIES) {
        let mut lp = ListpackBuilder::new();
        for f in fields {
            lp.push(be(&f.field));
            lp.push(be(&f.value));
        }
        write_blob(out, &lp.finish(), so);
        return Ok(t::HASH_LISTPACK);
    }
    if (4..10).contains(&v) && small(limits::ZIPLIST_HASH_ENTRIES) {
        let mut z = ZiplistBuilder::new();
        for f in fields {
            z.push(be(&f.field));
            z.push(be(&f.value));
        }
        write_blob(out, &z.finish(), so);
        return Ok(t::HASH_ZIPLIST);
    }
    if (2..4).contains(&v) && small(limits::ZIPLIST_HASH_ENTRIES) {
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

fn stream_from_value(v: &Value<'_>) -> Result<StreamValue> {
    let s = v.stream()?;
    let mut entries = Vec::new();
    let mut cur = s.entries();
    while let Some(e) = cur.next_entry()? {
        entries.push((
            e.id,
            e.fields()
                .map(|(f, x)| (f.to_bytes().into_owned(), x.to_bytes().into_owned()))
                .collect(),
        ));
    }
    let mut groups = Vec::new();
    for g in s.groups() {
        let g = g?;
        let mut pel = Vec::new();
        for p in g.pel() {
            let p = p?;
            pel.push(PendingValue {
                id: p.id,
                delivery_time_ms: p.delivery_time_ms,
                delivery_count: p.delivery_count,
            });
        }
        let mut consumers = Vec::new();
        for c in g.consumers() {
            let c = c?;
            consumers.push(ConsumerValue {
                name: c.name.to_bytes()?.into_owned(),
                seen_time_ms: c.seen_time_ms,
                active_time_ms: c.active_time_ms,
                pel: c.pel().collect(),
            });
        }
        groups.push(GroupValue {
            name: g.name.to_bytes()?.into_owned(),
            last_id: g.last_id,
            entries_read: g.entries_read,
            pel,
            consumers,
            nacked: g.nacked().map(|n| n.collect()).unwrap_or_default(),
        });
    }
    let input = v.ctx();
    let _ = input;
    let idmp = s.idmp.map(|i| IdmpValue {
        duration_s: i.duration_s,
        max_entries: i.max_entries,
        producers: i.producers,
        producers_raw: stream_raw(v, i.producers_span),
        iids_added: i.iids_added,
        iids_duplicates: i.iids_duplicates,
    });
    Ok(StreamValue {
        entries,
        last_id: s.last_id,
        first_id: s.first_id,
        max_deleted_id: s.max_deleted_id,
        entries_added: s.entries_added,
        groups,
        idmp,
    })
}

fn stream_raw(v: &Value<'_>, span: (usize, usize)) -> Vec<u8> {
    let start = v.offset();
    let raw = v.raw();
    raw.get(span.0.saturating_sub(start)..span.1.saturating_sub(start))
        .unwrap_or_default()
        .to_vec()
}

fn write_id(out: &mut Vec<u8>, id: StreamId) {
    write_len(out, id.ms);
    write_len(out, id.seq);
}

fn encode_stream(
    s: &StreamValue,
    target: Target,
    allow: AllowLoss,
    losses: &mut Losses,
    out: &mut Vec<u8>,
) -> Result<u8> {
    let so = StrOpts::default();
    let ty = target
        .stream_type()
        .ok_or_else(|| enc_err(format!("streams need RDB 9 or later; target is {target}")))?;
    let ver = crate::decode::stream_version_of(ty);
    // What would be lost.
    let length = s.entries.len() as u64;
    let first = s.entries.first().map(|e| e.0).unwrap_or_default();
    let mut lost = false;
    if ver < 2 {
        lost |= s.max_deleted_id.is_some_and(|m| m != StreamId::default())
            || s.entries_added.is_some_and(|a| a != length)
            || s.groups.iter().any(|g| g.entries_read.is_some());
    }
    if ver < 3 {
        lost |= s
            .groups
            .iter()
            .flat_map(|g| &g.consumers)
            .any(|c| c.active_time_ms.is_some_and(|a| a != c.seen_time_ms));
    }
    if ver < 4 {
        lost |= s
            .idmp
            .as_ref()
            .is_some_and(|i| i.producers > 0 || i.iids_added > 0 || i.iids_duplicates > 0);
    }
    if ver < 5 {
        lost |= s.groups.iter().any(|g| !g.nacked.is_empty());
    }
    if lost {
        if !allow.stream_metadata {
            return Err(enc_err(format!(
                "stream metadata (first/max-deleted id, entries added, entries read, active time, IDMP or NACK state) cannot be written as stream v{ver} for {target}; allow with --drop-stream-metadata"
            )));
        }
        losses.stream_metadata += 1;
    }
    // Nodes.
    let mut nodes: Vec<(StreamId, Vec<u8>)> = Vec::new();
    let mut i = 0;
    while i < s.entries.len() {
        let master = s.entries[i].0;
        let mfields: Vec<&[u8]> = s.entries[i].1.iter().map(|(f, _)| f.as_slice()).collect();
        let mut lp = ListpackBuilder::new();
        let j_end = (i + limits::STREAM_NODE_ENTRIES).min(s.entries.len());
        let mut j = i;
        let mut body = ListpackBuilder::new();
        while j < j_end {
            let (id, fields) = &s.entries[j];
            if j > i && body.len() > limits::STREAM_NODE_BYTES {
                break;
            }
            let same = fields.len() == mfields.len()
                && fields
                    .iter()
                    .zip(&mfields)
                    .all(|((f, _), m)| f.as_slice() == *m);
            body.push(BlobElem::Int(if same { 2 } else { 0 }));
            body.push(BlobElem::Int(id.ms.wrapping_sub(master.ms) as i64));
            body.push(BlobElem::Int(id.seq.wrapping_sub(master.seq) as i64));
            if same {
                for (_, v) in fields {
                    body.push(be(v));
                }
                body.push(BlobElem::Int(fields.len() as i64 + 3));
            } else {
                body.push(BlobElem::Int(fields.len() as i64));
                for (f, v) in fields {
                    body.push(be(f));
                    body.push(be(v));
                }
                body.push(BlobElem::Int(2 * fields.len() as i64 + 4));
            }
            j += 1;
        }
        lp.push(BlobElem::Int((j - i) as i64));
        lp.push(BlobElem::Int(0));
        lp.push(BlobElem::Int(mfields.len() as i64));
        for f in &mfields {
            lp.push(be(f));
        }
        lp.push(BlobElem::Int(0));
        let merged = append_listpack(lp, body);
        nodes.push((master, merged));
        i = j;
    }
    write_len(out, nodes.len() as u64);
    for (id, lp) in &nodes {
        write_raw_str(out, &id.to_raw());
        write_blob(out, lp, so);
    }
    write_len(out, length);
    write_id(out, s.last_id);
    if ver >= 2 {
        write_id(out, s.first_id.unwrap_or(first));
        write_id(out, s.max_deleted_id.unwrap_or_default());
        write_len(out, s.entries_added.unwrap_or(length));
    }
    write_len(out, s.groups.len() as u64);
    for g in &s.groups {
        write_str(out, &g.name, so);
        write_id(out, g.last_id);
        if ver >= 2 {
            write_len(out, g.entries_read.unwrap_or(u64::MAX));
        }
        // The NACK zone's entries stay in the group PEL only where the target has one.
        let nacked: &[StreamId] = if ver >= 5 { &g.nacked } else { &[] };
        let dropped: Vec<StreamId> = if ver >= 5 {
            Vec::new()
        } else {
            g.nacked.clone()
        };
        let pel: Vec<&PendingValue> = g.pel.iter().filter(|p| !dropped.contains(&p.id)).collect();
        write_len(out, pel.len() as u64);
        for p in pel {
            out.extend_from_slice(&p.id.to_raw());
            out.extend_from_slice(&p.delivery_time_ms.to_le_bytes());
            write_len(out, p.delivery_count);
        }
        write_len(out, g.consumers.len() as u64);
        for c in &g.consumers {
            write_str(out, &c.name, so);
            out.extend_from_slice(&c.seen_time_ms.to_le_bytes());
            if ver >= 3 {
                out.extend_from_slice(&c.active_time_ms.unwrap_or(c.seen_time_ms).to_le_bytes());
            }
            write_len(out, c.pel.len() as u64);
            for id in &c.pel {
                out.extend_from_slice(&id.to_raw());
            }
        }
        if ver >= 5 {
            write_len(out, nacked.len() as u64);
            for id in nacked {
                out.extend_from_slice(&id.to_raw());
            }
        }
    }
    if ver >= 4 {
        match &s.idmp {
            Some(i) => {
                write_len(out, i.duration_s);
                write_len(out, i.max_entries);
                write_len(out, i.producers);
                out.extend_from_slice(&i.producers_raw);
                write_len(out, i.iids_added);
                write_len(out, i.iids_duplicates);
            }
            None => {
                // Redis's defaults: 100 s, 100 entries, no producers.
                write_len(out, 100);
                write_len(out, 100);
                write_len(out, 0);
                write_len(out, 0);
                write_len(out, 0);
            }
        }
    }
    Ok(ty)
}

/// Concatenates the elements of two listpack builders.
fn append_listpack(mut head: ListpackBuilder, body: ListpackBuilder) -> Vec<u8> {
    head.extend(body);
    head.finish()
}
