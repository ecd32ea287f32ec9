//! The merge library over the small real-server fixtures of
//! `tests/fixtures/merge/` (made by `scripts/make-merge-fixtures.py`) and a
//! few files built with the encoder (limits): databases, function
//! libraries, module aux data, cluster slot info, expiry, targets, limits.

#[path = "common/servers.rs"]
mod servers;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rdbkit::decode::{Checksum, Decoder, Item, Options};
use rdbkit::encode::{write_len, write_str, KeyMeta, OwnedValue, RdbWriter, StrOpts, Target};
use rdbkit::merge::{merge, Cause, MergeError, MergeOptions, MergeReport, Policy};
use rdbkit::{ErrorKind, Loss};
use servers::*;

fn fx(name: &str) -> PathBuf {
    repo().join("tests/fixtures/merge").join(name)
}

fn opts(inputs: &[&str], out: &Path) -> MergeOptions {
    MergeOptions::new(inputs.iter().map(|n| fx(n)).collect(), out.to_path_buf())
}

fn refused(r: Result<MergeReport, MergeError>) -> (String, MergeReport) {
    match r {
        Err(e @ MergeError::Refused { .. }) => {
            let rep = e.report().unwrap().clone();
            assert_eq!(rep.status, "refused");
            (e.to_string(), rep)
        }
        Err(e) => panic!("expected a refusal, got an I/O error: {e}"),
        Ok(_) => panic!("expected a refusal, the merge succeeded"),
    }
}

/// What a written file holds.
#[derive(Default, Debug)]
struct Content {
    aux: Vec<(String, String)>,
    keys: BTreeMap<(u64, String), (String, Option<i64>)>,
    resize: BTreeMap<u64, (u64, u64)>,
    functions: Vec<String>,
    slot_infos: usize,
    checksum_ok: bool,
    version: u32,
}

fn content(path: &Path) -> Content {
    let data = std::fs::read(path).unwrap();
    let mut c = Content::default();
    let mut db = 0;
    let dec = Decoder::new(&data, Options::default()).unwrap();
    c.version = dec.header().version;
    for item in dec {
        match item.unwrap() {
            Item::Aux { key, value } => c.aux.push((
                String::from_utf8_lossy(&key.to_bytes().unwrap()).into_owned(),
                String::from_utf8_lossy(&value.to_bytes().unwrap()).into_owned(),
            )),
            Item::SelectDb(d) => db = d,
            Item::ResizeDb { keys, expires } => {
                c.resize.insert(db, (keys, expires));
            }
            Item::Function(code) => c
                .functions
                .push(String::from_utf8_lossy(&code.to_bytes().unwrap()).into_owned()),
            Item::SlotInfo { .. } => c.slot_infos += 1,
            Item::Key(k) => {
                let v = match k.value.string() {
                    Ok(s) => String::from_utf8_lossy(&s.to_bytes().unwrap()).into_owned(),
                    Err(_) => k.value.kind().name().to_string(),
                };
                let key = String::from_utf8_lossy(&k.key.to_bytes().unwrap()).into_owned();
                assert!(
                    c.keys.insert((k.db, key), (v, k.expire_ms)).is_none(),
                    "duplicate key"
                );
            }
            Item::Eof { checksum, .. } => c.checksum_ok = matches!(checksum, Checksum::Verified(_)),
            _ => {}
        }
    }
    // RESIZEDB carries the true counts.
    for (db, (keys, expires)) in &c.resize {
        let n = c.keys.keys().filter(|(d, _)| d == db).count() as u64;
        let e = c
            .keys
            .iter()
            .filter(|((d, _), v)| d == db && v.1.is_some())
            .count() as u64;
        assert_eq!((*keys, *expires), (n, e), "RESIZEDB of db {db}");
    }
    c
}

fn aux_names(c: &Content) -> Vec<&str> {
    c.aux.iter().map(|(k, _)| k.as_str()).collect()
}

#[test]
fn databases_other_than_0_are_refused_by_default() {
    let s = TempDir::new("mfx-db");
    let out = s.join("o.rdb");
    let e = merge(&opts(&["multidb-a.rdb", "multidb-b.rdb"], &out)).unwrap_err();
    // The cause, typed: keys per database of all inputs.
    match e.causes() {
        [Cause::KeysOutsideDb0 { per_db }] => {
            assert_eq!(per_db, &BTreeMap::from([(3, 5)]))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.report().unwrap().problems, e.causes());
    let (msg, rep) = refused(Err(e));
    assert!(
        msg.contains("databases other than 0 (db 3: 5 keys)"),
        "{msg}"
    );
    // The library names no command-line flag.
    assert!(!msg.contains("--"), "{msg}");
    assert!(!out.exists());
    assert_eq!(listing(&s.0), Vec::<String>::new());
    assert_eq!(rep.inputs[0].report.as_ref().unwrap().dbs[&3].keys, 3);
}

#[test]
fn keep_dbs() {
    let s = TempDir::new("mfx-keep");
    let out = s.join("o.rdb");
    let mut o = opts(&["multidb-a.rdb", "multidb-b.rdb"], &out);
    o.keep_dbs = true;
    let r = merge(&o).unwrap();
    // `dup` in db 0 and `db3:same` in db 3 are identical on both nodes.
    assert_eq!(r.duplicate_keys, 2);
    assert_eq!(r.conflicts_total, 0);
    let c = content(&out);
    assert_eq!(c.resize, BTreeMap::from([(0, (3, 0)), (3, (4, 0))]));
    assert_eq!(c.keys[&(3, "dup".to_string())].0, "in db 3");
    assert_eq!(c.keys[&(0, "dup".to_string())].0, "in db 0");
}

/// One phase as a [`ProgressSink`] saw it: name, total bytes, bytes and
/// keys reported, and how often the phase was finished.
type Seen = (&'static str, u64, u64, u64, u32);

/// What a [`ProgressSink`] was told.
///
/// [`ProgressSink`]: rdbkit::merge::ProgressSink
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<Seen>>);

impl rdbkit::merge::ProgressSink for Recorder {
    fn phase(&self, name: &'static str, total: u64) {
        self.0.lock().unwrap().push((name, total, 0, 0, 0));
    }
    fn advance(&self, bytes: u64, keys: u64) {
        let mut v = self.0.lock().unwrap();
        let p = v.last_mut().expect("progress before the first phase");
        p.2 += bytes;
        p.3 += keys;
    }
    fn finish(&self) {
        if let Some(p) = self.0.lock().unwrap().last_mut() {
            p.4 += 1;
        }
    }
}

/// A progress sink sees every phase of a merge with a `.gz` output, in
/// order, with its bytes and keys.
#[test]
fn progress_reaches_the_sink() {
    let s = TempDir::new("mfx-progress");
    let out = s.join("o.rdb.gz");
    let mut o = opts(&["multidb-a.rdb", "multidb-b.rdb"], &out);
    o.keep_dbs = true;
    let rec = std::sync::Arc::new(Recorder::default());
    o.progress = Some(rec.clone());
    let r = merge(&o).unwrap();
    let inputs: u64 = o
        .inputs
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    let phases = rec.0.lock().unwrap().clone();
    let names: Vec<&str> = phases.iter().map(|p| p.0).collect();
    assert_eq!(
        names,
        [
            "verifying inputs",
            "writing",
            "verifying output",
            "compressing"
        ]
    );
    assert_eq!(phases[0].1, inputs);
    assert!(phases.iter().all(|p| 0 < p.2 && p.2 <= p.1), "{phases:?}");
    assert_eq!(phases[2].3, r.output_keys(), "{phases:?}");
    assert!(phases[3].4 >= 1, "the last phase is finished: {phases:?}");
    // The report keeps the options, not the sink.
    assert!(r.options.progress.is_none() && r.options.keep_dbs);
}

#[test]
fn flatten_dbs_makes_cross_db_collisions_conflicts() {
    let s = TempDir::new("mfx-flat");
    let out = s.join("o.rdb");
    let mut o = opts(&["multidb-a.rdb", "multidb-b.rdb"], &out);
    o.flatten_dbs = true;
    let (msg, rep) = refused(merge(&o));
    assert!(msg.contains("1 keys differ between inputs"), "{msg}");
    assert_eq!(rep.conflicts[0].key, b"dup");
    assert_eq!(rep.conflicts[0].copies.len(), 3);
    assert!(!out.exists());
    o.policy = Policy::First;
    let r = merge(&o).unwrap();
    assert_eq!(r.conflicts_total, 1);
    assert_eq!(r.conflicts[0].kept, Some(0));
    let c = content(&out);
    assert_eq!(c.resize, BTreeMap::from([(0, (6, 0))]));
    assert_eq!(c.keys[&(0, "dup".to_string())].0, "in db 0");
    assert_eq!(c.keys[&(0, "db3:same".to_string())].0, "identical");
}

#[test]
fn function_libraries() {
    let s = TempDir::new("mfx-fn");
    let out = s.join("o.rdb");
    let (msg, rep) = refused(merge(&opts(&["funcs-a.rdb", "funcs-b.rdb"], &out)));
    assert!(
        msg.contains("function library 'differs' differs between input 1 and input 2"),
        "{msg}"
    );
    assert_eq!(rep.functions_deduplicated, 1, "'same' is identical");
    for (policy, tag) in [(Policy::First, "a"), (Policy::Last, "b")] {
        let mut o = opts(&["funcs-a.rdb", "funcs-b.rdb"], &out);
        o.policy = policy;
        o.force = true;
        let r = merge(&o).unwrap();
        assert_eq!(r.function_conflicts, vec!["differs"]);
        let c = content(&out);
        assert_eq!(c.functions.len(), 2);
        assert!(c.functions.iter().any(|f| f.starts_with("#!lua name=same")));
        let d = c
            .functions
            .iter()
            .find(|f| f.starts_with("#!lua name=differs"))
            .unwrap();
        assert!(d.contains(&format!("differs_{tag}")), "{policy:?}: {d}");
    }
}

#[test]
fn differing_module_aux_is_an_error() {
    let s = TempDir::new("mfx-aux");
    let out = s.join("o.rdb");
    let mut o = opts(&["search-a.rdb", "search-b.rdb"], &out);
    o.policy = Policy::Last; // a policy for keys does not apply to aux data
    let (msg, rep) = refused(merge(&o));
    assert!(msg.contains("module aux data of"), "{msg}");
    assert!(msg.contains("differs between input 1 and input 2"), "{msg}");
    assert!(!rep.inputs[0].report.as_ref().unwrap().module_aux.is_empty());
    // The same content twice, in two files (two nodes holding the same
    // keys): one copy. (The same file given twice is refused.)
    let copy = s.join("search-a-copy.rdb");
    std::fs::copy(fx("search-a.rdb"), &copy).unwrap();
    let mut o = MergeOptions::new(vec![fx("search-a.rdb"), copy], out.clone());
    o.policy = Policy::First;
    let r = merge(&o).unwrap();
    let n = r.inputs[0].report.as_ref().unwrap().module_aux.len();
    assert!(n > 0);
    assert_eq!(r.module_aux_deduplicated, n as u64);
    assert_eq!(r.module_aux.len(), n);
    assert_eq!(r.duplicate_keys, 1, "doc:a:1 is in both");
}

#[test]
fn cluster_slot_info_is_dropped_and_aux_is_fresh() {
    let s = TempDir::new("mfx-slots");
    let out = s.join("o.rdb");
    let r = merge(&opts(&["cluster-redis-a.rdb", "cluster-redis-b.rdb"], &out)).unwrap();
    assert!(r
        .inputs
        .iter()
        .all(|i| i.report.as_ref().unwrap().slot_infos > 0));
    let c = content(&out);
    assert_eq!(c.slot_infos, 0);
    assert_eq!(c.keys.len(), 42);
    assert_eq!(c.version, 12);
    assert!(c.checksum_ok);
    assert_eq!(
        aux_names(&c),
        ["redis-ver", "redis-bits", "ctime", "used-mem"]
    );
    assert_eq!(c.aux[0].1, "7.4.1", "producer of the target's format");

    let out = s.join("v.rdb");
    let r = merge(&opts(
        &["cluster-valkey-a.rdb", "cluster-valkey-b.rdb"],
        &out,
    ))
    .unwrap();
    assert!(r
        .inputs
        .iter()
        .all(|i| i.report.as_ref().unwrap().slot_infos > 0));
    let c = content(&out);
    assert_eq!(
        aux_names(&c),
        ["valkey-ver", "redis-bits", "ctime", "used-mem"]
    );
    assert_eq!(c.aux[0].1, "8.1.8");
    assert_eq!(c.version, 11);
    assert_eq!(c.keys.len(), 42);
}

#[test]
fn expiry() {
    let s = TempDir::new("mfx-exp");
    let out = s.join("o.rdb");
    let ins = ["expiring-a.rdb", "expiring-b.rdb"];
    // Kept, counted as already expired at import time.
    let r = merge(&opts(&ins, &out)).unwrap();
    assert_eq!(r.output_keys(), 18);
    assert_eq!(r.expired_at_import, 6);
    assert_eq!(r.expected_dbsize_after_import(), 12);
    assert_eq!(r.to_json()["expected_dbsize_after_import"], 12);
    assert_eq!(r.inputs[0].report.as_ref().unwrap().expired(), 3);
    // Importing in 2100 (after some TTLs end).
    let mut o = opts(&ins, &out);
    o.force = true;
    o.import_at = T2100 + 3;
    let r = merge(&o).unwrap();
    assert_eq!(r.expired_at_import, 6 + 2 * 3);
    // Dropped.
    let mut o = opts(&ins, &out);
    o.force = true;
    o.drop_expired_at = Some(rdbkit::now_ms());
    let r = merge(&o).unwrap();
    assert_eq!(r.dropped_expired, 6);
    assert_eq!(r.output_keys(), 12);
    assert_eq!(r.expired_at_import, 0);
    let c = content(&out);
    assert!(c.keys.keys().all(|(_, k)| !k.contains(":old:")));
}

#[test]
fn default_targets() {
    let s = TempDir::new("mfx-target");
    // Valkey 8.1 (REDIS0011 written by Valkey) with Valkey 9.1: VALKEY080.
    let out = s.join("v.rdb");
    let r = merge(&opts(&["cluster-valkey-a.rdb", "valkey9-a.rdb"], &out)).unwrap();
    assert_eq!(r.target.unwrap().to_string(), "VALKEY080");
    assert_eq!(r.reencoded_keys, 0);
    // Redis 7.4 with Valkey 9.1: needs --target.
    let out = s.join("m.rdb");
    let e = merge(&opts(&["cluster-redis-a.rdb", "valkey9-a.rdb"], &out)).unwrap_err();
    assert!(
        matches!(
            e.causes(),
            [Cause::MixedLineage {
                redis: 12,
                valkey: 80,
                ..
            }]
        ),
        "{e}"
    );
    let (msg, _) = refused(Err(e));
    assert!(msg.contains("there is no default output format"), "{msg}");
    assert!(!msg.contains("--"), "{msg}");
    assert!(!out.exists());
    let mut o = opts(&["cluster-redis-a.rdb", "valkey9-a.rdb"], &out);
    o.target = Some(Target::parse("valkey-9.1").unwrap());
    let r = merge(&o).unwrap();
    assert_eq!(r.output_keys(), 21 + 7);
    // Towards Redis 7.4: Valkey's hash with field TTLs (type 22) is rewritten.
    let out = s.join("r.rdb");
    let mut o = opts(&["cluster-redis-a.rdb", "valkey9-a.rdb"], &out);
    o.target = Some(Target::parse("redis-7.4").unwrap());
    let r = merge(&o).unwrap();
    assert_eq!(r.reencoded_keys, 1, "{:?}", r.to_json()["keys_reencoded"]);
    let c = content(&out);
    assert_eq!(c.version, 12);
    assert_eq!(c.keys[&(0, "a:hfe".to_string())].0, "hash");
}

/// A one-key file written with the encoder.
fn one_key_file(path: &Path, key: &[u8], value_bytes: Option<&[u8]>) {
    let mut w = RdbWriter::new(Vec::new(), Target::redis(11)).unwrap();
    w.select_db(0).unwrap();
    w.resize_db(1, 0).unwrap();
    match value_bytes {
        None => w
            .key(key, &OwnedValue::String(b"v".to_vec()), KeyMeta::default())
            .unwrap(),
        Some(v) => {
            let mut rec = vec![0u8]; // STRING
            write_str(&mut rec, key, StrOpts::default());
            rec.extend_from_slice(v);
            w.raw(&rec).unwrap();
        }
    }
    std::fs::write(path, w.finish().unwrap()).unwrap();
}

/// A conversion that would lose hash field TTLs is refused with a typed
/// cause: which loss, which key, and no command-line flag in the message.
#[test]
fn field_ttls_for_redis_7_0_are_a_typed_loss() {
    let s = TempDir::new("mfx-loss");
    let out = s.join("o.rdb");
    let input = repo().join("tests/fixtures/redis-7.4/all-types.rdb");
    let mut o = MergeOptions::new(vec![input], out.clone());
    o.keep_dbs = true;
    o.target = Some(Target::parse("redis-7.0").unwrap());
    // Only the field TTLs are not allowed.
    o.allow.stream_metadata = true;
    let e = merge(&o).unwrap_err();
    assert!(e.is_refusal(), "{e}");
    assert!(!e.causes().is_empty());
    for c in e.causes() {
        assert_eq!(c.loss(), Some(Loss::FieldTtls), "{c}");
        let Cause::Unencodable { input: 0, error } = c else {
            panic!("{c:?}");
        };
        let ErrorKind::LossNotAllowed {
            loss: Loss::FieldTtls,
            detail,
        } = error.kind()
        else {
            panic!("{error:?}");
        };
        assert!(detail.contains("REDIS0010"), "{detail}");
        assert!(error.key().unwrap().starts_with(b"hfe:"), "{error}");
        assert!(c.to_string().contains("AllowLoss::field_ttls"), "{c}");
    }
    assert!(!e.to_string().contains("--"), "{e}");
    assert!(!out.exists());
    // Allowed, they are dropped and counted.
    o.allow.field_ttls = true;
    let r = merge(&o).unwrap();
    assert!(r.losses.field_ttls > 0);
}

#[test]
fn key_over_64_kib_is_refused() {
    let s = TempDir::new("mfx-key");
    let big = s.join("big.rdb");
    let key = vec![b'k'; 64 * 1024 + 1];
    one_key_file(&big, &key, None);
    let ok = s.join("ok.rdb");
    one_key_file(&ok, &vec![b'k'; 64 * 1024], None);
    let out = s.join("o.rdb");
    let o = MergeOptions::new(vec![ok.clone(), big.clone()], out.clone());
    let e = merge(&o).unwrap_err();
    assert!(
        matches!(
            e.causes(),
            [Cause::KeyTooLong {
                input: 1,
                len: 65537,
                ..
            }]
        ),
        "{e}"
    );
    let (msg, rep) = refused(Err(e));
    assert!(msg.contains("input 2: key 'kkkk"), "{msg}");
    assert!(
        msg.contains("65537 bytes long, over the 64 KiB limit"),
        "{msg}"
    );
    assert_eq!(rep.problems_total, 1);
    assert!(!out.exists());
}

#[test]
fn value_over_512_mib_is_refused() {
    // A 512 MiB + 17 byte string of 'a', LZF-compressed to ~6 MB: one
    // literal and back-references of 264 bytes at distance 1.
    let ulen: u64 = 1 + 264 * 2_033_602;
    assert!(ulen > 512 << 20);
    let mut lzf = vec![0x00, b'a'];
    for _ in 0..2_033_602 {
        lzf.extend_from_slice(&[0xE0, 0xFF, 0x00]);
    }
    let mut v = vec![0xC3];
    write_len(&mut v, lzf.len() as u64);
    write_len(&mut v, ulen);
    v.extend_from_slice(&lzf);
    let s = TempDir::new("mfx-val");
    let big = s.join("big.rdb");
    one_key_file(&big, b"huge", Some(&v));
    let ok = s.join("ok.rdb");
    one_key_file(&ok, b"small", None);
    let out = s.join("o.rdb");
    let (msg, _) = refused(merge(&MergeOptions::new(vec![ok, big], out.clone())));
    assert!(
        msg.contains(&format!(
            "input 2: the string value of key 'huge' is {ulen} bytes, over the 512 MiB limit"
        )),
        "{msg}"
    );
    assert!(!out.exists());
}

#[test]
fn option_errors_are_not_refusals() {
    let s = TempDir::new("mfx-opts");
    let out = s.join("o.rdb");
    let mut o = opts(&["funcs-a.rdb", "funcs-b.rdb"], &out);
    o.policy = Policy::Owner;
    o.tokens = vec![Some(1), None];
    let e = merge(&o).unwrap_err();
    assert!(!e.is_refusal());
    assert!(e.to_string().contains("missing for input 2"), "{e}");
    let mut o = opts(&["funcs-a.rdb", "funcs-b.rdb"], &out);
    o.expect_keys = Some(vec![1]);
    assert!(!merge(&o).unwrap_err().is_refusal());
    let o = MergeOptions::new(vec![], out.clone());
    assert!(!merge(&o).unwrap_err().is_refusal());
    assert_eq!(listing(&s.0), Vec::<String>::new());
}

#[test]
fn report_json_shape() {
    let s = TempDir::new("mfx-json");
    let out = s.join("o.rdb");
    let mut o = opts(&["multidb-a.rdb", "multidb-b.rdb"], &out);
    o.flatten_dbs = true;
    let (_, rep) = refused(merge(&o));
    let j = rep.to_json();
    assert_eq!(j["status"], "refused");
    assert_eq!(j["policy"], "error");
    assert_eq!(j["options"]["flatten_dbs"], true);
    let i = &j["inputs"][0];
    for field in [
        "path",
        "size",
        "version",
        "producer",
        "dbs",
        "types",
        "functions",
        "modules",
        "checksum",
    ] {
        assert!(!i[field].is_null(), "input field {field}");
    }
    assert_eq!(i["dbs"]["3"]["keys"], 3);
    assert_eq!(j["conflicts"]["count"], 1);
    assert_eq!(j["conflicts"]["list"][0]["copies"][1]["input"], 1);
    assert_eq!(j["duplicates"]["keys"], 1);
    assert_eq!(j["duplicates"]["list"][0]["key"], "db3:same");
    assert!(j["output"].is_null());
    assert!(j["error"].as_str().unwrap().contains("keys differ"));
}

/// A conflicting key that is not UTF-8 keeps its bytes in the report, and
/// its JSON form is `{"base64": ...}` (a lossy string would lose it).
#[test]
fn binary_conflict_keys_keep_their_bytes() {
    use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
    let s = TempDir::new("mfx-binary");
    let key = b"\xff\x00bin";
    let mut paths = Vec::new();
    for (name, v) in [("a.rdb", "1"), ("b.rdb", "2")] {
        let mut w = RdbWriter::new(Vec::new(), Target::redis(11)).unwrap();
        w.select_db(0).unwrap();
        w.key(
            key,
            &OwnedValue::String(v.as_bytes().to_vec()),
            KeyMeta::default(),
        )
        .unwrap();
        let p = s.join(name);
        std::fs::write(&p, w.finish().unwrap()).unwrap();
        paths.push(p);
    }
    let o = rdbkit::merge::MergeOptions::new(paths, s.join("o.rdb"));
    let (_, rep) = refused(merge(&o));
    assert_eq!(rep.conflicts[0].key, key);
    let j = rep.to_json();
    assert_eq!(j["conflicts"]["list"][0]["key"]["base64"], "/wBiaW4=");
}

/// `Policy::Custom`: the resolver sees every copy, and the copy it names
/// is the one the merged file holds; `None`, or an input that holds no
/// copy, leaves the conflict unresolved (refused).
#[test]
fn a_custom_resolver_choice_is_what_the_output_holds() {
    use rdbkit::merge::ConflictResolver;
    let s = TempDir::new("mfx-custom");
    let mut paths = Vec::new();
    for (name, v) in [
        ("a.rdb", "longest value"),
        ("b.rdb", "short"),
        ("c.rdb", "mid value"),
    ] {
        let mut w = RdbWriter::new(Vec::new(), Target::redis(11)).unwrap();
        w.select_db(0).unwrap();
        w.key(
            b"k",
            &OwnedValue::String(v.as_bytes().to_vec()),
            KeyMeta::default(),
        )
        .unwrap();
        w.key(
            name.as_bytes(),
            &OwnedValue::String(b"own".to_vec()),
            KeyMeta::default(),
        )
        .unwrap();
        let p = s.join(name);
        std::fs::write(&p, w.finish().unwrap()).unwrap();
        paths.push(p);
    }
    let out = s.join("o.rdb");
    let mut o = MergeOptions::new(paths, out.clone());
    o.policy = Policy::Custom;
    // Keep the shortest value's copy.
    o.resolver = Some(ConflictResolver::new(|c| {
        assert_eq!((c.key, c.copies.len()), (&b"k"[..], 3));
        c.copies
            .iter()
            .min_by_key(|(_, r)| r.value.string().unwrap().len())
            .map(|(i, _)| *i)
    }));
    let r = merge(&o).unwrap();
    assert_eq!(r.conflicts[0].kept, Some(1));
    let data = std::fs::read(&out).unwrap();
    let mut got = None;
    for item in Decoder::new(&data, Options::default()).unwrap() {
        if let Item::Key(k) = item.unwrap() {
            if &*k.key.to_bytes().unwrap() == b"k" {
                assert!(got.is_none(), "one copy");
                got = Some(k.value.string().unwrap().to_bytes().unwrap().into_owned());
            }
        }
    }
    assert_eq!(got.as_deref(), Some(&b"short"[..]));
    assert_eq!(r.output_keys(), 4);
    // No choice, or a choice of an input without a copy: refused.
    for pick in [None, Some(7)] {
        let _ = std::fs::remove_file(&out);
        o.resolver = Some(ConflictResolver::new(move |_| pick));
        let (msg, rep) = refused(merge(&o));
        assert!(msg.contains("1 keys differ"), "{msg}");
        assert_eq!(rep.conflicts_unresolved, 1);
        assert!(!out.exists());
    }
    // Custom without a resolver is a usage error.
    o.resolver = None;
    let e = merge(&o).unwrap_err();
    assert!(!e.is_refusal() && e.to_string().contains("resolver"), "{e}");
}
