#!/usr/bin/env bash
# Identity-following delay: from disabling a user in Keycloak to the first
# request the gateway refuses for that user's API key.
#
# Real Keycloak cannot run on the project's machines, so "Keycloak" is the
# test double of tests/e2e/identity_follow/keycloak_double.rs (its token,
# users/{id} and admin-events endpoints, in Keycloak's shapes). Each round:
# the user works (200), the double disables them and records the admin event
# (as a realm with admin events on does), then the test chats every ~10 ms
# until the first 401 and prints the delay; then it re-enables them. The
# stack is a whole in-process `keyway up` (Postgres, NATS, gateway, key
# service with its follower) with the default settings, except the poll
# interval, which BENCH_KEYCLOAK_POLL_MS can change.
#
# What to expect: the delay is at most one poll interval plus one tick of
# the follower's work (a Keycloak round trip and one transaction); the
# gateway in the same process is told at commit. docs/identity.md explains
# the bound for gateways in other processes.
#
# Usage:  bench/identity-follow.sh
# Env:    BENCH_ROUNDS            rounds (default 5)
#         BENCH_KEYCLOAK_POLL_MS  KEYWAY_KEYCLOAK_POLL_MS (default 5000, the default)
#         CARGO_TARGET_DIR        default $HOME/.cache/keyway/target
# Needs:  Postgres on 127.0.0.1:5432 (user postgres, trust), NATS on 127.0.0.1:4222.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/keyway/target}
export BENCH_ROUNDS=${BENCH_ROUNDS:-5}
export BENCH_KEYCLOAK_POLL_MS=${BENCH_KEYCLOAK_POLL_MS:-5000}

cd "$ROOT"
cargo test -q -p keyway --test e2e -- --ignored --nocapture --exact \
    identity_follow::bench::measure_the_delay_from_a_keycloak_disable_to_the_first_refusal \
    2>&1 | grep --line-buffered -E '^identity-follow|test result|panicked|FAILED'
