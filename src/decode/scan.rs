//! The scan engine: every pass over a whole file, or over part of one, goes
//! through here.
//!
//! A [`Sink`] receives the records of a byte range, in file order; the
//! engine decides where ranges start, walks them on several cores, joins
//! their sinks in file order, compares the CRC-64 (computed on a core of
//! its own while the records are decoded) and, at [`Level::Deep`], finds
//! duplicate keys. `rdbkit verify` and `info` (the statistics sink in
//! [`crate::stats`]), merge's input pass and its re-read of the output are
//! sinks, so a new command is a new sink, not a new loop. This is the only
//! module that resumes a [`Decoder`] in the middle of a file.
//!
//! # Ranges and the join rule
//! A large file is cut at speculative record boundaries (`resync`): from a
//! candidate offset a few dozen records must parse. A guess can be wrong
//! (bytes inside a value can look like records), so a range's results
//! count only when the previous counted range ended exactly where it
//! begins; otherwise the rest of the file is walked again from the true
//! end. A range other than the first does not know its database until it
//! meets a `SELECTDB`: it assumes db 0. A sink that can move what it
//! counted before that point to the right database when it is appended
//! sets [`Sink::SETTLES_DB`]; for any other sink the engine walks such a
//! range again, with the true database, when the assumption was wrong. So
//! the result never depends on the guesses: only the speed does.
//!
//! # Threads
//! Work is spread by `fan_out`: a worker takes the next piece when it is
//! free. A panic in a worker is a bug, never "corrupt data": it is resumed
//! on the calling thread.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::{walk, Checksum, Decoder, Item, KeyRecord, Level, Options, Warnings};
use crate::format::crc::{self, Crc64, Piece};
use crate::format::Header;
use crate::{Error, ErrorKind, Result};

/// A visitor of records. The engine creates one sink per range, feeds it
/// the range's records, ends it, and appends each counted range's sink to
/// the previous one.
///
/// ```
/// use rdbkit::decode::scan::{scan, ScanOptions, Sink, Walked};
/// use rdbkit::decode::{Decoder, Item, Warnings};
///
/// /// Counts keys.
/// struct Keys(u64);
/// impl<'a> Sink<'a> for Keys {
///     fn record(&mut self, _at: usize, item: &Item<'a>, _dec: &Decoder<'a>) -> rdbkit::Result<()> {
///         self.0 += u64::from(matches!(item, Item::Key(_)));
///         Ok(())
///     }
///     fn append(&mut self, next: Self) {
///         self.0 += next.0;
///     }
/// }
///
/// let file = b"REDIS0011\xfa\x09redis-ver\x057.2.0\xfe\x00\xfb\x01\x00\x00\x01a\xc0\x01\xff\x11\x53\xe8\x4d\xc2\xcf\xc3\x51";
/// let done = scan(file, &ScanOptions::default(), |_| Keys(0)).unwrap();
/// assert_eq!(done.sink.0, 1);
/// assert!(matches!(done.checksum, rdbkit::decode::Checksum::Verified(_)));
/// ```
pub trait Sink<'a>: Send + Sized {
    /// Set by a sink whose [`Sink::append`] attributes what the appended
    /// range counted before its first `SELECTDB` to the database current at
    /// the end of `self`. When unset, the engine guarantees that every
    /// record's [`KeyRecord::db`] is true (by walking a range again).
    const SETTLES_DB: bool = false;

    /// Whether the engine gives back the pages of a mapped input behind
    /// its walk (`madvise(MADV_DONTNEED)`: they stay in the page cache),
    /// so that a scan's resident memory stays near a few MiB per core
    /// whatever the input's size.
    /// Unset by a sink whose caller reads the records again after the scan
    /// (a merge copying them), which would only map them again.
    const RELEASE_BEHIND: bool = true;

    /// One record, starting at byte `at`; `dec` is the decoder that read it
    /// (positioned after it).
    fn record(&mut self, at: usize, item: &Item<'a>, dec: &Decoder<'a>) -> Result<()>;

    /// Reads the next record with `dec`: [`Iterator::next`] unless the sink
    /// needs to see each value's elements while the decoder checks them
    /// (the diff's digests read every element once this way, not twice).
    #[inline]
    fn read(&mut self, dec: &mut Decoder<'a>) -> Option<Result<Item<'a>>> {
        dec.next()
    }

    /// The range is over: where it ended, and the warnings its records drew.
    fn end(&mut self, walked: &Walked, warnings: Warnings) -> Result<()> {
        let _ = (walked, warnings);
        Ok(())
    }

    /// Appends the sink of the range that follows this one.
    fn append(&mut self, next: Self);
}

/// How a range walk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walked {
    /// Offset of the first record at or after the bound (after `EOF`: the
    /// offset after the checksum).
    pub end: usize,
    /// The database current at `end`.
    pub db: u64,
    /// A `SELECTDB` was read.
    pub selected: bool,
    /// Keys or a `RESIZEDB` were read before the first `SELECTDB`, in the
    /// database the walk started with.
    pub assumed: bool,
    /// The `EOF` record, if the walk reached it.
    pub eof: Option<Eof>,
}

/// What the `EOF` record said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Eof {
    /// Offset of the `EOF` opcode.
    pub offset: usize,
    /// The checksum, as the decoder saw it.
    pub checksum: Checksum,
    /// Bytes after the trailer.
    pub trailing: usize,
}

/// Walks the records that start in `from..bound`, `db` being the database
/// current at `from` (a record boundary). The record at `bound` and after
/// are left alone; the walk also stops after `EOF`.
///
/// # Errors
/// The first record that does not decode (with its offset and key), or
/// the first error the sink returns.
///
/// ```
/// use rdbkit::decode::scan::{walk_range, Sink};
/// use rdbkit::decode::{Decoder, Item, Options};
/// struct Offsets(Vec<usize>);
/// impl<'a> Sink<'a> for Offsets {
///     fn record(&mut self, at: usize, _: &Item<'a>, _: &Decoder<'a>) -> rdbkit::Result<()> {
///         self.0.push(at);
///         Ok(())
///     }
///     fn append(&mut self, next: Self) {
///         self.0.extend(next.0);
///     }
/// }
/// let file = b"REDIS0011\xfe\x00\x00\x01a\xc0\x01\x00\x01b\xc0\x02\xff\0\0\0\0\0\0\0\0";
/// let mut s = Offsets(Vec::new());
/// let w = walk_range(file, 9, 16, 0, Options::default(), &mut s).unwrap();
/// assert_eq!((s.0, w.end, w.eof), (vec![9, 11], 16, None));
/// ```
pub fn walk_range<'a, S: Sink<'a>>(
    data: &'a [u8],
    from: usize,
    bound: usize,
    db: u64,
    opts: Options,
    sink: &mut S,
) -> Result<Walked> {
    walk_keys(data, from, bound, db, opts, sink, None, None)
}

/// [`walk_range`], also gathering a 32-bit fingerprint of every key into
/// `fps` (for the duplicate-key check), and feeding `crc` the bytes walked
/// (up to and with the `EOF` opcode, where the checksum's bytes end), each
/// step while its pages are still mapped.
#[allow(clippy::too_many_arguments)]
fn walk_keys<'a, S: Sink<'a>>(
    data: &'a [u8],
    from: usize,
    bound: usize,
    db: u64,
    opts: Options,
    sink: &mut S,
    mut fps: Option<&mut Vec<u32>>,
    mut crc: Option<&mut Crc64>,
) -> Result<Walked> {
    let mut dec = Decoder::resume(data, from, db, opts)?;
    let mut w = Walked {
        end: from,
        db,
        selected: false,
        assumed: false,
        eof: None,
    };
    let mut buf = Vec::new();
    let mut kept = from;
    loop {
        let at = dec.offset();
        if at >= bound {
            break;
        }
        if at - kept >= RELEASE {
            let step = &data[kept..at];
            if let Some(c) = crc.as_deref_mut() {
                c.update(step);
            }
            if S::RELEASE_BEHIND {
                crate::file::release(step);
            }
            kept = at;
        }
        // Matched in place: an `Item` is a few hundred bytes, and moving
        // it out of the `Option<Result<..>>` costs a copy per record.
        let next = sink.read(&mut dec);
        let item = match next {
            Some(Ok(ref item)) => item,
            Some(Err(e)) => return Err(e),
            None => break,
        };
        match item {
            Item::SelectDb(d) => {
                w.selected = true;
                w.db = *d;
            }
            Item::Key(k) => {
                w.assumed |= !w.selected;
                if let Some(fps) = fps.as_deref_mut() {
                    let kb = k.key.bytes_in(&mut buf)?;
                    fps.push(walk::fingerprint(kb) as u32);
                }
            }
            Item::ResizeDb { .. } => w.assumed |= !w.selected,
            Item::Eof {
                checksum,
                offset,
                trailing,
            } => {
                w.eof = Some(Eof {
                    offset: *offset,
                    checksum: *checksum,
                    trailing: *trailing,
                })
            }
            _ => {}
        }
        sink.record(at, item, &dec)?;
    }
    w.end = dec.offset();
    if let (Some(c), Some(step)) = (crc, data.get(kept..crc_end(&w))) {
        c.update(step);
    }
    if let (true, Some(walked)) = (S::RELEASE_BEHIND, data.get(kept..w.end)) {
        crate::file::release(walked);
    }
    sink.end(&w, dec.take_warnings())?;
    Ok(w)
}

/// Where the bytes a walk feeds the CRC-64 end: its end, or just past
/// `EOF` (the stored checksum follows).
fn crc_end(w: &Walked) -> usize {
    w.eof.map_or(w.end, |e| e.offset + 1)
}

/// Where each database's key records start in a file, noted by a pass
/// over it, to give [`record_at`] the database of a record found then:
/// (offset of a key record, its database), one entry per change, ascending.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct DbStarts(Vec<(usize, u64)>);

impl DbStarts {
    /// Notes the key record at `at` in database `db` (records in file
    /// order).
    #[inline]
    pub(crate) fn note(&mut self, at: usize, db: u64) {
        if self.0.last().is_none_or(|&(_, d)| d != db) {
            self.0.push((at, db));
        }
    }

    /// The database of the key record at `at` (0 before the first noted).
    pub(crate) fn db_at(&self, at: usize) -> u64 {
        let i = self.0.partition_point(|&(start, _)| start <= at);
        self.0.get(i.wrapping_sub(1)).map_or(0, |&(_, db)| db)
    }

    /// Whether the records noted by `next` (the range that follows) start
    /// in the database these end in.
    pub(crate) fn continues_in(&self, next: &DbStarts) -> bool {
        self.0.last().map(|d| d.1) == next.0.first().map(|d| d.1)
    }

    /// Appends the notes of the range that follows.
    pub(crate) fn append(&mut self, next: DbStarts) {
        let skip = usize::from(self.continues_in(&next));
        self.0.extend(next.0.into_iter().skip(skip));
    }

    /// Each stretch of records of one database: (start, end or
    /// `usize::MAX`, database).
    pub(crate) fn stretches(&self) -> impl Iterator<Item = (usize, usize, u64)> + '_ {
        let ends = self.0.iter().skip(1).map(|d| d.0).chain([usize::MAX]);
        self.0
            .iter()
            .zip(ends)
            .map(|(&(from, db), to)| (from, to, db))
    }

    /// How many stretches there are.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// The key record that starts at `offset` (found by an earlier pass), in
/// database `db`, decoded at `opts`.
pub(crate) fn record_at(
    data: &[u8],
    offset: usize,
    db: u64,
    opts: Options,
) -> Result<KeyRecord<'_>> {
    let mut d = Decoder::resume(data, offset, db, opts)?;
    match d.next() {
        Some(Ok(Item::Key(k))) => Ok(k),
        Some(Err(e)) => Err(e),
        _ => Err(Error::corrupt(
            "expected a key record at this offset",
            offset as u64,
        )),
    }
}

/// How [`scan`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanOptions {
    /// Decoding options; `verify_checksum` makes the scan compare the CRC.
    pub decode: Options,
    /// Cores to use (1: one sequential walk).
    pub threads: usize,
    /// Also compute [`crc::fingerprint`] of the whole input, to find out
    /// later whether it changed.
    pub fingerprint: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            decode: Options::default(),
            threads: cores(),
            fingerprint: false,
        }
    }
}

/// The cores worth using (at most 8).
pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
}

/// What a [`scan`] gives back.
#[derive(Debug)]
pub struct Scanned<S> {
    /// The joined sink.
    pub sink: S,
    /// The checksum, compared when asked.
    pub checksum: Checksum,
    /// Bytes after the trailer.
    pub trailing: usize,
    /// Offset of the `EOF` opcode.
    pub eof: usize,
    /// The whole input's fingerprint, when asked.
    pub fingerprint: Option<u64>,
}

/// Walks all of `data` through sinks made by `new` (given the offset their
/// range starts at): in parallel ranges when the file is large, compares
/// the CRC-64 on another core, and at [`Level::Deep`] checks that no key
/// occurs twice in a database. The first error in file order wins; an
/// error caused by the input changing while it was read says so.
///
/// # Errors
/// A bad header, the first record that does not decode or that a sink
/// refuses (in file order), a checksum mismatch, a duplicate key at
/// `Deep`, [`crate::ErrorKind::InputChanged`], or
/// [`crate::ErrorKind::Interrupted`].
pub fn scan<'a, S: Sink<'a>>(
    data: &'a [u8],
    opts: &ScanOptions,
    new: impl Fn(usize) -> S + Sync,
) -> Result<Scanned<S>> {
    let header = Header::parse(data)?;
    let dec = Options {
        verify_checksum: false,
        ..opts.decode
    };
    let want = opts.decode.verify_checksum && header.has_checksum();
    with_crc(data, want, opts.fingerprint, |crc| {
        let how = Walk {
            opts: dec,
            threads: opts.threads.max(1),
            crc,
        };
        walk_all(data, how, &new)
    })
    // A file that changed while it was read explains whatever error its
    // new bytes caused (zeros after a truncation, for example).
    .map_err(|e| {
        crate::file::check_region(data, e.offset())
            .err()
            .unwrap_or(e)
    })
}

/// A walk gives back the pages of a mapped input behind it every this many
/// bytes ([`crate::file::release`]): the resident memory of a scan stays
/// near a few steps per core, whatever the size of the input.
const RELEASE: usize = 1 << 20;

/// Segments smaller than this are not worth a thread.
const SEGMENT: usize = 8 << 20;

/// Pieces of about this size balance a parallel walk: many more than
/// cores (taken one at a time by whichever core is free), each still far
/// longer than a resync.
const PIECE: usize = 4 << 20;

/// One range's outcome.
struct Part<S> {
    start: usize,
    sink: S,
    walked: Result<Walked>,
    /// Deep mode: the sorted fingerprints of the range's keys.
    fps: Vec<u32>,
    /// The CRC-64 of the range's bytes, when asked.
    crc: Option<Piece>,
}

/// How a whole walk runs: decoding options, cores, whether the walkers
/// compute the CRC-64 of what they walk.
#[derive(Clone, Copy)]
struct Walk {
    opts: Options,
    threads: usize,
    crc: bool,
}

fn walk_part<'a, S: Sink<'a>>(
    data: &'a [u8],
    how: Walk,
    start: usize,
    bound: usize,
    db: u64,
    new: &(impl Fn(usize) -> S + Sync),
) -> Part<S> {
    let mut sink = new(start);
    let mut fps = Vec::new();
    let mut crc = how.crc.then(Crc64::new);
    let deep = (how.opts.level == Level::Deep).then_some(&mut fps);
    let walked = walk_keys(
        data,
        start,
        bound,
        db,
        how.opts,
        &mut sink,
        deep,
        crc.as_mut(),
    );
    let crc = match (&walked, crc) {
        (Ok(w), Some(c)) => Some(Piece {
            crc: c.value(),
            len: (crc_end(w) - start) as u64,
        }),
        _ => None,
    };
    fps.sort_unstable();
    fps.shrink_to_fit();
    Part {
        start,
        sink,
        walked,
        fps,
        crc,
    }
}

/// The walk of a whole file; see the module documentation for the rule
/// that joins ranges.
/// With `how.crc`, also the CRC-64 of the bytes up to and with the `EOF`
/// opcode (the walkers' pieces, joined).
fn walk_all<'a, S: Sink<'a>>(
    data: &'a [u8],
    how: Walk,
    new: &(impl Fn(usize) -> S + Sync),
) -> Result<(S, Eof, Option<Piece>)> {
    let (opts, threads) = (how.opts, how.threads);
    let deep = opts.level == Level::Deep;
    let starts = if threads < 2 || data.len() < 2 * SEGMENT {
        vec![9]
    } else {
        // Deep mode merges one sorted fingerprint list per range (a k-way
        // merge whose cost grows with their number): two ranges per core.
        let parts = if deep {
            (threads * 2).min(16)
        } else {
            (data.len() / PIECE)
                .clamp(threads * 2, threads * 16)
                .min(64)
        };
        segment_starts(data, opts, parts, threads, S::RELEASE_BEHIND)
    };
    let bound = |i: usize| starts.get(i + 1).copied().unwrap_or(usize::MAX);
    let mut parts: Vec<Part<S>> = fan_out(starts.len(), threads, |i| {
        walk_part(data, how, starts[i], bound(i), 0, new)
    });
    // The chain of true ranges: each starts where the previous one ended.
    let (mut end, mut db) = (9, 0);
    let mut redo: Vec<(usize, u64)> = Vec::new();
    let mut counted = 0;
    for (i, p) in parts.iter().enumerate() {
        if p.start != end {
            break;
        }
        counted = i + 1;
        let Ok(w) = &p.walked else { break };
        if w.assumed && db != 0 && !S::SETTLES_DB {
            redo.push((i, db));
        }
        if w.selected {
            db = w.db;
        }
        end = w.end;
        if w.eof.is_some() {
            break;
        }
    }
    parts.truncate(counted);
    if !redo.is_empty() {
        let again = fan_out(redo.len(), threads, |j| {
            let (i, db) = redo[j];
            walk_part(data, how, starts[i], bound(i), db, new)
        });
        for ((i, _), p) in redo.iter().zip(again) {
            parts[*i] = p;
        }
    }
    // Record-aligned (start, db) of the true ranges, for the duplicate check.
    let mut ranges: Vec<(usize, u64)> = Vec::with_capacity(parts.len() + 1);
    let mut lists = Vec::with_capacity(parts.len() + 1);
    let mut joined: Option<(S, Walked)> = None;
    let mut range_db = 0;
    // The header's bytes, then each range's in file order.
    let mut crc = how.crc.then(|| Piece::of(&data[..9.min(data.len())]));
    let mut join_crc = |piece: Option<Piece>| {
        if let (Some(c), Some(p)) = (crc.as_mut(), piece) {
            *c = c.join(p);
        }
    };
    for p in parts {
        let w = p.walked?;
        join_crc(p.crc);
        ranges.push((p.start, range_db));
        if w.selected {
            range_db = w.db;
        }
        lists.push(p.fps);
        joined = Some(match joined {
            None => (p.sink, w),
            Some((mut s, _)) => {
                s.append(p.sink);
                (s, w)
            }
        });
    }
    let (mut sink, mut last) = match joined {
        Some(j) => j,
        None => {
            // Not even the first range counted: walk from the start.
            let p = walk_part(data, how, 9, usize::MAX, 0, new);
            join_crc(p.crc);
            ranges.push((9, 0));
            lists.push(p.fps);
            (p.sink, p.walked?)
        }
    };
    if last.eof.is_none() {
        // A guess was not a record boundary: walk the rest sequentially.
        let p = walk_part(data, how, end, usize::MAX, db, new);
        let w = p.walked?;
        join_crc(p.crc);
        ranges.push((end, db));
        lists.push(p.fps);
        sink.append(p.sink);
        last = w;
    }
    let eof = last
        .eof
        .ok_or_else(|| Error::corrupt("no EOF record", last.end as u64))?;
    if deep {
        find_duplicates(data, lists, opts, &ranges, threads)?;
    }
    Ok((sink, eof, crc))
}

/// Runs `walk` (which computes the CRC-64 of the bytes up to and with the
/// `EOF` opcode when asked: `want` or `whole`) and compares it with the
/// stored checksum the walk found. With `whole`, also the
/// [`crc::fingerprint`] of all of `data`.
fn with_crc<S>(
    data: &[u8],
    want: bool,
    whole: bool,
    walk: impl FnOnce(bool) -> Result<(S, Eof, Option<Piece>)>,
) -> Result<Scanned<S>> {
    let want = want && data.len() >= 17;
    let (sink, eof, head) = walk(want || whole)?;
    // The walkers' CRC ends where the checksum starts; should their pieces
    // not have covered that much, it is computed here.
    let at = (eof.offset + 1).min(data.len());
    let head = match head {
        Some(h) if h.len == at as u64 => h,
        _ if want || whole => Piece::of(&data[..at]),
        _ => Piece::default(),
    };
    let fingerprint = whole.then(|| {
        crc::fingerprint_piece()
            .join(head)
            .join(Piece::of(&data[at..]))
            .crc
    });
    let mut checksum = eof.checksum;
    if let (true, Checksum::NotChecked(stored)) = (want, checksum) {
        let computed = head.crc;
        if computed != stored {
            return Err(Error::new(
                ErrorKind::ChecksumMismatch { stored, computed },
                at as u64,
            ));
        }
        checksum = Checksum::Verified(stored);
    }
    Ok(Scanned {
        sink,
        checksum,
        trailing: eof.trailing,
        eof: eof.offset,
        fingerprint,
    })
}

/// How far past its start a resync looks for a record boundary.
const RESYNC_WINDOW: usize = 4 << 20;

/// Records that must parse in a row from a candidate offset before it is
/// taken as a record boundary.
const RESYNC_RECORDS: usize = 32;

/// How far past a candidate the parse must go before a boundary is taken.
/// A start inside a value can parse as records for a while (LZF literal
/// runs look like type byte + string), but record streams resynchronise:
/// once a bogus record ends on a real boundary, the parse follows the real
/// records. So the boundary is taken late, at the last record start
/// reached after this many bytes.
const RESYNC_SPAN: usize = 64 << 10;

/// Records a [`resync`] may parse in all, over every candidate offset it
/// tries. A success from a true boundary needs at most `RESYNC_SPAN`
/// records (each takes a byte or more); the rest bounds the work crafted
/// input can cause, where every offset parses a long way before failing.
/// Past it the range is not split off: a loss of speed, never of
/// correctness.
const RESYNC_BUDGET: u64 = 1 << 18;

/// Finds a plausible record boundary at or after `from`: from a candidate
/// offset, at least `RESYNC_RECORDS` records (or everything up to EOF) must
/// parse and the parse must run `RESYNC_SPAN` bytes; the boundary is the
/// last record start reached. Gives up after parsing [`RESYNC_BUDGET`]
/// records; also returns how many it parsed. With `release`, the pages the
/// parse steps over are given back as it goes.
fn resync(data: &[u8], opts: Options, from: usize, release: bool) -> (Option<usize>, u64) {
    let skip = Options {
        level: Level::Skip,
        verify_checksum: false,
        ..opts
    };
    let end = from.saturating_add(RESYNC_WINDOW).min(data.len());
    let mut parsed: u64 = 0;
    let found = (from.max(9)..end).find_map(|q| {
        let mut d = Decoder::resume(data, q, 0, skip).ok()?;
        let mut n = 0;
        // Big values are stepped over element by element: what the parse
        // read is given back as it goes (the walk reads it again).
        let mut kept = q;
        loop {
            let at = d.offset();
            if release && at.saturating_sub(kept) >= RELEASE {
                crate::file::release(&data[kept..at]);
                kept = at;
            }
            if n >= RESYNC_RECORDS && at >= q + RESYNC_SPAN {
                return Some(Some(at));
            }
            if parsed >= RESYNC_BUDGET {
                return Some(None);
            }
            parsed += 1;
            match d.next() {
                // Only the real end of the file: a 0xFF byte inside a value
                // parses as EOF too.
                Some(Ok(Item::Eof { .. })) => {
                    return (d.offset() == data.len()).then_some(Some(at))
                }
                Some(Ok(_)) => n += 1,
                _ => return None,
            }
        }
    });
    (found.flatten(), parsed)
}

/// Range starts for `parts` pieces, the resyncs run on `threads` cores: 9
/// (the first record) and a [`resync`] boundary near each `i/parts` of the
/// file, ascending. A boundary counts only if it lies in its own piece
/// (before the next piece's nominal start), so the starts ascend whatever
/// each resync finds, and every boundary depends on its piece alone.
fn segment_starts(
    data: &[u8],
    opts: Options,
    parts: usize,
    threads: usize,
    release: bool,
) -> Vec<usize> {
    let parts = parts.max(1);
    let nominal = |i: usize| data.len() / parts * i;
    let found = fan_out(parts - 1, if release { 1 } else { threads }, |i| {
        let i = i + 1;
        let (found, _) = resync(data, opts, nominal(i), release);
        // The pages a probe read are read again by the walk in its turn:
        // given back now. A candidate that is not a boundary parses
        // lengths that can land anywhere, so the whole map is released
        // (pages of other probes included; they are mapped again if read).
        if release {
            crate::file::release(data);
        }
        found.filter(|&b| i + 1 == parts || b < nominal(i + 1))
    });
    let mut starts = vec![9usize];
    for b in found.into_iter().flatten() {
        if b > *starts.last().unwrap_or(&0) {
            starts.push(b);
        }
    }
    starts
}

/// Runs `f(0)`, ..., `f(n - 1)` on up to `threads` threads, each taking the
/// next index when it is free (so cores stay busy until the last piece
/// whatever each costs), and returns the results in index order. A panic
/// in `f` is resumed on the calling thread: it is a bug, never bad data.
pub(crate) fn fan_out<T: Send>(n: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                return done;
            }
            done.push((i, f(i)));
        }
    };
    let mut all: Vec<(usize, T)> = if threads < 2 || n < 2 {
        work()
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads.min(n)).map(|_| s.spawn(work)).collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    };
    all.sort_unstable_by_key(|x| x.0);
    all.into_iter().map(|x| x.1).collect()
}

/// Calls `f` with every group of entries that share a key, across lists
/// each sorted by `key` (a k-way merge, so the lists are never combined;
/// a run inside one list below every other list's head is taken at once).
/// Groups of one entry are skipped. The smallest head is found by a scan
/// of the heads for a few lists, by a heap for many.
pub(crate) fn equal_groups<'l, T, K: Ord + Copy, E>(
    lists: &[&'l [T]],
    key: impl Fn(&T) -> K,
    mut f: impl FnMut(&[&'l T]) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let mut pos = vec![0usize; lists.len()];
    let mut group: Vec<&'l T> = Vec::new();
    let mut cur: Option<K> = None;
    // Takes the entries of list `l` from `*p` while their key is below
    // `bound` (the smallest head of the other lists) or equal to the first.
    let mut take = |l: &'l [T], p: &mut usize, bound: Option<K>| {
        let mut first = key(&l[*p]);
        loop {
            let mut q = *p + 1;
            while q < l.len() && key(&l[q]) == first {
                q += 1;
            }
            if cur == Some(first) {
                group.extend(&l[*p..q]);
            } else {
                if group.len() > 1 {
                    f(&group)?;
                }
                group.clear();
                if q - *p > 1 || bound == Some(first) {
                    cur = Some(first);
                    group.extend(&l[*p..q]);
                } else {
                    // A key no other entry has: nothing to keep.
                    cur = None;
                }
            }
            *p = q;
            match l.get(q) {
                Some(e) if bound.is_none_or(|b| key(e) < b) => first = key(e),
                _ => return Ok(()),
            }
        }
    };
    if lists.len() <= 8 {
        loop {
            let mut best: Option<(K, usize)> = None;
            let mut second: Option<K> = None;
            for (j, l) in lists.iter().enumerate() {
                let Some(e) = l.get(pos[j]) else { continue };
                let k = key(e);
                match best {
                    Some((b, _)) if k >= b => {
                        if second.is_none_or(|s| k < s) {
                            second = Some(k);
                        }
                    }
                    _ => {
                        second = best.map(|b| b.0);
                        best = Some((k, j));
                    }
                }
            }
            let Some((_, j)) = best else { break };
            take(lists[j], &mut pos[j], second)?;
        }
    } else {
        let mut heap: BinaryHeap<Reverse<(K, usize)>> = lists
            .iter()
            .enumerate()
            .filter_map(|(j, l)| l.first().map(|e| Reverse((key(e), j))))
            .collect();
        while let Some(Reverse((_, j))) = heap.pop() {
            let bound = heap.peek().map(|r| r.0 .0);
            take(lists[j], &mut pos[j], bound)?;
            if let Some(e) = lists[j].get(pos[j]) {
                heap.push(Reverse((key(e), j)));
            }
        }
    }
    if group.len() > 1 {
        f(&group)?;
    }
    Ok(())
}

/// Words of the duplicate check's candidate filter (2^20 bits).
const FILTER_WORDS: usize = 1 << 14;

/// The confirmation pass of the duplicate-key check: the keys whose
/// fingerprint is a candidate, with their db and offset.
struct Candidates<'c> {
    cands: &'c [u32],
    filter: &'c [u64],
    found: Vec<(u64, Vec<u8>, u64)>,
    buf: Vec<u8>,
}

impl<'a> Sink<'a> for Candidates<'_> {
    fn record(&mut self, at: usize, item: &Item<'a>, _: &Decoder<'a>) -> Result<()> {
        if let Item::Key(k) = item {
            let kb = k.key.bytes_in(&mut self.buf)?;
            let fp = walk::fingerprint(kb) as u32;
            if self.filter[(fp >> 6) as usize & (FILTER_WORDS - 1)] & (1 << (fp & 63)) != 0
                && self.cands.binary_search(&fp).is_ok()
            {
                self.found.push((k.db, kb.to_vec(), at as u64));
            }
        }
        Ok(())
    }

    fn append(&mut self, next: Self) {
        self.found.extend(next.found);
    }
}

/// Finds a key that occurs twice in a database, given the sorted key
/// fingerprint lists of the ranges that start at `ranges` (record-aligned
/// `(start, db)` pairs in file order): fingerprints found more than once
/// are candidates, and a second pass over the ranges (each on a core)
/// compares the candidates' (db, key) pairs themselves. Memory: 4 bytes
/// per key plus the candidates (32-bit fingerprints collide now and then;
/// the second pass sorts that out).
pub(crate) fn find_duplicates(
    data: &[u8],
    lists: Vec<Vec<u32>>,
    opts: Options,
    ranges: &[(usize, u64)],
    threads: usize,
) -> Result<()> {
    let mut cands = Vec::new();
    {
        let refs: Vec<&[u32]> = lists.iter().map(Vec::as_slice).collect();
        equal_groups(
            &refs,
            |&v| v,
            |g| {
                cands.push(*g[0]);
                Ok::<(), ()>(())
            },
        )
        .ok();
    }
    drop(lists);
    if cands.is_empty() {
        return Ok(());
    }
    // A 2^20-bit filter rejects almost every key with one bit test.
    let mut filter = vec![0u64; FILTER_WORDS];
    for &c in &cands {
        filter[(c >> 6) as usize & (FILTER_WORDS - 1)] |= 1 << (c & 63);
    }
    let skip = Options {
        level: Level::Skip,
        verify_checksum: false,
        ..opts
    };
    let parts = fan_out(ranges.len(), threads.max(ranges.len()), |i| {
        let (start, db) = ranges[i];
        let bound = ranges.get(i + 1).map_or(usize::MAX, |n| n.0);
        let mut s = Candidates {
            cands: &cands,
            filter: &filter,
            found: Vec::new(),
            buf: Vec::new(),
        };
        walk_range(data, start, bound, db, skip, &mut s).map(|_| s.found)
    });
    let mut found = Vec::new();
    for p in parts {
        found.extend(p?);
    }
    found.sort();
    for w in found.windows(2) {
        if w[0].0 == w[1].0 && w[0].1 == w[1].1 {
            return Err(Error::new(
                ErrorKind::DuplicateKey {
                    db: w[0].0,
                    first_offset: w[0].2,
                },
                w[1].2,
            )
            .with_key(&w[1].1));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
