#!/usr/bin/env bash
# Projector scale-out benchmark: real `keyway run projector` processes share
# the durable consumer. For 1, 2 and 3 processes, each with 1 and then 2
# writers (concurrent write transactions), BENCH_EVENTS usage events are
# queued in JetStream first (a backlog), then the processes start and drain
# it; then 3 processes consume while events are published at BENCH_RATE/s. Prints events/s into the views and the lag of each run
# (services/projector/examples/projector_bench does the work, on a
# throwaway database and NATS prefix per run).
#
# Events travel as the gateway publishes them: BENCH_WIRE_BATCH events of
# one tenant per JetStream message (the gateway's KEYWAY_USAGE_BATCH_MAX
# default); BENCH_SINGLES=1 adds the same backlog runs with one event per
# message (batching off) for comparison.
# Targets on the 2-core dev box: >= 50k events/s with three processes, lag
# p99 <= 1 s at 25k/s. Informational: the script fails only when something is
# broken (a run that does not catch up, views that are not exact).
#
# Usage:  bench/projector-scale.sh
# Env:    BENCH_EVENTS      backlog size                      (default 500000)
#         BENCH_SCALE       process counts to run             (default "1 2 3")
#         BENCH_WIRE_BATCH  events per message                (default 256)
#         BENCH_RATE        events/s of the paced run, 0 = skip (default 25000)
#         BENCH_BATCH       projector batch size              (default: the projector's)
#         BENCH_WRITERS     writers per process to run, each row (default "1 2"; the
#                           projector's default is 2, KEYWAY_PROJECTOR_WRITERS)
#         BENCH_TENANTS     tenants the events are spread over (default 20; the
#                           view rows that concurrent writers share)
#         BENCH_SINGLES=1   also drain the backlog with one event per message
#         KEYWAY_BIN        use this binary instead of building one
#         BENCH_EXAMPLE_BIN use this projector_bench build instead of building
#                           one (an A/B of two releases: each its own, as it
#                           migrates the database its binary expects)
#         CARGO_TARGET_DIR  default $HOME/.cache/keyway/target
# Needs:  Postgres on 127.0.0.1:5432 (user postgres, trust) and NATS with
#         JetStream on 127.0.0.1:4222 (scripts/ensure-services.sh).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/keyway/target}
EVENTS=${BENCH_EVENTS:-500000}
SCALE=${BENCH_SCALE:-1 2 3}
WIRE=${BENCH_WIRE_BATCH:-256}
RATE=${BENCH_RATE:-25000}
WRITERS=${BENCH_WRITERS:-1 2}

log() { printf '[bench] %s\n' "$*" >&2; }

bash "$ROOT/scripts/ensure-services.sh"
log "building keyway and the benchmark (release)"
if [[ -z "${KEYWAY_BIN:-}" ]]; then
    (cd "$ROOT" && cargo build --release -q -p keyway)
    export KEYWAY_BIN="$CARGO_TARGET_DIR/release/keyway"
fi
BIN=${BENCH_EXAMPLE_BIN:-}
if [[ -z "$BIN" ]]; then
    (cd "$ROOT" && cargo build --release -q -p keyway-projector --example projector_bench)
    BIN="$CARGO_TARGET_DIR/release/examples/projector_bench"
fi

batch=()
[[ -n "${BENCH_BATCH:-}" ]] && batch=("BENCH_BATCH=$BENCH_BATCH")
declare -A RESULT

run() { # run <label> <env...>
    local label=$1 out
    shift
    printf '\n== %s\n' "$label"
    out=$(env "${batch[@]}" BENCH_EVENTS="$EVENTS" "$@" "$BIN" | tee /dev/stderr)
    RESULT[$label]=$(sed -n 's/.*: \([0-9]*\) events\/s into the views.*/\1/p' <<<"$out")
    RESULT[$label.lag]=$(sed -n 's/^projection lag.*p50 \([0-9]*\) ms, p99 \([0-9]*\) ms.*/p50 \1 ms, p99 \2 ms/p' <<<"$out")
    RESULT[$label.time]=$(sed -n 's/^projected [0-9]* events in \([0-9.]*\)s.*/\1 s/p' <<<"$out")
}

printf 'Keyway projector scale-out — %s, %s cores, %s backlog events\n' \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(nproc)" "$EVENTS"
for w in $WRITERS; do
    for n in $SCALE; do
        run "backlog, $n process(es) x $w writer(s), $WIRE events/message" \
            BENCH_MODE=backlog BENCH_RATE=0 BENCH_WIRE_BATCH="$WIRE" BENCH_PROJECTORS="$n" BENCH_WRITERS="$w"
        if [[ "${BENCH_SINGLES:-0}" == 1 ]]; then
            run "backlog, $n process(es) x $w writer(s), 1 event/message" \
                BENCH_MODE=backlog BENCH_RATE=0 BENCH_WIRE_BATCH=1 BENCH_PROJECTORS="$n" BENCH_WRITERS="$w"
        fi
    done
done
last=${SCALE##* }
first_writers=${WRITERS%% *}
if [[ "$RATE" != 0 ]]; then
    run "paced at $RATE/s, $last process(es) x $first_writers writer(s)" \
        BENCH_RATE="$RATE" BENCH_WIRE_BATCH="$WIRE" BENCH_PROJECTORS="$last" BENCH_WRITERS="$first_writers"
fi

printf '\nsummary (drain time from the first commit; lag = publish -> committed in the views):\n'
printf '| %-62s | %12s | %9s | %-24s |\n' run "events/s" "drain" "lag"
printf '|%s|%s|%s|%s|\n' ---------------------------------------------------------------- -------------- ----------- --------------------------
for label in "${!RESULT[@]}"; do
    [[ "$label" == *.lag || "$label" == *.time ]] && continue
    printf '| %-62s | %12s | %9s | %-24s |\n' "$label" "${RESULT[$label]}" "${RESULT[$label.time]}" \
        "${RESULT[$label.lag]:-(backlog: see drain)}"
done | sort
