#!/usr/bin/env python3
"""Make examples/dump1.rdb and examples/dump2.rdb: the two nodes of one
Dynomite rack, each written by a real Redis 7.0 (Debian redis-server).

    bash scripts/install-servers.sh      # once
    python3 scripts/make-examples.py [--server redis-7.0]

* One keyspace (~2,600 keys, all in db 0 as Dynomite does not support SELECT)
  split between the nodes with Dynomite's own placement: murmur hash
  (Dynomite's `hash_murmur`, MurmurHash2 variant seeded with 0xdeadbeef*len)
  and `vnode_dispatch` over the rack tokens below.
* Types: string, list, set, zset, hash (streams are not in Dynomite's command
  table, so none).  TTLs are absolute and far in the future (2100+).
* The same function library is loaded on both nodes.
* Read-repair metadata: `._add-set` / `._rem-set` exist on BOTH nodes (with
  different members), `._add-set_<key>` / `._rem-set_<key>` field-level
  zsets only on the node owning <key>.
Writes examples/README.md with the DBSIZE each server reported.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import struct
import sys
import tempfile
from pathlib import Path

sys.dont_write_bytecode = True  # keep __pycache__ out of the repo
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from servers import Server, check_rdb, load_registry, rdb_header  # noqa: E402

SEED = 7001
T2100 = 4102444800000
# Rack "rack1", two nodes; tokens as in a dynomite.yml `tokens:` line.
NODES = [("dump1", 1073741823), ("dump2", 3221225471)]
FUNCTION_LIB = (
    "#!lua name=dynoapp\n"
    "redis.register_function{function_name='dynoapp_touch', "
    "callback=function(keys, args) return redis.call('PEXPIRE', keys[1], args[1]) end}\n"
    "redis.register_function{function_name='dynoapp_get', "
    "callback=function(keys, args) return redis.call('GET', keys[1]) end, flags={'no-writes'}}\n"
)


def dyn_murmur(key: bytes) -> int:
    """Dynomite's hash_murmur (32-bit MurmurHash2, seed 0xdeadbeef * len)."""
    m = 0x5BD1E995
    mask = 0xFFFFFFFF
    n = len(key)
    h = ((0xDEADBEEF * n) & mask) ^ n
    i = 0
    while n - i >= 4:
        k = struct.unpack_from("<I", key, i)[0]
        k = (k * m) & mask
        k ^= k >> 24
        k = (k * m) & mask
        h = (h * m) & mask
        h ^= k
        i += 4
    rest = n - i
    if rest == 3:
        h ^= key[i + 2] << 16
    if rest >= 2:
        h ^= key[i + 1] << 8
    if rest >= 1:
        h ^= key[i]
        h = (h * m) & mask
    h ^= h >> 13
    h = (h * m) & mask
    h ^= h >> 15
    return h


def owner(key: bytes) -> int:
    """vnode_dispatch: first token >= hash; wrap to the lowest token when the
    hash is above the largest token or <= the smallest."""
    h = dyn_murmur(key)
    tokens = sorted((t, i) for i, (_, t) in enumerate(NODES))
    if h > tokens[-1][0] or h <= tokens[0][0]:
        return tokens[0][1]
    for t, i in tokens:
        if t >= h:
            return i
    return tokens[0][1]


def build_keyspace(rng: random.Random):
    """List of (key, [commands...], expire_ms|None, field_meta)."""
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
             "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa"]
    ks = []

    def w():
        return rng.choice(words)

    for i in range(900):                       # user profiles as strings (JSON text)
        k = f"user:{i}"
        doc = json.dumps({"id": i, "name": f"{w()} {w()}", "score": rng.randint(0, 10000)},
                         separators=(",", ":"))
        ks.append((k, [["SET", k, doc]], None, None))
    for i in range(400):                       # counters (int-encoded)
        k = f"counter:{i}"
        ks.append((k, [["SET", k, str(rng.randint(-1000, 10**9))]], None, None))
    for i in range(300):                       # sessions with TTL
        k = f"session:{rng.getrandbits(64):016x}"
        ks.append((k, [["SET", k, f"uid={rng.randint(0, 899)};{w()}" * 3]],
                   T2100 + rng.randint(0, 10**9), None))
    for i in range(350):                       # hashes
        k = f"profile:{i}"
        fields = []
        for f in range(rng.randint(2, 8)):
            fields += [f"f{f}", w()]
        meta = [f for f in fields[::2]] if i % 25 == 0 else None
        ks.append((k, [["HSET", k, *fields]], T2100 + i * 1000 if i % 10 == 0 else None, meta))
    for i in range(250):                       # sets
        k = f"tags:{i}"
        members = sorted({w() for _ in range(rng.randint(1, 6))})
        meta = members if i % 25 == 0 else None
        ks.append((k, [["SADD", k, *members]], None, meta))
    for i in range(200):                       # lists
        k = f"queue:{i}"
        ks.append((k, [["RPUSH", k, *[f"job-{rng.randint(0, 99999)}" for _ in range(rng.randint(1, 10))]]],
                   T2100 + i if i % 7 == 0 else None, None))
    for i in range(150):                       # zsets
        k = f"leaderboard:{i}"
        args = []
        for j in range(rng.randint(1, 12)):
            args += [str(rng.randint(-500, 500) / 4), f"player-{j}"]
        ks.append((k, [["ZADD", k, *args]], None, None))
    # a couple of larger values so both nodes have non-listpack encodings
    big = ["HSET", "profile:big"]
    for j in range(200):
        big += [f"field-{j}", f"{w()}-{j}"]
    ks.append(("profile:big", [big], None, None))
    ks.append(("queue:big", [["RPUSH", "queue:big", *[f"job-{j:05d}" for j in range(400)]]], None, None))
    ks.append(("leaderboard:big", [["ZADD", "leaderboard:big",
                                    *sum([[str(j), f"p{j}"] for j in range(300)], [])]], None, None))
    return ks


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--server", default="redis-7.0")
    ap.add_argument("--registry")
    ap.add_argument("--out", default=str(REPO / "examples"))
    a = ap.parse_args(argv)
    info = load_registry(a.registry)[a.server]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    rng = random.Random(SEED)
    keyspace = build_keyspace(rng)
    per_node = [[] for _ in NODES]
    for item in keyspace:
        per_node[owner(item[0].encode())].append(item)
    # keys "deleted through Dynomite": only their names live on in ._rem-set
    removed = [f"user:{i}" for i in range(900, 960)]

    results = []
    for idx, (node, token) in enumerate(NODES):
        with tempfile.TemporaryDirectory(prefix=f"rdbkit-{node}-") as tmp:
            srv = Server(a.server, info, tmp, config={"rdbcompression": "yes"},
                         dbfilename=f"{node}.rdb")
            with srv:
                c = srv.cmd
                c("FUNCTION", "LOAD", FUNCTION_LIB)
                ts = 1700000000000 + idx * 17
                add_set, field_meta = [], []
                cmds = []
                for n, (key, kcmds, exp, fmeta) in enumerate(per_node[idx]):
                    cmds += kcmds
                    if exp is not None:
                        cmds.append(["PEXPIREAT", key, exp])
                    add_set += [str(ts + n * 1000), key]
                    if fmeta:
                        cmds.append(["ZADD", f"._add-set_{key}",
                                     *sum([[str(ts + n * 1000), f] for f in fmeta], [])])
                        cmds.append(["ZADD", f"._rem-set_{key}", str(ts + n * 1000 + 5), "gone-field"])
                        field_meta.append(key)
                for i in range(0, len(cmds), 200):
                    for r in srv.pipeline(cmds[i:i + 200]):
                        if isinstance(r, Exception):
                            raise r
                # node-local read-repair bookkeeping (present on every node)
                c("ZADD", "._add-set", *add_set)
                mine = [k for k in removed if owner(k.encode()) == idx]
                c("ZADD", "._rem-set", *sum([[str(ts + 10**7 + j), k] for j, k in enumerate(mine)], []))
                dbsize = c("DBSIZE")
                version = srv.info_section("server")["redis_version"]
                expires = srv.info_section("keyspace").get("db0", "")
                rdb = srv.save()
                shutil.copyfile(rdb, out / f"{node}.rdb")
        chk = check_rdb(info, out / f"{node}.rdb")
        hdr = rdb_header(out / f"{node}.rdb")
        results.append({"node": node, "token": token, "dbsize": dbsize, "keyspace": expires,
                        "data_keys": len(per_node[idx]), "field_meta_keys": 2 * len(field_meta),
                        "version": version, "rdb_version": hdr["rdb_version"],
                        "size": (out / f"{node}.rdb").stat().st_size, **chk})
        print(json.dumps(results[-1]))

    write_readme(out, a.server, results)
    return 0 if all(r.get("check_rdb_ok", True) for r in results) else 1


def write_readme(out: Path, server: str, results):
    rows = "\n".join(
        f"| `{r['node']}.rdb` | {r['token']} | {r['dbsize']} | {r['data_keys']} | "
        f"{r['field_meta_keys']} | 2 | `{r['keyspace']}` | {r['size']} |"
        for r in results)
    v = results[0]["version"]
    text = f"""# Example: one Dynomite rack, two nodes

`dump1.rdb` and `dump2.rdb` are the RDB files of the two backend Redis servers
of one Dynomite rack. They were written by a real Redis {v} (`{server}`, RDB
version {results[0]['rdb_version']}) with `SAVE`, by
[`scripts/make-examples.py`](../scripts/make-examples.py):

    bash scripts/install-servers.sh
    python3 scripts/make-examples.py

What is inside:

* One keyspace of {sum(r['data_keys'] for r in results)} data keys split between the nodes by Dynomite's
  placement: the key's `hash_murmur` token (MurmurHash2 variant, seed
  `0xdeadbeef * len`, no hash tag) dispatched over the rack's tokens with
  `vnode_dispatch` (first node token >= hash; wrap to the lowest token when the
  hash is above the largest token or <= the smallest). Node tokens:
  dump1 = {results[0]['token']}, dump2 = {results[1]['token']}. The data keys of the
  two nodes are disjoint.
* db 0 only (Dynomite does not support `SELECT`); types string (JSON text,
  int-encoded counters), hash, set, list, zset, including one large hash,
  list and zset; no streams (not in Dynomite's command table).
* TTLs on sessions and some hashes/lists, absolute times in 2100 or later.
* The same function library `dynoapp` on both nodes (a merger must keep one
  copy, not fail on the duplicate).
* Dynomite read-repair metadata: `._add-set` and `._rem-set` (zsets of key
  name -> timestamp) exist on **both** nodes with different members, a
  guaranteed duplicate key across the nodes; `._add-set_<key>` /
  `._rem-set_<key>` (field-level) only on the node that owns `<key>`.

DBSIZE as reported by each server before `SAVE`:

| file | token | DBSIZE | data keys | `._*-set_<key>` keys | `._add-set` + `._rem-set` | INFO keyspace | bytes |
| --- | --- | --- | --- | --- | --- | --- | --- |
{rows}

Both files pass `redis-check-rdb` of the same Redis version.
"""
    (out / "README.md").write_text(text)


if __name__ == "__main__":
    sys.exit(main())
