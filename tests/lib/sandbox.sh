# Running a test script inside `op-dbus sandbox` (a throwaway Debian 12 container with a real systemd and system
# bus) and passing its TAP through. Source after tests/lib/tap.sh.
#   sandbox_require                       skips the whole test (TAP "1..0 # SKIP") without root or systemd-nspawn
#   sandbox_tap WHAT OPDBUS ARGS...       runs `OPDBUS sandbox ARGS...` (an --exec that prints TAP) and prints
#                                         that TAP, then exits with the sandbox's status; when the sandbox did
#                                         not get as far as the tests, one failed test says why (WHAT names them)

sandbox_require() {
  [ "$(id -u)" = 0 ] || tap_skip_all "needs root"
  command -v systemd-nspawn >/dev/null 2>&1 || tap_skip_all "systemd-nspawn is not installed"
}

sandbox_tap() {
  local what=$1 opdbus=$2 dir rc
  shift 2
  dir=$(mktemp -d /tmp/opdbus-sandbox-tap.XXXXXX)
  "$opdbus" sandbox "$@" >"$dir/out" 2>"$dir/err"
  rc=$?
  if grep -qE '^1\.\.[0-9]+' "$dir/out"; then
    grep -E '^(ok|not ok|#|1\.\.)' "$dir/out"
    rm -rf "$dir"
    exit "$rc"
  fi
  not_ok "op-dbus sandbox ran $what (exit $rc)" "$(tail -n 40 "$dir/out" "$dir/err")"
  rm -rf "$dir"
  tap_done
  exit 1
}

# Inside the container, at the start of the script that --exec runs: skips the whole test unless it runs as
# root under a running systemd, then waits (up to 2 minutes) for the boot to finish.
sandbox_inside() {
  [ "$(id -u)" = 0 ] || tap_skip_all "needs root"
  [ -d /run/systemd/system ] || tap_skip_all "systemd is not running here"
  timeout 120 systemctl is-system-running --wait >/dev/null 2>&1 || true
}
