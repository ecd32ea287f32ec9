//! Streams: the node listpacks split as the server splits them, metadata,
//! consumer groups, PELs, consumers, NACK zones and IDMP state, written as
//! the stream type of the target version.
//!
//! The write side of `decode/stream.rs`: [`StreamValue`] is the owned
//! counterpart of [`Stream`](crate::decode::Stream), [`GroupValue`] of
//! [`Group`](crate::decode::Group), [`ConsumerValue`] of
//! [`Consumer`](crate::decode::Consumer), [`PendingValue`] of
//! [`PendingEntry`](crate::decode::PendingEntry) and [`IdmpValue`] of
//! [`Idmp`](crate::decode::Idmp).

use super::blob::{be, BlobElem, ListpackBuilder};
use super::config::{enc_err, AllowLoss, EncodeConfig, Losses};
use super::primitives::{write_blob, write_len, write_raw_str, write_str};
use crate::decode::Value;
use crate::format::StreamId;
use crate::release::Target;
use crate::Result;

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

/// The field/value pairs of one stream entry.
pub type StreamFields = Vec<(Vec<u8>, Vec<u8>)>;

/// A stream.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamValue {
    /// Live entries in ID order.
    pub entries: Vec<(StreamId, StreamFields)>,
    /// The stored length (`None`: the entry count). Redis keeps the stored
    /// length when it loads a stream, even one that differs from the entry
    /// count (Redis 5 wrote such streams), so a copy keeps it too.
    pub length: Option<u64>,
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

/// Largest stream node listpack (`STREAM_LISTPACK_MAX_SIZE`).
const STREAM_LISTPACK_MAX_SIZE: usize = 1 << 30;

pub(super) fn stream_from_value(v: &Value<'_>) -> Result<StreamValue> {
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
        length: Some(s.length),
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

/// IDMP settings written for a stream that has none (Redis's
/// `stream-idmp-duration` and `stream-idmp-maxsize` defaults, 100 s and 100
/// entries: the values client test suites read back from a default Redis
/// 8.6; both are inside the ranges the loader checks, 1..86400 and 1..10000).
pub const IDMP_DEFAULT_DURATION_S: u64 = 100;
/// See [`IDMP_DEFAULT_DURATION_S`].
pub const IDMP_DEFAULT_MAX_ENTRIES: u64 = 100;

/// What an older stream type cannot carry, as a list of descriptions.
fn stream_losses(s: &StreamValue, ver: u8) -> Vec<&'static str> {
    let length = s.length.unwrap_or(s.entries.len() as u64);
    let first = s.entries.first().map(|e| e.0).unwrap_or_default();
    let mut lost = Vec::new();
    if ver < 2 {
        // A v1 loader derives first id = first entry, max deleted = 0-0,
        // entries added = length, and estimates entries read.
        if s.first_id.is_some_and(|f| f != first) {
            lost.push("first id");
        }
        if s.max_deleted_id.is_some_and(|m| m != StreamId::default()) {
            lost.push("max deleted id");
        }
        if s.entries_added.is_some_and(|a| a != length) {
            lost.push("entries added");
        }
        if s.groups.iter().any(|g| g.entries_read.is_some()) {
            lost.push("group entries read");
        }
    }
    if ver < 3
        && s.groups
            .iter()
            .flat_map(|g| &g.consumers)
            .any(|c| c.active_time_ms.is_some_and(|a| a != c.seen_time_ms))
    {
        // A v1/v2 loader sets active time = seen time.
        lost.push("consumer active time");
    }
    if ver < 4
        && s.idmp
            .as_ref()
            .is_some_and(|i| i.producers > 0 || i.iids_added > 0 || i.iids_duplicates > 0)
    {
        lost.push("IDMP state");
    }
    if ver < 5 && s.groups.iter().any(|g| !g.nacked.is_empty()) {
        lost.push("NACK zone");
    }
    lost
}

/// Bytes a listpack integer element takes, backlen included.
fn lp_int_size(v: i64) -> usize {
    let data = if (0..=127).contains(&v) {
        1
    } else if (-4096..=4095).contains(&v) {
        2
    } else if (-32768..=32767).contains(&v) {
        3
    } else if (-8388608..=8388607).contains(&v) {
        4
    } else if i32::try_from(v).is_ok() {
        5
    } else {
        9
    };
    data + 1
}

/// Builds the node listpacks of a stream as `streamAppendItem` does when
/// the entries are added in order: a new node when the current one plus
/// the entry's field and value bytes reaches `stream-node-max-bytes`, or
/// it holds `stream-node-max-entries` entries. That is the rule since
/// Redis 5.0.14 / 6.0.16 / 6.2.6 and in every Valkey (checked against
/// DUMP of Redis 6.2, 7.0, 7.4, Valkey 8.1, 9.1); earlier patch releases
/// let a node grow until it was already over the byte limit.
fn stream_nodes(s: &StreamValue, cfg: &EncodeConfig) -> Vec<(StreamId, Vec<u8>)> {
    struct Node<'s> {
        master: StreamId,
        fields: Vec<&'s [u8]>,
        count: usize,
        /// Master-entry elements after the count: deleted, num-fields, fields, 0.
        rest: ListpackBuilder,
        body: ListpackBuilder,
    }
    impl Node<'_> {
        /// Total listpack bytes, end byte included.
        fn bytes(&self) -> usize {
            6 + lp_int_size(self.count as i64) + (self.rest.len() - 6) + (self.body.len() - 6) + 1
        }
        fn finish(self) -> (StreamId, Vec<u8>) {
            let mut lp = ListpackBuilder::new();
            lp.push(BlobElem::Int(self.count as i64));
            lp.extend(self.rest);
            lp.extend(self.body);
            (self.master, lp.finish())
        }
    }
    let max_bytes = match cfg.stream_node_max_bytes {
        0 => STREAM_LISTPACK_MAX_SIZE,
        b => b.min(STREAM_LISTPACK_MAX_SIZE),
    };
    let mut out = Vec::new();
    let mut cur: Option<Node<'_>> = None;
    for (id, fields) in &s.entries {
        if let Some(n) = &cur {
            let totelelen: usize = fields.iter().map(|(f, v)| f.len() + v.len()).sum();
            let full = n.bytes() + totelelen >= max_bytes
                || (cfg.stream_node_max_entries > 0 && n.count >= cfg.stream_node_max_entries);
            if full {
                out.push(cur.take().expect("node").finish());
            }
        }
        let n = cur.get_or_insert_with(|| {
            let mut rest = ListpackBuilder::new();
            rest.push(BlobElem::Int(0));
            rest.push(BlobElem::Int(fields.len() as i64));
            for (f, _) in fields {
                rest.push(be(f));
            }
            rest.push(BlobElem::Int(0));
            Node {
                master: *id,
                fields: fields.iter().map(|(f, _)| f.as_slice()).collect(),
                count: 0,
                rest,
                body: ListpackBuilder::new(),
            }
        });
        let same = fields.len() == n.fields.len()
            && fields
                .iter()
                .zip(&n.fields)
                .all(|((f, _), m)| f.as_slice() == *m);
        let b = &mut n.body;
        b.push(BlobElem::Int(if same { 2 } else { 0 }));
        b.push(BlobElem::Int(id.ms.wrapping_sub(n.master.ms) as i64));
        b.push(BlobElem::Int(id.seq.wrapping_sub(n.master.seq) as i64));
        if same {
            for (_, v) in fields {
                b.push(be(v));
            }
            b.push(BlobElem::Int(fields.len() as i64 + 3));
        } else {
            b.push(BlobElem::Int(fields.len() as i64));
            for (f, v) in fields {
                b.push(be(f));
                b.push(be(v));
            }
            b.push(BlobElem::Int(2 * fields.len() as i64 + 4));
        }
        n.count += 1;
    }
    if let Some(n) = cur {
        out.push(n.finish());
    }
    out
}

pub(super) fn encode_stream(
    s: &StreamValue,
    target: Target,
    cfg: &EncodeConfig,
    allow: AllowLoss,
    losses: &mut Losses,
    out: &mut Vec<u8>,
) -> Result<u8> {
    let so = cfg.str_opts();
    let ty = target
        .stream_type()
        .ok_or_else(|| enc_err(format!("streams need RDB 9 or later; target is {target}")))?;
    let ver = crate::decode::stream_version_of(ty);
    // The stored length as it is (see `StreamValue::length`).
    let mut length = s.length.unwrap_or(s.entries.len() as u64);
    let first = s.entries.first().map(|e| e.0).unwrap_or_default();
    let lost = stream_losses(s, ver);
    if !lost.is_empty() {
        if !allow.stream_metadata {
            return Err(crate::Error::loss(
                crate::Loss::StreamMetadata,
                format!(
                    "stream {} cannot be written as stream v{ver} ({target})",
                    lost.join(", ")
                ),
            ));
        }
        losses.stream_metadata += 1;
    }
    if let Some(w) = s.entries.windows(2).find(|w| w[0].0 >= w[1].0) {
        return Err(enc_err(format!(
            "stream entries are not in ascending ID order ({} then {})",
            w[0].0, w[1].0
        )));
    }
    if let Some((id, _)) = s.entries.iter().find(|e| e.1.is_empty()) {
        return Err(enc_err(format!("stream entry {id} has no fields")));
    }
    let nodes = stream_nodes(s, cfg);
    if nodes.is_empty() && length > 0 && target.version >= 10 {
        // Redis 7.0+ refuse a length above 0 with no node ("Stream length
        // inconsistent with rax entries"); Redis 5.0-6.2 wrote such
        // streams. Their stored length cannot be kept for such a target.
        if !allow.stream_metadata {
            return Err(crate::Error::loss(crate::Loss::StreamMetadata, format!(
                "stream length {length} with no entries cannot be written for {target} (Redis 7.0+ refuse it)"
            )));
        }
        if lost.is_empty() {
            losses.stream_metadata += 1;
        }
        length = 0;
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
        // NACK-zone entries are unowned; only v5 can hold them, so they
        // leave the group PEL for older targets.
        // (Sorted for binary search: a linear `contains` per PEL entry was
        // quadratic in the PEL size.)
        let mut dropped: Vec<StreamId> = if ver >= 5 {
            Vec::new()
        } else {
            g.nacked.clone()
        };
        dropped.sort_unstable();
        let pel: Vec<&PendingValue> = g
            .pel
            .iter()
            .filter(|p| dropped.binary_search(&p.id).is_err())
            .collect();
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
            write_len(out, g.nacked.len() as u64);
            for id in &g.nacked {
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
                write_len(out, IDMP_DEFAULT_DURATION_S);
                write_len(out, IDMP_DEFAULT_MAX_ENTRIES);
                write_len(out, 0);
                write_len(out, 0);
                write_len(out, 0);
            }
        }
    }
    Ok(ty)
}
