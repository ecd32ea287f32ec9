//! `rdbkit convert` end to end.
//!
//! * Real servers (from the registry `scripts/install-servers.sh` writes):
//!   every fixture is converted to every registered server's version, the
//!   server's check-rdb must accept the result, and the server loaded from
//!   it must hold the same keys (`INFO keyspace`) and the same `DEBUG
//!   DIGEST` as the same server loaded from the original file — or, when
//!   that server cannot read the original, loaded from a RESP replay of it
//!   (`rdbkit dump --format resp` | `redis-cli --pipe`). A conversion the
//!   target cannot hold without loss must be refused naming the key (or the
//!   function libraries), and then succeed with the `--drop-*` flags.
//! * Without servers: every fixture converted to every target of the issue
//!   (Redis 6.0 … 8.8, Valkey 7.2 … 9.1, Redis Enterprise, RDB numbers)
//!   decodes to the same data; an existing output is refused (exit 2)
//!   unless `--force`; refusals leave neither output nor temporary files.

#[path = "common/servers.rs"]
mod servers;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rdbkit::decode::{Decoder, Item, Level, Options, StreamId};
use rdbkit::encode::{OwnedValue, Target};
use rdbkit::format::Header;
use servers::{
    check_pairs, check_rdb, compare_states, fixture, fixtures, load_file, load_resp, rdbkit_timed,
    redis_cli, registry, resp_export, short, Fixture, ServerInfo, TempDir,
};

/// Runs the rdbkit binary.
fn rdbkit(args: &[&OsStr]) -> (i32, Vec<u8>, String) {
    rdbkit_timed(args).expect("rdbkit runs")
}

const DROP_ALL: [&str; 3] = [
    "--drop-field-ttls",
    "--drop-stream-metadata",
    "--drop-functions",
];

/// `rdbkit convert input -o out --target target` + `extra`.
fn convert_cmd(input: &Path, out: &Path, target: &str, extra: &[&str]) -> (i32, Vec<u8>, String) {
    let mut args: Vec<&OsStr> = vec![
        "convert".as_ref(),
        input.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--target".as_ref(),
        target.as_ref(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    rdbkit(&args)
}

/// Converts `input` to `out` for `target`: first without allowing losses;
/// when refused, the refusal must name a key or the function libraries,
/// and the conversion is retried allowing every loss. Returns whether
/// losses were allowed, or the error.
fn convert(input: &Path, out: &Path, target: &str) -> Result<bool, String> {
    let (code, _, err) = convert_cmd(input, out, target, &[]);
    match code {
        0 => return Ok(false),
        1 => {}
        c => return Err(format!("convert to {target}: exit {c}: {err}")),
    }
    if !(err.contains("(key '") || err.contains("function libraries")) {
        return Err(format!("refusal names no key: {err}"));
    }
    if out.exists() {
        return Err(format!("a refused conversion left {}", out.display()));
    }
    let (code, _, err2) = convert_cmd(input, out, target, &DROP_ALL);
    if code != 0 {
        return Err(format!(
            "convert to {target} with --drop-*: exit {code}: {err2}\n(first refusal: {err})"
        ));
    }
    Ok(true)
}

/// Keys in a file, counted by rdbkit (fully decoded and verified).
fn key_count(path: &Path) -> Result<u64, String> {
    let data = std::fs::read(path).map_err(|e| e.to_string())?;
    let mut n = 0;
    for item in Decoder::new(&data, Options::default()).map_err(|e| e.to_string())? {
        if let Item::Key(_) = item.map_err(|e| e.to_string())? {
            n += 1;
        }
    }
    Ok(n)
}

/// One server × fixture check; returns a one-line summary.
fn check_pair(srv: &ServerInfo, fx: &Fixture, cli: Option<&Path>) -> Result<String, String> {
    let dir = TempDir::new("conv");
    let out = dir.join("dump.rdb");
    let target = srv.target_name();
    let lossy = convert(&fx.path, &out, &target)?;
    // check-rdb of the target server accepts it, with the same key count.
    let keys = key_count(&out)?;
    if srv.check_rdb.is_some() {
        let chk = check_rdb(srv, &out)?;
        if !chk.ok {
            return Err(format!(
                "check-rdb refused the converted file:\n{}",
                chk.output
            ));
        }
        if chk.keys != Some(keys) {
            return Err(format!("check-rdb read {:?} keys, rdbkit {keys}", chk.keys));
        }
    }
    let got =
        load_file(srv, &out, &fx.keys).map_err(|e| format!("loading the converted file: {e}"))?;
    let (reference, how) = if srv.can_load(fx.header) {
        (load_file(srv, &fx.path, &fx.keys)?, "original")
    } else {
        let Some(cli) = cli else {
            return Ok(format!(
                "{target} {}: converted, loaded (no redis-cli for a reference)",
                short(&fx.path)
            ));
        };
        let extra: &[&str] = if lossy { &DROP_ALL } else { &[] };
        let resp = resp_export(&fx.path, &target, extra)?;
        (load_resp(srv, cli, &resp, &fx.keys)?, "RESP replay")
    };
    // Without allowed losses, also expiry times, field TTLs, stream
    // metadata, groups and pending entries, and functions.
    compare_states(&got, &reference, "converted", how, !lossy)?;
    Ok(format!(
        "{target:<11} {:<28} {} keys, digest = {how}{}",
        short(&fx.path),
        keys,
        if lossy { " (losses allowed)" } else { "" }
    ))
}

#[test]
fn converted_files_load_in_every_server() {
    let test = "converted_files_load_in_every_server";
    let Some(reg) = registry(test) else { return };
    let cli = redis_cli(test);
    let fixtures: Vec<Fixture> = fixtures().iter().map(|p| fixture(p)).collect();
    let mut jobs = Vec::new();
    for srv in &reg {
        for fx in &fixtures {
            if fx.modules && !srv.has_modules() {
                eprintln!(
                    "{test}: {} {}: skipped: the fixture needs modules the server does not load",
                    srv.name,
                    short(&fx.path)
                );
                continue;
            }
            jobs.push((srv, fx));
        }
    }
    let (_, failures) = check_pairs(jobs, |srv, fx| check_pair(srv, fx, cli.as_deref()));
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ------------------------------------------------------------ no servers

/// A value normalised for comparison, as it must read back from a file of
/// stream version `sv` (what older stream types cannot carry is derived
/// on load the way servers derive it).
fn norm(v: OwnedValue, sv: u8, lossy: bool) -> OwnedValue {
    let mut v = v;
    match &mut v {
        OwnedValue::Set(s) => s.sort(),
        OwnedValue::Hash(h) => {
            h.sort_by(|a, b| a.field.cmp(&b.field));
            if lossy {
                for f in h.iter_mut() {
                    f.expire_ms = None;
                }
            }
        }
        OwnedValue::ZSet(z) => {
            for (_, s) in z.iter_mut() {
                if *s == 0.0 {
                    *s = 0.0;
                }
            }
            z.sort_by(|a, b| a.0.cmp(&b.0));
        }
        OwnedValue::Stream(s) => {
            let n = s.entries.len() as u64;
            s.length = Some(s.length.unwrap_or(n));
            let first = s.entries.first().map(|e| e.0).unwrap_or_default();
            if sv < 2 || lossy {
                s.first_id = None;
                s.max_deleted_id = None;
                s.entries_added = None;
                for g in &mut s.groups {
                    g.entries_read = None;
                }
            } else {
                s.first_id = Some(s.first_id.unwrap_or(first));
                s.entries_added = Some(s.entries_added.unwrap_or(n));
                s.max_deleted_id = Some(s.max_deleted_id.unwrap_or(StreamId::default()));
            }
            for c in s.groups.iter_mut().flat_map(|g| &mut g.consumers) {
                c.active_time_ms = if sv >= 3 && !lossy {
                    Some(c.active_time_ms.unwrap_or(c.seen_time_ms))
                } else {
                    None
                };
            }
            s.idmp = None;
        }
        _ => {}
    }
    v
}

type Content = BTreeMap<(u64, Vec<u8>), (OwnedValue, Option<i64>)>;

fn content(path: &Path, sv: u8, lossy: bool) -> (Content, Vec<String>) {
    let data = std::fs::read(path).unwrap();
    let opts = Options {
        level: Level::Deep,
        ..Options::default()
    };
    let mut out = BTreeMap::new();
    let mut functions = Vec::new();
    for item in Decoder::new(&data, opts).unwrap() {
        match item.unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
            Item::Key(k) => {
                let v = OwnedValue::from_value(&k.value).unwrap();
                out.insert(
                    (k.db, k.key.to_bytes().unwrap().into_owned()),
                    (norm(v, sv, lossy), k.expire_ms),
                );
            }
            Item::Function(code) => {
                functions.push(String::from_utf8_lossy(&code.to_bytes().unwrap()).into_owned())
            }
            _ => {}
        }
    }
    (out, functions)
}

/// The targets named in the issue, as names and as numbers.
const TARGETS: &[&str] = &[
    "redis-6.0",
    "redis-6.2",
    "redis-7.0",
    "redis-7.2",
    "redis-7.4",
    "redis-8.0",
    "redis-8.2",
    "redis-8.4",
    "redis-8.6",
    "redis-8.8",
    "valkey-7.2",
    "valkey-8.0",
    "valkey-8.1",
    "valkey-9.0",
    "valkey-9.1",
    "redis-enterprise-6.2",
    "redis-enterprise-7.4",
    "redis-enterprise-8.2",
    "9",
    "10",
    "11",
    "12",
    "13",
    "14",
    "80",
];

#[test]
fn every_fixture_converts_to_every_target() {
    let files: Vec<PathBuf> = fixtures()
        .into_iter()
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n == "all-types.rdb"
                || n == "modules.rdb"
                || (n == "lfu.rdb" && short(p).starts_with("redis-7.4"))
        })
        .collect();
    if files.is_empty() {
        eprintln!("every_fixture_converts_to_every_target: SKIPPED: no fixtures");
        return;
    }
    let jobs: Vec<(&PathBuf, &str)> = files
        .iter()
        .flat_map(|f| TARGETS.iter().map(move |t| (f, *t)))
        .collect();
    let queue = Mutex::new(jobs.into_iter());
    let failures = Mutex::new(Vec::new());
    let count = Mutex::new((0, 0));
    std::thread::scope(|sc| {
        for _ in 0..4 {
            sc.spawn(|| loop {
                let Some((file, target)) = queue.lock().unwrap().next() else {
                    break;
                };
                let dir = TempDir::new("every");
                let out = dir.join("out.rdb");
                let r = (|| -> Result<bool, String> {
                    let t = Target::parse(target).map_err(|e| e.to_string())?;
                    let lossy = match convert(file, &out, target) {
                        Ok(l) => l,
                        Err(e) if t.version < 8 && e.contains("module") => return Ok(false),
                        Err(e) => return Err(e),
                    };
                    let data = std::fs::read(&out).map_err(|e| e.to_string())?;
                    let h = Header::parse(&data).map_err(|e| e.to_string())?;
                    if h != t.header() {
                        return Err(format!("header {h:?}, expected {:?}", t.header()));
                    }
                    let sv = t.stream_type().map_or(0, rdbkit::decode::stream_version_of);
                    let (a, fa) = content(file, sv, lossy);
                    let (b, fb) = content(&out, sv, lossy);
                    if a.len() != b.len() {
                        return Err(format!("{} keys in, {} out", a.len(), b.len()));
                    }
                    for (k, v) in &a {
                        let w = b.get(k).ok_or_else(|| format!("key {k:?} missing"))?;
                        let exp = |e: Option<i64>| {
                            if t.version < 3 {
                                e.map(|e| (e + 999).div_euclid(1000) * 1000)
                            } else {
                                e
                            }
                        };
                        if v.0 != w.0 || exp(v.1) != w.1 {
                            return Err(format!(
                                "key {:?} differs:\n in  {:?}\n out {:?}",
                                k, v, w
                            ));
                        }
                    }
                    if t.has_functions() && fa != fb {
                        return Err(format!("functions {fa:?} became {fb:?}"));
                    }
                    Ok(lossy)
                })();
                let mut c = count.lock().unwrap();
                match r {
                    Ok(l) => {
                        c.0 += 1;
                        c.1 += usize::from(l);
                    }
                    Err(e) => failures
                        .lock()
                        .unwrap()
                        .push(format!("{} -> {target}: {e}", short(file))),
                }
            });
        }
    });
    let (n, lossy) = *count.lock().unwrap();
    eprintln!("{n} conversions verified ({lossy} needed --drop-* flags)");
    let f = failures.into_inner().unwrap();
    assert!(f.is_empty(), "{}", f.join("\n"));
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn existing_output_needs_force() {
    let Some(input) = fixtures()
        .into_iter()
        .find(|p| short(p) == "redis-7.0/all-types.rdb")
    else {
        return;
    };
    let dir = TempDir::new("force");
    let out = dir.join("out.rdb");
    std::fs::write(&out, b"precious").unwrap();
    let (code, _, err) = convert_cmd(&input, &out, "redis-7.4", &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    let (code, _, err) = convert_cmd(&input, &out, "redis-7.4", &["--force"]);
    assert_eq!(code, 0, "{err}");
    let h = Header::parse(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(h.version, 12);
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );
}

#[test]
fn refused_conversion_names_the_key_and_leaves_nothing() {
    let Some(input) = fixtures()
        .into_iter()
        .find(|p| short(p) == "redis-7.4/all-types.rdb")
    else {
        return;
    };
    let dir = TempDir::new("refuse");
    let out = dir.join("out.rdb");
    let (code, _, err) = convert_cmd(&input, &out, "redis-7.2", &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("(key 'hfe:"), "{err}");
    assert!(err.contains("--drop-field-ttls"), "{err}");
    // The command line names its flag, not the library's setting.
    assert!(err.contains("; allow with --drop-field-ttls"), "{err}");
    assert!(!err.contains("AllowLoss"), "{err}");
    assert!(!out.exists());
    assert!(leftovers(dir.path()).is_empty());
    // Stream metadata a stream v1 cannot carry.
    let (code, _, err) = convert_cmd(&input, &out, "redis-6.2", &["--drop-field-ttls"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("(key 'stream:"), "{err}");
    assert!(err.contains("; allow with --drop-stream-metadata"), "{err}");
    assert!(!out.exists());
    // The same hints for RESP commands.
    let (code, _, err) = rdbkit(&[
        "dump".as_ref(),
        "--format".as_ref(),
        "resp".as_ref(),
        "--target".as_ref(),
        "redis-7.2".as_ref(),
        input.as_os_str(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("(key 'hfe:"), "{err}");
    assert!(err.contains("; allow with --drop-field-ttls"), "{err}");
    assert!(!err.contains("AllowLoss"), "{err}");
    // Functions into a target without them.
    let (code, _, err) = convert_cmd(
        &input,
        &out,
        "redis-6.2",
        &["--drop-field-ttls", "--drop-stream-metadata"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--drop-functions"), "{err}");
    assert!(!out.exists());
    assert!(leftovers(dir.path()).is_empty());
}
