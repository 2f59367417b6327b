#!/usr/bin/env bash
# Installs the test peers: the Python ones (official openai/anthropic SDKs,
# pytest, moto, schemathesis) into a venv, and the Node ones from their lock
# files: tests/oidc (oidc-provider, the OpenID provider of the identity
# tests) and tests/agents (the openai Node SDK, Codex CLI and Claude Code),
# and Debian's chromium + chromium-driver for the browser check (apt-get).
# Idempotent: stamps holding the sha256 of each lock file make re-runs with
# unchanged requirements a no-op.
#
#   KEYWAY_PEERS_VENV   venv directory (default: ~/.cache/keyway/peers-venv)
#   KEYWAY_PEERS_NODE   node_modules cache (default: ~/.cache/keyway/peers-node)
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

# The Node peers live outside the checkout, so a fresh clone reuses them; the
# checkout gets a symlink, since Node resolves packages next to the script.
install_node_peers() {
    local name="$1"
    local dir="$repo_root/tests/$name"
    local cache="${KEYWAY_PEERS_NODE:-$HOME/.cache/keyway/peers-node}/$name"
    local node_want node_stamp="$cache/.keyway-peers.sha256"
    node_want="$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)"
    if [[ ! -f "$node_stamp" || "$(cat "$node_stamp")" != "$node_want" ]]; then
        command -v npm >/dev/null || { log "npm is required for the Node peers ($name)"; exit 1; }
        log "installing tests/$name's Node peers into $cache"
        mkdir -p "$cache"
        cp "$dir/package.json" "$dir/package-lock.json" "$cache/"
        (cd "$cache" && npm ci --no-audit --no-fund --loglevel=error >&2)
        echo "$node_want" > "$node_stamp"
    fi
    ln -sfn "$cache/node_modules" "$dir/node_modules"
}
install_node_peers oidc
install_node_peers agents

# The browser check (tests/browser) drives Debian's Chromium and its driver;
# nothing downloads a browser of its own.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    command -v apt-get >/dev/null || { log "chromium and chromium-driver are required (apt-get not found)"; exit 1; }
    log "installing chromium and chromium-driver"
    sudo_cmd=""
    [[ "$(id -u)" == 0 ]] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium chromium-driver >&2
fi

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
