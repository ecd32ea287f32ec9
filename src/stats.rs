//! File statistics: what `rdbkit info` and `rdbkit verify` report, and
//! what merge reports per input. [`Stats`] is the visitor that gathers them
//! (a [`Sink`] of the scan engine); [`inspect`] runs it over a whole file,
//! checking every record and the CRC on the way.

use std::collections::BTreeMap;

use crate::decode::scan::{scan, ScanOptions, Sink, Walked};
use crate::decode::{Checksum, Decoder, Item, Kind, Options, Warnings};
use crate::format::Encoding;
use crate::format::{rdb_type, Header, Lineage};
use crate::Result;
#[cfg(feature = "json")]
use serde_json::{json, Map, Value};

/// Key counts of one database.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DbStats {
    /// Keys.
    pub keys: u64,
    /// Keys with an expiry.
    pub expires: u64,
    /// Keys whose expiry is before the reference time.
    pub expired: u64,
    /// Keys that have hash fields with TTLs.
    pub subexpires: u64,
    /// The `RESIZEDB` hint (keys, expires), if the file had one.
    pub resize_hint: Option<(u64, u64)>,
}

/// Count and encoded size of values of one type and encoding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TypeStats {
    /// Number of keys.
    pub keys: u64,
    /// Bytes of their records (key + value).
    pub bytes: u64,
}

/// A module type seen in values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleStats {
    /// Encoding versions seen.
    pub encvers: Vec<u32>,
    /// Keys holding this module's values.
    pub keys: u64,
}

/// A `MODULE_AUX` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleAuxInfo {
    /// Module type name.
    pub module: String,
    /// Encoding version.
    pub encver: u32,
    /// 1 = before keys, 2 = after.
    pub when: u64,
    /// Payload size in bytes.
    pub bytes: usize,
}

/// What a file holds: its header, aux fields, key counts per database and
/// type, functions, modules, checksum and warnings.
#[derive(Debug, Clone, PartialEq)]
pub struct FileStats {
    /// File size.
    pub size: u64,
    /// Header.
    pub header: Header,
    /// AUX fields in file order (lossy UTF-8).
    pub aux: Vec<(String, String)>,
    /// Per-database counts.
    pub dbs: BTreeMap<u64, DbStats>,
    /// Per (type, encoding) counts.
    pub types: BTreeMap<(Kind, Encoding), TypeStats>,
    /// Function library names, in file order.
    pub functions: Vec<String>,
    /// Module types used by values, by name.
    pub modules: BTreeMap<String, ModuleStats>,
    /// Module aux records.
    pub module_aux: Vec<ModuleAuxInfo>,
    /// `SLOT_INFO` records (and Valkey `slot-info` aux fields).
    pub slot_infos: u64,
    /// Valkey `SLOT_IMPORT` records.
    pub slot_imports: u64,
    /// Redis Enterprise private opcodes seen, by opcode.
    pub enterprise_opcodes: BTreeMap<u8, u64>,
    /// Checksum status.
    pub checksum: Checksum,
    /// Bytes after the trailer.
    pub trailing: usize,
    /// Facts Redis accepts that look wrong (the first 100, and the total).
    pub warnings: Warnings,
}

impl FileStats {
    /// A report with no records counted yet.
    pub fn empty(size: u64, header: Header) -> FileStats {
        FileStats {
            size,
            header,
            aux: Vec::new(),
            dbs: BTreeMap::new(),
            types: BTreeMap::new(),
            functions: Vec::new(),
            modules: BTreeMap::new(),
            module_aux: Vec::new(),
            slot_infos: 0,
            slot_imports: 0,
            enterprise_opcodes: BTreeMap::new(),
            checksum: Checksum::Absent,
            trailing: 0,
            warnings: Warnings::default(),
        }
    }

    /// The statistics as JSON (`rdbkit info --json`, and per input in merge
    /// reports): the one place their JSON form is defined.
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn to_json(&self) -> Value {
        let r = self;
        let dbs: Map<String, Value> = r
            .dbs
            .iter()
            .map(|(db, d)| {
                (
                    db.to_string(),
                    json!({"keys": d.keys, "expires": d.expires, "already_expired": d.expired,
                       "keys_with_field_ttls": d.subexpires,
                       "resizedb": d.resize_hint.map(|(k, e)| json!({"keys": k, "expires": e}))}),
                )
            })
            .collect();
        let types: Vec<Value> = r
        .types
        .iter()
        .map(|((k, enc), t)| json!({"type": k.name(), "encoding": enc.name(), "keys": t.keys, "bytes": t.bytes}))
        .collect();
        let modules: Vec<Value> = r
            .modules
            .iter()
            .map(|(n, m)| json!({"name": n, "encvers": m.encvers, "keys": m.keys}))
            .collect();
        let module_aux: Vec<Value> = r
        .module_aux
        .iter()
        .map(|m| json!({"module": m.module, "encver": m.encver, "when": if m.when == 1 {"before"} else {"after"}, "bytes": m.bytes}))
        .collect();
        let aux: Map<String, Value> = r
            .aux
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        json!({
            "size": r.size,
            "magic": match r.header.lineage { crate::format::Lineage::Redis => "REDIS", crate::format::Lineage::Valkey => "VALKEY" },
            "version": r.header.version,
            "producer": r.producer(),
            "aux": aux,
            "keys": r.keys(),
            "expires": r.expires(),
            "already_expired": r.expired(),
            "dbs": dbs,
            "types": types,
            "functions": r.functions,
            "modules": modules,
            "module_aux": module_aux,
            "slot_info_records": r.slot_infos,
            "slot_import_records": r.slot_imports,
            "enterprise_opcodes": r.enterprise_opcodes.iter().map(|(o, n)| json!({"opcode": o, "count": n})).collect::<Vec<_>>(),
            "checksum": r.checksum.to_string(),
            "trailing_bytes": r.trailing,
            "warnings": r.warnings.to_json(),
        })
    }

    /// The producer version (`redis-ver` or `valkey-ver` aux field).
    pub fn producer(&self) -> Option<String> {
        self.aux
            .iter()
            .find(|(k, _)| k == "redis-ver" || k == "valkey-ver")
            .map(|(k, v)| format!("{} {v}", if k == "redis-ver" { "redis" } else { "valkey" }))
    }

    /// Adds the statistics of the part of the file that follows.
    fn absorb(&mut self, p: FileStats) {
        self.aux.extend(p.aux);
        for (db, d) in p.dbs {
            let e = self.dbs.entry(db).or_default();
            e.keys += d.keys;
            e.expires += d.expires;
            e.expired += d.expired;
            e.subexpires += d.subexpires;
            if d.resize_hint.is_some() {
                e.resize_hint = d.resize_hint;
            }
        }
        for (k, t) in p.types {
            let e = self.types.entry(k).or_default();
            e.keys += t.keys;
            e.bytes += t.bytes;
        }
        self.functions.extend(p.functions);
        for (n, m) in p.modules {
            let e = self.modules.entry(n).or_default();
            e.keys += m.keys;
            for v in m.encvers {
                if !e.encvers.contains(&v) {
                    e.encvers.push(v);
                }
            }
        }
        self.module_aux.extend(p.module_aux);
        self.slot_infos += p.slot_infos;
        self.slot_imports += p.slot_imports;
        for (o, n) in p.enterprise_opcodes {
            *self.enterprise_opcodes.entry(o).or_default() += n;
        }
        self.warnings.absorb(p.warnings);
    }

    /// Total keys.
    pub fn keys(&self) -> u64 {
        self.dbs.values().map(|d| d.keys).sum()
    }

    /// Total keys with an expiry.
    pub fn expires(&self) -> u64 {
        self.dbs.values().map(|d| d.expires).sum()
    }

    /// Total keys already expired at the reference time.
    pub fn expired(&self) -> u64 {
        self.dbs.values().map(|d| d.expired).sum()
    }
}

/// The library name in a function library's shebang line (`#!lua name=mylib`).
///
/// ```
/// assert_eq!(rdbkit::stats::library_name(b"#!lua name=mylib\nreturn 1"), Some("mylib".into()));
/// ```
pub fn library_name(code: &[u8]) -> Option<String> {
    let line = code.split(|&c| c == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    line.strip_prefix("#!")?
        .split_whitespace()
        .find_map(|t| t.strip_prefix("name="))
        .map(str::to_owned)
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Decodes and checks all of `data` (on every core, the CRC on one of its
/// own), returning the statistics. Keys whose expiry is before `now_ms`
/// count as expired.
///
/// # Errors
/// As [`scan`]: the first problem in file order, with its offset and key.
///
/// ```
/// use rdbkit::{decode::Options, stats::inspect};
/// let file = b"REDIS0011\xfa\x09redis-ver\x057.2.0\xfe\x00\xfb\x01\x00\x00\x01a\xc0\x01\xff\x11\x53\xe8\x4d\xc2\xcf\xc3\x51";
/// let r = inspect(file, Options::default(), 0).unwrap();
/// assert_eq!(r.keys(), 1);
/// assert_eq!(r.producer().as_deref(), Some("redis 7.2.0"));
/// ```
pub fn inspect(data: &[u8], opts: Options, now_ms: i64) -> Result<FileStats> {
    let header = Header::parse(data)?;
    let scan_opts = ScanOptions {
        decode: opts,
        ..ScanOptions::default()
    };
    let size = data.len() as u64;
    let done = scan(data, &scan_opts, |start| {
        Stats::new(size, header, now_ms, start)
    })?;
    Ok(done.sink.finish(done.checksum, done.trailing))
}

/// The statistics visitor: gathers [`FileStats`] from the records of a
/// range. Per-key counts stay in locals and reach the maps once per run of
/// keys in a database.
///
/// ```
/// use rdbkit::decode::scan::{scan, ScanOptions};
/// use rdbkit::format::Header;
/// use rdbkit::stats::Stats;
/// let file = b"REDIS0011\xfe\x00\x00\x01a\xc0\x01\xfe\x02\x00\x01b\xc0\x02\xff\0\0\0\0\0\0\0\0";
/// let header = Header::parse(file).unwrap();
/// let done = scan(file, &ScanOptions::default(), |at| Stats::new(file.len() as u64, header, 0, at)).unwrap();
/// let stats = done.sink.finish(done.checksum, done.trailing);
/// assert_eq!((stats.dbs[&0].keys, stats.dbs[&2].keys), (1, 1));
/// ```
#[derive(Debug, Clone)]
pub struct Stats {
    stats: FileStats,
    now_ms: i64,
    lineage: Lineage,
    /// The database current in the range; `None` before the first
    /// `SELECTDB` of a range that does not start the file.
    db: Option<u64>,
    /// What was counted while `db` was `None`.
    pre: DbStats,
    /// Counts of the current run of keys (in `db`).
    counts: DbStats,
    by_type: Box<[TypeStats; 256]>,
}

impl Stats {
    /// A visitor for the range starting at byte `start` of a file of `size`
    /// bytes; keys whose expiry is before `now_ms` count as expired.
    pub fn new(size: u64, header: Header, now_ms: i64, start: usize) -> Stats {
        Stats {
            stats: FileStats::empty(size, header),
            now_ms,
            lineage: header.lineage,
            db: (start <= 9).then_some(0),
            pre: DbStats::default(),
            counts: DbStats::default(),
            by_type: Box::new([TypeStats::default(); 256]),
        }
    }

    /// The statistics, with the checksum the scan found.
    pub fn finish(mut self, checksum: Checksum, trailing: usize) -> FileStats {
        self.flush();
        self.stats.checksum = checksum;
        self.stats.trailing = trailing;
        self.stats
    }

    /// The statistics gathered so far (a sink embedded in another reads
    /// them).
    pub fn stats(&self) -> &FileStats {
        &self.stats
    }

    /// Moves the local per-db and per-type counts into the maps.
    fn flush(&mut self) {
        let c = std::mem::take(&mut self.counts);
        if c.keys > 0 {
            let d = match self.db {
                Some(db) => self.stats.dbs.entry(db).or_default(),
                None => &mut self.pre,
            };
            add_counts(d, &c);
        }
        for (ty, t) in self.by_type.iter_mut().enumerate() {
            if t.keys > 0 {
                let ty = ty as u8;
                let kind = Kind::of(ty, self.lineage).unwrap_or(Kind::Module);
                let e = self
                    .stats
                    .types
                    .entry((kind, Encoding::of(ty, self.lineage)))
                    .or_default();
                e.keys += t.keys;
                e.bytes += t.bytes;
                *t = TypeStats::default();
            }
        }
    }
}

fn add_counts(to: &mut DbStats, c: &DbStats) {
    to.keys += c.keys;
    to.expires += c.expires;
    to.expired += c.expired;
    to.subexpires += c.subexpires;
}

impl<'a> Sink<'a> for Stats {
    const SETTLES_DB: bool = true;

    fn record(&mut self, _at: usize, item: &Item<'a>, _dec: &Decoder<'a>) -> Result<()> {
        let rep = &mut self.stats;
        match item {
            Item::Key(k) => {
                let c = &mut self.counts;
                c.keys += 1;
                if let Some(e) = k.expire_ms {
                    c.expires += 1;
                    if e < self.now_ms {
                        c.expired += 1;
                    }
                }
                let v = k.value;
                if matches!(v.rdb_type(), 22..=25) {
                    c.subexpires += 1;
                }
                let t = &mut self.by_type[usize::from(v.rdb_type())];
                t.keys += 1;
                t.bytes += k.body_span.len() as u64;
                if v.rdb_type() == rdb_type::MODULE_2 {
                    let m = v.module()?;
                    let ms = rep.modules.entry(m.id.name()).or_default();
                    ms.keys += 1;
                    if !ms.encvers.contains(&m.id.encver()) {
                        ms.encvers.push(m.id.encver());
                    }
                }
            }
            Item::Aux { key, value } => {
                let (k, v) = (lossy(&key.to_bytes()?), lossy(&value.to_bytes()?));
                if k == "slot-info" {
                    rep.slot_infos += 1;
                }
                rep.aux.push((k, v));
            }
            Item::SelectDb(db) => {
                self.flush();
                self.db = Some(*db);
                self.stats.dbs.entry(*db).or_default();
            }
            Item::ResizeDb { keys, expires } => {
                let d = match self.db {
                    Some(db) => rep.dbs.entry(db).or_default(),
                    None => &mut self.pre,
                };
                d.resize_hint = Some((*keys, *expires));
            }
            Item::ModuleAux(m) => rep.module_aux.push(ModuleAuxInfo {
                module: m.id.name(),
                encver: m.id.encver(),
                when: m.when,
                bytes: m.payload.len(),
            }),
            Item::Function(code) => {
                let code = code.to_bytes()?;
                rep.functions
                    .push(library_name(&code).unwrap_or_else(|| "?".into()));
            }
            Item::FunctionPreGa { name, .. } => rep.functions.push(lossy(&name.to_bytes()?)),
            Item::SlotInfo { .. } => rep.slot_infos += 1,
            Item::SlotImport { .. } => rep.slot_imports += 1,
            Item::Enterprise { opcode, .. } => {
                *rep.enterprise_opcodes.entry(*opcode).or_default() += 1
            }
            Item::Eof { .. } => {}
        }
        Ok(())
    }

    fn end(&mut self, _walked: &Walked, warnings: Warnings) -> Result<()> {
        self.flush();
        self.stats.warnings.absorb(warnings);
        Ok(())
    }

    fn append(&mut self, mut next: Self) {
        next.flush();
        self.flush();
        let pre = std::mem::take(&mut next.pre);
        if pre.keys > 0 || pre.resize_hint.is_some() {
            let d = match self.db {
                Some(db) => self.stats.dbs.entry(db).or_default(),
                None => &mut self.pre,
            };
            add_counts(d, &pre);
            if pre.resize_hint.is_some() {
                d.resize_hint = pre.resize_hint;
            }
        }
        self.stats.absorb(next.stats);
        if next.db.is_some() {
            self.db = next.db;
        }
    }
}
