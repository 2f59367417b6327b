# Peer gateways for bench/proxy.sh (sourced after bench/lib.sh, never run):
# LiteLLM's proxy (PyPI) and Portkey's open-source gateway (npm), installed
# into caches on first use and started in front of the run's mock.

LITELLM_VENV=${BENCH_LITELLM_VENV:-$HOME/.cache/keyway/litellm-venv}
LITELLM_KEY="sk-litellm-bench-master-key"
# Pinned: the figures in docs/benchmarks.md are for this release.
PORTKEY_VERSION=1.15.2
PORTKEY_DIR=${BENCH_PORTKEY_DIR:-$HOME/.cache/keyway/portkey}
PORTKEY_JS="$PORTKEY_DIR/node_modules/@portkey-ai/gateway/build/start-server.js"

# 1.82.7 and 1.82.8 were compromised releases: never install them.
install_litellm() {
    [[ -x "$LITELLM_VENV/bin/litellm" ]] && return
    log "installing litellm[proxy] into $LITELLM_VENV (PyPI)"
    python3 -m venv "$LITELLM_VENV" && "$LITELLM_VENV/bin/pip" install -q 'litellm[proxy]!=1.82.7,!=1.82.8' \
        || die "cannot install litellm[proxy] into $LITELLM_VENV"
}

install_portkey() {
    command -v node >/dev/null || die "node is needed for the Portkey row (apt-get install nodejs npm)"
    local have
    have=$(node -p "require('$PORTKEY_DIR/node_modules/@portkey-ai/gateway/package.json').version" 2>/dev/null || true)
    [[ "$have" == "$PORTKEY_VERSION" && -f "$PORTKEY_JS" ]] && return
    log "installing @portkey-ai/gateway@$PORTKEY_VERSION into $PORTKEY_DIR (npm)"
    mkdir -p "$PORTKEY_DIR"
    (cd "$PORTKEY_DIR" && npm install --no-audit --no-fund --silent "@portkey-ai/gateway@$PORTKEY_VERSION" >/dev/null) \
        || die "cannot install @portkey-ai/gateway@$PORTKEY_VERSION into $PORTKEY_DIR"
    [[ -f "$PORTKEY_JS" ]] || die "no $PORTKEY_JS after npm install"
}

start_litellm() { # start_litellm <port> <mock base url>: sets LITELLM_PID
    # Same model, same mock, same system key; no database, so LiteLLM bills
    # nothing, where Keyway meters every request into its views.
    cat >"$WORK/litellm.yaml" <<EOF
model_list:
  - model_name: bench-gpt
    litellm_params:
      model: openai/mock-model
      api_base: $2/v1
      api_key: $SYSTEM_KEY
general_settings:
  master_key: $LITELLM_KEY
EOF
    log "starting LiteLLM proxy on 127.0.0.1:$1 (2 workers)"
    env LITELLM_TELEMETRY=False LITELLM_LOCAL_MODEL_COST_MAP=True \
        "$LITELLM_VENV/bin/litellm" --config "$WORK/litellm.yaml" --host 127.0.0.1 --port "$1" \
        --num_workers 2 >/dev/null 2>"$WORK/litellm.err" &
    LITELLM_PID=$!
    PIDS+=("$LITELLM_PID")
}

start_portkey() { # start_portkey <port>: sets PORTKEY_PID
    # One node process (the gateway has no cluster mode of its own). It has no
    # auth, tenants or metering: a pass-through peer. Each request names the
    # upstream in its headers (x-portkey-provider, x-portkey-custom-host).
    log "starting Portkey gateway $PORTKEY_VERSION on 127.0.0.1:$1 (one node process)"
    node "$PORTKEY_JS" --port="$1" >"$WORK/portkey.out" 2>"$WORK/portkey.err" &
    PORTKEY_PID=$!
    PIDS+=("$PORTKEY_PID")
}

# Portkey 1.15.2 on Node 20 answers every streamed chat completion with 500
# "Something went wrong" (its log: "tryTargetsRecursively error: immutable",
# a header appended to a fetch Response). Probe one stream: prints why the
# stream row cannot run, or nothing when it can.
portkey_stream_probe() { # portkey_stream_probe <portkey url> <upstream base url>
    local out code
    out=$(curl -sS --max-time 10 -w '\n%{http_code}' "$1/v1/chat/completions" \
        -H 'x-portkey-provider: openai' -H "x-portkey-custom-host: $2" \
        -H "Authorization: Bearer $SYSTEM_KEY" -H 'Content-Type: application/json' \
        -d '{"model":"mock-model","stream":true,"messages":[{"role":"user","content":"Say hello."}]}') \
        || { echo "the streamed request failed"; return; }
    code=${out##*$'\n'}
    [[ $code == 200 ]] && grep -q 'data: \[DONE\]' <<<"$out" && return
    echo "Portkey $PORTKEY_VERSION answers a streamed request with $code: $(head -c 200 <<<"${out%$'\n'*}" | tr -d '\n') (node $(node --version))"
}

litellm_version() { "$LITELLM_VENV/bin/pip" show litellm 2>/dev/null | sed -n 's/^Version: //p'; }
