#!/usr/bin/env bash
# Revocation-latency benchmark: "a revoked API key or a deleted BYOK key must
# stop working within 1 s on every gateway".
#
# With the default credential cache TTL (10 s, so without an eviction the
# gateway would keep serving a revoked key for up to 10 s), N times each:
#   API key:  create a user-bound key, wait for its own key-change event to
#             pass, use it 3 times (200; the verified caller is now cached),
#             revoke it (DELETE), then from the moment the DELETE answers poll
#             POST /v1/chat/completions with it every ~5 ms until 401.
#   BYOK key: PUT the user's openai key, wait likewise, chat with
#             mock-gpt-byok 3 times (200; the key is cached), DELETE it, poll
#             until the gateway answers 400 key_required.
# The delay is from the DELETE's answer to the first refusal received, so it
# includes one poll interval (~5 ms + one request) of resolution. "Stale
# 200s" counts answers served from the cache after the DELETE had returned.
#
# One `keyway up` process (keys service + gateway + projector in-process), but
# the eviction still takes the production path: the change commits with its
# outbox row -> NOTIFY wakes the outbox publisher -> JetStream publish on
# <prefix>.keys.v1.<tenant> -> the gateway's core NATS subscription -> cache
# eviction for the tenant. Other gateways subscribe the same way; this bench
# runs one, so "every gateway" is not measured here.
#
# Usage:  bench/revocation.sh
# Env:    BENCH_N          runs per kind (default 20)
#         BENCH_POLL_MS    poll interval (default 5)
#         BENCH_KEEP=1     keep the temp dir (logs) after the run
#         BENCH_PYTHON     Python for the driver (default: the peers venv, else python3)
#         KEYWAY_BIN       use this binary instead of building one
#         CARGO_TARGET_DIR default $HOME/.cache/keyway/target
# Exit:   0 when every run measured (PASS or FAIL is printed), 1 on errors.
# Needs:  Postgres on 127.0.0.1:5432 (user postgres, trust), NATS on 127.0.0.1:4222.
set -euo pipefail

BENCH_NAME=revoke
# shellcheck source=bench/keys-lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/keys-lib.sh"

N=${BENCH_N:-20}
POLL_MS=${BENCH_POLL_MS:-5}

keys_bench_init

cat <<EOF

Keyway revocation-latency benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')
  machine : $(machine_line)
  setup   : one keyway up (keys + gateway in-process; eviction via outbox ->
            JetStream -> core NATS subscription), credential cache TTL 10 s
            (default), in-process mock upstream
  runs    : $N per kind, polling every $POLL_MS ms from the DELETE's answer

EOF

start_keyway main
"$PY" "$DRIVER" revocation --base "$KW_BASE" --admin "$ADMIN_KEY" --db "$KW_DB" \
    --n "$N" --poll-ms "$POLL_MS" || die "the revocation run failed"
echo
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores; other work on the host inflates the tails)"
