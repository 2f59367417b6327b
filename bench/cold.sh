#!/usr/bin/env bash
# Cold-credential latency: what a request costs when its key's credentials
# are not in the gateway's cache, as for any key used less often than
# KEYWAY_CREDENTIAL_CACHE_TTL_MS (10 s by default). Such a request waits for
# the key service to verify the API key and to open the BYOK key, from
# Postgres, before it is proxied.
#
# `keyway up` (everything on, from bench/lib.sh) runs with a short TTL
# (BENCH_TTL_MS), and bench/cold.py sends a request after each gap longer
# than that TTL (cold), then one at once (warm, the control), on one
# keep-alive connection. It prints both, and cold minus warm: the fetch.
# The default gap (1.2 s) also leaves the Postgres pool's connections idle
# longer than the pool's ping threshold (1 s), as on a quiet gateway; a
# shorter BENCH_GAP_MS shows a gateway whose pool other traffic keeps warm.
#
# A benchmark, not a test: it exits non-zero only when something is broken.
#
# Usage:  bench/cold.sh
# Env:    BENCH_SAMPLES      cold requests                          (default 40)
#         BENCH_GAP_MS       pause before each cold request, ms     (default 1200)
#         BENCH_TTL_MS       the gateway's credential cache TTL, ms (default 500)
#         BENCH_KEEP=1       keep the temp dir (logs)
#         KEYWAY_BIN         use this binary instead of building one (release)
#         CARGO_TARGET_DIR   default $HOME/.cache/keyway/target
# Needs:  Postgres on 127.0.0.1:5432 (user postgres, trust), NATS on
#         127.0.0.1:4222, python3 (standard library only).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SAMPLES=${BENCH_SAMPLES:-40}
GAP_MS=${BENCH_GAP_MS:-1200}
TTL_MS=${BENCH_TTL_MS:-500}
KEEP=${BENCH_KEEP:-0}
(( GAP_MS > TTL_MS )) || { echo "BENCH_GAP_MS must exceed BENCH_TTL_MS, or nothing is cold" >&2; exit 2; }
BENCH_KEYWAY_ENV="KEYWAY_CREDENTIAL_CACHE_TTL_MS=$TTL_MS ${BENCH_KEYWAY_ENV:-}"

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

command -v python3 >/dev/null || die "python3 is needed"
command -v psql >/dev/null || die "psql is needed to drop the bench database"
bench_binary
bench_start_stack cold
log "servers ready; $SAMPLES cold requests, ${GAP_MS} ms apart"

python3 "$HERE/cold.py" "$GW" "$TENANT_KEY" bench-gpt "$SAMPLES" "$GAP_MS" >"$WORK/cold.json" \
    || die "cold.py failed"
python3 - "$WORK/cold.json" "$TTL_MS" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
c, w = r["cold"], r["warm"]
print(f"\nKeyway cold-credential latency: {r['samples']} samples, a request after {r['gap_ms']} ms idle, "
      f"credential cache TTL {sys.argv[2]} ms")
print(f"| request | p50 ms | p90 ms | max ms |\n|---|---:|---:|---:|")
print(f"| cold (credentials fetched) | {c['p50']:.2f} | {c['p90']:.2f} | {c['max']:.2f} |")
print(f"| warm (the next one, cached) | {w['p50']:.2f} | {w['p90']:.2f} | {w['max']:.2f} |")
print(f"| added by the fetch | +{c['p50'] - w['p50']:.2f} | +{c['p90'] - w['p90']:.2f} | |")
PY
