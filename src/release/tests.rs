use super::*;

/// The release knowledge as it was spread over four modules before the
/// table, kept here to show the table answers exactly the same.
mod before {
    use super::*;

    const RELEASES: &[(&str, u32)] = &[
        ("redis-2.4", 2),
        ("redis-2.6", 6),
        ("redis-2.8", 6),
        ("redis-3.0", 6),
        ("redis-3.2", 7),
        ("redis-4.0", 8),
        ("redis-5.0", 9),
        ("redis-6.0", 9),
        ("redis-6.2", 9),
        ("redis-7.0", 10),
        ("redis-7.2", 11),
        ("redis-7.4", 12),
        ("redis-8.0", 12),
        ("redis-8.2", 12),
        ("redis-8.4", 12),
        ("redis-8.6", 13),
        ("redis-8.8", 14),
        ("valkey-7.2", 11),
        ("valkey-8.0", 11),
        ("valkey-8.1", 11),
        ("valkey-9.0", 80),
        ("valkey-9.1", 80),
    ];

    pub fn parse(s: &str) -> std::result::Result<Target, String> {
        if let Ok(v) = s.parse::<u32>() {
            let tgt = if v >= 80 {
                Target {
                    lineage: Lineage::Valkey,
                    version: v,
                    valkey: true,
                }
            } else {
                Target::redis(v)
            };
            tgt.header()
                .check()
                .map_err(|e| format!("target {s}: {}", e.kind()))?;
            return Ok(tgt);
        }
        let name = s
            .strip_prefix("redis-enterprise-")
            .map(|v| format!("redis-{v}"))
            .unwrap_or_else(|| s.to_owned());
        let (_, v) = RELEASES.iter().find(|(n, _)| *n == name).ok_or_else(|| {
            format!(
                "unknown target '{s}': use an RDB version (1-14, 80) or one of {}, redis-enterprise-X.Y",
                RELEASES.iter().map(|r| r.0).collect::<Vec<_>>().join(", ")
            )
        })?;
        Ok(Target {
            lineage: if *v >= 80 {
                Lineage::Valkey
            } else {
                Lineage::Redis
            },
            version: *v,
            valkey: name.starts_with("valkey"),
        })
    }

    pub fn producer(t: Target) -> &'static str {
        match (t.lineage, t.version, t.valkey) {
            (Lineage::Valkey, v, _) if v >= 81 => "9.2.0",
            (Lineage::Valkey, _, _) => "9.0.0",
            (_, 11, true) => "8.0.0",
            (_, v, _) if v >= 14 => "8.8.0",
            (_, 13, _) => "8.6.0",
            (_, 12, _) => "7.4.0",
            (_, 11, _) => "7.2.0",
            (_, 10, _) => "7.0.0",
            (_, 9, _) => "6.2.0",
            (_, 8, _) => "4.0.0",
            (_, 7, _) => "3.2.0",
            _ => "2.8.0",
        }
    }

    pub fn suggestion(r: u32) -> &'static str {
        match r {
            12 => "redis-7.4",
            13 => "redis-8.6",
            14 => "redis-8.8",
            11 => "redis-7.2",
            10 => "redis-7.0",
            _ => "redis-6.2",
        }
    }

    pub fn can_read(t: Target, rdb_type: u8, src: Lineage) -> bool {
        let v = t.version;
        let valkey_tgt = t.lineage == Lineage::Valkey;
        match rdb_type {
            t::STRING | t::LIST | t::SET | t::ZSET | t::HASH => true,
            t::ZSET_2 | t::MODULE_2 => v >= 8,
            t::HASH_ZIPMAP | t::LIST_ZIPLIST | t::SET_INTSET | t::ZSET_ZIPLIST => v >= 2,
            t::HASH_ZIPLIST => v >= 4,
            t::LIST_QUICKLIST => v >= 7,
            t::STREAM_LISTPACKS => v >= 9,
            t::HASH_LISTPACK | t::ZSET_LISTPACK | t::LIST_QUICKLIST_2 | t::STREAM_LISTPACKS_2 => {
                v >= 10
            }
            t::SET_LISTPACK | t::STREAM_LISTPACKS_3 => v >= 11,
            t::HASH_METADATA_PRE_GA_OR_HASH_2 => src == Lineage::Valkey && valkey_tgt,
            t::HASH_METADATA | t::HASH_LISTPACK_EX => {
                src == Lineage::Redis && !valkey_tgt && v >= 12
            }
            t::STREAM_LISTPACKS_4 => src == Lineage::Redis && !valkey_tgt && v >= 13,
            t::STREAM_LISTPACKS_5 | t::ARRAY => src == Lineage::Redis && !valkey_tgt && v >= 14,
            _ => false,
        }
    }

    pub fn for_rdb_version(version: u32) -> ServerRelease {
        let (valkey, major, minor) = match version {
            0 | 1 => (false, 2, 0),
            2 => (false, 2, 4),
            3..=6 => (false, 2, 6),
            7 => (false, 3, 2),
            8 => (false, 4, 0),
            9 => (false, 5, 0),
            10 => (false, 7, 0),
            11 => (false, 7, 2),
            12 => (false, 7, 4),
            13 => (false, 8, 6),
            14..=79 => (false, 8, 8),
            _ => (true, 9, 0),
        };
        ServerRelease {
            valkey,
            major,
            minor,
        }
    }

    fn at_least(s: &ServerRelease, major: u32, minor: u32) -> bool {
        (s.major, s.minor) >= (major, minor)
    }

    fn redis_at_least(s: &ServerRelease, major: u32, minor: u32) -> bool {
        if s.valkey {
            (7, 2) >= (major, minor)
        } else {
            at_least(s, major, minor)
        }
    }

    pub fn target(s: &ServerRelease) -> Target {
        let name = format!(
            "{}-{}.{}",
            if s.valkey { "valkey" } else { "redis" },
            s.major,
            s.minor
        );
        if let Ok(t) = parse(&name) {
            return t;
        }
        let version = if s.valkey {
            if at_least(s, 9, 0) {
                80
            } else {
                11
            }
        } else {
            match (s.major, s.minor) {
                (0..=2, _) if !at_least(s, 2, 4) => 1,
                _ if !at_least(s, 2, 6) => 2,
                _ if !at_least(s, 3, 2) => 6,
                _ if !at_least(s, 4, 0) => 7,
                _ if !at_least(s, 5, 0) => 8,
                _ if !at_least(s, 7, 0) => 9,
                _ if !at_least(s, 7, 2) => 10,
                _ if !at_least(s, 7, 4) => 11,
                _ if !at_least(s, 8, 6) => 12,
                _ if !at_least(s, 8, 8) => 13,
                _ => 14,
            }
        };
        let mut t = Target::redis(version);
        if s.valkey {
            t.valkey = true;
            if version >= 80 {
                t.lineage = Lineage::Valkey;
            }
        }
        t
    }

    pub fn commands(s: &ServerRelease) -> Commands {
        Commands {
            pexpire: redis_at_least(s, 2, 6),
            hset_multi: redis_at_least(s, 4, 0),
            streams: redis_at_least(s, 5, 0),
            createconsumer: redis_at_least(s, 6, 2),
            stream_meta: redis_at_least(s, 7, 0),
            functions: redis_at_least(s, 7, 0),
            field_ttls: if s.valkey {
                at_least(s, 9, 0)
            } else {
                at_least(s, 7, 4)
            },
            arrays: !s.valkey && at_least(s, 8, 8),
        }
    }
}

/// Every target: by number, by every name, and Redis-magic Valkey ones.
fn targets() -> Vec<Target> {
    let mut v = Vec::new();
    for version in 0..=90 {
        for lineage in [Redis, Valkey] {
            for valkey in [false, true] {
                v.push(Target {
                    lineage,
                    version,
                    valkey,
                });
            }
        }
    }
    v
}

fn servers() -> Vec<ServerRelease> {
    let mut v = Vec::new();
    for valkey in [false, true] {
        for major in 0..=12 {
            for minor in 0..=12 {
                v.push(ServerRelease {
                    valkey,
                    major,
                    minor,
                });
            }
        }
    }
    v
}

#[test]
fn parse_as_before() {
    let mut inputs: Vec<String> = (0..=100).map(|v| v.to_string()).collect();
    for s in servers() {
        let l = if s.valkey { "valkey" } else { "redis" };
        inputs.push(format!("{l}-{}.{}", s.major, s.minor));
        inputs.push(format!("redis-enterprise-{}.{}", s.major, s.minor));
    }
    inputs.extend(
        [
            "",
            "redis",
            "redis-7.4.1",
            "valkey-",
            "x",
            "redis-stack-7.4",
        ]
        .map(String::from),
    );
    for s in &inputs {
        assert_eq!(
            Target::parse(s).map_err(|e| e.to_string()),
            before::parse(s),
            "{s}"
        );
    }
}

#[test]
fn targets_as_before() {
    for t in targets() {
        // Files before RDB 7 have no AUX fields: no producer is written.
        if t.version >= 7 {
            assert_eq!(t.producer(), before::producer(t), "{t:?}");
        }
        // (A VALKEY magic below 80 is no format: nothing can be written.)
        if t.lineage == Valkey && t.version < 80 {
            continue;
        }
        for ty in 0..=255 {
            for src in [Redis, Valkey] {
                assert_eq!(
                    t.can_read(ty, src),
                    before::can_read(t, ty, src),
                    "{t:?} {ty} {src:?}"
                );
            }
        }
    }
    for r in 1..=14 {
        let now = Target::redis(r.max(9)).release().map(|x| x.name);
        assert_eq!(now, Some(before::suggestion(r)), "{r}");
    }
    assert_eq!(newest_format(Valkey, Redis), Some(11));
}

#[test]
fn servers_as_before() {
    for v in 0..=100 {
        assert_eq!(
            ServerRelease::for_rdb_version(v),
            before::for_rdb_version(v),
            "{v}"
        );
    }
    for s in servers() {
        assert_eq!(s.target(), before::target(&s), "{s:?}");
        assert_eq!(s.commands(), before::commands(&s), "{s:?}");
    }
}

#[test]
fn table_is_consistent() {
    for r in RELEASES {
        let (major, minor) = r.version();
        let prefix = if r.lineage == Valkey {
            "valkey"
        } else {
            "redis"
        };
        assert_eq!(r.name, format!("{prefix}-{major}.{minor}"));
        assert!(r.target().header().check().is_ok(), "{}", r.name);
        // Releases of one lineage writing one format share what files of
        // it say and what they read; one of them is the producer.
        let same = || {
            RELEASES
                .iter()
                .filter(|x| x.target() == r.target())
                .collect::<Vec<_>>()
        };
        assert!(
            same().iter().all(|x| x.producer == r.producer),
            "{}",
            r.name
        );
        assert!(same().iter().any(|x| x.is_producer()), "{}", r.name);
        assert!(
            RELEASES
                .iter()
                .filter(|x| x.target().header() == r.target().header())
                .all(|x| x.reads == r.reads),
            "{}",
            r.name
        );
        // Every release reads what it writes.
        match magic(r.writes) {
            Redis => assert_eq!(r.reads, Reads::redis(r.writes)),
            Valkey => assert_eq!(r.reads.valkey, r.writes),
        }
    }
    // Oldest first per lineage.
    for w in RELEASES.windows(2) {
        if w[0].lineage == w[1].lineage {
            assert!(w[0].version() < w[1].version(), "{}", w[1].name);
        }
    }
}

/// The real table plus `extra`, nothing else changed.
fn with(extra: Release) -> Vec<Release> {
    let mut table = RELEASES.to_vec();
    table.push(extra);
    table
}

/// A new server release is one row: Redis 8.10, writing RDB 15 (listed as
/// unverified in the format reference), becomes a `--target` name, a
/// producer string, a read bound and a RESP receiving server at once.
#[test]
fn a_new_release_is_one_row() {
    let table = with(row(
        "redis-8.10",
        Redis,
        15,
        "8.10.0",
        Reads::redis(15),
        R8_8,
        Full,
    ));
    let t = Target::redis(15);
    // The real table does not know it.
    assert!(Target::parse("redis-8.10").is_err());
    assert_eq!(
        ServerRelease::parse("redis-8.10").unwrap().target().version,
        14
    );
    // --target: by name, with the enterprise prefix, in the error's lists.
    assert_eq!(parse_in(&table, "redis-8.10"), Ok(t));
    assert_eq!(parse_in(&table, "redis-enterprise-8.10"), Ok(t));
    let e = parse_in(&table, "redis-9.9").unwrap_err().to_string();
    assert!(e.contains("(1-15, 80)"), "{e}");
    assert!(e.contains(", redis-8.10, "), "{e}");
    // Merge: the producer string and the suggested release.
    assert_eq!(producer_in(&table, &t), "8.10.0");
    assert_eq!(target_release_in(&table, &t).unwrap().name, "redis-8.10");
    // What it reads.
    assert_eq!(reads_in(&table, &t), Reads::redis(15));
    assert!(can_read_with(reads_in(&table, &t), t::ARRAY, Redis));
    // RESP: the server, its point releases and the oldest release of RDB 15.
    let s = ServerRelease::parse("redis-8.10").unwrap();
    assert_eq!(server_release_in(&table, s).target(), t);
    let point = ServerRelease::parse("redis-8.12.1").unwrap();
    assert_eq!(server_release_in(&table, point).name, "redis-8.10");
    assert_eq!(for_rdb_version_in(&table, 15), s);
    let c = server_release_in(&table, s).commands;
    assert!(c.field_ttls && c.arrays && c.functions && c.stream_meta);
    // Nothing else moved.
    assert_eq!(producer_in(&table, &Target::redis(14)), "8.8.0");
    assert_eq!(
        for_rdb_version_in(&table, 14),
        for_rdb_version_in(RELEASES, 14)
    );
    let redis_8_8 = ServerRelease::parse("redis-8.8").unwrap();
    assert_eq!(server_release_in(&table, redis_8_8).name, "redis-8.8");
}

/// A Valkey release writing a format already known: Valkey 9.3 (a
/// hypothetical point release writing VALKEY081 like 9.2).
#[test]
fn a_new_valkey_release_is_one_row() {
    let table = with(row(
        "valkey-9.3",
        Valkey,
        81,
        "9.2.0",
        valkey_reads(81),
        V9_0,
        Full,
    ));
    let t = parse_in(&table, "valkey-9.3").unwrap();
    assert_eq!((t.to_string(), t.valkey), ("VALKEY081".to_string(), true));
    assert_eq!(producer_in(&table, &t), "9.2.0");
    let e = parse_in(&table, "nope").unwrap_err().to_string();
    assert!(e.contains("(1-14, 80, 81)"), "{e}");
    let s = ServerRelease::parse("valkey-9.3").unwrap();
    assert_eq!(server_release_in(&table, s).target(), t);
    assert_eq!(for_rdb_version_in(&table, 81), s);
    assert!(server_release_in(&table, s).commands.field_ttls);
    assert!(can_read_with(
        reads_in(&table, &t),
        t::HASH_METADATA_PRE_GA_OR_HASH_2,
        Valkey
    ));
    assert!(!can_read_with(
        reads_in(&table, &t),
        t::HASH_LISTPACK_EX,
        Redis
    ));
}
