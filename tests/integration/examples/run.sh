#!/usr/bin/env bash
# Every file in examples/ validates, and plans (against an empty host export) without errors when all of
# its plugins are implemented. usage: run.sh OPDBUS SRCDIR   (prints TAP)
set -u
OPDBUS=$1
SRC=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
echo '{"version": 1, "plugins": {}}' >"$T/empty-host.json"
implemented=$("$OPDBUS" plugins --json | python3 -c 'import json,sys; print(" ".join(p["name"] for p in json.load(sys.stdin) if p["implemented"]))')
. "$(dirname "$0")/../../lib/tap.sh"
shopt -s nullglob
files=("$SRC"/examples/*.json)
if [ ${#files[@]} -eq 0 ]; then
  not_ok "examples/ has state files"
  tap_done
  exit
fi
for f in "${files[@]}"; do
  name=examples/$(basename "$f")
  if out=$("$OPDBUS" validate "$f" 2>&1); then
    ok "$name validates"
  else
    not_ok "$name validates" "$out"
  fi
  plugins=$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1])).get("plugins", {})))' "$f")
  all=1
  for p in $plugins; do
    case " $implemented " in *" $p "*) ;; *) all=0 ;; esac
  done
  if [ $all -eq 0 ]; then
    skip "$name plans" "uses a plugin that is not implemented yet ($plugins)"
    continue
  fi
  "$OPDBUS" plan --current "$T/empty-host.json" "$f" >"$T/out" 2>&1
  rc=$?
  if [ $rc -eq 0 ] || [ $rc -eq 2 ]; then
    ok "$name plans against an empty host (exit $rc)"
  else
    not_ok "$name plans against an empty host (exit $rc)" "$(cat "$T/out")"
  fi
done
tap_done
