# For tests that apply to the live system (in namespaces of their own): the journal they write must not be the
# host's. Call `private_journal "$0" "$@"` before anything else: as root, the script runs again in a private
# mount namespace with a tmpfs over /var/lib/op-dbus (prints a TAP skip where that cannot be done: no unshare,
# no mount). Without root it does nothing: such a run applies nothing live.
private_journal() {
  local script=$1
  shift
  [ "$(id -u)" -eq 0 ] || return 0
  if [ -z "${OPDBUS_TEST_PRIVATE_JOURNAL:-}" ]; then
    command -v unshare >/dev/null || { echo "1..0 # SKIP unshare not installed (util-linux)"; exit 0; }
    export OPDBUS_TEST_PRIVATE_JOURNAL=1
    exec unshare -m --propagation private "$script" "$@"
  fi
  mkdir -p /var/lib/op-dbus
  mount -t tmpfs -o mode=0700 opdbus-test-journal /var/lib/op-dbus || {
    echo "1..0 # SKIP cannot mount a private /var/lib/op-dbus"
    exit 0
  }
}
