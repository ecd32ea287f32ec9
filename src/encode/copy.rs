//! Copying a subset of a file: [`copy_filtered`].

use std::collections::BTreeMap;
use std::io::Write;

use super::value::OwnedValue;
use super::writer::RdbWriter;
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
    for item in Decoder::new(input, Options::default())? {
        if let Item::Key(k) = item? {
            let kept = keep(&k);
            decisions.push(kept);
            if kept {
                let c = summary.kept.entry(k.db).or_default();
                c.0 += 1;
                c.1 += u64::from(k.expire_ms.is_some());
            } else {
                *summary.dropped.entry(k.db).or_default() += 1;
            }
        }
    }
    // Pass 2: write.
    let skip = Options {
        level: Level::Skip,
        verify_checksum: false,
        ..Options::default()
    };
    let mut w = RdbWriter::new(out, target)?;
    // Refuses a key twice in a database (Redis panics loading that) and
    // checks the RESIZEDB counts against what is written.
    w.track_keys();
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
                if target.can_copy(&k, header.lineage) {
                    w.key_verbatim(&k, k.meta())?;
                } else {
                    let key = k.key.to_bytes()?;
                    let v = OwnedValue::from_value(&k.value).map_err(|e| e.with_key(&key))?;
                    w.key_with_meta(&key, &v, k.meta(), k.key_meta)?;
                    summary.reencoded += 1;
                }
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
