//! Real Redis / Valkey servers for integration tests: the registry written
//! by `scripts/install-servers.sh`, a tiny binary-safe RESP2 client, and a
//! server process bound to 127.0.0.1 on its own port with its own working
//! directory, stopped by PID. Every wait is bounded.
//!
//! Test files include it with `#[path = "common/servers.rs"] mod servers;`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to answer PING after starting.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// One registered server.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// Registry name (`redis-7.4`, `redis-stack-7.4`, `valkey-9.1`).
    pub name: String,
    /// Executable.
    pub server: PathBuf,
    /// check-rdb executable, if any.
    pub check_rdb: Option<PathBuf>,
    /// `x.y.z`.
    pub version: String,
    /// RDB version this release writes.
    pub rdb_version: u32,
    /// Module arguments to append (`--loadmodule …`).
    pub module_args: Vec<String>,
}

impl ServerInfo {
    /// Valkey (else Redis).
    pub fn is_valkey(&self) -> bool {
        self.name.starts_with("valkey")
    }

    /// `(major, minor, patch)`.
    pub fn version_tuple(&self) -> (u32, u32, u32) {
        let mut it = self
            .version
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0));
        (
            it.next().unwrap_or(0),
            it.next().unwrap_or(0),
            it.next().unwrap_or(0),
        )
    }

    /// Whether modules are loaded.
    pub fn has_modules(&self) -> bool {
        !self.module_args.is_empty()
    }

    /// The `--target` name for this server (`redis-stack-7.4` → `redis-7.4`).
    pub fn target_name(&self) -> String {
        let (maj, min, _) = self.version_tuple();
        if self.is_valkey() {
            format!("valkey-{maj}.{min}")
        } else {
            format!("redis-{maj}.{min}")
        }
    }

    /// Whether this server loads a file with this header (strict version checks).
    pub fn can_load(&self, header: rdbkit::format::Header) -> bool {
        use rdbkit::format::Lineage;
        match header.lineage {
            Lineage::Valkey => self.is_valkey() && header.version <= self.rdb_version,
            // Valkey reads the shared versions (<= 11) and refuses 12-79.
            Lineage::Redis if self.is_valkey() => header.version <= 11,
            Lineage::Redis => header.version <= self.rdb_version,
        }
    }
}

/// The registry (`$RDBKIT_SERVERS/servers.json`, default
/// `~/.cache/rdbkit-servers/servers.json`), or `None` after printing why
/// the test is skipped.
pub fn registry(test: &str) -> Option<Vec<ServerInfo>> {
    let dir = std::env::var_os("RDBKIT_SERVERS")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/rdbkit-servers"))
        });
    let Some(dir) = dir else {
        eprintln!("{test}: SKIPPED: no HOME or RDBKIT_SERVERS to find the server registry");
        return None;
    };
    let path = dir.join("servers.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "{test}: SKIPPED: server registry {} unreadable ({e}); run scripts/install-servers.sh",
                path.display()
            );
            return None;
        }
    };
    let v: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{test}: SKIPPED: {} is not JSON: {e}", path.display());
            return None;
        }
    };
    let mut out = Vec::new();
    if let Some(m) = v["servers"].as_object() {
        for (name, s) in m {
            let server = PathBuf::from(s["server"].as_str().unwrap_or_default());
            if !server.exists() {
                eprintln!("{test}: {name}: {} is missing, not used", server.display());
                continue;
            }
            out.push(ServerInfo {
                name: name.clone(),
                server,
                check_rdb: s["check_rdb"]
                    .as_str()
                    .map(PathBuf::from)
                    .filter(|p| p.exists()),
                version: s["version"].as_str().unwrap_or("0.0.0").to_string(),
                rdb_version: s["rdb_version"].as_u64().unwrap_or(0) as u32,
                module_args: s["module_args"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
    }
    if out.is_empty() {
        eprintln!("{test}: SKIPPED: no usable server in {}", path.display());
        return None;
    }
    Some(out)
}

/// `redis-cli` (Debian's redis-tools), or `None` after printing why.
pub fn redis_cli(test: &str) -> Option<PathBuf> {
    let p = std::env::var_os("PATH")?;
    for d in std::env::split_paths(&p) {
        let c = d.join("redis-cli");
        if c.is_file() {
            return Some(c);
        }
    }
    eprintln!("{test}: SKIPPED: redis-cli not found (apt-get install redis-tools)");
    None
}

/// A directory removed when dropped.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

static SEQ: AtomicU64 = AtomicU64::new(0);

impl TempDir {
    /// A new empty directory under the system temp dir.
    pub fn new(tag: &str) -> TempDir {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("rdbkit-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+…`
    Status(String),
    /// `-…`
    Error(String),
    /// `:…`
    Int(i64),
    /// `$…` (nil as `None`).
    Bulk(Option<Vec<u8>>),
    /// `*…` (nil as `None`).
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// Text of a status or bulk reply.
    pub fn text(&self) -> String {
        match self {
            Reply::Status(s) | Reply::Error(s) => s.clone(),
            Reply::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
            Reply::Int(i) => i.to_string(),
            other => format!("{other:?}"),
        }
    }
}

/// A connection.
pub struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    /// Connects to 127.0.0.1:`port`.
    pub fn connect(port: u16) -> std::io::Result<Client> {
        let s = TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(2),
        )?;
        s.set_read_timeout(Some(COMMAND_TIMEOUT))?;
        s.set_write_timeout(Some(COMMAND_TIMEOUT))?;
        Ok(Client {
            r: BufReader::new(s.try_clone()?),
            w: s,
        })
    }

    /// Sends a command and reads its reply.
    pub fn cmd(&mut self, args: &[&[u8]]) -> std::io::Result<Reply> {
        let mut buf = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            buf.extend_from_slice(a);
            buf.extend_from_slice(b"\r\n");
        }
        self.w.write_all(&buf)?;
        self.read()
    }

    fn line(&mut self) -> std::io::Result<String> {
        let mut l = String::new();
        if self.r.read_line(&mut l)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        Ok(l.trim_end_matches(['\r', '\n']).to_string())
    }

    fn read(&mut self) -> std::io::Result<Reply> {
        let l = self.line()?;
        let bad =
            || std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad reply {l:?}"));
        let (t, rest) = l.split_at(1.min(l.len()));
        let n = || rest.parse::<i64>().map_err(|_| bad());
        Ok(match t {
            "+" => Reply::Status(rest.to_string()),
            "-" => Reply::Error(rest.to_string()),
            ":" => Reply::Int(n()?),
            "$" => {
                let n = n()?;
                if n < 0 {
                    Reply::Bulk(None)
                } else {
                    let mut b = vec![0; n as usize + 2];
                    self.r.read_exact(&mut b)?;
                    b.truncate(n as usize);
                    Reply::Bulk(Some(b))
                }
            }
            "*" => {
                let n = n()?;
                if n < 0 {
                    Reply::Array(None)
                } else {
                    let mut v = Vec::with_capacity(n as usize);
                    for _ in 0..n {
                        v.push(self.read()?);
                    }
                    Reply::Array(Some(v))
                }
            }
            _ => return Err(bad()),
        })
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running server.
pub struct Server {
    /// Its registry entry.
    pub info: ServerInfo,
    /// Its port.
    pub port: u16,
    child: Child,
    client: Client,
    log: PathBuf,
}

impl Server {
    /// Starts `info` with `dir` as its working directory and `dbfilename`
    /// as the RDB it loads at startup (when present). Fails with the log's
    /// tail when the server exits (for example because it refuses the RDB)
    /// or does not answer PING in time.
    pub fn start(info: &ServerInfo, dir: &Path, dbfilename: &str) -> Result<Server, String> {
        let log = dir.join("server.log");
        for _attempt in 0..5 {
            let port = free_port();
            let mut c = Command::new(&info.server);
            c.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--protected-mode", "yes", "--daemonize", "no"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir)
                .args(["--dbfilename", dbfilename])
                .arg("--logfile")
                .arg(&log);
            let (maj, _, _) = info.version_tuple();
            if info.is_valkey() || maj >= 7 {
                c.args(["--enable-debug-command", "yes"]);
            }
            c.args(&info.module_args);
            c.current_dir(dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let mut child = c
                .spawn()
                .map_err(|e| format!("{}: cannot start: {e}", info.name))?;
            let deadline = Instant::now() + START_TIMEOUT;
            let mut exited = false;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    exited = true;
                    break;
                }
                if let Ok(mut cl) = Client::connect(port) {
                    // While loading, the server answers -LOADING.
                    if let Ok(Reply::Status(s)) = cl.cmd(&[b"PING"]) {
                        if s == "PONG" {
                            return Ok(Server {
                                info: info.clone(),
                                port,
                                child,
                                client: cl,
                                log,
                            });
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            kill(&mut child);
            let tail = log_tail(&log);
            if exited && tail.contains("Address already in use") {
                continue;
            }
            return Err(format!(
                "{} did not start (exited: {exited}):\n{tail}",
                info.name
            ));
        }
        Err(format!("{}: no free port", info.name))
    }

    /// Runs a command.
    pub fn cmd(&mut self, args: &[&[u8]]) -> Result<Reply, String> {
        self.client.cmd(args).map_err(|e| {
            format!(
                "{}: {:?}: {e}",
                self.info.name,
                String::from_utf8_lossy(args[0])
            )
        })
    }

    /// `DEBUG DIGEST`.
    pub fn digest(&mut self) -> Result<String, String> {
        match self.cmd(&[b"DEBUG", b"DIGEST"])? {
            Reply::Status(s) => Ok(s),
            Reply::Bulk(Some(b)) => Ok(String::from_utf8_lossy(&b).into_owned()),
            other => Err(format!("{}: DEBUG DIGEST: {other:?}", self.info.name)),
        }
    }

    /// Keys and keys-with-expiry per db (`INFO keyspace`).
    pub fn keyspace(&mut self) -> Result<BTreeMap<u64, (u64, u64)>, String> {
        let text = self.cmd(&[b"INFO", b"keyspace"])?.text();
        let mut out = BTreeMap::new();
        for line in text.lines() {
            let Some((db, rest)) = line.split_once(':') else {
                continue;
            };
            let Some(db) = db.strip_prefix("db").and_then(|d| d.parse().ok()) else {
                continue;
            };
            let mut keys = 0;
            let mut expires = 0;
            for kv in rest.split(',') {
                match kv.split_once('=') {
                    Some(("keys", v)) => keys = v.parse().unwrap_or(0),
                    Some(("expires", v)) => expires = v.parse().unwrap_or(0),
                    _ => {}
                }
            }
            out.insert(db, (keys, expires));
        }
        Ok(out)
    }

    /// The server log so far (last 3 KB).
    pub fn log_tail(&self) -> String {
        log_tail(&self.log)
    }

    /// `SHUTDOWN NOSAVE`, then SIGKILL of this PID if still running.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.client.cmd(&[b"SHUTDOWN", b"NOSAVE"]);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        kill(&mut self.child);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.shutdown();
        }
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill(); // SIGKILL of this PID only
    let _ = child.wait();
}

fn log_tail(p: &Path) -> String {
    let t = std::fs::read_to_string(p).unwrap_or_default();
    let start = t.len().saturating_sub(3000);
    let start = (start..t.len())
        .find(|&i| t.is_char_boundary(i))
        .unwrap_or(t.len());
    t[start..].to_string()
}

/// Runs a command with a time limit, feeding `input`; returns (exit code,
/// stdout, stderr).
pub fn run(
    cmd: &mut Command,
    input: &[u8],
    limit: Duration,
) -> Result<(i32, Vec<u8>, String), String> {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: {e}"))?;
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let ereader = std::thread::spawn(move || {
        let mut v = String::new();
        let _ = err.read_to_string(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s;
        }
        if Instant::now() > deadline {
            kill(&mut child);
            return Err(format!("{what}: timed out after {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = feeder.join();
    let out = reader.join().unwrap_or_default();
    let err = ereader.join().unwrap_or_default();
    Ok((status.code().unwrap_or(-1), out, err))
}

/// Replays RESP commands into the server with `redis-cli --pipe`; fails
/// unless every reply was a success.
pub fn pipe(cli: &Path, port: u16, resp: &[u8]) -> Result<(), String> {
    let (code, out, err) = run(
        Command::new(cli).args(["-h", "127.0.0.1", "-p", &port.to_string(), "--pipe"]),
        resp,
        Duration::from_secs(120),
    )?;
    let text = String::from_utf8_lossy(&out).into_owned();
    if code != 0 || !text.contains("errors: 0,") {
        return Err(format!("redis-cli --pipe (exit {code}): {text}{err}"));
    }
    Ok(())
}

/// What check-rdb said about a file.
#[derive(Debug)]
pub struct CheckRdb {
    /// Exit 0 and "RDB looks OK".
    pub ok: bool,
    /// `[info] N keys read`.
    pub keys: Option<u64>,
    /// The output.
    pub output: String,
}

/// Runs the server's check-rdb on `path`.
pub fn check_rdb(info: &ServerInfo, path: &Path) -> Result<CheckRdb, String> {
    let Some(chk) = &info.check_rdb else {
        return Err(format!("{} has no check-rdb", info.name));
    };
    let (code, out, err) = run(Command::new(chk).arg(path), b"", Duration::from_secs(120))?;
    let output = format!("{}{err}", String::from_utf8_lossy(&out));
    let keys = output.lines().find_map(|l| {
        l.trim()
            .strip_prefix("[info] ")?
            .strip_suffix(" keys read")?
            .parse()
            .ok()
    });
    Ok(CheckRdb {
        ok: code == 0 && output.contains("RDB looks OK"),
        keys,
        output,
    })
}

/// One key of a file, for [`snapshot`].
#[derive(Debug, Clone)]
pub struct KeyInfo {
    /// Database.
    pub db: u64,
    /// Key.
    pub key: Vec<u8>,
    /// Type.
    pub kind: rdbkit::decode::Kind,
    /// Hash fields with a TTL.
    pub ttl_fields: Vec<Vec<u8>>,
}

/// The keys of an RDB file.
pub fn key_list(data: &[u8]) -> Vec<KeyInfo> {
    use rdbkit::decode::{Decoder, Item, Kind, Options};
    let mut keys = Vec::new();
    for item in Decoder::new(data, Options::default()).expect("header") {
        if let Item::Key(k) = item.expect("valid file") {
            let mut ttl_fields = Vec::new();
            if k.value.kind() == Kind::Hash {
                let mut it = k.value.items().expect("hash");
                while let Some(f) = it.next_field().expect("field") {
                    if f.expire_ms.is_some() {
                        ttl_fields.push(f.field.to_bytes().into_owned());
                    }
                }
            }
            keys.push(KeyInfo {
                db: k.db,
                key: k.key.to_bytes().expect("key").into_owned(),
                kind: k.value.kind(),
                ttl_fields,
            });
        }
    }
    keys
}

fn pairs(r: &Reply) -> Vec<(String, Reply)> {
    match r {
        Reply::Array(Some(v)) => v
            .chunks(2)
            .filter(|c| c.len() == 2)
            .map(|c| (c[0].text(), c[1].clone()))
            .collect(),
        _ => Vec::new(),
    }
}

fn get<'a>(p: &'a [(String, Reply)], k: &str) -> Option<&'a Reply> {
    p.iter().find(|x| x.0 == k).map(|x| &x.1)
}

fn items(r: Option<&Reply>) -> Vec<Reply> {
    match r {
        Some(Reply::Array(Some(v))) => v.clone(),
        _ => Vec::new(),
    }
}

/// The parts of `XINFO STREAM key FULL` that commands can recreate.
fn stream_view(r: &Reply, createconsumer: bool) -> String {
    let p = pairs(r);
    let mut out = String::new();
    let empty = get(&p, "length") == Some(&Reply::Int(0));
    for k in [
        "length",
        "last-generated-id",
        "max-deleted-entry-id",
        "entries-added",
        "recorded-first-entry-id",
        "entries",
    ] {
        // An empty stream's recorded first ID cannot be set by commands
        // (and a 7.x server loading an empty stream from an RDB 9 file
        // records UINT64_MAX-UINT64_MAX there).
        if empty && k == "recorded-first-entry-id" {
            continue;
        }
        out += &format!("{k}={:?}\n", get(&p, k));
    }
    let mut groups: Vec<String> = items(get(&p, "groups"))
        .iter()
        .map(|g| {
            let g = pairs(g);
            let mut s = format!(
                "group {:?} last {:?} pel-count {:?} pending {:?}\n",
                get(&g, "name"),
                get(&g, "last-delivered-id"),
                get(&g, "pel-count"),
                get(&g, "pending"),
            );
            let mut cons: Vec<String> = items(get(&g, "consumers"))
                .iter()
                .filter_map(|c| {
                    let c = pairs(c);
                    let owned: Vec<Reply> = items(get(&c, "pending"))
                        .iter()
                        .map(|e| items(Some(e)).first().cloned().unwrap_or(Reply::Bulk(None)))
                        .collect();
                    (createconsumer || !owned.is_empty())
                        .then(|| format!("  consumer {:?} owns {owned:?}\n", get(&c, "name")))
                })
                .collect();
            cons.sort();
            s += &cons.concat();
            s
        })
        .collect();
    groups.sort();
    out + &groups.concat()
}

/// What the server holds beyond `DEBUG DIGEST`, key by key: expiry times
/// (`PEXPIRETIME`, 7.0+), hash field expiry times (`HPEXPIRETIME`), the
/// parts of `XINFO STREAM … FULL` commands can recreate, and the function
/// libraries' code.
pub fn snapshot(s: &mut Server, keys: &[KeyInfo]) -> Result<BTreeMap<String, String>, String> {
    let (maj, min, _) = s.info.version_tuple();
    let valkey = s.info.is_valkey();
    let v7 = valkey || maj >= 7;
    let field_ttls = if valkey {
        maj >= 9
    } else {
        (maj, min) >= (7, 4)
    };
    let createconsumer = valkey || (maj, min) >= (6, 2);
    let mut out = BTreeMap::new();
    let mut db = u64::MAX;
    for KeyInfo {
        db: kdb,
        key,
        kind,
        ttl_fields,
    } in keys
    {
        if *kdb != db {
            s.cmd(&[b"SELECT", kdb.to_string().as_bytes()])?;
            db = *kdb;
        }
        let name = format!("db{kdb} {}", String::from_utf8_lossy(key));
        if v7 {
            out.insert(
                format!("{name} pexpiretime"),
                format!("{:?}", s.cmd(&[b"PEXPIRETIME", key])?),
            );
        }
        if *kind == rdbkit::decode::Kind::Stream {
            let r = s.cmd(&[b"XINFO", b"STREAM", key, b"FULL"])?;
            out.insert(format!("{name} stream"), stream_view(&r, createconsumer));
        }
        if field_ttls && !ttl_fields.is_empty() {
            let n = ttl_fields.len().to_string();
            let mut args: Vec<&[u8]> = vec![b"HPEXPIRETIME", key, b"FIELDS", n.as_bytes()];
            args.extend(ttl_fields.iter().map(Vec::as_slice));
            out.insert(
                format!("{name} hpexpiretime"),
                format!("{:?}", s.cmd(&args)?),
            );
        }
    }
    if v7 {
        let r = s.cmd(&[b"FUNCTION", b"LIST", b"WITHCODE"])?;
        let mut libs: Vec<String> = items(Some(&r))
            .iter()
            .map(|l| format!("{:?}", get(&pairs(l), "library_code")))
            .collect();
        libs.sort();
        out.insert("functions".into(), libs.join("\n"));
    }
    Ok(out)
}
