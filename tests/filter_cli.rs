//! `rdbkit filter` end to end: the kept keys are exactly those the options
//! select (checked against a plain reading of the input), the copy keeps
//! aux fields and functions, writes true `RESIZEDB` counts, and loads into
//! every installed real server that reads it with the promised `DBSIZE`;
//! bad input and bad destinations fail with the documented exit code and
//! leave nothing behind.

#[path = "common/cli.rs"]
mod cli;
#[path = "common/servers.rs"]
mod servers;

use cli::*;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Output;

use rdbkit::decode::{Decoder, Item, Options};
use rdbkit::encode::{KeyMeta, OwnedValue, RdbWriter, Target};
use servers::*;

fn filter(args: &[&str]) -> Output {
    rdbkit(&[&["filter"], args].concat())
}

/// (db, key) -> expiry of every key of a file, and its aux fields,
/// functions and `RESIZEDB` counts per database.
struct Read {
    keys: BTreeMap<(u64, Vec<u8>), Option<i64>>,
    kinds: BTreeMap<(u64, Vec<u8>), String>,
    aux: Vec<(Vec<u8>, Vec<u8>)>,
    functions: usize,
    resize: Vec<(u64, u64)>,
}

fn read(data: &[u8]) -> Read {
    let mut r = Read {
        keys: BTreeMap::new(),
        kinds: BTreeMap::new(),
        aux: Vec::new(),
        functions: 0,
        resize: Vec::new(),
    };
    for item in Decoder::new(data, Options::default()).unwrap() {
        match item.unwrap() {
            Item::Key(k) => {
                let key = k.key.to_bytes().unwrap().into_owned();
                r.kinds
                    .insert((k.db, key.clone()), k.value.kind().to_string());
                r.keys.insert((k.db, key), k.expire_ms);
            }
            Item::Aux { key, value } => r.aux.push((
                key.to_bytes().unwrap().into_owned(),
                value.to_bytes().unwrap().into_owned(),
            )),
            Item::Function(_) => r.functions += 1,
            Item::ResizeDb { keys, expires } => r.resize.push((keys, expires)),
            _ => {}
        }
    }
    r
}

/// Several databases, every type, keys with past and future expiries.
fn sample() -> Vec<u8> {
    let mut w = RdbWriter::new(Vec::new(), Target::redis(11)).unwrap();
    w.aux(b"redis-ver", b"7.2.4").unwrap();
    let now = rdbkit::now_ms();
    for db in [0u64, 3, 7] {
        w.select_db(db).unwrap();
        for i in 0..40u32 {
            let key = format!("{}:{db}:{i}", ["user", "cache", "job"][i as usize % 3]);
            let v = match i % 4 {
                0 => OwnedValue::String(format!("v{i}").into_bytes()),
                1 => OwnedValue::List(vec![b"a".to_vec(), b"b".to_vec()]),
                2 => OwnedValue::Set(vec![b"x".to_vec(), b"y".to_vec()]),
                _ => OwnedValue::ZSet(vec![(b"m".to_vec(), 1.5)]),
            };
            let expire_ms = match i % 5 {
                0 => Some(now - 60_000),
                1 => Some(now + 86_400_000),
                _ => None,
            };
            let meta = KeyMeta {
                expire_ms,
                ..KeyMeta::default()
            };
            w.key(key.as_bytes(), &v, meta).unwrap();
        }
    }
    w.finish().unwrap()
}

/// Whether a key (database, bytes, type, expiry) should be kept.
type Want = Box<dyn Fn(u64, &[u8], &str, Option<i64>) -> bool>;

#[test]
fn keeps_exactly_what_the_options_select() {
    let dir = TempDir::new("filter-select");
    let input = dir.join("in.rdb");
    std::fs::write(&input, sample()).unwrap();
    let before = read(&std::fs::read(&input).unwrap());
    let cut = rdbkit::now_ms();
    let cases: Vec<(Vec<String>, Want)> = vec![
        (
            vec![
                "--key".into(),
                "^user:".into(),
                "--key".into(),
                "^job:".into(),
            ],
            Box::new(|_, k, _, _| k.starts_with(b"user:") || k.starts_with(b"job:")),
        ),
        (
            vec!["--exclude-key".into(), ":1[0-9]$".into()],
            Box::new(|_, k, _, _| {
                let s = String::from_utf8_lossy(k);
                let last = s.rsplit(':').next().unwrap_or_default();
                !(last.len() == 2 && last.starts_with('1'))
            }),
        ),
        (
            vec![
                "--db".into(),
                "3".into(),
                "--db".into(),
                "7".into(),
                "--type".into(),
                "set".into(),
            ],
            Box::new(|db, _, kind, _| (db == 3 || db == 7) && kind == "set"),
        ),
        (
            vec![format!("--drop-expired={cut}")],
            Box::new(move |_, _, _, e| e.is_none_or(|e| e > cut)),
        ),
    ];
    for (i, (args, want)) in cases.iter().enumerate() {
        let out = dir.join(&format!("out{i}.rdb"));
        let mut a: Vec<&str> = vec![input.to_str().unwrap(), "-o", out.to_str().unwrap()];
        a.extend(args.iter().map(String::as_str));
        let printed = ok(&filter(&a));
        let got = read(&std::fs::read(&out).unwrap());
        let expected: BTreeSet<(u64, Vec<u8>)> = before
            .keys
            .iter()
            .filter(|((db, k), e)| want(*db, k, &before.kinds[&(*db, k.clone())], **e))
            .map(|(k, _)| k.clone())
            .collect();
        let kept: BTreeSet<(u64, Vec<u8>)> = got.keys.keys().cloned().collect();
        assert_eq!(kept, expected, "{args:?}");
        assert!(
            !kept.is_empty() && kept.len() < before.keys.len(),
            "{args:?}"
        );
        // Expiries kept as they were, aux fields copied, true RESIZEDB.
        for k in &kept {
            assert_eq!(got.keys[k], before.keys[k]);
        }
        assert_eq!(got.aux, before.aux);
        let mut per_db: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        for ((db, _), e) in &got.keys {
            let c = per_db.entry(*db).or_default();
            c.0 += 1;
            c.1 += u64::from(e.is_some());
        }
        assert_eq!(got.resize, per_db.values().copied().collect::<Vec<_>>());
        // The summary names every database with its counts.
        for (db, (n, _)) in &per_db {
            assert!(
                printed.contains(&format!("db {db}: kept {n},")),
                "{printed}"
            );
        }
        assert!(
            printed.contains(&format!("{} keys kept", kept.len())),
            "{printed}"
        );
    }
}

#[test]
fn output_loads_into_real_servers() {
    let Some(reg) = registry("filter_cli") else {
        return;
    };
    let dir = TempDir::new("filter-servers");
    let input = example("dump1.rdb");
    let before = read(&std::fs::read(&input).unwrap());
    let mut loaded = 0;
    for info in reg.iter().filter(|i| i.module_args.is_empty()) {
        let out = dir.join(&format!("{}.rdb", info.name));
        let target = info.target_name();
        let mut args = vec![
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--key",
            "^(user|session)",
            "--target",
            &target,
        ];
        if !info.has_functions() && before.functions > 0 {
            // Servers before 7.0 cannot hold function libraries; the
            // copy says so (exit 1) rather than drop them.
            let o = filter(&args);
            assert_eq!(o.status.code(), Some(1), "{}", info.name);
            assert!(!out.exists());
            continue;
        }
        args.push("--force");
        ok(&filter(&args));
        let got = read(&std::fs::read(&out).unwrap());
        assert_eq!(got.functions, before.functions);
        let want = got.keys.len() as i64;
        std::fs::copy(&out, dir.join("dump.rdb")).unwrap();
        let mut s = Server::start(info, dir.path(), "dump.rdb", &[])
            .unwrap_or_else(|e| panic!("{} refused the filtered file: {e}", info.name));
        let now = rdbkit::now_ms();
        let live = got
            .keys
            .values()
            .filter(|e| e.is_none_or(|e| e > now + 60_000))
            .count() as i64;
        let size = s.cmd(&["DBSIZE"]).int();
        assert!(
            size >= live && size <= want,
            "{}: DBSIZE {size}, {want} written",
            info.name
        );
        s.stop();
        loaded += 1;
    }
    eprintln!("filter: {loaded} servers loaded their filtered file");
    assert!(loaded >= 1, "no server loaded a filtered file");
}

#[test]
fn refuses_bad_destinations_and_bad_input_leaving_nothing() {
    let dir = TempDir::new("filter-safety");
    let input = dir.join("in.rdb");
    let data = std::fs::read(example("dump1.rdb")).unwrap();
    std::fs::write(&input, &data).unwrap();
    let inp = input.to_str().unwrap();
    // The output or the report on the input: exit 2, input untouched.
    for args in [
        vec![inp, "-o", inp, "--force"],
        vec![
            inp,
            "-o",
            dir.join("o.rdb").to_str().unwrap(),
            "--report",
            inp,
            "--force",
        ],
    ] {
        let o = filter(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert_eq!(std::fs::read(&input).unwrap(), data);
    }
    // An existing output is replaced only with --force.
    let out = dir.join("out.rdb");
    std::fs::write(&out, b"keep me").unwrap();
    let o = filter(&[inp, "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
    // A truncated input: exit 1, the offset named, no output, no
    // temporary file left.
    let cut = dir.join("cut.rdb");
    std::fs::write(&cut, &data[..data.len() / 2]).unwrap();
    let o2 = dir.join("o2.rdb");
    let o = filter(&[
        cut.to_str().unwrap(),
        "-o",
        o2.to_str().unwrap(),
        "--key",
        "user",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("offset"));
    assert!(!o2.exists());
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut expected = vec!["cut.rdb", "in.rdb", "out.rdb"];
    expected.sort_unstable();
    let mut names_sorted = names.clone();
    names_sorted.sort();
    assert_eq!(names_sorted, expected, "left behind: {names:?}");
    // A bad regex or type is a usage error.
    for bad in [["--key", "("], ["--type", "tree"]] {
        let o = filter(&[inp, "-o", o2.to_str().unwrap(), bad[0], bad[1]]);
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
    }
}
