#!/usr/bin/env bash
# Routing-overhead benchmark: one `keyway up` (release build) in front of one
# mock-llm, serving two catalog models in the same run: `single` (one
# base_url, the implicit deployment) and `pair` (two deployments, weights
# 3:1, both on that mock, so only the router's work differs). wrk loads
# each in turn, alternating, and the script prints RPS, p50 and p99 for each
# and pair's cost over single (p50 and gateway CPU per request).
#
# A benchmark, not a test: it prints figures and exits non-zero only when
# something is broken (start-up failure, non-2xx answers, socket errors).
#
# Usage:  bench/routing.sh
# Env:    BENCH_DURATION     measured duration per run   (default 5s)
#         BENCH_ROUNDS       single/pair rounds          (default 2)
#         BENCH_CONNECTIONS  wrk -c                      (default 16)
#         BENCH_THREADS      wrk -t                      (default 2)
#         KEYWAY_BIN         use this binary instead of building one
#         CARGO_TARGET_DIR   default $HOME/.cache/keyway/target
# Needs:  Postgres on 127.0.0.1:5432 (user postgres, trust), NATS on
#         127.0.0.1:4222, wrk (installed with apt-get when missing).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
LUA="$HERE/chat.lua"
DURATION=${BENCH_DURATION:-5s}
ROUNDS=${BENCH_ROUNDS:-2}
CONNS=${BENCH_CONNECTIONS:-16}
THREADS=${BENCH_THREADS:-2}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/keyway/target}
PREBUILT_BIN=${KEYWAY_BIN:-}

while read -r var; do unset "$var"; done < <(compgen -e | grep -E '^(KEYWAY_|MOCK_LLM_)' || true)
unset RUST_LOG
DB_NAME="keyway_bench_routing_$$"
NATS_PREFIX="kwbenchrt$$"
ADMIN_KEY="kwbench-admin-key-0123456789abcdefghijklmnopqrstuvwxyz"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

WORK=""
PIDS=()
cleanup() {
    local rc=$?
    set +e
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    psql -h 127.0.0.1 -U postgres -qtAc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1
    python3 "$HERE/keys_bench.py" delete-streams "${NATS_PREFIX^^}_USAGE" "${NATS_PREFIX^^}_KEYS" >/dev/null 2>&1
    if [[ -n "$WORK" ]]; then
        if (( rc != 0 )); then
            tail -n 20 "$WORK"/*.err >&2
            log "logs kept in $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! command -v wrk >/dev/null; then
    log "installing wrk with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null 2>&1 \
        || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null; } \
        || die "cannot install wrk"
fi

if [[ -n "$PREBUILT_BIN" ]]; then
    BIN=$PREBUILT_BIN
else
    log "building keyway (release) in $CARGO_TARGET_DIR"
    (cd "$ROOT" && cargo build --release -p keyway --quiet) || die "cargo build failed"
    BIN="$CARGO_TARGET_DIR/release/keyway"
fi

read -r MOCK_PORT GW_PORT < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1", 0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))')
MOCK="http://127.0.0.1:$MOCK_PORT"
GW="http://127.0.0.1:$GW_PORT"
WORK=$(mktemp -d -t keyway-bench-routing.XXXXXX)

cat >"$WORK/models.yaml" <<EOF
models:
  single:
    provider: openai
    upstream_model: mock-model
    base_url: $MOCK/v1
    key_source: [system]
    api_key_env: BENCH_SYSTEM_KEY
    price: {input_per_mtok: 0.15, output_per_mtok: 0.60, currency: USD}
  pair:
    provider: openai
    upstream_model: mock-model
    key_source: [system]
    api_key_env: BENCH_SYSTEM_KEY
    deployments:
      - {name: first, base_url: $MOCK/v1, weight: 3}
      - {name: second, base_url: $MOCK/v1, weight: 1}
    price: {input_per_mtok: 0.15, output_per_mtok: 0.60, currency: USD}
EOF

"$BIN" mock-llm --listen "127.0.0.1:$MOCK_PORT" >/dev/null 2>"$WORK/mock.err" &
PIDS+=("$!")
env KEYWAY_LISTEN="127.0.0.1:$GW_PORT" \
    KEYWAY_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB_NAME" \
    KEYWAY_NATS_PREFIX="$NATS_PREFIX" KEYWAY_DATA_DIR="$WORK/data" \
    KEYWAY_ADMIN_KEY="$ADMIN_KEY" KEYWAY_MODELS="$WORK/models.yaml" KEYWAY_MOCK=false \
    BENCH_SYSTEM_KEY=sk-bench "$BIN" up >/dev/null 2>"$WORK/keyway.err" &
GW_PID=$!
PIDS+=("$GW_PID")
for _ in $(seq 1 300); do
    curl -fsS --max-time 2 "$GW/readyz" 2>/dev/null | grep -q '"status":"ready"' && break
    kill -0 "$GW_PID" 2>/dev/null || die "keyway exited during start-up"
    sleep 0.2
done
curl -fsS "$GW/readyz" | grep -q '"status":"ready"' || die "keyway not ready"

cpu_of() { # CPU seconds of a process
    awk -v t="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); split($0, f, " "); printf "%.3f", (f[12] + f[13]) / t }' "/proc/$1/stat"
}

run() { # run <model>: prints "rps p50_us p99_us gateway_cpu_us_per_request"
    local before after out
    before=$(cpu_of "$GW_PID")
    out=$(BENCH_MODEL=$1 BENCH_STREAM=false wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" -s "$LUA" \
        -H "Authorization: Bearer $ADMIN_KEY" "$GW/v1/chat/completions" | grep BENCH_RESULT)
    after=$(cpu_of "$GW_PID")
    python3 -c '
import sys
kv = dict(p.split("=") for p in sys.argv[1].split()[1:])
if any(int(kv[k]) for k in ("non2xx", "connect", "read", "timeout")):
    sys.exit("errors during the run: " + sys.argv[1])
cpu = (float(sys.argv[3]) - float(sys.argv[2])) / int(kv["requests"]) * 1e6
print(kv["rps"], kv["p50_us"], kv["p99_us"], "%.1f" % cpu)' "$out" "$before" "$after"
}

log "warm-up"
run single >/dev/null
run pair >/dev/null
RESULTS="$WORK/results"
: >"$RESULTS"
printf '%-8s %5s %10s %9s %9s %14s\n' model round rps p50_us p99_us gw_cpu_us/req
for round in $(seq 1 "$ROUNDS"); do
    for model in single pair; do
        line=$(run "$model")
        echo "$model $line" >>"$RESULTS"
        read -r rps p50 p99 cpu <<<"$line"
        printf '%-8s %5s %10s %9s %9s %14s\n' "$model" "$round" "$rps" "$p50" "$p99" "$cpu"
    done
done
python3 -c '
import sys
rows = [l.split() for l in open(sys.argv[1])]
def mean(model, i):
    v = [float(r[i]) for r in rows if r[0] == model]
    return sum(v) / len(v)
s = [mean("single", i) for i in (1, 2, 4)]
p = [mean("pair", i) for i in (1, 2, 4)]
print("mean     single rps %.0f p50 %.0f us, gateway CPU %.1f us/request" % tuple(s))
print("mean     pair   rps %.0f p50 %.0f us, gateway CPU %.1f us/request" % tuple(p))
print("two deployments against one: p50 %+.0f us, gateway CPU %+.1f us/request, rps %+.1f%%"
      % (p[1] - s[1], p[2] - s[2], 100 * (p[0] / s[0] - 1)))' "$RESULTS"
