#!/usr/bin/env bash
# Constant-rate latency benchmark: what Keyway ADDS to each request's latency
# at a given arrival rate, as opposed to bench/proxy.sh, which measures how
# many requests a closed loop of 32 connections gets through.
#
# The same mock-llm is loaded directly and through `keyway up` (all features
# on, set up exactly as bench/proxy.sh does it, from bench/lib.sh), row by row,
# the direct and the Keyway run of a row back to back:
#   - paced: open loop, evenly spaced arrivals, at 1,000 and 3,000 requests/s
#     (oha -q, with --latency-correction so a stalled request cannot hide the
#     ones queued behind it): added p50, p99 and p99.9;
#   - bursty: 50 requests at once every 50 ms (1,000/s on average; what
#     `hey -c 50 -q 20` really does): added p50 and p99;
#   - streams: the added time to first token (p50, p99) at a paced rate.
#     oha times whole responses only, so bench/ttft.py (Python, standard
#     library) sends the streams and timestamps the first body chunk. Its own
#     event-loop jitter is in both paths' figures, which is why it runs at a
#     modest rate (BENCH_TTFT_RATE) and only the difference is reported.
# Each oha row also prints the CPU a request of the server in front (the mock
# on the direct path, Keyway's own process through it), read from /proc.
# "Added" is Keyway's percentile minus the direct run's percentile of the
# same row (a difference of percentiles, not a percentile of differences).
#
# A benchmark, not a test: it exits non-zero only when something is broken
# (start-up failure, a non-2xx response, a failed stream), never on a figure.
#
# Usage:  bench/latency.sh
# Env:    BENCH_DURATION     measured seconds per run               (default 10)
#         BENCH_RATES        paced rates, requests/s                (default "1000 3000")
#         BENCH_CONNECTIONS  oha -c for the paced rows              (default 50)
#         BENCH_TTFT_RATE    streams/s for the TTFT row             (default 200)
#         BENCH_KEEP=1       keep the temp dir (logs, raw oha JSON)
#         KEYWAY_BIN         use this binary instead of building one (release)
#         CARGO_TARGET_DIR   default $HOME/.cache/keyway/target
# Needs:  Postgres on 127.0.0.1:5432 (user postgres, trust), NATS on
#         127.0.0.1:4222, python3, and oha (`cargo install oha --locked`;
#         installed that way if missing).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
DURATION=${BENCH_DURATION:-10}
RATES=${BENCH_RATES:-1000 3000}
CONNS=${BENCH_CONNECTIONS:-50}
TTFT_RATE=${BENCH_TTFT_RATE:-200}
KEEP=${BENCH_KEEP:-0}
BURST=50        # requests per burst
BURST_MS=50     # between bursts

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

command -v python3 >/dev/null || die "python3 is needed"
command -v psql >/dev/null || die "psql is needed to drop the bench database"
if ! command -v oha >/dev/null; then
    PATH="$PATH:$HOME/.cargo/bin"
    command -v oha >/dev/null || { log "oha not found; cargo install oha --locked"; cargo install -q oha --locked >&2 || die "cannot install oha"; }
fi
bench_binary

bench_start_stack latency
log "servers ready; sanity requests OK"

# One row: the direct run, then the Keyway run, same oha arguments. C holds
# the CPU a request of the server in front (the mock direct, Keyway through
# it), from /proc: at a paced rate every request pays for waking a sleeping
# thread, so this is several times the figure bench/proxy.sh shows at
# saturation.
declare -A R C
row() { # row <label> <requests> <oha load args...>
    local label=$1 path url key model pid before
    shift
    for path in direct keyway; do
        if [[ $path == direct ]]; then url=$MOCK key=$SYSTEM_KEY model=mock-model pid=$MOCK_PID; else url=$GW key=$TENANT_KEY model=bench-gpt pid=$GW_PID; fi
        before=$(proc_cpu "$pid")
        oha_run "$WORK/$label-$path.json" "$url" "$key" "$model" "$@"
        C[$label.$path]=$(awk -v a="$before" -v b="$(proc_cpu "$pid")" -v n="$1" 'BEGIN{printf "%.0f", (b - a) * 1e6 / n}')
        R[$label.$path]=$(oha_figures "$WORK/$label-$path.json") || die "$label ($path) had failures"
    done
}

ttft_row() { # ttft_row <rate>
    local path url key model
    for path in direct keyway; do
        if [[ $path == direct ]]; then url=$MOCK key=$SYSTEM_KEY model=mock-model; else url=$GW key=$TENANT_KEY model=bench-gpt; fi
        python3 "$HERE/ttft.py" "$url" "$key" "$model" "$1" "$DURATION" >"$WORK/ttft-$path.json" \
            || die "ttft.py failed against $url"
        R[ttft.$path]=$(python3 - "$WORK/ttft-$path.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
if r["failed"] or not r["ok"]:
    sys.exit(f"{r['failed']} failed streams: {r['errors']}")
print(f'{r["ok"] / r["seconds"]:.0f} {r["ttft"]["p50"]:.3f} {r["ttft"]["p99"]:.3f} {r["ttft"]["p99.9"]:.3f}')
EOF
        ) || die "TTFT ($path) had failures"
    done
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
IDLE_BUSY=$(busy_before)
cat <<EOF

Keyway constant-rate latency — $(date -u '+%Y-%m-%d %H:%M UTC')
  machine : $(nproc) cores, $(uname -sr); oha, mock-llm, keyway, Postgres and NATS share them
  before  : ${IDLE_BUSY} cores busy, load average $LOAD_BEFORE
  load    : $(oha --version | head -n1), ${DURATION} s per run, POST /v1/chat/completions
  direct  : $MOCK (mock-llm, auth mode)   keyway: $GW (keyway up, everything on: a tenant key with limits, BYOK)
EOF
awk -v b="$IDLE_BUSY" 'BEGIN{exit !(b > 0.25)}' && echo "WARNING: the machine was not idle before the run: figures are noisy."
echo

# Warm both paths up (connection pools, the gateway's caches), then measure.
for path in "$MOCK $SYSTEM_KEY mock-model" "$GW $TENANT_KEY bench-gpt"; do
    read -r url key model <<<"$path"
    oha_run "$WORK/warmup.json" "$url" "$key" "$model" 1000 -q 500 -c 10
done

for rate in $RATES; do
    log "paced: $rate requests/s, direct then keyway"
    row "paced-$rate" $(( rate * DURATION )) -q "$rate" --latency-correction -c "$CONNS"
done
log "bursty: $BURST requests every $BURST_MS ms, direct then keyway"
row bursty $(( BURST * 1000 / BURST_MS * DURATION )) --burst-delay "${BURST_MS}ms" --burst-rate "$BURST" -c "$BURST"
log "streams: $TTFT_RATE streams/s, time to first token, direct then keyway"
ttft_row "$TTFT_RATE"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report -----------------------------------------------------------------------
printf '| %-30s | %8s | %-26s | %-26s | %-28s |\n' row "req/s" "direct p50 / p99 / p99.9" "keyway p50 / p99 / p99.9" "added p50 / p99 / p99.9 ms"
printf '|%s|%s|%s|%s|%s|\n' -------------------------------- ---------- ---------------------------- ---------------------------- ------------------------------
report() { # report <key> <label> <show p99.9: 1|0>
    read -r drps d50 d99 d999 <<<"${R[$1.direct]}"
    read -r krps k50 k99 k999 <<<"${R[$1.keyway]}"
    awk -v l="$2" -v r="$krps" -v a="$d50" -v b="$d99" -v c="$d999" -v x="$k50" -v y="$k99" -v z="$k999" -v t="$3" 'BEGIN{
        printf "| %-30s | %8s | %7.2f / %6.2f / %7s | %7.2f / %6.2f / %7s | %+7.2f / %+7.2f / %8s |\n",
            l, r, a, b, (t ? sprintf("%.2f", c) : "-"), x, y, (t ? sprintf("%.2f", z) : "-"),
            x - a, y - b, (t ? sprintf("%+.2f", z - c) : "-") }'
}
for rate in $RATES; do report "paced-$rate" "paced $rate/s (ms)" 1; done
report bursty "bursts of $BURST every ${BURST_MS} ms (ms)" 0
report ttft "stream TTFT, $TTFT_RATE/s (ms)" 0
echo
echo "CPU a request, µs (/proc): the mock's on the direct path, Keyway's own through it"
for key in $(for rate in $RATES; do echo "paced-$rate"; done) bursty; do
    printf '  %-12s mock %5s   keyway %5s\n' "$key" "${C[$key.direct]}" "${C[$key.keyway]}"
done
echo
echo "load average before / after: $LOAD_BEFORE / $LOAD_AFTER"
