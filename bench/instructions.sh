#!/usr/bin/env bash
# Instructions per proxied request, counted by callgrind: the same stack as
# bench/proxy.sh (mock-llm in auth mode, `keyway up` with everything on: a
# tenant user's key with limits, BYOK, usage to JetStream, the projector
# folding it), one `keyway` binary after another, each driven by the same
# client (bench/drive.py: BENCH_N requests over 4 keep-alive connections).
#
# Why: CPU time per request on this shared 2-core box moves by ±10% from run
# to run, more than most single changes save. Counted instructions (user
# space, every thread of the process, the projector's share included) are
# the same for the same binary and load whatever else runs, so a change is
# measured against the binary before it, back to back. Kernel time (the
# sockets) is not counted: bench/proxy.sh shows it.
#
# A measuring tool, not a test: it exits non-zero only when something is
# broken.
#
# Usage:  bench/instructions.sh <keyway binary> [<keyway binary> ...]
# Env:    BENCH_N       measured requests per binary   (default 1000)
#         BENCH_STREAM  "true": streamed completions   (default false)
#         BENCH_KEEP=1  keep the temp dir (callgrind files: callgrind_annotate)
# Needs:  what bench/proxy.sh needs, valgrind, python3.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
KEEP=${BENCH_KEEP:-0}
N=${BENCH_N:-1000}
STREAM=${BENCH_STREAM:-false}
(( $# > 0 )) || { echo "usage: bench/instructions.sh <keyway binary> [...]" >&2; exit 2; }

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
ensure_pkg valgrind valgrind
for bin in "$@"; do [[ -x "$bin" ]] || die "not an executable: $bin"; done

WORK=$(mktemp -d -t keyway-instructions.XXXXXX)
read -r MOCK_PORT < <(free_ports 1)
MOCK="http://127.0.0.1:$MOCK_PORT"
BIN=$1
write_models "$MOCK"
start_mock "$MOCK_PORT"
wait_until 30 "$MOCK_PID" "mock-llm" curl -fsS --max-time 2 -o /dev/null "$MOCK/healthz"

i=0
for bin in "$@"; do
    i=$((i + 1))
    # Instrumentation off until the measured load: start-up, the tenant's
    # set-up and a warm-up are not counted.
    cat >"$WORK/valgrind-$i.sh" <<EOF
#!/bin/sh
exec valgrind -q --tool=callgrind --instr-atstart=no --callgrind-out-file=$WORK/callgrind-$i.out $bin "\$@"
EOF
    chmod +x "$WORK/valgrind-$i.sh"
    BIN="$WORK/valgrind-$i.sh"
    read -r PORT < <(free_ports 1)
    start_keyway "$PORT" "${DB_NAME}_$i" "${NATS_PREFIX}i$i" "keyway-$i"
    PID=$!
    PIDS+=("$PID")
    wait_until 300 "$PID" "keyway ($bin)" keyway_ready "http://127.0.0.1:$PORT"
    bench_tenant_key "http://127.0.0.1:$PORT"
    python3 "$HERE/drive.py" 127.0.0.1 "$PORT" "$TENANT_KEY" 200 4 "$STREAM" >/dev/null
    callgrind_control -i on "$PID" >/dev/null
    python3 "$HERE/drive.py" 127.0.0.1 "$PORT" "$TENANT_KEY" "$N" 4 "$STREAM" >/dev/null
    # The usage events of the last requests are folded after their answers.
    sleep 2
    callgrind_control -i off "$PID" >/dev/null
    callgrind_control -d "$PID" >/dev/null
    sleep 1
    total=$(cat "$WORK"/callgrind-$i.out* | awk '/^totals:/ { s += $2 } END { print s + 0 }')
    (( total > 0 )) || die "callgrind counted nothing for $bin"
    awk -v b="$bin" -v t="$total" -v n="$N" -v s="$STREAM" \
        'BEGIN { printf "%s: %.0f instructions per request (stream=%s, %d requests)\n", b, t / n, s, n }'
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
done
