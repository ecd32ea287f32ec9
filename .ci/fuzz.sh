#!/usr/bin/env bash
# Short fuzz run for CI: every cargo-fuzz target for a fixed time on the
# seed corpus (fuzz/seed.sh). Fails on any crash, panic, timeout or
# out-of-memory. Works on stable Rust (libFuzzer without a sanitizer);
# see fuzz/README.md.
#
#   FUZZ_SECONDS=60   seconds per target (default 60)
#   FUZZ_TARGETS=...  space-separated subset (default: all five)
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-"decode_file decode_payload roundtrip convert merge"}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz (crates.io)"
  cargo install cargo-fuzz --locked
fi
cargo fuzz --version

bash fuzz/seed.sh

cd fuzz
# One build for all targets: release, debug assertions and overflow checks on.
cargo fuzz build --sanitizer none

failed=()
for t in $targets; do
  echo "=== fuzz $t for ${secs}s"
  mkdir -p "artifacts/$t"
  # -timeout: one input taking over 10 s is a hang; -rss_limit_mb: memory
  # blow-ups are failures; -max_len: inputs up to 64 KiB.
  if ! cargo fuzz run --sanitizer none "$t" "corpus/$t" -- \
    -dict=dict/rdb.dict -max_total_time="$secs" -timeout=10 \
    -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    2>"artifacts/$t/log.txt"; then
    failed+=("$t")
    # The crash report (panic message, input bytes, reproduce command).
    grep -v -E '^#[0-9]+\s+(NEW|REDUCE|pulse)' "artifacts/$t/log.txt" | tail -60
  fi
  grep -E '^(#[0-9]+\s+DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' \
    "artifacts/$t/log.txt" || true
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in fuzz/artifacts/<target>/)"
  exit 1
fi
echo "fuzz: all targets ran ${secs}s without a crash"
