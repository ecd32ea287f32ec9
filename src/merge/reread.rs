//! Re-reading the output while it is being written. The writer cuts the
//! file at record boundaries (the start of the first run of copied records
//! of each database, then of the first run a mebibyte or more past the
//! previous cut; runs are at most [`super::plan::RUN_SPLIT`] long); a piece
//! between two cuts
//! is final as soon as the writer has handed its last byte to the kernel,
//! and worker threads then map the file and decode the piece (its structure,
//! and every element of re-encoded records), count its keys and expires per
//! database and compute its CRC-64. The pieces' CRCs are combined in file
//! order and compared with the checksum the writer stored. So the check of
//! the output overlaps with writing it, which leaves the cores idle while
//! the kernel copies and the disk writes.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard};

use super::progress::Progress;
use crate::decode::scan::{fan_out, walk_range, Sink};
use crate::decode::{Checksum, Decoder, Item, Level, Options};
use crate::format::crc::Crc64;
use crate::{Input, Limits};

/// Keys and expires per database.
pub(crate) type DbCounts = BTreeMap<u64, (u64, u64)>;

/// What the writer has told the re-readers so far.
#[derive(Default)]
struct State {
    /// Record boundaries and the database current there, ascending; the
    /// first is the first record (9, db 0).
    cuts: Vec<(usize, u64)>,
    /// Per closed piece (`cuts[i]..cuts[i + 1]`): whether it holds a
    /// re-encoded record (decoded fully) or only copied ones (structure).
    full: Vec<bool>,
    /// Bytes handed to the kernel.
    in_file: u64,
    /// Set when the writer is done (all its bytes handed to the kernel):
    /// whether the last piece holds a re-encoded record.
    end: Option<bool>,
    /// The write failed: the re-readers stop.
    failed: bool,
    /// The next piece to hand out.
    next: usize,
    /// Bytes and keys checked before the writer was done (shown when the
    /// "verifying output" phase starts).
    checked: (u64, u64),
}

/// A piece of the output to check.
struct Piece {
    index: usize,
    from: usize,
    db: u64,
    /// `None` for the last piece, which ends with EOF and the checksum.
    to: Option<usize>,
    level: Level,
}

/// What one piece held.
struct Checked {
    counts: DbCounts,
    /// CRC-64 of the piece's bytes (for the first piece from offset 0,
    /// for the last up to EOF's checksum).
    crc: Crc64,
    checksum: Checksum,
    /// Bytes the piece spans.
    bytes: u64,
}

/// The meeting point of the writer and the re-readers.
pub(crate) struct Tracker<'p> {
    state: Mutex<State>,
    ready: Condvar,
    /// Shows the "verifying output" phase once the writer is done.
    prog: &'p Progress,
}

impl<'p> Tracker<'p> {
    pub(crate) fn new(prog: &'p Progress) -> Self {
        Tracker {
            state: Mutex::new(State {
                cuts: vec![(9, 0)],
                ..State::default()
            }),
            ready: Condvar::new(),
            prog,
        }
    }

    /// A piece of `bytes` bytes holding `keys` keys was checked.
    fn checked(&self, bytes: u64, keys: u64) {
        let mut s = self.lock();
        if s.end.is_some() {
            self.prog.add(bytes, keys);
        } else {
            s.checked.0 += bytes;
            s.checked.1 += keys;
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A re-reader that panicked has nothing half-done in the state.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The writer handed `n` more bytes to the kernel.
    pub(crate) fn wrote(&self, n: usize) {
        let mut s = self.lock();
        s.in_file += n as u64;
        if s.cuts
            .get(s.next + 1)
            .is_some_and(|c| c.0 as u64 <= s.in_file)
        {
            self.ready.notify_one();
        }
    }

    /// A record starts at `at` (in database `db`); `full`: a record was
    /// re-encoded since the previous cut.
    pub(crate) fn cut(&self, at: usize, db: u64, full: bool) {
        let mut s = self.lock();
        let last = s.cuts.last().map_or(0, |c| c.0);
        if at > last {
            s.cuts.push((at, db));
            s.full.push(full);
        } else if let Some(f) = s.full.last_mut() {
            // Nothing was written since the previous cut.
            *f |= full;
        }
    }

    /// The writer is done and has handed every byte to the kernel; `full`:
    /// a record was re-encoded since the last cut.
    /// Starts the "verifying output" phase of the progress bar.
    pub(crate) fn finish(&self, full: bool) {
        let mut s = self.lock();
        s.end = Some(full);
        self.prog.phase("verifying output", s.in_file);
        self.prog.add(s.checked.0, s.checked.1);
        drop(s);
        self.ready.notify_all();
    }

    /// The write failed: re-readers stop.
    pub(crate) fn abort(&self) {
        self.lock().failed = true;
        self.ready.notify_all();
    }

    /// The next piece that is completely in the file, waiting for one; `None`
    /// when there are no more (or the write failed).
    fn take(&self) -> Option<Piece> {
        let mut s = self.lock();
        loop {
            if s.failed {
                return None;
            }
            let i = s.next;
            if i < s.cuts.len() {
                let (from, db) = s.cuts[i];
                let level = |full: bool| if full { Level::Full } else { Level::Skip };
                if let Some(&(to, _)) = s.cuts.get(i + 1) {
                    if to as u64 <= s.in_file {
                        s.next += 1;
                        let level = level(s.full[i]);
                        return Some(Piece {
                            index: i,
                            from,
                            db,
                            to: Some(to),
                            level,
                        });
                    }
                } else if let Some(full) = s.end {
                    s.next += 1;
                    return Some(Piece {
                        index: i,
                        from,
                        db,
                        to: None,
                        level: level(full),
                    });
                }
            } else if s.end.is_some() {
                return None;
            }
            s = self.ready.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// Runs `workers` re-readers of `path` until the writer is done; returns
/// the counts per database once every piece has been checked, or the first
/// failure in file order. Call [`Tracker::finish`] or [`Tracker::abort`]
/// from another thread, or this never returns.
pub(crate) fn reread(
    path: &Path,
    tracker: &Tracker<'_>,
    workers: usize,
) -> crate::Result<DbCounts> {
    // Each worker takes pieces from the tracker as the writer closes them.
    let workers = workers.max(1);
    let mut done: Vec<(usize, crate::Result<Checked>)> = fan_out(workers, workers, |_| {
        let mut done = Vec::new();
        while let Some(p) = tracker.take() {
            let r = check_piece(path, &p);
            if let Ok(c) = &r {
                let keys = c.counts.values().map(|c| c.0).sum();
                tracker.checked(c.bytes, keys);
            }
            let failed = r.is_err();
            done.push((p.index, r));
            if failed {
                break;
            }
        }
        done
    })
    .into_iter()
    .flatten()
    .collect();
    done.sort_unstable_by_key(|d| d.0);
    let state = tracker.lock();
    if state.failed {
        return Err(unfinished("the write failed"));
    }
    let pieces = state.cuts.len();
    drop(state);
    if done.len() != pieces || done.iter().enumerate().any(|(i, d)| d.0 != i) {
        // A piece failed and its worker stopped: report the first failure.
        let first = done.into_iter().find_map(|d| d.1.err());
        return Err(first.unwrap_or_else(|| unfinished("a piece was not checked")));
    }
    let mut crc = Crc64::new();
    let mut got = DbCounts::new();
    let mut last = Checksum::Absent;
    // Bytes the CRC covers: where the stored checksum starts.
    let mut end = 0u64;
    for (_, r) in done {
        let c = r?;
        end += c.bytes;
        crc.combine(&c.crc);
        for (db, (k, e)) in c.counts {
            let t = got.entry(db).or_default();
            t.0 += k;
            t.1 += e;
        }
        last = c.checksum;
    }
    match last {
        // The decoder gives `Absent` for formats without a checksum (RDB < 5).
        Checksum::NotChecked(stored) => {
            let computed = crc.value();
            if computed != stored {
                return Err(crate::Error::new(
                    crate::ErrorKind::ChecksumMismatch { stored, computed },
                    end,
                ));
            }
        }
        Checksum::Absent => {}
        other => {
            return Err(crate::Error::corrupt(
                format!("the checksum is {other}"),
                end,
            ))
        }
    }
    got.retain(|_, c| c.0 > 0);
    Ok(got)
}

/// Checks a whole output held in memory (every record decoded fully, the
/// CRC-64 compared, trailing bytes refused) and returns its keys and
/// expires per database.
pub(crate) fn check_bytes(data: &[u8]) -> crate::Result<DbCounts> {
    let opts = crate::decode::scan::ScanOptions {
        decode: Options {
            level: Level::Full,
            verify_checksum: true,
            limits: Limits::default(),
        },
        threads: crate::decode::scan::cores(),
        fingerprint: false,
    };
    let s = crate::decode::scan::scan(data, &opts, |_| Counter::default())?;
    if s.trailing > 0 {
        return Err(crate::Error::corrupt(
            format!("{} bytes after the checksum", s.trailing),
            (data.len() - s.trailing) as u64,
        ));
    }
    match s.checksum {
        Checksum::Verified(_) | Checksum::Absent => {}
        other => {
            return Err(crate::Error::corrupt(
                format!("the checksum is {other}"),
                s.eof as u64,
            ))
        }
    }
    let mut got = s.sink.0;
    got.retain(|_, c| c.0 > 0);
    Ok(got)
}

/// The re-read could not finish (the write failed, or a piece was left).
fn unfinished(why: &str) -> crate::Error {
    crate::Error::io("re-reading the output", std::io::Error::other(why))
}

fn check_piece(path: &Path, p: &Piece) -> crate::Result<Checked> {
    let data = Input::open(path)?;
    let (counts, checksum, end) = count_part(&data, p.from, p.db, p.to, p.level)?;
    let start = if p.index == 0 { 0 } else { p.from };
    let mut crc = Crc64::new();
    crc.update(&data[start..end]);
    Ok(Checked {
        counts,
        crc,
        checksum,
        bytes: (end - start) as u64,
    })
}

/// Keys and expires per database, as a [`Sink`].
#[derive(Default)]
struct Counter(DbCounts);

impl<'a> Sink<'a> for Counter {
    fn record(&mut self, _: usize, item: &Item<'a>, _: &Decoder<'a>) -> crate::Result<()> {
        if let Item::Key(k) = item {
            let c = self.0.entry(k.db).or_default();
            c.0 += 1;
            c.1 += u64::from(k.expire_ms.is_some());
        }
        Ok(())
    }

    fn append(&mut self, next: Self) {
        for (db, (k, e)) in next.0 {
            let c = self.0.entry(db).or_default();
            c.0 += k;
            c.1 += e;
        }
    }
}

/// Counts keys and expires per db in `data[from..to]` (record boundaries);
/// with `to` = `None` up to and including `EOF`. Also returns the stored
/// checksum (not compared here) and where the checksummed bytes end.
fn count_part(
    data: &[u8],
    from: usize,
    db: u64,
    to: Option<usize>,
    level: Level,
) -> crate::Result<(DbCounts, Checksum, usize)> {
    let opts = Options {
        level,
        verify_checksum: false,
        limits: Limits::default(),
    };
    let mut counter = Counter::default();
    let w = walk_range(data, from, to.unwrap_or(usize::MAX), db, opts, &mut counter)?;
    let counts = counter.0;
    match (to, w.eof) {
        (Some(t), None) if w.end == t => Ok((counts, Checksum::Absent, t)),
        (Some(t), None) => Err(crate::Error::corrupt(
            "a record crosses a boundary the writer recorded",
            t as u64,
        )),
        (Some(_), Some(eof)) => Err(crate::Error::corrupt(
            "EOF before a boundary the writer recorded",
            eof.offset as u64,
        )),
        (None, None) => Err(crate::Error::corrupt("no EOF record", w.end as u64)),
        (None, Some(eof)) => {
            if eof.trailing != 0 {
                return Err(crate::Error::corrupt(
                    format!("{} bytes after the checksum", eof.trailing),
                    eof.offset as u64,
                ));
            }
            if eof.checksum == Checksum::Disabled {
                return Err(crate::Error::corrupt(
                    "the checksum was not written",
                    eof.offset as u64,
                ));
            }
            let end = match eof.checksum {
                Checksum::NotChecked(_) => data.len() - 8,
                _ => data.len(),
            };
            Ok((counts, eof.checksum, end))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
    use std::io::Write;

    /// A file of `n` keys (strings and lists, every third with a TTL; the
    /// second half in db 3) and the record starts of every 50th key.
    fn file(n: usize, version: u32) -> (Vec<u8>, Vec<(usize, u64)>, DbCounts) {
        let mut w = RdbWriter::new(Vec::new(), Target::redis(version)).unwrap();
        w.aux(b"redis-ver", b"7.2.4").unwrap();
        let mut cuts = Vec::new();
        let mut want = DbCounts::new();
        w.select_db(0).unwrap();
        for i in 0..n {
            let db = if i < n / 2 { 0 } else { 3 };
            if i == n / 2 {
                w.select_db(3).unwrap();
            }
            if i % 50 == 0 {
                cuts.push((w.written() as usize, db));
            }
            let v = if i % 5 == 0 {
                OwnedValue::List((0..20).map(|j| format!("e{j}-{i}").into_bytes()).collect())
            } else {
                // "value " and bytes that LZF cannot shorten.
                let mut v = b"value ".to_vec();
                v.extend((0..i % 400).map(|j| (j * 7919 + i * 31) as u8 ^ (j >> 3) as u8));
                OwnedValue::String(v)
            };
            let expire_ms = (i % 3 == 0).then_some(1_700_000_000_000 + i as i64);
            w.key(
                format!("key:{i}").as_bytes(),
                &v,
                KeyMeta {
                    expire_ms,
                    ..KeyMeta::default()
                },
            )
            .unwrap();
            let c = want.entry(db).or_default();
            c.0 += 1;
            c.1 += u64::from(expire_ms.is_some());
        }
        (w.finish().unwrap(), cuts, want)
    }

    /// Writes `data` to a new file in 4 KiB pieces, telling `tracker` of
    /// each piece and of each cut before its bytes, while `reread` runs.
    fn write_and_reread(
        data: &[u8],
        cuts: &[(usize, u64)],
        fail_at: Option<usize>,
    ) -> Result<DbCounts, String> {
        write_and_reread_typed(data, cuts, fail_at).map_err(|e| e.to_string())
    }

    fn write_and_reread_typed(
        data: &[u8],
        cuts: &[(usize, u64)],
        fail_at: Option<usize>,
    ) -> crate::Result<DbCounts> {
        let dir = std::env::temp_dir();
        let path = dir.join(format!(
            "rdbkit-reread-{}-{:?}.rdb",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_file(&path);
        let mut f = std::fs::File::create(&path).unwrap();
        let quiet = Progress::quiet();
        let tracker = Tracker::new(&quiet);
        let got = std::thread::scope(|s| {
            let reader = s.spawn(|| reread(&path, &tracker, 2));
            let mut next_cut = 0;
            for (k, piece) in data.chunks(4096).enumerate() {
                let end = (k + 1) * 4096;
                if fail_at.is_some_and(|f| f < end) {
                    tracker.abort();
                    return reader.join().unwrap();
                }
                while let Some(&(at, db)) = cuts.get(next_cut).filter(|c| c.0 < end) {
                    tracker.cut(at, db, next_cut % 3 == 0);
                    next_cut += 1;
                }
                f.write_all(piece).unwrap();
                tracker.wrote(piece.len());
            }
            tracker.finish(false);
            reader.join().unwrap()
        });
        let _ = std::fs::remove_file(&path);
        got
    }

    #[test]
    fn counts_what_was_written_while_it_is_written() {
        for version in [4, 11] {
            let (data, cuts, want) = file(2000, version);
            assert!(cuts.len() > 10 && data.len() > 50 * 4096);
            assert_eq!(write_and_reread(&data, &cuts, None), Ok(want.clone()));
            // Without cuts the whole file is one piece.
            assert_eq!(write_and_reread(&data, &[], None), Ok(want));
        }
    }

    #[test]
    fn a_changed_byte_fails_the_crc_or_the_structure() {
        let (mut data, cuts, _) = file(2000, 11);
        // Inside a string value (copied records are re-read for structure
        // only: the CRC catches this).
        let at = data.len() / 2;
        let at = at + data[at..].windows(6).position(|w| w == b"value ").unwrap() + 2;
        data[at] ^= 0x20;
        let e = write_and_reread(&data, &cuts, None).unwrap_err();
        assert!(e.contains("checksum"), "{e}");
        let e = write_and_reread_typed(&data, &cuts, None).unwrap_err();
        assert!(
            matches!(e.kind(), crate::ErrorKind::ChecksumMismatch { .. }),
            "{e}"
        );
        // A cut that is not a record boundary.
        let (data, mut cuts, _) = file(2000, 11);
        cuts[5].0 += 1;
        let e = write_and_reread(&data, &cuts, None).unwrap_err();
        assert!(e.contains("boundary"), "{e}");
        // A file cut short: no EOF.
        let (data, cuts, _) = file(2000, 11);
        let short = &data[..data.len() - 9];
        assert!(write_and_reread(short, &cuts, None).is_err());
    }

    #[test]
    fn a_failed_write_stops_the_reread() {
        let (data, cuts, _) = file(2000, 11);
        let e = write_and_reread(&data, &cuts, Some(data.len() / 2)).unwrap_err();
        assert!(e.contains("write failed"), "{e}");
    }
}
