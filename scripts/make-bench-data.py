#!/usr/bin/env python3
"""Make large dumps for benchmarks with a real Redis server (Debian Redis 7.0).

    python3 scripts/make-bench-data.py [--scale 1.0] [--out bench-data] [--only lzf]
                                       [--server redis-7.0]

Writes (git-ignored):
  bench-data/mixed.rdb  ~1 GB at scale 1: strings of 10 B-4 KB (about half of
                        their bytes compressible, so saved with LZF), small
                        listpack hashes/sets/zsets, big hashes/lists/sets/zsets,
                        TTLs on a third of the keys.
  bench-data/small.rdb  10 million small string keys (DEBUG POPULATE), scaled.
  bench-data/lzf.rdb    ~380 MB at scale 1, most of it LZF: 300 k strings of
                        21 B-8 KB, 95 % compressible text (so saved with LZF),
                        and 36 k each of small listpack hashes, lists and
                        sorted sets and small sets (hashtable-encoded in 7.0)
                        whose members are compressible text (the listpack
                        blobs are saved with LZF too), TTLs on a fifth.
  --only mixed|small|lzf makes one of them.
  --server NAME saves them with another server of servers.json (e.g.
  redis-6.0 for RDB 9 with ziplists, which older tools can read).
Data is generated from a fixed seed and piped through `redis-cli --pipe`.
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from servers import Server, load_registry  # noqa: E402

WORDS = [w.encode() for w in (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
    "november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu "
    "user session cart order price total name email city country status active"
).split()]


def cmd(*args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, int):
            a = str(a).encode()
        elif isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def text(rng, n):
    """Compressible text of about n bytes."""
    parts, size = [], 0
    while size < n:
        w = rng.choice(WORDS)
        parts.append(w)
        size += len(w) + 1
    return b" ".join(parts)[:n]


def noise(rng, n):
    """Incompressible bytes."""
    return rng.randbytes(n)


def gen(rng, scale):
    n_str = int(1_600_000 * scale)
    for i in range(n_str):
        n = int(10 * (400 ** rng.random()))  # log-uniform 10 B .. 4 KB
        v = text(rng, n) if i % 2 == 0 else noise(rng, n)
        yield cmd("SET", f"str:{i}", v)
        if i % 3 == 0:
            yield cmd("PEXPIRE", f"str:{i}", 10 ** 10 + i)
    for i in range(int(40_000 * scale)):
        args = ["HSET", f"hs:{i}"]
        for f in range(rng.randint(2, 30)):
            args += [f"f{f}", text(rng, rng.randint(3, 40))]
        yield cmd(*args)
        yield cmd("SADD", f"ss:{i}", *[f"m{rng.randint(0, 10**6)}" for _ in range(rng.randint(2, 40))])
        yield cmd("ZADD", f"zs:{i}", *sum(([str(rng.random() * 1000), f"m{j}"] for j in range(rng.randint(2, 40))), []))
        yield cmd("RPUSH", f"ls:{i}", *[text(rng, rng.randint(3, 30)) for _ in range(rng.randint(2, 40))])
    for i in range(int(600 * scale)):
        for c in range(0, 2000, 500):
            args = ["HSET", f"hb:{i}"]
            for f in range(c, c + 500):
                args += [f"field:{f}", text(rng, rng.randint(10, 120))]
            yield cmd(*args)
            yield cmd("RPUSH", f"lb:{i}", *[text(rng, rng.randint(10, 120)) for _ in range(500)])
            yield cmd("SADD", f"sb:{i}", *[f"member:{rng.randint(0, 10**9)}" for _ in range(500)])
            yield cmd("ZADD", f"zb:{i}", *sum(([str(rng.random()), f"member:{f}"] for f in range(c, c + 500)), []))
        if i % 3 == 0:
            yield cmd("PEXPIRE", f"hb:{i}", 10 ** 10 + i)


def corpus(rng, n):
    """n bytes of word-and-number text: compressible about 2-3x by LZF."""
    parts, size = [], 0
    while size < n:
        w = rng.choice(WORDS) if rng.random() < 0.8 else str(rng.randint(0, 99999)).encode()
        parts.append(w)
        size += len(w) + 1
    return b" ".join(parts)[:n]


def gen_lzf(rng, scale):
    """Mostly LZF: compressible strings over 20 bytes, small listpacks."""
    text = corpus(rng, 1 << 22)

    def slice_(n):
        o = rng.randrange(0, len(text) - n)
        return text[o:o + n]

    for i in range(int(300_000 * scale)):
        n = int(21 * (400 ** rng.random()))  # log-uniform 21 B .. 8 KB
        v = slice_(n) if i % 20 else noise(rng, n)
        yield cmd("SET", f"s:{i}", v)
        if i % 5 == 0:
            yield cmd("PEXPIRE", f"s:{i}", 10 ** 10 + i)
    for i in range(int(36_000 * scale)):
        args = ["HSET", f"h:{i}"]
        for f in range(rng.randint(2, 100)):
            args += [f"field:{f}", slice_(rng.randint(4, 60))]
        yield cmd(*args)
        yield cmd("RPUSH", f"l:{i}", *[slice_(rng.randint(4, 60)) for _ in range(rng.randint(2, 100))])
        yield cmd("ZADD", f"z:{i}", *sum(([str(rng.randint(0, 10**6)), slice_(rng.randint(8, 60))]
                                          for _ in range(rng.randint(2, 100))), []))
        yield cmd("SADD", f"t:{i}", *[slice_(rng.randint(21, 60)) for _ in range(rng.randint(2, 20))])
        if i % 5 == 0:
            yield cmd("PEXPIRE", f"h:{i}", 10 ** 10 + i)


def pipe(cli, s, commands):
    """Sends the commands through `redis-cli --pipe`."""
    p = subprocess.Popen([cli, "-p", str(s.port), "--pipe"], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL)
    buf = []
    size = 0
    for c in commands:
        buf.append(c)
        size += len(c)
        if size > 1 << 20:
            p.stdin.write(b"".join(buf))
            buf, size = [], 0
    p.stdin.write(b"".join(buf))
    p.stdin.close()
    if p.wait() != 0:
        sys.exit("redis-cli --pipe failed")


def bgsave(s) -> Path:
    """BGSAVE and wait for it (a 1 GB SAVE outlasts the client's timeout)."""
    import time
    s.cmd("BGSAVE")
    while True:
        time.sleep(1)
        info = s.cmd("INFO", "persistence")
        info = info.decode() if isinstance(info, bytes) else str(info)
        if "rdb_bgsave_in_progress:0" in info:
            if "rdb_last_bgsave_status:ok" not in info:
                sys.exit("BGSAVE failed")
            return s.workdir / s.dbfilename


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--out", default="bench-data")
    ap.add_argument("--only", choices=["mixed", "small", "lzf"])
    ap.add_argument("--server", default="redis-7.0")
    a = ap.parse_args()
    out = Path(a.out).resolve()
    out.mkdir(exist_ok=True)
    reg = load_registry()
    info = reg[a.server]
    cli = shutil.which("redis-cli")
    if not cli:
        sys.exit("redis-cli not found (apt-get install redis-tools)")
    work = out / "work"
    if a.only in (None, "mixed"):
        shutil.rmtree(work, ignore_errors=True)
        with Server(a.server, info, work, dbfilename="mixed.rdb") as s:
            pipe(cli, s, gen(random.Random(20261125), a.scale))
            shutil.move(bgsave(s), out / "mixed.rdb")
        print(f"mixed.rdb: {os.path.getsize(out / 'mixed.rdb')} bytes")
    if a.only in (None, "small"):
        shutil.rmtree(work, ignore_errors=True)
        with Server(a.server, info, work, dbfilename="small.rdb") as s:
            s.cmd("DEBUG", "POPULATE", int(10_000_000 * a.scale))
            shutil.move(bgsave(s), out / "small.rdb")
        print(f"small.rdb: {os.path.getsize(out / 'small.rdb')} bytes")
    if a.only in (None, "lzf"):
        shutil.rmtree(work, ignore_errors=True)
        with Server(a.server, info, work, dbfilename="lzf.rdb") as s:
            pipe(cli, s, gen_lzf(random.Random(20261204), a.scale))
            shutil.move(bgsave(s), out / "lzf.rdb")
        print(f"lzf.rdb: {os.path.getsize(out / 'lzf.rdb')} bytes")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
