//! Comparing two datasets, each one file or the union of several (the
//! nodes of a deployment): [`diff`].
//!
//! Each side is scanned once by the scan engine ([`crate::decode::scan`]),
//! in parallel, into 32 bytes per key: a fingerprint of the database and
//! key, the [`value_digest`] of the value (its type and logical value,
//! whatever the encoding), the expiry, and where the record is. The two
//! lists are sorted and walked together; keys are read again from the
//! inputs only for the differences, to name them and, for small
//! collections, to say which elements differ.
//!
//! ```
//! use rdbkit::diff::{diff, Change, DiffOptions};
//! use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
//! let file = |t: Target, v: &str| {
//!     let mut w = RdbWriter::new(Vec::new(), t).unwrap();
//!     w.select_db(0).unwrap();
//!     for (k, val) in [("a", "1"), ("b", v)] {
//!         w.key(k.as_bytes(), &OwnedValue::String(val.as_bytes().to_vec()), KeyMeta::default()).unwrap();
//!     }
//!     w.finish().unwrap()
//! };
//! let (left, right) = (file(Target::redis(9), "x"), file(Target::redis(11), "y"));
//! let mut found = Vec::new();
//! let s = diff(&[("left", &left[..])], &[("right", &right[..])], &DiffOptions::default(), |d| {
//!     found.push((d.key.clone(), d.change));
//!     Ok(())
//! })
//! .unwrap();
//! assert_eq!(found, vec![(b"b".to_vec(), Change::Value)]);
//! assert_eq!((s.equal, s.value, s.differences()), (1, 1, 1));
//! ```

mod digest;

pub use digest::value_digest;
use digest::Digester;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::decode::scan::{self, ScanOptions, Sink};
use crate::decode::{Decoder, Elem, Item, KeyRecord, Kind, Level, Options};
use crate::{Error, InputError, Limits, Result};

/// Which keys count, and how expiries compare.
#[derive(Clone, Default)]
pub struct DiffOptions {
    /// Only this database.
    pub db: Option<u64>,
    /// Only keys this accepts (on both sides).
    pub key_filter: Option<KeyFilter>,
    /// Keys this accepts are left out (on both sides).
    pub ignore: Option<KeyFilter>,
    /// Only this type.
    pub kind: Option<Kind>,
    /// How expiries compare.
    pub ttl: TtlRule,
}

/// A test of key bytes.
pub type KeyFilter = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// How expiries compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TtlRule {
    /// To the millisecond.
    #[default]
    Exact,
    /// Not at all.
    Ignore,
    /// Within this many milliseconds (both with an expiry, or neither).
    Tolerance(u64),
}

/// What differs about a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Change {
    /// Only on the left.
    OnlyLeft,
    /// Only on the right.
    OnlyRight,
    /// Another type.
    Type,
    /// Another value.
    Value,
    /// Another expiry.
    Ttl,
    /// Twice on the left with different values or expiries (the first
    /// copy, in input order, is compared with the right).
    DuplicateLeft,
    /// Twice on the right with different values or expiries.
    DuplicateRight,
}

impl Change {
    /// The name in reports: `only_left`, `only_right`, `type`, `value`,
    /// `ttl`, `duplicate_left`, `duplicate_right`.
    pub fn name(self) -> &'static str {
        match self {
            Change::OnlyLeft => "only_left",
            Change::OnlyRight => "only_right",
            Change::Type => "type",
            Change::Value => "value",
            Change::Ttl => "ttl",
            Change::DuplicateLeft => "duplicate_left",
            Change::DuplicateRight => "duplicate_right",
        }
    }
}

/// One side of a differing key (for a duplicate: the first copy on the
/// left, the second on the right).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideKey {
    /// Type.
    pub kind: Kind,
    /// Expiry (unix ms).
    pub expire_ms: Option<i64>,
    /// Elements (1 for a string).
    pub elements: u64,
    /// The input it is in (index within its side).
    pub input: usize,
}

/// Which elements differ, for a value change of two small collections of
/// one type: at most [`DETAIL_MAX`] of each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detail {
    /// Members (fields) only on the left.
    pub only_left: Vec<Vec<u8>>,
    /// Members (fields) only on the right.
    pub only_right: Vec<Vec<u8>>,
    /// Members (fields) on both sides with another score (value or TTL).
    pub differing: Vec<Vec<u8>>,
}

/// Elements listed per kind of difference.
pub const DETAIL_MAX: usize = 10;

/// Collections up to this many elements on each side get a [`Detail`].
pub const DETAIL_ELEMENTS: u64 = 10_000;

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Database.
    pub db: u64,
    /// Key.
    pub key: Vec<u8>,
    /// What differs.
    pub change: Change,
    /// The left key, if any.
    pub left: Option<SideKey>,
    /// The right key, if any.
    pub right: Option<SideKey>,
    /// Which elements differ (value changes of small collections).
    pub detail: Option<Detail>,
}

/// The counts of a comparison.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Distinct keys on the left.
    pub left_keys: u64,
    /// Distinct keys on the right.
    pub right_keys: u64,
    /// Keys equal on both sides.
    pub equal: u64,
    /// Keys only on the left.
    pub only_left: u64,
    /// Keys only on the right.
    pub only_right: u64,
    /// Keys of another type.
    pub type_: u64,
    /// Keys with another value.
    pub value: u64,
    /// Keys with another expiry (and the same value).
    pub ttl: u64,
    /// Keys twice on one side with different values or expiries.
    pub duplicates: u64,
}

impl Summary {
    /// Adds the counts of another part of the comparison.
    fn add(&mut self, o: &Summary) {
        self.left_keys += o.left_keys;
        self.right_keys += o.right_keys;
        self.equal += o.equal;
        self.only_left += o.only_left;
        self.only_right += o.only_right;
        self.type_ += o.type_;
        self.value += o.value;
        self.ttl += o.ttl;
        self.duplicates += o.duplicates;
    }

    /// Differences of every kind.
    pub fn differences(&self) -> u64 {
        self.only_left + self.only_right + self.type_ + self.value + self.ttl + self.duplicates
    }
}

/// What a failed comparison reports: an input, or the callback's error.
#[derive(Debug)]
pub enum DiffError {
    /// An input is not a valid RDB file (nothing was compared).
    Input {
        /// Its side: 0 left, 1 right.
        side: usize,
        /// The input (its index within its side), and what is wrong.
        error: InputError,
    },
    /// The callback failed (for example, writing the report).
    Report(Error),
}

impl std::fmt::Display for DiffError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DiffError::Input { error, .. } => error.fmt(f),
            DiffError::Report(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for DiffError {}

/// One key: 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    /// Fingerprint of the key and its database.
    fp: u64,
    /// [`value_digest`].
    digest: u64,
    /// Expiry, `i64::MIN` for none.
    expire: i64,
    /// Input (8 bits), type (4 bits) and record offset (48 bits).
    loc: u64,
}

const NO_EXPIRY: i64 = i64::MIN;
const OFFSET_BITS: u32 = 48;
/// The most inputs per side.
pub const MAX_INPUTS: usize = 255;

const KINDS: [Kind; 8] = [
    Kind::String,
    Kind::List,
    Kind::Set,
    Kind::ZSet,
    Kind::Hash,
    Kind::Stream,
    Kind::Module,
    Kind::Array,
];

fn kind_code(k: Kind) -> u64 {
    KINDS.iter().position(|&x| x == k).unwrap_or(6) as u64
}

impl Entry {
    fn input(&self) -> usize {
        (self.loc >> 56) as usize
    }

    fn kind(&self) -> Kind {
        KINDS[((self.loc >> OFFSET_BITS) & 0xf) as usize & 7]
    }

    fn offset(&self) -> usize {
        (self.loc & ((1 << OFFSET_BITS) - 1)) as usize
    }

    fn expire(&self) -> Option<i64> {
        (self.expire != NO_EXPIRY).then_some(self.expire)
    }

    fn raw(&self) -> Raw {
        [self.fp, self.digest, self.expire as u64, self.loc]
    }

    fn of(r: &Raw) -> Entry {
        Entry {
            fp: r[0],
            digest: r[1],
            expire: r[2] as i64,
            loc: r[3],
        }
    }
}

/// An entry as stored once sorted: `[fp, digest, expire, loc]` (an array
/// of integers, so a side's table can be allocated zeroed and filled in any
/// order, its pages taken as they are written).
type Raw = [u64; 4];

/// Buckets of the sort, by the top byte of the fingerprint.
const BUCKETS: usize = 256;

fn bucket_of(fp: u64) -> usize {
    (fp >> 56) as usize
}

/// A worker's buffers for [`sort_bucket`].
#[derive(Default)]
struct Scratch {
    table: Vec<Raw>,
    counts: Vec<usize>,
}

/// Bits of the fingerprint below the bucket's byte that the bucket sort
/// distributes on (a bucket of n entries then has about n / 2048 per
/// digit, which an insertion pass puts in order).
const SUB_BITS: u32 = 11;

/// Sorts a bucket by fingerprint, stably (entries of one fingerprint, one
/// key in several inputs or copies or a collision, stay in record order):
/// a counting sort on the next [`SUB_BITS`] bits, then an insertion pass.
fn sort_bucket(b: &mut [Raw], scratch: &mut Scratch) {
    /// Puts `x` at `b[i]`, behind the entries of `b[..i]` bigger than it
    /// (which move up one).
    fn insert(b: &mut [Raw], i: usize, x: Raw) {
        let mut j = i;
        while j > 0 && b[j - 1][0] > x[0] {
            b[j] = b[j - 1];
            j -= 1;
        }
        b[j] = x;
    }
    if b.len() < 64 {
        for i in 1..b.len() {
            insert(b, i, b[i]);
        }
        return;
    }
    let shift = 56 - SUB_BITS;
    let digit = |r: &Raw| ((r[0] >> shift) as usize) & ((1 << SUB_BITS) - 1);
    let counts = &mut scratch.counts;
    counts.clear();
    counts.resize((1 << SUB_BITS) + 1, 0);
    for r in b.iter() {
        counts[digit(r) + 1] += 1;
    }
    for i in 1..counts.len() {
        counts[i] += counts[i - 1];
    }
    // Grown, never cleared: every slot used below is written first.
    if scratch.table.len() < b.len() {
        scratch.table.resize(b.len(), [0; 4]);
    }
    let table = &mut scratch.table[..b.len()];
    for r in b.iter() {
        let d = digit(r);
        table[counts[d]] = *r;
        counts[d] += 1;
    }
    // Back into the bucket, each entry inserted behind the bigger ones
    // before it (a few at most: they share the digit).
    for (i, &x) in table.iter().enumerate() {
        insert(b, i, x);
    }
}

/// The entries of one range, and where its databases start.
struct DigestSink<'o> {
    opts: &'o DiffOptions,
    input: u64,
    entries: Vec<Entry>,
    /// The entries of this range and of the ranges appended.
    runs: Vec<Vec<Entry>>,
    /// Entries per bucket.
    counts: [usize; BUCKETS],
    /// (offset, db) of each database change seen.
    dbs: Vec<(usize, u64)>,
    last_db: Option<u64>,
    digester: Digester,
}

impl DigestSink<'_> {
    /// Keeps the entries collected so far as a run of their own.
    fn close_run(&mut self) {
        if !self.entries.is_empty() {
            let mut run = std::mem::take(&mut self.entries);
            run.shrink_to_fit();
            self.runs.push(run);
        }
    }
}

impl DiffOptions {
    fn wants(&self, k: &KeyRecord<'_>) -> Result<bool> {
        if self.db.is_some_and(|d| d != k.db) || self.kind.is_some_and(|t| t != k.value.kind()) {
            return Ok(false);
        }
        if self.key_filter.is_none() && self.ignore.is_none() {
            return Ok(true);
        }
        let key = k.key.to_bytes()?;
        Ok(self.key_filter.as_ref().is_none_or(|f| f(&key))
            && !self.ignore.as_ref().is_some_and(|f| f(&key)))
    }

    /// How the entries of one key on each side differ, if they do.
    fn change(&self, a: &Entry, b: &Entry) -> Option<Change> {
        if a.kind() != b.kind() {
            Some(Change::Type)
        } else if a.digest != b.digest {
            Some(Change::Value)
        } else if !self.ttl_equal(a.expire(), b.expire()) {
            Some(Change::Ttl)
        } else {
            None
        }
    }

    fn ttl_equal(&self, a: Option<i64>, b: Option<i64>) -> bool {
        match (self.ttl, a, b) {
            (TtlRule::Ignore, _, _) => true,
            (TtlRule::Tolerance(t), Some(x), Some(y)) => x.abs_diff(y) <= t,
            (_, x, y) => x == y,
        }
    }
}

impl<'a> Sink<'a> for DigestSink<'_> {
    /// The decoder's check walk computes the digest as it reads each
    /// element.
    #[inline]
    fn read(&mut self, dec: &mut Decoder<'a>) -> Option<Result<Item<'a>>> {
        dec.next_visiting(&mut self.digester)
    }

    fn record(&mut self, at: usize, item: &Item<'a>, _dec: &Decoder<'a>) -> Result<()> {
        let Item::Key(k) = item else {
            return Ok(());
        };
        if self.last_db != Some(k.db) {
            self.dbs.push((at, k.db));
            self.last_db = Some(k.db);
        }
        if !self.opts.wants(k)? {
            return Ok(());
        }
        let key = k.key.to_bytes()?;
        let digest = match self.digester.digest() {
            Some(d) => d,
            None => value_digest(&k.value).map_err(|e| e.with_key(&key))?,
        };
        if at as u64 >= 1 << OFFSET_BITS {
            return Err(Error::corrupt(
                "file too large to compare (256 TiB)",
                at as u64,
            ));
        }
        let fp = crate::decode::key_fingerprint(k.db, &key);
        self.counts[bucket_of(fp)] += 1;
        self.entries.push(Entry {
            fp,
            digest,
            expire: k.expire_ms.unwrap_or(NO_EXPIRY),
            loc: (self.input << 56) | (kind_code(k.value.kind()) << OFFSET_BITS) | at as u64,
        });
        Ok(())
    }

    /// A range's entries become a run.
    fn end(&mut self, _walked: &scan::Walked, _warnings: crate::decode::Warnings) -> Result<()> {
        self.close_run();
        Ok(())
    }

    fn append(&mut self, mut next: Self) {
        self.close_run();
        next.close_run();
        self.runs.append(&mut next.runs);
        for (c, n) in self.counts.iter_mut().zip(next.counts) {
            *c += n;
        }
        for (at, db) in next.dbs {
            if self.last_db != Some(db) {
                self.dbs.push((at, db));
                self.last_db = Some(db);
            }
        }
    }
}

/// One side: its inputs, its entries sorted by fingerprint, the database
/// of every offset.
struct Side<'d> {
    inputs: &'d [(&'d str, &'d [u8])],
    /// The entries as the ranges collected them, until [`Side::fill`].
    runs: Vec<Vec<Entry>>,
    /// Entries per bucket.
    counts: [usize; BUCKETS],
    /// Every entry, sorted by fingerprint, then input and offset (once
    /// [`Side::sort`] ran).
    table: Vec<Raw>,
    dbs: Vec<Vec<(usize, u64)>>,
    /// Records read again (for the differences) since the inputs' pages
    /// were last given back.
    reread: std::sync::atomic::AtomicU32,
}

/// Records read again between two releases of the inputs' pages: each
/// read maps up to 64 KiB around its record, so this bounds what
/// thousands of differences keep resident (about 16 MiB).
const REREAD_RELEASE: u32 = 256;

impl Side<'_> {
    /// Where bucket `b` starts in the table.
    fn bucket_start(&self, b: usize) -> usize {
        self.counts[..b].iter().sum()
    }

    /// Sorts the entries by fingerprint, then input and offset: the runs
    /// are moved into the table bucket by bucket (the top byte of the
    /// fingerprint; each run freed once moved, so the peak stays near 32
    /// bytes per key), then every bucket (a few hundred KiB, in cache) is
    /// sorted on one of `threads` cores.
    fn sort(&mut self, threads: usize) {
        self.fill();
        let mut jobs: Vec<std::sync::Mutex<&mut [Raw]>> = Vec::with_capacity(BUCKETS);
        let mut rest = &mut self.table[..];
        for n in self.counts {
            let (bucket, tail) = rest.split_at_mut(n);
            jobs.push(std::sync::Mutex::new(bucket));
            rest = tail;
        }
        let workers = threads.clamp(1, BUCKETS);
        scan::fan_out(workers, workers, |w| {
            let mut scratch = Scratch::default();
            for job in jobs.iter().skip(w).step_by(workers) {
                let mut bucket = match job.lock() {
                    Ok(b) => b,
                    Err(p) => p.into_inner(),
                };
                sort_bucket(&mut bucket, &mut scratch);
            }
        });
    }

    /// Moves the runs' entries into the table, each into its bucket, in
    /// record order.
    fn fill(&mut self) {
        let mut next = [0usize; BUCKETS];
        let mut at = 0;
        for (n, c) in next.iter_mut().zip(self.counts) {
            *n = at;
            at += c;
        }
        // Zeroed, so its pages are only taken as they are written.
        self.table = vec![[0; 4]; at];
        for run in std::mem::take(&mut self.runs) {
            for e in &run {
                let b = bucket_of(e.fp);
                if let Some(slot) = self.table.get_mut(next[b]) {
                    *slot = e.raw();
                }
                next[b] += 1;
            }
        }
    }
}

/// Walks sorted entries one fingerprint at a time.
struct Groups<'r> {
    entries: &'r [Raw],
    at: usize,
}

impl Groups<'_> {
    /// The next entry when it is the only one of its fingerprint.
    #[inline]
    fn single(&self) -> Option<Entry> {
        let e = self.entries.get(self.at)?;
        match self.entries.get(self.at + 1) {
            Some(n) if n[0] == e[0] => None,
            _ => Some(Entry::of(e)),
        }
    }

    /// The next entries of one fingerprint, in input order.
    fn group(&mut self, out: &mut Vec<Entry>) {
        out.clear();
        let rest = &self.entries[self.at..];
        if let Some(first) = rest.first() {
            let n = rest.iter().take_while(|e| e[0] == first[0]).count();
            out.extend(rest[..n].iter().map(Entry::of));
            self.at += n;
        }
    }
}

impl<'d> Side<'d> {
    fn db_at(&self, input: usize, offset: usize) -> u64 {
        let marks = &self.dbs[input];
        match marks.partition_point(|&(at, _)| at <= offset) {
            0 => 0,
            i => marks[i - 1].1,
        }
    }

    fn record(&self, e: &Entry) -> Result<KeyRecord<'d>> {
        let skip = Options {
            level: Level::Skip,
            verify_checksum: false,
            limits: Limits::default(),
        };
        let db = self.db_at(e.input(), e.offset());
        let n = self
            .reread
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        if n % REREAD_RELEASE == 0 {
            for (_, data) in self.inputs {
                crate::file::release(data);
            }
        }
        scan::record_at(self.inputs[e.input()].1, e.offset(), db, skip)
    }

    fn key_of(&self, e: &Entry) -> Result<(u64, Vec<u8>)> {
        let r = self.record(e)?;
        Ok((r.db, r.key.to_bytes()?.into_owned()))
    }

    fn side_key(&self, e: &Entry) -> Result<SideKey> {
        side_key_of(e, &self.record(e)?)
    }
}

/// What a difference says of one side's key, from its entry and record.
fn side_key_of(e: &Entry, r: &KeyRecord<'_>) -> Result<SideKey> {
    Ok(SideKey {
        kind: e.kind(),
        expire_ms: e.expire(),
        elements: elements(r)?,
        input: e.input(),
    })
}

fn scan_side<'d>(
    side: usize,
    inputs: &'d [(&'d str, &'d [u8])],
    opts: &DiffOptions,
    threads: usize,
) -> std::result::Result<Side<'d>, DiffError> {
    let per = scan::fan_out(inputs.len(), threads, |i| {
        let (name, data) = inputs[i];
        let so = ScanOptions {
            decode: Options {
                level: Level::Full,
                verify_checksum: true,
                limits: Limits::default(),
            },
            threads: (threads / inputs.len().max(1)).max(1),
            fingerprint: false,
        };
        scan::scan(data, &so, |_| DigestSink {
            opts,
            input: i as u64,
            entries: Vec::new(),
            runs: Vec::new(),
            counts: [0; BUCKETS],
            dbs: Vec::new(),
            last_db: None,
            digester: Digester::default(),
        })
        .map(|mut s| {
            s.sink.close_run();
            (s.sink.runs, s.sink.counts, s.sink.dbs)
        })
        .map_err(|error| DiffError::Input {
            side,
            error: InputError {
                input: i,
                name: name.to_string(),
                error,
            },
        })
    });
    let mut runs = Vec::new();
    let mut counts = [0usize; BUCKETS];
    let mut dbs = Vec::with_capacity(inputs.len());
    for r in per {
        let (mut rs, c, d) = r?;
        runs.append(&mut rs);
        for (t, n) in counts.iter_mut().zip(c) {
            *t += n;
        }
        dbs.push(d);
    }
    Ok(Side {
        inputs,
        runs,
        counts,
        table: Vec::new(),
        dbs,
        reread: std::sync::atomic::AtomicU32::new(0),
    })
}

/// Elements of a value: members, fields, list elements, stream entries; 1
/// for a string or module value.
fn elements(k: &KeyRecord<'_>) -> Result<u64> {
    let v = &k.value;
    Ok(match v.kind() {
        Kind::String | Kind::Module => 1,
        Kind::Stream => v.stream()?.length,
        Kind::ZSet => {
            let mut it = v.items()?;
            let mut n = 0;
            while it.next_scored()?.is_some() {
                n += 1;
            }
            n
        }
        Kind::Hash => {
            let mut it = v.items()?;
            let mut n = 0;
            while it.next_field()?.is_some() {
                n += 1;
            }
            n
        }
        Kind::Array => v.items()?.len_hint().unwrap_or(0),
        _ => {
            let mut it = v.items()?;
            let mut n = 0;
            while it.next_elem()?.is_some() {
                n += 1;
            }
            n
        }
    })
}

fn text(e: &Elem<'_>) -> Vec<u8> {
    e.to_bytes().into_owned()
}

/// A collection as member → what it holds (value, score bits, TTL), or
/// for a list, element → count.
fn members(k: &KeyRecord<'_>) -> Result<Option<BTreeMap<Vec<u8>, Vec<u8>>>> {
    let v = &k.value;
    let mut m = BTreeMap::new();
    let mut it = match v.kind() {
        Kind::List | Kind::Set | Kind::ZSet | Kind::Hash => v.items()?,
        _ => return Ok(None),
    };
    match v.kind() {
        Kind::ZSet => {
            while let Some((e, s)) = it.next_scored()? {
                m.insert(text(&e), s.to_bits().to_le_bytes().to_vec());
            }
        }
        Kind::Hash => {
            while let Some(f) = it.next_field()? {
                let mut val = text(&f.value);
                if let Some(t) = f.expire_ms {
                    val.extend_from_slice(b"\0ttl");
                    val.extend_from_slice(&t.to_le_bytes());
                }
                m.insert(text(&f.field), val);
            }
        }
        _ => {
            while let Some(e) = it.next_elem()? {
                let c = m
                    .entry(text(&e))
                    .or_insert_with(|| 0u64.to_le_bytes().to_vec());
                let n = u64::from_le_bytes(c[..8].try_into().unwrap_or([0; 8])) + 1;
                *c = n.to_le_bytes().to_vec();
            }
        }
    }
    Ok(Some(m))
}

fn detail(l: &KeyRecord<'_>, r: &KeyRecord<'_>, le: u64, re: u64) -> Result<Option<Detail>> {
    if l.value.kind() != r.value.kind() || le > DETAIL_ELEMENTS || re > DETAIL_ELEMENTS {
        return Ok(None);
    }
    let (Some(a), Some(b)) = (members(l)?, members(r)?) else {
        return Ok(None);
    };
    let mut d = Detail::default();
    for (k, v) in &a {
        match b.get(k) {
            None if d.only_left.len() < DETAIL_MAX => d.only_left.push(k.clone()),
            Some(w) if w != v && d.differing.len() < DETAIL_MAX => d.differing.push(k.clone()),
            _ => {}
        }
    }
    for k in b.keys() {
        if !a.contains_key(k) && d.only_right.len() < DETAIL_MAX {
            d.only_right.push(k.clone());
        }
    }
    Ok(Some(d))
}

/// The distinct keys of one fingerprint group of a side (the first copy
/// of each, in input order; different keys only when fingerprints
/// collide). A later copy with another value or expiry is reported as a
/// duplicate.
fn distinct(
    side: &Side<'_>,
    group: &[Entry],
    change: Change,
    summary: &mut Summary,
    each: &mut dyn FnMut(&Difference) -> Result<()>,
    out: &mut Vec<Entry>,
) -> std::result::Result<(), (Error, bool)> {
    out.clear();
    if group.len() < 2 {
        out.extend_from_slice(group);
        return Ok(());
    }
    let mut firsts: Vec<(Entry, (u64, Vec<u8>))> = Vec::new();
    for e in group {
        let k = side.key_of(e).map_err(|e| (e, false))?;
        match firsts.iter().find(|(_, fk)| *fk == k) {
            None => firsts.push((*e, k)),
            Some((first, _)) => {
                if first.digest != e.digest || first.kind() != e.kind() || first.expire != e.expire
                {
                    summary.duplicates += 1;
                    let d = Difference {
                        db: k.0,
                        key: k.1,
                        change,
                        left: Some(side.side_key(first).map_err(|e| (e, false))?),
                        right: Some(side.side_key(e).map_err(|e| (e, false))?),
                        detail: None,
                    };
                    each(&d).map_err(|e| (e, true))?;
                }
            }
        }
    }
    out.extend(firsts.into_iter().map(|(e, _)| e));
    Ok(())
}

/// Compares `left` with `right` ((name, bytes) pairs; each side the union
/// of its inputs) and calls `each` with every difference, in order of key
/// fingerprint, after both sides were read whole: a corrupt input is an
/// error before any difference is reported.
///
/// # Errors
/// [`DiffError::Input`] for an input that is not a valid RDB file (as
/// `verify` finds it) or more than [`MAX_INPUTS`] inputs on a side;
/// [`DiffError::Report`] for an error of `each`.
pub fn diff(
    left: &[(&str, &[u8])],
    right: &[(&str, &[u8])],
    opts: &DiffOptions,
    mut each: impl FnMut(&Difference) -> Result<()>,
) -> std::result::Result<Summary, DiffError> {
    for (side, inputs) in [left, right].into_iter().enumerate() {
        if inputs.len() > MAX_INPUTS {
            return Err(DiffError::Input {
                side,
                error: InputError {
                    input: MAX_INPUTS,
                    name: inputs[MAX_INPUTS].0.to_string(),
                    error: Error::corrupt(format!("more than {MAX_INPUTS} inputs on one side"), 0),
                },
            });
        }
    }
    let threads = scan::cores();
    // Both sides read at once: each side's last ranges leave cores idle
    // that the other side's reading fills. The left side's error first.
    let (l, r) = std::thread::scope(|sc| {
        let r = sc.spawn(|| scan_side(1, right, opts, threads));
        let l = scan_side(0, left, opts, threads);
        (l, r.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
    });
    let (mut l, mut r) = (l?, r?);
    // Then both sorted at once, each on half the cores (sorting a side
    // while the other is still read was slower).
    let half = (threads / 2).max(1);
    std::thread::scope(|sc| {
        let left = sc.spawn(|| l.sort(half));
        r.sort(half);
        if let Err(p) = left.join() {
            std::panic::resume_unwind(p)
        }
    });
    // The buckets in two halves, the upper one walked on another core: its
    // differences wait in a bounded queue (memory stays bounded) and are
    // reported after the lower half's, so the order is the fingerprints'.
    let (lsplit, rsplit) = if threads > 1 {
        (l.bucket_start(BUCKETS / 2), r.bucket_start(BUCKETS / 2))
    } else {
        (l.table.len(), r.table.len())
    };
    let (l, r) = (&l, &r);
    std::thread::scope(|sc| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Difference>(4096);
        let upper = sc.spawn(move || {
            let mut send = |d: &Difference| {
                tx.send(d.clone())
                    .map_err(|_| Error::corrupt("the comparison stopped", 0))
            };
            walk(
                l,
                r,
                &l.table[lsplit..],
                &r.table[rsplit..],
                opts,
                &mut send,
            )
        });
        let lower = walk(
            l,
            r,
            &l.table[..lsplit],
            &r.table[..rsplit],
            opts,
            &mut each,
        );
        // On an error the queue is dropped, which stops the upper half.
        let mut s = match lower {
            Ok(s) => s,
            Err(e) => {
                drop(rx);
                let _ = upper.join();
                return Err(e);
            }
        };
        for d in rx.iter() {
            if let Err(e) = each(&d) {
                drop(rx);
                let _ = upper.join();
                return Err(DiffError::Report(e));
            }
        }
        let u = upper
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))?;
        s.add(&u);
        Ok(s)
    })
}

/// Walks the sorted entries of both sides (`lt` and `rt`, the same buckets
/// of each side's table) together, reporting each difference to `each`.
fn walk(
    l: &Side<'_>,
    r: &Side<'_>,
    lt: &[Raw],
    rt: &[Raw],
    opts: &DiffOptions,
    each: &mut dyn FnMut(&Difference) -> Result<()>,
) -> std::result::Result<Summary, DiffError> {
    // Errors of re-reading an input already checked whole.
    let reread = |side: usize, e: Error| {
        let inputs = if side == 0 { l.inputs } else { r.inputs };
        DiffError::Input {
            side,
            error: InputError {
                input: 0,
                name: inputs.first().map_or(String::new(), |i| i.0.to_string()),
                error: e,
            },
        }
    };
    let lifted = |side: usize| {
        move |(e, reported): (Error, bool)| {
            if reported {
                DiffError::Report(e)
            } else {
                reread(side, e)
            }
        }
    };
    let mut s = Summary::default();
    let mut lm = Groups { entries: lt, at: 0 };
    let mut rm = Groups { entries: rt, at: 0 };
    let (mut lg, mut rg) = (Vec::new(), Vec::new());
    let (mut ld, mut rd): (Vec<Entry>, Vec<Entry>) = (Vec::new(), Vec::new());
    loop {
        if ld.is_empty() && rd.is_empty() {
            // Nearly every key: one entry on each side.
            if let (Some(a), Some(b)) = (lm.single(), rm.single()) {
                if a.fp == b.fp {
                    lm.at += 1;
                    rm.at += 1;
                    s.left_keys += 1;
                    s.right_keys += 1;
                    match opts.change(&a, &b) {
                        None => s.equal += 1,
                        Some(change) => report(
                            pair(l, r, &a, &b, change).map_err(|e| reread(0, e))?,
                            &mut s,
                            each,
                        )?,
                    }
                    continue;
                }
            }
        }
        if ld.is_empty() {
            lm.group(&mut lg);
            distinct(l, &lg, Change::DuplicateLeft, &mut s, each, &mut ld).map_err(lifted(0))?;
            s.left_keys += ld.len() as u64;
        }
        if rd.is_empty() {
            rm.group(&mut rg);
            distinct(r, &rg, Change::DuplicateRight, &mut s, each, &mut rd).map_err(lifted(1))?;
            s.right_keys += rd.len() as u64;
        }
        let (a, b) = (ld.first().copied(), rd.first().copied());
        match (a, b) {
            (None, None) => break,
            (Some(a), Some(b)) if a.fp == b.fp => {
                // Nearly always one key each; otherwise fingerprints
                // collided, and keys pair up by their bytes.
                let (la, rb) = if ld.len() == 1 && rd.len() == 1 {
                    (ld.remove(0), rd.remove(0))
                } else {
                    let ka = l.key_of(&a).map_err(|e| reread(0, e))?;
                    let mut found = None;
                    for (i, e) in rd.iter().enumerate() {
                        if r.key_of(e).map_err(|e| reread(1, e))? == ka {
                            found = Some(i);
                            break;
                        }
                    }
                    match found {
                        Some(i) => (ld.remove(0), rd.remove(i)),
                        None => {
                            let a = vec![ld.remove(0)];
                            report_only(l, a, Change::OnlyLeft, &mut s, each).map_err(lifted(0))?;
                            if ld.is_empty() {
                                let rest = std::mem::take(&mut rd);
                                report_only(r, rest, Change::OnlyRight, &mut s, each)
                                    .map_err(lifted(1))?;
                            }
                            continue;
                        }
                    }
                };
                if ld.is_empty() && !rd.is_empty() {
                    let rest = std::mem::take(&mut rd);
                    report_only(r, rest, Change::OnlyRight, &mut s, each).map_err(lifted(1))?;
                }
                let Some(change) = opts.change(&la, &rb) else {
                    s.equal += 1;
                    continue;
                };
                report(
                    pair(l, r, &la, &rb, change).map_err(|e| reread(0, e))?,
                    &mut s,
                    each,
                )?;
            }
            (Some(a), b) if b.is_none_or(|b| a.fp < b.fp) => {
                let rest = std::mem::take(&mut ld);
                report_only(l, rest, Change::OnlyLeft, &mut s, each).map_err(lifted(0))?;
            }
            _ => {
                let rest = std::mem::take(&mut rd);
                report_only(r, rest, Change::OnlyRight, &mut s, each).map_err(lifted(1))?;
            }
        }
    }
    Ok(s)
}

/// Reports each of `entries` as a key on its side only.
fn report_only(
    side: &Side<'_>,
    entries: Vec<Entry>,
    change: Change,
    s: &mut Summary,
    each: &mut dyn FnMut(&Difference) -> Result<()>,
) -> std::result::Result<(), (Error, bool)> {
    for e in entries {
        let d = only(side, &e, change).map_err(|e| (e, false))?;
        report(d, s, each).map_err(|e| match e {
            DiffError::Report(e) => (e, true),
            DiffError::Input { error, .. } => (error.error, false),
        })?;
    }
    Ok(())
}

/// Counts a difference and hands it to the caller.
fn report(
    d: Difference,
    s: &mut Summary,
    each: &mut dyn FnMut(&Difference) -> Result<()>,
) -> std::result::Result<(), DiffError> {
    match d.change {
        Change::OnlyLeft => s.only_left += 1,
        Change::OnlyRight => s.only_right += 1,
        Change::Type => s.type_ += 1,
        Change::Value => s.value += 1,
        Change::Ttl => s.ttl += 1,
        _ => s.duplicates += 1,
    }
    each(&d).map_err(DiffError::Report)
}

/// A key on one side only.
fn only(side: &Side<'_>, e: &Entry, change: Change) -> Result<Difference> {
    let r = side.record(e)?;
    let (db, key) = (r.db, r.key.to_bytes()?.into_owned());
    let k = Some(side_key_of(e, &r)?);
    let (left, right) = if change == Change::OnlyLeft {
        (k, None)
    } else {
        (None, k)
    };
    Ok(Difference {
        db,
        key,
        change,
        left,
        right,
        detail: None,
    })
}

/// A key on both sides that differs.
fn pair(l: &Side<'_>, r: &Side<'_>, a: &Entry, b: &Entry, change: Change) -> Result<Difference> {
    let (la, rb) = (l.record(a)?, r.record(b)?);
    let (left, right) = (side_key_of(a, &la)?, side_key_of(b, &rb)?);
    let detail = if change == Change::Value {
        detail(&la, &rb, left.elements, right.elements)?
    } else {
        None
    };
    Ok(Difference {
        db: la.db,
        key: la.key.to_bytes()?.into_owned(),
        change,
        left: Some(left),
        right: Some(right),
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::{sort_bucket, Entry, Raw, Scratch, Side, BUCKETS};

    /// A side's sort is a stable sort by fingerprint (entries of one
    /// fingerprint in record order), whatever the sizes of its buckets and
    /// runs: few fingerprints (many ties), many, and buckets small and large.
    #[test]
    fn sides_sort_stably_by_fingerprint() {
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for (n, distinct) in [
            (0usize, 1u64),
            (5, 3),
            (100, 1000),
            (20_000, 50),
            (60_000, u64::MAX),
        ] {
            let mut runs: Vec<Vec<Entry>> = vec![Vec::new(); 7];
            let mut counts = [0usize; BUCKETS];
            let mut all = Vec::new();
            for i in 0..n {
                let r = next();
                // Fingerprints from a small set (ties) or all over.
                let fp = if distinct == u64::MAX {
                    r
                } else {
                    (r % distinct).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                };
                let e = Entry {
                    fp,
                    digest: i as u64,
                    expire: 0,
                    loc: i as u64,
                };
                counts[(fp >> 56) as usize] += 1;
                runs[i * 7 / n.max(1)].push(e);
                all.push(e.raw());
            }
            let mut side = Side {
                inputs: &[],
                runs,
                counts,
                table: Vec::new(),
                dbs: Vec::new(),
                reread: std::sync::atomic::AtomicU32::new(0),
            };
            side.sort(2);
            all.sort_by_key(|r| r[0]);
            assert_eq!(side.table, all, "{n} entries, {distinct} fingerprints");
        }
        // A bucket alone, below and above the insertion-only size.
        for n in [1usize, 63, 64, 3000] {
            let mut b: Vec<Raw> = (0..n).map(|i| [next() % 97, i as u64, 0, 0]).collect();
            let mut want = b.clone();
            want.sort_by_key(|r| r[0]);
            sort_bucket(&mut b, &mut Scratch::default());
            assert_eq!(b, want);
        }
    }
}
