#!/usr/bin/env bash
# The users plugin with --root (prints TAP): what op-dbus writes into a tree's /etc/passwd, shadow, group and
# gshadow is what `groupadd --root` / `useradd --root` write for the same accounts (apart from the shadow
# field "date of last password change", which is the day each ran); homes from /etc/skel with the same owners
# and modes; `pwck -r -R` / `grpck -r -R` clean; a second plan empty; drift (a key appended by hand, a shell
# changed with `usermod --root`) found and corrected; `show` round-trips; a uid change, a gid change, expires
# and remove_home against `usermod -u`, `groupmod -g`, `useradd -e` and `userdel -r`; hostile trees (a home
# symlinked out of the tree among them) and values refused with nothing outside the tree changed. Needs root (chown) and the shadow tools; skips itself otherwise.
# usage: offline.sh OPDBUS
set -u
OPDBUS=$(readlink -f "$1")
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export OPDBUS_LOCK_FILE=$T/lock OPDBUS_RUN_DIR=$T/run

. "$(dirname "$0")/../../lib/tap.sh"
TAP_OUT=$T/out

[ "$(id -u)" -eq 0 ] || tap_skip_all "needs root (homes are chowned to the accounts)"
for tool in useradd groupadd usermod pwck grpck ssh-keygen python3; do
  command -v "$tool" >/dev/null || tap_skip_all "$tool is not installed"
done

# A small tree: root's account, /etc/skel, the shells and login.defs of the host.
base() {
  local r=$1
  mkdir -p "$r/etc/skel" "$r/bin" "$r/root" "$r/usr/sbin"
  printf 'root:x:0:0:root:/root:/bin/bash\n' >"$r/etc/passwd"
  printf 'root:*:19000:0:99999:7:::\n' >"$r/etc/shadow"
  printf 'root:x:0:\nusers:x:100:\n' >"$r/etc/group"
  printf 'root:*::\nusers:*::\n' >"$r/etc/gshadow"
  chmod 0640 "$r/etc/shadow" "$r/etc/gshadow"
  cp /etc/login.defs "$r/etc/login.defs"
  printf 'echo hello\n' >"$r/etc/skel/.profile"
  mkdir -m 0700 -p "$r/etc/skel/.config"
  printf 'x\n' >"$r/etc/skel/.config/app"
  chmod 0600 "$r/etc/skel/.config/app"
  cp /bin/bash /bin/sh "$r/bin/"
  ln -s /bin/sh "$r/usr/sbin/nologin-link"
}

ssh-keygen -q -t ed25519 -N '' -C alice@laptop -f "$T/k1"
ssh-keygen -q -t rsa -b 2048 -N '' -C alice@desk -f "$T/k2"
ssh-keygen -q -t ecdsa -N '' -C bob@x -f "$T/k3"
K1=$(cat "$T/k1.pub") K2=$(cat "$T/k2.pub") K3=$(cat "$T/k3.pub")
HASH='$y$j9T$abcdefghijklmnopqrstu.$0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef'

cat >"$T/s.json" <<EOF
{"version": 1, "plugins": {"users": {
  "groups": {"devs": {"gid": 2000}, "ops": {}},
  "accounts": {
    "alice": {"uid": 1500, "shell": "/bin/bash", "groups": ["devs", "ops"], "comment": "Alice A",
              "ssh_authorized_keys": ["$K1", "$K2"]},
    "bob": {"shell": "/bin/sh", "password_hash": "$HASH", "locked": false, "groups": ["devs"]},
    "svc": {"system": true, "shell": "/bin/sh", "home": "/var/lib/svc"}
  }
}}}
EOF

A=$T/a B=$T/b
base "$A"
base "$B"
expect "apply creates the accounts and groups" 0 "$OPDBUS" apply --root "$A" "$T/s.json"
# The same with the shadow tools (ops gets the next free gid, as op-dbus allocated it).
groupadd --root "$B" -g 2000 devs
groupadd --root "$B" ops
useradd --root "$B" -u 1500 -s /bin/bash -G devs,ops -c "Alice A" -m alice
useradd --root "$B" -s /bin/sh -p "$HASH" -G devs -m bob
useradd --root "$B" -r -s /bin/sh -d /var/lib/svc svc

for f in passwd group gshadow; do
  if cmp -s "$A/etc/$f" "$B/etc/$f"; then ok "/etc/$f is what the shadow tools write"; else
    not_ok "/etc/$f is what the shadow tools write" "$(diff "$B/etc/$f" "$A/etc/$f")"
  fi
done
# Field 3 of shadow is the day of the last password change: each tool writes the day it ran.
strip3() { awk -F: 'BEGIN{OFS=":"} {$3="DAY"; print}' "$1"; }
if [ "$(strip3 "$A/etc/shadow")" = "$(strip3 "$B/etc/shadow")" ]; then ok "/etc/shadow is what the shadow tools write (but the change date)"; else
  not_ok "/etc/shadow is what the shadow tools write (but the change date)" "$(diff <(strip3 "$B/etc/shadow") <(strip3 "$A/etc/shadow"))"
fi
for f in passwd shadow group gshadow; do
  is "/etc/$f keeps its mode" "$(stat -c %a "$B/etc/$f")" stat -c %a "$A/etc/$f"
done
tree_of() { (cd "$1" && find home -maxdepth 2 ! -name .config -printf '%p %y %m %U %G\n' 2>/dev/null | grep -v '/.ssh' | sort); }
if [ "$(tree_of "$A")" = "$(tree_of "$B")" ]; then ok "homes from /etc/skel with useradd's owners and modes"; else
  not_ok "homes from /etc/skel with useradd's owners and modes" "$(diff <(tree_of "$B") <(tree_of "$A"))"
fi
is "a directory of /etc/skel is copied with its modes and owners" "700 1500 1500 600 1500 1500 " \
  stat --printf='%a %u %g ' "$A/home/alice/.config" "$A/home/alice/.config/app"
check "pwck -r -R is clean" pwck -r -R "$A"
check "grpck -r -R is clean" grpck -r -R "$A"
is "pwck -r -R prints nothing" "" sh -c "pwck -r -R '$A' 2>&1; grpck -r -R '$A' 2>&1"

is "~/.ssh is 0700 and owned by alice" "700 1500 1500" stat -c '%a %u %g' "$A/home/alice/.ssh"
is "authorized_keys is 0600 and owned by alice" "600 1500 1500" stat -c '%a %u %g' "$A/home/alice/.ssh/authorized_keys"
if [ "$(cat "$A/home/alice/.ssh/authorized_keys")" = "$(printf '%s\n%s' "$K1" "$K2")" ]; then
  ok "authorized_keys holds exactly the keys, in order"
else not_ok "authorized_keys holds exactly the keys, in order" "$(cat "$A/home/alice/.ssh/authorized_keys")"; fi
[ -e "$A/etc/.pwd.lock" ] && ok "the shadow tools' lock file is used" || not_ok "the shadow tools' lock file is used"

expect "a second plan is empty" 0 "$OPDBUS" plan --root "$A" "$T/s.json"

# show round-trips: its users section planned against the same tree is empty.
"$OPDBUS" show --root "$A" 2>/dev/null >"$T/show.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(json.dumps({"version":1,"plugins":{"users":d["plugins"]["users"]}}))' \
  "$T/show.json" >"$T/shown.json"
TAP_OUT=$T/show.out
expect "show round-trips to an empty plan" 0 "$OPDBUS" plan --root "$A" "$T/shown.json"
TAP_OUT=$T/out
if grep -q alice "$T/shown.json" && ! grep -q '"svc"' "$T/shown.json" && ! grep -q 'j9T' "$T/shown.json"; then
  ok "show lists non-system accounts, never a hash"
else not_ok "show lists non-system accounts, never a hash" "$(cat "$T/shown.json")"; fi

# Drift: a key appended by hand, a shell changed with usermod.
echo "$K3" >>"$A/home/alice/.ssh/authorized_keys"
usermod --root "$A" -s /bin/sh alice
expect "drift makes the plan non-empty" 2 "$OPDBUS" plan --root "$A" "$T/s.json"
contains "the appended key is seen" "ssh_authorized_keys"
contains "the changed shell is seen" 'shell: "/bin/sh" -> "/bin/bash"'
expect "apply corrects the drift" 0 "$OPDBUS" apply --root "$A" "$T/s.json"
is "the shell is back" "/bin/bash" sh -c "grep '^alice:' '$A/etc/passwd' | cut -d: -f7"
is "the hand-added key is gone" "2" sh -c "wc -l <'$A/home/alice/.ssh/authorized_keys'"
expect "then the plan is empty" 0 "$OPDBUS" plan --root "$A" "$T/s.json"

# groups is the complete list: bob added to ops by hand is taken out again.
usermod --root "$A" -aG ops bob
expect "a group added by hand is drift" 2 "$OPDBUS" plan --root "$A" "$T/s.json"
contains "groups are compared as a complete list" 'groups: ["devs", "ops"] -> ["devs"]'
expect "and corrected" 0 "$OPDBUS" apply --root "$A" "$T/s.json"
is "ops has no bob" "ops:x:2001:alice" grep '^ops:' "$A/etc/group"

# Removal is destructive; the home stays.
cat >"$T/rm.json" <<EOF
{"version": 1, "plugins": {"users": {"accounts": {"bob": {"state": "absent"}}, "groups": {"ops": {"state": "absent"}}}}}
EOF
expect "removal needs --allow-destructive" 1 "$OPDBUS" apply --root "$A" "$T/rm.json"
expect "removal with --allow-destructive" 0 "$OPDBUS" apply --root "$A" --allow-destructive "$T/rm.json"
is "bob is gone from passwd, shadow and the groups" "0" sh -c "cat '$A/etc/passwd' '$A/etc/shadow' '$A/etc/group' '$A/etc/gshadow' | grep -c '\\bbob\\b'"
[ -d "$A/home/bob" ] && ok "bob's home is kept" || not_ok "bob's home is kept"
check "pwck -r -R is clean after removal" pwck -r -R "$A"
check "grpck -r -R is clean after removal" grpck -r -R "$A"

# A uid or gid taken by another name is a plan error; nothing is written.
cat >"$T/clash.json" <<EOF
{"version": 1, "plugins": {"users": {"accounts": {"carol": {"uid": 1500}}, "groups": {"qa": {"gid": 2000}}}}}
EOF
sum_a=$(cat "$A"/etc/passwd "$A"/etc/group | md5sum)
expect "a uid taken by another account is refused" 1 "$OPDBUS" apply --root "$A" "$T/clash.json"
contains "the error names the holder" 'taken by'
is "nothing was written" "$sum_a" sh -c "cat '$A'/etc/passwd '$A'/etc/group | md5sum"
cat >"$T/noshell.json" <<EOF
{"version": 1, "plugins": {"users": {"accounts": {"dave": {"shell": "/usr/bin/zsh"}}}}}
EOF
expect "a shell missing in the tree is refused" 1 "$OPDBUS" plan --root "$A" "$T/noshell.json"
contains "the error names the shell" '/usr/bin/zsh'

# The lock: while another program holds /etc/.pwd.lock (fcntl, as lckpwdf), apply waits for it.
cat >"$T/erin.json" <<EOF
{"version": 1, "plugins": {"users": {"accounts": {"erin": {"shell": "/bin/sh"}}}}}
EOF
python3 -c 'import fcntl,sys,time; f=open(sys.argv[1],"w"); fcntl.lockf(f, fcntl.LOCK_EX); open(sys.argv[2],"w").close(); time.sleep(2)' \
  "$A/etc/.pwd.lock" "$T/locked" &
holder=$!
while [ ! -e "$T/locked" ]; do sleep 0.1; done
start=$(date +%s%N)
expect "apply waits for the lock, then succeeds" 0 "$OPDBUS" apply --root "$A" "$T/erin.json"
waited=$((($(date +%s%N) - start) / 1000000))
wait "$holder"
[ "$waited" -ge 1000 ] && ok "it waited for the holder (${waited} ms)" || not_ok "it waited for the holder (${waited} ms)"

# uid/gid changes, expires and remove_home against usermod -u, groupmod -g, useradd -e and userdel -r.
C=$T/c D=$T/d
base "$C"
base "$D"
cat >"$T/ids1.json" <<EOF
{"version": 1, "plugins": {"users": {"groups": {"devs": {"gid": 2000}},
  "accounts": {"carl": {"uid": 1500, "shell": "/bin/sh", "groups": ["devs"], "expires": "2030-01-31"},
               "dora": {"uid": 1501, "gid": 2000, "shell": "/bin/sh"},
               "ezra": {"uid": 1502, "shell": "/bin/sh"}}}}}
EOF
expect "apply: accounts with an expiry date and a primary group" 0 "$OPDBUS" apply --root "$C" "$T/ids1.json"
groupadd --root "$D" -g 2000 devs
useradd --root "$D" -u 1500 -s /bin/sh -G devs -e 2030-01-31 -m carl
useradd --root "$D" -u 1501 -g 2000 -s /bin/sh -m dora
useradd --root "$D" -u 1502 -s /bin/sh -m ezra
same_dbs() {  # same_dbs NAME: the four databases of C and D agree (shadow but its change dates)
  local f out=""
  for f in passwd group gshadow; do out+=$(diff "$D/etc/$f" "$C/etc/$f"); done
  out+=$(diff <(strip3 "$D/etc/shadow") <(strip3 "$C/etc/shadow"))
  if [ -z "$out" ]; then ok "$1"; else not_ok "$1" "$out"; fi
}
same_dbs "expires is what useradd -e writes"
mkdir "$C/home/carl/sub" "$D/home/carl/sub"
touch "$C/home/carl/sub/f" "$D/home/carl/sub/f" "$C/home/carl/roots" "$D/home/carl/roots"
chown -R 1500:1500 "$C/home/carl/sub" "$D/home/carl/sub"
cat >"$T/ids2.json" <<EOF
{"version": 1, "plugins": {"users": {"groups": {"devs": {"gid": 2100}},
  "accounts": {"carl": {"uid": 1600, "expires": "never"}, "ezra": {"state": "absent", "remove_home": true}}}}}
EOF
expect "a uid and a gid change plan" 2 "$OPDBUS" plan --root "$C" "$T/ids2.json"
contains "the plan shows the uid change" "uid: 1500 -> 1600"
contains "the plan shows the gid change and the homes" "change the gid of group devs (2000 -> 2100), re-own its files in /home/dora"
contains "the plan says the home is removed" "remove account ezra and its home /home/ezra"
expect "apply the id changes, the expiry and remove_home" 0 "$OPDBUS" apply --root "$C" --allow-destructive "$T/ids2.json"
usermod --root "$D" -u 1600 -e '' carl 2>"$T/usermod.err"  # (it cannot list /proc in the tree)
groupmod --root "$D" -g 2100 devs
userdel --root "$D" -r ezra 2>/dev/null
same_dbs "the databases are what usermod -u, groupmod -g and userdel -r make"
# (useradd --root leaves /etc/skel's nested files out of a new home, so those are not compared.)
owners() { (cd "$1/home" && find carl -printf '%p %U %G\n' | grep -v '^carl/.config/' | sort); }
if [ "$(owners "$C")" = "$(owners "$D")" ]; then ok "carl's home is re-owned as usermod -u does"; else
  not_ok "carl's home is re-owned as usermod -u does" "$(diff <(owners "$D") <(owners "$C"))"; fi
is "a file of another owner in the home keeps it" "0" stat -c %u "$C/home/carl/roots"
is "dora's files follow her group's new gid (groupmod leaves them: a documented difference)" "2100" \
  stat -c %g "$C/home/dora/.profile"
if [ ! -e "$C/home/ezra" ] && [ ! -e "$D/home/ezra" ]; then ok "ezra's home is removed, as by userdel -r"; else
  not_ok "ezra's home is removed, as by userdel -r" "$(ls -la "$C/home")"; fi
check "pwck -r -R is clean after the id changes" pwck -r -R "$C"
check "grpck -r -R is clean after the id changes" grpck -r -R "$C"
expect "then the plan is empty" 0 "$OPDBUS" plan --root "$C" "$T/ids2.json"

# Hostile trees: ~/.ssh a symlink out of the tree (absolute and relative); authorized_keys a symlink.
O=$T/outside
mkdir -p "$O"
echo "precious" >"$O/authorized_keys"
outside_sum() { (cd "$O" && find . -printf '%p %m %U\n' | sort; cat authorized_keys) | md5sum; }
before=$(outside_sum)
H=$T/h
base "$H"
cat >"$T/eve.json" <<EOF
{"version": 1, "plugins": {"users": {"accounts": {"eve": {"shell": "/bin/sh", "ssh_authorized_keys": ["$K1"]}}}}}
EOF
expect "eve is created" 0 "$OPDBUS" apply --root "$H" "$T/eve.json"
rm -rf "$H/home/eve/.ssh"
ln -s "$O" "$H/home/eve/.ssh"
echo "$K3" >>"$O/authorized_keys.new"; rm -f "$O/authorized_keys.new"
echo "$K3" >"$T/k3line"
sed -i 's/^/#/' "$T/k3line"
expect "an absolute ~/.ssh symlink is refused" 1 "$OPDBUS" apply --root "$H" "$T/eve.json"
contains "the refusal says why" "not a directory"
rm "$H/home/eve/.ssh"
ln -s ../../../../../../../../.."$O" "$H/home/eve/.ssh"
expect "a relative ~/.ssh symlink is refused" 1 "$OPDBUS" apply --root "$H" "$T/eve.json"
rm "$H/home/eve/.ssh"
mkdir -m 0700 "$H/home/eve/.ssh"
chown 1000:1000 "$H/home/eve/.ssh"
ln -s "$O/authorized_keys" "$H/home/eve/.ssh/authorized_keys"
expect "a symlinked authorized_keys is replaced" 0 "$OPDBUS" apply --root "$H" "$T/eve.json"
is "it is a regular file now" "regular file" stat -c %F "$H/home/eve/.ssh/authorized_keys"
is "nothing outside the tree changed" "$before" outside_sum

# A home that is itself a symlink out of the tree, to files owned by the account's uid: a uid change re-owns
# the link and never what it leads to; removing the account with its home is refused; nothing outside changes.
mkdir -p "$O/evehome"
touch "$O/evehome/f"
chown -R 1000:1000 "$O/evehome"
before=$(outside_sum)
rm -rf "$H/home/eve"
ln -s "$O/evehome" "$H/home/eve"
chown -h 1000:1000 "$H/home/eve"
printf '%s' '{"version": 1, "plugins": {"users": {"accounts": {"eve": {"uid": 1700}}}}}' >"$T/eve-uid.json"
expect "a uid change with a home symlinked out of the tree" 0 "$OPDBUS" apply --root "$H" "$T/eve-uid.json"
is "the link itself is re-owned" "1700" stat -c %u "$H/home/eve"
is "nothing outside the tree changed (uid change)" "$before" outside_sum
printf '%s' '{"version": 1, "plugins": {"users": {"accounts": {"eve": {"state": "absent", "remove_home": true}}}}}' >"$T/eve-rm.json"
expect "remove_home of a home symlinked out of the tree is refused" 1 "$OPDBUS" apply --root "$H" --allow-destructive "$T/eve-rm.json"
contains "the refusal says why" "not a directory it owns"
is "nothing outside the tree changed (remove_home)" "$before" outside_sum
is "eve is still there" "1" sh -c "grep -c '^eve:' '$H/etc/passwd'"

# The hash is a secret: never in the journal, the plan or --json.
if grep -rq 'j9T' "$A/var/lib/op-dbus"; then not_ok "the journal never holds the password hash"; else ok "the journal never holds the password hash"; fi
"$OPDBUS" plan --root "$B" --json "$T/s.json" >"$T/plan.json" 2>&1
if grep -q 'j9T' "$T/plan.json"; then not_ok "a --json plan never holds the password hash" "$(cat "$T/plan.json")"; else
  ok "a --json plan never holds the password hash"; fi

# A tree whose directories are symlinks: /home absolute (-> /srv/home, inside the tree as a chroot sees it),
# /etc/skel relative, and /mail to an absolute host path out of the tree. Writes land where a chroot would
# put them (under the tree), never outside.
S=$T/s
base "$S"
mkdir -p "$S/srv/home" "$S/srv/skel" "$O/home"
mv "$S/etc/skel/.profile" "$S/srv/skel/.profile"
rm -rf "$S/etc/skel"
ln -s ../srv/skel "$S/etc/skel"
ln -s /srv/home "$S/home"
mkdir -p "$S$O/home"
ln -s "$O/home" "$S/mail"
before=$(outside_sum)
cat >"$T/sym.json" <<EOF
{"version": 1, "plugins": {"users": {"accounts": {
  "sam": {"shell": "/bin/sh", "ssh_authorized_keys": ["$K1"]},
  "max": {"shell": "/bin/sh", "home": "/mail/max", "ssh_authorized_keys": ["$K1"]}}}}}
EOF
expect "apply into a tree of symlinked directories" 0 "$OPDBUS" apply --root "$S" "$T/sym.json"
[ -f "$S/srv/home/sam/.ssh/authorized_keys" ] && ok "the absolute /home link is followed inside the tree" ||
  not_ok "the absolute /home link is followed inside the tree" "$(find "$S" | head -50)"
[ -f "$S/srv/home/sam/.profile" ] && ok "the relative /etc/skel link is followed inside the tree" ||
  not_ok "the relative /etc/skel link is followed inside the tree"
[ -f "$S/$O/home/max/.ssh/authorized_keys" ] && ok "a link out of the tree lands where a chroot puts it" ||
  not_ok "a link out of the tree lands where a chroot puts it" "$(find "$S" | head -50)"
is "nothing outside the tree changed (symlinked directories)" "$before" outside_sum
expect "the symlinked tree's second plan is empty" 0 "$OPDBUS" plan --root "$S" "$T/sym.json"

# Hostile values: refused at validate time with the file and the pointer.
bad() {
  local what=$1 doc=$2 pointer=$3
  printf '%s' "$doc" >"$T/bad.json"
  expect "validate refuses $what" 1 "$OPDBUS" validate "$T/bad.json"
  contains "the message names the file and $pointer" "bad.json"
  contains "the message names $pointer" "$pointer"
}
long=$(printf 'a%.0s' $(seq 200))
bad "a name with a newline" '{"version":1,"plugins":{"users":{"accounts":{"a\nb":{}}}}}' '/plugins/users/accounts/a'
bad "a name with a slash" '{"version":1,"plugins":{"users":{"accounts":{"a/b":{}}}}}' '/plugins/users/accounts/a~1b'
bad "a 200-byte name" "{\"version\":1,\"plugins\":{\"users\":{\"groups\":{\"$long\":{}}}}}" "/plugins/users/groups/aaaa"
bad "a key with a newline" "{\"version\":1,\"plugins\":{\"users\":{\"accounts\":{\"a\":{\"ssh_authorized_keys\":[\"$K1\\nssh-rsa AAAA x\"]}}}}}" '/plugins/users/accounts/a/ssh_authorized_keys/0'
bad "a key with options" "{\"version\":1,\"plugins\":{\"users\":{\"accounts\":{\"a\":{\"ssh_authorized_keys\":[\"command=\\\"/bin/sh\\\" $K1\"]}}}}}" '/plugins/users/accounts/a/ssh_authorized_keys/0'
bad "a shell like -o" '{"version":1,"plugins":{"users":{"accounts":{"a":{"shell":"-o"}}}}}' '/plugins/users/accounts/a/shell'
bad "a comment with a colon" '{"version":1,"plugins":{"users":{"accounts":{"a":{"comment":"x:0:0"}}}}}' '/plugins/users/accounts/a/comment'
bad "a comment with a newline" '{"version":1,"plugins":{"users":{"accounts":{"a":{"comment":"x\nroot::0:0::/:/bin/sh"}}}}}' '/plugins/users/accounts/a/comment'
bad "a home with .." '{"version":1,"plugins":{"users":{"accounts":{"a":{"home":"/home/../etc"}}}}}' '/plugins/users/accounts/a/home'

tap_done
