#!/usr/bin/env bash
# Times `rdbkit convert` against `cp` on a ~1 GB dump written by a real server.
#
#   bash scripts/bench-convert.sh [SERVER] [SIZE_MB]
#
# SERVER is a name from the registry of scripts/install-servers.sh (default
# redis-7.4), SIZE_MB the approximate dump size (default 1024). Everything
# goes to bench-data/ (git-ignored); the dump is reused when it exists
# (delete bench-data/ to rebuild it). The server listens on 127.0.0.1 only,
# on a free port, and is stopped by its PID.
#
# The dump: DEBUG POPULATE strings (~90 % of the bytes) plus lists, hashes,
# sets (intset and string), sorted sets and streams of mixed sizes made by a
# server-side Lua script, saved with SAVE and `rdbcompression no` (DEBUG
# POPULATE pads its values with zero bytes, which LZF would shrink to a few
# bytes, so a compressed dump of this data would be far below the size asked).
#
# Timed, best of RUNS (default 3) runs, warm page cache; every rdbkit run
# ends with fsync + rename:
#   cp                          plain copy
#   cp + sync                   copy and flush the copy to disk
#   convert same version        verify input, copy records verbatim, fsync, re-verify
#   convert same, --no-verify   the same without the re-read of the output
#   convert to redis-6.2        every listpack re-encoded as ziplist / quicklist v1
set -euo pipefail

SERVER=${1:-redis-7.4}
SIZE_MB=${2:-1024}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA="$ROOT/bench-data"
REG="${RDBKIT_SERVERS:-$HOME/.cache/rdbkit-servers}/servers.json"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RDBKIT="$TARGET_DIR/release/rdbkit"

[ -f "$REG" ] || { echo "no server registry at $REG: run scripts/install-servers.sh" >&2; exit 2; }
read -r SERVER_BIN SERVER_VER < <(python3 - "$REG" "$SERVER" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))["servers"].get(sys.argv[2])
if not s:
    sys.exit(f"{sys.argv[2]} is not in the registry")
print(s["server"], s["version"])
EOF
)
case "$SERVER" in valkey*) TARGET="valkey-${SERVER_VER%.*}";; *) TARGET="redis-${SERVER_VER%.*}";; esac

mkdir -p "$DATA/srv"
DUMP="$DATA/srv/dump.rdb"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

if [ ! -s "$DUMP" ]; then
    PORT=$(free_port)
    EXTRA=()
    case "$SERVER_VER" in 6.*) ;; *) EXTRA=(--enable-debug-command yes);; esac
    "$SERVER_BIN" --port "$PORT" --bind 127.0.0.1 --protected-mode yes --daemonize no \
        --save '' --appendonly no --dir "$DATA/srv" --dbfilename dump.rdb \
        --logfile "$DATA/srv/server.log" "${EXTRA[@]}" &
    PID=$!
    trap 'kill "$PID" 2>/dev/null || true' EXIT
    for _ in $(seq 1 300); do
        redis-cli -p "$PORT" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
    cli() { redis-cli -p "$PORT" "$@"; }
    STR_KEYS=$(( SIZE_MB * 1024 * 1024 * 95 / 100 / 1060 ))
    echo "populating $SERVER ($SERVER_VER) on port $PORT: $STR_KEYS strings + mixed types ..."
    cli DEBUG POPULATE "$STR_KEYS" str 1000 >/dev/null
    # Mixed types, 1000 keys of each kind per call; ~15 % of the bytes.
    ROUNDS=$(( SIZE_MB / 64 + 1 ))
    for r in $(seq 1 "$ROUNDS"); do
        cli EVAL "
            local r = tonumber(ARGV[1])
            for i = 1, 1000 do
                local k = r * 1000 + i
                local n = (k % 10 == 0) and 600 or 30
                local l, h, z, s, si = {}, {}, {}, {}, {}
                for j = 1, n do
                    l[#l + 1] = 'element-' .. j .. '-' .. k
                    h[#h + 1] = 'field' .. j; h[#h + 1] = 'value-' .. (j * k % 9973)
                    z[#z + 1] = (j * 7 % 101) / 8; z[#z + 1] = 'member' .. j
                    s[#s + 1] = 'm' .. j .. ':' .. k
                    si[#si + 1] = j * 3 + k
                end
                redis.call('RPUSH', 'list:' .. k, unpack(l))
                redis.call('HSET', 'hash:' .. k, unpack(h))
                redis.call('ZADD', 'zset:' .. k, unpack(z))
                redis.call('SADD', 'set:' .. k, unpack(s))
                redis.call('SADD', 'intset:' .. k, unpack(si))
                if k % 20 == 0 then
                    for e = 1, 200 do
                        redis.call('XADD', 'stream:' .. k, '*', 'sensor', 's' .. (e % 7), 'value', e * k)
                    end
                end
            end
            return 1" 0 "$r" >/dev/null
    done
    cli DBSIZE
    cli CONFIG SET rdbcompression no >/dev/null
    echo "SAVE ..."
    cli SAVE >/dev/null
    cli SHUTDOWN NOSAVE >/dev/null 2>&1 || true
    wait "$PID" 2>/dev/null || true
    trap - EXIT
fi

echo "building rdbkit (release) ..."
(cd "$ROOT" && cargo build --release --quiet)

BYTES=$(stat -c %s "$DUMP")
echo "dump: $DUMP, $BYTES bytes ($(( BYTES / 1024 / 1024 )) MiB), $(head -c 9 "$DUMP")"
cat "$DUMP" >/dev/null   # warm the page cache

RUNS=${RUNS:-3}
t() {   # t LABEL CMD...: best wall time of $RUNS runs, and MiB/s of the input
    local label=$1; shift
    local best="" s e d
    for _ in $(seq 1 "$RUNS"); do
        rm -f "$DATA/out.rdb"
        s=$(date +%s.%N)
        "$@" >/dev/null 2>"$DATA/last.err" || { cat "$DATA/last.err" >&2; return 1; }
        e=$(date +%s.%N)
        d=$(python3 -c "print($e - $s)")
        best=$(python3 -c "print(min(float('$d'), float('${best:-1e9}')))")
    done
    python3 -c "import sys; d=float(sys.argv[2]); print(f'{sys.argv[1]:<34} {d:7.2f} s  {$BYTES/d/1048576:8.0f} MiB/s')" "$label" "$best"
}

t "cp"                          cp "$DUMP" "$DATA/out.rdb"
t "cp + sync"                   sh -c "cp '$DUMP' '$DATA/out.rdb' && sync '$DATA/out.rdb'"
t "convert $TARGET (same)"      "$RDBKIT" convert "$DUMP" -o "$DATA/out.rdb" --target "$TARGET"
t "convert $TARGET --no-verify" "$RDBKIT" convert "$DUMP" -o "$DATA/out.rdb" --target "$TARGET" --no-verify
t "convert redis-6.2 (re-encode)" "$RDBKIT" convert "$DUMP" -o "$DATA/out.rdb" --target redis-6.2
rm -f "$DATA/out.rdb"
