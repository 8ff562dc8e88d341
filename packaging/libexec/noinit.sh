# foyer in an image whose init is a shell script, not systemd (initramfs-tools' init-premount and
# init-bottom, mkinitcpio's busybox `foyer` hook): sourced by them, never run. Nothing restarts
# foyerd there but its keeper, and cryptsetup's askers find foyer through `plymouth --ping`.
# rd.foyer=0 on the kernel command line leaves the image as if foyer were not in it.

FOYER_NOINIT_PID=/run/foyer/noinit.pid

# foyer_start: starts foyerd under its keeper once udev has the devices (DRM, input) and returns
# when it answers on Plymouth's socket, or says on the console that it does not (the askers then
# ask there). Returns 1 when foyer is off or absent.
foyer_start() {
    local a i
    for a in $(cat /proc/cmdline); do
        [ "$a" = rd.foyer=0 ] && return 1
    done
    [ -x /usr/bin/node ] || return 1

    # what systemd would have mounted: WebKit and the compositor share memory through /dev/shm
    mkdir -p /dev/shm /tmp /run/foyer
    grep -q ' /dev/shm ' /proc/self/mounts || mount -t tmpfs -o mode=1777,nosuid,nodev shm /dev/shm
    # what systemd-modules-load would have loaded (the image's list, where its generator has none)
    [ -s /usr/lib/foyer/load-modules ] && modprobe -a -q $(cat /usr/lib/foyer/load-modules)

    # No systemd, no bus: foyer starts the greeter itself; its log goes to the console as under
    # systemd. No core files, as foyer.service's LimitCORE=0: what foyerd starts inherits the limit
    # (a crashing browser's core would hold the prompt's memory). The keeper (`foyerd keep`) starts
    # foyerd again when it dies and holds Plymouth's sockets meanwhile, so that the asker's next
    # request waits for the new foyerd instead of going to the console. The state tmpfs survives.
    (ulimit -c 0 && FOYER_MAIN=foyerd FOYER_KEEPER_PIDFILE=/run/foyer/foyerd.pid \
        exec /usr/bin/node --max-semi-space-size=1 /usr/lib/foyer/foyerd.mjs keep -- --profile wayland --bus none \
        </dev/null >/dev/console 2>&1) &
    echo $! > "$FOYER_NOINIT_PID"

    # the askers fall back to the console when `plymouth --ping` fails: wait for foyer's socket
    i=0
    while ! /usr/bin/plymouth --ping 2>/dev/null; do
        i=$((i + 1))
        if [ "$i" -gt 600 ] || ! kill -0 "$(cat "$FOYER_NOINIT_PID")" 2>/dev/null; then
            echo "foyer: not answering on Plymouth's socket: passphrases are asked on the console" > /dev/console
            break
        fi
        sleep 0.1
    done
    return 0
}

# foyer_stop: foyer ends before the real root starts (its display manager takes the display): the
# keeper stops foyerd (SIGTERM), which stops the greeter; after five seconds both are killed. /run,
# with foyer's state tmpfs, moves into the real root, where foyer-flush.service keeps what must
# persist.
foyer_stop() {
    local pid i
    [ -f "$FOYER_NOINIT_PID" ] || return 0
    pid=$(cat "$FOYER_NOINIT_PID")
    kill -TERM "$pid" 2>/dev/null
    i=0
    while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid"
        [ -s /run/foyer/foyerd.pid ] && kill -KILL "$(cat /run/foyer/foyerd.pid)" 2>/dev/null
    fi
    rm -f "$FOYER_NOINIT_PID" /run/foyer/foyerd.pid
    umount /dev/shm 2>/dev/null
    return 0
}
