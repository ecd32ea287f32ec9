//! `rdbkit::encode::copy_filtered` against real servers (skipped, with the
//! reason printed, when the servers of `scripts/install-servers.sh` are
//! absent): every other key of each server's `all-types` fixture is kept
//! (keys already expired are left out, since a server drops them on
//! load), and the copy, written for the file's own format, must load into
//! that server with exactly the kept keys: `INFO keyspace` per database
//! (keys and expires) and, key by key, the names in db 0.

#[path = "common/servers.rs"]
mod servers;

use std::collections::{BTreeMap, BTreeSet};

use rdbkit::decode::KeyRecord;
use rdbkit::encode::copy_filtered;
use servers::*;

#[test]
fn copies_load_into_real_servers_with_the_kept_keys() {
    let Some(reg) = registry("copy_filtered") else {
        return;
    };
    let now = rdbkit::now_ms() + 60_000;
    let mut checked = 0;
    for info in &reg {
        let fixture = repo()
            .join("tests/fixtures")
            .join(&info.name)
            .join("all-types.rdb");
        let Ok(input) = std::fs::read(&fixture) else {
            continue;
        };
        let mut n = 0u64;
        let mut want_db0: BTreeSet<Vec<u8>> = BTreeSet::new();
        let keep = |k: &KeyRecord<'_>| {
            n += 1;
            let kept = n % 2 == 1 && k.expire_ms.is_none_or(|e| e > now);
            if kept && k.db == 0 {
                want_db0.insert(k.key.to_bytes().unwrap().into_owned());
            }
            kept
        };
        let mut out = Vec::new();
        let summary = copy_filtered(&input, &mut out, None, keep).unwrap();
        assert!(
            summary.dropped_keys() > 0 && summary.kept_keys() > 0,
            "{}",
            info.name
        );
        assert_eq!(summary.bytes, out.len() as u64, "{}", info.name);
        let dir = TempDir::new("copy-filtered");
        std::fs::write(dir.join("copy.rdb"), &out).unwrap();
        let mut s = Server::start(info, dir.path(), "copy.rdb", &[])
            .unwrap_or_else(|e| panic!("{} refused the copy: {e}", info.name));
        let got = s.keyspace().unwrap();
        let want: BTreeMap<u64, (u64, u64)> = summary.kept.clone();
        assert_eq!(got, want, "{}: INFO keyspace", info.name);
        let keys: BTreeSet<Vec<u8>> = s.keys().into_iter().collect();
        assert_eq!(keys, want_db0, "{}: keys of db 0", info.name);
        s.stop();
        eprintln!(
            "copy_filtered: {}: {} of {} keys kept, loaded",
            info.name,
            summary.kept_keys(),
            summary.kept_keys() + summary.dropped_keys()
        );
        checked += 1;
    }
    if checked == 0 {
        eprintln!("copy_filtered: SKIPPED: no installed server has an all-types fixture");
    }
}
