#!/usr/bin/env bash
# The users plugin against a real system (run inside a throwaway container: see live.sh). Covers getent
# passwd/group/shadow, id, homes' modes and owners (as useradd makes them); an SSH login to the container's
# own sshd with the declared key (and not with another key, nor into an expired account); a password login
# with `su` run by an unprivileged user where a hash is set; show round-trips; a second plan is empty; drift
# made with usermod and a key appended by hand is found and corrected; a uid change re-owns the home; nscd
# and accounts-daemon see the changes; an account removed with its home.
# usage: live-inner.sh [OPDBUS]      (prints TAP)
set -u
OPDBUS=${1:-op-dbus}
. "$(dirname "$0")/../../lib/tap.sh"
. "$(dirname "$0")/../../lib/sandbox.sh"
sandbox_inside

T=$(mktemp -d /tmp/users-live-XXXXXX)
chmod 0755 "$T"
trap 'rm -rf "$T"' EXIT
TAP_OUT=$T/out

for tool in sshd ssh ssh-keygen script runuser perl getent usermod useradd chage busctl nscd; do
  command -v "$tool" >/dev/null || { not_ok "$tool is in the container"; tap_done; exit 1; }
done

for k in alice bob carol other; do ssh-keygen -q -t ed25519 -N '' -C "$k@live" -f "$T/$k"; done
KA=$(cat "$T/alice.pub") KB=$(cat "$T/bob.pub") KC=$(cat "$T/carol.pub") KO=$(cat "$T/other.pub")
PW='op-dbus Live 1'
HASH=$(perl -e 'print crypt($ARGV[0], "\$6\$opdbuslive\$")' "$PW")
case $HASH in '$6$'*) ;; *) not_ok "crypt(3) makes a SHA-512 hash" "$HASH"; tap_done; exit 1 ;; esac

doc() {  # doc FILE BOB-UID EXTRA-ACCOUNTS
  cat >"$1" <<EOF
{"version": 1, "plugins": {"users": {
  "groups": {"opd-devs": {"gid": 2500}, "opd-ops": {"members": ["alice", "bob"]}},
  "accounts": {
    "alice": {"uid": 2001, "shell": "/bin/bash", "groups": ["opd-devs", "opd-ops"], "comment": "Alice Live",
              "password_hash": "$HASH", "locked": false, "ssh_authorized_keys": ["$KA"]},
    "bob": {"uid": $2, "shell": "/bin/sh", "ssh_authorized_keys": ["$KB"]},
    "carol": {"uid": 2003, "shell": "/bin/bash", "expires": "1971-01-01", "ssh_authorized_keys": ["$KC"]}$3
  }}}}
EOF
}
doc "$T/s1.json" 2002 ""
pwck -r >"$T/pwck.before" 2>&1
grpck -r >"$T/grpck.before" 2>&1

# 1. Create.
expect "validate" 0 "$OPDBUS" validate "$T/s1.json"
expect "plan shows changes (exit 2)" 2 "$OPDBUS" plan "$T/s1.json"
lacks "the plan never shows the hash" "$HASH"
expect "apply creates the accounts and groups" 0 "$OPDBUS" apply "$T/s1.json"
is "getent passwd alice" "alice:x:2001:2001:Alice Live:/home/alice:/bin/bash" getent passwd alice
is "getent passwd bob" "bob:x:2002:2002::/home/bob:/bin/sh" getent passwd bob
is "getent group opd-devs" "opd-devs:x:2500:alice" getent group opd-devs
is "getent group opd-ops (members)" "alice,bob" sh -c "getent group opd-ops | cut -d: -f4"
is "getent shadow alice holds the hash, unlocked" "$HASH" sh -c "getent shadow alice | cut -d: -f2"
is "getent shadow bob is locked" "!" sh -c "getent shadow bob | cut -d: -f2"
is "carol expires on 1971-01-01 (day 365)" "365" sh -c "getent shadow carol | cut -d: -f8"
contains_out() { "$@" >"$TAP_OUT" 2>&1; }
contains_out chage -l carol
contains "chage reads the expiry date" "Jan 01, 1971"
is "id alice" "uid=2001(alice) gid=2001(alice)" sh -c "id alice | cut -d' ' -f1,2"
is "id -Gn alice" "alice opd-devs opd-ops" sh -c "id -Gn alice | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ \$//'"
useradd -m opd-ref
is "alice's home has useradd's mode, owner and group" "$(stat -c %a /home/opd-ref) alice alice" \
  stat -c '%a %U %G' /home/alice
userdel -r opd-ref 2>/dev/null
is "the home has /etc/skel's files" "alice" stat -c %U /home/alice/.bashrc
is "~/.ssh is 0700 alice" "700 alice alice" stat -c '%a %U %G' /home/alice/.ssh
is "authorized_keys is 0600 alice" "600 alice alice" stat -c '%a %U %G' /home/alice/.ssh/authorized_keys
expect "a second plan is empty" 0 "$OPDBUS" plan "$T/s1.json"

# 2. SSH logins to a real sshd.
systemctl start ssh.service >/dev/null 2>&1
for _ in $(seq 50); do ss -ltn | grep -q ':22 ' && break; sleep 0.2; done
check "sshd listens on port 22" sh -c "ss -ltn | grep -q ':22 '"
SSH=(ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=10
  -o IdentitiesOnly=yes -o LogLevel=ERROR)
is "ssh alice@127.0.0.1 with alice's key" "alice" "${SSH[@]}" -i "$T/alice" alice@127.0.0.1 id -un
expect "ssh alice@127.0.0.1 with another key fails" 255 "${SSH[@]}" -i "$T/other" alice@127.0.0.1 id -un
is "ssh bob (locked password, key login)" "bob" "${SSH[@]}" -i "$T/bob" bob@127.0.0.1 id -un
expect "ssh into carol's expired account fails" 255 "${SSH[@]}" -i "$T/carol" carol@127.0.0.1 id -un

# 3. The password hash works for a password login: su run by an unprivileged user, the password typed into
# a pseudo-terminal (script), after su has asked for it.
su_as_bob() {  # su_as_bob PASSWORD -> output of `su -c 'id -un' alice` run by bob
  (sleep 2; printf '%s\n' "$1"; sleep 3) |
    timeout 20 runuser -u bob -- script -qec "su -c 'id -un' alice" /dev/null 2>&1 | tr -d '\r'
}
su_as_bob "$PW" >"$TAP_OUT"
contains "su to alice with her password works" "alice"
su_as_bob "wrong password" >"$TAP_OUT"
contains "su with a wrong password fails" "Authentication failure"

# 4. show round-trips.
"$OPDBUS" show --plugin users >"$T/shown.json" 2>"$T/show.err"
expect "show's users section plans empty" 0 "$OPDBUS" plan "$T/shown.json"
cp "$T/shown.json" "$TAP_OUT"
lacks "show prints no hash" "$HASH"
contains "show lists alice's key" "$KA"

# 5. Drift behind op-dbus's back: usermod, a key appended by hand (which then really lets that key in).
usermod -s /bin/sh alice
echo "$KO" >>/home/alice/.ssh/authorized_keys
is "the hand-added key logs in" "alice" "${SSH[@]}" -i "$T/other" alice@127.0.0.1 id -un
expect "drift makes the plan non-empty" 2 "$OPDBUS" plan "$T/s1.json"
contains "the changed shell is seen" 'shell: "/bin/sh" -> "/bin/bash"'
contains "the appended key is seen (the file is to be rewritten)" "write /home/alice/.ssh/authorized_keys (1 key(s))"
expect "apply corrects the drift" 0 "$OPDBUS" apply "$T/s1.json"
is "the shell is back" "/bin/bash" sh -c "getent passwd alice | cut -d: -f7"
expect "the hand-added key no longer logs in" 255 "${SSH[@]}" -i "$T/other" alice@127.0.0.1 id -un
is "alice's key still does" "alice" "${SSH[@]}" -i "$T/alice" alice@127.0.0.1 id -un
expect "then the plan is empty" 0 "$OPDBUS" plan "$T/s1.json"

# 6. A new uid for bob: the entry changes and his home's files follow; his key still logs in.
runuser -u bob -- touch /home/bob/made-by-bob
install -o bob -g bob -m 0644 /dev/null /var/tmp/opd-bob-outside  # bob's too, but outside his home
ln -s /var/tmp/opd-bob-outside /home/bob/link-out
chown -h bob:bob /home/bob/link-out
doc "$T/s2.json" 2102 ""
expect "a uid change is planned" 2 "$OPDBUS" plan "$T/s2.json"
contains "the plan shows the uid change" "uid: 2002 -> 2102"
contains "the plan says the home is re-owned" "re-own its files in /home/bob"
expect "apply changes the uid" 0 "$OPDBUS" apply "$T/s2.json"
is "id -u bob" "2102" id -u bob
is "bob's files have the new uid" "2102 2102 2102 2102" sh -c "stat -c %u /home/bob /home/bob/made-by-bob /home/bob/.ssh /home/bob/.ssh/authorized_keys | tr '\n' ' ' | sed 's/ \$//'"
is "a symlink in the home is re-owned itself" "2102" stat -c %u /home/bob/link-out
is "but not followed: the file it points to keeps the old uid" "2002" stat -c %u /var/tmp/opd-bob-outside
is "ssh bob after the uid change" "bob" "${SSH[@]}" -i "$T/bob" bob@127.0.0.1 id -un
expect "then the plan is empty" 0 "$OPDBUS" plan "$T/s2.json"

# 7. nscd (when it runs) and accounts-daemon see a new account and a changed comment at once. nscd is told not
# to watch the files itself, so only op-dbus's `nscd -i` can make it drop a cached (negative or old) entry.
sed -i -E 's/^([[:space:]]*check-files[[:space:]]+(passwd|group)[[:space:]]+)yes/\1no/' /etc/nscd.conf
check "nscd is set not to watch passwd itself" grep -qE '^[[:space:]]*check-files[[:space:]]+passwd[[:space:]]+no' /etc/nscd.conf
systemctl start nscd.service >/dev/null 2>&1
check "nscd runs" systemctl is-active --quiet nscd.service
getent passwd dave >/dev/null  # now a negative entry in nscd's cache
doc "$T/s3.json" 2102 ', "dave": {"uid": 2004, "shell": "/bin/sh", "comment": "Dave One"}'
expect "apply adds dave" 0 "$OPDBUS" apply "$T/s3.json"
is "getent (through nscd) sees dave at once" "dave:x:2004:2004:Dave One:/home/dave:/bin/sh" getent passwd dave
busctl call org.freedesktop.Accounts /org/freedesktop/Accounts org.freedesktop.Accounts FindUserByName s dave \
  >"$T/dave.path" 2>&1
DAVE=$(sed -n 's/^o "\(.*\)"$/\1/p' "$T/dave.path")
if [ -n "$DAVE" ]; then ok "accounts-daemon finds dave"; else not_ok "accounts-daemon finds dave" "$(cat "$T/dave.path")"; fi
doc "$T/s4.json" 2102 ', "dave": {"uid": 2004, "shell": "/bin/sh", "comment": "Dave Two"}'
expect "apply changes dave's comment" 0 "$OPDBUS" apply "$T/s4.json"
is "getent (through nscd) sees the new comment at once" "Dave Two" sh -c "getent passwd dave | cut -d: -f5"
name=""
for _ in $(seq 50); do
  name=$(busctl get-property org.freedesktop.Accounts "$DAVE" org.freedesktop.Accounts.User RealName 2>/dev/null)
  [ "$name" = 's "Dave Two"' ] && break
  sleep 0.2
done
if [ "$name" = 's "Dave Two"' ]; then ok "accounts-daemon reloads the files by itself"; else
  not_ok "accounts-daemon reloads the files by itself" "RealName: $name"
fi

# 8. carol removed with her home (destructive).
doc "$T/s5.json" 2102 ', "dave": {"uid": 2004, "shell": "/bin/sh", "comment": "Dave Two"}'
sed -i 's|"carol": {[^}]*}|"carol": {"state": "absent", "remove_home": true}|' "$T/s5.json"
expect "removal needs --allow-destructive" 1 "$OPDBUS" apply "$T/s5.json"
expect "removal with --allow-destructive" 0 "$OPDBUS" apply --allow-destructive "$T/s5.json"
expect "carol is gone from passwd" 2 getent passwd carol
expect "and from shadow" 2 getent shadow carol
[ ! -e /home/carol ] && ok "her home is removed" || not_ok "her home is removed" "$(ls -la /home/carol)"
expect "then the plan is empty" 0 "$OPDBUS" plan "$T/s5.json"
# The image's own system accounts have homes that do not exist (/var/www, ...): pwck -r said so before.
pwck -r >"$T/pwck.after" 2>&1
grpck -r >"$T/grpck.after" 2>&1
if diff "$T/pwck.before" "$T/pwck.after" >"$TAP_OUT"; then ok "pwck -r reports nothing new"; else
  not_ok "pwck -r reports nothing new" "$(cat "$TAP_OUT")"
fi
if diff "$T/grpck.before" "$T/grpck.after" >"$TAP_OUT"; then ok "grpck -r reports nothing new"; else
  not_ok "grpck -r reports nothing new" "$(cat "$TAP_OUT")"
fi

tap_done
