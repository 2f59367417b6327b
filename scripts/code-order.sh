#!/usr/bin/env bash
# Regenerates services/keyway/code-order.txt: the functions that start-up and
# serving execute, which release builds lay out together (services/keyway/
# build.rs explains why). Run it after a change that moves a lot of code on
# those paths; a stale list still links and only costs resident memory.
#
# It runs the binary under callgrind, which records every function that
# executes, from the first instruction:
#   - `keyway up` with everything on (bench/lib.sh: a tenant key with limits,
#     BYOK, usage to JetStream, the projector), streamed and whole answers,
#     and the admin API calls that set the tenant up;
#   - `keyway run gateway` alone, as it is deployed to scale out;
#   - `keyway mock-llm`.
#
# Usage:  scripts/code-order.sh
# Env:    KEYWAY_BIN   an existing release binary (default: build one)
#         BENCH_N      requests of each kind per process (default 200)
# Needs:  what bench/proxy.sh needs, valgrind, python3.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../bench" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
N=${BENCH_N:-200}
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
ensure_pkg valgrind valgrind
bench_binary
REAL_BIN=$BIN

WORK=$(mktemp -d -t keyway-code-order.XXXXXX)
cat >"$WORK/callgrind.sh" <<EOF
#!/bin/sh
exec valgrind -q --tool=callgrind --demangle=no --callgrind-out-file=$WORK/callgrind-%p.out $REAL_BIN "\$@"
EOF
chmod +x "$WORK/callgrind.sh"
BIN="$WORK/callgrind.sh"

# Callgrind writes its file when the process exits: stop each one cleanly.
stop() { kill -TERM "$1"; wait "$1" 2>/dev/null || true; }
drive() { # drive <port> <key>: N whole and N streamed chat answers, then each wire and route once
    python3 "$HERE/drive.py" 127.0.0.1 "$1" "$2" "$N" 4 false >/dev/null
    python3 "$HERE/drive.py" 127.0.0.1 "$1" "$2" "$N" 4 true >/dev/null
    local base="http://127.0.0.1:$1" auth="Authorization: Bearer $2" json='Content-Type: application/json'
    local msgs='"messages":[{"role":"user","content":"hello"}]'
    post() { curl -sS -o /dev/null --max-time 10 "$base$1" -H "$auth" -H "$json" -d "$2"; }
    for stream in false true; do
        post /v1/messages "{\"model\":\"bench-gpt\",\"max_tokens\":16,\"stream\":$stream,$msgs}"
        post /v1/responses "{\"model\":\"bench-gpt\",\"stream\":$stream,\"input\":\"hello\"}"
    done
    post /v1/chat/completions '{"model":"no-such-model",'"$msgs}"      # 404
    post /v1/chat/completions '{"model":'                             # 400
    curl -sS -o /dev/null "$base/v1/chat/completions" -H 'Authorization: Bearer kw-wrong' -d '{}'  # 401
    curl -sS -o /dev/null "$base/v1/models" -H "$auth"
    curl -sS -o /dev/null "$base/metrics" -H "Authorization: Bearer $ADMIN_KEY"
    curl -sS -o /dev/null "$base/healthz"
    curl -sS -o /dev/null "$base/readyz"
}

read -r MOCK_PORT UP_PORT GW_PORT < <(free_ports 3)
write_models "http://127.0.0.1:$MOCK_PORT"
start_mock "$MOCK_PORT"
wait_until 300 "$MOCK_PID" "mock-llm" curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:$MOCK_PORT/healthz"

log "keyway up under callgrind"
start_keyway "$UP_PORT" "$DB_NAME" "$NATS_PREFIX" up
UP_PID=$!
PIDS+=("$UP_PID")
wait_until 300 "$UP_PID" "keyway up" keyway_ready "http://127.0.0.1:$UP_PORT"
bench_tenant_key "http://127.0.0.1:$UP_PORT"
drive "$UP_PORT" "$TENANT_KEY"
drive "$UP_PORT" "$ADMIN_KEY"
stop "$UP_PID"

log "keyway run gateway under callgrind"
BENCH_SUBCOMMAND="run gateway" start_keyway "$GW_PORT" "$DB_NAME" "$NATS_PREFIX" gateway
GW_PID=$!
PIDS+=("$GW_PID")
wait_until 300 "$GW_PID" "keyway run gateway" keyway_ready "http://127.0.0.1:$GW_PORT"
drive "$GW_PORT" "$ADMIN_KEY"
stop "$GW_PID"
stop "$MOCK_PID"

others=()
for f in "$WORK"/callgrind-*.out; do [[ $f == */callgrind-$GW_PID.out ]] || others+=("$f"); done
python3 "$ROOT/scripts/code_order.py" "$REAL_BIN" "$ROOT/services/keyway/code-order.txt" \
    "$WORK/callgrind-$GW_PID.out" -- "${others[@]}"
