//! Record helpers that the input pass, the resolution of duplicates and
//! the writer share: locations (input and offset packed in a `u64`), runs
//! of consecutive records, what is filtered out, the output database,
//! re-reading a record found earlier, and whether a record can be copied
//! verbatim for the target.

use super::dynomite;
use super::options::{KeyPartition, MergeOptions};
use crate::decode::scan;
use crate::decode::{KeyRecord, Level, Options};
use crate::Limits;

/// Longest key name accepted (Redis Enterprise's limit: 64 KiB).
pub const MAX_KEY_LEN: usize = 64 * 1024;
/// Largest value accepted: 512 MiB, Redis's bulk-length limit. For strings
/// the uncompressed length counts, for other types the serialized size
/// (what a `RESTORE` payload would carry).
pub const MAX_VALUE_LEN: usize = 512 * 1024 * 1024;

/// Bits of a location used for the byte offset; the input index is above.
pub(super) const OFFSET_BITS: u32 = 48;

/// A run of consecutive key records of one database in one input, going
/// to one output ([`Run::part`], always 0 but in a [`super::split`]).
/// Runs are cut at the first record start [`RUN_SPLIT`] bytes or more past
/// theirs: the writer records where each run lands in the output, and the
/// re-read of the output splits its work at those points.
///
/// 16 bytes: a split's runs are often single records. The database is in
/// the input's [`DbStarts`](scan::DbStarts); the part is in the top bits of the end
/// (offsets stay below 2^[`OFFSET_BITS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    pub start: usize,
    tail: u64,
}

/// Where a kept key goes: the output (part of a split; 0 for a merge) and
/// the database in it.
pub(crate) type OutId = (u32, u64);

/// Kept keys of one output database: how many, how many with an expiry,
/// and how many of those are already expired at the import time.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    pub keys: u64,
    pub expires: u64,
    pub expired: u64,
}

impl Counts {
    pub(crate) fn add(&mut self, o: Counts) {
        self.keys += o.keys;
        self.expires += o.expires;
        self.expired += o.expired;
    }
}

/// The part of a split taking a key (0 for a merge, which has one output);
/// `None` when the partition leaves the key out.
pub(crate) fn part_of(parts: Option<&KeyPartition>, db: u64, key: &[u8]) -> Option<u32> {
    match parts {
        None => Some(0),
        // An index beyond u32 stays out of range, to be refused.
        Some(p) => p
            .part(db, key)
            .map(|i| u32::try_from(i).unwrap_or(u32::MAX)),
    }
}

/// Length after which a run is cut at the next record start.
pub(crate) const RUN_SPLIT: usize = 32 << 20;

impl Run {
    const END: u64 = (1 << OFFSET_BITS) - 1;

    /// The run of `start..end` going to output `part` (below 2^16: a split
    /// with more outputs is refused before anything is written).
    pub(crate) fn new(start: usize, end: usize, part: u32) -> Run {
        let mut r = Run { start, tail: 0 };
        r.tail = u64::from(part & 0xffff) << OFFSET_BITS;
        r.set_end(end);
        r
    }

    /// Where the run's last record ends.
    pub(crate) fn end(&self) -> usize {
        (self.tail & Run::END) as usize
    }

    /// Moves the end of the run.
    pub(crate) fn set_end(&mut self, end: usize) {
        self.tail = (self.tail & !Run::END) | (end as u64 & Run::END);
    }

    /// The output the run goes to.
    pub(crate) fn part(&self) -> u32 {
        (self.tail >> OFFSET_BITS) as u32
    }

    /// Whether a record starting at `at` (right after the run, in its
    /// database) may extend it rather than start the next run.
    pub(super) fn grows_to(&self, at: usize) -> bool {
        at - self.start < RUN_SPLIT
    }
}

/// Most outputs of one split (the part of a [`Run`] has 16 bits).
pub(crate) const MAX_PARTS: usize = 1 << 16;

pub(crate) fn loc(input: usize, offset: usize) -> u64 {
    ((input as u64) << OFFSET_BITS) | offset as u64
}

pub(super) fn unloc(l: u64) -> (usize, usize) {
    (
        (l >> OFFSET_BITS) as usize,
        (l & ((1 << OFFSET_BITS) - 1)) as usize,
    )
}

/// Why a record is left out before duplicate detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filter {
    Dynomite,
    Expired,
    Unselected,
}

/// Whether a record is left out before duplicate detection; `part` is
/// its [`part_of`].
pub(crate) fn filtered(
    opts: &MergeOptions,
    part: Option<u32>,
    db: u64,
    key: &[u8],
    expire: Option<i64>,
) -> Option<Filter> {
    if part.is_none() || opts.select.as_ref().is_some_and(|s| !s.keeps(db, key)) {
        return Some(Filter::Unselected);
    }
    if opts.drop_dynomite_metadata && dynomite::is_metadata_key(key) {
        return Some(Filter::Dynomite);
    }
    match (opts.drop_expired_at, expire) {
        (Some(t), Some(e)) if e < t => Some(Filter::Expired),
        _ => None,
    }
}

/// The output database of a record of database `db`.
pub(crate) fn out_db(opts: &MergeOptions, db: u64) -> u64 {
    if opts.flatten_dbs {
        0
    } else {
        db
    }
}

/// Options for re-reading records already verified.
pub(crate) fn skip_opts() -> Options {
    Options {
        level: Level::Skip,
        verify_checksum: false,
        limits: scan_limits(),
    }
}

/// Limits for the inputs: strings over 512 MiB are reported by the merge
/// itself (with the key), not as decoding errors.
pub(super) fn scan_limits() -> Limits {
    Limits {
        max_string_len: 1 << 40,
        ..Limits::default()
    }
}

/// Reads the key record starting at `offset` (a record boundary found by
/// the input pass), without checking its value again.
pub(crate) fn record_at(data: &[u8], offset: usize, db: u64) -> crate::Result<KeyRecord<'_>> {
    scan::record_at(data, offset, db, skip_opts())
}

/// A key as shown in messages: escaped, cut after 64 bytes.
pub(super) fn show_key(key: &[u8]) -> String {
    let shown = &key[..key.len().min(64)];
    let mut s = crate::format::escape_bytes(shown);
    if key.len() > shown.len() {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_round_trip() {
        assert_eq!(unloc(loc(3, 123_456_789)), (3, 123_456_789));
    }

    #[test]
    fn runs_keep_their_part_and_end() {
        assert_eq!(std::mem::size_of::<Run>(), 16);
        let top = (1 << OFFSET_BITS) - 1;
        for (start, end, part) in [(0, 9, 0), (5, top, 65_535), (top - 1, top, 1)] {
            let mut r = Run::new(start, end, part);
            assert_eq!((r.start, r.end(), r.part()), (start, end, part));
            r.set_end(end - 1);
            assert_eq!((r.start, r.end(), r.part()), (start, end - 1, part));
        }
    }
}
