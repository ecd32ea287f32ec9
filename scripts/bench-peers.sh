#!/usr/bin/env bash
# Times `rdbkit verify` against `redis-check-rdb` (Redis 7.0), the `rdb`
# crate's CLI (crates.io) and `cat`, on big dumps made by a real server
# (scripts/make-bench-data.py). Page cache warm; RUNS runs of each tool,
# taken in turn (so load from other processes hits them alike); median and
# best wall seconds, median CPU seconds (user + sys), MB/s of the median.
#   bash scripts/bench-peers.sh [bench-data/mixed.rdb bench-data/small.rdb bench-data/lzf.rdb]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  for k in mixed small lzf; do
    [ -f bench-data/$k.rdb ] || python3 scripts/make-bench-data.py --only $k
  done
  files=(bench-data/mixed.rdb bench-data/small.rdb bench-data/lzf.rdb)
fi
cargo build --release -q
RDBKIT=target/release/rdbkit
PEERS=bench-data/peers
mkdir -p "$PEERS"
if [ ! -x "$PEERS/bin/rdb" ]; then
  cargo install -q --root "$PEERS" rdb --version '^0.4' 2>/dev/null \
    || cargo install -q --root "$PEERS" rdb 2>/dev/null || echo "(rdb crate CLI not installable; skipped)" >&2
fi
TIMES=$(mktemp)
trap 'rm -f "$TIMES"' EXIT
printf "%-22s %-28s %10s %10s %10s %10s\n" file tool median-s best-s cpu-s MB/s
for f in "${files[@]}"; do
  size=$(stat -c %s "$f")
  cat "$f" >/dev/null
  names=("cat" "rdbkit verify" "rdbkit verify --deep" "redis-check-rdb 7.0")
  cmds=("cat $f" "$RDBKIT verify $f" "$RDBKIT verify --deep $f" "redis-check-rdb $f")
  if [ -x "$PEERS/bin/rdb" ]; then
    names+=("rdb crate (rdb -f nil)")
    cmds+=("$PEERS/bin/rdb --format nil $f")
  fi
  declare -A walls=() cpus=()
  for _ in $(seq "$RUNS"); do
    for i in "${!cmds[@]}"; do
      # shellcheck disable=SC2086
      /usr/bin/time -f "%e %U %S" -o "$TIMES" ${cmds[$i]} >/dev/null 2>&1 || true
      read -r t u s <"$TIMES"
      walls[$i]="${walls[$i]:-} $t"
      cpus[$i]="${cpus[$i]:-} $(python3 -c "print(round($u + $s, 2))")"
    done
  done
  for i in "${!cmds[@]}"; do
    python3 - "$(basename "$f")" "${names[$i]}" "$size" "${walls[$i]}" "${cpus[$i]}" <<'PY'
import statistics, sys
f, name, size, walls, cpus = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split(), sys.argv[5].split()
w = statistics.median(map(float, walls))
print(f"{f:22s} {name:28s} {w:10.2f} {min(map(float, walls)):10.2f} "
      f"{statistics.median(map(float, cpus)):10.2f} {size / 1e6 / max(w, 1e-3):10.0f}")
PY
  done
  unset walls cpus
done
