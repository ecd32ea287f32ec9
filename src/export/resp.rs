//! RESP export (`rdbkit dump --format resp`): the dataset as a stream of
//! RESP commands that `redis-cli --pipe` replays into a running server.
//!
//! What is written, per record, in file order:
//!
//! | record | commands |
//! |--------|----------|
//! | database change | `SELECT db` (before the first key of every db, db 0 included) |
//! | function library | `FUNCTION LOAD code` (Redis 7.0+, Valkey) |
//! | string | `SET key value` |
//! | list | `RPUSH key e…` |
//! | set | `SADD key m…` |
//! | sorted set | `ZADD key score member…` (scores in shortest round-trip text, `inf`/`-inf`) |
//! | hash | `HSET key f v…` (`HMSET` before Redis 4.0), then `HPEXPIREAT key ms FIELDS n f…` per distinct field expiry (Redis 7.4+, Valkey 9+) |
//! | stream | `XADD key id f v…` per entry with its own ID; for an empty stream a temporary group creates it (`XGROUP CREATE … MKSTREAM` + `XGROUP DESTROY`); `XSETID key last-id [ENTRIESADDED n MAXDELETEDID id]`; per group `XGROUP CREATE key g last-id [ENTRIESREAD n]`, `XGROUP CREATECONSUMER` for consumers without pending entries (6.2+), and the pending entries list with `XCLAIM key g consumer 0 id… TIME ms RETRYCOUNT n FORCE JUSTID` |
//! | module value, array | `RESTORE key 0 payload` (DUMP payload of the value bytes as stored, with the receiving server's RDB version) |
//! | key expiry | `PEXPIREAT key ms` after the value (`EXPIREAT` in seconds before Redis 2.6) |
//!
//! Collections are split into commands of at most [`RespOptions::batch`]
//! elements (1000 by default; pairs for hashes and sorted sets) and about
//! 64 MB, so no command runs into the server's query-buffer limits.
//!
//! Not recreated (counted in [`RespStats`]): `MODULE_AUX` data (for example
//! RediSearch index definitions — the modules rebuild them from their own
//! configuration), LRU idle times and LFU counters, consumer seen / active
//! times (`XCLAIM` stamps the replay time), pending entries whose stream
//! entry was deleted (`XCLAIM` ignores them) or that no consumer owns
//! (Redis 8.8's NACK zone), consumers without pending entries before Redis
//! 6.2, and delivery times in the future (the server clamps them to now).
//! Information the receiving server has no command for (hash field TTLs
//! before Redis 7.4 / Valkey 9, stream metadata before Redis 7.0, function
//! libraries before Redis 7.0) is an error naming the key unless allowed.
//!
//! The output is meant for an empty database: commands add to what exists.

use std::collections::BTreeMap;
use std::io::Write;

use crate::decode::{Elem, Item, KeyRecord, Kind, StreamId, Value};
use crate::encode::{dump_payload_raw, format_shortest, AllowLoss};
use crate::format::opcode as op;
use crate::{Error, ErrorKind, Result};

/// The server release the commands are written for (defined in
/// [`crate::release`], with the table of releases it consults).
pub use crate::release::ServerRelease;

/// How to write the commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RespOptions {
    /// The receiving server.
    pub server: ServerRelease,
    /// Most elements (or field/value, score/member pairs) per command.
    pub batch: usize,
    /// Information the server has no command for that may be dropped.
    pub allow: AllowLoss,
    /// Drop function libraries for a server without functions.
    pub drop_functions: bool,
}

impl RespOptions {
    /// Defaults for a server: batches of 1000, no losses allowed.
    ///
    /// ```
    /// use rdbkit::export::resp::{RespOptions, ServerRelease};
    /// let o = RespOptions::new(ServerRelease::parse("valkey-9.1").unwrap());
    /// assert_eq!(o.batch, 1000);
    /// ```
    pub fn new(server: ServerRelease) -> Self {
        RespOptions {
            server,
            batch: 1000,
            allow: AllowLoss::default(),
            drop_functions: false,
        }
    }
}

/// What an export wrote and what it could not recreate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RespStats {
    /// Keys written.
    pub keys: u64,
    /// Commands written.
    pub commands: u64,
    /// Keys written with RESTORE (module values, arrays).
    pub restored: u64,
    /// Function libraries loaded.
    pub functions: u64,
    /// Function libraries dropped (server without functions).
    pub functions_dropped: u64,
    /// `MODULE_AUX` records not recreated.
    pub module_aux_skipped: u64,
    /// Hash field TTLs dropped (allowed loss).
    pub field_ttls_dropped: u64,
    /// Streams whose metadata was reduced (allowed loss).
    pub stream_metadata_dropped: u64,
    /// Pending entries not recreated (entry deleted, or no owner).
    pub pel_entries_skipped: u64,
    /// Consumers without pending entries not recreated (before Redis 6.2).
    pub consumers_skipped: u64,
}

/// Largest command, in bytes of arguments, before a batch is cut.
const MAX_COMMAND_BYTES: usize = 64 << 20;

fn loss(what: String) -> Error {
    Error::new(ErrorKind::Encode(what), 0)
}

/// One command being built.
#[derive(Default)]
struct Cmd {
    buf: Vec<u8>,
    argc: usize,
}

impl Cmd {
    fn arg(&mut self, b: &[u8]) {
        self.buf.push(b'$');
        push_num(&mut self.buf, b.len() as i64);
        self.buf.extend_from_slice(b"\r\n");
        self.buf.extend_from_slice(b);
        self.buf.extend_from_slice(b"\r\n");
        self.argc += 1;
    }
    fn int(&mut self, i: i64) {
        let mut tmp = Vec::with_capacity(20);
        push_num(&mut tmp, i);
        self.arg(&tmp);
    }
    fn elem(&mut self, e: Elem<'_>) {
        match e {
            Elem::Bytes(b) => self.arg(b),
            Elem::Int(i) => self.int(i),
        }
    }
    fn id(&mut self, id: StreamId) {
        self.arg(id.to_string().as_bytes());
    }
}

fn push_num(out: &mut Vec<u8>, i: i64) {
    out.extend_from_slice(i.to_string().as_bytes());
}

/// Writes RESP commands for decoded records.
///
/// ```
/// use rdbkit::decode::{Decoder, Item, Options};
/// use rdbkit::export::resp::{RespOptions, RespWriter, ServerRelease};
/// let file = b"REDIS0011\xfa\x09redis-ver\x057.2.0\xfe\x00\xfb\x01\x00\x00\x01a\xc0\x01\xff\x11\x53\xe8\x4d\xc2\xcf\xc3\x51";
/// let mut w = RespWriter::new(Vec::new(), RespOptions::new(ServerRelease::parse("redis-7.2").unwrap()));
/// for item in Decoder::new(file, Options::default()).unwrap() {
///     w.item(&item.unwrap()).unwrap();
/// }
/// let (out, stats) = w.finish().unwrap();
/// assert_eq!(out, b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n");
/// assert_eq!((stats.keys, stats.commands), (1, 2));
/// ```
pub struct RespWriter<W: Write> {
    out: W,
    opts: RespOptions,
    db: Option<u64>,
    stats: RespStats,
}

impl<W: Write> RespWriter<W> {
    /// A writer to `out`.
    pub fn new(out: W, opts: RespOptions) -> Self {
        RespWriter {
            out,
            opts,
            db: None,
            stats: RespStats::default(),
        }
    }

    /// Statistics so far.
    pub fn stats(&self) -> RespStats {
        self.stats
    }

    fn emit(&mut self, c: &Cmd) -> Result<()> {
        let mut head = Vec::with_capacity(16);
        head.push(b'*');
        push_num(&mut head, c.argc as i64);
        head.extend_from_slice(b"\r\n");
        self.out.write_all(&head)?;
        self.out.write_all(&c.buf)?;
        self.stats.commands += 1;
        Ok(())
    }

    /// Writes one command from its arguments.
    ///
    /// # Errors
    /// An [`ErrorKind::Io`] error of the output.
    pub fn command(&mut self, args: &[&[u8]]) -> Result<()> {
        let c = Self::cmd(args);
        self.emit(&c)
    }

    /// Handles any record: keys and functions are written, module aux
    /// data is counted as skipped, the rest is ignored.
    ///
    /// # Errors
    /// As [`RespWriter::key`] and [`RespWriter::function`].
    pub fn item(&mut self, item: &Item<'_>) -> Result<()> {
        match item {
            Item::Key(k) => self.key(k),
            Item::Function(code) => self.function(&code.to_bytes()?),
            Item::FunctionPreGa { name, .. } => Err(loss(format!(
                "pre-release (7.0-rc) function '{}' cannot be loaded by any current server",
                String::from_utf8_lossy(&name.to_bytes()?)
            ))),
            Item::ModuleAux(_) => {
                self.stats.module_aux_skipped += 1;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// `FUNCTION LOAD` of one library; for a server without functions an
    /// error unless [`RespOptions::drop_functions`].
    ///
    /// # Errors
    /// [`ErrorKind::LossNotAllowed`] (functions) when the server release
    /// has no functions, or an `Io` error of the output.
    ///
    /// ```
    /// use rdbkit::export::resp::{RespOptions, RespWriter, ServerRelease};
    /// use rdbkit::{ErrorKind, Loss};
    /// let old = RespOptions::new(ServerRelease::parse("redis-6.2").unwrap());
    /// let e = RespWriter::new(Vec::new(), old).function(b"#!lua name=x\n").unwrap_err();
    /// assert!(matches!(e.kind(), ErrorKind::LossNotAllowed { loss: Loss::Functions, .. }));
    /// let new = RespOptions::new(ServerRelease::parse("redis-7.0").unwrap());
    /// let mut w = RespWriter::new(Vec::new(), new);
    /// w.function(b"#!lua name=x\n").unwrap();
    /// assert!(w.finish().unwrap().0.starts_with(b"*3\r\n$8\r\nFUNCTION\r\n$4\r\nLOAD\r\n"));
    /// ```
    pub fn function(&mut self, code: &[u8]) -> Result<()> {
        if !self.opts.server.functions() {
            if self.opts.drop_functions {
                self.stats.functions_dropped += 1;
                return Ok(());
            }
            return Err(Error::loss(
                crate::Loss::Functions,
                "function libraries need Redis 7.0+ or Valkey",
            ));
        }
        self.command(&[b"FUNCTION", b"LOAD", code])?;
        self.stats.functions += 1;
        Ok(())
    }

    /// All commands for one key (errors name the key).
    ///
    /// # Errors
    /// A decoding error of the value, an
    /// [`ErrorKind::Encode`] error for what the
    /// release's commands cannot express, or an `Io` error of the output; every
    /// one names the key.
    pub fn key(&mut self, k: &KeyRecord<'_>) -> Result<()> {
        let key = k.key.to_bytes()?;
        if self.db != Some(k.db) {
            let db = k.db.to_string();
            self.command(&[b"SELECT", db.as_bytes()])?;
            self.db = Some(k.db);
        }
        self.value(&key, k).map_err(|e| e.with_key(&key))?;
        if let Some(ms) = k.expire_ms {
            let mut c = Cmd::default();
            if self.opts.server.pexpire() {
                c.arg(b"PEXPIREAT");
                c.arg(&key);
                c.int(ms);
            } else {
                c.arg(b"EXPIREAT");
                c.arg(&key);
                c.int((ms + 999).div_euclid(1000));
            }
            self.emit(&c)?;
        }
        self.stats.keys += 1;
        Ok(())
    }

    /// Starts a batch command `name key`.
    fn start(name: &[u8], key: &[u8]) -> Cmd {
        Self::cmd(&[name, key])
    }

    /// Starts a command with these arguments.
    fn cmd(args: &[&[u8]]) -> Cmd {
        let mut c = Cmd::default();
        for a in args {
            c.arg(a);
        }
        c
    }

    fn value(&mut self, key: &[u8], k: &KeyRecord<'_>) -> Result<()> {
        let v = &k.value;
        let batch = self.opts.batch.max(1);
        match v.kind() {
            Kind::String => {
                let s = v.string()?.to_bytes()?;
                let mut c = Self::start(b"SET", key);
                c.arg(&s);
                self.emit(&c)
            }
            Kind::List | Kind::Set => {
                let name: &[u8] = if v.kind() == Kind::List {
                    b"RPUSH"
                } else {
                    b"SADD"
                };
                let mut it = v.items()?;
                let mut c = Self::start(name, key);
                let mut n = 0;
                while let Some(e) = it.next_elem()? {
                    c.elem(e);
                    n += 1;
                    if n == batch || c.buf.len() > MAX_COMMAND_BYTES {
                        self.emit(&c)?;
                        c = Self::start(name, key);
                        n = 0;
                    }
                }
                if n > 0 {
                    self.emit(&c)?;
                }
                Ok(())
            }
            Kind::ZSet => {
                let mut it = v.items()?;
                let mut c = Self::start(b"ZADD", key);
                let mut n = 0;
                while let Some((m, s)) = it.next_scored()? {
                    c.arg(format_shortest(s).as_bytes());
                    c.elem(m);
                    n += 1;
                    if n == batch || c.buf.len() > MAX_COMMAND_BYTES {
                        self.emit(&c)?;
                        c = Self::start(b"ZADD", key);
                        n = 0;
                    }
                }
                if n > 0 {
                    self.emit(&c)?;
                }
                Ok(())
            }
            Kind::Hash => self.hash(key, v),
            Kind::Stream => self.stream(key, v),
            Kind::Module | Kind::Array => {
                if v.kind() == Kind::Array && !self.opts.server.arrays() {
                    return Err(loss("arrays need Redis 8.8 (RESTORE of type 28)".into()));
                }
                let version = self.opts.server.target().version as u16;
                let mut payload = dump_payload_raw(v.rdb_type(), v.raw(), version);
                if let Some(km) = k.key_meta {
                    if version >= 13 && !self.opts.server.valkey {
                        // DUMP payloads start with the KEY_META record when there is one.
                        let mut p = vec![op::KEY_META_OR_SLOT_IMPORT];
                        p.extend_from_slice(km);
                        p.push(v.rdb_type());
                        p.extend_from_slice(v.raw());
                        p.extend_from_slice(&version.to_le_bytes());
                        let crc = crate::format::crc::crc64(&p);
                        p.extend_from_slice(&crc.to_le_bytes());
                        payload = p;
                    }
                }
                let mut c = Self::start(b"RESTORE", key);
                c.arg(b"0");
                c.arg(&payload);
                self.emit(&c)?;
                self.stats.restored += 1;
                Ok(())
            }
        }
    }

    fn hash(&mut self, key: &[u8], v: &Value<'_>) -> Result<()> {
        let batch = self.opts.batch.max(1);
        let name: &[u8] = if self.opts.server.hset_multi() {
            b"HSET"
        } else {
            b"HMSET"
        };
        let mut it = v.items()?;
        let mut ttls: BTreeMap<i64, Vec<Vec<u8>>> = BTreeMap::new();
        let mut c = Self::start(name, key);
        let mut n = 0;
        while let Some(f) = it.next_field()? {
            c.elem(f.field);
            c.elem(f.value);
            if let Some(ms) = f.expire_ms {
                ttls.entry(ms)
                    .or_default()
                    .push(f.field.to_bytes().into_owned());
            }
            n += 1;
            if n == batch || c.buf.len() > MAX_COMMAND_BYTES {
                self.emit(&c)?;
                c = Self::start(name, key);
                n = 0;
            }
        }
        if n > 0 {
            self.emit(&c)?;
        }
        if ttls.is_empty() {
            return Ok(());
        }
        if !self.opts.server.field_ttls() {
            let count: usize = ttls.values().map(Vec::len).sum();
            if self.opts.allow.field_ttls {
                self.stats.field_ttls_dropped += count as u64;
                return Ok(());
            }
            return Err(Error::loss(
                crate::Loss::FieldTtls,
                format!("{count} hash field TTLs need Redis 7.4+ or Valkey 9+ (HPEXPIREAT)"),
            ));
        }
        for (ms, fields) in ttls {
            for chunk in fields.chunks(batch) {
                let mut c = Self::start(b"HPEXPIREAT", key);
                c.int(ms);
                c.arg(b"FIELDS");
                c.int(chunk.len() as i64);
                for f in chunk {
                    c.arg(f);
                }
                self.emit(&c)?;
            }
        }
        Ok(())
    }

    fn stream(&mut self, key: &[u8], v: &Value<'_>) -> Result<()> {
        let srv = self.opts.server;
        if !srv.streams() {
            return Err(loss("streams need Redis 5.0+".into()));
        }
        let s = v.stream()?;
        // Entries, with the IDs they have.
        let mut live: Vec<StreamId> = Vec::new();
        let mut entries = s.entries();
        while let Some(e) = entries.next_entry()? {
            let mut c = Self::start(b"XADD", key);
            c.id(e.id);
            for (f, x) in e.fields() {
                c.elem(f);
                c.elem(x);
            }
            self.emit(&c)?;
            live.push(e.id);
        }
        let groups: Vec<_> = s.groups().collect::<Result<Vec<_>>>()?;
        if live.is_empty() {
            // XSETID and XGROUP need the key to exist.
            let tmp: &[u8] = b"__rdbkit_resp_tmp__";
            self.command(&[b"XGROUP", b"CREATE", key, tmp, b"0", b"MKSTREAM"])?;
            self.command(&[b"XGROUP", b"DESTROY", key, tmp])?;
        }
        // What the commands below cannot set on this server.
        let length = live.len() as u64;
        let first = live.first().copied().unwrap_or_default();
        let mut lost = Vec::new();
        if !srv.stream_meta() {
            if s.entries_added.is_some_and(|a| a != length) {
                lost.push("entries added");
            }
            if s.max_deleted_id.is_some_and(|m| m != StreamId::default()) {
                lost.push("max deleted id");
            }
            if s.first_id.is_some_and(|f| f != first) {
                lost.push("first id");
            }
            if groups.iter().any(|g| g.entries_read.is_some()) {
                lost.push("group entries read");
            }
        }
        if s.idmp
            .is_some_and(|i| i.producers > 0 || i.iids_added > 0 || i.iids_duplicates > 0)
        {
            lost.push("IDMP state");
        }
        if !lost.is_empty() {
            if !self.opts.allow.stream_metadata {
                return Err(Error::loss(
                    crate::Loss::StreamMetadata,
                    format!(
                        "stream {} cannot be set by commands on this server",
                        lost.join(", ")
                    ),
                ));
            }
            self.stats.stream_metadata_dropped += 1;
        }
        let mut c = Self::start(b"XSETID", key);
        c.id(s.last_id);
        if srv.stream_meta() {
            if let Some(a) = s.entries_added {
                c.arg(b"ENTRIESADDED");
                c.int(a as i64);
            }
            if let Some(m) = s.max_deleted_id {
                c.arg(b"MAXDELETEDID");
                c.id(m);
            }
        }
        self.emit(&c)?;
        let batch = self.opts.batch.max(1);
        for g in &groups {
            let gname = g.name.to_bytes()?;
            let mut c = Self::cmd(&[b"XGROUP", b"CREATE", key, &gname]);
            c.id(g.last_id);
            if srv.stream_meta() {
                if let Some(r) = g.entries_read {
                    c.arg(b"ENTRIESREAD");
                    c.int(r as i64);
                }
            }
            self.emit(&c)?;
            // Owners of pending entries.
            let mut owner: BTreeMap<StreamId, usize> = BTreeMap::new();
            let mut names = Vec::new();
            for (i, cons) in g.consumers().enumerate() {
                let cons = cons?;
                let mut any = false;
                for id in cons.pel() {
                    owner.insert(id, i);
                    any = true;
                }
                let name = cons.name.to_bytes()?.into_owned();
                if !any {
                    if srv.createconsumer() {
                        self.command(&[b"XGROUP", b"CREATECONSUMER", key, &gname, &name])?;
                    } else {
                        self.stats.consumers_skipped += 1;
                    }
                }
                names.push(name);
            }
            // XCLAIM … FORCE JUSTID, consecutive entries with the same
            // owner, delivery time and count in one command.
            let mut run: Option<(usize, i64, u64, Vec<StreamId>)> = None;
            let live_set: std::collections::HashSet<StreamId> = live.iter().copied().collect();
            let mut pending = Vec::new();
            for p in g.pel() {
                pending.push(p?);
            }
            for p in pending {
                let Some(&o) = owner.get(&p.id) else {
                    self.stats.pel_entries_skipped += 1;
                    continue;
                };
                if !live_set.contains(&p.id) {
                    self.stats.pel_entries_skipped += 1;
                    continue;
                }
                let same = run.as_ref().is_some_and(|r| {
                    r.0 == o
                        && r.1 == p.delivery_time_ms
                        && r.2 == p.delivery_count
                        && r.3.len() < batch
                });
                if !same {
                    if let Some(r) = run.take() {
                        self.xclaim(key, &gname, &names[r.0], r.1, r.2, &r.3)?;
                    }
                    run = Some((o, p.delivery_time_ms, p.delivery_count, Vec::new()));
                }
                if let Some(r) = run.as_mut() {
                    r.3.push(p.id);
                }
            }
            if let Some(r) = run.take() {
                self.xclaim(key, &gname, &names[r.0], r.1, r.2, &r.3)?;
            }
            if let Some(n) = g.nacked() {
                self.stats.pel_entries_skipped += n.count() as u64;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn xclaim(
        &mut self,
        key: &[u8],
        group: &[u8],
        consumer: &[u8],
        time: i64,
        count: u64,
        ids: &[StreamId],
    ) -> Result<()> {
        let mut c = Self::start(b"XCLAIM", key);
        c.arg(group);
        c.arg(consumer);
        c.arg(b"0");
        for id in ids {
            c.id(*id);
        }
        c.arg(b"TIME");
        c.int(time);
        c.arg(b"RETRYCOUNT");
        c.int(count as i64);
        c.arg(b"FORCE");
        c.arg(b"JUSTID");
        self.emit(&c)
    }

    /// Flushes and returns the output and the statistics.
    ///
    /// # Errors
    /// An [`ErrorKind::Io`] error when flushing the
    /// output fails.
    pub fn finish(mut self) -> Result<(W, RespStats)> {
        self.out.flush()?;
        Ok((self.out, self.stats))
    }
}

/// Exports a whole file (every key, function and skipped module aux record).
///
/// # Errors
/// The errors of [`Decoder`](crate::decode::Decoder) over `data` and of
/// [`RespWriter::item`].
///
/// ```
/// use rdbkit::export::resp::{write_file, RespOptions, ServerRelease};
/// let file = b"REDIS0011\xfe\x00\x00\x01a\x01b\xff\0\0\0\0\0\0\0\0";
/// let mut out = Vec::new();
/// let stats = write_file(&mut out, file, RespOptions::new(ServerRelease::parse("redis-7.2").unwrap())).unwrap();
/// assert_eq!(stats.keys, 1);
/// assert!(out.ends_with(b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\nb\r\n"));
/// ```
pub fn write_file<W: Write>(out: W, data: &[u8], opts: RespOptions) -> Result<RespStats> {
    let mut w = RespWriter::new(out, opts);
    for item in crate::decode::Decoder::new(data, crate::decode::Options::default())? {
        w.item(&item?)?;
    }
    Ok(w.finish()?.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{HashEntry, KeyMeta, OwnedValue, RdbWriter, Target};

    fn count(hay: &[u8], needle: &[u8]) -> usize {
        hay.windows(needle.len()).filter(|w| *w == needle).count()
    }

    #[test]
    fn batches() {
        let mut w = RdbWriter::new(Vec::new(), Target::redis(12)).unwrap();
        w.select_db(2).unwrap();
        let list: Vec<Vec<u8>> = (0..2500).map(|i| format!("e{i}").into_bytes()).collect();
        w.key(b"l", &OwnedValue::List(list), KeyMeta::default())
            .unwrap();
        let fields: Vec<HashEntry> = (0..1001)
            .map(|i| HashEntry {
                field: format!("f{i}").into_bytes(),
                value: b"v".to_vec(),
                expire_ms: (i % 2 == 0).then_some(4_102_444_800_000 + i % 4),
            })
            .collect();
        let meta = KeyMeta {
            expire_ms: Some(4_102_444_900_000),
            ..KeyMeta::default()
        };
        w.key(b"h", &OwnedValue::Hash(fields), meta).unwrap();
        let file = w.finish().unwrap();
        let mut out = Vec::new();
        let opts = RespOptions::new(ServerRelease::parse("redis-7.4").unwrap());
        let st = write_file(&mut out, &file, opts).unwrap();
        assert_eq!(count(&out, b"$5\r\nRPUSH\r\n"), 3);
        assert_eq!(count(&out, b"$4\r\nHSET\r\n"), 2);
        // 501 fields in two expiry groups: one command each.
        assert_eq!(count(&out, b"$10\r\nHPEXPIREAT\r\n"), 2);
        assert_eq!(count(&out, b"$9\r\nPEXPIREAT\r\n"), 1);
        assert!(out.starts_with(b"*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n"));
        assert_eq!(st.keys, 2);
        assert_eq!(st.commands, 1 + 3 + 2 + 2 + 1);
        // Batches of 100; field TTLs refused for a server without them.
        let mut opts = RespOptions::new(ServerRelease::parse("redis-7.2").unwrap());
        opts.batch = 100;
        let e = write_file(Vec::new(), &file, opts).unwrap_err();
        assert!(e.to_string().contains("(key 'h')"), "{e}");
        opts.allow.field_ttls = true;
        let mut out = Vec::new();
        let st = write_file(&mut out, &file, opts).unwrap();
        assert_eq!(count(&out, b"$5\r\nRPUSH\r\n"), 25);
        assert_eq!(count(&out, b"$4\r\nHSET\r\n"), 11);
        assert_eq!(st.field_ttls_dropped, 501);
    }

    #[test]
    fn releases() {
        let r = |s: &str| ServerRelease::parse(s).unwrap();
        assert!(r("redis-6.2").createconsumer());
        assert!(!r("redis-6.0").createconsumer());
        assert!(r("valkey-8.1").stream_meta());
        assert!(!r("valkey-8.1").field_ttls());
        assert!(r("valkey-9.1").field_ttls());
        assert!(r("redis-7.4").field_ttls());
        assert!(!r("redis-7.2").field_ttls());
        assert!(!r("redis-3.2").hset_multi());
        assert_eq!(r("redis-7.4.1").target().version, 12);
        assert_eq!(r("redis-8.2").target().version, 12);
        assert_eq!(r("redis-6.0.9").target().version, 9);
        assert_eq!(r("valkey-9.1.2").target().version, 80);
        assert_eq!(r("redis-stack-7.4").target().version, 12);
        assert_eq!(ServerRelease::for_rdb_version(9).major, 5);
    }
}
