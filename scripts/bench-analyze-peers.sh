#!/usr/bin/env bash
# Times `rdbkit analyze` (csv and text) against the memory reports of its
# peers on one dump both of them can read (issue 12):
#   * redis-rdb-tools (PyPI `rdbtools`, Python): `rdb -c memory FILE -f OUT.csv`
#   * HDT3213/rdb (Go):                          `rdb -c memory -o OUT.csv FILE`
# RUNS runs of each tool (default 3), taken in turn so load from other
# processes hits them alike; page cache warm. Prints median wall and CPU
# seconds (user + sys), peak RSS (/usr/bin/time %M, which counts the pages
# of a mapped input) and peak heap (RssAnon, scripts/peak-anon.py, one extra
# run each), the CSV row counts against the key count, and rdbkit's speed-up
# against each peer. With ACCURACY=1 (the default) it then loads the dump
# into a real Redis 6.0 (127.0.0.1, own port and directory, stopped by PID)
# and compares every key's size in each report with MEMORY USAGE.
#
#   bash scripts/bench-analyze-peers.sh [DUMP]
#   RUNS=5 SCALE=0.25 ACCURACY=0 bash scripts/bench-analyze-peers.sh
#
# The dump (default bench-data/analyze-peers/mixed.rdb, made if absent) is
# make-bench-data.py's "mixed" data set at SCALE (default 0.25, about 255 MB,
# 440 k keys; fixed seed) saved by the Redis 6.0.9 of servers.json: RDB 9
# with ziplists, which rdbtools reads (it accepts RDB versions 1 to 9 only).
#
# The peers are installed under bench-data/peers/ (git-ignored; nothing of
# theirs is committed), once:
#   * rdbtools 0.1.15 (+ python-lzf if it installs) into bench-data/peers/venv.
#   * HDT3213/rdb v1.3.2 built by Debian's Go (apt-get install golang-go,
#     Go 1.19) as bench-data/peers/bin/rdb-hdt3213, offline (GOPROXY=off):
#     its source and that of its seven module dependencies come from bare git
#     repositories $MIRROR/<owner>+<name>/repo (MIRROR defaults to
#     /work/.mirror, where this machine's fetch tool puts GitHub snapshots;
#     elsewhere: git clone --bare https://github.com/<owner>/<name>
#     $MIRROR/<owner>+<name>/repo for each repository in DEPS below). Each
#     is exported at the tag HDT3213/rdb's go.mod asks for into
#     bench-data/peers/hdt3213/, and a copy of its go.mod there gets
#     `replace` directives to those directories. When a repository or Go is
#     missing, HDT3213/rdb is skipped with a message.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
SCALE=${SCALE:-0.25}
ACCURACY=${ACCURACY:-1}
MIRROR=${MIRROR:-/work/.mirror}
PEERS=bench-data/peers
DUMP=${1:-bench-data/analyze-peers/mixed.rdb}
mkdir -p "$PEERS/bin"

if [ ! -f "$DUMP" ]; then
  [ "$DUMP" = bench-data/analyze-peers/mixed.rdb ] || { echo "$DUMP: no such file" >&2; exit 1; }
  python3 scripts/make-bench-data.py --only mixed --scale "$SCALE" --server redis-6.0 \
    --out bench-data/analyze-peers
fi

cargo build --release -q
RDBKIT=${CARGO_TARGET_DIR:-target}/release/rdbkit

# --- redis-rdb-tools ---------------------------------------------------------
RDBTOOLS=$PEERS/venv/bin/rdb
if [ ! -x "$RDBTOOLS" ]; then
  python3 -m venv "$PEERS/venv"
  "$PEERS/venv/bin/pip" install -q rdbtools==0.1.15 \
    || echo "(rdbtools not installable; skipped)" >&2
  "$PEERS/venv/bin/pip" install -q python-lzf \
    || echo "(python-lzf not installable; rdbtools uses its pure-Python LZF)" >&2
fi

# --- HDT3213/rdb -------------------------------------------------------------
HDT=$PEERS/bin/rdb-hdt3213
# owner+name  tag  module path  (directory inside the repository)
DEPS=(
  "HDT3213+rdb v1.3.2 -"
  "bytedance+sonic v1.15.0 github.com/bytedance/sonic"
  "bytedance+sonic loader/v0.5.0 github.com/bytedance/sonic/loader loader"
  "bytedance+gopkg v0.1.3 github.com/bytedance/gopkg"
  "cloudwego+base64x v0.1.6 github.com/cloudwego/base64x"
  "klauspost+cpuid v2.2.9 github.com/klauspost/cpuid/v2"
  "twitchyliquid64+golang-asm v0.15.1 github.com/twitchyliquid64/golang-asm"
  "golang+arch v0.9.0 golang.org/x/arch"
  "golang+sys v0.24.0 golang.org/x/sys"
)
build_hdt() {
  if ! command -v go >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get install -y -q golang-go >/dev/null || true
    fi
    command -v go >/dev/null || { echo "(no Go toolchain; HDT3213/rdb skipped)" >&2; return 1; }
  fi
  local d
  for d in "${DEPS[@]}"; do
    set -- $d
    if ! git --git-dir="$MIRROR/$1/repo" rev-parse -q --verify "refs/tags/$2" >/dev/null 2>&1; then
      echo "(no $MIRROR/$1/repo with tag $2; HDT3213/rdb skipped: fetch github:${1/+//} first)" >&2
      return 1
    fi
  done
  local top=$PEERS/hdt3213
  rm -rf "$top"
  mkdir -p "$top/src" "$top/deps"
  local abs replaces=""
  abs=$(cd "$top" && pwd)
  for d in "${DEPS[@]}"; do
    set -- $d
    if [ "$3" = - ]; then
      git --git-dir="$MIRROR/$1/repo" archive "$2" | tar -x -C "$top/src"
      continue
    fi
    local dir=$top/deps/${3//\//_} tmp=$top/deps/tmp
    rm -rf "$tmp"
    mkdir -p "$tmp"
    git --git-dir="$MIRROR/$1/repo" archive "$2" ${4:-} | tar -x -C "$tmp"
    mv "$tmp/${4:-}" "$dir"
    rm -rf "$tmp"
    replaces+=$'\t'"$3 => $abs/deps/${3//\//_}"$'\n'
  done
  printf '\nreplace (\n%s)\n' "$replaces" >>"$top/src/go.mod"
  (cd "$top/src" && GOPROXY=off GOSUMDB=off GOFLAGS=-mod=mod GOTOOLCHAIN=local \
    GOPATH="$abs/gopath" GOCACHE="$abs/gocache" go build -trimpath -o "$abs/rdb-hdt3213" .) \
    || { echo "(HDT3213/rdb did not build; skipped)" >&2; return 1; }
  mv "$top/rdb-hdt3213" "$HDT"
  echo "HDT3213/rdb v1.3.2 ($(git --git-dir="$MIRROR/HDT3213+rdb/repo" rev-parse --short 'v1.3.2^{commit}')), $(go version | cut -d' ' -f3)" >"$HDT.version"
}
[ -x "$HDT" ] || build_hdt || true

# --- runs ----------------------------------------------------------------------
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
names=("rdbkit analyze --format csv" "rdbkit analyze (text)")
tags=(rdbkit-csv rdbkit-text)
cmds=("$RDBKIT analyze $DUMP --no-progress --format csv -o $OUT/rdbkit-csv.csv --force"
      "$RDBKIT analyze $DUMP --no-progress")
if [ -x "$RDBTOOLS" ]; then
  names+=("rdbtools $("$PEERS/venv/bin/pip" show rdbtools 2>/dev/null | sed -n 's/^Version: //p') -c memory")
  tags+=(rdbtools)
  cmds+=("$RDBTOOLS -c memory $DUMP -f $OUT/rdbtools.csv")
fi
if [ -x "$HDT" ]; then
  names+=("HDT3213/rdb $(cut -d' ' -f2 "$HDT.version") -c memory")
  tags+=(hdt3213)
  cmds+=("$HDT -c memory -o $OUT/hdt3213.csv $DUMP")
fi
cat "$DUMP" >/dev/null
echo "dump: $DUMP ($(stat -c %s "$DUMP") bytes); $RUNS runs of each tool, in turn" >&2
for r in $(seq "$RUNS"); do
  for i in "${!cmds[@]}"; do
    # shellcheck disable=SC2086
    if /usr/bin/time -f "%e %U %S %M" -o "$OUT/time" ${cmds[$i]} >"$OUT/${tags[$i]}.stdout" 2>"$OUT/${tags[$i]}.stderr"; then
      read -r t u s m <"$OUT/time"
      echo "${tags[$i]} $t $u $s $m" >>"$OUT/runs"
      echo "  run $r: ${names[$i]}: $t s" >&2
    else
      echo "  run $r: ${names[$i]} FAILED: $(tail -n 3 "$OUT/${tags[$i]}.stderr")" >&2
    fi
  done
done
for i in "${!cmds[@]}"; do
  # shellcheck disable=SC2086
  heap=$(python3 scripts/peak-anon.py ${cmds[$i]} | sed -n 's/^peak RssAnon \([0-9.]*\) MiB.*/\1/p')
  echo "${tags[$i]} ${heap:-nan}" >>"$OUT/heap"
done
mv "$OUT/rdbkit-text.stdout" "$OUT/rdbkit-text.txt"

python3 - "$OUT" "$DUMP" "$ACCURACY" "${tags[@]}" -- "${names[@]}" <<'PY'
import csv, math, re, statistics, sys
from pathlib import Path
out, dump, accuracy = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
rest = sys.argv[4:]
k = rest.index("--")
tags, names = rest[:k], rest[k + 1:]
runs = {}
for line in (out / "runs").read_text().split("\n"):
    if line:
        t, w, u, s, m = line.split()
        runs.setdefault(t, []).append((float(w), float(u) + float(s), int(m)))
heap = dict(l.split() for l in (out / "heap").read_text().split("\n") if l)
keys = int(re.search(r"^total: (\d+) keys", (out / "rdbkit-text.txt").read_text(), re.M).group(1))

# Per-key sizes of each report: {(db, key): bytes}.
cols = {"rdbkit-csv": ("db", "key", "memory_bytes"), "rdbtools": ("database", "key", "size_in_bytes"),
        "hdt3213": ("database", "key", "size")}
sizes = {}
for t, (dbc, kc, sc) in cols.items():
    p = out / f"{t}.csv"
    if p.exists():
        with open(p, newline="", encoding="utf-8", errors="surrogateescape") as f:
            sizes[t] = {(r[dbc], r[kc]): int(r[sc]) for r in csv.DictReader(f)}

def med(xs):
    return statistics.median(xs) if xs else math.nan

CSV, TEXT = "rdbkit-csv", "rdbkit-text"
wall = {t: med([r[0] for r in runs.get(t, [])]) for t in tags}
print(f"\n{'tool':32s} {'wall s':>8s} {'CPU s':>8s} {'peak RSS MiB':>13s} {'peak heap MiB':>14s} "
      f"{'rows':>8s} {'total MiB':>10s} {'csv ×':>7s} {'text ×':>7s}")
for t, n in zip(tags, names):
    rs = runs.get(t, [])
    rows = len(sizes[t]) if t in sizes else None
    total = sum(sizes[t].values()) / 2**20 if t in sizes else None
    peer = not t.startswith("rdbkit")
    print(f"{n:32s} {wall[t]:8.2f} {med([r[1] for r in rs]):8.2f} "
          f"{(max(r[2] for r in rs) / 1024 if rs else math.nan):13.1f} {float(heap.get(t, 'nan')):14.1f} "
          f"{(rows if rows is not None else '-')!s:>8s} {(f'{total:.1f}' if total is not None else '-'):>10s} "
          f"{(f'{wall[t] / wall[CSV]:.1f}' if peer else ''):>7s} "
          f"{(f'{wall[t] / wall[TEXT]:.1f}' if peer else ''):>7s}")
print(f"keys in the dump (rdbkit text report): {keys}")
for t, s in sizes.items():
    if abs(len(s) - keys) > keys // 1000:
        print(f"WARNING: {t} wrote {len(s)} rows for {keys} keys")

if not accuracy:
    sys.exit(0)
# Every key's MEMORY USAGE in a real Redis 6.0 that loaded the dump.
import shutil
sys.path.insert(0, "scripts")
from servers import Server, load_registry
work = Path("bench-data/analyze-peers/work").resolve()
shutil.rmtree(work, ignore_errors=True)
work.mkdir(parents=True)
shutil.copyfile(dump, work / "dump.rdb")
s = Server("redis-6.0", load_registry()["redis-6.0"], work, dbfilename="dump.rdb")
real = {}
try:
    s.start(timeout=600)
    ks = sorted(k for k in sizes["rdbkit-csv"] if k[0] == "0")
    for i in range(0, len(ks), 10000):
        chunk = ks[i:i + 10000]
        for (db, key), v in zip(chunk, s.pipeline([("MEMORY", "USAGE", key.encode("utf-8", "surrogateescape"), "SAMPLES", "0")
                                                   for db, key in chunk])):
            if isinstance(v, int):
                real[(db, key)] = v
    used = int(s.info_section("memory")["used_memory"])
finally:
    s.stop()
    shutil.rmtree(work, ignore_errors=True)
print(f"\nagainst MEMORY USAGE ... SAMPLES 0 of Redis 6.0.9 ({len(real)} keys; used_memory {used / 2**20:.1f} MiB):")
print(f"{'report':12s} {'sum MiB':>9s} {'sum vs real':>12s} {'keys ±10%':>10s} {'median error':>13s}")
print(f"{'real':12s} {sum(real.values()) / 2**20:9.1f}")
for t, sz in sizes.items():
    common = [k for k in real if k in sz]
    a = sum(sz[k] for k in common)
    b = sum(real[k] for k in common)
    within = sum(abs(sz[k] - real[k]) <= max(0.1 * real[k], 16) for k in common) / max(len(common), 1)
    err = med([(sz[k] - real[k]) / real[k] for k in common])
    print(f"{t:12s} {a / 2**20:9.1f} {100 * (a / b - 1):+11.1f}% {100 * within:9.1f}% {100 * err:+12.1f}%")
by_type = {}
with open(out / "rdbkit-csv.csv", newline="") as f:
    for r in csv.DictReader(f):
        by_type.setdefault(f"{r['type']} {r['encoding']}", []).append((r["db"], r["key"]))
print(f"\nsum per type and encoding, MiB (vs real):")
print(f"{'type':20s} {'keys':>7s} {'real':>8s}" + "".join(f" {t:>18s}" for t in sizes))
for ty, ks in sorted(by_type.items()):
    ks = [k for k in ks if k in real]
    b = sum(real[k] for k in ks)
    line = f"{ty:20s} {len(ks):7d} {b / 2**20:8.2f}"
    for t, sz in sizes.items():
        a = sum(sz.get(k, 0) for k in ks)
        line += f" {a / 2**20:9.2f} ({100 * (a / b - 1):+5.0f}%)"
    print(line)
PY
