#!/usr/bin/env bash
# Projector benchmark: publishes real `UsageEvent` protobufs to JetStream and
# measures how fast one projector folds them into the billing views, and how
# long an event takes from publish to being committed in the views.
#
# Three runs, each on a throwaway database and NATS prefix
# (services/projector/examples/projector_bench.rs does the work):
#   live     publish BENCH_EVENTS as fast as possible while the projector
#            consumes: sustained events/s into the views, and the lag (which
#            grows with the backlog whenever publishing outpaces projecting);
#   backlog  queue BENCH_EVENTS first, then start the projector: its capacity
#            alone, without the publisher competing for the CPU;
#   paced    publish at BENCH_RATE events/s: the lag p50/p99 at that rate.
# Targets on the 2-core dev box: >= 25k events/s, lag p99 <= 1 s. They are
# informational; the script fails only when something is broken (a run that
# does not catch up, or views that do not hold exactly the published events).
#
# Usage:  bench/projector.sh
# Env:    BENCH_EVENTS   events per run               (default 200000)
#         BENCH_RATE     events/s of the paced run    (default 20000)
#         BENCH_BATCH    projector batch size         (default: the projector's)
#         CARGO_TARGET_DIR  default $HOME/.cache/keyway/target
# Needs:  Postgres on 127.0.0.1:5432 (user postgres, trust) and NATS with
#         JetStream on 127.0.0.1:4222 (scripts/ensure-services.sh).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/keyway/target}
EVENTS=${BENCH_EVENTS:-200000}
RATE=${BENCH_RATE:-20000}

log() { printf '[bench] %s\n' "$*" >&2; }

bash "$ROOT/scripts/ensure-services.sh"
log "building the benchmark (release)"
(cd "$ROOT" && cargo build --release -q -p keyway-projector --example projector_bench)
BIN="$CARGO_TARGET_DIR/release/examples/projector_bench"

batch=()
[[ -n "${BENCH_BATCH:-}" ]] && batch=("BENCH_BATCH=$BENCH_BATCH")

run() {
    local title=$1
    shift
    printf '\n== %s\n' "$title"
    env "${batch[@]}" BENCH_EVENTS="$EVENTS" "$@" "$BIN"
}

run "live: publish as fast as possible while the projector consumes" BENCH_RATE=0
run "backlog: the projector alone, draining $EVENTS queued events" BENCH_MODE=backlog BENCH_RATE=0
run "paced: publish at $RATE events/s" BENCH_RATE="$RATE"
