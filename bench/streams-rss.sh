#!/usr/bin/env bash
# Memory benchmark: holds BENCH_STREAMS (default 1,000) concurrent slow SSE
# streams through Keyway (`keyway up`, proxying to a standalone mock-llm) and
# prints Keyway's idle RSS, its peak RSS while the streams are open, VmHWM,
# and the RSS per open stream. Target: peak RSS <= 64 MiB with 1,000 streams.
#
# A benchmark, not a test: it exits non-zero only when something is broken
# (start-up failure, a stream that did not end with [DONE]).
#
# Usage:  bench/streams-rss.sh
# Env:    BENCH_STREAMS      concurrent streams             (default 1000)
#         BENCH_SERVICE      "up": the whole stack in one process, as
#                            measured so far (default); "gateway": the
#                            gateway alone (`keyway run gateway`, as it is
#                            deployed to scale out), whose process is measured
#         BENCH_CHUNKS       deltas per stream              (default 40)
#         BENCH_DELAY_MS     pause between deltas, ms       (default 500)
#         BENCH_KEEP=1       keep the temp dir (logs) after the run
#         BENCH_TEXT=1       also print which crates' code is resident at
#                            idle (bench/text_pages.py; needs root)
#         KEYWAY_BIN         use this binary instead of building one (release)
#         CARGO_TARGET_DIR   default $HOME/.cache/keyway/target
# Needs:  Postgres on 127.0.0.1:5432 (user postgres, trust), NATS on
#         127.0.0.1:4222, python3 (standard library only).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
STREAMS=${BENCH_STREAMS:-1000}
CHUNKS=${BENCH_CHUNKS:-40}
DELAY_MS=${BENCH_DELAY_MS:-500}
KEEP=${BENCH_KEEP:-0}
TARGET_MIB=64
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/keyway/target}
PREBUILT_BIN=${KEYWAY_BIN:-}
case "${BENCH_SERVICE:-up}" in
    up) RUN=(up) ;;
    gateway) RUN=(run gateway) ;;
    *) echo "BENCH_SERVICE must be up or gateway" >&2; exit 2 ;;
esac

# Nothing from the caller's shell may leak into the servers.
while read -r var; do unset "$var"; done < <(compgen -e | grep -E '^(KEYWAY_|MOCK_LLM_)' || true)
unset RUST_LOG
DB_NAME="keyway_rss_$$"
ADMIN_KEY="kwbench-admin-key-0123456789abcdefghijklmnopqrstuvwxyz"
NATS_PREFIX="kwrss$$"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

WORK=""
PIDS=()
cleanup() {
    local rc=$?
    set +e
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    psql -h 127.0.0.1 -U postgres -qtAc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1
    python3 "$HERE/keys_bench.py" delete-streams "${NATS_PREFIX^^}_USAGE" "${NATS_PREFIX^^}_KEYS" >/dev/null 2>&1
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        if [[ "$KEEP" == 1 || $rc -ne 0 ]]; then log "logs kept in $WORK"; else rm -rf "$WORK"; fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Each stream is a client connection and an upstream connection.
ulimit -n $(( STREAMS * 4 + 1024 )) 2>/dev/null || die "cannot raise the open-file limit to $(( STREAMS * 4 + 1024 ))"

if [[ -n "$PREBUILT_BIN" ]]; then
    BIN=$PREBUILT_BIN
else
    log "building keyway (release) in $CARGO_TARGET_DIR"
    (cd "$ROOT" && cargo build --release -p keyway --quiet) || die "cargo build failed"
    BIN="$CARGO_TARGET_DIR/release/keyway"
fi
[[ -x "$BIN" ]] || die "no keyway binary at $BIN"

WORK=$(mktemp -d -t keyway-rss.XXXXXX)
mkdir -p "$WORK/data"
read -r MOCK_PORT GW_PORT < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))')
MOCK="http://127.0.0.1:$MOCK_PORT"
GW="http://127.0.0.1:$GW_PORT"
cat >"$WORK/models.yaml" <<YAML
models:
  bench-gpt:
    provider: openai
    upstream_model: mock-model
    base_url: $MOCK/v1
    key_source: [system]
    api_key_env: BENCH_SYSTEM_KEY
    price: {input_per_mtok: 0.15, output_per_mtok: 0.60, currency: USD}
YAML

"$BIN" mock-llm --listen "127.0.0.1:$MOCK_PORT" >/dev/null 2>"$WORK/mock.err" &
PIDS+=("$!")
env KEYWAY_LISTEN="127.0.0.1:$GW_PORT" \
    KEYWAY_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB_NAME" \
    KEYWAY_NATS_PREFIX="$NATS_PREFIX" \
    KEYWAY_DATA_DIR="$WORK/data" \
    KEYWAY_ADMIN_KEY="$ADMIN_KEY" \
    KEYWAY_LOG_FORMAT=json \
    KEYWAY_MODELS="$WORK/models.yaml" \
    KEYWAY_MOCK=false \
    BENCH_SYSTEM_KEY="sk-bench-system-key" \
    "$BIN" "${RUN[@]}" >/dev/null 2>"$WORK/keyway.err" &
GW_PID=$!
PIDS+=("$GW_PID")

deadline=$(( SECONDS + 120 ))
until curl -fsS --max-time 2 "$GW/readyz" 2>/dev/null | grep -q '"status":"ready"'; do
    kill -0 "$GW_PID" 2>/dev/null || { tail -n 20 "$WORK/keyway.err" >&2; die "keyway exited during start-up"; }
    (( SECONDS < deadline )) || die "keyway not ready after 120s"
    sleep 0.2
done
# One request first, so the idle figure includes what the first request
# initialises (connection pools, the catalog's client).
curl -fsS --max-time 10 -o /dev/null "$GW/v1/chat/completions" -H "Authorization: Bearer $ADMIN_KEY" \
    -H 'Content-Type: application/json' \
    -d '{"model":"bench-gpt","messages":[{"role":"user","content":"warm up"}]}' || die "the warm-up request failed"
sleep 2
if [[ "${BENCH_TEXT:-0}" == 1 ]]; then
    log "code resident at idle, by crate (bench/text_pages.py)"
    python3 "$HERE/text_pages.py" "$GW_PID" >&2
fi

log "holding $STREAMS streams of $CHUNKS deltas, $DELAY_MS ms apart"
RESULT=$(python3 "$HERE/streams_rss.py" "$GW_PID" "$GW" "$ADMIN_KEY" "$STREAMS" "$CHUNKS" "$DELAY_MS")
python3 - "$RESULT" "$STREAMS" "$TARGET_MIB" "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(nproc)" "keyway ${RUN[*]}" <<'PY'
import json, sys
r, n, target, when, cores, what = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
mib = lambda kib: kib / 1024
print(f"\nKeyway memory under {n} concurrent slow streams — {when}, {cores} cores, `{what}`")
print(f"  streams : {r['ok']} ended with [DONE], {r['failed']} failed, {r['max_open']} open at once, {r['seconds']} s")
parts = lambda s: f"anonymous {mib(s.get('Anon', 0)):.1f}, file-backed {mib(s.get('File', 0)):.1f}"
print(f"  idle RSS        : {mib(r['idle_kib']):7.1f} MiB   ({parts(r['idle_split'])})")
print(f"  peak RSS        : {mib(r['peak_kib']):7.1f} MiB   (sampled every 100 ms while the streams were open; {parts(r['peak_split'])})")
print(f"  peak came at    : {r['peak_at_s']} s, with {r['open_at_peak']} streams open")
print(f"  all open        : {mib(r['all_open_kib']):7.1f} MiB   (the most sampled while all {n} streams were open; 0 if they never were at once)")
print(f"  VmHWM           : {mib(r['hwm_kib']):7.1f} MiB   (high-water mark since start)")
print(f"  RSS after       : {mib(r['after_kib']):7.1f} MiB   (2 s after the last stream ended)")
print(f"  per open stream : {(r['peak_kib'] - r['idle_kib']) / max(r['max_open'], 1):7.1f} KiB")
verdict = "PASS" if mib(r["peak_kib"]) <= target else "OVER"
print(f"  target          : peak RSS <= {target} MiB: {verdict}")
if r["errors"]:
    print("  errors          :", r["errors"])
sys.exit(0 if r["failed"] == 0 else 1)
PY
