#!/usr/bin/env bash
# Compare two rdbkit builds on the same machine, alternating their runs so
# that noise from other work falls on both; prints the median wall time of
# each command for each build.
#
#   bash scripts/bench-ab.sh OLD_BIN NEW_BIN MERGE_DIR [LZF_RDB]
#
# MERGE_DIR holds a.rdb and b.rdb (made by scripts/bench-merge.sh);
# LZF_RDB is bench-data/lzf.rdb (scripts/make-bench-data.py --only lzf).
# RUNS (default 5) runs per build and command. Outputs go to MERGE_DIR/ab/.
set -euo pipefail
OLD=$1 NEW=$2 DIR=$3 LZF=${4:-}
RUNS=${RUNS:-5}
OUT=$DIR/ab
mkdir -p "$OUT"
A=$DIR/a.rdb B=$DIR/b.rdb

# name|command (BIN is replaced by the build under test)
cases=(
  "verify a.rdb|BIN verify $A"
  "verify --deep a.rdb|BIN verify --deep $A"
  "merge a.rdb b.rdb|rm -f $OUT/m.rdb; BIN merge $A $B -o $OUT/m.rdb --on-conflict first"
  "convert a.rdb (same version)|rm -f $OUT/c.rdb; BIN convert $A -o $OUT/c.rdb --target 12"
)
if [ -n "$LZF" ]; then
  cases=("verify lzf.rdb|BIN verify $LZF" "${cases[@]}")
fi

cat "$A" "$B" ${LZF:+"$LZF"} > /dev/null  # warm the page cache

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
timeit() {
  local s e
  s=$(date +%s.%N)
  bash -c "$1" > /dev/null 2>&1 || { echo "failed: $1" >&2; return 1; }
  e=$(date +%s.%N)
  echo "$e - $s" | bc
}

printf '%-34s %10s %10s %8s\n' command old_s new_s new/old
for c in "${cases[@]}"; do
  name=${c%%|*} cmd=${c#*|}
  old=() new=()
  for _ in $(seq "$RUNS"); do
    old+=("$(timeit "${cmd//BIN/$OLD}")")
    new+=("$(timeit "${cmd//BIN/$NEW}")")
  done
  mo=$(printf '%s\n' "${old[@]}" | median)
  mn=$(printf '%s\n' "${new[@]}" | median)
  printf '%-34s %10.3f %10.3f %8.3f\n' "$name" "$mo" "$mn" "$(echo "$mn / $mo" | bc -l)"
done
rm -f "$OUT"/m.rdb "$OUT"/c.rdb
