//! A streaming RDB writer over any `std::io::Write`, computing the CRC-64 as
//! it writes.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use super::config::{AllowLoss, EncodeConfig, Losses};
use super::primitives::{write_len, write_str, StrOpts};
use super::value::OwnedValue;
use crate::decode::KeyRecord;
use crate::format::{crc::Crc64, opcode as op, Lineage};
use crate::release::Target;
use crate::{Error, ErrorKind, Result};

pub use crate::format::KeyMeta;

/// Writes an RDB file record by record.
///
/// ```
/// use rdbkit::encode::{RdbWriter, Target, KeyMeta, OwnedValue};
/// let mut w = RdbWriter::new(Vec::new(), Target::redis(11)).unwrap();
/// w.aux(b"redis-ver", b"7.2.0").unwrap();
/// w.select_db(0).unwrap();
/// w.resize_db(1, 0).unwrap();
/// w.key(b"a", &OwnedValue::String(b"1".to_vec()), KeyMeta::default()).unwrap();
/// let file = w.finish().unwrap();
/// // The test vector from the format reference.
/// assert_eq!(&file[file.len() - 8..], &[0x11, 0x53, 0xe8, 0x4d, 0xc2, 0xcf, 0xc3, 0x51]);
/// ```
#[derive(Debug)]
pub struct RdbWriter<W: Write> {
    out: W,
    crc: Crc64,
    target: Target,
    written: u64,
    buf: Vec<u8>,
    /// Losses allowed by the caller.
    pub allow: AllowLoss,
    /// Losses that happened.
    pub losses: Losses,
    /// Server settings deciding encodings of re-encoded values (defaults of
    /// a stock server).
    pub config: EncodeConfig,
    tracker: Option<Box<Tracker>>,
}

/// What a tracking writer ([`RdbWriter::track_keys`]) knows.
#[derive(Debug, Default)]
struct Tracker {
    db: u64,
    /// Keys and expires written per database.
    counts: BTreeMap<u64, (u64, u64)>,
    /// The last `RESIZEDB` hint written per database.
    hints: BTreeMap<u64, (u64, u64)>,
    /// Every (db, key) written, with the offset of its record (`None`:
    /// the caller checked for duplicates itself, see
    /// [`RdbWriter::count_keys`]).
    seen: Option<HashMap<(u64, Vec<u8>), u64>>,
}

/// The error for `SLOT_INFO` records asked of a target without them.
#[cold]
pub(crate) fn no_slot_info(target: Target, at: u64) -> Error {
    Error::new(
        ErrorKind::Encode(format!(
            "slot info records need Redis RDB 12+; target is {target}"
        )),
        at,
    )
}

impl<W: Write> RdbWriter<W> {
    /// Starts a file: writes the header.
    ///
    /// # Errors
    /// A target version no format has, or an error of `out`.
    pub fn new(out: W, target: Target) -> Result<Self> {
        target.header().check()?;
        let mut w = RdbWriter {
            out,
            crc: Crc64::new(),
            target,
            written: 0,
            buf: Vec::with_capacity(1 << 16),
            allow: AllowLoss::default(),
            losses: Losses::default(),
            config: EncodeConfig::default(),
            tracker: None,
        };
        w.raw(&target.header().bytes())?;
        Ok(w)
    }

    /// Tracks what is written from now on: keys and expires per database
    /// ([`RdbWriter::key_counts`]); a key written twice in one database is
    /// refused ([`ErrorKind::DuplicateKey`]: Redis panics loading such a
    /// file), and [`RdbWriter::finish`] refuses a file whose `RESIZEDB`
    /// hints differ from what was written. Costs memory for every key name.
    ///
    /// ```
    /// use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
    /// use rdbkit::ErrorKind;
    /// let v = OwnedValue::String(b"v".to_vec());
    /// let mut w = RdbWriter::new(Vec::new(), Target::redis(11)).unwrap();
    /// w.track_keys();
    /// w.select_db(0).unwrap();
    /// w.resize_db(1, 0).unwrap();
    /// w.key(b"a", &v, KeyMeta::default()).unwrap();
    /// let e = w.key(b"a", &v, KeyMeta::default()).unwrap_err();
    /// assert!(matches!(e.kind(), ErrorKind::DuplicateKey { db: 0, .. }));
    /// assert_eq!(w.key_counts().unwrap()[&0], (1, 0));
    /// w.resize_db(5, 0).unwrap(); // a wrong hint
    /// assert!(w.finish().is_err());
    /// ```
    pub fn track_keys(&mut self) {
        self.tracker
            .get_or_insert_with(Default::default)
            .seen
            .get_or_insert_with(HashMap::new);
    }

    /// [`RdbWriter::track_keys`] without remembering the keys, for a
    /// caller that has ruled out duplicates itself: counts and `RESIZEDB`
    /// hints only, in constant memory.
    pub(crate) fn count_keys(&mut self) {
        self.tracker.get_or_insert_with(Default::default);
    }

    /// Keys and keys with an expiry written per database, when tracking.
    pub fn key_counts(&self) -> Option<&BTreeMap<u64, (u64, u64)>> {
        self.tracker.as_ref().map(|t| &t.counts)
    }

    /// Notes a key about to be written (tracking writers).
    fn note(&mut self, key: &[u8], expires: bool) -> Result<()> {
        let at = self.written;
        let Some(t) = &mut self.tracker else {
            return Ok(());
        };
        if let Some(seen) = &mut t.seen {
            if let Some(&first) = seen.get(&(t.db, key.to_vec())) {
                return Err(Error::new(
                    ErrorKind::DuplicateKey {
                        db: t.db,
                        first_offset: first,
                    },
                    at,
                )
                .with_key(key));
            }
            seen.insert((t.db, key.to_vec()), at);
        }
        let c = t.counts.entry(t.db).or_default();
        c.0 += 1;
        c.1 += u64::from(expires);
        Ok(())
    }

    /// The target.
    pub fn target(&self) -> Target {
        self.target
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Writes bytes as they are (updating the CRC).
    ///
    /// # Errors
    /// [`ErrorKind::Io`] when the output fails.
    pub fn raw(&mut self, b: &[u8]) -> Result<()> {
        self.crc.update(b);
        self.written += b.len() as u64;
        self.out.write_all(b).map_err(Error::from)
    }

    /// Writes a large byte range as it is, like [`RdbWriter::raw`], but
    /// computes its CRC on another thread while writing it, in pieces of at
    /// most `piece` bytes; `written` is called after each piece with the
    /// bytes of `b` written so far. Worth it from about a megabyte.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] when the output fails.
    ///
    /// ```
    /// use rdbkit::encode::{RdbWriter, Target};
    /// let (mut a, mut b) = (
    ///     RdbWriter::new(Vec::new(), Target::redis(11)).unwrap(),
    ///     RdbWriter::new(Vec::new(), Target::redis(11)).unwrap(),
    /// );
    /// let bytes = vec![7u8; 3 << 20];
    /// let mut pieces = 0;
    /// a.raw_parallel(&bytes, 1 << 20, |_| pieces += 1).unwrap();
    /// b.raw(&bytes).unwrap();
    /// assert_eq!(pieces, 3);
    /// assert_eq!(a.finish().unwrap(), b.finish().unwrap());
    /// ```
    pub fn raw_parallel(
        &mut self,
        b: &[u8],
        piece: usize,
        mut written: impl FnMut(usize),
    ) -> Result<()> {
        let piece = piece.max(1);
        let (crc, out) = std::thread::scope(|s| {
            let h = s.spawn(|| {
                let mut c = Crc64::new();
                c.update(b);
                c
            });
            let mut done = 0;
            let mut out = Ok(());
            for p in b.chunks(piece) {
                if let Err(e) = self.out.write_all(p) {
                    out = Err(Error::from(e));
                    break;
                }
                done += p.len();
                written(done);
            }
            let crc = h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            (crc, out)
        });
        out?;
        self.crc.combine(&crc);
        self.written += b.len() as u64;
        Ok(())
    }

    fn str_opts(&self) -> StrOpts {
        StrOpts {
            compress: self.config.compression,
            int_forms: true,
        }
    }

    fn flush_buf(&mut self) -> Result<()> {
        let b = std::mem::take(&mut self.buf);
        let r = self.raw(&b);
        self.buf = b;
        self.buf.clear();
        r
    }

    /// Writes an `AUX` field (targets with RDB 7+; ignored below).
    ///
    /// # Errors
    /// [`ErrorKind::Io`] when the output fails.
    pub fn aux(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        if self.target.version < 7 {
            return Ok(());
        }
        let so = self.str_opts();
        self.buf.push(op::AUX);
        write_str(&mut self.buf, key, so);
        write_str(&mut self.buf, value, so);
        self.flush_buf()
    }

    /// Writes the standard aux fields of a fresh file: producer version
    /// (`redis-ver`, or `valkey-ver` for Valkey targets), bits, ctime, used-mem.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] when the output fails.
    pub fn standard_aux(
        &mut self,
        producer_version: &str,
        ctime: u64,
        used_mem: u64,
    ) -> Result<()> {
        let name: &[u8] = if self.target.valkey || self.target.lineage == Lineage::Valkey {
            b"valkey-ver"
        } else {
            b"redis-ver"
        };
        self.aux(name, producer_version.as_bytes())?;
        self.aux(b"redis-bits", b"64")?;
        self.aux(b"ctime", ctime.to_string().as_bytes())?;
        self.aux(b"used-mem", used_mem.to_string().as_bytes())
    }

    /// Writes `SELECTDB`.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] when the output fails.
    pub fn select_db(&mut self, db: u64) -> Result<()> {
        if let Some(t) = &mut self.tracker {
            t.db = db;
        }
        self.buf.push(op::SELECTDB);
        write_len(&mut self.buf, db);
        self.flush_buf()
    }

    /// Writes `RESIZEDB` (RDB 7+; ignored below).
    ///
    /// # Errors
    /// [`ErrorKind::Io`] when the output fails.
    pub fn resize_db(&mut self, keys: u64, expires: u64) -> Result<()> {
        if let Some(t) = &mut self.tracker {
            t.hints.insert(t.db, (keys, expires));
        }
        if self.target.version < 7 {
            return Ok(());
        }
        self.buf.push(op::RESIZEDB);
        write_len(&mut self.buf, keys);
        write_len(&mut self.buf, expires);
        self.flush_buf()
    }

    /// Writes a `SLOT_INFO` record: the cluster slot the keys that follow
    /// belong to, with its key and expiry counts (what Redis 7.4+ writes in
    /// cluster mode before each slot's keys, and presizes the slot's
    /// tables from on load).
    ///
    /// # Errors
    /// [`ErrorKind::Encode`] for a target without it (Redis RDB 12 and
    /// later read it; older versions and Valkey files do not);
    /// [`ErrorKind::Io`] when the output fails.
    ///
    /// ```
    /// use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
    /// let mut w = RdbWriter::new(Vec::new(), Target::redis(12)).unwrap();
    /// w.select_db(0).unwrap();
    /// w.slot_info(12182, 1, 0).unwrap();
    /// w.key(b"foo", &OwnedValue::String(b"1".to_vec()), KeyMeta::default()).unwrap();
    /// let file = w.finish().unwrap();
    /// assert!(RdbWriter::new(Vec::new(), Target::redis(11)).unwrap().slot_info(0, 0, 0).is_err());
    /// # let _ = file;
    /// ```
    pub fn slot_info(&mut self, slot: u64, keys: u64, expires: u64) -> Result<()> {
        if !self.target.has_slot_info() {
            return Err(no_slot_info(self.target, self.written()));
        }
        self.buf.push(op::SLOT_INFO);
        write_len(&mut self.buf, slot);
        write_len(&mut self.buf, keys);
        write_len(&mut self.buf, expires);
        self.flush_buf()
    }

    /// Writes a `FUNCTION2` record (one library's source).
    ///
    /// # Errors
    /// [`ErrorKind::Encode`] when the target has no functions (RDB < 10);
    /// [`ErrorKind::Io`] when the output fails.
    pub fn function(&mut self, code: &[u8]) -> Result<()> {
        if !self.target.has_functions() {
            return Err(Error::new(
                ErrorKind::Encode(format!(
                    "function libraries need RDB 10+ (Redis 7.0); target is {}",
                    self.target
                )),
                0,
            ));
        }
        let so = self.str_opts();
        self.buf.push(op::FUNCTION2);
        write_str(&mut self.buf, code, so);
        self.flush_buf()
    }

    /// Writes a `MODULE_AUX` record from its parts (payload = sub-opcode stream with EOF).
    ///
    /// # Errors
    /// [`ErrorKind::Io`] when the output fails.
    pub fn module_aux(&mut self, id: u64, when: u64, payload: &[u8]) -> Result<()> {
        self.buf.push(op::MODULE_AUX);
        write_len(&mut self.buf, id);
        write_len(&mut self.buf, 2);
        write_len(&mut self.buf, when);
        self.buf.extend_from_slice(payload);
        self.flush_buf()
    }

    fn meta(&mut self, m: KeyMeta) {
        if let Some(e) = m.expire_ms {
            if self.target.version >= 3 {
                self.buf.push(op::EXPIRETIME_MS);
                self.buf.extend_from_slice(&e.to_le_bytes());
            } else {
                // Seconds form, rounded up so the key never expires early.
                self.buf.push(op::EXPIRETIME);
                let s = (e + 999).div_euclid(1000);
                self.buf.extend_from_slice(
                    &(s.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32).to_le_bytes(),
                );
            }
        }
        if self.target.version >= 9 {
            if let Some(i) = m.idle {
                self.buf.push(op::IDLE);
                write_len(&mut self.buf, i);
            }
            if let Some(f) = m.freq {
                self.buf.extend_from_slice(&[op::FREQ, f]);
            }
        }
    }

    /// Writes a key from an owned value, choosing encodings for the target.
    ///
    /// # Errors
    /// The errors of [`OwnedValue::encode`]; [`ErrorKind::DuplicateKey`] for a
    /// key written twice in one database by a tracking writer;
    /// [`ErrorKind::Io`] when the output fails. Each names the key.
    pub fn key(&mut self, key: &[u8], value: &OwnedValue, meta: KeyMeta) -> Result<()> {
        self.key_with_meta(key, value, meta, None)
    }

    /// [`RdbWriter::key`] with the key's `KEY_META` record (Redis 8.6+
    /// module key metadata, as decoded in [`KeyRecord::key_meta`]). A target
    /// that cannot hold it (anything but Redis RDB 13+) is an error naming
    /// the key.
    ///
    /// # Errors
    /// As [`RdbWriter::key`], and [`ErrorKind::Encode`] for a `KEY_META` record
    /// the target cannot hold.
    ///
    /// ```
    /// use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
    /// let v = OwnedValue::String(b"v".to_vec());
    /// let mut w = RdbWriter::new(Vec::new(), Target::redis(12)).unwrap();
    /// let e = w.key_with_meta(b"k", &v, KeyMeta::default(), Some(&[0x00])).unwrap_err();
    /// assert!(e.to_string().contains("KEY_META") && e.to_string().contains("(key 'k')"));
    /// w.key_with_meta(b"k", &v, KeyMeta::default(), None).unwrap();
    /// ```
    pub fn key_with_meta(
        &mut self,
        key: &[u8],
        value: &OwnedValue,
        meta: KeyMeta,
        key_meta: Option<&[u8]>,
    ) -> Result<()> {
        let (ty, bytes) = value
            .encode_with(self.target, &self.config, self.allow, &mut self.losses)
            .map_err(|e| e.with_key(key))?;
        self.note(key, meta.expire_ms.is_some())?;
        self.meta(meta);
        self.key_meta(key_meta).map_err(|e| e.with_key(key))?;
        let so = self.str_opts();
        self.buf.push(ty);
        write_str(&mut self.buf, key, so);
        self.flush_buf()?;
        self.raw(&bytes)
    }

    fn key_meta(&mut self, km: Option<&[u8]>) -> Result<()> {
        if let Some(km) = km {
            if self.target.lineage != Lineage::Redis || self.target.version < 13 {
                self.buf.clear();
                return Err(Error::new(
                    ErrorKind::Encode(format!(
                        "module key metadata (KEY_META) needs Redis RDB 13+ (Redis 8.6); target is {}",
                        self.target
                    )),
                    0,
                ));
            }
            self.buf.push(op::KEY_META_OR_SLOT_IMPORT);
            self.buf.extend_from_slice(km);
        }
        Ok(())
    }

    /// Copies a decoded key record verbatim: metadata is re-written for the
    /// target, the type byte, key and value bytes are copied as they are.
    /// The caller must check that the target can read the record's type
    /// ([`Target::can_read`]). A `KEY_META` record the target cannot hold
    /// is an error naming the key. The record brings its own bytes
    /// ([`KeyRecord::body`]), so no input slice can be mixed up.
    ///
    /// # Errors
    /// [`ErrorKind::Encode`] for metadata the target cannot hold (a `KEY_META`
    /// record, naming the key); [`ErrorKind::DuplicateKey`] for a tracking
    /// writer; [`ErrorKind::Io`] when the output fails.
    ///
    /// ```
    /// use rdbkit::decode::{Decoder, Item, Options};
    /// use rdbkit::encode::{RdbWriter, Target};
    /// let file = b"REDIS0011\xfe\x00\x00\x01a\xc0\x01\xff\0\0\0\0\0\0\0\0";
    /// let mut w = RdbWriter::new(Vec::new(), Target::redis(11)).unwrap();
    /// w.select_db(0).unwrap();
    /// for item in Decoder::new(file, Options::default()).unwrap() {
    ///     if let Item::Key(k) = item.unwrap() {
    ///         w.key_verbatim(&k, k.meta()).unwrap();
    ///     }
    /// }
    /// let out = w.finish().unwrap();
    /// assert_eq!(&out[9..16], &file[9..16]);
    /// ```
    pub fn key_verbatim(&mut self, rec: &KeyRecord<'_>, meta: KeyMeta) -> Result<()> {
        if self.tracker.is_some() {
            let key = rec.key.to_bytes()?;
            self.note(&key, meta.expire_ms.is_some())?;
        }
        self.meta(meta);
        if let Err(e) = self.key_meta(rec.key_meta) {
            return Err(match rec.key.to_bytes() {
                Ok(k) => e.with_key(&k),
                Err(_) => e,
            });
        }
        self.flush_buf()?;
        self.raw(rec.body())
    }

    /// Writes `EOF` and the CRC (RDB 5+), flushes, and returns the writer.
    /// A tracking writer ([`RdbWriter::track_keys`]) first checks that every
    /// `RESIZEDB` hint matches the keys written to its database.
    ///
    /// # Errors
    /// [`ErrorKind::Encode`] when a tracking writer's `RESIZEDB` hint differs
    /// from what was written; [`ErrorKind::Io`] when the output fails.
    pub fn finish(mut self) -> Result<W> {
        if let Some(t) = &self.tracker {
            for (db, &hint) in &t.hints {
                let wrote = t.counts.get(db).copied().unwrap_or_default();
                if hint != wrote {
                    return Err(Error::new(
                        ErrorKind::Encode(format!(
                            "the RESIZEDB hint of db {db} says {} keys ({} with expiry), {} ({}) were written",
                            hint.0, hint.1, wrote.0, wrote.1
                        )),
                        self.written,
                    ));
                }
            }
        }
        self.raw(&[op::EOF])?;
        if self.target.version >= 5 {
            let c = self.crc.value().to_le_bytes();
            self.out.write_all(&c)?;
            self.written += 8;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}
