//! Record helpers that the input pass, the resolution of duplicates and
//! the writer share: locations (input and offset packed in a `u64`), runs
//! of consecutive records, what is filtered out, the output database,
//! re-reading a record found earlier, and whether a record can be copied
//! verbatim for the target.

use super::dynomite;
use super::options::MergeOptions;
use crate::decode::{scan, KeyRecord, Level, Options};
use crate::Limits;

/// Longest key name accepted (Redis Enterprise's limit: 64 KiB).
pub const MAX_KEY_LEN: usize = 64 * 1024;
/// Largest value accepted: 512 MiB, Redis's bulk-length limit. For strings
/// the uncompressed length counts, for other types the serialized size
/// (what a `RESTORE` payload would carry).
pub const MAX_VALUE_LEN: usize = 512 * 1024 * 1024;

/// Bits of a location used for the byte offset; the input index is above.
pub(super) const OFFSET_BITS: u32 = 48;

/// A run of consecutive key records of one database in one input.
/// Runs are cut at the first record start [`RUN_SPLIT`] bytes or more past
/// theirs: the writer records where each run lands in the output, and the
/// re-read of the output splits its work at those points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    pub start: usize,
    pub end: usize,
    pub db: u64,
}

/// Length after which a run is cut at the next record start.
pub(crate) const RUN_SPLIT: usize = 32 << 20;

impl Run {
    /// Whether a record starting at `at` (right after the run, in its
    /// database) may extend it rather than start the next run.
    pub(super) fn grows_to(&self, at: usize) -> bool {
        at - self.start < RUN_SPLIT
    }
}

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

/// Whether a record is left out before duplicate detection.
pub(crate) fn filtered(
    opts: &MergeOptions,
    db: u64,
    key: &[u8],
    expire: Option<i64>,
) -> Option<Filter> {
    if opts.select.as_ref().is_some_and(|s| !s.keeps(db, key)) {
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

/// The database of the run holding `offset`.
pub(crate) fn run_db(runs: &[Run], offset: usize) -> u64 {
    match runs.partition_point(|r| r.start <= offset) {
        0 => 0,
        i => runs[i - 1].db,
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
}
