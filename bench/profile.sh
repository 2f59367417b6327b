#!/usr/bin/env bash
# Where Keyway's CPU goes per proxied request: the stack of bench/proxy.sh
# (mock-llm in auth mode, `keyway up` with everything on: a tenant user's
# key with limits, BYOK, usage to JetStream, the projector folding it) under
# wrk load, with `perf record` on the keyway process. Prints Keyway's CPU per
# request, then perf's flat profile (self time by symbol) and, with
# call graphs, the inclusive share of the functions that matter.
#
# A measuring tool, not a test: it exits non-zero only when something is
# broken (start-up, non-2xx answers, perf missing).
#
# Usage:  bench/profile.sh
# Env:    BENCH_DURATION     seconds of recorded load       (default 10)
#         BENCH_CONNECTIONS  wrk -c                          (default 32)
#         BENCH_STREAM       "true": streamed completions    (default false)
#         BENCH_TOP          lines of each report            (default 40)
#         BENCH_FREQ         perf sampling frequency, Hz     (default 999)
#         BENCH_KEEP=1       keep the temp dir (perf.data, logs)
#         KEYWAY_BIN         use this binary (release, with line tables)
# Needs:  what bench/proxy.sh needs, and perf (Debian linux-perf).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
DURATION=${BENCH_DURATION:-10}
CONNS=${BENCH_CONNECTIONS:-32}
STREAM=${BENCH_STREAM:-false}
TOP=${BENCH_TOP:-40}
KEEP=${BENCH_KEEP:-0}

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

ensure_pkg wrk wrk
ensure_pkg perf linux-perf
bench_binary
bench_start_stack profile

load() { # load <seconds>
    BENCH_MODEL=bench-gpt BENCH_STREAM=$STREAM wrk -t2 -c"$CONNS" -d"$1s" -s "$HERE/chat.lua" \
        -H "Authorization: Bearer $TENANT_KEY" "$GW/v1/chat/completions"
}
log "warming up for 3 s"
load 3 >/dev/null
log "recording $DURATION s of load (stream=$STREAM, -c$CONNS)"
cpu0=$(proc_cpu "$GW_PID")
load "$DURATION" >"$WORK/wrk.log" &
WRK_PID=$!
perf record -q -F "${BENCH_FREQ:-999}" -g --call-graph dwarf,16384 -p "$GW_PID" -o "$WORK/perf.data" -- sleep "$DURATION" 2>"$WORK/perf.err" \
    || { cat "$WORK/perf.err" >&2; die "perf record failed"; }
wait "$WRK_PID"
cpu1=$(proc_cpu "$GW_PID")
grep -q '^BENCH_RESULT' "$WORK/wrk.log" || { cat "$WORK/wrk.log" >&2; die "no result from wrk"; }
read -r rps non2xx < <(sed -n 's/^BENCH_RESULT.*rps=\([0-9.]*\).*non2xx=\([0-9]*\).*/\1 \2/p' "$WORK/wrk.log")
(( ${non2xx:-1} == 0 )) || die "$non2xx non-2xx answers under load"
echo "keyway: $rps req/s, $(awk -v a="$cpu0" -v b="$cpu1" -v r="$rps" -v d="$DURATION" \
    'BEGIN{printf "%.1f", (b-a)*1e6/(r*d)}') us of CPU per request (perf's own sampling adds a little)"
report() { # report <perf report flags...>: the top lines, symbols cut to 160 characters
    local out="$WORK/report$1.txt"
    perf report -i "$WORK/perf.data" --sort symbol --stdio -g none "$@" >"$out" 2>>"$WORK/perf-report.err" </dev/null \
        || { cat "$WORK/perf-report.err" >&2; die "perf report failed"; }
    awk -v top="$TOP" '!/^#/ && NF && ++n <= top { sub(/[ \t-]+$/, ""); print substr($0, 1, 160) }' "$out"
}
# perf report reads the binary's symbols; report once keyway has exited.
kill -TERM "$GW_PID" 2>/dev/null || true
wait "$GW_PID" 2>/dev/null || true
echo
echo "--- self time by symbol (top $TOP)"
report --no-children
echo
echo "--- inclusive time by symbol (top $TOP)"
report --children
if [[ "$KEEP" == 1 ]]; then log "perf data kept: perf report -i $WORK/perf.data"; fi
