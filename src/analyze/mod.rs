//! What a deployment's data costs in a server's memory: per key the
//! [`memory`](crate::memory) model's figure, summed by type, database,
//! key prefix and time to live, with the biggest keys, over one or several
//! dumps (the nodes of one deployment) at once.
//!
//! Every input is checked as `verify` checks it (every record decoded, the
//! CRC compared) while it is analysed, on all cores, in bounded memory:
//! the biggest keys are a bounded heap, prefixes are at most
//! [`AnalyzeOptions::max_prefixes`] buckets (the smallest folded into an
//! `(other)` bucket per depth). A key present in several inputs is counted
//! once in every sum (its first copy, in input order, as a merge with
//! `--on-conflict first` keeps it); the per-input sums and the biggest keys
//! list every copy.
//!
//! ```
//! use rdbkit::analyze::{analyze, AnalyzeOptions};
//! use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
//! use rdbkit::memory::{Allocator, Model};
//! use rdbkit::release::ServerRelease;
//!
//! let node = |keys: &[&str]| {
//!     let mut w = RdbWriter::new(Vec::new(), Target::redis(10)).unwrap();
//!     w.select_db(0).unwrap();
//!     for k in keys {
//!         w.key(k.as_bytes(), &OwnedValue::String(b"hello".to_vec()), KeyMeta::default()).unwrap();
//!     }
//!     w.finish().unwrap()
//! };
//! let (a, b) = (node(&["user:1", "user:2", "cart:9"]), node(&["user:2", "user:3"]));
//! let model = Model::new(ServerRelease::parse("redis-7.0").unwrap(), Allocator::Jemalloc).unwrap();
//! let opts = AnalyzeOptions::new(model);
//! let r = analyze(&[("node1", &a[..]), ("node2", &b[..])], &opts).unwrap();
//! assert_eq!(r.totals.keys, 4); // user:2 once
//! assert_eq!(r.totals.duplicates, 1);
//! assert_eq!(r.prefixes[0].prefix, b"user");
//! ```

#[cfg(feature = "json")]
mod json;
#[cfg(feature = "parquet")]
mod parquet;
mod prefix;
mod rows;

use std::borrow::Cow;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

#[cfg(feature = "parquet")]
#[cfg_attr(docsrs, doc(cfg(feature = "parquet")))]
pub use parquet::{KeysParquet, ROWS_PER_GROUP};
pub use prefix::Prefix;
pub use rows::write_rows;

use crate::decode::scan::{self, ScanOptions, Sink};
use crate::decode::{Decoder, Item, KeyRecord, Kind, Level, Options};
use crate::memory::{MemEncoding, Model};
use crate::merge::{Progress, Ticker};
use crate::{Error, Limits, Result};

/// A filter on key names (the command line's `--key REGEX`).
pub type KeyFilter = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// What to analyse and how.
#[derive(Clone)]
pub struct AnalyzeOptions {
    /// The memory model (server release and allocator).
    pub model: Model,
    /// The biggest keys to list: 100.
    pub top: usize,
    /// Separator of key prefixes: `:`.
    pub prefix_sep: Vec<u8>,
    /// Prefix levels: 3.
    pub prefix_depth: usize,
    /// Prefix buckets kept: 100,000.
    pub max_prefixes: usize,
    /// Only this database.
    pub db: Option<u64>,
    /// Only keys of this type.
    pub kind: Option<Kind>,
    /// Only keys this accepts.
    pub key_filter: Option<KeyFilter>,
    /// "Now" for expired keys and TTL buckets (unix ms).
    pub now_ms: i64,
    /// Where the analysis reports its progress (one phase, `"analyzing"`,
    /// over the inputs' bytes); `None`: nowhere.
    pub progress: Option<Arc<dyn crate::merge::ProgressSink>>,
}

impl AnalyzeOptions {
    /// The defaults with `model`, "now" being now.
    pub fn new(model: Model) -> Self {
        AnalyzeOptions {
            model,
            top: 100,
            prefix_sep: b":".to_vec(),
            prefix_depth: 3,
            max_prefixes: 100_000,
            db: None,
            kind: None,
            key_filter: None,
            now_ms: crate::now_ms(),
            progress: None,
        }
    }

    #[inline]
    fn wants(&self, k: &KeyRecord<'_>) -> Result<bool> {
        if self.db.is_some_and(|d| d != k.db) || self.kind.is_some_and(|t| t != k.value.kind()) {
            return Ok(false);
        }
        match &self.key_filter {
            Some(f) => Ok(f(&k.key.to_bytes()?)),
            None => Ok(true),
        }
    }
}

/// One key's figures. Its key bytes borrow from the input while the
/// analysis runs ([`for_each_key`]); the listed biggest keys own theirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow<'a> {
    /// Database.
    pub db: u64,
    /// Key bytes.
    pub key: Cow<'a, [u8]>,
    /// Type.
    pub kind: Kind,
    /// Encoding on the server after loading.
    pub encoding: MemEncoding,
    /// Elements (list/set/zset members, hash fields, stream entries; 1
    /// for a string).
    pub elements: u64,
    /// Bytes of the record in the file.
    pub serialized_bytes: u64,
    /// Bytes in the server's memory (`MEMORY USAGE`).
    pub memory_bytes: u64,
    /// Bytes the allocator gives it (what `used_memory` counts).
    pub allocated_bytes: u64,
    /// Expiry (unix ms).
    pub expire_ms: Option<i64>,
    /// Index of the input.
    pub input: usize,
}

impl KeyRow<'_> {
    /// The row with its key bytes owned.
    pub fn into_owned(self) -> KeyRow<'static> {
        KeyRow {
            key: Cow::Owned(self.key.into_owned()),
            ..self
        }
    }
}

impl PartialOrd for KeyRow<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Smallest memory first (the top-N heap keeps the biggest).
impl Ord for KeyRow<'_> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other
            .memory_bytes
            .cmp(&self.memory_bytes)
            .then_with(|| self.input.cmp(&other.input))
            .then_with(|| self.db.cmp(&other.db))
            .then_with(|| self.key.cmp(&other.key))
    }
}

/// Keys, expiries, and bytes in the file and in memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sums {
    /// Keys.
    pub keys: u64,
    /// Keys with an expiry.
    pub expires: u64,
    /// Elements.
    pub elements: u64,
    /// Bytes of their records in the file.
    pub serialized_bytes: u64,
    /// Bytes in memory (`MEMORY USAGE`).
    pub memory_bytes: u64,
    /// Bytes the allocator gives them (what `used_memory` counts).
    pub allocated_bytes: u64,
}

impl Sums {
    #[inline]
    fn add(&mut self, r: &KeyRow<'_>) {
        self.keys += 1;
        self.expires += u64::from(r.expire_ms.is_some());
        self.elements += r.elements;
        self.serialized_bytes += r.serialized_bytes;
        self.memory_bytes += r.memory_bytes;
        self.allocated_bytes += r.allocated_bytes;
    }

    fn merge(&mut self, o: &Sums) {
        self.keys += o.keys;
        self.expires += o.expires;
        self.elements += o.elements;
        self.serialized_bytes += o.serialized_bytes;
        self.memory_bytes += o.memory_bytes;
        self.allocated_bytes += o.allocated_bytes;
    }

    /// Takes a key counted twice off (saturating: a prefix bucket that
    /// was folded may hold less than the key).
    fn sub(&mut self, r: &KeyRow<'_>) {
        self.keys = self.keys.saturating_sub(1);
        self.expires = self
            .expires
            .saturating_sub(u64::from(r.expire_ms.is_some()));
        self.elements = self.elements.saturating_sub(r.elements);
        self.serialized_bytes = self.serialized_bytes.saturating_sub(r.serialized_bytes);
        self.memory_bytes = self.memory_bytes.saturating_sub(r.memory_bytes);
        self.allocated_bytes = self.allocated_bytes.saturating_sub(r.allocated_bytes);
    }
}

/// Upper bounds of the TTL buckets (time left after "now", ms).
pub const TTL_BUCKETS: [i64; 7] = [
    60_000,
    3_600_000,
    86_400_000,
    7 * 86_400_000,
    30 * 86_400_000,
    365 * 86_400_000,
    i64::MAX,
];

/// The cells of [`Ttl::slot`]: no expiry, expired, the buckets.
const TTL_SLOTS: usize = 2 + TTL_BUCKETS.len();

/// Keys by time to live.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ttl {
    /// Keys without an expiry.
    pub no_expiry: Sums,
    /// Keys already expired at "now" (a server drops them on load).
    pub expired: Sums,
    /// Keys expiring within each of [`TTL_BUCKETS`] (and after the one
    /// before).
    pub buckets: [Sums; TTL_BUCKETS.len()],
}

impl Ttl {
    /// The slot of a key expiring at `expire`: 0 no expiry, 1 expired at
    /// `now`, then the buckets.
    #[inline]
    fn slot(expire: Option<i64>, now: i64) -> usize {
        match expire {
            None => 0,
            Some(e) if e <= now => 1,
            Some(e) => {
                let left = e - now;
                2 + TTL_BUCKETS
                    .iter()
                    .position(|&b| left <= b)
                    .unwrap_or(TTL_BUCKETS.len() - 1)
            }
        }
    }

    /// The sums of a [`Ttl::slot`].
    fn slot_mut(&mut self, slot: usize) -> &mut Sums {
        match slot {
            0 => &mut self.no_expiry,
            1 => &mut self.expired,
            i => &mut self.buckets[(i - 2).min(TTL_BUCKETS.len() - 1)],
        }
    }

    fn sub(&mut self, r: &KeyRow<'_>, now: i64) {
        self.slot_mut(Ttl::slot(r.expire_ms, now)).sub(r);
    }

    fn merge(&mut self, o: &Ttl) {
        self.no_expiry.merge(&o.no_expiry);
        self.expired.merge(&o.expired);
        for (a, b) in self.buckets.iter_mut().zip(&o.buckets) {
            a.merge(b);
        }
    }
}

/// One input's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRow {
    /// Its name.
    pub name: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its RDB version.
    pub version: u32,
    /// What it holds (before de-duplication across inputs).
    pub sums: Sums,
}

/// The analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// Per input.
    pub inputs: Vec<InputRow>,
    /// All inputs, each key counted once.
    pub totals: Totals,
    /// By type and the encoding in memory.
    pub by_type: BTreeMap<(Kind, MemEncoding), Sums>,
    /// By database.
    pub by_db: BTreeMap<u64, Sums>,
    /// The biggest keys by memory, biggest first.
    pub top_keys: Vec<KeyRow<'static>>,
    /// Prefix buckets, biggest first.
    pub prefixes: Vec<Prefix>,
    /// No prefix bucket was folded: every bucket's figures are exact
    /// (else those kept are lower bounds; see [`Prefix`]).
    pub prefixes_exact: bool,
    /// By time to live.
    pub ttl: Ttl,
    /// What `INFO memory` `used_memory` minus `used_memory_startup` shows
    /// once every key is loaded: the keys, the databases' dicts of keys
    /// and of expiries.
    pub used_memory_estimate: u64,
    /// The model's release (`redis-7.0`).
    pub target: String,
    /// The allocator name.
    pub allocator: &'static str,
}

/// All inputs together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Keys counted once.
    pub sums: Sums,
    /// Keys (beyond the first copy) present in several inputs.
    pub duplicates: u64,
}

impl std::ops::Deref for Totals {
    type Target = Sums;
    fn deref(&self) -> &Sums {
        &self.sums
    }
}

/// A key's fingerprint (of its bytes and database), its record's offset
/// and its database.
type Located = (u64, u64, u64);

/// The analysis of one range (the scan engine's visitor), and of one
/// input when joined.
struct KeySink<'o> {
    opts: &'o AnalyzeOptions,
    input: usize,
    sums: Sums,
    /// By type and encoding: few pairs, so a list, with the last one
    /// found first.
    by_type: Vec<((Kind, MemEncoding), Sums)>,
    last_type: usize,
    /// By database (also the key and expiry counts of the estimate's
    /// dicts).
    by_db: BTreeMap<u64, Sums>,
    /// The database of the keys being walked (records of one database
    /// come together), and what they hold per type (as in `by_type`) and
    /// [`Ttl::slot`]: each key is added once, to its cell, and the cells
    /// are added to the sums, types, databases and TTLs when the
    /// database ends.
    cur_db: Option<u64>,
    cells: Vec<[Sums; TTL_SLOTS]>,
    top: BinaryHeap<KeyRow<'static>>,
    /// The smallest key listed once `top` is full (keys below it are not
    /// listed); nothing before.
    top_floor: Floor,
    prefixes: prefix::Prefixes,
    ttl: Ttl,
    /// Key fingerprints, record offsets and databases (several inputs
    /// only).
    fps: Option<Vec<Located>>,
    /// Progress, batched.
    tick: Option<Ticker<'o>>,
}

impl<'o> KeySink<'o> {
    fn new(
        opts: &'o AnalyzeOptions,
        input: usize,
        fingerprints: bool,
        tick: Option<Ticker<'o>>,
    ) -> Self {
        KeySink {
            opts,
            input,
            sums: Sums::default(),
            by_type: Vec::new(),
            last_type: 0,
            by_db: BTreeMap::new(),
            cur_db: None,
            cells: Vec::new(),
            top: BinaryHeap::new(),
            top_floor: Floor::OPEN,
            prefixes: prefix::Prefixes::new(opts),
            ttl: Ttl::default(),
            fps: fingerprints.then(Vec::new),
            tick,
        }
    }
}

impl KeySink<'_> {
    /// The index of a type and encoding in `by_type` (and `cells`).
    #[inline]
    fn type_index(&mut self, k: (Kind, MemEncoding)) -> usize {
        if self.by_type.get(self.last_type).is_none_or(|e| e.0 != k) {
            self.last_type = match self.by_type.iter().position(|e| e.0 == k) {
                Some(i) => i,
                None => {
                    self.by_type.push((k, Sums::default()));
                    self.cells.push(Default::default());
                    self.by_type.len() - 1
                }
            };
        }
        self.last_type
    }

    /// The sums of a type and encoding.
    fn type_sums(&mut self, k: (Kind, MemEncoding)) -> &mut Sums {
        let i = self.type_index(k);
        &mut self.by_type[i].1
    }

    /// Counts a key in its cell.
    #[inline]
    fn count(&mut self, r: &KeyRow<'_>) {
        if self.cur_db != Some(r.db) {
            self.settle_db();
            self.cur_db = Some(r.db);
        }
        let t = self.type_index((r.kind, r.encoding));
        self.cells[t][Ttl::slot(r.expire_ms, self.opts.now_ms)].add(r);
    }

    /// Adds the cells of the database being walked to the sums, types,
    /// databases and TTLs.
    fn settle_db(&mut self) {
        let Some(db) = self.cur_db.take() else {
            return;
        };
        let mut in_db = Sums::default();
        for (t, cells) in self.cells.iter_mut().enumerate() {
            for (slot, c) in cells.iter_mut().enumerate() {
                if c.keys > 0 {
                    in_db.merge(c);
                    self.by_type[t].1.merge(c);
                    self.ttl.slot_mut(slot).merge(c);
                    *c = Sums::default();
                }
            }
        }
        self.sums.merge(&in_db);
        self.by_db.entry(db).or_default().merge(&in_db);
    }

    /// Lists `r` among the biggest keys if it is one of them.
    #[cold]
    fn offer_top(&mut self, r: KeyRow<'_>) {
        let n = self.opts.top;
        if n == 0 {
            self.top_floor.memory = u64::MAX;
            return;
        }
        if self.top.len() < n {
            self.top.push(r.into_owned());
        } else if self.top.peek().is_some_and(|min| r < *min) {
            self.top.pop();
            self.top.push(r.into_owned());
        }
        if let Some(min) = self.top.peek().filter(|_| self.top.len() == n) {
            self.top_floor = Floor {
                memory: min.memory_bytes,
                input: min.input,
                db: min.db,
                key8: key8(&min.key),
            };
        }
    }

    /// The types' sums in order.
    fn types(&self) -> BTreeMap<(Kind, MemEncoding), Sums> {
        self.by_type.iter().copied().collect()
    }
}

/// The order of the smallest key listed among the biggest, for a quick
/// check of the keys that are not (the rows' order, [`KeyRow::cmp`]).
#[derive(Clone, Copy)]
struct Floor {
    memory: u64,
    input: usize,
    db: u64,
    /// The key's first 8 bytes, big-endian, zero-padded.
    key8: u64,
}

impl Floor {
    /// No floor: the list is not full.
    const OPEN: Floor = Floor {
        memory: 0,
        input: usize::MAX,
        db: u64::MAX,
        key8: u64::MAX,
    };

    /// Whether `r`, of at least the floor's memory, may come before the
    /// floor (false only when it surely does not: a tie of memory, input
    /// and database with a greater key).
    #[inline(always)]
    fn may_list(&self, r: &KeyRow<'_>) -> bool {
        r.memory_bytes > self.memory
            || (r.input, r.db, key8(&r.key)) <= (self.input, self.db, self.key8)
    }
}

/// A key's first 8 bytes as a big-endian number, zero-padded: keys whose
/// numbers differ are ordered as their bytes are.
#[inline]
fn key8(k: &[u8]) -> u64 {
    match k.first_chunk::<8>() {
        Some(w) => u64::from_be_bytes(*w),
        None => k
            .iter()
            .enumerate()
            .fold(0, |n, (i, &b)| n | u64::from(b) << (56 - 8 * i)),
    }
}

/// A key's row: the model's figure and the element count.
#[inline]
fn row<'a>(opts: &AnalyzeOptions, k: &KeyRecord<'a>, input: usize) -> Result<KeyRow<'a>> {
    let key = k.key.to_bytes()?;
    let m = opts.model.key(k).map_err(|e| e.with_key(&key))?;
    let elements = match m.elements {
        Some(n) => n,
        None => elements(k).map_err(|e| e.with_key(&key))?,
    };
    Ok(KeyRow {
        db: k.db,
        elements,
        key,
        kind: k.value.kind(),
        encoding: m.encoding,
        serialized_bytes: k.span.len() as u64,
        memory_bytes: m.bytes,
        allocated_bytes: m.allocated,
        expire_ms: k.expire_ms,
        input,
    })
}

/// Elements of a value: members, fields, entries; 1 for a string.
fn elements(k: &KeyRecord<'_>) -> Result<u64> {
    let v = &k.value;
    Ok(match v.kind() {
        Kind::String | Kind::Module => 1,
        Kind::Stream => v.stream()?.length,
        _ => {
            let mut it = v.items()?;
            if let Some(n) = it.len_hint() {
                n
            } else {
                let mut n = 0;
                match v.kind() {
                    Kind::ZSet => {
                        while it.next_scored()?.is_some() {
                            n += 1;
                        }
                    }
                    Kind::Hash => {
                        while it.next_field()?.is_some() {
                            n += 1;
                        }
                    }
                    _ => {
                        while it.next_elem()?.is_some() {
                            n += 1;
                        }
                    }
                }
                n
            }
        }
    })
}

impl<'a> Sink<'a> for KeySink<'_> {
    fn record(&mut self, at: usize, item: &Item<'a>, dec: &Decoder<'a>) -> Result<()> {
        if let Some(t) = &mut self.tick {
            t.at(dec.offset(), u64::from(matches!(item, Item::Key(_))));
        }
        let Item::Key(k) = item else {
            return Ok(());
        };
        if !self.opts.wants(k)? {
            return Ok(());
        }
        let r = row(self.opts, k, self.input)?;
        if let Some(fps) = &mut self.fps {
            let fp = crate::decode::key_fingerprint(r.db, &r.key);
            fps.push((fp, at as u64, r.db));
        }
        self.count(&r);
        self.prefixes.add(&r);
        // Most keys are smaller than the smallest listed: one comparison.
        if r.memory_bytes >= self.top_floor.memory && self.top_floor.may_list(&r) {
            self.offer_top(r);
        }
        Ok(())
    }

    fn end(&mut self, walked: &scan::Walked, _warnings: crate::decode::Warnings) -> Result<()> {
        self.settle_db();
        if let Some(t) = &mut self.tick {
            t.flush(walked.end);
        }
        Ok(())
    }

    fn append(&mut self, mut next: Self) {
        self.settle_db();
        next.settle_db();
        self.sums.merge(&next.sums);
        for (k, s) in next.by_type {
            self.type_sums(k).merge(&s);
        }
        for (k, s) in next.by_db {
            self.by_db.entry(k).or_default().merge(&s);
        }
        self.ttl.merge(&next.ttl);
        self.prefixes.merge(next.prefixes);
        for r in next.top {
            push_top(&mut self.top, r, self.opts.top);
        }
        if let (Some(a), Some(b)) = (&mut self.fps, next.fps) {
            a.extend(b);
        }
    }
}

fn push_top(top: &mut BinaryHeap<KeyRow<'static>>, r: KeyRow<'static>, n: usize) {
    if n == 0 {
        return;
    }
    if top.len() < n {
        top.push(r);
    } else if top.peek().is_some_and(|min| r < *min) {
        top.pop();
        top.push(r);
    }
}

/// Calls `f` with every key's row of one input, in file order, decoding
/// it as `verify` does (one core): for listings that stream, as the CSV
/// form of `rdbkit analyze`.
///
/// # Errors
/// The first decoding error (with its offset and key), or `f`'s error.
pub fn for_each_key(
    data: &[u8],
    input: usize,
    opts: &AnalyzeOptions,
    mut f: impl FnMut(&KeyRow<'_>) -> Result<()>,
) -> Result<()> {
    let o = Options {
        level: Level::Full,
        verify_checksum: true,
        limits: Limits::default(),
    };
    for item in Decoder::new(data, o)? {
        if let Item::Key(k) = item? {
            if opts.wants(&k)? {
                f(&row(opts, &k, input)?)?;
            }
        }
    }
    Ok(())
}

/// Analyses `inputs` ((name, bytes) pairs, the nodes of one deployment).
///
/// # Errors
/// An [`InputError`] for the first input that is not a valid RDB file (as
/// `verify` finds it: the error has the offset and the key); no partial
/// analysis is returned.
pub fn analyze(
    inputs: &[(&str, &[u8])],
    opts: &AnalyzeOptions,
) -> std::result::Result<Analysis, InputError> {
    let several = inputs.len() > 1;
    let progress = Progress::new(opts.progress.clone());
    let total: u64 = inputs.iter().map(|i| i.1.len() as u64).sum();
    progress.phase("analyzing", total);
    let prog = opts.progress.is_some().then_some(&progress);
    let cores = scan::cores();
    let threads = (cores / inputs.len().max(1)).max(1);
    type One<'o> = std::result::Result<(KeySink<'o>, u32), InputError>;
    let sinks: Vec<One<'_>> = scan::fan_out(inputs.len(), cores, |i| {
        let (name, data) = inputs[i];
        let named = |error: Error| InputError {
            input: i,
            name: name.to_string(),
            error,
        };
        let header = crate::format::Header::parse(data).map_err(named)?;
        let so = ScanOptions {
            decode: Options {
                level: Level::Full,
                verify_checksum: true,
                limits: Limits::default(),
            },
            threads,
            fingerprint: false,
        };
        let s = scan::scan(data, &so, |start| {
            KeySink::new(opts, i, several, prog.map(|p| Ticker::new(p, start)))
        })
        .map_err(named)?;
        Ok((s.sink, header.version))
    });
    let mut joined: Vec<KeySink<'_>> = Vec::with_capacity(inputs.len());
    let mut rows = Vec::with_capacity(inputs.len());
    for (i, s) in sinks.into_iter().enumerate() {
        let (s, version) = s?;
        rows.push(InputRow {
            name: inputs[i].0.to_string(),
            bytes: inputs[i].1.len() as u64,
            version,
            sums: s.sums,
        });
        joined.push(s);
    }
    progress.finish();
    let mut all = KeySink::new(opts, 0, false, None);
    let mut fps: Vec<Vec<Located>> = Vec::new();
    for mut s in joined {
        fps.push(s.fps.take().unwrap_or_default());
        all.append(s);
    }
    let duplicates = if several {
        // The inputs were checked: a failure here is of re-reading them.
        remove_duplicates(inputs, opts, &mut fps, &mut all).map_err(|error| InputError {
            input: 0,
            name: inputs[0].0.to_string(),
            error,
        })?
    } else {
        0
    };
    let used = used_memory(opts, &all);
    let by_type = all.types();
    let mut top = all.top.into_vec();
    top.sort();
    Ok(Analysis {
        inputs: rows,
        totals: Totals {
            sums: all.sums,
            duplicates,
        },
        by_type,
        by_db: all.by_db,
        top_keys: top,
        prefixes_exact: !all.prefixes.folded,
        prefixes: all.prefixes.into_sorted(),
        ttl: all.ttl,
        used_memory_estimate: used,
        target: {
            let r = opts.model.release();
            let lineage = if r.valkey { "valkey" } else { "redis" };
            format!("{lineage}-{}.{}", r.major, r.minor)
        },
        allocator: opts.model.allocator().name(),
    })
}

/// An input that could not be analysed: which one, and why.
pub use crate::InputError;

/// Counts each key present in several inputs once: the copies after the
/// first (in input order) come off the totals, the type, database and TTL
/// sums. Fingerprints are confirmed on the keys' bytes.
fn remove_duplicates(
    inputs: &[(&str, &[u8])],
    opts: &AnalyzeOptions,
    fps: &mut [Vec<Located>],
    all: &mut KeySink<'_>,
) -> Result<u64> {
    // Each list sorted by fingerprint, and the input in the offset's top
    // bits (offsets of mapped files stay far below 2^48).
    for (i, f) in fps.iter_mut().enumerate() {
        for e in f.iter_mut() {
            e.1 |= (i as u64) << 48;
        }
        f.sort_unstable();
    }
    let lists: Vec<&[Located]> = fps.iter().map(|f| &f[..]).collect();
    let skip = Options {
        level: Level::Skip,
        verify_checksum: false,
        limits: Limits::default(),
    };
    let mut dups = 0;
    scan::equal_groups(
        &lists,
        |e| e.0,
        |group| -> Result<()> {
            // The first copy of each key (in input order) stays.
            let mut seen: Vec<(u64, Vec<u8>)> = Vec::new();
            for &&(_, loc, db) in group {
                let (i, off) = ((loc >> 48) as usize, (loc & ((1 << 48) - 1)) as usize);
                let k = scan::record_at(inputs[i].1, off, db, skip)?;
                if !opts.wants(&k)? {
                    continue;
                }
                let key = k.key.to_bytes()?.into_owned();
                if seen.iter().any(|(db, kk)| *db == k.db && *kk == key) {
                    let r = row(opts, &k, i)?;
                    dups += 1;
                    all.sums.sub(&r);
                    all.type_sums((r.kind, r.encoding)).sub(&r);
                    if let Some(s) = all.by_db.get_mut(&r.db) {
                        s.sub(&r);
                    }
                    all.ttl.sub(&r, opts.now_ms);
                    all.prefixes.sub(&r);
                } else {
                    seen.push((k.db, key));
                }
            }
            Ok(())
        },
    )?;
    Ok(dups)
}

/// `used_memory` − `used_memory_startup` after loading: every key as
/// allocated (keys already expired are dropped on load), and per database
/// the dicts of keys and of expiries.
fn used_memory(opts: &AnalyzeOptions, all: &KeySink<'_>) -> u64 {
    let keys = all
        .sums
        .allocated_bytes
        .saturating_sub(all.ttl.expired.allocated_bytes);
    let dicts: u64 = all
        .by_db
        .values()
        .map(|s| opts.model.db_dicts(s.keys, s.expires))
        .sum();
    keys + dicts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
    use crate::memory::Allocator;
    use crate::release::ServerRelease;

    /// With many keys of one size (ties broken by key bytes, some keys
    /// sharing their first 8 bytes) the biggest keys listed are those of
    /// a plain sort of every row, at any list length and over parallel
    /// ranges.
    #[test]
    fn biggest_keys_are_those_of_a_plain_sort() {
        let mut w = RdbWriter::new(Vec::new(), Target::redis(11)).unwrap();
        w.select_db(0).unwrap();
        let mut x = 11u64;
        for i in 0..60_000u32 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Unique keys, many with the same first 8 bytes.
            let key = match i % 3 {
                0 => format!("k{}-{i}", x % 1000),
                1 => format!("samehead:{}", x % 100_000 * 100_000 + u64::from(i)),
                _ => format!("z{i}"),
            };
            let len = if x >> 60 == 0 { 700 } else { 300 };
            // Bytes LZF cannot shrink: a file of several scan ranges.
            let v: Vec<u8> = (0..len)
                .map(|j| (x.rotate_left(j as u32 % 64) >> 56) as u8 ^ j as u8)
                .collect();
            w.key(key.as_bytes(), &OwnedValue::String(v), KeyMeta::default())
                .unwrap();
        }
        let file = w.finish().unwrap();
        assert!(file.len() > 16 << 20);
        let model = Model::new(
            ServerRelease::parse("redis-7.4").unwrap(),
            Allocator::Jemalloc,
        )
        .unwrap();
        let mut all = Vec::new();
        for_each_key(&file, 0, &AnalyzeOptions::new(model), |r| {
            all.push(r.clone().into_owned());
            Ok(())
        })
        .unwrap();
        all.sort();
        for top in [1, 7, 100, 5000] {
            let mut o = AnalyzeOptions::new(model);
            o.top = top;
            let a = analyze(&[("in", &file[..])], &o).unwrap();
            assert_eq!(a.top_keys, all[..top], "top {top}");
        }
    }
}
