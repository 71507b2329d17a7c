#!/usr/bin/env bash
# The inside of bench/users-ansible.sh (runs in the sandbox container, which has ansible-core).
# usage: users-ansible-inner.sh OPDBUS [REPEATS]
set -euo pipefail
OPDBUS=$1
REPEATS=${2:-3}
W=$(mktemp -d /tmp/users-bench-XXXXXX)
trap 'rm -rf "$W"' EXIT
export ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 ANSIBLE_NOCOLOR=1 ANSIBLE_LOCALHOST_WARNING=false
timeout 120 systemctl is-system-running --wait >/dev/null 2>&1 || true

python3 - "$W" <<'PY'
import json, sys
w = sys.argv[1]
unit = "[Unit]\nDescription=op-dbus users bench %d\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n"
groups = {"ubg%02d" % g: {"gid": 3000 + g} for g in range(1, 21)}
users = {"ubu%02d" % u: {"uid": 4000 + u, "shell": "/bin/bash", "comment": "Bench user %d" % u,
                          "groups": ["ubg%02d" % u, "ubg%02d" % (u % 20 + 1)]} for u in range(1, 21)}
state = {"version": 1, "plugins": {
    "systemd": {"custom_units": {"ubench%d.service" % i: {"content": unit % i, "enabled": True}
                                 for i in range(1, 51)}},
    "users": {"groups": groups, "accounts": users}}}
json.dump(state, open(w + "/state.json", "w"), indent=1)
play = """- hosts: all
  connection: local
  gather_facts: false
  tasks:
    - name: 50 unit files
      ansible.builtin.copy:
        dest: "/etc/systemd/system/ubench{{ item }}.service"
        content: "[Unit]\\nDescription=op-dbus users bench {{ item }}\\n[Service]\\nExecStart=/bin/sleep infinity\\n[Install]\\nWantedBy=multi-user.target\\n"
        mode: "0644"
      loop: "{{ range(1, 51) | list }}"
    - name: 50 enables
      ansible.builtin.systemd:
        name: "ubench{{ item }}.service"
        enabled: true
      loop: "{{ range(1, 51) | list }}"
    - name: 20 groups
      ansible.builtin.group:
        name: "{{ item.key }}"
        gid: "{{ item.value.gid }}"
      loop: "{{ groups_ | dict2items }}"
    - name: 20 users
      ansible.builtin.user:
        name: "{{ item.key }}"
        uid: "{{ item.value.uid }}"
        shell: "{{ item.value.shell }}"
        comment: "{{ item.value.comment }}"
        groups: "{{ item.value.groups }}"
        append: false
      loop: "{{ users_ | dict2items }}"
  vars:
    groups_: %s
    users_: %s
""" % (json.dumps(groups), json.dumps(users))
open(w + "/play.yml", "w").write(play)
PY

ms() { echo $(( $(date +%s%N) / 1000000 )); }
reset() {  # back to the clean container: no unit, no account, no group of the benchmark
  local units=()
  for i in $(seq 1 50); do units+=("ubench$i.service"); done
  systemctl disable "${units[@]}" >/dev/null 2>&1 || true
  for u in "${units[@]}"; do rm -f "/etc/systemd/system/$u"; done
  systemctl daemon-reload
  for u in $(seq -w 1 20); do userdel -r "ubu$u" >/dev/null 2>&1 || true; done
  for g in $(seq -w 1 20); do groupdel "ubg$g" >/dev/null 2>&1 || true; done
}
verify() {  # the target state is there
  [ "$(systemctl is-enabled ubench50.service)" = enabled ] && getent passwd ubu20 >/dev/null &&
    [ "$(id -Gn ubu20 | tr ' ' '\n' | sort | tr '\n' ' ')" = "ubg01 ubg20 ubu20 " ]
}
PLAY=(ansible-playbook -i localhost, "$W/play.yml")
echo "ansible: $(ansible-playbook --version | head -1); op-dbus: $("$OPDBUS" --version)"

# Ansible: first apply once, then the no-op check.
reset
t=$(ms); "${PLAY[@]}" >"$W/ansible-apply.log" 2>&1; a_apply=$(( $(ms) - t ))
verify || { echo "Ansible's apply did not reach the state"; tail -30 "$W/ansible-apply.log"; exit 1; }
a_check=
for _ in $(seq 1 "$REPEATS"); do
  t=$(ms); "${PLAY[@]}" --check --diff >"$W/ansible-check.log" 2>&1; d=$(( $(ms) - t ))
  [ -z "$a_check" ] || [ "$d" -lt "$a_check" ] && a_check=$d
done
echo "ansible --check recap: $(grep -E 'localhost +:' "$W/ansible-check.log" | tr -s ' ')"
set +e
"$OPDBUS" plan "$W/state.json" >"$W/cross.log" 2>&1
cross=$?
set -e
echo "op-dbus plan of the equivalent state after Ansible's apply: exit $cross (0 = in sync)"

# op-dbus: first apply from the same clean container, then the no-op plan.
reset
t=$(ms); "$OPDBUS" apply "$W/state.json" >"$W/opdbus-apply.log" 2>&1; o_apply=$(( $(ms) - t ))
verify || { echo "op-dbus's apply did not reach the state"; tail -30 "$W/opdbus-apply.log"; exit 1; }
o_plan=
for _ in $(seq 1 "$REPEATS"); do
  t=$(ms)
  "$OPDBUS" plan "$W/state.json" >"$W/opdbus-plan.log" 2>&1 || { echo "op-dbus plan is not empty"; cat "$W/opdbus-plan.log"; exit 1; }
  d=$(( $(ms) - t ))
  [ -z "$o_plan" ] || [ "$d" -lt "$o_plan" ] && o_plan=$d
done
"${PLAY[@]}" --check >"$W/cross2.log" 2>&1 || true
echo "ansible --check after op-dbus's apply: $(grep -E 'localhost +:' "$W/cross2.log" | tr -s ' ')"
reset

ratio() { python3 -c "print('%.0fx' % ($1 / max($2, 1)))"; }
printf '\n%-44s %10s %10s %14s\n' "task (50 unit files, 50 enables, 20 groups, 20 users)" op-dbus Ansible "op-dbus faster"
printf '%-44s %8d ms %8d ms %14s\n' "first apply" "$o_apply" "$a_apply" "$(ratio "$a_apply" "$o_apply")"
printf '%-44s %8d ms %8d ms %14s\n' "no-op check (plan vs --check --diff), best of $REPEATS" "$o_plan" "$a_check" "$(ratio "$a_check" "$o_plan")"
