//! Copying a subset of a file: [`copy_filtered`].

use std::collections::BTreeMap;
use std::io::Write;

use super::value::OwnedValue;
use super::writer::RdbWriter;
use crate::decode::scan::DbStarts;
use crate::decode::{Decoder, Item, Level, Options};
use crate::format::Header;
use crate::release::Target;
use crate::Result;

/// What [`copy_filtered`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopySummary {
    /// Keys and keys with an expiry written, per database.
    pub kept: BTreeMap<u64, (u64, u64)>,
    /// Keys left out, per database.
    pub dropped: BTreeMap<u64, u64>,
    /// Kept records re-encoded because the target cannot read them as
    /// they are (the others are copied byte for byte).
    pub reencoded: u64,
    /// Bytes written.
    pub bytes: u64,
}

impl CopySummary {
    /// Keys written in all.
    pub fn kept_keys(&self) -> u64 {
        self.kept.values().map(|c| c.0).sum()
    }

    /// Keys left out in all.
    pub fn dropped_keys(&self) -> u64 {
        self.dropped.values().sum()
    }
}

/// Options for re-reading records a first pass checked.
fn skip_opts() -> Options {
    Options {
        level: Level::Skip,
        verify_checksum: false,
        ..Options::default()
    }
}

/// The keys a copy keeps, for the duplicate check (Redis panics loading
/// a file with a key twice in one database): a 64-bit fingerprint of the
/// database and key with the record's offset, 16 bytes a key, instead of
/// every key's bytes in a hash table.
#[derive(Default)]
struct KeptKeys {
    keys: Vec<(u64, usize)>,
    dbs: DbStarts,
}

impl KeptKeys {
    fn push(&mut self, db: u64, key: &[u8], at: usize) {
        self.dbs.note(at, db);
        let fp = crate::decode::key_fingerprint(db, key);
        self.keys.push((fp, at));
    }

    /// Fails on the first key kept twice in one database (reported at its
    /// second record, with the first one's offset). Records of equal
    /// fingerprints are read again and compared, so a collision never
    /// refuses a good file.
    fn check(mut self, input: &[u8]) -> Result<()> {
        self.keys.sort_unstable();
        let skip = skip_opts();
        let mut dup: Option<(usize, usize)> = None;
        for g in self
            .keys
            .chunk_by(|a, b| a.0 == b.0)
            .filter(|g| g.len() > 1)
        {
            let mut seen: Vec<(u64, std::borrow::Cow<'_, [u8]>, usize)> = Vec::new();
            for &(_, at) in g {
                let db = self.dbs.db_at(at);
                let k = crate::decode::scan::record_at(input, at, db, skip)?;
                let key = k.key.to_bytes()?;
                if let Some(&(_, _, first)) = seen.iter().find(|s| s.0 == db && s.1 == key) {
                    // The earliest second occurrence is the one reported.
                    if dup.is_none_or(|d| at < d.1) {
                        dup = Some((first, at));
                    }
                    break;
                }
                seen.push((db, key, at));
            }
        }
        let Some((first, at)) = dup else {
            return Ok(());
        };
        let db = self.dbs.db_at(at);
        let k = crate::decode::scan::record_at(input, at, db, skip)?;
        Err(crate::Error::new(
            crate::ErrorKind::DuplicateKey {
                db,
                first_offset: first as u64,
            },
            at as u64,
        )
        .with_key(&k.key.to_bytes()?))
    }
}

/// Writes one record: byte for byte when the target reads it, re-encoded
/// otherwise (counted in `summary.reencoded`).
fn copy_record<W: Write>(
    w: &mut RdbWriter<W>,
    k: &crate::decode::KeyRecord<'_>,
    header: Header,
    target: Target,
    summary: &mut CopySummary,
) -> Result<()> {
    if target.can_copy(k, header.lineage) {
        w.key_verbatim(k, k.meta())
    } else {
        let key = k.key.to_bytes()?;
        let v = OwnedValue::from_value(&k.value).map_err(|e| e.with_key(&key))?;
        summary.reencoded += 1;
        w.key_with_meta(&key, &v, k.meta(), k.key_meta)
    }
}

/// Copies the records of `input` for which `keep` returns true into a new
/// file written to `out`, for `target` (the input's own format when
/// `None`). One pass checks the whole input (every value, the CRC) and
/// asks `keep` about each key once; a second writes the aux fields,
/// function libraries and module aux data as they are, a `SELECTDB` and a
/// `RESIZEDB` with the true counts per database that keeps keys (checked
/// against what is written), and each
/// kept record: byte for byte when the target can read it, re-encoded
/// otherwise (an information loss is an error, see
/// [`AllowLoss`](super::AllowLoss)). Cluster slot hints (`SLOT_INFO`,
/// Valkey `SLOT_IMPORT`) and Redis Enterprise private opcodes are left
/// out: they describe the whole input.
///
/// # Errors
/// A corrupt input (with its offset and key), a key kept twice in one
/// database, a record the target cannot hold, or an error of `out`.
///
/// ```
/// use rdbkit::encode::{copy_filtered, KeyMeta, OwnedValue, RdbWriter, Target};
/// let mut w = RdbWriter::new(Vec::new(), Target::redis(11)).unwrap();
/// w.select_db(0).unwrap();
/// for k in ["user:1", "user:2", "cache:1"] {
///     w.key(k.as_bytes(), &OwnedValue::String(b"v".to_vec()), KeyMeta::default()).unwrap();
/// }
/// let input = w.finish().unwrap();
/// let mut out = Vec::new();
/// let s = copy_filtered(&input, &mut out, None, |k| k.key.to_bytes().is_ok_and(|b| b.starts_with(b"user:"))).unwrap();
/// assert_eq!((s.kept_keys(), s.dropped_keys()), (2, 1));
/// assert_eq!(rdbkit::stats::inspect(&out, Default::default(), 0).unwrap().keys(), 2);
/// ```
pub fn copy_filtered<W: Write>(
    input: &[u8],
    out: W,
    target: Option<Target>,
    mut keep: impl FnMut(&crate::decode::KeyRecord<'_>) -> bool,
) -> Result<CopySummary> {
    let header = Header::parse(input)?;
    let target = target.unwrap_or_else(|| Target::from(&header));
    // Pass 1: check everything, ask about every key once.
    let mut decisions: Vec<bool> = Vec::new();
    let mut summary = CopySummary::default();
    let mut kept_keys = KeptKeys::default();
    let mut dec = Decoder::new(input, Options::default())?;
    loop {
        let at = dec.offset();
        let Some(item) = dec.next() else { break };
        if let Item::Key(k) = item? {
            let kept = keep(&k);
            decisions.push(kept);
            if kept {
                kept_keys.push(k.db, &k.key.to_bytes()?, at);
                let c = summary.kept.entry(k.db).or_default();
                c.0 += 1;
                c.1 += u64::from(k.expire_ms.is_some());
            } else {
                *summary.dropped.entry(k.db).or_default() += 1;
            }
        }
    }
    // A key kept twice in a database is refused before anything is
    // written (Redis panics loading that).
    kept_keys.check(input)?;
    // Pass 2: write, the RESIZEDB counts checked against what is written.
    let skip = skip_opts();
    let mut w = RdbWriter::new(out, target)?;
    w.count_keys();
    let mut decisions = decisions.into_iter();
    let mut selected: Option<u64> = None;
    let mut resized = std::collections::BTreeSet::new();
    for item in Decoder::new(input, skip)? {
        match item? {
            Item::Aux { key, value } => w.aux(&key.to_bytes()?, &value.to_bytes()?)?,
            Item::Function(code) => w.function(&code.to_bytes()?)?,
            Item::ModuleAux(m) => w.module_aux(m.id.0, m.when, m.payload)?,
            Item::Key(k) => {
                if !decisions.next().unwrap_or(false) {
                    continue;
                }
                if selected != Some(k.db) {
                    w.select_db(k.db)?;
                    selected = Some(k.db);
                    if resized.insert(k.db) {
                        let (keys, expires) = summary.kept.get(&k.db).copied().unwrap_or_default();
                        w.resize_db(keys, expires)?;
                    }
                }
                copy_record(&mut w, &k, header, target, &mut summary)?;
            }
            Item::FunctionPreGa { name, .. } => {
                return Err(crate::Error::new(
                    crate::ErrorKind::Encode(format!(
                        "pre-release (Redis 7.0-rc) function '{}' cannot be written: no released server loads it",
                        String::from_utf8_lossy(&name.to_bytes()?)
                    )),
                    0,
                ))
            }
            // Slot hints and Enterprise opcodes describe the input as a
            // whole; SELECTDB/RESIZEDB are written with the kept keys.
            _ => {}
        }
    }
    // EOF, then the checksum (RDB 5+).
    summary.bytes = w.written() + 1 + 8 * u64::from(target.version >= 5);
    w.finish()?;
    Ok(summary)
}

/// Copies a cluster node's file (every key in database 0) with its keys
/// grouped by cluster slot, in slot order, each slot's keys preceded by a
/// `SLOT_INFO` record with their counts: the layout Redis 7.4+ writes in
/// cluster mode. Aux fields, functions and module aux data are copied as
/// they are (those after the keys stay after them); records are copied
/// byte for byte when the target reads them, re-encoded otherwise.
///
/// # Errors
/// A corrupt input (with its offset and key), a key outside database 0,
/// a target without slot info ([`Target::has_slot_info`]), a record the
/// target cannot hold, or an error of `out`.
///
/// ```
/// use rdbkit::decode::{Decoder, Item, Options};
/// use rdbkit::encode::{copy_by_slot, KeyMeta, OwnedValue, RdbWriter, Target};
/// let mut w = RdbWriter::new(Vec::new(), Target::redis(12)).unwrap();
/// w.select_db(0).unwrap();
/// for k in ["foo", "bar", "{bar}x"] {
///     w.key(k.as_bytes(), &OwnedValue::String(b"v".to_vec()), KeyMeta::default()).unwrap();
/// }
/// let input = w.finish().unwrap();
/// let mut out = Vec::new();
/// copy_by_slot(&input, &mut out, None).unwrap();
/// let slots: Vec<(u64, u64)> = Decoder::new(&out, Options::default()).unwrap()
///     .filter_map(|i| match i.unwrap() { Item::SlotInfo { slot, keys, .. } => Some((slot, keys)), _ => None })
///     .collect();
/// assert_eq!(slots, vec![(5061, 2), (12182, 1)]);
/// ```
pub fn copy_by_slot<W: Write>(input: &[u8], out: W, target: Option<Target>) -> Result<CopySummary> {
    let header = Header::parse(input)?;
    let target = target.unwrap_or_else(|| Target::from(&header));
    if !target.has_slot_info() {
        return Err(super::writer::no_slot_info(target, 0));
    }
    // Pass 1: check everything; each key's slot and record offset.
    let mut keys: Vec<(u16, usize, bool)> = Vec::new();
    let mut kept_keys = KeptKeys::default();
    let mut first_key = usize::MAX;
    let mut dec = Decoder::new(input, Options::default())?;
    loop {
        let at = dec.offset();
        let Some(item) = dec.next() else { break };
        if let Item::Key(k) = item? {
            let key = k.key.to_bytes()?;
            if k.db != 0 {
                return Err(crate::Error::corrupt(
                    format!(
                        "key in database {} (a cluster node has only database 0)",
                        k.db
                    ),
                    at as u64,
                )
                .with_key(&key));
            }
            keys.push((crate::cluster::key_slot(&key), at, k.expire_ms.is_some()));
            kept_keys.push(0, &key, at);
            first_key = first_key.min(at);
        }
    }
    kept_keys.check(input)?;
    keys.sort_by_key(|&(slot, at, _)| (slot, at));
    let mut summary = CopySummary::default();
    let expires = keys.iter().filter(|k| k.2).count() as u64;
    if !keys.is_empty() {
        summary.kept.insert(0, (keys.len() as u64, expires));
    }
    let skip = skip_opts();
    let mut w = RdbWriter::new(out, target)?;
    w.count_keys();
    // Aux fields, functions and module aux data before the first key,
    // then the keys by slot, then what came after the last key.
    let mut wrote_keys = false;
    let mut dec = Decoder::new(input, skip)?;
    loop {
        let at = dec.offset();
        let Some(item) = dec.next() else { break };
        let item = item?;
        if !wrote_keys && at > first_key {
            write_by_slot(&mut w, input, header, target, &keys, expires, &mut summary)?;
            wrote_keys = true;
        }
        match item {
            Item::Aux { key, value } => w.aux(&key.to_bytes()?, &value.to_bytes()?)?,
            Item::Function(code) => w.function(&code.to_bytes()?)?,
            Item::ModuleAux(m) => w.module_aux(m.id.0, m.when, m.payload)?,
            _ => {}
        }
    }
    if !wrote_keys {
        write_by_slot(&mut w, input, header, target, &keys, expires, &mut summary)?;
    }
    summary.bytes = w.written() + 9;
    w.finish()?;
    Ok(summary)
}

fn write_by_slot<W: Write>(
    w: &mut RdbWriter<W>,
    input: &[u8],
    header: Header,
    target: Target,
    keys: &[(u16, usize, bool)],
    expires: u64,
    summary: &mut CopySummary,
) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let skip = skip_opts();
    w.select_db(0)?;
    w.resize_db(keys.len() as u64, expires)?;
    let mut i = 0;
    while i < keys.len() {
        let slot = keys[i].0;
        let mut j = i;
        while j < keys.len() && keys[j].0 == slot {
            j += 1;
        }
        let group = &keys[i..j];
        let e = group.iter().filter(|k| k.2).count() as u64;
        w.slot_info(u64::from(slot), group.len() as u64, e)?;
        for &(_, at, _) in group {
            let k = crate::decode::scan::record_at(input, at, 0, skip)?;
            copy_record(w, &k, header, target, summary)?;
        }
        i = j;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::KeyMeta;
    use crate::ErrorKind;

    /// A file of `(db, key)` string records in this order, written without
    /// the writer's own duplicate check; with the offset of each record.
    fn file(version: u32, keys: &[(u64, &str)]) -> (Vec<u8>, Vec<u64>) {
        let mut w = RdbWriter::new(Vec::new(), Target::redis(version)).unwrap();
        let mut db = None;
        let mut at = Vec::new();
        for &(d, k) in keys {
            if db != Some(d) {
                w.select_db(d).unwrap();
                db = Some(d);
            }
            at.push(w.written());
            let v = OwnedValue::String(format!("value of {k}").into_bytes());
            w.key(k.as_bytes(), &v, KeyMeta::default()).unwrap();
        }
        (w.finish().unwrap(), at)
    }

    fn duplicate(e: &crate::Error) -> (u64, u64, u64, Vec<u8>) {
        match e.kind() {
            ErrorKind::DuplicateKey { db, first_offset } => {
                (*db, *first_offset, e.offset(), e.key().unwrap().to_vec())
            }
            _ => panic!("not a duplicate key: {e}"),
        }
    }

    #[test]
    fn a_key_kept_twice_is_refused_with_both_input_offsets() {
        let keys = [(0, "a"), (0, "b"), (0, "c"), (0, "b"), (0, "a")];
        let (input, at) = file(11, &keys);
        let e = copy_filtered(&input, Vec::new(), None, |_| true).unwrap_err();
        // The earliest second occurrence: "b" at record 3, first at record 1.
        assert_eq!(duplicate(&e), (0, at[1], at[3], b"b".to_vec()));
        // Leaving one copy of each out makes a good file.
        let mut n = 0;
        let out = {
            let mut out = Vec::new();
            copy_filtered(&input, &mut out, None, |_| {
                n += 1;
                n <= 3
            })
            .unwrap();
            out
        };
        assert_eq!(
            crate::stats::inspect(&out, Options::default(), 0)
                .unwrap()
                .keys(),
            3
        );
        // The same key in two databases is no duplicate.
        let (input, _) = file(11, &[(0, "a"), (0, "b"), (3, "a"), (3, "b")]);
        let s = copy_filtered(&input, Vec::new(), None, |_| true).unwrap();
        assert_eq!(s.kept, BTreeMap::from([(0, (2, 0)), (3, (2, 0))]));
        // ... unless it comes back in the first one.
        let (input, at) = file(11, &[(0, "a"), (3, "a"), (0, "a")]);
        let e = copy_filtered(&input, Vec::new(), None, |_| true).unwrap_err();
        assert_eq!(duplicate(&e), (0, at[0], at[2], b"a".to_vec()));
    }

    #[test]
    fn copy_by_slot_refuses_a_key_twice() {
        let (input, at) = file(12, &[(0, "x"), (0, "{x}y"), (0, "x")]);
        let e = copy_by_slot(&input, Vec::new(), None).unwrap_err();
        assert_eq!(duplicate(&e), (0, at[0], at[2], b"x".to_vec()));
    }

    #[test]
    fn equal_fingerprints_of_different_keys_are_no_duplicate() {
        let (input, at) = file(11, &[(0, "a"), (0, "b"), (1, "a")]);
        // Every key given the same fingerprint: only the bytes decide.
        let mut k = KeptKeys::default();
        for (&(db, _), &o) in [(0, ()), (0, ()), (1, ())].iter().zip(&at) {
            k.push(db, b"", o as usize);
        }
        for e in &mut k.keys {
            e.0 = 7;
        }
        assert!(k.check(&input).is_ok());
        // And a real duplicate among them is still found.
        let (input, at) = file(11, &[(0, "a"), (0, "b"), (0, "a")]);
        let mut k = KeptKeys::default();
        for &o in &at {
            k.push(0, b"", o as usize);
        }
        let e = k.check(&input).unwrap_err();
        assert_eq!(duplicate(&e), (0, at[0], at[2], b"a".to_vec()));
    }
}
