#!/usr/bin/env bash
# Seeds the cargo-fuzz corpora (fuzz/corpus/<target>/, git-ignored) from
# rdbkit's own fixtures (tests/fixtures/**/*.rdb, examples/*.rdb) and, when
# present, the third-party corpus in ../shared/corpus (RDB files and DUMP
# payloads). Corpus files are never committed. Idempotent: files are named
# by content hash.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
shared="$root/../shared/corpus"
out="$root/fuzz/corpus"
mkdir -p "$out"/{decode_file,decode_payload,roundtrip,convert,merge}

put() { # put TARGET FILE: copy FILE into the target's corpus under its hash
  local h
  h=$(sha1sum "$2" | cut -c1-40)
  cp "$2" "$out/$1/$h"
}

is_rdb() { head -c 6 "$1" | grep -qaE '^(REDIS|VALKEY)'; }

rdbs=()
while IFS= read -r -d '' f; do rdbs+=("$f"); done < <(
  find tests/fixtures examples -name '*.rdb' -type f -print0 2>/dev/null)
if [ -d "$shared" ]; then
  # Every RDB file of the shared corpus up to 1 MiB, whatever its name.
  while IFS= read -r -d '' f; do
    is_rdb "$f" && rdbs+=("$f")
  done < <(find "$shared" -type f -size -1024k -print0)
  # DUMP payloads (RESTORE bodies) for the payload target.
  while IFS= read -r -d '' f; do put decode_payload "$f"; done < <(
    find "$shared" -name '*.bin' -type f -size -1024k -print0)
fi

small=()
for f in "${rdbs[@]}"; do
  for t in decode_file decode_payload roundtrip convert; do put "$t" "$f"; done
  [ "$(stat -c %s "$f")" -le 32768 ] && small+=("$f")
done

# merge: flags byte, u32 LE size of the first input, first input, second.
# Pairs of small files: each with itself (policy first), and with its
# neighbour (policy error: conflicts are refused).
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
n=${#small[@]}
for ((i = 0; i < n; i++)); do
  for pair in "$i 1" "$(((i + 1) % n)) 0"; do
    read -r j flags <<<"$pair"
    a=${small[$i]} b=${small[$j]}
    size=$(stat -c %s "$a")
    {
      printf "\\x$(printf %02x "$flags")"
      printf "\\x$(printf %02x $((size & 255)))\\x$(printf %02x $(((size >> 8) & 255)))"
      printf "\\x$(printf %02x $(((size >> 16) & 255)))\\x00"
      cat "$a" "$b"
    } >"$tmp"
    put merge "$tmp"
  done
done

for t in decode_file decode_payload roundtrip convert merge; do
  echo "fuzz/corpus/$t: $(find "$out/$t" -type f | wc -l) files"
done
