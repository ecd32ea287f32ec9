//! `rdbkit::merge::merge_bytes`: merging inputs held in memory into any
//! writer.
//!
//! * `same_as_the_file_merge`: for every pair of `tests/fixtures/merge/`
//!   and several policies, `merge_bytes` (verified, and streamed) gives
//!   the same outcome as `merge` over the files: the same refusal causes,
//!   or the same records in the same order, the same report counts, and
//!   the same aux fields apart from `ctime`.
//! * `nothing_reaches_the_writer_before_verification`: a refused merge
//!   and an option error write no byte; a failing writer is an I/O error,
//!   not a refusal.
//! * `loads_into_real_servers`: the merged bytes load into each real
//!   server of the target format with the DBSIZE the report promises
//!   (skipped, with the reason printed, when the servers are absent).

#[path = "common/merge_fixtures.rs"]
mod merge_fixtures;
#[path = "common/servers.rs"]
mod servers;

use std::path::PathBuf;

use merge_fixtures::*;
use rdbkit::merge::{merge, merge_bytes, Cause, MergeError, MergeOptions, MergeReport, Policy};
use servers::*;

/// The report's counts that must not depend on where the bytes came from.
fn counts(r: &MergeReport) -> String {
    format!(
        "keys {} dbs {:?} duplicates {} identical {} conflicts {}/{} expired {} functions {:?} reencoded {} target {:?}",
        r.output_keys(),
        r.out_counts,
        r.duplicate_keys,
        r.duplicates_identical,
        r.conflicts_total,
        r.conflicts_unresolved,
        r.dropped_expired,
        r.functions,
        r.reencoded_keys,
        r.target,
    )
}

fn causes(e: &MergeError) -> Vec<String> {
    e.causes().iter().map(|c| format!("{c}")).collect()
}

/// Options for one case: the file merge's inputs and output, or none.
fn case_opts(policy: Policy, files: Option<(&[PathBuf], PathBuf)>) -> MergeOptions {
    let mut o = match files {
        Some((inputs, out)) => MergeOptions::new(inputs.to_vec(), out),
        None => MergeOptions::default(),
    };
    o.policy = policy;
    o.keep_dbs = true;
    o.import_at = 1_700_000_000_000;
    o
}

#[test]
fn same_as_the_file_merge() {
    let dir = TempDir::new("merge-bytes");
    let mut merged = 0;
    let mut refused = 0;
    for name in pairs() {
        let paths = [fx(&format!("{name}-a.rdb")), fx(&format!("{name}-b.rdb"))];
        let data: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        let inputs: Vec<(&str, &[u8])> = names
            .iter()
            .zip(&data)
            .map(|(n, d)| (n.as_str(), &d[..]))
            .collect();
        for policy in [Policy::Error, Policy::First, Policy::Last] {
            let what = format!("{name} with {policy:?}");
            let out = dir.join(&format!("{name}-{policy:?}.rdb"));
            let by_file = merge(&case_opts(policy, Some((&paths, out.clone()))));
            for verify in [true, false] {
                let mut o = case_opts(policy, None);
                o.verify = verify;
                let by_bytes = merge_bytes(&inputs, Vec::new(), &o);
                match (&by_file, by_bytes) {
                    (Ok(f), Ok((b, bytes))) => {
                        let file = std::fs::read(&out).unwrap();
                        assert_eq!(records(&bytes), records(&file), "{what}");
                        assert_eq!(counts(&b), counts(f), "{what}");
                        let o = b.output.as_ref().unwrap();
                        assert_eq!(o.bytes, bytes.len() as u64, "{what}");
                        assert_eq!(o.verified, verify, "{what}");
                        assert_eq!(b.status, "written");
                        // Inputs are named as given.
                        let got: Vec<&str> = b.inputs.iter().map(|i| i.path.as_str()).collect();
                        assert_eq!(got, names, "{what}");
                        merged += 1;
                    }
                    (Err(f), Err(b)) => {
                        assert_eq!(causes(&b), causes(f), "{what}");
                        assert_eq!(b.is_refusal(), f.is_refusal(), "{what}");
                        refused += 1;
                    }
                    (f, b) => panic!(
                        "{what}: the file merge gave {:?}, merge_bytes {:?}",
                        f.as_ref().map(counts).map_err(causes),
                        b.as_ref().map(|r| counts(&r.0)).map_err(causes)
                    ),
                }
            }
        }
    }
    // Both outcomes were compared.
    assert!(
        merged >= 10 && refused >= 2,
        "merged {merged}, refused {refused}"
    );
}

/// A writer that fails after `limit` bytes and remembers what it got.
#[derive(Debug)]
struct Failing {
    got: Vec<u8>,
    limit: usize,
}

impl std::io::Write for Failing {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.got.len() + b.len() > self.limit {
            return Err(std::io::Error::other("the disk is full"));
        }
        self.got.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn nothing_reaches_the_writer_before_verification() {
    let a = std::fs::read(fx("expiring-a.rdb")).unwrap();
    let b = std::fs::read(fx("expiring-b.rdb")).unwrap();
    // A corrupt input (its last value byte changed: the CRC no longer
    // matches) refuses the merge, naming the input; the writer gets nothing.
    let mut bad = b.clone();
    let at = bad.len() - 10;
    bad[at] ^= 0x55;
    let mut w = Failing {
        got: Vec::new(),
        limit: usize::MAX,
    };
    let e = merge_bytes(
        &[("node1", &a[..]), ("node2", &bad[..])],
        &mut w,
        &MergeOptions::default(),
    )
    .unwrap_err();
    assert!(e.is_refusal(), "{e}");
    assert!(
        matches!(e.causes(), [Cause::InvalidInput { input: 1, path, .. }] if path == "node2"),
        "{e}"
    );
    assert!(w.got.is_empty());
    // Options are checked: the inputs are the arguments.
    let o = MergeOptions {
        inputs: vec!["n1.rdb".into()],
        ..Default::default()
    };
    let e = merge_bytes(&[("node1", &a[..])], &mut w, &o).unwrap_err();
    assert!(
        !e.is_refusal() && matches!(e.causes(), [Cause::InvalidOptions(_)]),
        "{e}"
    );
    let e = merge_bytes(&[], &mut w, &MergeOptions::default()).unwrap_err();
    assert!(matches!(e.causes(), [Cause::InvalidOptions(_)]), "{e}");
    assert!(w.got.is_empty());
    // A writer that fails is an I/O failure; verified output is written
    // in one piece, so a writer failing half-way got nothing of it.
    let ok = merge_bytes(
        &[("node1", &a[..]), ("node2", &b[..])],
        Vec::new(),
        &MergeOptions::default(),
    )
    .unwrap()
    .1;
    for verify in [true, false] {
        let o = MergeOptions {
            verify,
            ..Default::default()
        };
        let mut w = Failing {
            got: Vec::new(),
            limit: ok.len() / 2,
        };
        let e = merge_bytes(&[("node1", &a[..]), ("node2", &b[..])], &mut w, &o).unwrap_err();
        assert!(!e.is_refusal(), "{e}");
        assert!(
            matches!(e.causes(), [Cause::WriteFailed(m)] if m.contains("the disk is full")),
            "{e}"
        );
        assert_eq!(e.report().unwrap().status, "failed", "{e}");
        if verify {
            assert!(w.got.is_empty());
        } else {
            assert!(ok.starts_with(&w.got));
        }
    }
}

#[test]
fn loads_into_real_servers() {
    let Some(reg) = registry("merge_bytes") else {
        return;
    };
    let mut loaded = 0;
    for name in pairs() {
        let data: Vec<Vec<u8>> = ["a", "b"]
            .iter()
            .map(|s| std::fs::read(fx(&format!("{name}-{s}.rdb"))).unwrap())
            .collect();
        let o = MergeOptions {
            policy: Policy::Last,
            keep_dbs: true,
            drop_functions: true,
            ..Default::default()
        };
        let Ok((report, bytes)) =
            merge_bytes(&[("a", &data[0][..]), ("b", &data[1][..])], Vec::new(), &o)
        else {
            continue;
        };
        let header = rdbkit::format::Header::parse(&bytes).unwrap();
        let modules = !report.modules.is_empty();
        for info in reg
            .iter()
            .filter(|i| i.can_load(header) && (!modules || i.has_modules()))
        {
            let dir = TempDir::new("merge-bytes-load");
            std::fs::write(dir.join("merged.rdb"), &bytes).unwrap();
            let mut s = Server::start(info, dir.path(), "merged.rdb", &[])
                .unwrap_or_else(|e| panic!("{name}: {} refused the merge: {e}", info.name));
            let got: u64 = s.keyspace().unwrap().values().map(|c| c.0).sum();
            assert_eq!(
                got,
                report.expected_dbsize_after_import(),
                "{name} in {}",
                info.name
            );
            s.stop();
            loaded += 1;
        }
    }
    eprintln!("merge_bytes: {loaded} loads");
    assert!(loaded >= 5, "loads: {loaded}");
}
