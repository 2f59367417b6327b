# shellcheck shell=bash
# Shared by bench/credentials.sh and bench/revocation.sh (sourced, not run):
# builds the release binary, starts isolated `keyway up` processes (own
# database, NATS prefix, data dir, admin key, port 0) and cleans everything up
# on exit: processes, databases, JetStream streams, the temp dir.
#
# The sourcing script sets BENCH_NAME (used in database and prefix names)
# before sourcing, and calls `keys_bench_init` once.

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
DRIVER="$HERE/keys_bench.py"
KEEP=${BENCH_KEEP:-0}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/keyway/target}

# Nothing from the caller's shell may leak into the servers (KEYWAY_BIN is
# the bench's own setting, so it is kept aside first).
BENCH_BIN=${KEYWAY_BIN:-}
while read -r var; do unset "$var"; done < <(compgen -e | grep -E '^(KEYWAY_|MOCK_LLM_)' || true)
unset RUST_LOG

RAND=$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')
ADMIN_KEY="kwbench-admin-${RAND}-0123456789abcdefghijklmnopqrstuvwxyz"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

WORK=""
PIDS=()
DBS=()
STREAMS=()

keys_bench_cleanup() {
    local rc=$?
    set +e
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    for db in "${DBS[@]}"; do
        psql -h 127.0.0.1 -U postgres -qtAc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 \
            || log "warning: could not drop database $db"
    done
    if (( ${#STREAMS[@]} )); then
        "$PY" "$DRIVER" delete-streams "${STREAMS[@]}" >/dev/null \
            || log "warning: could not delete JetStream streams ${STREAMS[*]}"
    fi
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        if [[ "$KEEP" == 1 || $rc -ne 0 ]]; then
            if (( rc != 0 )); then
                for f in "$WORK"/*/keyway.err; do
                    [[ -s "$f" ]] && { log "--- tail of $f"; tail -n 15 "$f" >&2; }
                done
            fi
            log "logs kept in $WORK"
        else
            rm -rf "$WORK"
        fi
    fi
    exit "$rc"
}

keys_bench_init() {
    trap keys_bench_cleanup EXIT
    trap 'exit 130' INT TERM
    PY=${BENCH_PYTHON:-$HOME/.cache/keyway/peers-venv/bin/python}
    [[ -x "$PY" ]] || PY=$(command -v python3) || die "python3 is needed for the load driver"
    command -v psql >/dev/null || die "psql is needed (the driver watches the key outbox; cleanup drops databases)"
    command -v curl >/dev/null || die "curl is needed"
    if [[ -n "$BENCH_BIN" ]]; then
        BIN=$BENCH_BIN
    else
        log "building keyway (release) in $CARGO_TARGET_DIR"
        (cd "$ROOT" && cargo build --release -p keyway --quiet) || die "cargo build failed"
        BIN="$CARGO_TARGET_DIR/release/keyway"
    fi
    [[ -x "$BIN" ]] || die "no keyway binary at $BIN"
    WORK=$(mktemp -d -t "keyway-bench-$BENCH_NAME.XXXXXX")
}

# start_keyway <instance> [VAR=value ...]
# Starts `keyway up` on a free port; sets KW_BASE, KW_PID, KW_DB, KW_PREFIX.
start_keyway() {
    local inst=$1
    shift
    local dir="$WORK/$inst"
    mkdir -p "$dir/data"
    KW_DB="keyway_bench_${BENCH_NAME}_${inst}_${RAND}"
    KW_PREFIX="kwb${BENCH_NAME}${inst}${RAND}"
    DBS+=("$KW_DB")
    STREAMS+=("${KW_PREFIX^^}_KEYS" "${KW_PREFIX^^}_USAGE")
    env KEYWAY_LISTEN=127.0.0.1:0 \
        KEYWAY_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$KW_DB" \
        KEYWAY_NATS_PREFIX="$KW_PREFIX" \
        KEYWAY_DATA_DIR="$dir/data" \
        KEYWAY_ADMIN_KEY="$ADMIN_KEY" \
        KEYWAY_LOG_FORMAT=json \
        KEYWAY_MOCK_REQUIRE_AUTH=true \
        "$@" \
        "$BIN" up >"$dir/keyway.out" 2>"$dir/keyway.err" &
    KW_PID=$!
    PIDS+=("$KW_PID")
    local deadline=$(( SECONDS + 120 )) addr=""
    until [[ -n "$addr" ]]; do
        kill -0 "$KW_PID" 2>/dev/null || die "keyway ($inst) exited during start-up"
        (( SECONDS < deadline )) || die "keyway ($inst) did not print its banner in 120 s"
        addr=$(sed -n 's/.*serving on http:\/\/\([0-9.:]*\).*/\1/p' "$dir/keyway.err" | head -n1)
        [[ -n "$addr" ]] || sleep 0.2
    done
    KW_BASE="http://$addr"
    until curl -fsS --max-time 2 "$KW_BASE/readyz" 2>/dev/null | grep -q '"status":"ready"'; do
        kill -0 "$KW_PID" 2>/dev/null || die "keyway ($inst) exited before it was ready"
        (( SECONDS < deadline )) || die "keyway ($inst) not ready in 120 s"
        sleep 0.2
    done
    log "keyway ($inst) ready on $KW_BASE (database $KW_DB, NATS prefix $KW_PREFIX)"
}

stop_keyway() { # stop_keyway <pid>: SIGTERM and wait (the database is dropped on exit)
    kill -TERM "$1" 2>/dev/null || return 0
    for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

machine_line() {
    local cpu mem
    cpu=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)
    mem=$(awk '/^MemTotal/{printf "%.0f", $2/1048576}' /proc/meminfo)
    printf '%s cores (%s), %s GiB RAM, %s; load average before the run: %s' \
        "$(nproc)" "${cpu:-unknown CPU}" "$mem" "$(uname -sr)" "$(cut -d' ' -f1-3 /proc/loadavg)"
}
