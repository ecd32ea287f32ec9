//! Helpers shared by the integration tests that read the third-party corpus
//! in `../shared/corpus` (outside the repository; never copied into it).
//!
//! Every test binary includes this module with `mod common;` and uses only
//! part of it, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use rdbkit::decode::{ArrayValue, Elem, Kind, StreamId, Value};

/// The corpus folder, or `None` (after printing why the caller skips) when
/// it is absent.
pub fn corpus_dir(test: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("{test}: SKIPPED: corpus folder {} is absent", dir.display());
        None
    }
}

/// One row of a tab-separated index file with a header line.
#[derive(Debug, Clone)]
pub struct Row(pub BTreeMap<String, String>);

impl Row {
    /// The value of a column ("" when the column does not exist).
    pub fn get(&self, col: &str) -> &str {
        self.0.get(col).map_or("", String::as_str)
    }
}

/// Reads a TSV file with a header line.
pub fn read_tsv(path: &std::path::Path) -> Vec<Row> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            Row(header
                .iter()
                .zip(l.split('\t'))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect())
        })
        .collect()
}

/// A value decoded into plain Rust data, for comparisons. Building it reads
/// every element of the value (every stream entry, group, PEL entry and
/// consumer), so any error hidden in a lazily decoded part surfaces here.
#[derive(Debug, Clone, PartialEq)]
pub enum Norm {
    /// String.
    Str(Vec<u8>),
    /// List elements in order.
    List(Vec<Vec<u8>>),
    /// Set members.
    Set(BTreeSet<Vec<u8>>),
    /// Hash field -> value (field TTLs are ignored).
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    /// Sorted-set member -> score.
    ZSet(BTreeMap<Vec<u8>, f64>),
    /// Stream.
    Stream(NormStream),
    /// Module value: name, encoding version, payload size.
    Module(String, u32, usize),
    /// Array: index -> value rendered as text.
    Array(Vec<(u64, String)>),
}

impl Norm {
    /// Number of elements (entries for streams, 1 for strings and modules).
    pub fn len(&self) -> usize {
        match self {
            Norm::Str(_) | Norm::Module(..) => 1,
            Norm::List(v) => v.len(),
            Norm::Set(v) => v.len(),
            Norm::Hash(v) => v.len(),
            Norm::ZSet(v) => v.len(),
            Norm::Stream(s) => s.entries.len(),
            Norm::Array(v) => v.len(),
        }
    }

    /// Whether the value has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A stream entry: its ID and field/value pairs in order.
pub type NormEntry = (StreamId, Vec<(Vec<u8>, Vec<u8>)>);

/// A consumer: name, seen time, active time (v3+), owned IDs.
pub type NormConsumer = (Vec<u8>, i64, Option<i64>, Vec<StreamId>);

/// A stream's content.
#[derive(Debug, Clone, PartialEq)]
pub struct NormStream {
    /// Live entries.
    pub entries: Vec<NormEntry>,
    /// Entries marked deleted (only counted).
    pub deleted: usize,
    /// Stated length.
    pub length: u64,
    /// Last ID.
    pub last_id: StreamId,
    /// First ID (v2+).
    pub first_id: Option<StreamId>,
    /// Max deleted ID (v2+).
    pub max_deleted_id: Option<StreamId>,
    /// Entries added (v2+).
    pub entries_added: Option<u64>,
    /// Consumer groups.
    pub groups: Vec<NormGroup>,
    /// IDMP (duration, max entries, producers).
    pub idmp: Option<(u64, u64, u64)>,
}

/// A consumer group's content.
#[derive(Debug, Clone, PartialEq)]
pub struct NormGroup {
    /// Name.
    pub name: Vec<u8>,
    /// Last delivered ID.
    pub last_id: StreamId,
    /// Entries read.
    pub entries_read: Option<u64>,
    /// PEL: id, delivery time, delivery count.
    pub pel: Vec<(StreamId, i64, u64)>,
    /// Consumers.
    pub consumers: Vec<NormConsumer>,
    /// NACK zone IDs (v5+).
    pub nacked: Option<Vec<StreamId>>,
}

fn b(e: Elem<'_>) -> Vec<u8> {
    e.to_bytes().into_owned()
}

/// Decodes every element of `v` into a [`Norm`], using the `next_*` method
/// that matches its kind.
pub fn normalise(v: &Value<'_>) -> rdbkit::Result<Norm> {
    Ok(match v.kind() {
        Kind::String => Norm::Str(v.string()?.to_bytes()?.into_owned()),
        Kind::List => {
            let mut it = v.items()?;
            let mut out = Vec::new();
            while let Some(e) = it.next_elem()? {
                out.push(b(e));
            }
            Norm::List(out)
        }
        Kind::Set => {
            let mut it = v.items()?;
            let mut out = BTreeSet::new();
            while let Some(e) = it.next_elem()? {
                out.insert(b(e));
            }
            Norm::Set(out)
        }
        Kind::ZSet => {
            let mut it = v.items()?;
            let mut out = BTreeMap::new();
            while let Some((m, s)) = it.next_scored()? {
                out.insert(b(m), s);
            }
            Norm::ZSet(out)
        }
        Kind::Hash => {
            let mut it = v.items()?;
            let mut out = BTreeMap::new();
            while let Some(f) = it.next_field()? {
                out.insert(b(f.field), b(f.value));
            }
            Norm::Hash(out)
        }
        Kind::Array => {
            let mut it = v.items()?;
            let mut out = Vec::new();
            while let Some((i, x)) = it.next_array()? {
                let s = match x {
                    ArrayValue::Bytes(e) => String::from_utf8_lossy(&e.to_bytes()).into_owned(),
                    ArrayValue::Int(n) => n.to_string(),
                    ArrayValue::Float(f) => f.to_string(),
                };
                out.push((i, s));
            }
            Norm::Array(out)
        }
        Kind::Module => {
            let m = v.module()?;
            Norm::Module(m.id.name(), m.id.encver(), m.payload.len())
        }
        Kind::Stream => {
            let s = v.stream()?;
            let mut entries = Vec::new();
            let mut deleted = 0;
            let mut cur = s.entries().include_deleted(true);
            while let Some(e) = cur.next_entry()? {
                if e.deleted {
                    deleted += 1;
                    continue;
                }
                let fields = e.fields().map(|(f, v)| (b(f), b(v))).collect();
                entries.push((e.id, fields));
            }
            let mut groups = Vec::new();
            for g in s.groups() {
                let g = g?;
                let mut pel = Vec::new();
                for p in g.pel() {
                    let p = p?;
                    pel.push((p.id, p.delivery_time_ms, p.delivery_count));
                }
                let mut consumers = Vec::new();
                for c in g.consumers() {
                    let c = c?;
                    consumers.push((
                        c.name.to_bytes()?.into_owned(),
                        c.seen_time_ms,
                        c.active_time_ms,
                        c.pel().collect(),
                    ));
                }
                groups.push(NormGroup {
                    name: g.name.to_bytes()?.into_owned(),
                    last_id: g.last_id,
                    entries_read: g.entries_read,
                    pel,
                    consumers,
                    nacked: g.nacked().map(|n| n.collect()),
                });
            }
            Norm::Stream(NormStream {
                entries,
                deleted,
                length: s.length,
                last_id: s.last_id,
                first_id: s.first_id,
                max_deleted_id: s.max_deleted_id,
                entries_added: s.entries_added,
                groups,
                idmp: s.idmp.map(|i| (i.duration_s, i.max_entries, i.producers)),
            })
        }
        other => {
            return Err(rdbkit::Error::corrupt(
                format!("no normal form for type {other}"),
                0,
            ))
        }
    })
}

/// Renders bytes the way the reference JSON outputs do: valid UTF-8 as is,
/// every byte of an invalid sequence as the code point of the same value
/// (the Latin-1 fallback of rdb-rs; librdb's outputs in the corpus are ASCII).
pub fn text(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        s.push_str(chunk.valid());
        s.extend(chunk.invalid().iter().map(|&c| char::from(c)));
    }
    s
}
