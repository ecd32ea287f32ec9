//! Merge throughput (criterion) and peak heap per key (a counting global
//! allocator).
//!
//! * `cargo bench --bench merge`: merges two generated dumps (~24 MB and
//!   ~130,000 keys each: strings, listpack and large hashes, lists, sets,
//!   sorted sets, TTLs) into a temporary directory, with and without
//!   re-reading the output, and reports the peak heap of one merge.
//! * `RDBKIT_MERGE_HEAP=a.rdb,b.rdb cargo bench --bench merge`: one merge
//!   of the given files (e.g. the ~250 MB dumps of `scripts/bench-merge.sh`),
//!   printing the peak heap, keys, and heap bytes per key, then exits.
//!
//! Inputs are memory-mapped, so their pages count in the process RSS but
//! not in the heap; the allocator below sees only the heap.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{Criterion, Throughput};
use rdbkit::encode::{HashEntry, KeyMeta, OwnedValue, Target};
use rdbkit::merge::{merge, MergeOptions};

mod common;

use common::{write_dump, Record, Rng};

/// Counts live heap bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grow(n: usize) {
    let now = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: forwards to the system allocator and only counts sizes.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            grow(l.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(l);
        if !p.is_null() {
            grow(l.size());
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = System.realloc(p, l, new);
        if !q.is_null() {
            if new >= l.size() {
                grow(new - l.size());
            } else {
                LIVE.fetch_sub(l.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs one merge and returns (peak heap bytes above the starting level, keys).
fn heap_of_one_merge(opts: &MergeOptions) -> (usize, u64) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let r = merge(opts).unwrap_or_else(|e| panic!("merge failed: {e}"));
    let peak = PEAK.load(Ordering::Relaxed) - base;
    let keys: u64 = r
        .inputs
        .iter()
        .filter_map(|i| i.report.as_ref())
        .map(|i| i.keys())
        .sum();
    (peak, keys)
}

/// The words of the generated strings.
const WORDS: &[&str] = &["alpha", "bravo", "user", "session", "price", "status"];

/// A dump of one node: keys prefixed `prefix`.
fn make_input(path: &Path, prefix: &str, n: usize) {
    let mut rng = Rng(0x9E37_79B9 ^ prefix.len() as u64 ^ u64::from(prefix.as_bytes()[0]));
    let mut recs: Vec<Record> = Vec::with_capacity(n);
    for i in 0..n {
        let key =
            format!("{prefix}:{}:{i}", ["user", "session", "cart", "idx"][i % 4]).into_bytes();
        let meta = KeyMeta {
            expire_ms: (i % 9 == 0).then_some(4_102_444_800_000 + i as i64),
            ..KeyMeta::default()
        };
        let v = match i % 10 {
            0 => OwnedValue::Hash(
                (0..8)
                    .map(|f| HashEntry {
                        field: format!("f{f}").into_bytes(),
                        value: rng.text(WORDS, 12),
                        expire_ms: None,
                    })
                    .collect(),
            ),
            1 => OwnedValue::List((0..10).map(|_| rng.text(WORDS, 16)).collect()),
            2 => OwnedValue::Set(
                (0..10)
                    .map(|j| format!("{}", j * 7 + i).into_bytes())
                    .collect(),
            ),
            3 => OwnedValue::ZSet(
                (0..8)
                    .map(|j| (format!("m{j}").into_bytes(), j as f64 * 1.5))
                    .collect(),
            ),
            4 if i % 1000 == 4 => OwnedValue::Hash(
                (0..600)
                    .map(|f| HashEntry {
                        field: format!("field-{f}").into_bytes(),
                        value: rng.text(WORDS, 20),
                        expire_ms: None,
                    })
                    .collect(),
            ),
            _ => OwnedValue::String(rng.text(WORDS, 120)),
        };
        recs.push((key, v, meta));
    }
    let data = write_dump(Vec::new(), Target::redis(11), "7.2.4", &recs);
    std::fs::write(path, data).unwrap();
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("rdbkit-bench-merge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.rdb"), dir.join("b.rdb"));
    let n = 130_000;
    make_input(&a, "a", n);
    make_input(&b, "b", n);
    let bytes = std::fs::metadata(&a).unwrap().len() + std::fs::metadata(&b).unwrap().len();
    let out = dir.join("out.rdb");
    let opts = |verify: bool| {
        let mut o = MergeOptions::new(vec![a.clone(), b.clone()], out.clone());
        o.force = true;
        o.verify = verify;
        o
    };
    let (peak, keys) = heap_of_one_merge(&opts(true));
    println!(
        "merge of 2 x {n} keys ({bytes} bytes): peak heap {peak} bytes = {:.1} bytes/key",
        peak as f64 / keys as f64
    );
    let mut g = c.benchmark_group("merge");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    g.bench_function("two inputs, verified", |bn| {
        bn.iter(|| merge(&opts(true)).unwrap())
    });
    g.bench_function("two inputs, --no-verify", |bn| {
        bn.iter(|| merge(&opts(false)).unwrap())
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    if let Ok(list) = std::env::var("RDBKIT_MERGE_HEAP") {
        let inputs: Vec<PathBuf> = list.split(',').map(PathBuf::from).collect();
        let out = std::env::temp_dir().join(format!("rdbkit-heap-{}.rdb", std::process::id()));
        let mut o = MergeOptions::new(inputs, out.clone());
        o.force = true;
        let (peak, keys) = heap_of_one_merge(&o);
        let _ = std::fs::remove_file(&out);
        println!(
            "peak heap {peak} bytes ({:.1} MiB) for {keys} keys: {:.2} bytes/key",
            peak as f64 / (1 << 20) as f64,
            peak as f64 / keys as f64
        );
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
