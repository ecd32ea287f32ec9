//! The biggest keys of a dump, and key counts and bytes per type: a
//! visitor (`Sink`) over the scan engine, so the file is read on every core.
//!
//!     cargo run --example bigkeys -- examples/dump1.rdb 5

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use rdbkit::decode::scan::{scan, ScanOptions, Sink};
use rdbkit::decode::{Decoder, Item};

/// Per range: the `n` biggest (size, key, type) and per-type totals.
struct BigKeys {
    n: usize,
    top: BinaryHeap<Reverse<(usize, Vec<u8>, &'static str)>>,
    types: BTreeMap<&'static str, (u64, u64)>,
}

impl<'a> Sink<'a> for BigKeys {
    fn record(&mut self, _at: usize, item: &Item<'a>, _: &Decoder<'a>) -> rdbkit::Result<()> {
        if let Item::Key(k) = item {
            let (size, kind) = (k.body_span.len(), k.value.kind().name());
            let t = self.types.entry(kind).or_default();
            t.0 += 1;
            t.1 += size as u64;
            if self.top.len() < self.n || self.top.peek().is_some_and(|m| m.0 .0 < size) {
                self.top
                    .push(Reverse((size, k.key.to_bytes()?.into_owned(), kind)));
                if self.top.len() > self.n {
                    self.top.pop();
                }
            }
        }
        Ok(())
    }

    fn append(&mut self, next: Self) {
        for (kind, (keys, bytes)) in next.types {
            let t = self.types.entry(kind).or_default();
            t.0 += keys;
            t.1 += bytes;
        }
        for e in next.top {
            self.top.push(e);
            if self.top.len() > self.n {
                self.top.pop();
            }
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: bigkeys FILE [N]")?;
    let n: usize = args.next().map_or(Ok(10), |s| s.parse())?;
    let input = rdbkit::Input::open(std::path::Path::new(&path))?;
    let new = |_| BigKeys {
        n,
        top: BinaryHeap::new(),
        types: BTreeMap::new(),
    };
    let found = scan(&input, &ScanOptions::default(), new)?.sink;
    println!("{:>10}  {:<8} key", "bytes", "type");
    for Reverse((size, key, kind)) in found.top.into_sorted_vec() {
        println!("{size:>10}  {kind:<8} {}", String::from_utf8_lossy(&key));
    }
    for (kind, (keys, bytes)) in &found.types {
        println!("{kind}: {keys} keys, {bytes} bytes");
    }
    Ok(())
}
