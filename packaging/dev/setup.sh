#!/usr/bin/env bash
# Idempotent set-up for a Debian 12 machine: the system packages from apt-packages.txt, the
# unprivileged greeter user, and `npm ci` when node_modules does not match package-lock.json.
# Every README command runs this first; a second run costs well under a second. `--base`: what
# the demo needs only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
log() { printf 'setup: %s\n' "$*" >&2; }

# `--base`: only the base group (npm run demo), not the VM's QEMU, kernel and image tools
if [ "${1:-}" = --base ]; then
  list=$(sed -n '1,/^# group: vm/p' "$here/apt-packages.txt")
else
  list=$(cat "$here/apt-packages.txt")
fi
want=$(printf '%s\n' "$list" | sed -e 's/#.*//' -e '/^[[:space:]]*$/d')
missing=()
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    log "missing packages: ${missing[*]}; run this script as root (sudo $0)"
    exit 1
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # the list may be old or absent on a fresh machine: refresh once, then install
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# cage refuses to run as root, and the greeter must not: a system user owns the display stack,
# as GDM uses 'gdm'.
if ! getent passwd foyer-greeter >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin foyer-greeter
    log "created system user foyer-greeter"
  else
    log "user foyer-greeter is missing; run this script as root"; exit 1
  fi
fi
# seatd (the VM's compositor) hands the seat to members of 'video'
getent group video >/dev/null && usermod -a -G video foyer-greeter 2>/dev/null || true

cd "$top"
stamp=node_modules/.foyer-lock.sha256
sum=$(sha256sum package-lock.json package.json | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$sum" > "$stamp"
fi
# the bundles (daemon and greeter UI) are rebuilt when a source is newer than them
node packaging/dev/build.mjs --if-stale
