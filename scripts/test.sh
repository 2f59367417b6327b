#!/usr/bin/env bash
# The whole test suite — the README's test command, and what CI runs.
# It installs what the tests need (the Python SDK peers, into a cached venv),
# starts PostgreSQL or NATS if they are down, then runs every Rust test:
# unit tests next to the code and the end-to-end binary in tests/e2e.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-services.sh
bash scripts/install-peers.sh
cargo test --workspace --no-fail-fast "$@"
