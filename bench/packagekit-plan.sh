#!/usr/bin/env bash
# Plan-time benchmark of the packagekit plugin offline (--root), on a copy of the sandbox's cached Debian
# rootfs. For each N it takes N package names from the tree's Packages index and prints the time of
#   op-dbus plan --root  (one `apt-cache policy` of the N names in the chroot + the dpkg database)
#   apt-get -s install   (apt's own simulation of installing the N names, in the chroot)
#   dpkg-query -W        (dpkg's view of the N names; says nothing about what could be installed)
# Best of REPEATS runs. Read-only on the copy; the cache is never touched.
# usage: bench/packagekit-plan.sh [OPDBUS] [N...]     (root; default N: 10 100 1000)
set -euo pipefail
OPDBUS=$(realpath "${1:-build/op-dbus}")
shift $(($# > 0 ? 1 : 0)) || true
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10 100 1000)
REPEATS=${REPEATS:-3}
[ "$(id -u)" = 0 ] || { echo "needs root (chroot)" >&2; exit 1; }
T=$(mktemp -d /tmp/packagekit-bench-XXXXXX)
trap 'rm -rf "$T"' EXIT
CACHE=$("$OPDBUS" sandbox --prepare 2>/dev/null | tail -n1)
cp -a "$CACHE" "$T/root"
# Names from the index, skipping ones that would need other architectures or conflict among themselves
# for apt's simulation: the first N by name of priority optional/standard packages.
python3 - "$T/root/var/lib/apt/lists" >"$T/names" <<'PY'
import glob, sys
names = []
for f in glob.glob(sys.argv[1] + "/*_binary-amd64_Packages"):
    cur = {}
    for line in open(f, encoding="utf-8", errors="replace"):
        if line.strip() == "":
            if cur.get("Priority") in ("optional", "standard") and not cur.get("Package", "").endswith("-dbg"):
                names.append(cur["Package"])
            cur = {}
        elif not line[0].isspace() and ":" in line:
            k, v = line.split(":", 1)
            cur[k] = v.strip()
print("\n".join(sorted(set(names))))
PY
now() { date +%s%N; }
best() {  # best CMD...: the fastest of REPEATS runs, in ms
  local b= s e t
  for _ in $(seq 1 "$REPEATS"); do
    s=$(now); "$@" >/dev/null 2>&1 || true; e=$(now)
    t=$(((e - s) / 1000000)); [ -z "$b" ] || [ "$t" -lt "$b" ] && b=$t
  done
  echo "$b"
}
printf '%6s  %14s  %16s  %14s\n' N "op-dbus plan" "apt-get -s inst" "dpkg-query -W"
for n in "${SIZES[@]}"; do
  head -n "$n" "$T/names" >"$T/n"
  python3 -c 'import json,sys; print(json.dumps({"version":1,"plugins":{"packagekit":{"additional_packages":[l.strip() for l in open(sys.argv[1])]}}}))' "$T/n" >"$T/state.json"
  mapfile -t names <"$T/n"
  a=$(best "$OPDBUS" plan --root "$T/root" "$T/state.json")
  b=$(best chroot "$T/root" apt-get -s -q install -- "${names[@]}")
  c=$(best chroot "$T/root" dpkg-query -W -- "${names[@]}")
  printf '%6s  %11s ms  %13s ms  %11s ms\n' "$n" "$a" "$b" "$c"
done
