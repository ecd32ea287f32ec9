//! Property tests of the encoder: arbitrary datasets of every type are
//! written with `RdbWriter` for every target version that can hold them
//! (RDB 1 … 14 and Valkey 80), decoded back with `rdbkit::decode` at the
//! deepest validation level, and compared with what was written.
//!
//! Values a target cannot hold (streams before RDB 9, modules before RDB 8,
//! field TTLs before RDB 12 / Valkey 80, stream metadata a stream version
//! lacks, arrays outside Redis RDB 14) must be refused with an error that
//! names the key, and nothing else may be refused.

use std::collections::BTreeMap;

use proptest::prelude::*;
use rdbkit::decode::{Decoder, Item, Level, Options, StreamId};
use rdbkit::encode::{
    AllowLoss, ArrayItem, ConsumerValue, GroupValue, HashEntry, IdmpValue, KeyMeta, Losses,
    OwnedValue, PendingValue, RdbWriter, StreamValue, Target,
};
use rdbkit::format::{Lineage, ModuleId};

/// Every target: Redis RDB 1 … 14, a Valkey-produced RDB 11 and Valkey 80.
fn targets() -> Vec<Target> {
    let mut t: Vec<Target> = (1..=14).map(Target::redis).collect();
    t.push(Target {
        valkey: true,
        ..Target::redis(11)
    });
    t.push(Target {
        lineage: Lineage::Valkey,
        version: 80,
        valkey: true,
    });
    t
}

// ---------------------------------------------------------------- strategies

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => "[a-z0-9:_-]{0,12}".prop_map(String::into_bytes),
        2 => proptest::collection::vec(any::<u8>(), 0..40),
        2 => prop_oneof![
            Just(b"".to_vec()),
            Just(b"0".to_vec()),
            Just(b"-0".to_vec()),
            Just(b"007".to_vec()),
            Just(b"+1".to_vec()),
            Just(b" 1".to_vec()),
            Just(b"1.0".to_vec()),
            Just(b"9223372036854775807".to_vec()),
            Just(b"9223372036854775808".to_vec()),
            Just(b"-9223372036854775808".to_vec()),
            Just(b"-9223372036854775809".to_vec()),
            Just(b"2147483648".to_vec()),
            Just(b"4096".to_vec()),
            Just(b"-4097".to_vec()),
            Just(b"8388608".to_vec()),
        ],
        2 => any::<i64>().prop_map(|i| i.to_string().into_bytes()),
        1 => (1usize..200, "[a-c]{1,3}").prop_map(|(n, s)| s.repeat(n).into_bytes()),
        1 => (64usize..5000).prop_map(|n| (0..n).map(|i| (i * 7 % 251) as u8).collect()),
    ]
}

fn score() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<i32>().prop_map(f64::from),
        2 => any::<f64>().prop_filter("not NaN", |f| !f.is_nan()),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(-0.0),
        1 => Just(1e17),
        1 => Just(4.611686018427388e18),
        1 => (-1000i32..1000).prop_map(|i| f64::from(i) / 8.0),
    ]
}

fn expire() -> impl Strategy<Value = i64> {
    // Within i32 seconds so RDB 1-2's seconds form holds them.
    1_600_000_000_000i64..2_100_000_000_000
}

/// Collection sizes: mostly small, sometimes past the compact-encoding limits.
fn size(max_small: usize) -> impl Strategy<Value = usize> {
    prop_oneof![8 => 0..max_small, 1 => 100usize..700, 1 => Just(1)]
}

fn unique(v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut seen = std::collections::HashSet::new();
    v.into_iter().filter(|x| seen.insert(x.clone())).collect()
}

fn list() -> impl Strategy<Value = OwnedValue> {
    size(20).prop_flat_map(|n| proptest::collection::vec(bytes(), n).prop_map(OwnedValue::List))
}

fn set() -> impl Strategy<Value = OwnedValue> {
    prop_oneof![
        size(20).prop_flat_map(|n| proptest::collection::vec(bytes(), n)),
        size(20).prop_flat_map(|n| proptest::collection::vec(
            any::<i64>().prop_map(|i| i.to_string().into_bytes()),
            n
        )),
    ]
    .prop_map(|v| OwnedValue::Set(unique(v)))
}

fn zset() -> impl Strategy<Value = OwnedValue> {
    size(20).prop_flat_map(|n| {
        proptest::collection::vec((bytes(), score()), n).prop_map(|v| {
            let mut seen = std::collections::HashSet::new();
            OwnedValue::ZSet(
                v.into_iter()
                    .filter(|(m, _)| seen.insert(m.clone()))
                    .collect(),
            )
        })
    })
}

fn hash() -> impl Strategy<Value = OwnedValue> {
    (size(20), prop::bool::weighted(0.3)).prop_flat_map(|(n, ttls)| {
        proptest::collection::vec((bytes(), bytes(), prop::option::weighted(0.5, expire())), n)
            .prop_map(move |v| {
                let mut seen = std::collections::HashSet::new();
                OwnedValue::Hash(
                    v.into_iter()
                        .filter(|(f, _, _)| seen.insert(f.clone()))
                        .map(|(field, value, expire_ms)| HashEntry {
                            field,
                            value,
                            expire_ms: expire_ms.filter(|_| ttls),
                        })
                        .collect(),
                )
            })
    })
}

fn stream() -> impl Strategy<Value = OwnedValue> {
    let entry = proptest::collection::vec((bytes(), bytes()), 1..4);
    (
        proptest::collection::vec((0u64..3, 0u64..3, entry), 0..30),
        prop::bool::weighted(0.4),
        proptest::collection::vec(
            (
                "[a-z]{1,6}",
                proptest::collection::vec("[a-z]{1,5}", 0..3),
                any::<u64>(),
            ),
            0..3,
        ),
        0u8..4,
    )
        .prop_map(|(raw, rich, groups, idmp)| {
            // Ascending IDs from deltas.
            let mut id = StreamId {
                ms: 1_700_000_000_000,
                seq: 0,
            };
            let mut entries = Vec::new();
            for (dms, dseq, fields) in raw {
                id = if dms == 0 {
                    StreamId {
                        ms: id.ms,
                        seq: id.seq + 1 + dseq,
                    }
                } else {
                    StreamId {
                        ms: id.ms + dms,
                        seq: dseq,
                    }
                };
                entries.push((id, fields));
            }
            let last_id = StreamId {
                ms: id.ms + u64::from(rich),
                seq: 0,
            }
            .max(id);
            let n = entries.len() as u64;
            let mut gs: Vec<GroupValue> = Vec::new();
            let mut names: Vec<String> = groups.iter().map(|g| g.0.clone()).collect();
            names.sort();
            names.dedup();
            for (gi, name) in names.iter().enumerate() {
                let (_, cons, seed) = groups.iter().find(|g| &g.0 == name).expect("group");
                let mut cons = cons.clone();
                cons.sort();
                cons.dedup();
                let mut consumers: Vec<ConsumerValue> = cons
                    .iter()
                    .map(|c| ConsumerValue {
                        name: c.clone().into_bytes(),
                        seen_time_ms: 1_700_000_000_000 + gi as i64,
                        active_time_ms: Some(1_700_000_000_000 + gi as i64 + i64::from(rich)),
                        pel: Vec::new(),
                    })
                    .collect();
                let mut pel = Vec::new();
                if !consumers.is_empty() {
                    for (i, (eid, _)) in entries.iter().enumerate() {
                        if (seed >> (i % 64)) & 1 == 1 {
                            let c = i % consumers.len();
                            consumers[c].pel.push(*eid);
                            pel.push(PendingValue {
                                id: *eid,
                                delivery_time_ms: 1_690_000_000_000 + i as i64,
                                delivery_count: (seed >> 3) % 5 + 1,
                            });
                        }
                    }
                }
                gs.push(GroupValue {
                    name: name.clone().into_bytes(),
                    last_id: entries.get(gi).map(|e| e.0).unwrap_or_default(),
                    entries_read: rich.then_some(gi as u64),
                    pel,
                    consumers,
                    nacked: Vec::new(),
                });
            }
            let first = entries.first().map(|e| e.0).unwrap_or_default();
            let idmp = match idmp {
                0 | 1 => None,
                2 => Some(IdmpValue {
                    duration_s: 100,
                    max_entries: 100,
                    producers: 0,
                    producers_raw: Vec::new(),
                    iids_added: 0,
                    iids_duplicates: 0,
                }),
                _ => Some(IdmpValue {
                    duration_s: 86400,
                    max_entries: 1,
                    producers: 0,
                    producers_raw: Vec::new(),
                    iids_added: 7,
                    iids_duplicates: 2,
                }),
            };
            OwnedValue::Stream(Box::new(StreamValue {
                entries,
                length: None,
                last_id,
                first_id: Some(first),
                max_deleted_id: Some(if rich {
                    StreamId { ms: 1, seq: 1 }
                } else {
                    StreamId::default()
                }),
                entries_added: Some(if rich { n + 3 } else { n }),
                groups: gs,
                idmp,
            }))
        })
}

fn module() -> impl Strategy<Value = OwnedValue> {
    (any::<u64>(), proptest::collection::vec(bytes(), 0..4)).prop_map(|(u, strs)| {
        // Sub-opcode stream: UINT, DOUBLE, STRING..., EOF.
        let mut p = Vec::new();
        rdbkit::encode::write_len(&mut p, 2);
        rdbkit::encode::write_len(&mut p, u);
        rdbkit::encode::write_len(&mut p, 4);
        p.extend_from_slice(&1.5f64.to_le_bytes());
        for s in &strs {
            rdbkit::encode::write_len(&mut p, 5);
            rdbkit::encode::write_raw_str(&mut p, s);
        }
        rdbkit::encode::write_len(&mut p, 0);
        OwnedValue::Module {
            id: ModuleId::from_name("rdbkit-T1", 3).expect("id"),
            payload: p,
        }
    })
}

fn array() -> impl Strategy<Value = OwnedValue> {
    (
        proptest::collection::btree_map(
            any::<u32>(),
            prop_oneof![
                bytes().prop_map(ArrayItem::Bytes),
                any::<i64>().prop_map(ArrayItem::Int),
                any::<f64>()
                    .prop_filter("not NaN", |f| !f.is_nan())
                    .prop_map(ArrayItem::Float),
            ],
            1..10,
        ),
        prop::option::of(any::<u32>()),
    )
        .prop_map(|(m, ins)| OwnedValue::Array {
            items: m.into_iter().map(|(i, v)| (u64::from(i), v)).collect(),
            insert_idx: ins.map(u64::from),
        })
}

fn value() -> impl Strategy<Value = OwnedValue> {
    prop_oneof![
        3 => bytes().prop_map(OwnedValue::String),
        2 => list(),
        2 => set(),
        2 => zset(),
        2 => hash(),
        2 => stream(),
        1 => module(),
        1 => array(),
    ]
}

#[derive(Debug, Clone)]
struct Key {
    db: u64,
    key: Vec<u8>,
    value: OwnedValue,
    expire_ms: Option<i64>,
}

fn dataset() -> impl Strategy<Value = Vec<Key>> {
    proptest::collection::vec(
        (
            0u64..3,
            bytes(),
            value(),
            prop::option::weighted(0.3, expire()),
        ),
        1..8,
    )
    .prop_map(|v| {
        let mut seen = std::collections::HashSet::new();
        v.into_iter()
            .filter(|(db, k, _, _)| seen.insert((*db, k.clone())))
            .map(|(db, key, value, expire_ms)| Key {
                db,
                key,
                value,
                expire_ms,
            })
            .collect()
    })
}

// --------------------------------------------------------------- the model

fn stream_version(t: Target) -> u8 {
    match t.stream_type() {
        Some(ty) => rdbkit::decode::stream_version_of(ty),
        None => 0,
    }
}

/// Whether `t` can hold `v` without loss (an independent statement of the rules).
fn holdable(v: &OwnedValue, t: Target) -> bool {
    let redis = t.lineage == Lineage::Redis && !t.valkey;
    match v {
        OwnedValue::String(_) | OwnedValue::List(_) | OwnedValue::Set(_) | OwnedValue::ZSet(_) => {
            true
        }
        OwnedValue::Hash(h) => {
            h.iter().all(|f| f.expire_ms.is_none())
                || t.lineage == Lineage::Valkey
                || t.version >= 12
        }
        OwnedValue::Module { .. } => t.version >= 8,
        OwnedValue::Array { .. } => redis && t.version >= 14,
        OwnedValue::Stream(s) => {
            let ver = stream_version(t);
            if ver == 0 {
                return false;
            }
            let n = s.entries.len() as u64;
            let first = s.entries.first().map(|e| e.0).unwrap_or_default();
            let rich = s.entries_added.is_some_and(|a| a != n)
                || s.first_id.is_some_and(|f| f != first)
                || s.max_deleted_id.is_some_and(|m| m != StreamId::default())
                || s.groups.iter().any(|g| g.entries_read.is_some());
            let active = s
                .groups
                .iter()
                .flat_map(|g| &g.consumers)
                .any(|c| c.active_time_ms.is_some_and(|a| a != c.seen_time_ms));
            let idmp = s
                .idmp
                .as_ref()
                .is_some_and(|i| i.iids_added > 0 || i.iids_duplicates > 0);
            let lossy = (ver < 2 && rich) || (ver < 3 && active) || (ver < 4 && idmp);
            !lossy
        }
        // A value type added later: this statement of the rules does not
        // know it.
        _ => false,
    }
}

/// A value as it must read back from target `t`.
fn expected(v: &OwnedValue, t: Target) -> OwnedValue {
    let mut v = v.clone();
    if let OwnedValue::Stream(s) = &mut v {
        let ver = stream_version(t);
        let n = s.entries.len() as u64;
        s.length = Some(s.length.unwrap_or(n));
        if ver < 2 {
            s.first_id = None;
            s.max_deleted_id = None;
            s.entries_added = None;
            for g in &mut s.groups {
                g.entries_read = None;
            }
        } else {
            s.first_id = Some(
                s.first_id
                    .unwrap_or(s.entries.first().map(|e| e.0).unwrap_or_default()),
            );
            s.entries_added = Some(s.entries_added.unwrap_or(n));
            s.max_deleted_id = Some(s.max_deleted_id.unwrap_or_default());
        }
        for c in s.groups.iter_mut().flat_map(|g| &mut g.consumers) {
            c.active_time_ms = if ver >= 3 {
                Some(c.active_time_ms.unwrap_or(c.seen_time_ms))
            } else {
                None
            };
        }
        if ver < 4 {
            s.idmp = None;
        } else if s.idmp.is_none() {
            s.idmp = Some(IdmpValue {
                duration_s: rdbkit::encode::IDMP_DEFAULT_DURATION_S,
                max_entries: rdbkit::encode::IDMP_DEFAULT_MAX_ENTRIES,
                producers: 0,
                producers_raw: Vec::new(),
                iids_added: 0,
                iids_duplicates: 0,
            });
        }
    }
    normalise(v)
}

fn normalise(mut v: OwnedValue) -> OwnedValue {
    match &mut v {
        OwnedValue::Set(s) => s.sort(),
        OwnedValue::Hash(h) => h.sort_by(|a, b| a.field.cmp(&b.field)),
        OwnedValue::ZSet(z) => {
            // -0 and 0 are the same score; newer servers store -0 as 0.
            for (_, s) in z.iter_mut() {
                if *s == 0.0 {
                    *s = 0.0;
                }
            }
            z.sort_by(|a, b| a.0.cmp(&b.0));
        }
        OwnedValue::Array { items, .. } => {
            for (_, x) in items.iter_mut() {
                if let ArrayItem::Float(f) = x {
                    if *f == 0.0 {
                        *f = 0.0;
                    }
                }
            }
        }
        _ => {}
    }
    v
}

fn expire_as_written(ms: i64, t: Target) -> i64 {
    if t.version >= 3 {
        ms
    } else {
        (ms + 999).div_euclid(1000) * 1000
    }
}

/// Writes `keys` for `t`, decodes the file and checks every key.
fn round_trip(keys: &[Key], t: Target) -> Result<(), TestCaseError> {
    let mut w = RdbWriter::new(Vec::new(), t).map_err(|e| TestCaseError::fail(e.to_string()))?;
    w.standard_aux("7.4.0", 1_700_000_000, 1 << 20).unwrap();
    let mut by_db: BTreeMap<u64, Vec<&Key>> = BTreeMap::new();
    for k in keys {
        // Every refusal must be one the model predicts, and name the key.
        let mut l = Losses::default();
        let r = k.value.encode(t, AllowLoss::default(), &mut l);
        let ok = holdable(&k.value, t);
        prop_assert_eq!(r.is_ok(), ok, "target {} key {:?}: {:?}", t, k.key, r.err());
        if ok {
            by_db.entry(k.db).or_default().push(k);
        }
    }
    let mut written = 0;
    for (db, ks) in &by_db {
        w.select_db(*db).unwrap();
        let expires = ks.iter().filter(|k| k.expire_ms.is_some()).count() as u64;
        w.resize_db(ks.len() as u64, expires).unwrap();
        for k in ks {
            let meta = KeyMeta {
                expire_ms: k.expire_ms,
                ..KeyMeta::default()
            };
            w.key(&k.key, &k.value, meta)
                .map_err(|e| TestCaseError::fail(format!("{t}: {e}")))?;
            written += 1;
        }
    }
    // Refusals through the writer name the key.
    for k in keys.iter().filter(|k| !holdable(&k.value, t)) {
        let e = w.key(&k.key, &k.value, KeyMeta::default()).unwrap_err();
        let key = rdbkit::format::escape_bytes(&k.key[..k.key.len().min(64)]);
        prop_assert!(e.to_string().contains(&format!("(key '{key}")), "{e}");
    }
    let file = w.finish().unwrap();
    let opts = Options {
        level: Level::Deep,
        ..Options::default()
    };
    let mut got: BTreeMap<(u64, Vec<u8>), (OwnedValue, Option<i64>)> = BTreeMap::new();
    for item in Decoder::new(&file, opts).map_err(|e| TestCaseError::fail(e.to_string()))? {
        let item = item.map_err(|e| TestCaseError::fail(format!("{t}: {e}")))?;
        if let Item::Key(k) = item {
            let v =
                OwnedValue::from_value(&k.value).map_err(|e| TestCaseError::fail(e.to_string()))?;
            got.insert(
                (k.db, k.key.to_bytes().unwrap().into_owned()),
                (v, k.expire_ms),
            );
        }
    }
    prop_assert_eq!(got.len(), written);
    for (db, ks) in &by_db {
        for k in ks {
            let (v, exp) = &got[&(*db, k.key.clone())];
            prop_assert_eq!(
                normalise(v.clone()),
                expected(&k.value, t),
                "target {} key {:?}",
                t,
                k.key
            );
            prop_assert_eq!(*exp, k.expire_ms.map(|e| expire_as_written(e, t)));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES=N runs more.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(48),
        max_shrink_iters: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn datasets_round_trip_for_every_target(keys in dataset()) {
        for t in targets() {
            round_trip(&keys, t)?;
        }
    }

    /// `rdbkit::diff`: a dataset written as RDB 9 with compact encodings
    /// and as RDB 12 with every value in its plain encoding (hash tables,
    /// skip lists, one-element list nodes) is equal key for key; one
    /// changed element makes exactly that key differ in value.
    #[test]
    fn diff_is_blind_to_encodings_and_sees_one_element(keys in dataset(), pick in any::<usize>()) {
        diff_across_encodings(&keys, pick)?;
    }
}

/// Keys every target holds the same way (no streams, modules, arrays or
/// field TTLs), written for `t`; `plain` forces the plain encodings.
fn write_simple(keys: &[&Key], t: Target, plain: bool) -> Vec<u8> {
    let mut w = RdbWriter::new(Vec::new(), t).unwrap();
    if plain {
        let c = &mut w.config;
        c.hash_max_listpack_entries = 0;
        c.zset_max_listpack_entries = 0;
        c.set_max_intset_entries = 0;
        c.set_max_listpack_entries = 0;
        c.list_max_listpack_size = 1;
    }
    let mut by_db: BTreeMap<u64, Vec<&Key>> = BTreeMap::new();
    for k in keys {
        by_db.entry(k.db).or_default().push(k);
    }
    for (db, ks) in by_db {
        w.select_db(db).unwrap();
        for k in ks {
            let meta = KeyMeta {
                expire_ms: k.expire_ms,
                ..KeyMeta::default()
            };
            w.key(&k.key, &k.value, meta).unwrap();
        }
    }
    w.finish().unwrap()
}

fn diff_across_encodings(keys: &[Key], pick: usize) -> Result<(), TestCaseError> {
    use rdbkit::diff::{diff, Change, DiffOptions};
    let simple: Vec<&Key> = keys
        .iter()
        .filter(|k| match &k.value {
            OwnedValue::String(_)
            | OwnedValue::List(_)
            | OwnedValue::Set(_)
            | OwnedValue::ZSet(_) => true,
            OwnedValue::Hash(h) => h.iter().all(|f| f.expire_ms.is_none()),
            _ => false,
        })
        .collect();
    if simple.is_empty() {
        return Ok(());
    }
    let a = write_simple(&simple, Target::redis(9), false);
    let b = write_simple(&simple, Target::redis(12), true);
    let run = |a: &[u8], b: &[u8]| {
        let mut found = Vec::new();
        let s = diff(&[("a", a)], &[("b", b)], &DiffOptions::default(), |d| {
            found.push((d.key.clone(), d.change));
            Ok(())
        })
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
        Ok::<_, TestCaseError>((s, found))
    };
    let (s, found) = run(&a, &b)?;
    prop_assert!(found.is_empty(), "{:?}", found);
    prop_assert_eq!(s.equal as usize, simple.len());
    // One element changed in one key.
    let i = pick % simple.len();
    let mut changed = simple[i].clone();
    let new = |x: &[u8]| {
        let mut v = x.to_vec();
        v.extend_from_slice(b"\x00changed");
        v
    };
    changed.value = match &changed.value {
        OwnedValue::String(v) => OwnedValue::String(new(v)),
        OwnedValue::List(l) if !l.is_empty() => {
            let mut l = l.clone();
            let j = pick % l.len();
            l[j] = new(&l[j]);
            OwnedValue::List(l)
        }
        OwnedValue::Set(m) => {
            let mut m = m.clone();
            m.push(b"\x00a member of its own".to_vec());
            OwnedValue::Set(m)
        }
        OwnedValue::ZSet(z) if !z.is_empty() => {
            let mut z = z.clone();
            let j = pick % z.len();
            z[j].1 = if z[j].1 == 1.0 { 2.0 } else { 1.0 };
            OwnedValue::ZSet(z)
        }
        OwnedValue::Hash(h) if !h.is_empty() => {
            let mut h = h.clone();
            let j = pick % h.len();
            h[j].value = new(&h[j].value);
            OwnedValue::Hash(h)
        }
        OwnedValue::List(_) => OwnedValue::List(vec![b"now one".to_vec()]),
        OwnedValue::ZSet(_) => OwnedValue::ZSet(vec![(b"now one".to_vec(), 0.5)]),
        _ => OwnedValue::Hash(vec![HashEntry {
            field: b"now one".to_vec(),
            value: b"v".to_vec(),
            expire_ms: None,
        }]),
    };
    let mut others: Vec<&Key> = simple.clone();
    others[i] = &changed;
    let b = write_simple(&others, Target::redis(12), true);
    let (s, found) = run(&a, &b)?;
    prop_assert_eq!(found, vec![(changed.key.clone(), Change::Value)]);
    prop_assert_eq!(s.equal as usize, simple.len() - 1);
    Ok(())
}

/// Big collections past every compact-encoding limit, and one-element ones.
#[test]
fn huge_and_tiny_collections() {
    let big: Vec<Vec<u8>> = (0..5000)
        .map(|i| format!("element-{i}").into_bytes())
        .collect();
    let ints: Vec<Vec<u8>> = (0..700)
        .map(|i: i64| (i * 1_000_003 - 9).to_string().into_bytes())
        .collect();
    let huge_elem = vec![vec![b'x'; 100_000], b"1".to_vec()];
    let fields: Vec<HashEntry> = (0..700)
        .map(|i| HashEntry {
            field: format!("f{i}").into_bytes(),
            value: vec![b'v'; i % 100],
            expire_ms: None,
        })
        .collect();
    let keys = vec![
        Key {
            db: 0,
            key: b"big-list".to_vec(),
            value: OwnedValue::List(big.clone()),
            expire_ms: None,
        },
        Key {
            db: 0,
            key: b"huge-elements".to_vec(),
            value: OwnedValue::List(huge_elem),
            expire_ms: None,
        },
        Key {
            db: 0,
            key: b"big-set".to_vec(),
            value: OwnedValue::Set(big.clone()),
            expire_ms: None,
        },
        Key {
            db: 0,
            key: b"big-intset".to_vec(),
            value: OwnedValue::Set(ints),
            expire_ms: None,
        },
        Key {
            db: 0,
            key: b"big-zset".to_vec(),
            value: OwnedValue::ZSet(
                big.iter()
                    .enumerate()
                    .map(|(i, m)| (m.clone(), i as f64 / 3.0))
                    .collect(),
            ),
            expire_ms: None,
        },
        Key {
            db: 0,
            key: b"big-hash".to_vec(),
            value: OwnedValue::Hash(fields),
            expire_ms: Some(2_000_000_000_000),
        },
        Key {
            db: 1,
            key: b"one".to_vec(),
            value: OwnedValue::List(vec![b"1".to_vec()]),
            expire_ms: None,
        },
        Key {
            db: 1,
            key: b"one-set".to_vec(),
            value: OwnedValue::Set(vec![b"-0".to_vec()]),
            expire_ms: None,
        },
        Key {
            db: 1,
            key: b"one-zset".to_vec(),
            value: OwnedValue::ZSet(vec![(b"m".to_vec(), f64::NEG_INFINITY)]),
            expire_ms: None,
        },
        Key {
            db: 1,
            key: b"empty-list".to_vec(),
            value: OwnedValue::List(Vec::new()),
            expire_ms: None,
        },
        Key {
            db: 1,
            key: b"big-stream".to_vec(),
            value: OwnedValue::Stream(Box::new(StreamValue {
                entries: (0..1000u64)
                    .map(|i| {
                        (
                            StreamId {
                                ms: 1000 + i / 3,
                                seq: i % 3,
                            },
                            vec![(
                                b"k".to_vec(),
                                format!("{i}").repeat((i % 50) as usize + 1).into_bytes(),
                            )],
                        )
                    })
                    .collect(),
                last_id: StreamId { ms: 5000, seq: 0 },
                ..StreamValue::default()
            })),
            expire_ms: None,
        },
    ];
    for t in targets() {
        round_trip(&keys, t).unwrap_or_else(|e| panic!("{t}: {e}"));
    }
}
