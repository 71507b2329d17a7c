#!/bin/bash
# The op-dbus installer, run at boot by opdbus-installer.service in the live system from the live medium
# (/run/live/medium/opdbus): finds the state document, shows what it will do, waits for the operator to abort,
# runs `op-dbus bootstrap`, copies its log into the installed system and powers off or reboots as the document
# says. Anything that stops it prints "op-dbus installer: STOPPED: ..." and starts root shells on the consoles.
# Kernel command line: opdbus.state=PATH | opdbus.state=DEVICE:PATH (DEVICE may be LABEL=... or UUID=...),
# opdbus.wait=SECONDS (0: at once; -1: never install, only a shell).
set -u
M=${OPDBUS_MEDIUM:-/run/live/medium/opdbus}
LOG=/run/opdbus-install.log
STATE_MNT=/run/opdbus-state
CACHE_MNT=/run/opdbus-cache
DEB=$M/op-dbus.deb
: >"$LOG"

# Everything goes to the log and to every console the kernel writes to (tty0 is the first virtual terminal).
CONSOLES=()
for c in $(cat /sys/class/tty/console/active 2>/dev/null); do
  case $c in tty0) CONSOLES+=(/dev/tty1) ;; *) CONSOLES+=("/dev/$c") ;; esac
done
[ ${#CONSOLES[@]} -gt 0 ] || CONSOLES=(/dev/console)
exec > >(tee -a "$LOG" "${CONSOLES[@]}" >/dev/null 2>&1) 2>&1

say() { echo "op-dbus installer: $*"; }
rule() { echo "=================================================================================="; }

# stop MESSAGE...: the message, then a root shell on every console; nothing more is done.
stop() {
  echo
  rule
  say "STOPPED: $1"
  shift
  for line in "$@"; do echo "  $line"; done
  say "the log is $LOG; a root shell is open on this console"
  rule
  sleep 1
  for c in "${CONSOLES[@]}"; do
    local name=${c#/dev/}
    case $name in
      ttyS*) setsid -f /sbin/agetty --autologin root --noclear -L 115200 "$name" vt100 ;;
      *) setsid -f /sbin/agetty --autologin root --noclear "$name" linux ;;
    esac
  done
  exit 0
}

cmdline_value() {  # cmdline_value KEY: the value of KEY=... on the kernel command line
  local w
  for w in $(cat /proc/cmdline); do
    case $w in "$1="*) echo "${w#*=}"; return 0 ;; esac
  done
  return 1
}

# find_label LABEL: the device carrying a filesystem labelled LABEL, waiting a little for udev.
find_label() {
  local i dev
  for i in 1 2 3 4 5; do
    dev=$(blkid -L "$1" 2>/dev/null) && { echo "$dev"; return 0; }
    udevadm settle 2>/dev/null
    sleep 1
  done
  return 1
}

clear_screen() { for c in "${CONSOLES[@]}"; do case $c in /dev/tty[0-9]*) printf '\033[2J\033[H' >"$c" ;; esac; done; }

clear_screen
rule
say "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r)"
rule

# ---- op-dbus from the medium ------------------------------------------------------------------------------------
[ -f "$DEB" ] || stop "$DEB is missing: this ISO was not made by installer/build-iso"
if ! dpkg -i "$DEB" >/run/opdbus-dpkg.log 2>&1; then
  cat /run/opdbus-dpkg.log
  stop "op-dbus does not install from $DEB (dpkg's words above)"
fi
say "$(op-dbus --version 2>&1 | head -n1)"

# ---- the state document ---------------------------------------------------------------------------------------
STATE= SOURCE=
if spec=$(cmdline_value opdbus.state); then
  SOURCE="the kernel command line (opdbus.state=$spec)"
  case $spec in
    /*) STATE=$spec ;;
    *:*)
      dev=${spec%%:*} path=${spec#*:}
      case $dev in LABEL=*|UUID=*) dev=$(findfs "$dev" 2>/dev/null) || dev= ;; esac
      [ -n "$dev" ] && [ -b "$dev" ] || stop "opdbus.state=$spec: the device ${spec%%:*} is not there" \
        "disks: $(lsblk -dno NAME,SIZE,LABEL | tr '\n' ';')"
      mkdir -p "$STATE_MNT"
      mount -o ro "$dev" "$STATE_MNT" || stop "opdbus.state=$spec: $dev does not mount"
      STATE=$STATE_MNT/${path#/} ;;
    *) stop "opdbus.state=$spec: give an absolute path or DEVICE:PATH" ;;
  esac
elif dev=$(find_label OPDBUS-STATE); then
  SOURCE="the drive labelled OPDBUS-STATE ($dev)"
  mkdir -p "$STATE_MNT"
  mount -o ro "$dev" "$STATE_MNT" || stop "the drive labelled OPDBUS-STATE ($dev) does not mount"
  STATE=$STATE_MNT/state.json
elif [ -f "$M/state.json" ]; then
  SOURCE="the ISO"
  STATE=$M/state.json
else
  stop "no state document: this ISO carries none, the kernel command line has no opdbus.state=, and no drive" \
    "is labelled OPDBUS-STATE (a filesystem with state.json at its top)"
fi
[ -f "$STATE" ] || stop "the state document $STATE (from $SOURCE) does not exist"
say "state document: $STATE (from $SOURCE)"
if ! op-dbus validate "$STATE" >/run/opdbus-validate.log 2>&1; then
  cat /run/opdbus-validate.log
  stop "the state document is not valid (op-dbus validate's words above)"
fi
DEVICE=$(jq -r '.bootstrap.device // empty' "$STATE")
[ -n "$DEVICE" ] || stop "the state document has no bootstrap.device: the installer does not guess the target disk"
HOST=$(jq -r '(.bootstrap.hostname // "debian") + (if .bootstrap.domain then "." + .bootstrap.domain else "" end)' "$STATE")
WIPE=$(jq -r --arg d "$DEVICE" '.plugins.storage.devices[$d].wipe // false' "$STATE")
FINISH=$(jq -r '.bootstrap.finish // "nothing"' "$STATE")

# ---- the first screen -----------------------------------------------------------------------------------------
echo
say "target disk: $DEVICE"
say "hostname:    $HOST"
say "wipe:        $WIPE"
say "at the end:  $FINISH"

if [ ! -b "$DEVICE" ]; then
  stop "the target disk $DEVICE is missing" "disks here: $(lsblk -dno NAME,SIZE,MODEL 2>/dev/null | tr -s ' ' | paste -sd';')"
fi
say "             $(lsblk -dno SIZE,MODEL "$DEVICE" 2>/dev/null | tr -s ' ')"
holds=$(blkid -p -o export "$DEVICE" 2>/dev/null | grep -E '^(PTTYPE|TYPE)=' | paste -sd' ')
if [ -n "$holds" ] && [ "$WIPE" != true ]; then
  stop "the target disk $DEVICE holds data ($holds) and the document does not say \"wipe\": true for it;" \
    "nothing was written. To install over it, set plugins.storage.devices[\"$DEVICE\"].wipe to true."
fi
[ -n "$holds" ] && say "             holds $holds: it will be WIPED (the document says \"wipe\": true)"

# The network (DHCP by systemd-networkd) and its resolver: the packages come from the document's mirror.
if ! grep -q '^nameserver' /etc/resolv.conf 2>/dev/null; then
  for f in /run/systemd/resolve/stub-resolv.conf /run/systemd/resolve/resolv.conf; do
    [ -f "$f" ] && ln -sf "$f" /etc/resolv.conf && break
  done
fi
say "network:     $(ip -4 -o addr show scope global 2>/dev/null | awk '{print $2, $4}' | paste -sd' ' | grep . || echo none)"

# A package cache drive makes a repeated install fast (bootstrap --cache-dir).
CACHE_ARGS=()
if dev=$(blkid -L OPDBUS-CACHE 2>/dev/null); then
  mkdir -p "$CACHE_MNT"
  if mount "$dev" "$CACHE_MNT"; then
    CACHE_ARGS=(--cache-dir "$CACHE_MNT")
    say "package cache: $dev (labelled OPDBUS-CACHE)"
  fi
fi

echo
say "the plan (op-dbus bootstrap --dry-run):"
op-dbus bootstrap --dry-run --deb "$DEB" "${CACHE_ARGS[@]}" "$STATE" 2>&1 | sed 's/^/  /'

# ---- the pause --------------------------------------------------------------------------------------------------
# The kernel command line wins over the document, which wins over build-iso --wait.
if ! WAIT=$(cmdline_value opdbus.wait); then
  WAIT=$(jq -r '.bootstrap.installer.wait // empty' "$STATE")
  [ -n "$WAIT" ] || WAIT=$(sed -n 's/^wait=//p' "$M/config" 2>/dev/null)
fi
[[ ${WAIT:-} =~ ^-?[0-9]+$ ]] || WAIT=10
[ "$WAIT" -lt 0 ] && stop "opdbus.wait=$WAIT: nothing is installed" "to install: op-dbus bootstrap --deb $DEB $STATE"
if [ "$WAIT" -gt 0 ]; then
  echo
  say "installing onto $DEVICE in $WAIT seconds; press Enter on this console to abort"
  for ((left = WAIT; left > 0; left--)); do
    for c in "${CONSOLES[@]}"; do
      if read -r -t 0.5 _ <"$c" 2>/dev/null; then
        stop "aborted by the operator: nothing was written to $DEVICE"
      fi
    done
    ((left % 10 == 0 || left <= 5)) && say "  $left s"
  done
fi

# ---- the install ------------------------------------------------------------------------------------------------
echo
rule
say "installing onto $DEVICE"
rule
ARGS=(--no-finish --deb "$DEB" "${CACHE_ARGS[@]}")
[ "$WIPE" = true ] && ARGS+=(--allow-destructive)
start=$(date +%s)
op-dbus bootstrap "${ARGS[@]}" "$STATE" 2>&1
rc=$?
[ "$rc" = 0 ] || stop "op-dbus bootstrap failed (exit status $rc): its words are above" \
  "after fixing the cause, run again: op-dbus bootstrap ${ARGS[*]} $STATE"
say "installed in $(($(date +%s) - start)) s"
rule
say "DONE: $HOST is installed on $DEVICE"
rule

# ---- the log into the installed system ---------------------------------------------------------------------------
read -r ROOTDEV SUBVOL < <(jq -r '.plugins.storage as $s |
  if $s.mounts["/"] then [$s.mounts["/"].device, ($s.mounts["/"].subvol // "-")]
  else ([($s.btrfs_subvolumes // {}) | to_entries[] | .key as $d | .value[] | select(.mount == "/") | [$d, .name]]
      + [($s.devices // {}) | to_entries[] | .key as $d | .value.partitions[]? | select(.mount == "/")
         | [$d + (if ($d | test("[0-9]$")) then "p" else "" end) + (.number | tostring), "-"]]) | first end
  | @tsv' "$STATE")
mkdir -p /run/opdbus-installed
sleep 1  # tee writes the log behind the consoles
opts=rw
[ "${SUBVOL:--}" != - ] && opts=rw,subvol=$SUBVOL
if [ -n "${ROOTDEV:-}" ] && mount -o "$opts" "$ROOTDEV" /run/opdbus-installed; then
  mkdir -p /run/opdbus-installed/var/log
  cp "$LOG" /run/opdbus-installed/var/log/op-dbus-install.log
  chmod 0600 /run/opdbus-installed/var/log/op-dbus-install.log
  umount /run/opdbus-installed
  say "the log is in the installed system: /var/log/op-dbus-install.log"
else
  say "could not mount the installed root (${ROOTDEV:-?}); the log stays in $LOG only"
fi
sync

case $FINISH in
  poweroff) say "powering off (\"finish\": \"poweroff\")"; sleep 2; systemctl poweroff ;;
  reboot)
    say "rebooting (\"finish\": \"reboot\"); the medium is ejected so the disk boots"
    eject /run/live/medium 2>/dev/null || true
    sleep 2; systemctl reboot ;;
  *) stop "installed; the document says \"finish\": \"nothing\", so the machine stays up" ;;
esac
