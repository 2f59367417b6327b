#!/usr/bin/env bash
# Credential-resolution benchmark: the p99 of resolving a caller's credentials
# (gateway API key -> caller, then the caller's BYOK provider key), cached and
# cold, with the local KMS. Targets: cached <= 50 µs, cold <= 5 ms.
#
# What is measured, exactly. Resolution is not timed inside the process (that
# would need a Rust bench target); it is the difference between two kinds of
# end-to-end request to the same `keyway up` process, timed by a client on
# the same machine, interleaved round-robin so drift hits both alike:
#   baseline     admin key + model mock-gpt (system key): no key-service lookup
#   verify       user API key + mock-gpt: API-key verification only
#   verify+byok  user API key + mock-gpt-byok: verification + the user's BYOK key
# resolution = verify+byok minus baseline (p50, p99, and mean ± 2 standard
# errors). Everything else on the path (HTTP parsing, routing, the in-process
# mock at 0 ms latency, its [AUTH] log line) is the same in both.
#   cached: KEYWAY_CREDENTIAL_CACHE_TTL_MS=600000, warmed before measuring:
#           both lookups are hits in the gateway's in-memory caches
#   cold:   KEYWAY_CREDENTIAL_CACHE_TTL_MS=0: every request verifies the API
#           key in Postgres (+ HMAC-SHA256 with the pepper) and reads and
#           unseals the BYOK key (Postgres + DEK cache + AES-256-GCM). The DEK
#           cache (300 s / 100k uses) stays warm, so a KMS unwrap is not in
#           the per-request path, as in production.
# A difference of percentiles is not the percentile of a difference; even
# with 5,000 samples (the p99 is the 50th-slowest) the Δp99 is a noisy
# estimate (it can even come out negative when the true cost is below the
# noise). The mean difference is the stable
# figure. Targets are informational: the script exits 0 unless a request
# fails or start-up breaks.
#
# Usage:  bench/credentials.sh
# Env:    BENCH_N          measured requests per scenario (default 5000)
#         BENCH_WARMUP     warm-up rounds before measuring  (default 200)
#         BENCH_KEEP=1     keep the temp dir (logs, samples) after the run
#         BENCH_PYTHON     Python for the driver (default: the peers venv, else python3)
#         KEYWAY_BIN       use this binary instead of building one
#         CARGO_TARGET_DIR default $HOME/.cache/keyway/target
# Needs:  Postgres on 127.0.0.1:5432 (user postgres, trust), NATS on 127.0.0.1:4222.
set -euo pipefail

BENCH_NAME=cred
# shellcheck source=bench/keys-lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/keys-lib.sh"

N=${BENCH_N:-5000}
WARMUP=${BENCH_WARMUP:-200}
BYOK_SECRET="sk-bench-byok-$RAND-0123456789abcdef"
BYOK_IDENTITY="bench-byok-user"
SYSTEM_KEY="sk-bench-system-$RAND"

keys_bench_init

cat <<EOF

Keyway credential-resolution benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')
  machine : $(machine_line)
  NOTE    : client, keyway, Postgres and NATS share these cores; figures are
            client-side round trips, resolution = difference against a baseline
  load    : sequential keep-alive requests, $WARMUP warm-up rounds then $N
            measured per scenario, 3 scenarios interleaved round-robin
  driver  : $("$PY" --version 2>&1) http.client ($PY)

EOF

for run in cached cold; do
    ttl=$([[ $run == cached ]] && echo 600000 || echo 0)
    start_keyway "$run" \
        KEYWAY_CREDENTIAL_CACHE_TTL_MS="$ttl" \
        KEYWAY_MOCK_SYSTEM_KEY="$SYSTEM_KEY" \
        KEYWAY_MOCK_KEYS="$BYOK_SECRET=$BYOK_IDENTITY"
    log "measuring $run (KEYWAY_CREDENTIAL_CACHE_TTL_MS=$ttl)"
    "$PY" "$DRIVER" credentials --base "$KW_BASE" --admin "$ADMIN_KEY" \
        --byok-secret "$BYOK_SECRET" --identity "$BYOK_IDENTITY" \
        --label "$run" --ttl-ms "$ttl" --warmup "$WARMUP" --n "$N" --out "$WORK/$run.json" \
        || die "the $run run failed"
    stop_keyway "$KW_PID"
done

"$PY" "$DRIVER" report "$WORK/cached.json" "$WORK/cold.json"
echo
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores; other work on the host inflates the tails)"
