//! Server releases: one table ([`RELEASES`]) of what every known Redis and
//! Valkey release writes, reads and which commands it has, and the two types
//! that consult it:
//!
//! * [`Target`]: the format a file is written for (`--target` of `merge` and
//!   `convert`), with the producer version string written into it;
//! * [`ServerRelease`]: the server RESP commands are written for
//!   (`dump --format resp --target`).
//!
//! A new server release is one row of [`RELEASES`]: names, RDB numbers,
//! producer strings, read bounds and command checks all come from it.
//!
//! ```
//! use rdbkit::release::{ServerRelease, Target, RELEASES};
//! let row = RELEASES.iter().find(|r| r.name == "redis-7.4").unwrap();
//! assert_eq!((row.writes, row.producer), (12, "7.4.0"));
//! assert_eq!(Target::parse("redis-7.4").unwrap(), row.target());
//! assert_eq!(Target::parse("redis-8.2").unwrap().producer(), "7.4.0");
//! assert!(ServerRelease::parse("redis-7.4").unwrap().commands().field_ttls);
//! ```

use std::fmt;

use crate::decode::Item;
use crate::format::{rdb_type as t, Header, Lineage};
use crate::Result;

/// How fully rdbkit supports a release of the table.
///
/// ```
/// use rdbkit::release::{Support, Target, RELEASES};
/// let r = RELEASES.iter().find(|r| r.name == "valkey-9.2").unwrap();
/// assert_eq!(r.support, Support::Partial);
/// assert!(Target::parse("valkey-9.2").is_err());
/// assert_eq!(Target::parse("81").unwrap().producer(), "9.2.0");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// A `--target` name ([`Target::parse`]) and a RESP receiving server
    /// of its own ([`ServerRelease`]).
    Full,
    /// Not a `--target` name (its RDB version is a target by number), but a
    /// RESP receiving server of its own.
    Unnamed,
    /// Its format's new features are not verified: its RDB version is a
    /// target by number only (files then carry its producer string), and as
    /// a RESP receiving server the newest other release below it stands in.
    Partial,
}

/// Which files a release loads: the newest RDB version it reads under each
/// magic (0: none).
///
/// A value type introduced in Redis RDB `n` is readable when `redis >= n`
/// (types shared by both lineages, numbers up to 21, count as Redis ones);
/// Valkey-only types need a Valkey-magic file and `valkey > 0`.
///
/// ```
/// use rdbkit::release::{Reads, Target};
/// assert_eq!(Target::parse("valkey-9.0").unwrap().reads(), Reads { redis: 11, valkey: 80 });
/// assert_eq!(Target::parse("valkey-8.1").unwrap().reads(), Reads::redis(11));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reads {
    /// Newest `REDIS`-magic RDB version whose types it loads.
    pub redis: u32,
    /// Newest `VALKEY`-magic RDB version it loads (0: none).
    pub valkey: u32,
}

impl Reads {
    /// Reads `REDIS`-magic files up to `version`, no Valkey-magic ones.
    ///
    /// ```
    /// use rdbkit::release::Reads;
    /// assert_eq!(Reads::redis(12), Reads { redis: 12, valkey: 0 });
    /// ```
    pub const fn redis(version: u32) -> Reads {
        Reads {
            redis: version,
            valkey: 0,
        }
    }
}

/// The commands (and options) a release has that the RESP exporter needs
/// to know about.
///
/// ```
/// use rdbkit::release::ServerRelease;
/// let c = ServerRelease::parse("valkey-8.1").unwrap().commands();
/// assert!(c.functions && c.stream_meta && !c.field_ttls);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Commands {
    /// `PEXPIREAT` (else `EXPIREAT` in seconds): Redis 2.6+.
    pub pexpire: bool,
    /// Variadic `HSET` (else `HMSET`): Redis 4.0+.
    pub hset_multi: bool,
    /// Streams (`XADD`, `XGROUP`, `XSETID`, `XCLAIM`): Redis 5.0+.
    pub streams: bool,
    /// `XGROUP CREATECONSUMER`: Redis 6.2+.
    pub createconsumer: bool,
    /// Stream metadata: `XSETID … ENTRIESADDED … MAXDELETEDID`,
    /// `XGROUP CREATE … ENTRIESREAD`: Redis 7.0+.
    pub stream_meta: bool,
    /// `FUNCTION LOAD`: Redis 7.0+.
    pub functions: bool,
    /// Hash field TTLs (`HPEXPIREAT`): Redis 7.4+, Valkey 9.0+.
    pub field_ttls: bool,
    /// `RESTORE` of arrays (type 28): Redis 8.8+.
    pub arrays: bool,
}

/// No command the exporter asks about (Redis before 2.6).
const NONE: Commands = Commands {
    pexpire: false,
    hset_multi: false,
    streams: false,
    createconsumer: false,
    stream_meta: false,
    functions: false,
    field_ttls: false,
    arrays: false,
};
/// Redis 2.6.
const R2_6: Commands = Commands {
    pexpire: true,
    ..NONE
};
/// Redis 4.0.
const R4_0: Commands = Commands {
    hset_multi: true,
    ..R2_6
};
/// Redis 5.0.
const R5_0: Commands = Commands {
    streams: true,
    ..R4_0
};
/// Redis 6.2.
const R6_2: Commands = Commands {
    createconsumer: true,
    ..R5_0
};
/// Redis 7.0 (and 7.2, and Valkey before 9.0).
const R7_0: Commands = Commands {
    stream_meta: true,
    functions: true,
    ..R6_2
};
/// Redis 7.4.
const R7_4: Commands = Commands {
    field_ttls: true,
    ..R7_0
};
/// Redis 8.8.
const R8_8: Commands = Commands {
    arrays: true,
    ..R7_4
};
/// Valkey 9.0: Redis 7.2's commands plus hash field TTLs.
const V9_0: Commands = Commands {
    field_ttls: true,
    ..R7_0
};

/// Valkey 9.x reads `REDIS` files up to 11 and its own `VALKEY` files.
const fn valkey_reads(valkey: u32) -> Reads {
    Reads { redis: 11, valkey }
}

/// One server release: what it writes, what it reads, which commands it
/// has. See [`RELEASES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    /// `redis-7.4`, `valkey-9.1`: lineage and `major.minor`.
    pub name: &'static str,
    /// Whose server it is (not the file magic: Valkey 8 writes `REDIS0011`).
    pub lineage: Lineage,
    /// The RDB version it writes (80 and above with the `VALKEY` magic).
    pub writes: u32,
    /// The `redis-ver` / `valkey-ver` value rdbkit writes into files made
    /// for this release's format. A [`Target`] names a format, not a
    /// release, so the releases of one lineage writing one format share it.
    pub producer: &'static str,
    /// Which files it loads.
    pub reads: Reads,
    /// Which commands it has (for RESP export).
    pub commands: Commands,
    /// How fully rdbkit supports it.
    pub support: Support,
}

impl Release {
    /// `(major, minor)` from the name.
    ///
    /// ```
    /// use rdbkit::release::RELEASES;
    /// assert_eq!(RELEASES.iter().find(|r| r.name == "valkey-9.1").unwrap().version(), (9, 1));
    /// ```
    pub fn version(&self) -> (u32, u32) {
        let v = self.name.rsplit('-').next().unwrap_or_default();
        let mut it = v.split('.').map(|p| p.parse::<u32>().unwrap_or_default());
        (it.next().unwrap_or_default(), it.next().unwrap_or_default())
    }

    /// The format it writes.
    ///
    /// ```
    /// use rdbkit::release::RELEASES;
    /// let v8 = RELEASES.iter().find(|r| r.name == "valkey-8.0").unwrap();
    /// assert_eq!(v8.target().to_string(), "REDIS0011");
    /// assert!(v8.target().valkey);
    /// ```
    pub fn target(&self) -> Target {
        Target {
            lineage: magic(self.writes),
            version: self.writes,
            valkey: self.lineage == Lineage::Valkey,
        }
    }

    /// Whether files made for its format say they were made by it (its
    /// version is its producer string's `major.minor`).
    fn is_producer(&self) -> bool {
        let (major, minor) = self.version();
        self.producer.starts_with(&format!("{major}.{minor}."))
    }
}

use Lineage::{Redis, Valkey};
use Support::{Full, Partial, Unnamed};

/// Builds a row (the table's columns, in order).
const fn row(
    name: &'static str,
    lineage: Lineage,
    writes: u32,
    producer: &'static str,
    reads: Reads,
    commands: Commands,
    support: Support,
) -> Release {
    Release {
        name,
        lineage,
        writes,
        producer,
        reads,
        commands,
        support,
    }
}

/// Every known server release, oldest first per lineage, Redis first.
///
/// Everything rdbkit knows about releases is read from here:
/// [`Target::parse`] (the `--target` names and the versions its error lists),
/// [`Target::producer`] (the `redis-ver` / `valkey-ver` a merge writes),
/// [`Target::reads`] and [`Target::can_read`], [`Target::release`] (the
/// release a merge suggests), and [`ServerRelease`]'s format and commands.
///
/// ```
/// use rdbkit::release::{Support, RELEASES};
/// let names: Vec<_> = RELEASES.iter().filter(|r| r.support == Support::Full).map(|r| r.name).collect();
/// assert_eq!(names.first(), Some(&"redis-2.4"));
/// assert_eq!(names.last(), Some(&"valkey-9.1"));
/// ```
#[rustfmt::skip]
pub const RELEASES: &[Release] = &[
    //   name          lineage writes producer  reads               commands support
    row("redis-2.0",  Redis,   1, "2.0.0", Reads::redis(1),    NONE, Unnamed),
    row("redis-2.4",  Redis,   2, "2.4.0", Reads::redis(2),    NONE, Full),
    row("redis-2.6",  Redis,   6, "2.8.0", Reads::redis(6),    R2_6, Full),
    row("redis-2.8",  Redis,   6, "2.8.0", Reads::redis(6),    R2_6, Full),
    row("redis-3.0",  Redis,   6, "2.8.0", Reads::redis(6),    R2_6, Full),
    row("redis-3.2",  Redis,   7, "3.2.0", Reads::redis(7),    R2_6, Full),
    row("redis-4.0",  Redis,   8, "4.0.0", Reads::redis(8),    R4_0, Full),
    row("redis-5.0",  Redis,   9, "6.2.0", Reads::redis(9),    R5_0, Full),
    row("redis-6.0",  Redis,   9, "6.2.0", Reads::redis(9),    R5_0, Full),
    row("redis-6.2",  Redis,   9, "6.2.0", Reads::redis(9),    R6_2, Full),
    row("redis-7.0",  Redis,  10, "7.0.0", Reads::redis(10),   R7_0, Full),
    row("redis-7.2",  Redis,  11, "7.2.0", Reads::redis(11),   R7_0, Full),
    row("redis-7.4",  Redis,  12, "7.4.0", Reads::redis(12),   R7_4, Full),
    row("redis-8.0",  Redis,  12, "7.4.0", Reads::redis(12),   R7_4, Full),
    row("redis-8.2",  Redis,  12, "7.4.0", Reads::redis(12),   R7_4, Full),
    row("redis-8.4",  Redis,  12, "7.4.0", Reads::redis(12),   R7_4, Full),
    row("redis-8.6",  Redis,  13, "8.6.0", Reads::redis(13),   R7_4, Full),
    row("redis-8.8",  Redis,  14, "8.8.0", Reads::redis(14),   R8_8, Full),
    row("valkey-7.2", Valkey, 11, "8.0.0", Reads::redis(11),   R7_0, Full),
    row("valkey-8.0", Valkey, 11, "8.0.0", Reads::redis(11),   R7_0, Full),
    row("valkey-8.1", Valkey, 11, "8.0.0", Reads::redis(11),   R7_0, Full),
    row("valkey-9.0", Valkey, 80, "9.0.0", valkey_reads(80),   V9_0, Full),
    row("valkey-9.1", Valkey, 80, "9.0.0", valkey_reads(80),   V9_0, Full),
    row("valkey-9.2", Valkey, 81, "9.2.0", valkey_reads(81),   V9_0, Partial),
];

/// The magic RDB `version` is written with: `VALKEY` for 80 and above.
fn magic(version: u32) -> Lineage {
    if version >= 80 {
        Valkey
    } else {
        Redis
    }
}

/// The lineage of the server a target's files look made by.
fn family(t: &Target) -> Lineage {
    if t.valkey || t.lineage == Valkey {
        Valkey
    } else {
        Redis
    }
}

/// The newest RDB version a release of lineage `server` writes with the
/// `magic` header, if any.
///
/// ```
/// use rdbkit::format::Lineage;
/// use rdbkit::release::newest_format;
/// // Valkey 7.2-8.1 write REDIS0011.
/// assert_eq!(newest_format(Lineage::Valkey, Lineage::Redis), Some(11));
/// assert_eq!(newest_format(Lineage::Redis, Lineage::Valkey), None);
/// ```
pub fn newest_format(server: Lineage, magic: Lineage) -> Option<u32> {
    newest_format_in(RELEASES, server, magic)
}

fn newest_format_in(table: &[Release], server: Lineage, want: Lineage) -> Option<u32> {
    table
        .iter()
        .filter(|r| r.lineage == server && magic(r.writes) == want)
        .map(|r| r.writes)
        .max()
}

/// `Target::parse` over `table`.
fn parse_in(table: &[Release], s: &str) -> std::result::Result<Target, ParseError> {
    if let Ok(v) = s.parse::<u32>() {
        let tgt = Target {
            lineage: magic(v),
            version: v,
            valkey: v >= 80,
        };
        tgt.header().check().map_err(|e| ParseError::BadVersion {
            input: s.to_owned(),
            why: e.kind().clone(),
        })?;
        return Ok(tgt);
    }
    let name = s
        .strip_prefix("redis-enterprise-")
        .map(|v| format!("redis-{v}"))
        .unwrap_or_else(|| s.to_owned());
    let named = || table.iter().filter(|r| r.support == Full);
    if let Some(r) = named().find(|r| r.name == name) {
        return Ok(r.target());
    }
    // The versions a target by number is known for: Redis ones as a
    // range, Valkey ones one by one.
    let numbered = || table.iter().filter(|r| r.support != Partial);
    let redis = || numbered().map(|r| r.writes).filter(|&v| magic(v) == Redis);
    let mut valkey: Vec<u32> = numbered()
        .map(|r| r.writes)
        .filter(|&v| magic(v) == Valkey)
        .collect();
    valkey.sort_unstable();
    valkey.dedup();
    Err(ParseError::UnknownTarget {
        input: s.to_owned(),
        redis_versions: (
            redis().min().unwrap_or_default(),
            redis().max().unwrap_or_default(),
        ),
        valkey_versions: valkey,
        names: named().map(|r| r.name).collect(),
    })
}

/// Why [`Target::parse`] or [`ServerRelease::parse`] did not understand a
/// name. Each variant carries the text given; the message lists what is
/// accepted.
///
/// ```
/// use rdbkit::release::{ParseError, Target};
/// let e = Target::parse("redis-9.9").unwrap_err();
/// assert_eq!(e.input(), "redis-9.9");
/// match &e {
///     ParseError::UnknownTarget { names, .. } => assert!(names.contains(&"redis-7.4")),
///     other => panic!("{other}"),
/// }
/// assert!(e.to_string().starts_with("unknown target 'redis-9.9': use an RDB version ("));
/// assert!(matches!(Target::parse("99"), Err(ParseError::BadVersion { .. })));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ParseError {
    /// A number that is not an RDB version rdbkit writes.
    BadVersion {
        /// The text given.
        input: String,
        /// Why the version is refused.
        why: crate::ErrorKind,
    },
    /// A target that is neither an RDB version nor a release named in
    /// [`RELEASES`] (with [`Support::Full`]).
    UnknownTarget {
        /// The text given.
        input: String,
        /// The `REDIS`-magic RDB versions accepted, first and last.
        redis_versions: (u32, u32),
        /// The `VALKEY`-magic RDB versions accepted.
        valkey_versions: Vec<u32>,
        /// The release names accepted (each also as
        /// `redis-enterprise-X.Y` for a Redis one).
        names: Vec<&'static str>,
    },
    /// A server name that does not start with `redis-`, `valkey-`,
    /// `redis-enterprise-` or `redis-stack-`, and is not an RDB version.
    UnknownServer {
        /// The text given.
        input: String,
    },
    /// A server name whose version is not `MAJOR.MINOR`.
    BadServerVersion {
        /// The text given.
        input: String,
    },
}

impl ParseError {
    /// The text that was not understood.
    ///
    /// ```
    /// use rdbkit::release::ServerRelease;
    /// assert_eq!(ServerRelease::parse("redis-x").unwrap_err().input(), "redis-x");
    /// ```
    pub fn input(&self) -> &str {
        match self {
            ParseError::BadVersion { input, .. }
            | ParseError::UnknownTarget { input, .. }
            | ParseError::UnknownServer { input }
            | ParseError::BadServerVersion { input } => input,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::BadVersion { input, why } => write!(f, "target {input}: {why}"),
            ParseError::UnknownTarget {
                input,
                redis_versions: (lo, hi),
                valkey_versions,
                names,
            } => {
                write!(f, "unknown target '{input}': use an RDB version ({lo}-{hi}")?;
                for v in valkey_versions {
                    write!(f, ", {v}")?;
                }
                write!(f, ") or one of {}, redis-enterprise-X.Y", names.join(", "))
            }
            ParseError::UnknownServer { input } => write!(
                f,
                "unknown server '{input}': use redis-X.Y, valkey-X.Y, redis-enterprise-X.Y or an RDB version"
            ),
            ParseError::BadServerVersion { input } => {
                write!(f, "unknown server '{input}': expected a version like 7.2")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// `Target::release` over `table`.
fn target_release_in<'a>(table: &'a [Release], t: &Target) -> Option<&'a Release> {
    let fam = family(t);
    let same = |r: &&Release| r.target().header() == t.header();
    let of = |lineage: Option<Lineage>| {
        let rows = || {
            table
                .iter()
                .filter(same)
                .filter(|r| lineage.is_none_or(|l| r.lineage == l))
        };
        rows().find(|r| r.is_producer()).or_else(|| rows().next())
    };
    of(Some(fam)).or_else(|| of(None))
}

/// `Target::producer` over `table`.
fn producer_in(table: &[Release], t: &Target) -> &'static str {
    if let Some(r) = target_release_in(table, t) {
        return r.producer;
    }
    // No release writes this format: the nearest newer one, else older.
    let rows = || table.iter().filter(|r| magic(r.writes) == t.lineage);
    rows()
        .filter(|r| r.writes > t.version)
        .min_by_key(|r| r.writes)
        .or_else(|| {
            rows()
                .filter(|r| r.writes < t.version)
                .max_by_key(|r| r.writes)
        })
        .map_or("", |r| r.producer)
}

/// `Target::reads` over `table`.
fn reads_in(table: &[Release], t: &Target) -> Reads {
    let same = |r: &&Release| r.target().header() == t.header();
    if let Some(r) = table.iter().find(same) {
        return r.reads;
    }
    // No release writes this format: a Redis one reads up to itself, a
    // Valkey one what the nearest Valkey format reads of Redis files.
    if t.lineage == Redis {
        return Reads::redis(t.version);
    }
    let valkey = || table.iter().filter(|r| magic(r.writes) == Valkey);
    let nearest = valkey()
        .filter(|r| r.writes < t.version)
        .max_by_key(|r| r.writes)
        .or_else(|| valkey().min_by_key(|r| r.writes));
    Reads {
        redis: nearest.map_or(0, |r| r.reads.redis),
        valkey: t.version,
    }
}

/// The format a file is written for: lineage (magic) and RDB version, and
/// whether the producer is Valkey (which writes `valkey-ver` instead of `redis-ver`).
///
/// Named targets come from [`RELEASES`]; `rdbkit::encode::Target` is the
/// same type.
///
/// ```
/// use rdbkit::release::Target;
/// let t = Target::parse("valkey-8.1").unwrap();
/// assert_eq!((t.to_string(), t.valkey, t.producer()), ("REDIS0011".to_string(), true, "8.0.0"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Header magic lineage.
    pub lineage: Lineage,
    /// RDB version.
    pub version: u32,
    /// Produced as by a Valkey server (affects aux fields only).
    pub valkey: bool,
}

impl Target {
    /// Whether files of this target carry cluster `SLOT_INFO` records
    /// (Redis RDB 12+).
    ///
    /// ```
    /// use rdbkit::release::Target;
    /// assert!(Target::redis(12).has_slot_info() && !Target::redis(11).has_slot_info());
    /// ```
    pub fn has_slot_info(&self) -> bool {
        self.lineage == Lineage::Redis && !self.valkey && self.version >= 12
    }

    /// A Redis-lineage target of the given version.
    ///
    /// ```
    /// use rdbkit::release::Target;
    /// assert_eq!(Target::redis(11).to_string(), "REDIS0011");
    /// ```
    pub fn redis(version: u32) -> Target {
        Target {
            lineage: Lineage::Redis,
            version,
            valkey: false,
        }
    }

    /// Parses an RDB version number (`10`, `80`) or a server name from
    /// [`RELEASES`] (`redis-7.0`, `valkey-9.1`, `redis-enterprise-7.4`).
    /// Anything else is a [`ParseError`] listing what is accepted.
    ///
    /// # Errors
    /// A [`ParseError`] for a name no release in the table has, or an RDB
    /// version no format has.
    ///
    /// ```
    /// use rdbkit::encode::Target;
    /// assert_eq!(Target::parse("redis-7.0").unwrap().version, 10);
    /// assert_eq!(Target::parse("valkey-9.1").unwrap().version, 80);
    /// assert_eq!(Target::parse("redis-enterprise-7.4").unwrap().version, 12);
    /// assert_eq!(Target::parse("11").unwrap().version, 11);
    /// assert!(Target::parse("redis-9.9").is_err());
    /// ```
    pub fn parse(s: &str) -> std::result::Result<Target, ParseError> {
        parse_in(RELEASES, s)
    }

    /// The release files of this target look made by: one writing this
    /// format, of the target's lineage when there is one, the one whose
    /// version is the [producer string](Release::producer). `None` for a
    /// format no release writes (RDB 3-5).
    ///
    /// ```
    /// use rdbkit::release::Target;
    /// assert_eq!(Target::redis(9).release().unwrap().name, "redis-6.2");
    /// assert_eq!(Target::parse("redis-8.0").unwrap().release().unwrap().name, "redis-7.4");
    /// assert!(Target::redis(4).release().is_none());
    /// ```
    pub fn release(&self) -> Option<&'static Release> {
        target_release_in(RELEASES, self)
    }

    /// The `redis-ver` / `valkey-ver` value for a file of this target made
    /// from scratch: [`Release::producer`] of [`Target::release`] (for a
    /// format no release writes, of the nearest newer format).
    ///
    /// ```
    /// use rdbkit::release::Target;
    /// assert_eq!(Target::parse("redis-6.0").unwrap().producer(), "6.2.0");
    /// assert_eq!(Target::parse("valkey-7.2").unwrap().producer(), "8.0.0");
    /// assert_eq!(Target::parse("80").unwrap().producer(), "9.0.0");
    /// ```
    pub fn producer(&self) -> &'static str {
        producer_in(RELEASES, self)
    }

    /// Which files a server of this format loads ([`Release::reads`] of the
    /// releases writing it; for a format no release writes, its own version).
    ///
    /// ```
    /// use rdbkit::release::{Reads, Target};
    /// assert_eq!(Target::redis(4).reads(), Reads::redis(4));
    /// assert_eq!(Target::parse("valkey-9.1").unwrap().reads().redis, 11);
    /// ```
    pub fn reads(&self) -> Reads {
        reads_in(RELEASES, self)
    }

    /// The file header for this target.
    ///
    /// ```
    /// use rdbkit::release::Target;
    /// assert_eq!(Target::redis(12).header().version, 12);
    /// ```
    pub fn header(&self) -> Header {
        Header {
            lineage: self.lineage,
            version: self.version,
        }
    }

    /// The stream type byte this target writes, if it has streams.
    ///
    /// ```
    /// use rdbkit::release::Target;
    /// assert_eq!(Target::redis(5).stream_type(), None);
    /// assert_eq!(Target::redis(9).stream_type(), Some(15));
    /// ```
    pub fn stream_type(&self) -> Option<u8> {
        match (self.lineage, self.version) {
            (Lineage::Valkey, _) => Some(t::STREAM_LISTPACKS_3),
            (_, v) if v >= 14 => Some(t::STREAM_LISTPACKS_5),
            (_, 13) => Some(t::STREAM_LISTPACKS_4),
            (_, 11 | 12) => Some(t::STREAM_LISTPACKS_3),
            (_, 10) => Some(t::STREAM_LISTPACKS_2),
            (_, 9) => Some(t::STREAM_LISTPACKS),
            _ => None,
        }
    }

    /// Whether this target can hold hash field TTLs.
    ///
    /// ```
    /// use rdbkit::release::Target;
    /// assert!(Target::redis(12).has_field_ttls());
    /// assert!(!Target::redis(11).has_field_ttls());
    /// ```
    pub fn has_field_ttls(&self) -> bool {
        self.lineage == Lineage::Valkey || self.version >= 12
    }

    /// Whether this target has function libraries (`FUNCTION2`).
    ///
    /// ```
    /// use rdbkit::release::Target;
    /// assert!(Target::redis(10).has_functions());
    /// ```
    pub fn has_functions(&self) -> bool {
        self.lineage == Lineage::Valkey || self.version >= 10
    }

    /// Whether a decoded record can be copied byte for byte (prefix
    /// opcodes included) into a file for this target: its type is readable
    /// ([`Target::can_read`]) and its expiry, LRU/LFU and module key
    /// metadata can be written for this version.
    ///
    /// ```
    /// use rdbkit::decode::{Decoder, Item, Options};
    /// use rdbkit::format::Lineage;
    /// use rdbkit::release::Target;
    /// let file = b"REDIS0011\xfe\x00\x00\x01a\xc0\x01\xff\0\0\0\0\0\0\0\0";
    /// let Some(Ok(Item::Key(k))) = Decoder::new(file, Options::default()).unwrap().nth(1) else { panic!() };
    /// assert!(Target::redis(6).can_copy(&k, Lineage::Redis));
    /// ```
    pub fn can_copy(&self, rec: &crate::decode::KeyRecord<'_>, src: Lineage) -> bool {
        self.can_read(rec.value.rdb_type(), src)
            && (rec.expire_ms.is_none() || self.version >= 3)
            && ((rec.idle.is_none() && rec.freq.is_none()) || self.version >= 9)
            && (rec.key_meta.is_none() || self.holds_key_meta())
    }

    /// Whether files for this target can hold module key metadata
    /// (`KEY_META`, Redis 8.6+: Redis RDB 13 and later).
    ///
    /// ```
    /// use rdbkit::release::Target;
    /// assert!(Target::redis(13).holds_key_meta() && !Target::redis(12).holds_key_meta());
    /// ```
    pub fn holds_key_meta(&self) -> bool {
        self.lineage == Lineage::Redis && self.version >= 13
    }

    /// Whether this target knows the value type `rdb_type` as written in a
    /// file of lineage `src` (types 22/23 mean different things per
    /// lineage), by [`Target::reads`].
    ///
    /// ```
    /// use rdbkit::format::{rdb_type, Lineage};
    /// use rdbkit::release::Target;
    /// let v9 = Target::parse("valkey-9.0").unwrap();
    /// assert!(v9.can_read(rdb_type::SET_LISTPACK, Lineage::Redis));
    /// assert!(!v9.can_read(rdb_type::HASH_LISTPACK_EX, Lineage::Redis));
    /// assert!(Target::redis(12).can_read(rdb_type::HASH_LISTPACK_EX, Lineage::Redis));
    /// ```
    pub fn can_read(&self, rdb_type: u8, src: Lineage) -> bool {
        can_read_with(self.reads(), rdb_type, src)
    }
}

/// Whether a server reading `r` knows type `rdb_type` of a `src` file.
fn can_read_with(r: Reads, rdb_type: u8, src: Lineage) -> bool {
    // Types both lineages share, by the Redis RDB version adding them.
    let shared = |n: u32| r.redis >= n;
    // Redis-only types (12+), only in Redis files.
    let redis_only = |n: u32| src == Redis && r.redis >= n;
    match rdb_type {
        t::STRING | t::LIST | t::SET | t::ZSET | t::HASH => true,
        t::ZSET_2 | t::MODULE_2 => shared(8),
        t::HASH_ZIPMAP | t::LIST_ZIPLIST | t::SET_INTSET | t::ZSET_ZIPLIST => shared(2),
        t::HASH_ZIPLIST => shared(4),
        t::LIST_QUICKLIST => shared(7),
        t::STREAM_LISTPACKS => shared(9),
        t::HASH_LISTPACK | t::ZSET_LISTPACK | t::LIST_QUICKLIST_2 | t::STREAM_LISTPACKS_2 => {
            shared(10)
        }
        t::SET_LISTPACK | t::STREAM_LISTPACKS_3 => shared(11),
        t::HASH_METADATA_PRE_GA_OR_HASH_2 => src == Valkey && r.valkey > 0,
        t::HASH_METADATA | t::HASH_LISTPACK_EX => redis_only(12),
        t::STREAM_LISTPACKS_4 => redis_only(13),
        t::STREAM_LISTPACKS_5 | t::ARRAY => redis_only(14),
        _ => false,
    }
}

/// Parses a `--target` name ([`Target::parse`]).
///
/// ```
/// use rdbkit::release::Target;
/// let t: Target = "redis-7.0".parse().unwrap();
/// assert_eq!(t, Target::redis(10));
/// assert!("redis-0.1".parse::<Target>().is_err());
/// ```
impl std::str::FromStr for Target {
    type Err = ParseError;

    fn from_str(s: &str) -> std::result::Result<Target, ParseError> {
        Target::parse(s)
    }
}

/// Parses a server release name ([`ServerRelease::parse`]).
///
/// ```
/// use rdbkit::release::ServerRelease;
/// assert!("valkey-8.1".parse::<ServerRelease>().is_ok());
/// ```
impl std::str::FromStr for ServerRelease {
    type Err = ParseError;

    fn from_str(s: &str) -> std::result::Result<ServerRelease, ParseError> {
        ServerRelease::parse(s)
    }
}

/// A file's own format as a target: what it was written for (a
/// Redis-format file gets the Redis flavour of aux fields).
///
/// ```
/// use rdbkit::format::Header;
/// use rdbkit::release::Target;
/// let h = Header::parse(b"VALKEY080").unwrap();
/// assert_eq!(Target::from(&h).to_string(), "VALKEY080");
/// assert_eq!(Target::from(&Header::parse(b"REDIS0011").unwrap()), Target::redis(11));
/// ```
impl From<&crate::format::Header> for Target {
    fn from(h: &crate::format::Header) -> Target {
        Target {
            lineage: h.lineage,
            version: h.version,
            valkey: h.lineage == Lineage::Valkey,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.lineage {
            Lineage::Redis => write!(f, "REDIS{:04}", self.version),
            Lineage::Valkey => write!(f, "VALKEY{:03}", self.version),
        }
    }
}

/// `ServerRelease::for_rdb_version` over `table`.
fn for_rdb_version_in(table: &[Release], version: u32) -> ServerRelease {
    let rows = || {
        table
            .iter()
            .filter(|r| r.support != Partial && magic(r.writes) == magic(version))
    };
    let writes = rows()
        .map(|r| r.writes)
        .filter(|&w| w >= version)
        .min()
        .or_else(|| rows().map(|r| r.writes).max());
    let (valkey, (major, minor)) = rows()
        .filter(|r| Some(r.writes) == writes)
        .map(|r| (r.lineage == Valkey, r.version()))
        .min()
        .unwrap_or_default();
    ServerRelease {
        valkey,
        major,
        minor,
    }
}

/// `ServerRelease::release` over `table`.
fn server_release_in(table: &[Release], s: ServerRelease) -> &Release {
    let lineage = if s.valkey { Valkey } else { Redis };
    let rows = || {
        table
            .iter()
            .filter(move |r| r.support != Partial && r.lineage == lineage)
    };
    rows()
        .filter(|r| r.version() <= (s.major, s.minor))
        .max_by_key(|r| r.version())
        .or_else(|| rows().min_by_key(|r| r.version()))
        .unwrap_or(&table[0])
}

/// The server release the commands are written for: it decides which
/// commands and options exist (from its row of [`RELEASES`]).
///
/// `rdbkit::export::resp::ServerRelease` is the same type.
///
/// ```
/// use rdbkit::release::ServerRelease;
/// let r = ServerRelease::parse("redis-7.3").unwrap();
/// assert_eq!(r.release().name, "redis-7.2");
/// assert!(!r.commands().field_ttls);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerRelease {
    /// Valkey (else Redis).
    pub valkey: bool,
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
}

impl ServerRelease {
    /// Parses a server name (`redis-6.2`, `valkey-9.1`,
    /// `redis-enterprise-7.4`, `redis-stack-7.4`) or an RDB version number
    /// (the oldest release writing it: `9` is Redis 5.0, `80` Valkey 9.0).
    /// Anything else is a [`ParseError`] listing what is accepted.
    ///
    /// # Errors
    /// A [`ParseError`] as for [`Target::parse`].
    ///
    /// ```
    /// use rdbkit::export::resp::ServerRelease;
    /// let r = ServerRelease::parse("redis-6.2").unwrap();
    /// assert_eq!((r.valkey, r.major, r.minor), (false, 6, 2));
    /// assert_eq!(ServerRelease::parse("80").unwrap().target().version, 80);
    /// assert_eq!(ServerRelease::parse("valkey-8.1").unwrap().target().version, 11);
    /// assert!(ServerRelease::parse("redis-x").is_err());
    /// ```
    pub fn parse(s: &str) -> std::result::Result<ServerRelease, ParseError> {
        if let Ok(v) = s.parse::<u32>() {
            Target::parse(s)?;
            return Ok(Self::for_rdb_version(v));
        }
        let (valkey, rest) = if let Some(r) = s.strip_prefix("valkey-") {
            (true, r)
        } else if let Some(r) = s
            .strip_prefix("redis-enterprise-")
            .or_else(|| s.strip_prefix("redis-stack-"))
            .or_else(|| s.strip_prefix("redis-"))
        {
            (false, r)
        } else {
            return Err(ParseError::UnknownServer {
                input: s.to_owned(),
            });
        };
        let mut it = rest.split('.');
        let num = |p: Option<&str>| p.and_then(|x| x.parse::<u32>().ok());
        match (num(it.next()), num(it.next())) {
            (Some(major), Some(minor)) => Ok(ServerRelease {
                valkey,
                major,
                minor,
            }),
            _ => Err(ParseError::BadServerVersion {
                input: s.to_owned(),
            }),
        }
    }

    /// The oldest release that writes RDB `version` (for a version no
    /// release writes, the next one up, else the newest).
    ///
    /// ```
    /// use rdbkit::export::resp::ServerRelease;
    /// let r = ServerRelease::for_rdb_version(10);
    /// assert_eq!((r.valkey, r.major, r.minor), (false, 7, 0));
    /// assert!(ServerRelease::for_rdb_version(80).valkey);
    /// ```
    pub fn for_rdb_version(version: u32) -> ServerRelease {
        for_rdb_version_in(RELEASES, version)
    }

    /// The release that wrote a file: its `redis-ver` / `valkey-ver` AUX
    /// field when present, else the oldest release writing its version.
    ///
    /// # Errors
    /// The errors of [`Header::parse`], and a decoding error when a record
    /// before the first database cannot be read.
    ///
    /// ```
    /// use rdbkit::export::resp::ServerRelease;
    /// let file = b"REDIS0011\xfa\x09redis-ver\x057.2.4\xff\0\0\0\0\0\0\0\0";
    /// let r = ServerRelease::of_file(file).unwrap();
    /// assert_eq!((r.valkey, r.major, r.minor), (false, 7, 2));
    /// ```
    pub fn of_file(data: &[u8]) -> Result<ServerRelease> {
        let header = Header::parse(data)?;
        let opts = crate::decode::Options {
            level: crate::decode::Level::Skip,
            verify_checksum: false,
            ..Default::default()
        };
        for item in crate::decode::Decoder::new(data, opts)? {
            match item? {
                Item::Aux { key, value } => {
                    let k = key.to_bytes()?;
                    let valkey = &*k == b"valkey-ver";
                    if valkey || &*k == b"redis-ver" {
                        let v = value.to_bytes()?;
                        let v = String::from_utf8_lossy(&v);
                        let name = format!("{}-{v}", if valkey { "valkey" } else { "redis" });
                        if let Ok(r) = ServerRelease::parse(&name) {
                            return Ok(r);
                        }
                    }
                }
                Item::ModuleAux(_) => {}
                _ => break,
            }
        }
        Ok(Self::for_rdb_version(header.version))
    }

    /// The row of [`RELEASES`] standing for this server: the newest release
    /// of its lineage at or below its version (an unknown point release is
    /// the newest known one below it; one older than every row, the oldest).
    /// [`Support::Partial`] rows are skipped.
    ///
    /// ```
    /// use rdbkit::release::ServerRelease;
    /// assert_eq!(ServerRelease::parse("redis-8.5").unwrap().release().name, "redis-8.4");
    /// assert_eq!(ServerRelease::parse("valkey-9.2").unwrap().release().name, "valkey-9.1");
    /// assert_eq!(ServerRelease::parse("redis-1.2").unwrap().release().name, "redis-2.0");
    /// ```
    pub fn release(&self) -> &'static Release {
        server_release_in(RELEASES, *self)
    }

    /// The RDB format this release writes (used for RESTORE payloads).
    ///
    /// ```
    /// use rdbkit::export::resp::ServerRelease;
    /// assert_eq!(ServerRelease::parse("redis-8.2").unwrap().target().version, 12);
    /// assert_eq!(ServerRelease::parse("redis-7.3").unwrap().target().version, 11);
    /// ```
    pub fn target(&self) -> Target {
        self.release().target()
    }

    /// The commands this release has.
    ///
    /// ```
    /// use rdbkit::release::ServerRelease;
    /// assert!(ServerRelease::parse("redis-6.2").unwrap().commands().createconsumer);
    /// assert!(!ServerRelease::parse("redis-6.0").unwrap().commands().createconsumer);
    /// ```
    pub fn commands(&self) -> Commands {
        self.release().commands
    }

    pub(crate) fn hset_multi(&self) -> bool {
        self.commands().hset_multi
    }
    pub(crate) fn streams(&self) -> bool {
        self.commands().streams
    }
    pub(crate) fn createconsumer(&self) -> bool {
        self.commands().createconsumer
    }
    pub(crate) fn stream_meta(&self) -> bool {
        self.commands().stream_meta
    }
    pub(crate) fn functions(&self) -> bool {
        self.commands().functions
    }
    pub(crate) fn field_ttls(&self) -> bool {
        self.commands().field_ttls
    }
    pub(crate) fn pexpire(&self) -> bool {
        self.commands().pexpire
    }
    pub(crate) fn arrays(&self) -> bool {
        self.commands().arrays
    }
}

#[cfg(test)]
mod tests;
