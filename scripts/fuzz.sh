#!/usr/bin/env bash
# libFuzzer runs of the pure parsers the proptests cover (the targets in
# fuzz/fuzz_targets/): `cargo fuzz`, which needs a nightly toolchain. Not
# part of CI or scripts/test.sh; run it by hand:
#
#   bash scripts/fuzz.sh                      # every target, 60 s each
#   FUZZ_SECONDS=600 bash scripts/fuzz.sh sse_framing
#
# New inputs go to fuzz/corpus/<target>/ (git-ignored, reused by the next
# run), on top of the hand-written seeds in fuzz/seeds/<target>/. A crash
# is saved under fuzz/artifacts/<target>/; replay it with
# `cargo +nightly fuzz run <target> <file>`. Exits non-zero when any target
# fails to build or finds a crash.
set -uo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "cargo fuzz needs a nightly toolchain (rustup toolchain install nightly)."
  echo "skipped: no nightly toolchain"
  exit 0
fi

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked || exit 1
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

logs="${TMPDIR:-/tmp}/keyway-fuzz"
mkdir -p "$logs"

echo "== cargo fuzz build (log: $logs/build.log)"
if ! cargo +nightly fuzz build >"$logs/build.log" 2>&1; then
  tail -n 40 "$logs/build.log"
  echo "fuzz: build failed"
  exit 1
fi

failed=0
results=()
for target in "${targets[@]}"; do
  echo "== fuzz $target for ${seconds}s (log: $logs/$target.log)"
  corpus="fuzz/corpus/$target"
  mkdir -p "$corpus"
  seeds=()
  [ -d "fuzz/seeds/$target" ] && seeds=("fuzz/seeds/$target")
  cargo +nightly fuzz run "$target" "$corpus" "${seeds[@]}" -- -max_total_time="$seconds" \
    >"$logs/$target.log" 2>&1
  status=$?
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$logs/$target.log" | tail -n 1)
  if [ "$status" -eq 0 ]; then
    results+=("ok      $target: ${done_line:-(no DONE line)}")
  else
    failed=1
    artifact=$(sed -n 's/.*Test unit written to //p' "$logs/$target.log" | tail -n 1)
    results+=("FAILED  $target: exit $status${artifact:+, input saved to $artifact}")
    grep -E -m 4 -A 2 'panicked at|==ERROR|^SUMMARY|ALARM|^error' "$logs/$target.log"
  fi
done

echo "== results"
printf '%s\n' "${results[@]}"
exit "$failed"
