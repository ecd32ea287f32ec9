//! The pairs of merge fixtures (`tests/fixtures/merge/NAME-{a,b}.rdb`,
//! written by real servers) and what a written file holds, for the tests
//! comparing merges (`merge_bytes.rs`, `merge_split.rs`).
#![allow(dead_code)]

use std::path::PathBuf;

use rdbkit::decode::{Decoder, Item, Options};

use super::servers::repo;

pub fn fx(name: &str) -> PathBuf {
    repo().join("tests/fixtures/merge").join(name)
}

/// The pairs of fixtures (`NAME-a.rdb`, `NAME-b.rdb`).
pub fn pairs() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(repo().join("tests/fixtures/merge"))
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().into_string().unwrap();
            n.strip_suffix("-a.rdb").map(str::to_string)
        })
        .collect();
    v.sort();
    assert!(v.len() >= 5, "fixture pairs: {v:?}");
    v
}

/// What a merged file holds, in file order: aux fields other than
/// `ctime`, functions, and per key record its database, key, expiry,
/// LRU/LFU and encoded value bytes.
pub fn records(data: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    for item in Decoder::new(data, Options::default()).unwrap() {
        match item.unwrap() {
            Item::Aux { key, value } => {
                let key = key.to_bytes().unwrap().into_owned();
                if key != b"ctime" {
                    out.push(format!("aux {key:?} {:?}", value.to_bytes().unwrap()));
                }
            }
            Item::Function(code) => out.push(format!("function {:?}", code.to_bytes().unwrap())),
            Item::SelectDb(db) => out.push(format!("db {db}")),
            Item::ResizeDb { keys, expires } => out.push(format!("resize {keys} {expires}")),
            Item::Key(k) => out.push(format!(
                "key {} {:?} {:?} {:?} {:?} {:?}",
                k.db,
                k.key.to_bytes().unwrap(),
                k.expire_ms,
                k.idle,
                k.freq,
                k.value.raw()
            )),
            Item::Eof { .. } => out.push("eof".into()),
            other => out.push(format!("{other:?}")),
        }
    }
    out
}
