#!/usr/bin/env bash
# What holds Keyway's request threads off their CPU at a paced rate: the
# stack of bench/latency.sh (mock-llm in auth mode, `keyway up` with
# everything on), one paced `oha` run against Keyway while `perf sched
# record -a` traces every context switch of the machine. Prints the run's
# percentiles, the CPU a request of Keyway, Postgres and NATS, and from the
# trace the front threads' scheduling delays (woken but waiting for a CPU)
# with what ran on their CPU meanwhile (bench/sched_delay.py).
#
# Why: on two shared cores a request thread that wakes behind another
# process's burst waits up to that process's scheduling slice (1.4 ms
# here), which is what a paced p99 sees. This names the process.
#
# A measuring tool, not a test: it exits non-zero only when something is
# broken.
#
# Usage:  bench/sched-delay.sh
# Env:    BENCH_RATE         requests/s, paced                (default 1000)
#         BENCH_DURATION     seconds                          (default 10)
#         BENCH_THRESHOLD    delays counted past this, ms     (default 0.3)
#         BENCH_KEYWAY_ENV   settings for Keyway, as in bench/lib.sh
#                            (say "KEYWAY_PROJECTOR_LINGER_MS=50")
#         BENCH_KEEP=1       keep the temp dir (the trace, logs)
#         KEYWAY_BIN         use this binary (release)
# Needs:  what bench/latency.sh needs, and perf (Debian linux-perf).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
RATE=${BENCH_RATE:-1000}
DURATION=${BENCH_DURATION:-10}
THRESHOLD=${BENCH_THRESHOLD:-0.3}
KEEP=${BENCH_KEEP:-0}

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

ensure_pkg perf linux-perf
command -v oha >/dev/null || PATH="$PATH:$HOME/.cargo/bin"
command -v oha >/dev/null || die "oha not found: cargo install oha --locked"
bench_binary
bench_start_stack sched-delay

log "warming up"
oha_run "$WORK/warmup.json" "$GW" "$TENANT_KEY" bench-gpt 1000 -q 500 -c 10

N=$((RATE * DURATION))
log "paced: $RATE requests/s for $DURATION s, traced by perf sched"
c0=$(proc_cpu "$GW_PID"); p0=$(services_cpu postgres); n0=$(services_cpu nats-server)
perf sched record -a -o "$WORK/sched.data" -- sleep "$DURATION" >"$WORK/perf.err" 2>&1 &
PERF_PID=$!
oha_run "$WORK/paced.json" "$GW" "$TENANT_KEY" bench-gpt "$N" -q "$RATE" --latency-correction -c 50
wait "$PERF_PID" || { cat "$WORK/perf.err" >&2; die "perf sched record failed"; }
c1=$(proc_cpu "$GW_PID"); p1=$(services_cpu postgres); n1=$(services_cpu nats-server)

read -r _ p50 p99 p999 < <(oha_figures "$WORK/paced.json") || die "the paced run had failures"
echo "keyway p50 / p99 / p99.9: $p50 / $p99 / $p999 ms"
awk -v n="$N" -v k0="$c0" -v k1="$c1" -v p0="$p0" -v p1="$p1" -v s0="$n0" -v s1="$n1" 'BEGIN {
    printf "CPU a request, us: keyway %.0f   postgres %.0f   nats-server %.0f\n",
        (k1 - k0) * 1e6 / n, (p1 - p0) * 1e6 / n, (s1 - s0) * 1e6 / n }'
perf sched timehist -i "$WORK/sched.data" >"$WORK/timehist.txt" 2>"$WORK/timehist.err" \
    || { cat "$WORK/timehist.err" >&2; die "perf sched timehist failed"; }
python3 "$HERE/sched_delay.py" "$WORK/timehist.txt" "$THRESHOLD"
