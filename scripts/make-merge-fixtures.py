#!/usr/bin/env python3
"""Make the small real-server fixtures of the merge tests, tests/fixtures/merge/.

    bash scripts/install-servers.sh            # once
    python3 scripts/make-merge-fixtures.py     # ~5 s

Each pair is two "nodes" written by a real server with SAVE:

  multidb-{a,b}.rdb         Redis 7.0. db 0 and db 3. Key `dup` is in db 0 and
                            db 3 of node a with different values (a conflict
                            once flattened); `db3:same` is identical in db 3 of
                            both nodes; `db0:a` / `db0:b` / `db3:a` / `db3:b`
                            are unique.
  funcs-{a,b}.rdb           Redis 7.0. Library `same` identical on both nodes;
                            library `differs` with the same name and different
                            code. Keys fa / fb.
  search-{a,b}.rdb          redis-stack 7.4 (RediSearch). Index `idx` with a
                            different schema on each node: the RediSearch
                            module aux data differs. Keys doc:a:1 / doc:b:1.
  cluster-redis-{a,b}.rdb   Redis 7.4 in cluster mode (all slots on the one
                            node): SLOT_INFO records between the keys.
  cluster-valkey-{a,b}.rdb  Valkey 8.1 in cluster mode: `slot-info` aux fields.
  expiring-{a,b}.rdb        Redis 7.0. Five keys with TTLs in 2100, one without,
                            and three (`<tag>:old:<i>`) whose expiry passed
                            before SAVE (active expiry off, never accessed, so
                            the file holds them with their past expiry), for
                            --drop-expired and the already-expired counts.

  valkey9-{a,b}.rdb         Valkey 9.1 (VALKEY080): strings, a hash with a field
                            TTL (type 22, HASH_2), a stream.

Writes tests/fixtures/merge/fixtures.json with every node's DBSIZE per db.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from servers import Server, check_rdb, free_port, load_registry, rdb_header  # noqa: E402

OUT = REPO / "tests" / "fixtures" / "merge"
T2100 = 4102444800000
PAST = 1000000000000  # 2001-09-09


def keyspace(s: Server) -> dict:
    ks = s.info_section("keyspace")
    out = {}
    for db, v in ks.items():
        kv = dict(p.split("=") for p in v.split(","))
        out[db[2:]] = {"keys": int(kv["keys"]), "expires": int(kv["expires"])}
    return out


def node(reg, name, tmp: Path, fname: str, fill, config=None, modules=None):
    wd = tmp / fname.replace(".rdb", "")
    if config and config.get("cluster-enabled") == "yes":
        # The cluster bus listens on port+10000 unless cluster-port is set.
        config = {**config, "cluster-port": str(free_port())}
    with Server(name, reg[name], wd, config=config, dbfilename=fname, modules=modules) as s:
        fill(s)
        meta = {"server": name, "version": s.version, "keyspace": keyspace(s)}
        path = s.save()
        dst = OUT / fname
        shutil.copyfile(path, dst)
    meta.update(rdb_header(dst))
    chk = check_rdb(reg[name], dst)
    meta["check_rdb_ok"] = chk.get("check_rdb_ok")
    return meta


def multidb(tag):
    def fill(s):
        s.cmd("SET", f"db0:{tag}", "x")
        s.cmd("SET", "dup", "in db 0")
        s.cmd("SELECT", 3)
        s.cmd("SET", f"db3:{tag}", "y")
        s.cmd("SET", "db3:same", "identical")
        if tag == "a":
            s.cmd("SET", "dup", "in db 3")
        s.cmd("SELECT", 0)
    return fill


def funcs(tag):
    def fill(s):
        s.cmd("SET", f"f{tag}", "1")
        s.cmd("FUNCTION", "LOAD", "#!lua name=same\nredis.register_function('same_f', function() return 1 end)\n")
        s.cmd("FUNCTION", "LOAD", f"#!lua name=differs\nredis.register_function('differs_{tag}', function() return '{tag}' end)\n")
    return fill


def search(tag):
    def fill(s):
        s.cmd("HSET", f"doc:{tag}:1", "title", "hello", "n", 1)
        schema = ["title", "TEXT"] if tag == "a" else ["title", "TEXT", "n", "NUMERIC"]
        s.cmd("FT.CREATE", "idx", "ON", "HASH", "PREFIX", 1, "doc:", "SCHEMA", *schema)
    return fill


def cluster(tag):
    def fill(s):
        s.cmd("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        import time
        for _ in range(200):
            if s.info_section("cluster").get("cluster_enabled") == "1":
                st = s.cmd("CLUSTER", "INFO").decode()
                if "cluster_state:ok" in st:
                    break
            time.sleep(0.05)
        for i in range(20):
            s.cmd("SET", f"{tag}:key:{i}", f"v{i}")
        s.cmd("SET", f"{tag}:ttl", "t")
        s.cmd("PEXPIREAT", f"{tag}:ttl", T2100)
    return fill


def expiring(tag):
    def fill(s):
        import time
        s.cmd("DEBUG", "SET-ACTIVE-EXPIRE", 0)
        for i in range(5):
            s.cmd("SET", f"{tag}:live:{i}", "v")
            s.cmd("PEXPIREAT", f"{tag}:live:{i}", T2100 + i)
        s.cmd("SET", f"{tag}:plain", "v")
        # Keys that expire while nobody looks: with active expiry off they
        # stay in memory and SAVE writes them with their (past) expiry.
        soon = int(time.time() * 1000) + 300
        for i in range(3):
            s.cmd("SET", f"{tag}:old:{i}", "gone")
            s.cmd("PEXPIREAT", f"{tag}:old:{i}", soon + i)
        time.sleep(0.5)
    return fill


def valkey9(tag):
    def fill(s):
        for i in range(5):
            s.cmd("SET", f"{tag}:k:{i}", f"v{i}")
        s.cmd("HSET", f"{tag}:hfe", "f1", "v1", "f2", "v2")
        s.cmd("HPEXPIREAT", f"{tag}:hfe", T2100, "FIELDS", 1, "f1")
        s.cmd("XADD", f"{tag}:stream", "1700000000000-1", "f", "v")
    return fill


def main():
    reg = load_registry()
    OUT.mkdir(parents=True, exist_ok=True)
    meta = {}
    with tempfile.TemporaryDirectory(prefix="rdbkit-merge-fixtures-") as t:
        tmp = Path(t)
        jobs = [
            ("redis-7.0", "multidb-{}.rdb", multidb, None, None),
            ("redis-7.0", "funcs-{}.rdb", funcs, None, None),
            ("redis-stack-7.4", "search-{}.rdb", search, None, None),
            ("redis-7.4", "cluster-redis-{}.rdb", cluster,
             {"cluster-enabled": "yes", "cluster-config-file": "nodes.conf"}, None),
            ("valkey-8.1", "cluster-valkey-{}.rdb", cluster,
             {"cluster-enabled": "yes", "cluster-config-file": "nodes.conf"}, None),
            ("redis-7.0", "expiring-{}.rdb", expiring, None, None),
            ("valkey-9.1", "valkey9-{}.rdb", valkey9, None, None),
        ]
        for server, pattern, fill, config, modules in jobs:
            if server not in reg:
                print(f"skipping {pattern}: {server} is not installed", file=sys.stderr)
                continue
            for tag in ("a", "b"):
                fname = pattern.format(tag)
                meta[fname] = node(reg, server, tmp, fname, fill(tag), config=config, modules=modules)
                print(fname, meta[fname], file=sys.stderr)
    (OUT / "fixtures.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    bad = [f for f, m in meta.items() if not m.get("check_rdb_ok")]
    if bad:
        print(f"check-rdb did not say OK for {bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
