"""Start real Redis / Valkey servers on 127.0.0.1 and talk RESP2 to them.

No third-party dependencies: a tiny binary-safe RESP2 client is included.

    from servers import load_registry, Server
    reg = load_registry()                    # $RDBKIT_SERVERS/servers.json
    with Server("redis-7.0", reg["redis-7.0"], workdir) as s:
        s.cmd("SET", "k", "v")
        path = s.save()                      # SAVE, returns the .rdb path

Servers are bound to 127.0.0.1 only, never persist on their own
(--save '' --appendonly no) and are stopped by PID (SHUTDOWN NOSAVE, then
SIGTERM, then SIGKILL of that PID only).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

DEFAULT_DIR = Path(os.environ.get("HOME", "/root")) / ".cache" / "rdbkit-servers"


def servers_dir() -> Path:
    return Path(os.environ.get("RDBKIT_SERVERS") or DEFAULT_DIR)


def load_registry(path: str | os.PathLike | None = None) -> dict:
    """Return {name: {"server", "check_rdb", "version", "rdb_version", "modules", "module_args"}}."""
    p = Path(path) if path else servers_dir() / "servers.json"
    if not p.exists():
        raise FileNotFoundError(f"{p} not found: run scripts/install-servers.sh first")
    return json.loads(p.read_text())["servers"]


class RespError(Exception):
    """An error reply (-ERR ...) from the server."""


def _encode(args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, bytes):
            b = a
        elif isinstance(a, str):
            b = a.encode()
        elif isinstance(a, bool):
            b = b"1" if a else b"0"
        elif isinstance(a, int):
            b = str(a).encode()
        elif isinstance(a, float):
            b = repr(a).encode()
        else:
            raise TypeError(f"cannot encode {a!r}")
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class Client:
    """Minimal RESP2 client. Bulk strings come back as bytes, integers as int,
    simple strings as str, arrays as lists, nil as None; errors raise RespError."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 30.0):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("servers are only reached on the loopback interface")
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("connection closed by server")
        self.buf += chunk

    def _line(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill()

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RespError(rest.decode(errors="replace"))
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            return [self._read() for _ in range(n)]
        raise ConnectionError(f"bad RESP line {line!r}")

    def cmd(self, *args):
        self.sock.sendall(_encode(args))
        r = self._read()
        if isinstance(r, RespError):
            raise r
        return r

    def pipeline(self, commands):
        """Send many commands at once; return replies (RespError instances inline)."""
        self.sock.sendall(b"".join(_encode(c) for c in commands))
        return [self._read() for _ in commands]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def version_tuple(v: str) -> tuple:
    return tuple(int(x) for x in v.split(".")[:3])


class Server:
    """One server process with its own port and working directory."""

    def __init__(self, name: str, info: dict, workdir, config: dict | None = None,
                 dbfilename: str = "dump.rdb", modules: bool | None = None):
        self.name = name
        self.info = info
        self.binary = info["server"]
        self.version = info["version"]
        self.is_valkey = name.startswith("valkey")
        self.workdir = Path(workdir)
        self.dbfilename = dbfilename
        self.config = dict(config or {})
        self.use_modules = bool(info.get("modules")) if modules is None else modules
        self.port = None
        self.proc = None
        self.client = None

    # -- capabilities -------------------------------------------------
    @property
    def vt(self) -> tuple:
        return version_tuple(self.version)

    def redis_equiv(self) -> tuple:
        """Redis feature level: Valkey 7.2/8.x ~ Redis 7.2, Valkey 9 ~ beyond."""
        if self.is_valkey:
            return (7, 2, 0) if self.vt < (9, 0, 0) else (7, 4, 0)
        return self.vt

    def args(self) -> list:
        a = [self.binary,
             "--port", str(self.port), "--bind", "127.0.0.1",
             "--protected-mode", "yes", "--daemonize", "no",
             "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--dbfilename", self.dbfilename,
             "--logfile", str(self.workdir / "server.log")]
        if self.is_valkey or self.vt >= (7, 0, 0):
            a += ["--enable-debug-command", "yes"]
        if self.use_modules:
            a += list(self.info.get("module_args") or [])
        for k, v in self.config.items():
            a += ["--" + k, str(v)]
        return a

    # -- lifecycle ----------------------------------------------------
    def start(self, timeout: float = 20.0):
        self.workdir.mkdir(parents=True, exist_ok=True)
        for attempt in range(5):
            self.port = free_port()
            self.proc = subprocess.Popen(self.args(), cwd=self.workdir, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            deadline = time.time() + timeout
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    c = Client(self.port)
                    if c.cmd("PING") == "PONG":
                        self.client = c
                        return self
                    c.close()
                except (OSError, ConnectionError, RespError):
                    pass
                time.sleep(0.05)
            err = self._reap()
            log = self.workdir / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            if "Address already in use" not in tail + err:
                raise RuntimeError(f"{self.name} did not start:\n{err}\n{tail}")
        raise RuntimeError(f"{self.name}: no free port")

    def _reap(self) -> str:
        if self.proc is None:
            return ""
        pid = self.proc.pid
        if self.proc.poll() is None:
            try:
                os.kill(pid, signal.SIGTERM)
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(pid, signal.SIGKILL)
                self.proc.wait(5)
            except ProcessLookupError:
                pass
        err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None
        return err

    def stop(self):
        if self.client is not None:
            try:
                self.client.cmd("SHUTDOWN", "NOSAVE")
            except (OSError, ConnectionError, RespError):
                pass
            self.client.close()
            self.client = None
        if self.proc is not None:
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
            self._reap()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- helpers ------------------------------------------------------
    def cmd(self, *args):
        return self.client.cmd(*args)

    def pipeline(self, commands):
        return self.client.pipeline(commands)

    def try_cmd(self, *args):
        """Run a command; return (ok, reply_or_error)."""
        try:
            return True, self.client.cmd(*args)
        except RespError as e:
            return False, e

    def save(self) -> Path:
        self.cmd("SAVE")
        return self.workdir / self.dbfilename

    def info_section(self, section: str) -> dict:
        raw = self.cmd("INFO", section).decode()
        out = {}
        for line in raw.splitlines():
            if ":" in line and not line.startswith("#"):
                k, v = line.split(":", 1)
                out[k] = v
        return out


def check_rdb(info: dict, path) -> dict:
    """Run the server's check-rdb mode on a file; return counts and raw output."""
    chk = info.get("check_rdb")
    if not chk:
        return {}
    p = subprocess.run([chk, str(path)], stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    out = (p.stdout + p.stderr).decode(errors="replace")
    res = {"check_rdb_exit": p.returncode, "check_rdb_ok": "RDB looks OK" in out}
    aux = []
    for line in out.splitlines():
        line = line.strip()
        if "MODULE AUX for: " in line:
            aux.append(line.split("MODULE AUX for: ", 1)[1])
        for field, suffix in (("check_rdb_keys", " keys read"), ("check_rdb_expires", " expires"),
                              ("check_rdb_already_expired", " already expired"),
                              ("check_rdb_subexpires", " subexpires"),
                              ("check_rdb_functions", " functions")):
            if line.startswith("[info] ") and line.endswith(suffix):
                try:
                    res[field] = int(line[len("[info] "):-len(suffix)])
                except ValueError:
                    pass
    if aux:
        res["check_rdb_module_aux"] = aux
    if not res["check_rdb_ok"]:
        res["check_rdb_output_tail"] = out[-1500:]
    return res


def rdb_header(path) -> dict:
    """Magic and version from the first 9 bytes of an RDB file."""
    with open(path, "rb") as f:
        head = f.read(9)
    if head.startswith(b"REDIS"):
        return {"magic": "REDIS", "rdb_version": int(head[5:9])}
    if head.startswith(b"VALKEY"):
        return {"magic": "VALKEY", "rdb_version": int(head[6:9])}
    return {"magic": head[:5].decode(errors="replace"), "rdb_version": None}


if __name__ == "__main__":
    # Smoke test: start every registered server, PING, SAVE, stop.
    import tempfile
    reg = load_registry()
    for name, info in reg.items():
        with tempfile.TemporaryDirectory() as d:
            with Server(name, info, d) as s:
                s.cmd("SET", "smoke", "1")
                p = s.save()
                print(name, s.info_section("server").get("redis_version")
                      or s.info_section("server").get("valkey_version"), rdb_header(p))
