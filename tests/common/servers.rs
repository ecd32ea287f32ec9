//! Real Redis / Valkey servers for integration tests: the registry written
//! by `scripts/install-servers.sh`, a tiny binary-safe RESP2 client, and a
//! server process bound to 127.0.0.1 on its own port with its own working
//! directory, stopped by PID. Every wait is bounded. Also the scratch
//! directories and `rdbkit` runs these tests share, and the
//! fixture-versus-server comparison of `convert_servers.rs` and
//! `resp_servers.rs`.
//!
//! Test files include it with `#[path = "common/servers.rs"] mod servers;`
//! (not through `tests/common/mod.rs`, the corpus tests' helpers).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a server may take to answer PING after starting.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Far-future absolute expiry (2100-01-01) so fixtures never go stale.
pub const T2100: i64 = 4_102_444_800_000;

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

    /// `(major, minor)`.
    pub fn vt(&self) -> (u32, u32) {
        let (maj, min, _) = self.version_tuple();
        (maj, min)
    }

    /// Has Redis functions, `PEXPIRETIME` and `DEBUG` behind
    /// `--enable-debug-command` (7.0+, all Valkey).
    pub fn has_functions(&self) -> bool {
        self.is_valkey() || self.vt() >= (7, 0)
    }

    /// Has hash field TTLs (Redis 7.4+, Valkey 9+).
    pub fn has_field_ttls(&self) -> bool {
        if self.is_valkey() {
            self.vt() >= (9, 0)
        } else {
            self.vt() >= (7, 4)
        }
    }

    /// Whether modules are loaded.
    pub fn has_modules(&self) -> bool {
        !self.module_args.is_empty()
    }

    /// The `--target` name for this server (`redis-stack-7.4` → `redis-7.4`).
    pub fn target_name(&self) -> String {
        let (maj, min) = self.vt();
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

/// The registered server `name`, or `None` after printing why the caller
/// skips.
pub fn server(test: &str, name: &str) -> Option<ServerInfo> {
    let found = registry(test)?.into_iter().find(|s| s.name == name);
    if found.is_none() {
        eprintln!("{test}: SKIPPED: server {name} is not installed");
    }
    found
}

/// A fresh scratch directory, removed when dropped.
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

    /// `name` inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
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
    /// The integer; panics on any other reply.
    pub fn int(&self) -> i64 {
        match self {
            Reply::Int(i) => *i,
            other => panic!("expected an integer, got {other:?}"),
        }
    }

    /// The bytes of a bulk (nil as `None`) or status reply; panics on any
    /// other reply.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        match self {
            Reply::Bulk(b) => b.clone(),
            Reply::Status(s) => Some(s.clone().into_bytes()),
            other => panic!("expected a bulk string, got {other:?}"),
        }
    }

    /// Text of a bulk (nil as "") or status reply; panics on any other reply.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes().unwrap_or_default()).into_owned()
    }

    /// The elements of an array reply; panics on any other reply.
    pub fn array(&self) -> Vec<Reply> {
        match self {
            Reply::Array(Some(a)) => a.clone(),
            other => panic!("expected an array, got {other:?}"),
        }
    }

    /// Text of any reply, never panicking: status, error, bulk and integer
    /// as they read, anything else in debug form.
    pub fn lossy_text(&self) -> String {
        match self {
            Reply::Status(s) | Reply::Error(s) => s.clone(),
            Reply::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
            Reply::Int(i) => i.to_string(),
            other => format!("{other:?}"),
        }
    }
}

/// A command as owned byte vectors (for pipelines).
pub fn c(args: &[&str]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

/// Appends `args` to `buf` as a RESP2 command.
fn encode(args: &[&[u8]], buf: &mut Vec<u8>) {
    buf.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        buf.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        buf.extend_from_slice(a);
        buf.extend_from_slice(b"\r\n");
    }
}

/// A blocking connection.
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

    /// Sends a command and reads its reply (an error reply is a
    /// [`Reply::Error`]).
    pub fn cmd(&mut self, args: &[&[u8]]) -> std::io::Result<Reply> {
        let mut buf = Vec::new();
        encode(args, &mut buf);
        self.w.write_all(&buf)?;
        self.read()
    }

    /// Sends many commands at once; all replies must be non-errors.
    pub fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) -> Vec<Reply> {
        let mut buf = Vec::new();
        for c in cmds {
            let args: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
            encode(&args, &mut buf);
        }
        self.w.write_all(&buf).expect("send pipeline");
        cmds.iter()
            .map(|c| {
                let r = self.read().expect("read reply");
                if let Reply::Error(e) = &r {
                    panic!("{:?}: {e}", String::from_utf8_lossy(&c[0]));
                }
                r
            })
            .collect()
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

/// Whether the server behind `cl` is the process `pid` (`INFO server`
/// gives its `process_id`).
fn answers_as(cl: &mut Client, pid: u32) -> bool {
    match cl.cmd(&[b"INFO", b"server"]) {
        Ok(Reply::Bulk(Some(info))) => String::from_utf8_lossy(&info)
            .lines()
            .any(|l| l.trim_end() == format!("process_id:{pid}")),
        _ => false,
    }
}

/// A running server, stopped (by its own PID) when dropped.
pub struct Server {
    /// Its registry entry.
    pub info: ServerInfo,
    /// Its port.
    pub port: u16,
    /// Its working directory (`--dir`).
    pub dir: PathBuf,
    /// The RDB file it loads and saves (`--dbfilename`).
    pub dbfilename: String,
    child: Option<Child>,
    client: Option<Client>,
    log: PathBuf,
}

impl Server {
    /// Starts `info` with `dir` (created if needed) as its working
    /// directory and `dbfilename` as the RDB it loads at startup (when
    /// present); extra `--name value` config pairs go in `config`. Fails
    /// with the log's tail when the server exits (for example because it
    /// refuses the RDB) or does not answer PING in time.
    pub fn start(
        info: &ServerInfo,
        dir: &Path,
        dbfilename: &str,
        config: &[(&str, &str)],
    ) -> Result<Server, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let log = dir.join(format!("{dbfilename}.server.log"));
        'attempt: for _ in 0..5 {
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
            if info.has_functions() {
                c.args(["--enable-debug-command", "yes"]);
            }
            c.args(&info.module_args);
            for (k, v) in config {
                c.arg(format!("--{k}")).arg(v);
            }
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
                        if s == "PONG" && !answers_as(&mut cl, child.id()) {
                            // Another test's server took the port between
                            // `free_port` and this one's bind (ours fails
                            // with "Address already in use"): another port.
                            kill(&mut child);
                            continue 'attempt;
                        }
                        if s == "PONG" {
                            return Ok(Server {
                                info: info.clone(),
                                port,
                                dir: dir.to_path_buf(),
                                dbfilename: dbfilename.to_string(),
                                child: Some(child),
                                client: Some(cl),
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

    fn client(&mut self) -> &mut Client {
        self.client.as_mut().expect("connected")
    }

    /// Runs a command; an error reply is `Ok(Reply::Error(_))`, a lost
    /// connection `Err`.
    pub fn request(&mut self, args: &[&[u8]]) -> Result<Reply, String> {
        let name = &self.info.name;
        let r = self.client.as_mut().map(|c| c.cmd(args));
        match r {
            Some(Ok(r)) => Ok(r),
            Some(Err(e)) => Err(format!(
                "{name}: {:?}: {e}",
                String::from_utf8_lossy(args[0])
            )),
            None => Err(format!("{name}: not connected")),
        }
    }

    /// Runs a command; an error reply panics.
    pub fn cmd(&mut self, args: &[&str]) -> Reply {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.cmd_b(&a)
    }

    /// Runs a command with binary arguments; an error reply panics.
    pub fn cmd_b(&mut self, args: &[&[u8]]) -> Reply {
        match self.request(args).expect("server connection") {
            Reply::Error(e) => panic!(
                "{} {:?}: {e}",
                self.info.name,
                args.iter()
                    .map(|a| String::from_utf8_lossy(a))
                    .collect::<Vec<_>>()
            ),
            r => r,
        }
    }

    /// Runs a command; returns the reply or the error text.
    pub fn try_cmd(&mut self, args: &[&str]) -> Result<Reply, String> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        match self.request(&a).expect("server connection") {
            Reply::Error(e) => Err(e),
            r => Ok(r),
        }
    }

    /// Sends many commands at once; all replies must be non-errors.
    pub fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) -> Vec<Reply> {
        self.client().pipeline(cmds)
    }

    /// `SAVE` and the path of the file written.
    pub fn save(&mut self) -> PathBuf {
        self.cmd(&["SAVE"]);
        self.dir.join(&self.dbfilename)
    }

    /// `DBSIZE`.
    pub fn dbsize(&mut self) -> i64 {
        self.cmd(&["DBSIZE"]).int()
    }

    /// `DEBUG DIGEST` (40 hex digits; all zeros for an empty dataset).
    pub fn try_digest(&mut self) -> Result<String, String> {
        match self.request(&[b"DEBUG", b"DIGEST"])? {
            Reply::Status(s) => Ok(s),
            Reply::Bulk(Some(b)) => Ok(String::from_utf8_lossy(&b).into_owned()),
            other => Err(format!("{}: DEBUG DIGEST: {other:?}", self.info.name)),
        }
    }

    /// [`Server::try_digest`], panicking on failure.
    pub fn digest(&mut self) -> String {
        self.try_digest().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Keys and keys-with-expiry per db (`INFO keyspace`).
    pub fn keyspace(&mut self) -> Result<BTreeMap<u64, (u64, u64)>, String> {
        let text = self.request(&[b"INFO", b"keyspace"])?.lossy_text();
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

    /// Every key (SCAN).
    pub fn keys(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut cursor = "0".to_string();
        loop {
            let r = self.cmd(&["SCAN", &cursor, "COUNT", "1000"]).array();
            cursor = r[0].text();
            out.extend(r[1].array().iter().filter_map(Reply::bytes));
            if cursor == "0" {
                break;
            }
        }
        out.sort();
        out
    }

    /// Copies every key of `src` into this server with DUMP and RESTORE (the
    /// payload keeps the value's type, encoding and stream groups). Expiry
    /// is copied exactly with PEXPIRETIME + `RESTORE ... ABSTTL` (Redis 7.0+,
    /// Valkey), else as the remaining PTTL (may drift by a millisecond).
    pub fn restore_from(&mut self, src: &mut Server) -> usize {
        let abs = src.info.has_functions();
        let ttl_cmd: &[u8] = if abs { b"PEXPIRETIME" } else { b"PTTL" };
        let keys = src.keys();
        for chunk in keys.chunks(200) {
            let mut cmds = Vec::new();
            for k in chunk {
                cmds.push(vec![b"DUMP".to_vec(), k.clone()]);
                cmds.push(vec![ttl_cmd.to_vec(), k.clone()]);
            }
            let r = src.pipeline(&cmds);
            let mut restore = Vec::new();
            for (i, k) in chunk.iter().enumerate() {
                let payload = r[2 * i].bytes().expect("DUMP payload");
                let ttl = r[2 * i + 1].int().max(0);
                let mut cmd = vec![
                    b"RESTORE".to_vec(),
                    k.clone(),
                    ttl.to_string().into_bytes(),
                    payload,
                ];
                if abs && ttl > 0 {
                    cmd.push(b"ABSTTL".to_vec());
                }
                restore.push(cmd);
            }
            self.pipeline(&restore);
        }
        keys.len()
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
        if let Some(mut c) = self.client.take() {
            let _ = c.cmd(&[b"SHUTDOWN", b"NOSAVE"]);
        }
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            kill(&mut child);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
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
            .map(|c| (c[0].lossy_text(), c[1].clone()))
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
    let v7 = s.info.has_functions();
    let field_ttls = s.info.has_field_ttls();
    let createconsumer = s.info.is_valkey() || s.info.vt() >= (6, 2);
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
            s.request(&[b"SELECT", kdb.to_string().as_bytes()])?;
            db = *kdb;
        }
        let name = format!("db{kdb} {}", String::from_utf8_lossy(key));
        if v7 {
            out.insert(
                format!("{name} pexpiretime"),
                format!("{:?}", s.request(&[b"PEXPIRETIME", key])?),
            );
        }
        if *kind == rdbkit::decode::Kind::Stream {
            let r = s.request(&[b"XINFO", b"STREAM", key, b"FULL"])?;
            out.insert(format!("{name} stream"), stream_view(&r, createconsumer));
        }
        if field_ttls && !ttl_fields.is_empty() {
            let n = ttl_fields.len().to_string();
            let mut args: Vec<&[u8]> = vec![b"HPEXPIRETIME", key, b"FIELDS", n.as_bytes()];
            args.extend(ttl_fields.iter().map(Vec::as_slice));
            out.insert(
                format!("{name} hpexpiretime"),
                format!("{:?}", s.request(&args)?),
            );
        }
    }
    if v7 {
        let r = s.request(&[b"FUNCTION", b"LIST", b"WITHCODE"])?;
        let mut libs: Vec<String> = items(Some(&r))
            .iter()
            .map(|l| format!("{:?}", get(&pairs(l), "library_code")))
            .collect();
        libs.sort();
        out.insert("functions".into(), libs.join("\n"));
    }
    Ok(out)
}

// ------------------------------------------------------- the rdbkit CLI

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the `rdbkit` binary with `args` in the repository root.
pub fn rdbkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::null())
        .output()
        .expect("run rdbkit")
}

/// Runs the `rdbkit` binary with `args` and a time limit; returns (exit
/// code, stdout, stderr).
pub fn rdbkit_timed(args: &[&OsStr]) -> Result<(i32, Vec<u8>, String), String> {
    run(
        Command::new(env!("CARGO_BIN_EXE_rdbkit")).args(args),
        b"",
        Duration::from_secs(120),
    )
}

/// `rdbkit merge examples/dump1.rdb examples/dump2.rdb -o out` + `extra`.
pub fn merge_examples(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "merge",
        "examples/dump1.rdb",
        "examples/dump2.rdb",
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    rdbkit(&args)
}

/// The stderr of a run.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts that the run exited with `code` (showing its stderr if not);
/// returns the stderr.
#[track_caller]
pub fn assert_exit(o: &Output, code: i32) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "{err}");
    err
}

/// Names in `dir` (sorted).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Asserts that `dir` holds no merge output `out_name` and no temporary file.
#[track_caller]
pub fn assert_clean(dir: &Path, out_name: &str) {
    let names = listing(dir);
    assert!(
        !names
            .iter()
            .any(|n| n == out_name || n.contains(".rdbkit-")),
        "{} holds leftovers: {names:?}",
        dir.display()
    );
}

/// Reads a `--report` JSON file.
pub fn read_json(p: &Path) -> serde_json::Value {
    let t = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&t).expect("report is JSON")
}

// ------------------------------------- fixtures compared on real servers

/// Every `tests/fixtures/*/*.rdb`, sorted.
pub fn fixtures() -> Vec<PathBuf> {
    let root = repo().join("tests/fixtures");
    let mut out = Vec::new();
    for d in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
            if f.path().extension().is_some_and(|e| e == "rdb") {
                out.push(f.path());
            }
        }
    }
    out.sort();
    out
}

/// `dir/file` of a fixture path.
pub fn short(p: &Path) -> String {
    let n: Vec<_> = p.components().rev().take(2).collect();
    format!(
        "{}/{}",
        n[1].as_os_str().to_string_lossy(),
        n[0].as_os_str().to_string_lossy()
    )
}

/// A fixture file and what the comparisons need of it.
pub struct Fixture {
    /// The file.
    pub path: PathBuf,
    /// Its header.
    pub header: rdbkit::format::Header,
    /// Whether it holds module values or module aux data.
    pub modules: bool,
    /// Every key.
    pub keys: Vec<KeyInfo>,
}

/// Reads a fixture.
pub fn fixture(path: &Path) -> Fixture {
    use rdbkit::decode::{Decoder, Item, Kind, Options};
    let data = std::fs::read(path).unwrap();
    let header = rdbkit::format::Header::parse(&data).unwrap();
    let keys = key_list(&data);
    let modules = keys.iter().any(|k| k.kind == Kind::Module)
        || Decoder::new(&data, Options::default())
            .unwrap()
            .any(|i| matches!(i, Ok(Item::ModuleAux(_))));
    Fixture {
        path: path.to_path_buf(),
        header,
        modules,
        keys,
    }
}

/// What a server holds: `INFO keyspace`, `DEBUG DIGEST` and [`snapshot`].
pub type State = (BTreeMap<u64, (u64, u64)>, String, BTreeMap<String, String>);

/// The [`State`] of a running server holding `keys`.
pub fn state(s: &mut Server, keys: &[KeyInfo]) -> Result<State, String> {
    Ok((s.keyspace()?, s.try_digest()?, snapshot(s, keys)?))
}

/// Starts `srv` on a copy of `file`; returns its [`State`].
pub fn load_file(srv: &ServerInfo, file: &Path, keys: &[KeyInfo]) -> Result<State, String> {
    let dir = TempDir::new("load");
    std::fs::copy(file, dir.join("dump.rdb")).map_err(|e| e.to_string())?;
    let mut s = Server::start(srv, dir.path(), "dump.rdb", &[])?;
    let st = state(&mut s, keys)?;
    s.stop();
    Ok(st)
}

/// `rdbkit dump file --format resp --target target` + `extra`: the commands.
pub fn resp_export(file: &Path, target: &str, extra: &[&str]) -> Result<Vec<u8>, String> {
    let mut args: Vec<&OsStr> = vec![
        "dump".as_ref(),
        file.as_os_str(),
        "--format".as_ref(),
        "resp".as_ref(),
        "--target".as_ref(),
        target.as_ref(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    let (code, resp, err) = rdbkit_timed(&args)?;
    if code != 0 {
        return Err(format!("dump --format resp: exit {code}: {err}"));
    }
    Ok(resp)
}

/// Replays `resp` into an empty `srv` with `redis-cli --pipe`; returns its
/// [`State`].
pub fn load_resp(
    srv: &ServerInfo,
    cli: &Path,
    resp: &[u8],
    keys: &[KeyInfo],
) -> Result<State, String> {
    let dir = TempDir::new("resp");
    let mut s = Server::start(srv, dir.path(), "none.rdb", &[])?;
    pipe(cli, s.port, resp)?;
    let st = state(&mut s, keys)?;
    s.stop();
    Ok(st)
}

/// Compares `got` with `want`: keyspace, digest and, when `details`,
/// every [`snapshot`] entry of `want`. Errors name the two sides.
pub fn compare_states(
    got: &State,
    want: &State,
    got_name: &str,
    want_name: &str,
    details: bool,
) -> Result<(), String> {
    if got.0 != want.0 {
        return Err(format!(
            "keyspace {:?}, {want_name} gives {:?}",
            got.0, want.0
        ));
    }
    if got.1 != want.1 {
        return Err(format!(
            "DEBUG DIGEST {} but {want_name} gives {}",
            got.1, want.1
        ));
    }
    if details {
        for (k, v) in &want.2 {
            let g = got.2.get(k).map(String::as_str).unwrap_or("<missing>");
            if g != v {
                return Err(format!("{k}:\n{got_name}:\n{g}\n{want_name}:\n{v}"));
            }
        }
    }
    Ok(())
}

/// Runs `check` over the server × fixture `jobs` on 4 threads, prints one
/// line per pair (sorted) and a total; returns the number of pairs and the
/// failures.
pub fn check_pairs<F>(jobs: Vec<(&ServerInfo, &Fixture)>, check: F) -> (usize, Vec<String>)
where
    F: Fn(&ServerInfo, &Fixture) -> Result<String, String> + Sync,
{
    let queue = Mutex::new(jobs.into_iter());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|sc| {
        for _ in 0..4 {
            sc.spawn(|| loop {
                let Some((srv, fx)) = queue.lock().unwrap().next() else {
                    break;
                };
                let r = check(srv, fx);
                results
                    .lock()
                    .unwrap()
                    .push((srv.name.clone(), short(&fx.path), r));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let mut failures = Vec::new();
    for (srv, fx, r) in &results {
        match r {
            Ok(line) => eprintln!("ok   {line}"),
            Err(e) => {
                eprintln!("FAIL {srv} {fx}: {e}");
                failures.push(format!("{srv} {fx}: {e}"));
            }
        }
    }
    eprintln!(
        "{} server × fixture pairs, {} failed",
        results.len(),
        failures.len()
    );
    (results.len(), failures)
}
