//! Merges per-node dumps into one verified file, resolving keys whose
//! copies differ with a custom rule: the copy that lives longest (no
//! expiry beats any expiry), ties going to the later input.
//!
//!     cargo run --example merge -- examples/dump1.rdb examples/dump2.rdb /tmp/merged.rdb

use rdbkit::merge::{merge, ConflictResolver, MergeOptions, Policy};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut paths: Vec<std::path::PathBuf> = std::env::args().skip(1).map(Into::into).collect();
    if paths.len() < 3 {
        return Err("usage: merge IN IN... OUT".into());
    }
    let output = paths.pop().ok_or("no output")?;
    let mut opts = MergeOptions::new(paths, output);
    // Dynomite nodes each keep their own `._add-set` bookkeeping keys.
    opts.drop_dynomite_metadata = true;
    opts.policy = Policy::Custom;
    opts.resolver = Some(ConflictResolver::new(|conflict| {
        conflict
            .copies
            .iter()
            .max_by_key(|(input, rec)| (rec.expire_ms.unwrap_or(i64::MAX), *input))
            .map(|(input, _)| *input)
    }));
    match merge(&opts) {
        Ok(r) => {
            println!(
                "{} keys written ({} conflicts resolved, {} identical duplicates dropped); DBSIZE after import: {}",
                r.output_keys(),
                r.conflicts_total,
                r.duplicates_identical,
                r.expected_dbsize_after_import()
            );
            for c in r.conflicts.iter().take(5) {
                let kept = c.kept.map_or("none".into(), |i| format!("input {}", i + 1));
                println!("  {}: kept {kept}", String::from_utf8_lossy(&c.key));
            }
            Ok(())
        }
        Err(e) => {
            for cause in e.causes() {
                eprintln!("problem: {cause}");
            }
            Err(e.into())
        }
    }
}
