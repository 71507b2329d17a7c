#!/usr/bin/env bash
# Feeds `op-dbus validate` malformed and hostile documents. Each must be refused with exit code 1 and a
# message naming the file: no crash, no signal, no sanitizer report, no hang.
#
# usage: run.sh OPDBUS_BINARY
set -u

bin=${1:?usage: run.sh OPDBUS_BINARY}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Inputs too big or too deep to keep in the repository are made here.
generate() {
  printf '%*s' 100000 '' | tr ' ' '[' >"$work/deep-arrays-100000.json"
  { printf '%*s' 100000 '' | sed 's/ /{"a":/g'; } >"$work/deep-objects-100000.json"
  { printf '%*s' 65 '' | tr ' ' '['; printf '%*s' 65 '' | tr ' ' ']'; } >"$work/deep-65.json"
  {
    printf '{"version":1,"plugins":{"firewall":{"rules":['
    yes '{"port":22,"proto":"tcp","action":"accept","comment":"ssh"},' | head -n 170000 | tr -d '\n'
    printf '{"port":22,"proto":"tcp","action":"maybe"}]}}}'
  } >"$work/10mb-one-bad-rule.json"
  {
    printf '{"version":1,"metadata":{"description":"'
    yes 'abcdefghijklmnopqrstuvwxyz0123456789' | head -n 300000 | tr -d '\n'
  } >"$work/10mb-unterminated-string.json"
  { printf '{"version":1,"metadata":{"tags":['; yes '"x",' | head -n 2600000 | tr -d '\n'; } \
    >"$work/10mb-truncated-array.json"
  yes $'\xff\xfegarbage{[' | head -c 10485760 >"$work/10mb-binary.json"
  {
    printf '{"version":1,"plugins":{"firewall":{"rules":['
    yes '{"port":0,"action":"nope"},' | head -n 400000 | tr -d '\n'
    printf '{"action":"drop"}]}}}'
  } >"$work/10mb-every-rule-bad.json"
  # Over the default size limits (docs/cli.md): one 17 MiB string value; a 65 MiB document.
  { printf '{"version":1,"metadata":{"description":"'; head -c $((17 << 20)) /dev/zero | tr '\0' 'x'; printf '"}}'; } \
    >"$work/core-17mib-value.json"
  { printf '{"version":1,"metadata":{"tags":["'; head -c $((65 << 20)) /dev/zero | tr '\0' 'x'; printf '"]}}'; } \
    >"$work/core-65mib-document.json"
}

generate
mkdir "$work/a-directory.json"

# For sanitized builds: make reports fatal and quiet RapidJSON's own known one.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:suppressions=$here/../fuzz/ubsan.supp}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

. "$here/../lib/tap.sh"
TAP_DETAIL=2000
# refused FILE: `op-dbus validate FILE` must exit 1 naming FILE, without a crash, hang or sanitizer report.
refused() {
  local file=$1 out rc
  out=$(timeout 120 "$bin" validate "$file" 2>&1 >/dev/null)
  rc=$?
  local why=""
  if [ "$rc" -ge 124 ]; then
    why="exit code $rc (crash, signal or timeout)"
  elif [ "$rc" -ne 1 ]; then
    why="exit code $rc, expected 1"
  elif ! grep -qF -- "$file" <<<"$out"; then
    why="message does not name the file"
  elif grep -qE 'Sanitizer|runtime error:|internal error' <<<"$out"; then
    why="sanitizer or internal error output"
  fi
  if [ -n "$why" ]; then
    not_ok "$(basename "$file"): $why" "$out"
  else
    ok "$(basename "$file"): $(head -n 1 <<<"$out" | cut -c1-160)"
  fi
}

for f in "$here"/inputs/*; do refused "$f"; done
for f in "$work"/*; do refused "$f"; done
refused "$work/does-not-exist.json"

if ! tap_done; then
  echo "# $fails of $n bad inputs were not refused cleanly" >&2
  exit 1
fi
