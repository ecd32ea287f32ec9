//! Writes a file with a key of every common type from scratch, then
//! decodes and checks it.
//!
//!     cargo run --example build -- /tmp/built.rdb

use rdbkit::encode::{HashEntry, KeyMeta, OwnedValue, RdbWriter, Target};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: build OUT")?;
    let t: Target = "redis-7.2".parse()?;
    let mut w = RdbWriter::new(Vec::new(), t)?;
    w.track_keys();
    w.standard_aux(t.producer(), rdbkit::now_ms() as u64 / 1000, 0)?;
    w.select_db(0)?;
    w.resize_db(5, 1)?;
    let text = |s: &str| s.as_bytes().to_vec();
    let in_an_hour = KeyMeta {
        expire_ms: Some(rdbkit::now_ms() + 3_600_000),
        ..KeyMeta::default()
    };
    w.key(b"greeting", &OwnedValue::String(text("hello")), in_an_hour)?;
    w.key(
        b"queue",
        &OwnedValue::List(vec![text("a"), text("b")]),
        KeyMeta::default(),
    )?;
    w.key(
        b"tags",
        &OwnedValue::Set(vec![text("red"), text("blue")]),
        KeyMeta::default(),
    )?;
    w.key(
        b"scores",
        &OwnedValue::ZSet(vec![(text("ann"), 1.5), (text("bob"), 2.0)]),
        KeyMeta::default(),
    )?;
    let user = vec![HashEntry {
        field: text("name"),
        value: text("Ann"),
        expire_ms: None,
    }];
    w.key(b"user:1", &OwnedValue::Hash(user), KeyMeta::default())?;
    let file = w.finish()?;
    let stats = rdbkit::stats::inspect(&file, Default::default(), rdbkit::now_ms())?;
    assert_eq!((stats.keys(), stats.expires()), (5, 1));
    std::fs::write(&path, &file)?;
    println!(
        "{path}: {} bytes, {} keys, checksum {}",
        file.len(),
        stats.keys(),
        stats.checksum
    );
    Ok(())
}
