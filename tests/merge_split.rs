//! `rdbkit::merge::split`: several outputs from one reading and one plan
//! of the inputs.
//!
//! * `split_equals_one_merge_per_part`: for every pair of
//!   `tests/fixtures/merge/` (files written by real servers), several
//!   policies, targets and partitions (by slot, by source database with
//!   `flatten_dbs`, with keys no part takes), each output of a split holds
//!   the same records in the same order as a merge selecting that output's
//!   keys, and its report has the same counts (keys per database,
//!   duplicates, conflicts, keys already expired at import); a split is
//!   refused exactly when one of those merges is, for the same reason.
//! * `bad_partitions_and_outputs_are_refused_before_writing`: a partition
//!   naming an output that does not exist, an output that is an input, two
//!   equal outputs, and no outputs at all write nothing.

#[path = "common/merge_fixtures.rs"]
mod merge_fixtures;
#[path = "common/servers.rs"]
mod servers;

use std::path::PathBuf;

use merge_fixtures::*;
use rdbkit::cluster::key_slot;
use rdbkit::encode::Target;
use rdbkit::merge::{
    merge, split, KeyPartition, KeySelector, MergeError, MergeOptions, MergeReport, Policy,
};
use servers::*;

/// The counts of one output's report.
fn counts(r: &MergeReport) -> String {
    format!(
        "keys {} dbs {:?} duplicates {} identical {} conflicts {}/{} expired at import {} reencoded {} target {:?}",
        r.output_keys(),
        r.out_counts,
        r.duplicate_keys,
        r.duplicates_identical,
        r.conflicts_total,
        r.conflicts_unresolved,
        r.expired_at_import,
        r.reencoded_keys,
        r.target,
    )
}

/// The listed duplicates and conflicts of one output's report.
fn listed(r: &MergeReport) -> String {
    let d: Vec<_> = r.duplicates.iter().map(|d| (d.db, &d.key)).collect();
    let c: Vec<_> = r.conflicts.iter().map(|c| (c.db, &c.key, c.kept)).collect();
    format!("{d:?} {c:?}")
}

/// A partition and the same as one selector per part.
struct Parts {
    name: &'static str,
    n: usize,
    part: fn(u64, &[u8]) -> Option<usize>,
    flatten: bool,
}

const PARTITIONS: &[Parts] = &[
    Parts {
        name: "three slot ranges",
        n: 3,
        part: |_, k| Some(usize::from(key_slot(k)) * 3 / 16384),
        flatten: false,
    },
    Parts {
        name: "slots, some taken by no part",
        n: 2,
        part: |_, k| match key_slot(k) % 3 {
            0 => None,
            s => Some(usize::from(s) - 1),
        },
        flatten: false,
    },
    Parts {
        name: "source database, flattened",
        n: 3,
        part: |db, _| Some((db as usize).min(2)),
        flatten: true,
    },
];

fn opts(inputs: &[PathBuf], out: PathBuf, policy: Policy, target: Option<Target>) -> MergeOptions {
    let mut o = MergeOptions::new(inputs.to_vec(), out);
    o.policy = policy;
    o.keep_dbs = true;
    o.target = target;
    o.import_at = 1_700_000_000_000;
    o
}

#[test]
fn split_equals_one_merge_per_part() {
    let dir = TempDir::new("merge-split");
    let (mut compared, mut refused) = (0, 0);
    for name in pairs() {
        let inputs = [fx(&format!("{name}-a.rdb")), fx(&format!("{name}-b.rdb"))];
        for policy in [Policy::Error, Policy::First, Policy::Last] {
            for target in [None, Some(Target::redis(9))] {
                for p in PARTITIONS {
                    let what = format!("{name}, {policy:?}, target {target:?}, {}", p.name);
                    let case = dir.join(&format!("case{compared}-{refused}"));
                    std::fs::create_dir_all(&case).unwrap();
                    let mut o = opts(&inputs, PathBuf::new(), policy, target);
                    if p.flatten {
                        o.keep_dbs = false;
                        o.flatten_dbs = true;
                    }
                    let outs: Vec<PathBuf> = (0..p.n)
                        .map(|i| case.join(format!("split-{i}.rdb")))
                        .collect();
                    let f = p.part;
                    let got = split(&o, &KeyPartition::new(f), &outs);
                    let mut want: Vec<Result<(MergeReport, PathBuf), MergeError>> = Vec::new();
                    for i in 0..p.n {
                        let out = case.join(format!("merge-{i}.rdb"));
                        let mut m = o.clone();
                        m.output = out.clone();
                        m.select = Some(KeySelector::new(move |db, k| f(db, k) == Some(i)));
                        want.push(merge(&m).map(|r| (r, out)));
                    }
                    match got {
                        Ok(reports) => {
                            assert_eq!(reports.len(), p.n, "{what}");
                            for (i, (r, w)) in reports.iter().zip(&want).enumerate() {
                                let Ok((w, wpath)) = w else {
                                    panic!("{what}: part {i}: the merge was refused, not the split: {w:?}");
                                };
                                let got = std::fs::read(&outs[i]).unwrap();
                                let exp = std::fs::read(wpath).unwrap();
                                assert_eq!(records(&got), records(&exp), "{what}: part {i}");
                                assert_eq!(counts(r), counts(w), "{what}: part {i}");
                                assert_eq!(listed(r), listed(w), "{what}: part {i}");
                                let out = r.output.as_ref().unwrap();
                                assert!(out.verified, "{what}");
                                assert_eq!(out.path, outs[i].display().to_string(), "{what}");
                                assert_eq!(out.bytes, got.len() as u64, "{what}");
                            }
                            compared += 1;
                        }
                        Err(e) => {
                            // The split's reasons are those of the parts'
                            // merges together (each key is in one part).
                            let kinds = |e: &MergeError| -> Vec<String> {
                                e.causes()
                                    .iter()
                                    .map(|c| {
                                        let c = format!("{c:?}");
                                        c.split(['(', ' ', '{']).next().unwrap().to_string()
                                    })
                                    .collect()
                            };
                            let failed: Vec<&MergeError> =
                                want.iter().filter_map(|w| w.as_ref().err()).collect();
                            let Some(m) = failed.first() else {
                                panic!("{what}: the split was refused, no merge was: {e}");
                            };
                            assert_eq!(e.is_refusal(), m.is_refusal(), "{what}: {e} / {m}");
                            let mut theirs: Vec<String> =
                                failed.iter().flat_map(|m| kinds(m)).collect();
                            let mut mine = kinds(&e);
                            for v in [&mut theirs, &mut mine] {
                                v.sort();
                                v.dedup();
                            }
                            assert_eq!(mine, theirs, "{what}: {e} / {m}");
                            // Nothing of the split is left.
                            for o in &outs {
                                assert!(!o.exists(), "{what}: {o:?}");
                            }
                            refused += 1;
                        }
                    }
                    std::fs::remove_dir_all(&case).unwrap();
                }
            }
        }
    }
    assert!(
        compared >= 20 && refused >= 2,
        "compared {compared}, refused {refused}"
    );
}

#[test]
fn bad_partitions_and_outputs_are_refused_before_writing() {
    let dir = TempDir::new("merge-split-bad");
    let inputs = [fx("expiring-a.rdb"), fx("expiring-b.rdb")];
    let o = opts(&inputs, PathBuf::new(), Policy::First, None);
    let empty = || std::fs::read_dir(dir.path()).unwrap().count() == 0;
    let outs = [dir.join("a.rdb"), dir.join("b.rdb")];
    // Output 3 of 2.
    let e = split(&o, &KeyPartition::new(|_, k| Some(k.len() % 3)), &outs).unwrap_err();
    assert!(e.to_string().contains("output 3, there are 2"), "{e}");
    assert!(!e.is_refusal());
    assert!(
        empty(),
        "{:?}",
        std::fs::read_dir(dir.path()).unwrap().collect::<Vec<_>>()
    );
    let any = KeyPartition::new(|_, _| Some(0));
    // No output, an input as output, the same output twice.
    let e = split(&o, &any, &[]).unwrap_err();
    assert!(e.to_string().contains("1 to 65536 outputs, not 0"), "{e}");
    let e = split(&o, &any, &[dir.join("a.rdb"), inputs[1].clone()]).unwrap_err();
    assert!(!e.is_refusal(), "{e}");
    let e = split(&o, &any, &[dir.join("a.rdb"), dir.join("a.rdb")]).unwrap_err();
    assert!(!e.is_refusal(), "{e}");
    assert!(empty());
}
