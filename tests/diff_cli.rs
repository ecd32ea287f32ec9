//! `rdbkit diff` end to end: the README merge round trip is equal; a copy
//! with deliberate changes (value, type, TTL, a key missing, a key added),
//! written for another RDB version, reports each of them with its kind and
//! nothing else; options restrict and tune the comparison; a key twice on
//! one side with different values is reported; a corrupt input is exit 1
//! with no verdict printed. Agreement with real servers' `DEBUG
//! DIGEST-VALUE` is `tests/diff_servers.rs`.

#[path = "common/cli.rs"]
mod cli;
#[path = "common/servers.rs"]
mod servers;

use cli::*;
use servers::rdbkit;
use std::path::PathBuf;
use std::process::Output;

use rdbkit::encode::{HashEntry, KeyMeta, OwnedValue, RdbWriter, Target};
use serde_json::Value;

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("rdbkit-diff-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }

    fn file(&self, name: &str, data: &[u8]) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, data).unwrap();
        p.display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

type Dataset = Vec<(Vec<u8>, OwnedValue, Option<i64>)>;

fn he(field: Vec<u8>, value: Vec<u8>) -> HashEntry {
    HashEntry {
        field,
        value,
        expire_ms: None,
    }
}

fn write(t: Target, keys: &Dataset) -> Vec<u8> {
    let mut w = RdbWriter::new(Vec::new(), t).unwrap();
    w.select_db(0).unwrap();
    for (k, v, e) in keys {
        let meta = KeyMeta {
            expire_ms: *e,
            ..KeyMeta::default()
        };
        w.key(k, v, meta).unwrap();
    }
    w.finish().unwrap()
}

/// The expiry of the keys that have one: one fixed instant for both sides.
fn far() -> i64 {
    static FAR: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *FAR.get_or_init(|| rdbkit::now_ms() + 86_400_000)
}

fn base() -> Dataset {
    let b = |s: &str| s.as_bytes().to_vec();
    let far = far();
    let mut keys: Dataset = vec![
        (b("s:int"), OwnedValue::String(b("12345")), None),
        (b("s:text"), OwnedValue::String(b("hello")), Some(far)),
        (
            b("l:small"),
            OwnedValue::List((0..5).map(|i| format!("e{i}").into_bytes()).collect()),
            None,
        ),
        (
            b("l:big"),
            OwnedValue::List(
                (0..3000)
                    .map(|i| format!("element-{i}").into_bytes())
                    .collect(),
            ),
            None,
        ),
        (
            b("set:ints"),
            OwnedValue::Set((0..100).map(|i| i.to_string().into_bytes()).collect()),
            None,
        ),
        (
            b("set:words"),
            OwnedValue::Set((0..20).map(|i| format!("w{i}").into_bytes()).collect()),
            Some(far),
        ),
        (
            b("z:small"),
            OwnedValue::ZSet(vec![(b("a"), 1.0), (b("b"), f64::INFINITY), (b("c"), -0.5)]),
            None,
        ),
        (
            b("z:big"),
            OwnedValue::ZSet(
                (0..500)
                    .map(|i| (format!("m{i}").into_bytes(), i as f64 / 3.0))
                    .collect(),
            ),
            None,
        ),
        (
            b("h:small"),
            OwnedValue::Hash(
                (0..4)
                    .map(|i| he(format!("f{i}").into_bytes(), format!("v{i}").into_bytes()))
                    .collect(),
            ),
            None,
        ),
        (
            b("h:big"),
            OwnedValue::Hash(
                (0..900)
                    .map(|i| he(format!("field{i}").into_bytes(), vec![b'x'; i % 90]))
                    .collect(),
            ),
            None,
        ),
    ];
    for i in 0..200 {
        keys.push((
            format!("k:{i}").into_bytes(),
            OwnedValue::String(format!("{i}").into_bytes()),
            None,
        ));
    }
    keys
}

fn json_lines(o: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

#[test]
fn merge_round_trip_is_equal() {
    let d = Dir::new("roundtrip");
    let merged = d.0.join("merged.rdb");
    let (a, b) = (example("dump1.rdb"), example("dump2.rdb"));
    let o = rdbkit(&[
        "merge",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "-o",
        merged.to_str().unwrap(),
        "--expect-keys",
        "1278,1327",
        "--drop-dynomite-metadata",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = rdbkit(&[
        "diff",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--against",
        merged.to_str().unwrap(),
        "--ignore-key",
        r"^\._(add|rem)-set",
        "--format",
        "jsonl",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let lines = json_lines(&o);
    assert_eq!(lines.len(), 1);
    let s = &lines[0]["summary"];
    assert_eq!(s["equal"], s["left_keys"]);
    assert!(s["equal"].as_u64().unwrap() > 2000);
    // Without ignoring Dynomite's bookkeeping keys the merge dropped,
    // they are what differs, and only they.
    let o = rdbkit(&[
        "diff",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--against",
        merged.to_str().unwrap(),
        "--format",
        "jsonl",
    ]);
    assert_eq!(o.status.code(), Some(1));
    for l in json_lines(&o).iter().filter(|l| l.get("summary").is_none()) {
        let key = l["key"].as_str().unwrap();
        assert!(
            key.starts_with("._add-set") || key.starts_with("._rem-set"),
            "{l}"
        );
        assert!(
            matches!(l["change"].as_str(), Some("only_left" | "duplicate_left")),
            "{l}"
        );
    }
}

#[test]
fn reports_each_deliberate_change_and_nothing_else() {
    let d = Dir::new("changes");
    let left = base();
    let mut right = base();
    let b = |s: &str| s.as_bytes().to_vec();
    let set = |right: &mut Dataset, key: &str, v: OwnedValue, e: Option<i64>| {
        let i = right.iter().position(|k| k.0 == key.as_bytes()).unwrap();
        right[i].1 = v;
        right[i].2 = e;
    };
    // value: one list element, one zset score, one hash field value.
    let mut l = (0..3000)
        .map(|i| format!("element-{i}").into_bytes())
        .collect::<Vec<_>>();
    l[1777] = b("changed");
    set(&mut right, "l:big", OwnedValue::List(l), None);
    set(
        &mut right,
        "z:small",
        OwnedValue::ZSet(vec![
            (b("a"), 1.0),
            (b("b"), f64::NEG_INFINITY),
            (b("c"), -0.5),
        ]),
        None,
    );
    let mut h: Vec<HashEntry> = (0..4)
        .map(|i| he(format!("f{i}").into_bytes(), format!("v{i}").into_bytes()))
        .collect();
    h[2] = he(b("f2"), b("other"));
    h.push(he(b("f9"), b("new")));
    set(&mut right, "h:small", OwnedValue::Hash(h), None);
    // type: a string becomes a list.
    set(
        &mut right,
        "s:int",
        OwnedValue::List(vec![b("12345")]),
        None,
    );
    // ttl: an expiry added, one moved.
    set(
        &mut right,
        "set:ints",
        OwnedValue::Set((0..100).map(|i| i.to_string().into_bytes()).collect()),
        Some(rdbkit::now_ms() + 3_600_000),
    );
    // missing and extra keys; the order changes too.
    right.retain(|k| k.0 != b"k:7");
    right.push((b("k:new"), OwnedValue::String(b("x")), None));
    right.reverse();
    let lf = d.file("left.rdb", &write(Target::redis(9), &left));
    let rf = d.file("right.rdb", &write(Target::redis(11), &right));
    let o = rdbkit(&["diff", &lf, "--against", &rf, "--format", "jsonl"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let lines = json_lines(&o);
    let mut got: Vec<(String, String)> = lines
        .iter()
        .filter(|l| l.get("summary").is_none())
        .map(|l| {
            (
                l["key"].as_str().unwrap().to_string(),
                l["change"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = [
        ("h:small", "value"),
        ("k:7", "only_left"),
        ("k:new", "only_right"),
        ("l:big", "value"),
        ("s:int", "type"),
        ("set:ints", "ttl"),
        ("z:small", "value"),
    ]
    .iter()
    .map(|(k, c)| (k.to_string(), c.to_string()))
    .collect();
    want.sort();
    assert_eq!(got, want);
    let s = &lines.last().unwrap()["summary"];
    assert_eq!(
        (s["left_keys"].as_u64(), s["right_keys"].as_u64()),
        (Some(210), Some(210))
    );
    assert_eq!(s["equal"].as_u64(), Some(204));
    // The hash's detail names the changed and the added field; the sides
    // say what each holds.
    let h = lines.iter().find(|l| l["key"] == "h:small").unwrap();
    assert_eq!(h["differing"], serde_json::json!(["f2"]));
    assert_eq!(h["only_right"], serde_json::json!(["f9"]));
    assert_eq!(
        (
            h["left"]["elements"].as_u64(),
            h["right"]["elements"].as_u64()
        ),
        (Some(4), Some(5))
    );
    let z = lines.iter().find(|l| l["key"] == "z:small").unwrap();
    assert_eq!(z["differing"], serde_json::json!(["b"]));
    let t = lines.iter().find(|l| l["key"] == "s:int").unwrap();
    assert_eq!(
        (t["left"]["type"].as_str(), t["right"]["type"].as_str()),
        (Some("string"), Some("list"))
    );
    // --ignore-ttl hides the TTL change; a tolerance of an hour and more
    // does too; --type and --key restrict both sides; --limit prints less
    // but counts all.
    let count = |args: &[&str]| -> (Option<i32>, u64) {
        let mut a = vec!["diff", &lf, "--against", &rf, "--format", "jsonl"];
        a.extend_from_slice(args);
        let o = rdbkit(&a);
        let l = json_lines(&o);
        let s = &l.last().unwrap()["summary"];
        let n = [
            "only_left",
            "only_right",
            "type",
            "value",
            "ttl",
            "duplicates",
        ]
        .iter()
        .map(|f| s[f].as_u64().unwrap())
        .sum();
        (o.status.code(), n)
    };
    assert_eq!(count(&[]), (Some(1), 7));
    assert_eq!(count(&["--ignore-ttl"]), (Some(1), 6));
    assert_eq!(
        count(&["--ttl-tolerance", "86400000"]).1,
        7,
        "one side has no expiry"
    );
    assert_eq!(count(&["--type", "zset"]), (Some(1), 1));
    assert_eq!(count(&["--key", "^k:"]), (Some(1), 2));
    assert_eq!(count(&["--key", "^set:words$"]), (Some(0), 0));
    let o = rdbkit(&[
        "diff",
        &lf,
        "--against",
        &rf,
        "--format",
        "jsonl",
        "--limit",
        "2",
    ]);
    let l = json_lines(&o);
    assert_eq!(l.len(), 3);
    assert_eq!(l[2]["summary"]["value"].as_u64(), Some(3));
    // The text form says the same for people.
    let o = rdbkit(&["diff", &lf, "--against", &rf]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("only_left") && text.contains("k:7"), "{text}");
    assert!(
        text.lines().last().unwrap().starts_with("different:"),
        "{text}"
    );
}

#[test]
fn duplicates_within_a_side_and_bad_input() {
    let d = Dir::new("dups");
    let b = |s: &str| s.as_bytes().to_vec();
    let one = vec![
        (b("a"), OwnedValue::String(b("1")), None),
        (b("same"), OwnedValue::String(b("s")), None),
    ];
    let two = vec![
        (b("a"), OwnedValue::String(b("2")), None),
        (b("same"), OwnedValue::String(b("s")), None),
    ];
    let f1 = d.file("n1.rdb", &write(Target::redis(10), &one));
    let f2 = d.file("n2.rdb", &write(Target::redis(10), &two));
    // Node 1 and node 2 against node 1: "a" differs between the nodes.
    let o = rdbkit(&["diff", &f1, &f2, "--against", &f1, "--format", "jsonl"]);
    assert_eq!(o.status.code(), Some(1));
    let l = json_lines(&o);
    assert_eq!(l[0]["change"], "duplicate_left");
    assert_eq!(l[0]["key"], "a");
    assert_eq!(l.last().unwrap()["summary"]["duplicates"].as_u64(), Some(1));
    assert_eq!(l.last().unwrap()["summary"]["equal"].as_u64(), Some(2));
    // A truncated input: exit 1, the offset named, no verdict printed.
    let data = std::fs::read(example("dump1.rdb")).unwrap();
    let cut = d.file("cut.rdb", &data[..data.len() * 2 / 3]);
    for args in [
        vec!["diff", &cut[..], "--against", &f1],
        vec!["diff", &f1, "--against", &cut[..]],
    ] {
        let o = rdbkit(&args);
        assert_eq!(o.status.code(), Some(1));
        assert!(
            o.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&o.stdout)
        );
        assert!(String::from_utf8_lossy(&o.stderr).contains("offset"));
    }
    // Usage errors.
    let o = rdbkit(&["diff", &f1]);
    assert_eq!(o.status.code(), Some(2));
    let o = rdbkit(&["diff", &f1, "--against", &f2, "--format", "xml"]);
    assert_eq!(o.status.code(), Some(2));
    let o = rdbkit(&["diff", &f1, "--against", "/nonexistent/x.rdb"]);
    assert_eq!(o.status.code(), Some(2));
}
