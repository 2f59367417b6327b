#!/usr/bin/env bash
# A profile-guided release build of `keyway`: the release profile
# (fat LTO, one codegen unit) plus what the compiler learns from running the
# gateway's own hot path. docs/benchmarks.md has what it gains and why.
#
#   1. build an instrumented release binary (-Cprofile-generate);
#   2. run it as bench/proxy.sh does (mock-llm, `keyway up` with everything
#      on: a tenant user's key with limits, BYOK, usage to JetStream, the
#      projector), and send it every wire a client uses: chat completions
#      whole and streamed, Anthropic messages whole and streamed (translated
#      to the mock's OpenAI wire), and the Responses API;
#   3. merge the profiles (llvm-profdata of rustc's own LLVM version);
#   4. build again with -Cprofile-use, and copy the binary to the output.
#
# Code the training never runs is optimised for size, not speed, so the
# training sends every wire, not only the benchmark's.
#
# Usage:  scripts/build-pgo.sh [<output binary>]   (default target/pgo/keyway)
# Env:    PGO_SECONDS     wrk seconds for each kind of request (default 4)
#         CARGO_TARGET_DIR as for cargo; the two builds use <dir>-pgo-gen and
#                         <dir>-pgo, since their RUSTFLAGS differ
# Needs:  what bench/proxy.sh needs (PostgreSQL, NATS, wrk); llvm-profdata
#         of rustc's LLVM major version (Debian's llvm-<major>, installed if
#         missing).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../bench" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
OUT=${1:-$ROOT/target/pgo/keyway}
SECS=${PGO_SECONDS:-4}
KEEP=0
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
ensure_pkg wrk wrk

LLVM_MAJOR=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
[[ -n "$LLVM_MAJOR" ]] || die "cannot read rustc's LLVM version (rustc -vV)"
ensure_pkg "llvm-profdata-$LLVM_MAJOR" "llvm-$LLVM_MAJOR"

BASE_TARGET=$CARGO_TARGET_DIR
# Fixed paths in RUSTFLAGS, or cargo would rebuild every crate on each run:
# the profiles go where the instrumented build lives, and the merged profile
# is named by its content, so a new profile does rebuild.
PROFILES="$BASE_TARGET-pgo-gen/profiles"
rm -rf "$PROFILES"
mkdir -p "$PROFILES"

# With --target, RUSTFLAGS reach only the binary's own crates and not the
# build scripts and proc macros, which would otherwise write profiles of
# the build itself.
HOST=$(rustc -vV | sed -n 's/^host: //p')
release_build() { # release_build <target dir> <rustflags>: sets BUILT
    log "building keyway (release, RUSTFLAGS=$2) in $1"
    (cd "$ROOT" && CARGO_TARGET_DIR=$1 RUSTFLAGS="$2" cargo build --release --locked -p keyway \
        --target "$HOST" --quiet) || die "cargo build failed"
    BUILT="$1/$HOST/release/keyway"
}

# The instrumented build uses the release profile too: one without LTO and
# with 16 codegen units made the whole script 19 minutes instead of 28, but
# its counts fit the LTO build badly (Keyway 51.0 µs a request against 39.8,
# about the plain build's; docs/benchmarks.md, the thirty-third machine).
release_build "$BASE_TARGET-pgo-gen" "-Cprofile-generate=$PROFILES"
BIN=$BUILT
bench_start_stack pgo

# wrk_post <seconds> <path> <body>: one keep-alive load of one request kind;
# a failing answer would train the error path, so any is fatal.
wrk_post() {
    local lua="$WORK/post.lua" out
    printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [==[%s]==]\n' "$3" >"$lua"
    out=$(wrk -t2 -c16 -d"$1s" -s "$lua" -H "Authorization: Bearer $TENANT_KEY" "$GW$2")
    grep -qE 'Non-2xx|Socket errors' <<<"$out" && { log "$out"; die "$2 answered errors during training"; }
    grep 'Requests/sec' <<<"$out" >&2
}
ask='"messages":[{"role":"user","content":"Say hello to the benchmark."}]'
for stream in false true; do
    log "training: chat completions, stream=$stream"
    wrk_post "$SECS" /v1/chat/completions "{\"model\":\"bench-gpt\",$ask,\"stream\":$stream}"
    log "training: Anthropic messages, stream=$stream"
    wrk_post "$SECS" /v1/messages "{\"model\":\"bench-gpt\",\"max_tokens\":64,$ask,\"stream\":$stream}"
    log "training: Responses API, stream=$stream"
    wrk_post "$SECS" /v1/responses "{\"model\":\"bench-gpt\",\"input\":\"Say hello to the benchmark.\",\"stream\":$stream}"
done

# The profile is written when the processes exit, so stop them first.
for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
PIDS=()
ls "$PROFILES"/*.profraw >/dev/null 2>&1 || die "the instrumented keyway wrote no profile in $PROFILES"
"llvm-profdata-$LLVM_MAJOR" merge -o "$WORK/keyway.profdata" "$PROFILES"
mkdir -p "$BASE_TARGET-pgo"
rm -f "$BASE_TARGET-pgo"/keyway-*.profdata   # an earlier run's
MERGED="$BASE_TARGET-pgo/keyway-$(sha256sum "$WORK/keyway.profdata" | cut -c1-16).profdata"
mv "$WORK/keyway.profdata" "$MERGED"   # $WORK is bench_start_stack's, removed at exit

release_build "$BASE_TARGET-pgo" "-Cprofile-use=$MERGED"
install -D -m 0755 "$BUILT" "$OUT"
log "profile-guided keyway: $OUT"
