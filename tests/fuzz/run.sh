#!/usr/bin/env bash
# Builds the state-loader fuzzer with libFuzzer + ASan + UBSan and runs it for a while on a copy of the
# seed corpus. Any crash, leak, timeout or undefined behaviour fails the run; the reproducer is kept in
# BUILD_DIR/fuzz-artifacts/.
#
# usage: run.sh BUILD_DIR SECONDS
set -euo pipefail

build=$(cd "${1:?usage: run.sh BUILD_DIR SECONDS}" && pwd)
seconds=${2:?usage: run.sh BUILD_DIR SECONDS}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cxx=${CLANGXX:-clang++}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

schemas_cc=$build/schemas/schemas_data.cc
if [ ! -f "$schemas_cc" ]; then
  # Not built yet (running outside meson): generate it the way the build does.
  schemas_cc=$work/schemas_data.cc
  python3 "$root/scripts/embed_schemas.py" "$schemas_cc" "$root"/schemas/v1/*.schema.json
fi

echo "# building the fuzzer with $cxx"
# pointer-overflow stays recoverable only so ubsan.supp can silence RapidJSON's own instance of it;
# halt_on_error=1 below still makes any other report fatal.
"$cxx" -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -fsanitize-recover=pointer-overflow \
  -I"$root/src" \
  "$here/load_fuzzer.cc" \
  "$root/src/state.cc" "$root/src/schema.cc" "$root/src/json.cc" "$root/src/error.cc" "$root/src/diagnostic.cc" \
  "$root/src/text.cc" \
  "$schemas_cc" \
  -o "$work/load_fuzzer"

mkdir "$work/corpus" "$work/artifacts"
cp "$here"/corpus/* "$work/corpus/"

echo "# fuzzing for $seconds seconds"
set +e
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=$here/ubsan.supp \
  "$work/load_fuzzer" "$work/corpus" \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1 2>"$work/log"
rc=$?
set -e
tail -n 20 "$work/log"

if [ "$rc" -ne 0 ] || [ -n "$(ls -A "$work/artifacts")" ]; then
  mkdir -p "$build/fuzz-artifacts"
  cp "$work"/artifacts/* "$build/fuzz-artifacts/" 2>/dev/null || true
  grep -E -A 30 'ERROR: |runtime error' "$work/log" | head -n 60 >&2 || true
  echo "fuzzing failed (exit code $rc); reproducers in $build/fuzz-artifacts/" >&2
  exit 1
fi
echo "# no crashes"
