#!/usr/bin/env bash
# Times `rdbkit verify` against `redis-check-rdb` (Redis 7.0), the `rdb`
# crate's CLI (crates.io) and `cat`, on big dumps made by a real server
# (scripts/make-bench-data.py). Page cache warm; best of N runs; MB/s of input.
#   bash scripts/bench-peers.sh [bench-data/mixed.rdb bench-data/small.rdb]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  [ -f bench-data/mixed.rdb ] && [ -f bench-data/small.rdb ] || python3 scripts/make-bench-data.py
  files=(bench-data/mixed.rdb bench-data/small.rdb)
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
best() { # best wall time of RUNS runs of "$@", output discarded; also CPU seconds of that run
  local b=999999 cpu=0 t u
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %U %S" -o "$TIMES" "$@" >/dev/null 2>&1 || true
    read -r t u s <"$TIMES"
    if python3 -c "import sys; sys.exit(0 if $t < $b else 1)"; then
      b=$t
      cpu=$(python3 -c "print(round($u + $s, 2))")
    fi
  done
  echo "$b $cpu"
}
printf "%-22s %-28s %10s %10s %10s\n" file tool seconds cpu-s MB/s
for f in "${files[@]}"; do
  size=$(stat -c %s "$f")
  cat "$f" >/dev/null
  run() {
    local name=$1; shift
    local t cpu
    read -r t cpu <<<"$(best "$@")"
    printf "%-22s %-28s %10s %10s %10.0f\n" "$(basename "$f")" "$name" "$t" "$cpu" "$(python3 -c "print($size/1e6/max($t,1e-3))")"
  }
  run "cat" cat "$f"
  run "rdbkit verify" "$RDBKIT" verify "$f"
  run "rdbkit verify --deep" "$RDBKIT" verify --deep "$f"
  run "redis-check-rdb 7.0" redis-check-rdb "$f"
  [ -x "$PEERS/bin/rdb" ] && run "rdb crate (rdb -f nil)" "$PEERS/bin/rdb" --format nil "$f"
done
