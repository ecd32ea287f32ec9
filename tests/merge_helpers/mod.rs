//! Helpers for the merge tests: the real-server registry
//! (`$RDBKIT_SERVERS/servers.json`, written by `scripts/install-servers.sh`),
//! starting and stopping servers (127.0.0.1 only, stopped by their own PID),
//! a minimal RESP2 client, scratch directories and running the CLI.
//!
//! Kept apart from `tests/common` (another suite's helpers) on purpose.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Far-future absolute expiry (2100-01-01) so fixtures never go stale.
pub const T2100: i64 = 4_102_444_800_000;

/// One registered server.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub name: String,
    pub server: PathBuf,
    pub version: String,
    pub rdb_version: u32,
    pub module_args: Vec<String>,
}

impl ServerInfo {
    pub fn is_valkey(&self) -> bool {
        self.name.starts_with("valkey")
    }

    /// (major, minor) of the server version.
    pub fn vt(&self) -> (u32, u32) {
        let mut p = self.version.split('.').map(|x| x.parse().unwrap_or(0));
        (p.next().unwrap_or(0), p.next().unwrap_or(0))
    }

    /// Has Redis functions (7.0+, all Valkey).
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
}

fn registry_path() -> PathBuf {
    let dir = std::env::var_os("RDBKIT_SERVERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
                .join(".cache/rdbkit-servers")
        });
    dir.join("servers.json")
}

/// The registered server `name`, or `None` after printing why the caller skips.
pub fn server(test: &str, name: &str) -> Option<ServerInfo> {
    let path = registry_path();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(_) => {
            eprintln!(
                "{test}: SKIPPED: no server registry at {} (run scripts/install-servers.sh)",
                path.display()
            );
            return None;
        }
    };
    let v: serde_json::Value = serde_json::from_str(&text).expect("servers.json is JSON");
    let Some(s) = v["servers"].get(name) else {
        eprintln!(
            "{test}: SKIPPED: server {name} is not installed (not in {})",
            path.display()
        );
        return None;
    };
    let server = PathBuf::from(s["server"].as_str().unwrap_or_default());
    if !server.exists() {
        eprintln!("{test}: SKIPPED: {} is missing", server.display());
        return None;
    }
    Some(ServerInfo {
        name: name.to_string(),
        server,
        version: s["version"].as_str().unwrap_or_default().to_string(),
        rdb_version: s["rdb_version"].as_u64().unwrap_or(0) as u32,
        module_args: s["module_args"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Resp>>),
}

impl Resp {
    pub fn int(&self) -> i64 {
        match self {
            Resp::Int(i) => *i,
            other => panic!("expected an integer, got {other:?}"),
        }
    }

    pub fn bytes(&self) -> Option<Vec<u8>> {
        match self {
            Resp::Bulk(b) => b.clone(),
            Resp::Simple(s) => Some(s.clone().into_bytes()),
            other => panic!("expected a bulk string, got {other:?}"),
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes().unwrap_or_default()).into_owned()
    }

    pub fn array(&self) -> Vec<Resp> {
        match self {
            Resp::Array(Some(a)) => a.clone(),
            other => panic!("expected an array, got {other:?}"),
        }
    }
}

/// A blocking RESP2 connection.
pub struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

fn encode(args: &[&[u8]], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

impl Conn {
    pub fn connect(port: u16) -> std::io::Result<Conn> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Conn {
            r: BufReader::new(s.try_clone()?),
            w: s,
        })
    }

    fn read(&mut self) -> std::io::Result<Resp> {
        let mut line = Vec::new();
        self.r.read_until(b'\n', &mut line)?;
        if line.len() < 3 {
            return Err(std::io::Error::other("connection closed"));
        }
        let body = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        Ok(match line[0] {
            b'+' => Resp::Simple(body),
            b'-' => Resp::Error(body),
            b':' => Resp::Int(body.parse().unwrap_or(0)),
            b'$' => {
                let n: i64 = body.parse().unwrap_or(-1);
                if n < 0 {
                    Resp::Bulk(None)
                } else {
                    let mut b = vec![0u8; n as usize + 2];
                    self.r.read_exact(&mut b)?;
                    b.truncate(n as usize);
                    Resp::Bulk(Some(b))
                }
            }
            b'*' => {
                let n: i64 = body.parse().unwrap_or(-1);
                if n < 0 {
                    Resp::Array(None)
                } else {
                    let mut v = Vec::with_capacity(n as usize);
                    for _ in 0..n {
                        v.push(self.read()?);
                    }
                    Resp::Array(Some(v))
                }
            }
            _ => return Err(std::io::Error::other(format!("bad RESP line {body:?}"))),
        })
    }

    /// Sends one command and returns the reply (errors as `Resp::Error`).
    pub fn try_cmd(&mut self, args: &[&[u8]]) -> std::io::Result<Resp> {
        let mut out = Vec::new();
        encode(args, &mut out);
        self.w.write_all(&out)?;
        self.read()
    }

    /// Sends many commands at once; all replies must be non-errors.
    pub fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) -> Vec<Resp> {
        let mut out = Vec::new();
        for c in cmds {
            let args: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
            encode(&args, &mut out);
        }
        self.w.write_all(&out).expect("send pipeline");
        cmds.iter()
            .map(|c| {
                let r = self.read().expect("read reply");
                if let Resp::Error(e) = &r {
                    panic!("{:?}: {e}", String::from_utf8_lossy(&c[0]));
                }
                r
            })
            .collect()
    }
}

/// A running server, stopped (by its own PID) when dropped.
pub struct Server {
    pub info: ServerInfo,
    pub port: u16,
    pub dir: PathBuf,
    pub dbfilename: String,
    child: Option<Child>,
    conn: Option<Conn>,
}

fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Server {
    /// Starts `info` in `dir`; it loads `dir/dbfilename` if that exists.
    /// Extra `--name value` config pairs go in `config`.
    pub fn start(
        info: &ServerInfo,
        dir: &Path,
        dbfilename: &str,
        config: &[(&str, &str)],
    ) -> Result<Server, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let log = dir.join(format!("{dbfilename}.server.log"));
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = Command::new(&info.server);
            cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--protected-mode", "yes", "--daemonize", "no"])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir)
                .args(["--dbfilename", dbfilename])
                .arg("--logfile")
                .arg(&log);
            if info.is_valkey() || info.vt() >= (7, 0) {
                cmd.args(["--enable-debug-command", "yes"]);
            }
            cmd.args(&info.module_args);
            for (k, v) in config {
                cmd.arg(format!("--{k}")).arg(v);
            }
            let mut child = cmd
                .current_dir(dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start {}: {e}", info.server.display()))?;
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    let tail = std::fs::read_to_string(&log).unwrap_or_default();
                    last = format!(
                        "{} exited ({status}):\n{}",
                        info.name,
                        &tail[tail.len().saturating_sub(3000)..]
                    );
                    break;
                }
                if let Ok(mut c) = Conn::connect(port) {
                    if let Ok(Resp::Simple(p)) = c.try_cmd(&[b"PING"]) {
                        if p == "PONG" {
                            return Ok(Server {
                                info: info.clone(),
                                port,
                                dir: dir.to_path_buf(),
                                dbfilename: dbfilename.to_string(),
                                child: Some(child),
                                conn: Some(c),
                            });
                        }
                    }
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("{} did not answer PING", info.name));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if !last.contains("Address already in use") {
                return Err(last);
            }
        }
        Err(last)
    }

    fn conn(&mut self) -> &mut Conn {
        self.conn.as_mut().expect("connected")
    }

    /// Runs a command; an error reply panics.
    pub fn cmd(&mut self, args: &[&str]) -> Resp {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        self.cmd_b(&a)
    }

    /// Runs a command with binary arguments; an error reply panics.
    pub fn cmd_b(&mut self, args: &[&[u8]]) -> Resp {
        match self.conn().try_cmd(args).expect("server connection") {
            Resp::Error(e) => panic!(
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
    pub fn try_cmd(&mut self, args: &[&str]) -> Result<Resp, String> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        match self.conn().try_cmd(&a).expect("server connection") {
            Resp::Error(e) => Err(e),
            r => Ok(r),
        }
    }

    pub fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) -> Vec<Resp> {
        self.conn().pipeline(cmds)
    }

    /// `SAVE` and the path of the file written.
    pub fn save(&mut self) -> PathBuf {
        self.cmd(&["SAVE"]);
        self.dir.join(&self.dbfilename)
    }

    pub fn dbsize(&mut self) -> i64 {
        self.cmd(&["DBSIZE"]).int()
    }

    /// `DEBUG DIGEST` (40 hex digits; all zeros for an empty dataset).
    pub fn digest(&mut self) -> String {
        self.cmd(&["DEBUG", "DIGEST"]).text()
    }

    /// Every key (SCAN).
    pub fn keys(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut cursor = "0".to_string();
        loop {
            let r = self.cmd(&["SCAN", &cursor, "COUNT", "1000"]).array();
            cursor = r[0].text();
            out.extend(r[1].array().iter().filter_map(Resp::bytes));
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
        let abs = src.info.is_valkey() || src.info.vt() >= (7, 0);
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

    /// Stops the server without saving.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(mut c) = self.conn.take() {
            let _ = c.try_cmd(&[b"SHUTDOWN", b"NOSAVE"]);
        }
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill(); // SIGKILL to this PID only
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A command as owned byte vectors (for pipelines).
pub fn c(args: &[&str]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A fresh scratch directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("rdbkit-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("create scratch dir");
        Scratch(d)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
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
