//! Streams (types 15, 19, 21, 26, 27): entries from the node listpacks,
//! metadata, consumer groups, PELs, consumers, NACK zones and IDMP state.
//!
//! The checks follow the loaders that read the file's RDB version: a fact
//! is an error when every Redis/Valkey release that reads that version
//! refuses it (rdbLoadObject, `streamValidateListpackIntegrity` with
//! `sanitize-dump-payload yes` for [`super::Level::Deep`]), and a warning
//! ([`super::Warnings`]) when some release loads it. The 2026 hardening of
//! stream loading (Redis 8.x, Valkey 9.1: lengths against live counts,
//! deleted flags, shared PEL entries) is newer than most releases that read
//! RDB 9-12, so those facts are warnings.

use std::borrow::Cow;

use super::blob::{BlobIter, BlobKind, ElemPos};
use super::items::Ctx;
use super::reader::Reader;
use super::string::{Elem, RdbStr};
use super::Warnings;
use crate::format::{lzf, rdb_type as t, StreamId};
use crate::{Error, ErrorKind, Result};

/// Stream format version (1 for type 15 ... 5 for type 27).
pub fn stream_version(rdb_type: u8) -> Option<u8> {
    match rdb_type {
        t::STREAM_LISTPACKS => Some(1),
        t::STREAM_LISTPACKS_2 => Some(2),
        t::STREAM_LISTPACKS_3 => Some(3),
        t::STREAM_LISTPACKS_4 => Some(4),
        t::STREAM_LISTPACKS_5 => Some(5),
        _ => None,
    }
}

/// Stream format version of a stream type byte (0 if not a stream).
pub fn stream_version_of(rdb_type: u8) -> u8 {
    stream_version(rdb_type).unwrap_or(0)
}

/// IDMP (idempotent producer) settings and counters of a v4+ stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Idmp {
    /// Duration in seconds.
    pub duration_s: u64,
    /// Maximum entries per producer.
    pub max_entries: u64,
    /// Number of producers stored.
    pub producers: u64,
    /// Total IIDs added.
    pub iids_added: u64,
    /// Duplicates seen.
    pub iids_duplicates: u64,
    /// Input range of the producers list (for re-encoding verbatim).
    pub producers_span: (usize, usize),
}

/// A decoded stream value: metadata read eagerly, entries and groups lazily.
#[derive(Debug, Clone)]
pub struct Stream<'a> {
    input: &'a [u8],
    ctx: Ctx,
    version: u8,
    nodes_start: usize,
    n_nodes: u64,
    /// Number of live entries.
    pub length: u64,
    /// Last ID ever added.
    pub last_id: StreamId,
    /// First live ID (v2+).
    pub first_id: Option<StreamId>,
    /// Largest deleted ID (v2+).
    pub max_deleted_id: Option<StreamId>,
    /// Entries ever added (v2+).
    pub entries_added: Option<u64>,
    groups_start: usize,
    n_groups: u64,
    /// IDMP state (v4+).
    pub idmp: Option<Idmp>,
    end: usize,
}

/// One pending entry of a group PEL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingEntry {
    /// Entry ID.
    pub id: StreamId,
    /// Last delivery time (unix ms).
    pub delivery_time_ms: i64,
    /// Delivery count.
    pub delivery_count: u64,
}

/// One consumer of a group.
#[derive(Debug, Clone)]
pub struct Consumer<'a> {
    /// Consumer name.
    pub name: RdbStr<'a>,
    /// Last seen time (unix ms).
    pub seen_time_ms: i64,
    /// Last active time (unix ms; v3+).
    pub active_time_ms: Option<i64>,
    pel: &'a [u8],
}

impl<'a> Consumer<'a> {
    /// IDs this consumer owns in the group PEL.
    pub fn pel(&self) -> impl Iterator<Item = StreamId> + 'a {
        self.pel.chunks_exact(16).map(StreamId::from_raw)
    }
}

/// One consumer group.
#[derive(Debug, Clone)]
pub struct Group<'a> {
    ctx: Ctx,
    input: &'a [u8],
    /// Group name.
    pub name: RdbStr<'a>,
    /// Last delivered ID.
    pub last_id: StreamId,
    /// Entries read (v2+; `None` when unknown, stored as -1).
    pub entries_read: Option<u64>,
    pel_start: usize,
    pel_count: u64,
    consumers_start: usize,
    n_consumers: u64,
    nack: Option<&'a [u8]>,
    version: u8,
}

impl<'a> Group<'a> {
    /// The group PEL.
    pub fn pel(&self) -> impl Iterator<Item = Result<PendingEntry>> + 'a {
        let mut r = Reader::at(self.input, self.pel_start);
        let mut left = self.pel_count;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            Some(read_pending(&mut r))
        })
    }

    /// Number of PEL entries.
    pub fn pel_len(&self) -> u64 {
        self.pel_count
    }

    /// The group's consumers.
    pub fn consumers(&self) -> impl Iterator<Item = Result<Consumer<'a>>> + 'a {
        let mut r = Reader::at(self.input, self.consumers_start);
        let mut left = self.n_consumers;
        let ctx = self.ctx;
        let v3 = self.version >= 3;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            Some(read_consumer(&mut r, &ctx, v3))
        })
    }

    /// Number of consumers.
    pub fn consumers_len(&self) -> u64 {
        self.n_consumers
    }

    /// IDs in the NACK zone (v5+), if the format has one.
    pub fn nacked(&self) -> Option<impl Iterator<Item = StreamId> + 'a> {
        self.nack
            .map(|b| b.chunks_exact(16).map(StreamId::from_raw))
    }
}

fn read_pending(r: &mut Reader<'_>) -> Result<PendingEntry> {
    let id = StreamId::from_raw(r.take(16, "PEL entry id")?);
    let delivery_time_ms = r.i64le("PEL delivery time")?;
    let delivery_count = r.length("PEL delivery count")?;
    Ok(PendingEntry {
        id,
        delivery_time_ms,
        delivery_count,
    })
}

fn read_consumer<'a>(r: &mut Reader<'a>, ctx: &Ctx, v3: bool) -> Result<Consumer<'a>> {
    let name = RdbStr::read(r, &ctx.limits, "consumer name")?;
    let seen_time_ms = r.i64le("consumer seen time")?;
    let active_time_ms = if v3 {
        Some(r.i64le("consumer active time")?)
    } else {
        None
    };
    let n = r.count("consumer PEL size", 16)?;
    let pel = r.take(n * 16, "consumer PEL")?;
    Ok(Consumer {
        name,
        seen_time_ms,
        active_time_ms,
        pel,
    })
}

fn read_id(r: &mut Reader<'_>, what: &'static str) -> Result<StreamId> {
    Ok(StreamId {
        ms: r.length(what)?,
        seq: r.length(what)?,
    })
}

/// The 16 bytes of a node key. rdbLoadObject reads it with
/// `rdbGenericLoadStringObject(RDB_LOAD_SDS)`, so any string form is taken
/// (an LZF or integer-encoded string as well) as long as it is 16 bytes:
/// "Stream node key entry is not the size of a stream ID" (every version).
fn node_key(key: RdbStr<'_>, key_at: u64) -> Result<[u8; 16]> {
    if key.len() != 16 {
        return Err(Error::corrupt(
            format!("stream node key is {} bytes, not 16", key.len()),
            key_at,
        ));
    }
    let b = key.to_bytes()?;
    let mut out = [0u8; 16];
    if b.len() != 16 {
        return Err(Error::corrupt("stream node key is not 16 bytes", key_at));
    }
    out.copy_from_slice(&b);
    Ok(out)
}

impl<'a> Stream<'a> {
    /// Parses a stream value at `r` (advancing `r` past it). With
    /// `check_nodes`, every node listpack is walked and checked, and the
    /// checks Redis runs on every load are done (node counts against the
    /// length, duplicate node keys, groups, consumers and PEL ownership,
    /// IDMP ranges); `deep` adds those of `sanitize-dump-payload yes`.
    pub(crate) fn parse(
        rdb_type: u8,
        r: &mut Reader<'a>,
        ctx: Ctx,
        check_nodes: bool,
        deep: bool,
        warn: &mut Warnings,
    ) -> Result<Stream<'a>> {
        let version = stream_version(rdb_type).ok_or_else(|| {
            r.err(ErrorKind::WrongType {
                rdb_type,
                kind: crate::decode::Kind::of(rdb_type, ctx.lineage)
                    .map_or("?", crate::decode::Kind::name),
                wanted: "a stream",
            })
        })?;
        let input = r.buf();
        let n_nodes = r.count("stream node count", 2)?;
        let nodes_start = r.pos();
        let mut scratch = Vec::new();
        let mut entries = EntryCheck::default();
        let mut node_keys: Vec<StreamId> = Vec::new();
        for _ in 0..n_nodes {
            let key_at = r.offset();
            let key = RdbStr::read(r, &ctx.limits, "stream node key")?;
            let kb = node_key(key, key_at)?;
            let lp_at = r.offset();
            let lp = RdbStr::read(r, &ctx.limits, "stream node listpack")?;
            if check_nodes {
                let data: &[u8] = match lp {
                    RdbStr::Raw(b) => b,
                    RdbStr::Lzf { data, len, offset } => {
                        lzf::decompress_to_vec(data, len, &mut scratch)
                            .map_err(|e| Error::new(ErrorKind::Lzf(e.to_string()), offset))?;
                        &scratch
                    }
                    // Redis reads the decimal text as the listpack, whose
                    // header (4 ASCII digits as a byte count, at least
                    // 0x30303030) never matches its 1-20 bytes:
                    // lpValidateIntegrity fails ("Stream listpack integrity
                    // check failed."), shallow or deep.
                    RdbStr::Int(_) => {
                        return Err(Error::corrupt(
                            "stream listpack stored as an integer",
                            lp_at,
                        ))
                    }
                };
                let master = StreamId::from_raw(&kb);
                check_node(data, master, deep, &mut entries, warn, lp_at)
                    .map_err(|k| Error::new(k, lp_at))?;
                node_keys.push(master);
            }
        }
        if check_nodes {
            // raxTryInsert: "Listpack re-added with existing key" (every version).
            if !node_keys.windows(2).all(|w| w[0] < w[1]) {
                node_keys.sort_unstable();
                if let Some(w) = node_keys.windows(2).find(|w| w[0] == w[1]) {
                    return Err(Error::new(
                        bad(format!("two nodes have the key {}", w[0])),
                        r.offset_of(nodes_start),
                    ));
                }
            }
        }
        let length_at = r.offset();
        let length = r.length("stream length")?;
        let last_id = read_id(r, "stream last id")?;
        let (mut first_id, mut max_deleted_id, mut entries_added) = (None, None, None);
        if version >= 2 {
            first_id = Some(read_id(r, "stream first id")?);
            max_deleted_id = Some(read_id(r, "stream max deleted id")?);
            entries_added = Some(r.length("stream entries added")?);
        }
        let n_groups = r.count("stream group count", 3)?;
        let groups_start = r.pos();
        let mut s = Stream {
            input,
            ctx,
            version,
            nodes_start,
            n_nodes,
            length,
            last_id,
            first_id,
            max_deleted_id,
            entries_added,
            groups_start,
            n_groups,
            idmp: None,
            end: 0,
        };
        if check_nodes {
            check_length(&ctx, n_nodes, length, &entries, length_at, warn)?;
        }
        let mut gr = r.clone();
        let mut group_names: Vec<Vec<u8>> = Vec::new();
        for _ in 0..n_groups {
            let g_at = gr.offset();
            let g = s.read_group(&mut gr)?;
            if check_nodes {
                check_group(&g, g_at, deep, ctx.version, warn)?;
                group_names.push(g.name.to_bytes()?.into_owned());
            }
        }
        // streamCreateCG: "Duplicated consumer group name" (every version).
        if let Some(name) = first_duplicate(&mut group_names) {
            return Err(Error::new(
                bad(format!(
                    "duplicate consumer group name '{}'",
                    crate::format::escape_bytes(&name)
                )),
                r.offset_of(groups_start),
            ));
        }
        *r = gr;
        if version >= 4 {
            let at = r.offset();
            let duration_s = r.length("IDMP duration")?;
            let max_entries = r.length("IDMP max entries")?;
            if check_nodes
                && (!(1..=86400).contains(&duration_s) || !(1..=10000).contains(&max_entries))
            {
                return Err(Error::new(
                    ErrorKind::InvalidValue {
                        value_type: "stream",
                        what: format!(
                            "IDMP duration {duration_s} or max entries {max_entries} out of range"
                        ),
                    },
                    at,
                ));
            }
            let producers = r.count("IDMP producer count", 2)?;
            let p_start = r.pos();
            let mut pids: Vec<Vec<u8>> = Vec::new();
            for _ in 0..producers {
                let pid = RdbStr::read(r, &ctx.limits, "IDMP producer id")?;
                let n = r.count("IDMP producer entry count", 3)?;
                // Producers with no entries are skipped on load; the others
                // go into a radix tree that refuses a second copy.
                if check_nodes && n > 0 {
                    pids.push(pid.to_bytes()?.into_owned());
                }
                for _ in 0..n {
                    RdbStr::skip(r, &ctx.limits, "IDMP iid")?;
                    read_id(r, "IDMP entry id")?;
                }
            }
            let p_end = r.pos();
            if first_duplicate(&mut pids).is_some() {
                return Err(Error::new(
                    bad("duplicate IDMP producer id".into()),
                    r.offset_of(p_start),
                ));
            }
            let iids_added = r.length("IDMP iids added")?;
            let iids_duplicates = r.length("IDMP iids duplicates")?;
            s.idmp = Some(Idmp {
                duration_s,
                max_entries,
                producers,
                iids_added,
                iids_duplicates,
                producers_span: (p_start, p_end),
            });
        }
        s.end = r.pos();
        if deep && check_nodes {
            // Not checked by Redis (streamValidateListpackIntegrity looks at
            // one node at a time): warnings.
            let at = r.offset();
            if entries.live != length && entries.master_live == Some(length) {
                warn.add(at, || {
                    format!(
                        "stream length {length} but the nodes hold {} live entries \
                         (Redis up to 7.4 and Valkey up to 8.1 load it and keep the stored \
                         length; Valkey 9.1 refuses it)",
                        entries.live
                    )
                });
            }
            if let Some(max) = entries.max_id {
                if max > last_id {
                    warn.add(at, || {
                        format!("stream entry {max} is newer than the last id {last_id}")
                    });
                }
            }
        }
        Ok(s)
    }

    fn read_group(&self, r: &mut Reader<'a>) -> Result<Group<'a>> {
        let name = RdbStr::read(r, &self.ctx.limits, "group name")?;
        let last_id = read_id(r, "group last id")?;
        let entries_read = if self.version >= 2 {
            match r.length("group entries read")? {
                u64::MAX => None,
                v => Some(v),
            }
        } else {
            None
        };
        let pel_count = r.count("group PEL size", 25)?;
        let pel_start = r.pos();
        for _ in 0..pel_count {
            r.skip(24, "PEL entry")?;
            r.length("PEL delivery count")?;
        }
        let n_consumers = r.count("consumer count", 10)?;
        let consumers_start = r.pos();
        let v3 = self.version >= 3;
        for _ in 0..n_consumers {
            read_consumer(r, &self.ctx, v3)?;
        }
        let nack = if self.version >= 5 {
            let n = r.count("NACK zone size", 16)?;
            Some(r.take(n * 16, "NACK zone")?)
        } else {
            None
        };
        Ok(Group {
            ctx: self.ctx,
            input: self.input,
            name,
            last_id,
            entries_read,
            pel_start,
            pel_count,
            consumers_start,
            n_consumers,
            nack,
            version: self.version,
        })
    }

    /// Stream format version (1-5).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// Number of listpack nodes.
    pub fn node_count(&self) -> u64 {
        self.n_nodes
    }

    /// Each node's master ID (its 16 raw bytes) and the uncompressed
    /// length of its listpack, in file order.
    pub(crate) fn node_sizes(&self) -> impl Iterator<Item = Result<([u8; 16], u64)>> + '_ {
        let mut r = Reader::at(self.input, self.nodes_start);
        let limits = self.ctx.limits;
        let mut left = self.n_nodes;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            let node = (|| {
                let id = RdbStr::read(&mut r, &limits, "stream node ID")?.to_bytes()?;
                let lp = RdbStr::read(&mut r, &limits, "stream listpack")?;
                let mut raw = [0u8; 16];
                let n = id.len().min(16);
                raw[..n].copy_from_slice(&id[..n]);
                Ok((raw, lp.len() as u64))
            })();
            if node.is_err() {
                left = 0;
            }
            Some(node)
        })
    }

    /// Input position just past the value.
    pub(crate) fn end(&self) -> usize {
        self.end
    }

    /// Consumer groups, in file order.
    pub fn groups(&self) -> impl Iterator<Item = Result<Group<'a>>> + '_ {
        let mut r = Reader::at(self.input, self.groups_start);
        let mut left = self.n_groups;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            Some(self.read_group(&mut r))
        })
    }

    /// Number of consumer groups.
    pub fn groups_len(&self) -> u64 {
        self.n_groups
    }

    /// The live entries, in ID order: an [`Iterator`] of
    /// [`StreamEntry`] (for a `for` loop), and a cursor
    /// ([`Entries::next_entry`]) whose entries borrow from it and cost no
    /// allocation. Errors met on the way do not name the key: read through
    /// [`KeyRecord::entries`](super::KeyRecord::entries) for that.
    ///
    /// ```
    /// use rdbkit::decode::{Decoder, Item, Options, StreamId};
    /// use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, StreamValue, Target};
    /// let id = StreamId { ms: 1, seq: 0 };
    /// let s = StreamValue {
    ///     entries: vec![(id, vec![(b"temp".to_vec(), b"21".to_vec())])],
    ///     last_id: id,
    ///     ..StreamValue::default()
    /// };
    /// let mut w = RdbWriter::new(Vec::new(), Target::redis(11))?;
    /// w.select_db(0)?;
    /// w.key(b"events", &OwnedValue::Stream(Box::new(s)), KeyMeta::default())?;
    /// let file = w.finish()?;
    /// for item in Decoder::new(&file, Options::default())? {
    ///     let Item::Key(k) = item? else { continue };
    ///     let stream = k.value.stream()?;
    ///     // As an iterator.
    ///     for entry in stream.entries() {
    ///         let entry = entry?;
    ///         assert_eq!(entry.id.to_string(), "1-0");
    ///         let (field, value) = &entry.fields[0];
    ///         assert_eq!((&field[..], &value[..]), (&b"temp"[..], &b"21"[..]));
    ///     }
    ///     // As a cursor.
    ///     let mut cur = stream.entries();
    ///     while let Some(entry) = cur.next_entry()? {
    ///         assert_eq!(entry.field_count(), 1);
    ///     }
    /// }
    /// # Ok::<(), rdbkit::Error>(())
    /// ```
    pub fn entries(&self) -> Entries<'a> {
        Entries {
            r: Reader::at(self.input, self.nodes_start),
            ctx: self.ctx,
            nodes_left: self.n_nodes,
            blob: Vec::new(),
            range: None,
            input: self.input,
            node: None,
            include_deleted: false,
            done: false,
            pending: None,
            key: None,
        }
    }
}

/// The entries of a stream ([`Stream::entries`]), two ways:
///
/// * as a cursor: call [`Entries::next_entry`] until `None`; each
///   [`Entry`] borrows from the cursor and is valid until the next call
///   (no allocation);
/// * as an [`Iterator`] of `Result<`[`StreamEntry`]`>`: each entry owns its
///   list of fields, whose bytes borrow from the input when the node is
///   stored uncompressed. After an error the iterator ends.
///
/// ```
/// # use rdbkit::decode::{Decoder, Item, Options, StreamId};
/// # use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, StreamValue, Target};
/// # let ids = [StreamId { ms: 1, seq: 0 }, StreamId { ms: 2, seq: 0 }];
/// # let s = StreamValue {
/// #     entries: ids.iter().map(|&id| (id, vec![(b"f".to_vec(), b"v".to_vec())])).collect(),
/// #     last_id: ids[1],
/// #     ..StreamValue::default()
/// # };
/// # let mut w = RdbWriter::new(Vec::new(), Target::redis(11))?;
/// # w.select_db(0)?;
/// # w.key(b"events", &OwnedValue::Stream(Box::new(s)), KeyMeta::default())?;
/// # let file = w.finish()?;
/// // `file` holds the stream "events" with entries 1-0 and 2-0.
/// for item in Decoder::new(&file, Options::default())? {
///     let Item::Key(k) = item? else { continue };
///     let ids: Vec<StreamId> = k
///         .value
///         .stream()?
///         .entries()
///         .map(|e| e.map(|e| e.id))
///         .collect::<rdbkit::Result<_>>()?;
///     assert_eq!(ids, [StreamId { ms: 1, seq: 0 }, StreamId { ms: 2, seq: 0 }]);
/// }
/// # Ok::<(), rdbkit::Error>(())
/// ```
#[derive(Debug)]
pub struct Entries<'a> {
    r: Reader<'a>,
    ctx: Ctx,
    nodes_left: u64,
    input: &'a [u8],
    blob: Vec<u8>,
    range: Option<(usize, usize)>,
    node: Option<(NodeParser, u64)>,
    include_deleted: bool,
    /// The iterator returned an error or the end: it returns `None` from now on.
    done: bool,
    /// The error to return first (the stream could not be read).
    pending: Option<Error>,
    /// The key to name in errors.
    key: Option<RdbStr<'a>>,
}

/// One stream entry; its fields borrow from the cursor.
#[derive(Debug)]
pub struct Entry<'c> {
    /// Entry ID.
    pub id: StreamId,
    /// Whether the entry is marked deleted.
    pub deleted: bool,
    blob: &'c [u8],
    fields: &'c [(ElemPos, ElemPos)],
}

/// One stream entry as the [`Entries`] iterator returns it: its ID and its
/// field/value pairs, whose bytes borrow from the input when the node is
/// stored uncompressed (integer-encoded values as their decimal text).
///
/// ```
/// use std::borrow::Cow;
/// use rdbkit::decode::{StreamEntry, StreamId};
/// let e = StreamEntry {
///     id: StreamId { ms: 5, seq: 1 },
///     deleted: false,
///     fields: vec![(Cow::Borrowed(&b"temp"[..]), Cow::Borrowed(&b"21"[..]))],
/// };
/// assert_eq!(e.id.to_string(), "5-1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry<'a> {
    /// Entry ID.
    pub id: StreamId,
    /// Whether the entry is marked deleted (only with
    /// [`Entries::include_deleted`]).
    pub deleted: bool,
    /// Field/value pairs in order.
    #[allow(clippy::type_complexity)] // clearer spelled out than behind an alias
    pub fields: Vec<(Cow<'a, [u8]>, Cow<'a, [u8]>)>,
}

impl<'c> Entry<'c> {
    /// Field/value pairs in order.
    pub fn fields(&self) -> impl Iterator<Item = (Elem<'c>, Elem<'c>)> + '_ {
        self.fields
            .iter()
            .map(|(f, v)| (f.get(self.blob), v.get(self.blob)))
    }

    /// Number of fields.
    pub fn field_count(&self) -> usize {
        self.fields.len()
    }
}

impl<'a> Entries<'a> {
    /// Also return entries marked deleted (default: only live entries).
    pub fn include_deleted(mut self, yes: bool) -> Self {
        self.include_deleted = yes;
        self
    }

    /// No entries, and `e` to return first (for
    /// [`KeyRecord::entries`](super::KeyRecord::entries) of a value that is
    /// not a readable stream).
    pub(crate) fn failed(v: &super::Value<'a>, e: Error) -> Self {
        Entries {
            r: Reader::at(v.input(), v.offset()),
            ctx: v.ctx(),
            nodes_left: 0,
            blob: Vec::new(),
            range: None,
            input: v.input(),
            node: None,
            include_deleted: false,
            done: false,
            pending: Some(e),
            key: None,
        }
    }

    /// Names `key` in every error (for
    /// [`KeyRecord::entries`](super::KeyRecord::entries)).
    pub(crate) fn with_key(mut self, key: RdbStr<'a>) -> Self {
        self.key = Some(key);
        self
    }

    /// The next entry, or `None` at the end of the stream.
    ///
    /// # Errors
    /// A decoding error ([`ErrorKind::Truncated`], [`ErrorKind::InvalidValue`],
    /// [`ErrorKind::Corrupt`], [`ErrorKind::Lzf`],
    /// [`ErrorKind::LimitExceeded`], ...) with the byte offset for a malformed
    /// listpack node or entry.
    pub fn next_entry(&mut self) -> Result<Option<Entry<'_>>> {
        let Some(deleted) = self.advance()? else {
            return Ok(None);
        };
        let Some((np, _)) = self.node.as_ref() else {
            return Ok(None);
        };
        let blob = match self.range {
            Some((s, e)) => &self.input[s..e],
            None => &self.blob[..],
        };
        Ok(Some(Entry {
            id: np.cur_id,
            deleted,
            blob,
            fields: &np.fields,
        }))
    }

    /// Moves to the next entry (read into the current node parser);
    /// whether it is deleted, or `None` at the end of the stream.
    #[inline]
    fn advance(&mut self) -> Result<Option<bool>> {
        if let Some(e) = self.pending.take() {
            return Err(super::iter::with_key(e, self.key));
        }
        self.advance_node()
            .map_err(|e| super::iter::with_key(e, self.key))
    }

    fn advance_node(&mut self) -> Result<Option<bool>> {
        let deleted = loop {
            if self.node.is_none() {
                if self.nodes_left == 0 {
                    return Ok(None);
                }
                self.nodes_left -= 1;
                self.load_node()?;
            }
            let Some((np, offset)) = self.node.as_mut() else {
                return Ok(None);
            };
            let data = match self.range {
                Some((s, e)) => &self.input[s..e],
                None => &self.blob[..],
            };
            match np.next(data) {
                Ok(Some(deleted)) => {
                    if deleted && !self.include_deleted {
                        continue;
                    }
                    break deleted;
                }
                Ok(None) => self.node = None,
                Err(k) => return Err(Error::new(k, *offset)),
            }
        };
        Ok(Some(deleted))
    }

    /// The entry [`Entries::advance`] moved to, with bytes that outlive the
    /// cursor.
    fn owned_entry(&self, deleted: bool) -> Option<StreamEntry<'a>> {
        let (np, _) = self.node.as_ref()?;
        let input: &'a [u8] = self.input;
        let fields = match self.range {
            Some((s, e)) => {
                let blob: &'a [u8] = &input[s..e];
                np.fields
                    .iter()
                    .map(|(f, v)| (f.get(blob).to_bytes(), v.get(blob).to_bytes()))
                    .collect()
            }
            None => np
                .fields
                .iter()
                .map(|(f, v)| {
                    (
                        Cow::Owned(f.get(&self.blob).to_bytes().into_owned()),
                        Cow::Owned(v.get(&self.blob).to_bytes().into_owned()),
                    )
                })
                .collect(),
        };
        Some(StreamEntry {
            id: np.cur_id,
            deleted,
            fields,
        })
    }

    fn load_node(&mut self) -> Result<()> {
        let key_at = self.r.offset();
        let key = RdbStr::read(&mut self.r, &self.ctx.limits, "stream node key")?;
        let master = StreamId::from_raw(&node_key(key, key_at)?);
        let lp_at = self.r.offset();
        match RdbStr::read(&mut self.r, &self.ctx.limits, "stream node listpack")? {
            RdbStr::Raw(b) => {
                let s = b.as_ptr() as usize - self.input.as_ptr() as usize;
                self.range = Some((s, s + b.len()));
            }
            RdbStr::Lzf { data, len, offset } => {
                lzf::decompress_to_vec(data, len, &mut self.blob)
                    .map_err(|e| Error::new(ErrorKind::Lzf(e.to_string()), offset))?;
                self.range = None;
            }
            RdbStr::Int(_) => return Err(Error::corrupt("stream listpack is an integer", lp_at)),
        }
        let data = match self.range {
            Some((s, e)) => &self.input[s..e],
            None => &self.blob[..],
        };
        // Lenient as Redis's stream iterator, which reads entries to the
        // listpack's end whatever the master entry's counts say.
        let np = NodeParser::start(data, master, false).map_err(|k| Error::new(k, lp_at))?;
        self.node = Some((np, lp_at));
        Ok(())
    }
}

/// The entries one by one, each owning its list of fields (see
/// [`Entries`]); after an error, `None`.
impl<'a> Iterator for Entries<'a> {
    type Item = Result<StreamEntry<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.advance() {
            Ok(Some(deleted)) => self.owned_entry(deleted).map(Ok),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl std::iter::FusedIterator for Entries<'_> {}

/// An element read as an integer the way `lpGetIntegerIfValid` does: an
/// integer element, or a string element holding a canonical integer
/// (`string2ll`).
fn lp_int(data: &[u8], p: Option<ElemPos>, what: &str) -> std::result::Result<i64, ErrorKind> {
    let v = match p {
        Some(ElemPos::Int(i)) => Some(i),
        Some(pos @ ElemPos::Range(..)) => pos.get(data).as_int(),
        None => None,
    };
    v.ok_or_else(|| ErrorKind::InvalidValue {
        value_type: "stream",
        what: format!("{what} is not an integer"),
    })
}

fn bad(what: String) -> ErrorKind {
    ErrorKind::InvalidValue {
        value_type: "stream",
        what,
    }
}

/// Parses the entries of one node listpack, with the checks of
/// `streamValidateListpackIntegrity(deep)` (Redis 6.2+; the same in 7.x and
/// Valkey): every count an integer, the master entry's 0 terminator, each
/// entry's lp-count, and exactly `count + deleted` entries.
#[derive(Debug)]
struct NodeParser {
    it: BlobIter,
    strict: bool,
    master: StreamId,
    /// The master entry's field count as stored (Redis loops `max(n, 0)`
    /// times but checks lp-counts with the signed value).
    master_nf: i64,
    master_fields: Vec<ElemPos>,
    fields: Vec<(ElemPos, ElemPos)>,
    cur_id: StreamId,
    count: i64,
    deleted: i64,
    seen: i64,
    seen_deleted: i64,
}

/// A field count read from a listpack, as a loop bound: Redis's `for (j = 0;
/// j < n; j++)` runs no time for a negative count; a count above the
/// listpack's size runs past its end ("impossible", rejected either way).
fn loop_count(n: i64, data: &[u8], what: &str) -> std::result::Result<usize, ErrorKind> {
    if n > 0 && n as u64 > data.len() as u64 {
        return Err(bad(format!("{what} {n} is impossible")));
    }
    Ok(n.max(0) as usize)
}

impl NodeParser {
    fn need(&mut self, data: &[u8], what: &str) -> std::result::Result<ElemPos, ErrorKind> {
        self.it
            .next(data)
            .map_err(ErrorKind::from)?
            .ok_or_else(|| bad(format!("listpack ends before the {what}")))
    }

    fn need_int(&mut self, data: &[u8], what: &str) -> std::result::Result<i64, ErrorKind> {
        let p = self.need(data, what)?;
        lp_int(data, Some(p), what)
    }

    /// Reads the master entry: count, deleted, num_fields, fields..., 0.
    /// With `strict`, the entry count is checked against the master entry
    /// (`streamValidateListpackIntegrity`); without, entries are read to
    /// the end as Redis's iterator does.
    fn start(
        data: &[u8],
        master: StreamId,
        strict: bool,
    ) -> std::result::Result<NodeParser, ErrorKind> {
        let it = BlobIter::new(BlobKind::Listpack, data).map_err(ErrorKind::from)?;
        let mut np = NodeParser {
            it,
            strict,
            master,
            master_nf: 0,
            master_fields: Vec::new(),
            fields: Vec::new(),
            cur_id: master,
            count: 0,
            deleted: 0,
            seen: 0,
            seen_deleted: 0,
        };
        np.count = np.need_int(data, "master count")?;
        np.deleted = np.need_int(data, "master deleted count")?;
        np.master_nf = np.need_int(data, "master field count")?;
        for _ in 0..loop_count(np.master_nf, data, "master field count")? {
            let f = np.need(data, "master field")?;
            np.master_fields.push(f);
        }
        if np.need_int(data, "master terminator")? != 0 {
            return Err(bad("master entry terminator is not 0".into()));
        }
        Ok(np)
    }

    /// Reads one entry into `self.fields`; `Ok(None)` at the node's end.
    fn next(&mut self, data: &[u8]) -> std::result::Result<Option<bool>, ErrorKind> {
        let Some(flags) = self.it.next(data).map_err(ErrorKind::from)? else {
            // Redis walks exactly count + deleted entries: fewer run off
            // the end, more leave elements behind ("if (next) return 0").
            if self.strict && self.seen != self.count.wrapping_add(self.deleted) {
                return Err(bad(format!(
                    "node holds {} entries, its master entry says {} live + {} deleted",
                    self.seen, self.count, self.deleted
                )));
            }
            return Ok(None);
        };
        if self.strict && self.seen == self.count.wrapping_add(self.deleted) {
            return Err(bad(format!(
                "node holds more entries than its master entry says ({} live + {} deleted)",
                self.count, self.deleted
            )));
        }
        let flags = lp_int(data, Some(flags), "entry flags")?;
        let ms = self.need_int(data, "entry ms delta")?;
        let seq = self.need_int(data, "entry seq delta")?;
        self.cur_id = StreamId {
            ms: self.master.ms.wrapping_add(ms as u64),
            seq: self.master.seq.wrapping_add(seq as u64),
        };
        self.fields.clear();
        let samefields = flags & 2 != 0;
        let expect = if samefields {
            for i in 0..self.master_fields.len() {
                let v = self.need(data, "entry value")?;
                let f = self.master_fields[i];
                self.fields.push((f, v));
            }
            self.master_nf.wrapping_add(3)
        } else {
            let nf = self.need_int(data, "entry field count")?;
            let n = loop_count(nf, data, "entry field count")?;
            // Field, value, field, value... (Redis's check walks n elements
            // and then n more).
            for _ in 0..n {
                let f = self.need(data, "entry field")?;
                let v = self.need(data, "entry value")?;
                self.fields.push((f, v));
            }
            nf.wrapping_mul(2).wrapping_add(4)
        };
        let lp_count = self.need_int(data, "entry lp-count")?;
        if lp_count != expect {
            return Err(bad(format!("entry lp-count {lp_count}, expected {expect}")));
        }
        self.seen += 1;
        let deleted = flags & 1 != 0;
        if deleted {
            self.seen_deleted += 1;
        }
        Ok(Some(deleted))
    }
}

/// Totals gathered while checking the nodes of one stream.
#[derive(Debug)]
struct EntryCheck {
    /// Entries not flagged deleted (deep mode only).
    live: u64,
    max_id: Option<StreamId>,
    /// Sum of the nodes' master-entry live counts (`None` when one is not
    /// a non-negative integer, or on overflow).
    master_live: Option<u64>,
}

impl Default for EntryCheck {
    fn default() -> Self {
        EntryCheck {
            live: 0,
            max_id: None,
            master_live: Some(0),
        }
    }
}

/// Sorts `v` and returns a value that occurs twice, if any.
fn first_duplicate(v: &mut [Vec<u8>]) -> Option<Vec<u8>> {
    v.sort_unstable();
    v.windows(2).find(|w| w[0] == w[1]).map(|w| w[0].clone())
}

/// The stored length against the nodes. Redis (every version) keeps the
/// stored length as it is; since 7.0 it refuses only a length above 0
/// with no node at all ("Stream length inconsistent with rax entries",
/// rdbLoadObject): an error for RDB 10+ files (loaded by 7.0+ only), a
/// warning for older ones (5.0-6.2 load them). A length that differs from
/// the nodes' master-entry counts (Redis 5 wrote such streams) is a
/// warning: every Redis up to 7.4 and Valkey up to 8.1 load it (tested in
/// `tests/stream_length.rs`); Valkey 9.1 refuses it ("Stream length
/// inconsistent with the number of valid entries", the 2026 hardening that
/// newer Redis releases got as well), but it also reads RDB 9-11 files
/// that older servers wrote and load.
fn check_length(
    ctx: &Ctx,
    n_nodes: u64,
    length: u64,
    entries: &EntryCheck,
    at: u64,
    warn: &mut Warnings,
) -> Result<()> {
    if n_nodes == 0 && length > 0 {
        if ctx.version >= 10 {
            return Err(Error::new(
                bad(format!("length {length} but the stream has no node")),
                at,
            ));
        }
        warn.add(at, || {
            format!(
                "stream length {length} but the stream has no node \
                 (Redis 5.0-6.2 load it; 7.0+ refuse it)"
            )
        });
        return Ok(());
    }
    if entries.master_live != Some(length) {
        warn.add(at, || {
            let counted = entries
                .master_live
                .map_or_else(|| "an unknown number of".into(), |n| n.to_string());
            format!(
                "stream length {length} but the node master entries count {counted} live \
                 entries (Redis up to 7.4 and Valkey up to 8.1 load it and keep the stored \
                 length; Valkey 9.1 refuses it)"
            )
        });
    }
    Ok(())
}

/// The master entry's live count of a node (its first element) as Redis
/// reads it (`lpGetIntegerIfValid`), or `None` when it is not an integer.
/// An empty listpack is an error in every version: rdbLoadObject's
/// `lpFirst(lp) == NULL` check ("Empty listpack inside stream").
fn master_count(data: &[u8]) -> std::result::Result<Option<i64>, ErrorKind> {
    let mut it = BlobIter::new(BlobKind::Listpack, data).map_err(ErrorKind::from)?;
    match it.next(data).map_err(ErrorKind::from)? {
        None => Err(bad("empty listpack in a stream node".into())),
        Some(p) => Ok(lp_int(data, Some(p), "master count").ok()),
    }
}

/// Walks one node listpack (`lp_at`: its offset, for warnings). Shallow
/// (`sanitize-dump-payload no`) Redis only checks the listpack header and
/// that it is not empty; rdbkit also walks every element (a listpack that
/// fails the walk cannot be decoded). Deep: the entry structure
/// ([`NodeParser`]); the ID and deleted-flag facts Redis does not check are
/// warnings.
fn check_node(
    data: &[u8],
    master: StreamId,
    deep: bool,
    acc: &mut EntryCheck,
    warn: &mut Warnings,
    lp_at: u64,
) -> std::result::Result<(), ErrorKind> {
    let n = master_count(data)?;
    match n {
        Some(n) if n > 0 => {
            acc.master_live = acc.master_live.and_then(|m| m.checked_add(n as u64));
        }
        // Deleting the last live entry removes a node, but Redis does not
        // check the count on load.
        Some(n) => {
            if n < 0 {
                acc.master_live = None;
            }
            warn.add(lp_at, || {
                format!("stream node {master} has a master entry count of {n} live entries")
            });
        }
        // Deep: streamValidateListpackIntegrity requires an integer
        // (NodeParser::start fails below).
        None if deep => {}
        None => {
            acc.master_live = None;
            warn.add(lp_at, || {
                format!("stream node {master}: the master entry count is not an integer")
            });
        }
    }
    if !deep {
        let mut it = BlobIter::new(BlobKind::Listpack, data).map_err(ErrorKind::from)?;
        while it.next(data).map_err(ErrorKind::from)?.is_some() {}
        return Ok(());
    }
    let mut np = NodeParser::start(data, master, true)?;
    let mut first = true;
    let mut order_warned = false;
    while let Some(deleted) = np.next(data)? {
        if first && np.cur_id != master {
            let id = np.cur_id;
            warn.add(lp_at, || {
                format!("stream node {master}: its first entry is {id}, not the node key")
            });
        }
        if let Some(prev) = acc.max_id {
            if np.cur_id <= prev && !order_warned {
                order_warned = true;
                let id = np.cur_id;
                warn.add(lp_at, || {
                    format!("stream entry {id} is not after the entry {prev} before it")
                });
            }
        }
        acc.max_id = Some(acc.max_id.map_or(np.cur_id, |m| m.max(np.cur_id)));
        if !deleted {
            acc.live = acc.live.wrapping_add(1);
        }
        first = false;
    }
    if np.seen_deleted != np.deleted {
        let (seen, said) = (np.seen_deleted, np.deleted);
        warn.add(lp_at, || {
            format!(
                "stream node {master} flags {seen} entries deleted, its master entry says \
                 {said} (Redis up to 7.4 does not check it; newer releases refuse it)"
            )
        });
    }
    Ok(())
}

/// Owner of a group PEL entry while the consumers are read.
const UNOWNED: u32 = u32::MAX;
/// Owner mark of an entry in the NACK zone.
const NACK_ZONE: u32 = u32::MAX - 1;

/// Checks of one group (at `offset`), as rdbLoadObject runs them:
/// * "Duplicated global PEL entry" (every version; 5.0/6.0 spell it
///   "gobal"): an error;
/// * "Duplicate stream consumer detected." (7.0+): an error in RDB 10+
///   files; 5.0-6.2 look the name up and reuse the consumer, so for older
///   files it is a warning and both names are one consumer;
/// * "Consumer entry not found in group global PEL" (every version): an error;
/// * "Duplicated consumer PEL entry" (the same consumer twice, every
///   version): an error; two different consumers owning one entry are
///   accepted by 5.0-7.4 and Valkey 8.1 (the last one wins), refused by
///   Valkey 9.1 and by Redis builds with the 2026 fix (Redis PR #15081;
///   Debian's 7.0.15 for CVE-2026-66373): a warning;
/// * deep (6.2+): "Stream CG PEL entry without consumer": an error.
///
/// NACK-zone entries (v5, Redis 8.6+) must be in the group PEL and owned
/// by no consumer.
fn check_group(
    g: &Group<'_>,
    offset: u64,
    deep: bool,
    rdb_version: u32,
    warn: &mut Warnings,
) -> Result<()> {
    let mut pel: Vec<StreamId> = Vec::with_capacity(g.pel_len().min(1 << 20) as usize);
    for e in g.pel() {
        pel.push(e?.id);
    }
    let sorted = pel.windows(2).all(|w| w[0] < w[1]);
    if !sorted {
        pel.sort_unstable();
        if pel.windows(2).any(|w| w[0] == w[1]) {
            return Err(Error::new(
                bad("duplicate ID in a group PEL".into()),
                offset,
            ));
        }
    }
    // Consumer names, and for each consumer the first with its name.
    let mut names: Vec<(Vec<u8>, u32)> =
        Vec::with_capacity(g.consumers_len().min(1 << 20) as usize);
    for (i, c) in g.consumers().enumerate() {
        names.push((c?.name.to_bytes()?.into_owned(), i as u32));
    }
    let mut canon: Vec<u32> = (0..names.len() as u32).collect();
    names.sort();
    let mut dup_warned = false;
    for w in names.windows(2) {
        if w[0].0 == w[1].0 {
            if rdb_version >= 10 {
                return Err(Error::new(
                    bad(format!(
                        "duplicate consumer name '{}'",
                        crate::format::escape_bytes(&w[0].0)
                    )),
                    offset,
                ));
            }
            canon[w[1].1 as usize] = canon[w[0].1 as usize];
            if !dup_warned {
                dup_warned = true;
                let name = crate::format::escape_bytes(&w[0].0);
                warn.add(offset, || {
                    format!(
                        "consumer name '{name}' appears twice in a group (Redis 5.0-6.2 \
                         load it as one consumer; 7.0+ refuse it)"
                    )
                });
            }
        }
    }
    drop(names);
    let mut owner = vec![UNOWNED; pel.len()];
    let mut shared_warned = false;
    for (i, c) in g.consumers().enumerate() {
        let who = canon[i];
        for id in c?.pel() {
            let Ok(j) = pel.binary_search(&id) else {
                return Err(Error::new(
                    bad(format!("consumer PEL entry {id} is not in the group PEL")),
                    offset,
                ));
            };
            match owner[j] {
                UNOWNED => owner[j] = who,
                o if o == who => {
                    return Err(Error::new(
                        bad(format!("consumer PEL holds the entry {id} twice")),
                        offset,
                    ))
                }
                _ => {
                    owner[j] = who;
                    if !shared_warned {
                        shared_warned = true;
                        warn.add(offset, || {
                            format!(
                                "PEL entry {id} is owned by two consumers \
                                 (Redis 6.x-7.4 and Valkey 8.1 load it, the last one owning \
                                 it; Valkey 9.1 and Redis builds with the 2026 stream fixes \
                                 refuse it)"
                            )
                        });
                    }
                }
            }
        }
    }
    if let Some(n) = g.nacked() {
        for id in n {
            match pel.binary_search(&id) {
                Ok(j) if owner[j] == UNOWNED => owner[j] = NACK_ZONE,
                Ok(_) => {
                    return Err(Error::new(
                        bad(format!("NACK zone entry {id} is owned or listed twice")),
                        offset,
                    ))
                }
                Err(_) => {
                    return Err(Error::new(
                        bad(format!("NACK zone entry {id} is not in the group PEL")),
                        offset,
                    ))
                }
            }
        }
    }
    if deep {
        if let Some(i) = owner.iter().position(|&o| o == UNOWNED) {
            return Err(Error::new(
                bad(format!("group PEL entry {} has no owner", pel[i])),
                offset,
            ));
        }
    }
    Ok(())
}
