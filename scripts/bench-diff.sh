#!/usr/bin/env bash
# Benchmark `rdbkit diff` (issue 13): one ~250 MB per-node dump against a
# copy of it with 0.1% of its values changed by a real server, against
# `rdbkit verify` of both files.
#
#   bash scripts/bench-diff.sh [WORKDIR]
#
# * a.rdb is scripts/bench-merge.sh's node dump (made there if absent, by
#   $RDBKIT_BENCH_SERVER, default redis-7.4). c.rdb is made once: the same
#   server loads a.rdb, changes one key in a thousand (SET, HSET, SADD,
#   ZADD, RPUSH by type: the change touches one element) and saves.
# * RUNS rounds (default 5), page cache warm, each round runs diff and the
#   two verifies alternately; medians of wall time and of peak RSS.
#
# Goal (issue 13): diff <= 2x (verify a + verify c); heap <= 32 B/key.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-${TMPDIR:-/tmp}/rdbkit-bench-merge}
RUNS=${RUNS:-5}
SERVER=${RDBKIT_BENCH_SERVER:-redis-7.4}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
BIN=$CARGO_TARGET_DIR/release/rdbkit

[ -s "$WORK/a.rdb" ] || bash "$REPO/scripts/bench-merge.sh" "$WORK" >/dev/null
(cd "$REPO" && cargo build --release --quiet --bin rdbkit)

if [ ! -s "$WORK/c.rdb" ]; then
    echo "making $WORK/c.rdb: $SERVER changes 0.1% of a.rdb's keys..." >&2
    python3 - "$REPO" "$SERVER" "$WORK" <<'PY'
import pathlib, shutil, sys, tempfile
repo, name, work = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
sys.dont_write_bytecode = True
sys.path.insert(0, repo + "/scripts")
from servers import Server, load_registry
d = pathlib.Path(tempfile.mkdtemp(dir=work))
shutil.copy(work / "a.rdb", d / "dump.rdb")
with Server(name, load_registry()[name], d, dbfilename="dump.rdb") as s:
    changed, cursor, seen = 0, "0", 0
    while True:
        cursor, keys = s.cmd("SCAN", cursor, "COUNT", "1000")
        cursor = cursor.decode() if isinstance(cursor, bytes) else cursor
        for k in keys:
            seen += 1
            if seen % 1000:
                continue
            t = s.cmd("TYPE", k)
            t = t.decode() if isinstance(t, bytes) else t
            if t == "string":
                s.cmd("APPEND", k, "!")
            elif t == "hash":
                s.cmd("HSET", k, "bench-changed", "1")
            elif t == "set":
                s.cmd("SADD", k, "bench-changed")
            elif t == "zset":
                s.cmd("ZADD", k, "0.5", "bench-changed")
            elif t == "list":
                s.cmd("RPUSH", k, "bench-changed")
            else:
                s.cmd("DEL", k)
            changed += 1
        if cursor == "0":
            break
    s.cmd("SAVE")
    print(f"changed {changed} of {seen} keys", file=sys.stderr)
shutil.move(str(d / "dump.rdb"), work / "c.rdb")
shutil.rmtree(d)
PY
fi

A=$WORK/a.rdb C=$WORK/c.rdb
cat "$A" "$C" >/dev/null
T=$(mktemp)
trap 'rm -f "$T"' EXIT
diffs=() verifies=() rss=()
for _ in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %M" -o "$T" "$BIN" diff "$A" --against "$C" --format jsonl >/dev/null 2>&1 || true
    # (time's first line says the exit status when diff exits 1.)
    read -r w m < <(tail -1 "$T"); diffs+=("$w"); rss+=("$m")
    /usr/bin/time -f "%e" -o "$T" sh -c "'$BIN' verify '$A' >/dev/null && '$BIN' verify '$C' >/dev/null"
    read -r w <"$T"; verifies+=("$w")
done
{ "$BIN" diff "$A" --against "$C" --format jsonl || true; } | tail -1
python3 - "${diffs[*]}" "${verifies[*]}" "${rss[*]}" <<'PY'
import statistics, sys
d, v, r = (list(map(float, a.split())) for a in sys.argv[1:4])
md, mv = statistics.median(d), statistics.median(v)
print(f"diff a c: median {md:.2f} s (runs {' '.join(f'{x:.2f}' for x in d)}), peak RSS {statistics.median(r)/1024:.0f} MiB")
print(f"verify a + verify c: median {mv:.2f} s (runs {' '.join(f'{x:.2f}' for x in v)})")
print(f"diff / (verify a + verify c) = {md/mv:.2f} (goal <= 2)")
PY
