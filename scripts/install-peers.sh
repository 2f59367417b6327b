#!/usr/bin/env bash
# Installs the Python test peers (official openai/anthropic SDKs, pytest, moto)
# into a venv. Idempotent: a stamp holding the sha256 of the requirements file
# makes re-runs with unchanged requirements a no-op.
#
#   KEYWAY_PEERS_VENV   venv directory (default: ~/.cache/keyway/peers-venv)
#   PYTHON              interpreter used to create the venv (default: python3)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="$repo_root/tests/sdk/requirements.txt"
venv="${KEYWAY_PEERS_VENV:-$HOME/.cache/keyway/peers-venv}"
python="${PYTHON:-python3}"
stamp="$venv/.keyway-peers.sha256"

log() { echo "install-peers: $*" >&2; }

[[ -f "$requirements" ]] || { log "missing $requirements"; exit 1; }
want="$(sha256sum "$requirements" | cut -d' ' -f1)"

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    log "up to date ($venv)"
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    log "creating venv $venv"
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv"
fi

rm -f "$stamp"
log "installing $requirements"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2
echo "$want" > "$stamp"
log "done ($venv)"
