# Shared set-up for the gateway benchmarks (bench/proxy.sh, bench/latency.sh):
# sourced, never run. It isolates the run from the caller's shell, builds or
# takes the keyway binary, starts mock-llm (auth mode) and `keyway up` in
# front of it, and cleans everything up at exit (processes, the bench
# databases, the NATS streams of each prefix, the temp dir).
#
# The caller sets HERE, ROOT and KEEP, and may define dump_extra_logs.
# `bench_start_stack <name>` leaves MOCK/MOCK_PORT/MOCK_PID, GW/GW_PORT/GW_PID
# and TENANT_KEY.

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/keyway/target}
PREBUILT_BIN=${KEYWAY_BIN:-}

# Isolation: nothing from the caller's shell may leak into the servers, and
# nothing of theirs may collide with another stack on this machine.
while read -r var; do unset "$var"; done < <(compgen -e | grep -E '^(KEYWAY_|MOCK_LLM_)' || true)
unset RUST_LOG
DB_NAME="keyway_bench_$$"
ADMIN_KEY="kwbench-admin-key-0123456789abcdefghijklmnopqrstuvwxyz"
SYSTEM_KEY="sk-bench-system-key"
BYOK_KEY="sk-bench-byok-key"   # the tenant user's own provider key (BYOK)
NATS_PREFIX="kwbench$$"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- cleanup -----------------------------------------------------------------
WORK=""
PIDS=()
BENCH_DBS=()       # databases to drop at exit (start_keyway adds its own)
BENCH_PREFIXES=()  # NATS prefixes whose streams are deleted at exit
bench_cleanup() {
    local rc=$?
    set +e
    (( rc != 0 )) && [[ -n "$WORK" ]] && dump_logs
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    for db in "${BENCH_DBS[@]}"; do
        psql -h 127.0.0.1 -U postgres -qtAc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 \
            || log "warning: could not drop database $db"
    done
    # Every run publishes hundreds of thousands of usage events: leave none
    # of them behind in the shared NATS.
    for prefix in "${BENCH_PREFIXES[@]}"; do
        local up=${prefix^^}
        python3 "$HERE/keys_bench.py" delete-streams "${up}_USAGE" "${up}_KEYS" \
            "KV_${up}_LIMITS_RATE" "KV_${up}_LIMITS_SPEND" "KV_${up}_AUTH_FAILURES" "KV_${up}_RESPONSES" >/dev/null 2>&1 \
            || log "warning: could not delete the JetStream streams of prefix $prefix"
    done
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        if [[ "${KEEP:-0}" == 1 || $rc -ne 0 ]]; then
            log "logs kept in $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

dump_logs() {
    local f
    for f in "$WORK"/*.err; do
        [[ -s "$f" ]] && { log "--- tail of $f"; tail -n 20 "$f" >&2; }
    done
    return 0
}

# --- helpers -------------------------------------------------------------------
ensure_pkg() { # ensure_pkg <command> <debian package>
    command -v "$1" >/dev/null && return
    local sudo=""
    [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null && sudo="sudo"
    log "$1 not found; installing $2 with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y "$2" >/dev/null 2>&1 \
        || { $sudo apt-get update >/dev/null && $sudo apt-get install -y "$2" >/dev/null; } \
        || die "cannot install $2 (apt-get install -y $2)"
    command -v "$1" >/dev/null || die "$1 still not on PATH after installing $2"
}

free_ports() { # free_ports <n>: prints n distinct free TCP ports on 127.0.0.1
    python3 - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
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
    until "$@" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || die "$what exited during start-up"
        (( SECONDS < deadline )) || die "$what not ready after ${limit}s"
        sleep 0.2
    done
}

keyway_ready() { # keyway_ready <base>: /readyz answers 200 with status "ready" (not "degraded")
    curl -fsS --max-time 2 "$1/readyz" 2>/dev/null | grep -q '"status":"ready"'
}

# CPU time (seconds, all threads) consumed so far by a process and its
# children (nginx's workers are children of its master).
proc_cpu() {
    local tck pids
    tck=$(getconf CLK_TCK)
    pids=$(echo "$1"; pgrep -P "$1" || true)
    for p in $pids; do sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null; done \
        | awk -v t="$tck" '{ s += $12 + $13 } END { printf "%.3f", s / t }'
}
# CPU seconds so far of every process named $1 (postgres, nats-server): the
# billing path's share (a backend that exits during a run takes its share
# with it). Each process's own time only: proc_cpu adds a process's
# children, and every Postgres backend is the postmaster's child, so summing
# proc_cpu over them counted each backend twice (fixed 2026-12-03).
services_cpu() {
    local pid tck
    tck=$(getconf CLK_TCK)
    for pid in $(pgrep -x "$1"); do sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null; done \
        | awk -v t="$tck" '{ s += $12 + $13 } END { printf "%.3f", s / t }'
}

# --- oha (bench/latency.sh, bench/sched-delay.sh) --------------------------------
oha_body() { printf '{"model":"%s","messages":[{"role":"user","content":"Say hello to the benchmark."}]}' "$1"; }

# A request count (-n), not a duration (-z): at a deadline oha aborts the
# requests in flight, and those would be missing from the percentiles.
oha_run() { # oha_run <out.json> <base url> <key> <model> <requests> <oha load args...>
    local out=$1 url="$2/v1/chat/completions" key=$3 model=$4 n=$5
    shift 5
    oha --no-tui --output-format json -n "$n" "$@" -m POST \
        -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d "$(oha_body "$model")" \
        "$url" >"$out" 2>"$out.err" || { cat "$out.err" >&2; die "oha failed ($out)"; }
}

# Prints "<rps> <p50 ms> <p99 ms> <p99.9 ms>" for one oha result, or dies on
# any non-2xx response or error: latency of failures means nothing.
oha_figures() {
    python3 - "$1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
codes = {int(k): v for k, v in r.get("statusCodeDistribution", {}).items()}
bad = sum(v for k, v in codes.items() if not 200 <= k < 300)
errors = r.get("errorDistribution", {})
if bad or errors or not codes:
    sys.exit(f"{sys.argv[1]}: status codes {codes}, errors {errors}")
p = r["latencyPercentiles"]
ms = lambda k: p[k] * 1000
print(f'{r["summary"]["requestsPerSec"]:.0f} {ms("p50"):.3f} {ms("p99"):.3f} {ms("p99.9"):.3f}')
EOF
}

# Busy CPU seconds of the whole machine so far (all cores; idle+iowait excluded).
host_busy() {
    local tck
    tck=$(getconf CLK_TCK)
    awk -v t="$tck" '/^cpu /{ b=0; for (i=2; i<=NF; i++) if (i!=5 && i!=6) b+=$i; printf "%.3f", b/t }' /proc/stat
}

# --- build and start -------------------------------------------------------------
bench_binary() { # sets BIN: KEYWAY_BIN, or a release build of this tree
    if [[ -n "$PREBUILT_BIN" ]]; then
        BIN=$PREBUILT_BIN
    else
        log "building keyway (release) in $CARGO_TARGET_DIR"
        (cd "$ROOT" && cargo build --release -p keyway --quiet) || die "cargo build failed"
        BIN="$CARGO_TARGET_DIR/release/keyway"
    fi
    [[ -x "$BIN" ]] || die "no keyway binary at $BIN"
}

start_mock() { # start_mock <port> [stream chunks]: mock-llm in auth mode; sets MOCK_PID
    log "starting mock-llm on 127.0.0.1:$1 (auth mode on)"
    env MOCK_LLM_REQUIRE_AUTH=true MOCK_LLM_KEYS="$SYSTEM_KEY=bench,$BYOK_KEY=bench-byok" MOCK_LLM_CHUNKS="${2:-}" KEYWAY_LOG_FORMAT=json \
        "$BIN" mock-llm --listen "127.0.0.1:$1" >/dev/null 2>"$WORK/mock.err" &
    MOCK_PID=$!
    PIDS+=("$MOCK_PID")
}

write_models() { # write_models <mock base url>: the catalog every keyway of the run uses
    cat >"$WORK/models.yaml" <<EOF
models:
  bench-gpt:
    provider: openai
    upstream_model: mock-model
    base_url: $1/v1
    key_source: [user, system]
    api_key_env: BENCH_SYSTEM_KEY
    price: {input_per_mtok: 0.15, output_per_mtok: 0.60, cached_input_per_mtok: 0.075, currency: USD}
EOF
}

# Runs `keyway up`, or the subcommand in BENCH_SUBCOMMAND (say "run gateway").
# BENCH_KEYWAY_ENV adds settings to every Keyway a script starts, for A/B
# runs of one binary (say "KEYWAY_USAGE_BATCH_MS=50"); the caller's own
# KEYWAY_ variables never reach it (above). Its standard output, one JSON
# line per request, goes to /dev/null; BENCH_KEYWAY_STDOUT=file sends it to
# a file in the run's temp dir, =pipe through a pipe to a reader (`cat`), as
# a container runtime reads it.
start_keyway() { # start_keyway <port> <db> <prefix> <log name> [VAR=value...]
    local port=$1 db=$2 prefix=$3 name=$4 subcommand settings out=/dev/null
    read -ra subcommand <<<"${BENCH_SUBCOMMAND:-up}"
    read -ra settings <<<"${BENCH_KEYWAY_ENV:-}"
    shift 4
    set -- "${settings[@]}" "$@"
    mkdir -p "$WORK/data-$name"
    case "${BENCH_KEYWAY_STDOUT:-null}" in
        null) ;;
        file) out="$WORK/$name.out" ;;
        pipe)
            out="$WORK/$name.fifo"
            mkfifo "$out"
            cat "$out" >/dev/null &
            PIDS+=("$!")
            ;;
        *) die "BENCH_KEYWAY_STDOUT is null, file or pipe, not $BENCH_KEYWAY_STDOUT" ;;
    esac
    BENCH_DBS+=("$db")
    BENCH_PREFIXES+=("$prefix")
    env KEYWAY_LISTEN="127.0.0.1:$port" \
        KEYWAY_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$db" \
        KEYWAY_NATS_PREFIX="$prefix" \
        KEYWAY_DATA_DIR="$WORK/data-$name" \
        KEYWAY_ADMIN_KEY="$ADMIN_KEY" \
        KEYWAY_LOG_FORMAT=json \
        KEYWAY_MODELS="$WORK/models.yaml" \
        KEYWAY_MOCK=false \
        BENCH_SYSTEM_KEY="$SYSTEM_KEY" \
        "$@" "$BIN" "${subcommand[@]}" >"$out" 2>"$WORK/$name.err" &
}

# Keyway "with everything on", as a tenant's client sees it: a tenant with
# limits, a member user, an API key of that user with its own limits, and the
# user's own OpenAI key (BYOK), which the catalog prefers to the system key.
# The limits are far above what a run sends, so each request pays for the
# checks and never hits them: with BENCH_BODY_KB=64 a request reserves some
# 23k tokens, and 5,000 a second used up 10^9 tokens a minute. Sets
# TENANT_KEY.
bench_tenant_key() { # bench_tenant_key <keyway base url>
    local base=$1 limits tenant user key
    limits='{"requests_per_minute": 100000000, "tokens_per_minute": 1000000000000, "monthly_budget_micros": 1000000000000000}'
    api() { # api <method> <path> <bearer> <json body>
        curl -sS --fail-with-body --max-time 10 -X "$1" "$base$2" -H "Authorization: Bearer $3" \
            -H 'Content-Type: application/json' -d "$4" || die "$1 $2 failed"
    }
    field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
    tenant=$(api POST /api/v1/tenants "$ADMIN_KEY" "{\"name\": \"bench\", \"plan\": \"pro\", \"limits\": $limits}" | field id)
    user=$(api POST "/api/v1/tenants/$tenant/users" "$ADMIN_KEY" '{"role": "member"}' | field id)
    TENANT_KEY=$(api POST "/api/v1/tenants/$tenant/api-keys" "$ADMIN_KEY" \
        "{\"name\": \"bench\", \"user_id\": \"$user\", \"limits\": $limits}" | field key)
    api PUT /api/v1/byok/keys/openai "$TENANT_KEY" "{\"key\": \"$BYOK_KEY\"}" >/dev/null
    # The key changes above reach the gateway as events, each evicting the
    # tenant's cached credentials; let them pass before the cache is warmed.
    sleep 1.5
}

# The temp dir, mock-llm and one `keyway up` in front of it, ready, with the
# tenant key of bench_tenant_key; both paths checked with one request.
bench_start_stack() { # bench_start_stack <name>
    WORK=$(mktemp -d -t "keyway-$1.XXXXXX")
    read -r MOCK_PORT GW_PORT < <(free_ports 2)
    MOCK="http://127.0.0.1:$MOCK_PORT"
    GW="http://127.0.0.1:$GW_PORT"
    write_models "$MOCK"
    start_mock "$MOCK_PORT"
    log "starting keyway up on $GW (database $DB_NAME, NATS prefix $NATS_PREFIX)"
    start_keyway "$GW_PORT" "$DB_NAME" "$NATS_PREFIX" keyway
    GW_PID=$!
    PIDS+=("$GW_PID")
    wait_until 30 "$MOCK_PID" "mock-llm" curl -fsS --max-time 2 -o /dev/null "$MOCK/healthz"
    wait_until 120 "$GW_PID" "keyway" keyway_ready "$GW"
    sanity "$MOCK" "$SYSTEM_KEY" mock-model
    bench_tenant_key "$GW"   # Keyway as a tenant's client sees it: limits and BYOK
    SANITY_IDENTITY=bench-byok sanity "$GW" "$TENANT_KEY" bench-gpt
}

# One request each way before any load. The mock appends the identity of the
# key it saw, which proves the path reached it with the expected provider key
# (SANITY_IDENTITY, default the system key's "bench").
sanity() { # sanity <url> <key> <model> [extra curl args...]
    local url=$1 key=$2 model=$3 out
    shift 3
    out=$(curl -sS --max-time 10 -w '\n%{http_code}' "$url/v1/chat/completions" "$@" \
        -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
        -d "{\"model\":\"$model\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello to the benchmark.\"}]}") \
        || die "request to $url failed"
    [[ ${out##*$'\n'} == 200 ]] || { log "$out"; die "$url answered ${out##*$'\n'}, not 200"; }
    local identity=${SANITY_IDENTITY:-bench}
    grep -qF "[Authenticated as $identity]" <<<"$out" || { log "$out"; die "mock did not see the $identity key via $url"; }
}

# How busy the machine is before a run (cores, over 2 s): other work skews every figure.
busy_before() {
    local b0 b1
    b0=$(host_busy); sleep 2; b1=$(host_busy)
    awk -v a="$b0" -v b="$b1" 'BEGIN{printf "%.2f", (b-a)/2}'
}
