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
n=0
fails=0
shopt -s nullglob
files=("$SRC"/examples/*.json)
if [ ${#files[@]} -eq 0 ]; then
  echo "not ok 1 - examples/ has state files"
  echo "1..1"
  exit 1
fi
for f in "${files[@]}"; do
  name=examples/$(basename "$f")
  n=$((n + 1))
  if out=$("$OPDBUS" validate "$f" 2>&1); then
    echo "ok $n - $name validates"
  else
    fails=$((fails + 1))
    echo "not ok $n - $name validates"
    echo "$out" | sed 's/^/# /'
  fi
  plugins=$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1])).get("plugins", {})))' "$f")
  all=1
  for p in $plugins; do
    case " $implemented " in *" $p "*) ;; *) all=0 ;; esac
  done
  n=$((n + 1))
  if [ $all -eq 0 ]; then
    echo "ok $n - $name plans # SKIP uses a plugin that is not implemented yet ($plugins)"
    continue
  fi
  "$OPDBUS" plan --current "$T/empty-host.json" "$f" >"$T/out" 2>&1
  rc=$?
  if [ $rc -eq 0 ] || [ $rc -eq 2 ]; then
    echo "ok $n - $name plans against an empty host (exit $rc)"
  else
    fails=$((fails + 1))
    echo "not ok $n - $name plans against an empty host (exit $rc)"
    sed 's/^/# /' "$T/out"
  fi
done
echo "1..$n"
[ "$fails" -eq 0 ]
