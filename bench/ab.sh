#!/usr/bin/env bash
# Interleaved A/B of two keyway binaries in wall-clock terms: both stacks up
# at once in front of one mock-llm (each `keyway up` with everything on: its
# own database, NATS prefix, tenant key with limits and BYOK), then wrk
# rounds alternating A, B, A, B … so a box whose speed drifts weighs on both
# alike. Prints req/s and keyway CPU per request for every run, and the
# means. bench/instructions.sh gives the repeatable instruction counts; this
# shows whether a saving is visible in time.
#
# A measuring tool, not a test: it exits non-zero only when something breaks.
#
# Usage:  bench/ab.sh <keyway binary A> <keyway binary B>
# Env:    BENCH_ROUNDS      rounds (A then B)          (default 4)
#         BENCH_DURATION    seconds per run            (default 6)
#         BENCH_STREAM      "true": streamed answers   (default false)
#         BENCH_CONNECTIONS wrk -c                     (default 32)
#         BENCH_A_ENV, BENCH_B_ENV  settings for A or B alone, to A/B a
#                           setting on one binary (say
#                           BENCH_B_ENV="KEYWAY_PROJECTOR_LINGER_MS=50");
#                           BENCH_KEYWAY_ENV still goes to both
# Needs:  what bench/proxy.sh needs.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
KEEP=${BENCH_KEEP:-0}
ROUNDS=${BENCH_ROUNDS:-4}
DUR=${BENCH_DURATION:-6}
STREAM=${BENCH_STREAM:-false}
CONNS=${BENCH_CONNECTIONS:-32}
(( $# == 2 )) || { echo "usage: bench/ab.sh <keyway binary A> <keyway binary B>" >&2; exit 2; }
A=$1 B=$2

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
ensure_pkg wrk wrk
for bin in "$A" "$B"; do [[ -x "$bin" ]] || die "not an executable: $bin"; done

WORK=$(mktemp -d -t keyway-ab.XXXXXX)
read -r MOCK_PORT PORT_A PORT_B < <(free_ports 3)
MOCK="http://127.0.0.1:$MOCK_PORT"
BIN=$A
write_models "$MOCK"
start_mock "$MOCK_PORT"
read -ra ENV_A <<<"${BENCH_A_ENV:-}"
read -ra ENV_B <<<"${BENCH_B_ENV:-}"
BIN=$A; start_keyway "$PORT_A" "${DB_NAME}_a" "${NATS_PREFIX}a" keyway-a "${ENV_A[@]}"; PID_A=$!; PIDS+=("$PID_A")
BIN=$B; start_keyway "$PORT_B" "${DB_NAME}_b" "${NATS_PREFIX}b" keyway-b "${ENV_B[@]}"; PID_B=$!; PIDS+=("$PID_B")
wait_until 30 "$MOCK_PID" "mock-llm" curl -fsS --max-time 2 -o /dev/null "$MOCK/healthz"
wait_until 120 "$PID_A" "keyway A" keyway_ready "http://127.0.0.1:$PORT_A"
wait_until 120 "$PID_B" "keyway B" keyway_ready "http://127.0.0.1:$PORT_B"
bench_tenant_key "http://127.0.0.1:$PORT_A"; KEY_A=$TENANT_KEY
bench_tenant_key "http://127.0.0.1:$PORT_B"; KEY_B=$TENANT_KEY

run() { # run <label> <port> <key> <pid>: one warmed-up wrk run, one result line
    local url="http://127.0.0.1:$2/v1/chat/completions" c0 c1 p0 p1 n0 n1 out rps non2xx
    BENCH_MODEL=bench-gpt BENCH_STREAM=$STREAM wrk -t2 -c"$CONNS" -d2s -s "$HERE/chat.lua" \
        -H "Authorization: Bearer $3" "$url" >/dev/null
    c0=$(proc_cpu "$4"); p0=$(services_cpu postgres); n0=$(services_cpu nats-server)
    out=$(BENCH_MODEL=bench-gpt BENCH_STREAM=$STREAM wrk -t2 -c"$CONNS" -d"${DUR}s" -s "$HERE/chat.lua" \
        -H "Authorization: Bearer $3" "$url")
    c1=$(proc_cpu "$4"); p1=$(services_cpu postgres); n1=$(services_cpu nats-server)
    rps=$(sed -n 's/^BENCH_RESULT.*rps=\([0-9.]*\).*/\1/p' <<<"$out")
    non2xx=$(sed -n 's/^BENCH_RESULT.*non2xx=\([0-9]*\).*/\1/p' <<<"$out")
    [[ -n "$rps" && "${non2xx:-1}" == 0 ]] || { echo "$out" >&2; die "run $1 failed or had non-2xx answers"; }
    awk -v l="$1" -v r="$rps" -v d="$DUR" -v c0="$c0" -v c1="$c1" -v p0="$p0" -v p1="$p1" -v n0="$n0" -v n1="$n1" \
        'BEGIN { k = 1e6 / (r * d); printf "%s %.0f %.1f %.1f %.1f\n", l, r, (c1 - c0) * k, (p1 - p0) * k, (n1 - n0) * k }'
}
echo "A: $A ${BENCH_A_ENV:-}"
echo "B: $B ${BENCH_B_ENV:-}"
echo "stream=$STREAM, $ROUNDS rounds of ${DUR} s, -c$CONNS; per run: binary, req/s, then CPU µs per request of keyway, Postgres and NATS"
for _ in $(seq 1 "$ROUNDS"); do
    run A "$PORT_A" "$KEY_A" "$PID_A"
    run B "$PORT_B" "$KEY_B" "$PID_B"
done | tee "$WORK/runs.txt"
awk '{ n[$1]++; r[$1] += $2; c[$1] += $3; p[$1] += $4; s[$1] += $5 }
     END { for (k in n) printf "mean %s: %.0f req/s; CPU µs per request: keyway %.1f, Postgres %.1f, NATS %.1f\n",
                               k, r[k] / n[k], c[k] / n[k], p[k] / n[k], s[k] / n[k] }' \
    "$WORK/runs.txt" | sort
