#!/usr/bin/env bash
# Proxy-overhead benchmark: loads the standalone mock-llm directly and through
# Keyway (`keyway up`, proxying to that same mock) in one run, non-stream and
# stream, with wrk. Prints RPS, p50 and p99 for each of the four runs and the
# ratio proxied/direct RPS (target >= 0.50 on the 2-core dev box).
#
# This is a benchmark, not a timed test: the target is informational. The
# script exits non-zero only when something is broken (start-up failure,
# non-2xx responses, socket errors), because a benchmark of errors means nothing.
#
# Usage:  bench/proxy.sh
# Env:    BENCH_DURATION     measured duration per run   (default 10s)
#         BENCH_WARMUP       warm-up before each run      (default 2s)
#         BENCH_CONNECTIONS  wrk -c                       (default 32)
#         BENCH_THREADS      wrk -t                       (default 2)
#         BENCH_MOCK_CHUNKS  split each streamed reply into this many SSE deltas
#                            (default: the mock's own, one delta per word)
#         BENCH_VERBOSE=1    also print wrk's own --latency report per run
#         BENCH_KEEP=1       keep the temp dir (logs, catalog) after the run
#         KEYWAY_BIN         use this binary instead of building one
#         CARGO_TARGET_DIR   default $HOME/.cache/keyway/target
# Needs:  Postgres on 127.0.0.1:5432 (user postgres, trust) and NATS on
#         127.0.0.1:4222; installs wrk with apt-get if it is missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
LUA="$HERE/chat.lua"

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
CONNS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-2}
MOCK_CHUNKS=${BENCH_MOCK_CHUNKS:-}
VERBOSE=${BENCH_VERBOSE:-0}
KEEP=${BENCH_KEEP:-0}
TARGET=0.50

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/keyway/target}
PREBUILT_BIN=${KEYWAY_BIN:-}

# Isolation: nothing from the caller's shell may leak into the two servers,
# and nothing of theirs may collide with another stack on this machine.
while read -r var; do unset "$var"; done < <(compgen -e | grep -E '^(KEYWAY_|MOCK_LLM_)' || true)
unset RUST_LOG
DB_NAME="keyway_bench_$$"
ADMIN_KEY="kwbench-admin-key-0123456789abcdefghijklmnopqrstuvwxyz"
SYSTEM_KEY="sk-bench-system-key"
NATS_PREFIX="kwbench"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- cleanup -----------------------------------------------------------------
WORK=""
PIDS=()
cleanup() {
    local rc=$?
    set +e
    (( rc != 0 )) && [[ -n "$WORK" ]] && dump_logs
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    psql -h 127.0.0.1 -U postgres -qtAc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 \
        || log "warning: could not drop database $DB_NAME"
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        if [[ "$KEEP" == 1 || $rc -ne 0 ]]; then
            log "logs kept in $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- prerequisites -----------------------------------------------------------
ensure_wrk() {
    command -v wrk >/dev/null && return
    local sudo=""
    [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null && sudo="sudo"
    log "wrk not found; installing it with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y wrk >/dev/null 2>&1 \
        || { $sudo apt-get update >/dev/null && $sudo apt-get install -y wrk >/dev/null; } \
        || die "cannot install wrk (apt-get install -y wrk)"
    command -v wrk >/dev/null || die "wrk still not on PATH after install"
}

free_ports() { # prints two distinct free TCP ports on 127.0.0.1
    python3 - <<'EOF'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
EOF
}

wait_until() { # wait_until <deadline-s> <pid> <what> <command...>
    local limit=$1 deadline=$(( SECONDS + $1 )) pid=$2 what=$3
    shift 3
    until "$@"; do
        kill -0 "$pid" 2>/dev/null || die "$what exited during start-up"
        (( SECONDS < deadline )) || die "$what not ready after ${limit}s"
        sleep 0.2
    done
}

keyway_ready() { # /readyz answers 200 with status "ready" (not "degraded")
    curl -fsS --max-time 2 "$GW/readyz" 2>/dev/null | grep -q '"status":"ready"'
}

dump_logs() {
    for f in "$WORK"/mock.err "$WORK"/keyway.err; do
        [[ -s "$f" ]] && { log "--- tail of $f"; tail -n 20 "$f" >&2; }
    done
    return 0
}

# CPU time (seconds, all threads) consumed so far by a process.
proc_cpu() {
    local tck
    tck=$(getconf CLK_TCK)
    sed 's/^.*) //' "/proc/$1/stat" | awk -v t="$tck" '{ printf "%.3f", ($12 + $13) / t }'
}
# Busy CPU seconds of the whole machine so far (all cores; idle+iowait excluded).
host_busy() {
    local tck
    tck=$(getconf CLK_TCK)
    awk -v t="$tck" '/^cpu /{ b=0; for (i=2; i<=NF; i++) if (i!=5 && i!=6) b+=$i; printf "%.3f", b/t }' /proc/stat
}

# --- build and start ---------------------------------------------------------
ensure_wrk
command -v python3 >/dev/null || die "python3 is needed to pick free ports"
command -v psql >/dev/null || die "psql is needed to drop the bench database"

if [[ -n "$PREBUILT_BIN" ]]; then
    BIN=$PREBUILT_BIN
else
    log "building keyway (release) in $CARGO_TARGET_DIR"
    (cd "$ROOT" && cargo build --release -p keyway --quiet) || die "cargo build failed"
    BIN="$CARGO_TARGET_DIR/release/keyway"
fi
[[ -x "$BIN" ]] || die "no keyway binary at $BIN"

WORK=$(mktemp -d -t keyway-bench.XXXXXX)
mkdir -p "$WORK/data"
read -r MOCK_PORT GW_PORT < <(free_ports)
MOCK="http://127.0.0.1:$MOCK_PORT"
GW="http://127.0.0.1:$GW_PORT"

cat >"$WORK/models.yaml" <<EOF
models:
  bench-gpt:
    provider: openai
    upstream_model: mock-model
    base_url: $MOCK/v1
    key_source: [system]
    api_key_env: BENCH_SYSTEM_KEY
    price: {input_per_mtok: 0.15, output_per_mtok: 0.60, cached_input_per_mtok: 0.075, currency: USD}
EOF

log "starting mock-llm on $MOCK (auth mode on)"
env MOCK_LLM_REQUIRE_AUTH=true MOCK_LLM_KEYS="$SYSTEM_KEY=bench" MOCK_LLM_CHUNKS="$MOCK_CHUNKS" KEYWAY_LOG_FORMAT=json \
    "$BIN" mock-llm --listen "127.0.0.1:$MOCK_PORT" >/dev/null 2>"$WORK/mock.err" &
MOCK_PID=$!
PIDS+=("$MOCK_PID")

log "starting keyway up on $GW (database $DB_NAME, NATS prefix $NATS_PREFIX)"
env KEYWAY_LISTEN="127.0.0.1:$GW_PORT" \
    KEYWAY_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB_NAME" \
    KEYWAY_NATS_PREFIX="$NATS_PREFIX" \
    KEYWAY_DATA_DIR="$WORK/data" \
    KEYWAY_ADMIN_KEY="$ADMIN_KEY" \
    KEYWAY_LOG_FORMAT=json \
    KEYWAY_MODELS="$WORK/models.yaml" \
    KEYWAY_MOCK=false \
    BENCH_SYSTEM_KEY="$SYSTEM_KEY" \
    "$BIN" up >/dev/null 2>"$WORK/keyway.err" &
GW_PID=$!
PIDS+=("$GW_PID")

wait_until 30 "$MOCK_PID" "mock-llm" curl -fsS --max-time 2 -o /dev/null "$MOCK/healthz"
wait_until 120 "$GW_PID" "keyway" keyway_ready
log "both servers ready"

# --- sanity check: one request each way, before any load ----------------------
sanity() { # sanity <url> <key> <model>
    local out
    out=$(curl -sS --max-time 10 -w '\n%{http_code}' "$1/v1/chat/completions" \
        -H "Authorization: Bearer $2" -H 'Content-Type: application/json' \
        -d "{\"model\":\"$3\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello to the benchmark.\"}]}") \
        || die "request to $1 failed"
    [[ ${out##*$'\n'} == 200 ]] || { log "$out"; die "$1 answered ${out##*$'\n'}, not 200"; }
    # The mock appends the identity of the key it saw: proves the gateway used the system key.
    grep -q 'Authenticated as bench' <<<"$out" || { log "$out"; die "mock did not see the bench system key via $1"; }
}
sanity "$MOCK" "$SYSTEM_KEY" mock-model
sanity "$GW" "$ADMIN_KEY" bench-gpt
log "sanity requests OK (direct and proxied reach the mock with the system key)"

# --- header --------------------------------------------------------------------
NCPU=$(nproc)
# How busy is the machine before we load it? Other work skews every figure.
b0=$(host_busy); sleep 2; b1=$(host_busy)
IDLE_BUSY=$(awk -v a="$b0" -v b="$b1" 'BEGIN{printf "%.2f", (b-a)/2}')
CPU_MODEL=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
MEM_GIB=$(awk '/^MemTotal/{printf "%.0f", $2/1048576}' /proc/meminfo)
cat <<EOF

Keyway proxy benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')
  machine : $NCPU cores (${CPU_MODEL:-unknown CPU}), ${MEM_GIB} GiB RAM, $(uname -sr)
  NOTE    : wrk, mock-llm and keyway (and the Postgres and NATS it uses) all
            share these $NCPU cores, so the ratio understates what the gateway
            would reach with a core of its own.
  before  : ${IDLE_BUSY} of $NCPU cores already busy (load average $(cut -d' ' -f1-3 /proc/loadavg))
  load    : $(wrk -v 2>&1 | head -n1 | awk '{print $1, $2}'), -t$THREADS -c$CONNS -d$DURATION (after a ${WARMUP} warm-up), POST /v1/chat/completions
  direct  : $MOCK  (mock-llm, auth mode, model mock-model, stream deltas: ${MOCK_CHUNKS:-one per word})
  proxied : $GW  (keyway up -> same mock, model bench-gpt, system key)

EOF
if awk -v b="$IDLE_BUSY" 'BEGIN{exit !(b > 0.25)}'; then
    echo "WARNING: the machine was not idle before the run (${IDLE_BUSY} cores busy): figures will be noisy."
    echo
fi

# --- runs ------------------------------------------------------------------------
declare -A R  # R[<label>.<field>]
ERRORS=0

field() { sed -n "s/.*[[:space:]]$2=\([^[:space:]]*\).*/\1/p" <<<"$1"; }

run() { # run <label> <base-url> <key> <model> <stream:true|false>
    local label=$1 url="$2/v1/chat/completions" key=$3 model=$4 stream=$5
    local wrk_args=(-t"$THREADS" -c"$CONNS" --timeout 10s -s "$LUA" -H "Authorization: Bearer $key" "$url")

    BENCH_MODEL=$model BENCH_STREAM=$stream wrk -d"$WARMUP" "${wrk_args[@]}" >"$WORK/$label.warmup.log" 2>&1 \
        || { cat "$WORK/$label.warmup.log" >&2; die "wrk warm-up failed for $label"; }

    local t0 m0 g0 t1 m1 g1 wall0 wall1
    t0=$(host_busy); m0=$(proc_cpu "$MOCK_PID"); g0=$(proc_cpu "$GW_PID"); wall0=$(date +%s.%N)
    # bash's `time` gives wrk's own CPU (user, sys), so "other" below is what
    # neither wrk, the mock nor keyway used: Postgres, NATS, the kernel, other jobs.
    local TIMEFORMAT='%U %S'
    { time BENCH_MODEL=$model BENCH_STREAM=$stream wrk --latency -d"$DURATION" "${wrk_args[@]}" \
        >"$WORK/$label.log" 2>&1; } 2>"$WORK/$label.time" \
        || { cat "$WORK/$label.log" >&2; die "wrk failed for $label"; }
    t1=$(host_busy); m1=$(proc_cpu "$MOCK_PID"); g1=$(proc_cpu "$GW_PID"); wall1=$(date +%s.%N)

    [[ "$VERBOSE" == 1 ]] && { echo "--- wrk output: $label"; grep -v '^BENCH_RESULT' "$WORK/$label.log"; echo; }

    local line
    line=$(grep '^BENCH_RESULT' "$WORK/$label.log") || { cat "$WORK/$label.log" >&2; die "no result line from wrk for $label"; }
    local rps p50 p99 non2xx sock text_non2xx
    rps=$(field "$line" rps)
    p50=$(awk -v u="$(field "$line" p50_us)" 'BEGIN{printf "%.2f", u/1000}')
    p99=$(awk -v u="$(field "$line" p99_us)" 'BEGIN{printf "%.2f", u/1000}')
    non2xx=$(field "$line" non2xx)
    # Cross-check against wrk's own text report ("Non-2xx or 3xx responses: N").
    text_non2xx=$(sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$WORK/$label.log")
    (( ${text_non2xx:-0} > non2xx )) && non2xx=$text_non2xx
    sock=$(( $(field "$line" connect) + $(field "$line" read) + $(field "$line" write) + $(field "$line" timeout) ))

    local cpu_wrk cpu_mock cpu_gw cpu_rest wrk_user wrk_sys
    read -r wrk_user wrk_sys <"$WORK/$label.time"
    read -r cpu_wrk cpu_mock cpu_gw cpu_rest < <(awk -v w="$wall1" -v v="$wall0" -v t="$t1" -v s="$t0" \
        -v m="$m1" -v n="$m0" -v g="$g1" -v h="$g0" -v wu="$wrk_user" -v ws="$wrk_sys" 'BEGIN{
            d=w-v; wk=(wu+ws)/d; mk=(m-n)/d; gw=(g-h)/d; all=(t-s)/d;
            rest=all-wk-mk-gw; if (rest<0) rest=0;
            printf "%.2f %.2f %.2f %.2f\n", wk, mk, gw, rest }')

    R[$label.rps]=$rps R[$label.p50]=$p50 R[$label.p99]=$p99
    R[$label.non2xx]=$non2xx R[$label.sock]=$sock
    R[$label.cpu_wrk]=$cpu_wrk R[$label.cpu_mock]=$cpu_mock R[$label.cpu_gw]=$cpu_gw R[$label.cpu_rest]=$cpu_rest
    if (( non2xx > 0 || sock > 0 )); then
        ERRORS=1
        log "ERROR: $label had $non2xx non-2xx responses and $sock socket errors (see $WORK/$label.log)"
    fi
    printf '  %-20s %10.1f req/s   p50 %7s ms   p99 %7s ms\n' "$label" "$rps" "$p50" "$p99"
}

echo "runs (each: ${WARMUP} warm-up, then ${DURATION} measured):"
run direct-nonstream  "$MOCK" "$SYSTEM_KEY" mock-model false
run proxied-nonstream "$GW"   "$ADMIN_KEY"  bench-gpt  false
run direct-stream     "$MOCK" "$SYSTEM_KEY" mock-model true
run proxied-stream    "$GW"   "$ADMIN_KEY"  bench-gpt  true

# --- report --------------------------------------------------------------------------
echo
echo "results ($NCPU cores shared by wrk, mock-llm and keyway; cpu columns = cores used during the run,"
echo "'other' = Postgres, NATS, kernel threads and anything else running on the box):"
printf '| %-8s | %-10s | %10s | %8s | %8s | %7s | %8s | %7s | %8s | %6s | %9s |\n' \
    path mode RPS "p50 ms" "p99 ms" non-2xx sock-err "cpu wrk" "cpu mock" "cpu kw" "cpu other"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' \
    ---------- ------------ ------------ ---------- ---------- --------- ---------- --------- ---------- -------- -----------
for mode in nonstream stream; do
    for path in direct proxied; do
        l="$path-$mode"
        printf '| %-8s | %-10s | %10.1f | %8s | %8s | %7s | %8s | %7s | %8s | %6s | %9s |\n' \
            "$path" "$([[ $mode == nonstream ]] && echo non-stream || echo stream)" \
            "${R[$l.rps]}" "${R[$l.p50]}" "${R[$l.p99]}" "${R[$l.non2xx]}" "${R[$l.sock]}" \
            "${R[$l.cpu_wrk]}" "${R[$l.cpu_mock]}" "$([[ $path == direct ]] && echo - || echo "${R[$l.cpu_gw]}")" "${R[$l.cpu_rest]}"
    done
done
echo
for mode in nonstream stream; do
    name=$([[ $mode == nonstream ]] && echo non-stream || echo stream)
    awk -v p="${R[proxied-$mode.rps]}" -v d="${R[direct-$mode.rps]}" -v t="$TARGET" -v n="$name" \
        -v pp="${R[proxied-$mode.p50]}" -v dp="${R[direct-$mode.p50]}" 'BEGIN{
            r = (d > 0) ? p/d : 0
            printf "ratio proxied/direct (%s): %.2f   target >= %.2f: %s   (p50 +%.2f ms through the gateway)\n",
                n, r, t, (r >= t ? "PASS" : "FAIL"), pp-dp }'
done

# A stream p50 near 40 ms with no pacing configured is not work, it is a stall.
STALL=$(awk -v d="${R[direct-stream.p50]}" -v p="${R[proxied-stream.p50]}" 'BEGIN{
    if (d >= 35) print "direct (mock-llm)"; else if (p - d >= 35) print "proxied (the gateway adds it)" }')
if [[ -n "$STALL" ]]; then
    cat <<EOF

NOTE: stream latency ~40-44 ms in the $STALL row although nothing paces the
reply: a Nagle / delayed-ACK stall. The server socket has no TCP_NODELAY, the
SSE frames leave in more than one write, and the later write waits for the
client's delayed ACK (~40 ms). Stream RPS is then ~ connections / 44 ms:
latency-bound, not CPU-bound. BENCH_MOCK_CHUNKS=4 keeps the mock's reply in one
write. See docs/benchmarks.md.
EOF
fi

if (( ERRORS )); then
    log "the run saw errors: figures above are not valid"
    exit 1
fi
