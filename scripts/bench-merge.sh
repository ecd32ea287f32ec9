#!/usr/bin/env bash
# Benchmark `rdbkit merge` against `cat A B > OUT && sync` on two ~250 MB
# per-node dumps written by a real server, and measure the merge's peak heap.
#
#   bash scripts/bench-merge.sh [WORKDIR] [STRING_KEYS_PER_NODE]
#
# * The dumps (default 1,800,000 DEBUG POPULATE strings of 100 bytes plus
#   90,000 each of hashes, lists, sets, sorted sets, 9,000 streams and TTLs
#   per node; rdbcompression off, ~247 MB each) are made once by
#   $RDBKIT_BENCH_SERVER (default redis-7.4) and reused.
# * Both commands read warm inputs (page cache) and end with the output on
#   disk: cat + sync, and the merge (which fsyncs its output, re-reads and
#   verifies it, then renames it). Each runs RUNS times (default 3),
#   alternating; the median is reported.
# * Heap: `RDBKIT_MERGE_HEAP=a,b cargo bench --bench merge` runs one merge
#   under a counting global allocator (the inputs are memory-mapped and
#   not heap). Max RSS from /usr/bin/time includes the mapped file pages.
#
# Goal (issue #4): merge <= 3x cat+sync, heap < 32 bytes/key.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-${TMPDIR:-/tmp}/rdbkit-bench-merge}
N=${2:-1800000}
RUNS=${RUNS:-3}
SERVER=${RDBKIT_BENCH_SERVER:-redis-7.4}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target}
BIN=$CARGO_TARGET_DIR/release/rdbkit

mkdir -p "$WORK"
(cd "$REPO" && cargo build --release --quiet --bin rdbkit)

for node in a b; do
    if [ ! -s "$WORK/$node.rdb" ]; then
        echo "making $WORK/$node.rdb with $SERVER ($N strings + mixed types)..." >&2
        python3 - "$REPO" "$SERVER" "$WORK" "$node" "$N" <<'EOF'
import pathlib, shutil, sys, tempfile
repo, name, work, node, n = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3]), sys.argv[4], int(sys.argv[5])
sys.dont_write_bytecode = True
sys.path.insert(0, repo + "/scripts")
from servers import Server, load_registry
reg = load_registry()
with tempfile.TemporaryDirectory(prefix="rdbkit-bench-") as d:
    with Server(name, reg[name], d, config={"rdbcompression": "no"}, dbfilename="dump.rdb") as s:
        s.cmd("DEBUG", "POPULATE", n, f"{node}:str", 100)
        cmds = []
        for i in range(n // 20):
            cmds.append(["HSET", f"{node}:hash:{i}"] + sum([[f"f{j}", f"value-{j}-{i}"] for j in range(8)], []))
            cmds.append(["RPUSH", f"{node}:list:{i}"] + [f"item-{j}" for j in range(10)])
            cmds.append(["SADD", f"{node}:set:{i}"] + [str(j * 7 + i) for j in range(10)])
            cmds.append(["ZADD", f"{node}:zset:{i}"] + sum([[str(j), f"m{j}"] for j in range(8)], []))
            if i % 10 == 0:
                cmds.append(["XADD", f"{node}:stream:{i}", "*", "a", "1", "b", "2"])
                cmds.append(["PEXPIREAT", f"{node}:hash:{i}", 4102444800000 + i])
            if len(cmds) > 2000:
                s.pipeline(cmds)
                cmds = []
        s.pipeline(cmds)
        print(f"{node}: DBSIZE {s.cmd('DBSIZE')}", file=sys.stderr)
        shutil.copyfile(s.save(), work / f"{node}.rdb")
EOF
    fi
done

A=$WORK/a.rdb
B=$WORK/b.rdb
OUT=$WORK/merged.rdb
CAT=$WORK/cat.rdb
cat "$A" "$B" > /dev/null   # warm the page cache

now() { date +%s.%N; }
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

# CPU seconds (user + sys of the command and its children) are reported
# too: on a shared machine the wall time of the CPU-bound merge suffers
# much more from other load than cat's mostly in-kernel copy does.
cpu_of() { /usr/bin/time -f '%U %S' -o "$WORK/cpu.txt" "$@" && awk '{print $1 + $2}' "$WORK/cpu.txt"; }
cat_times=(); cat_cpu=()
merge_times=(); merge_cpu=()
for i in $(seq "$RUNS"); do
    rm -f "$CAT" "$OUT"; sync
    t0=$(now); c=$(cpu_of sh -c 'cat "$1" "$2" > "$3" && sync' sh "$A" "$B" "$CAT"); t1=$(now)
    cat_times+=("$(echo "$t1 - $t0" | bc -l)"); cat_cpu+=("$c")
    rm -f "$CAT"; sync
    t0=$(now); c=$(cpu_of "$BIN" merge "$A" "$B" -o "$OUT" --no-progress --report "$WORK/report.json" 2>/dev/null); t1=$(now)
    merge_times+=("$(echo "$t1 - $t0" | bc -l)"); merge_cpu+=("$c")
done
cat_med=$(printf '%s\n' "${cat_times[@]}" | median)
merge_med=$(printf '%s\n' "${merge_times[@]}" | median)
cat_cpu_med=$(printf '%s\n' "${cat_cpu[@]}" | median)
merge_cpu_med=$(printf '%s\n' "${merge_cpu[@]}" | median)

rm -f "$OUT"
rss_kb=$(/usr/bin/time -f '%M' "$BIN" merge "$A" "$B" -o "$OUT" --no-progress 2>&1 >/dev/null | tail -1)
heap=$(cd "$REPO" && RDBKIT_MERGE_HEAP="$A,$B" cargo bench --quiet --bench merge 2>/dev/null | grep 'peak heap')

size_a=$(stat -c %s "$A"); size_b=$(stat -c %s "$B"); size_o=$(stat -c %s "$OUT")
echo
echo "inputs:        $A ($size_a bytes), $B ($size_b bytes)"
echo "output:        $OUT ($size_o bytes)"
phases=$(python3 - "$WORK/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(", ".join("%s %.2fs" % (p["phase"], p["seconds"]) for p in r["phases_s"]))
PY
)
echo "phases (last): $phases"
echo "load average:  $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
echo "cat+sync:      wall ${cat_times[*]} s (median $cat_med s); CPU median $cat_cpu_med s"
echo "rdbkit merge:  wall ${merge_times[*]} s (median $merge_med s); CPU median $merge_cpu_med s"
echo "ratio (wall):  $(echo "$merge_med / $cat_med" | bc -l | cut -c1-5)x  (goal <= 3x)"
echo "max RSS:       $rss_kb KiB (includes the memory-mapped inputs and output)"
echo "heap:          $heap  (goal < 32 bytes/key)"
rm -f "$OUT" "$CAT" "$WORK/cpu.txt"
