#!/bin/bash
# dracut module for foyer: node, foyer's bundles, its two native addons, the display stacks
# (FOYER_STACKS: "wayland", the default, is cage + cog/WPE + seatd; "x11" is Xorg + chromium; both
# with "wayland x11"), fonts, XKB data and the initrd unit. Installing it into an image:
#   dracut --add foyer …   (with this directory as /usr/lib/dracut/modules.d/91foyer)
#   FOYER_STACKS=x11 dracut --add foyer …   (for profiles/x11.json: rd.foyer.profile=x11)
# FOYER_SRC (default /usr/lib/foyer) is where the built tree is taken from.

# whether FOYER_STACKS names stack $1
foyer_stack() {
    case " ${FOYER_STACKS:-wayland} " in *" $1 "*) return 0 ;; esac
    return 1
}

check() {
    require_binaries node || return 1
    if foyer_stack wayland; then require_binaries cage cog seatd || return 1; fi
    if foyer_stack x11; then require_binaries Xorg xkbcomp /usr/lib/chromium/chromium || return 1; fi
    return 255 # only when asked for
}

depends() {
    # dbus: dracut's meta module, dbus-broker or dbus-daemon as the build host has; foyer's
    # org.foyer.Supervisor1 (foyerctl, RestartGreeter) and systemd's signals go over it
    echo systemd systemd-ask-password systemd-modules-load crypt dbus
}

# the lists shared with the initramfs-tools hook: beside this file in an installed module, or in
# the source tree FOYER_SRC points at
foyer_lists() {
    local f
    for f in "$moddir/foyer-image.sh" "${FOYER_SRC:-/usr/lib/foyer}/packaging/foyer-image.sh"; do
        [ -f "$f" ] && { . "$f"; return 0; }
    done
    derror "foyer: foyer-image.sh not found beside the module nor under FOYER_SRC"
    return 1
}

installkernel() {
    foyer_lists || return 1
    # shellcheck disable=SC2086
    instmods $FOYER_KMODS
    # a split image's payload (packaging/erofs): erofs under dm-verity and an overlay, from a disk
    # or a file
    instmods erofs overlay loop dm_verity
}

# a library loaded with dlopen, with every library it needs: ldd on the build host, since
# dracut follows the dependencies of executables only
inst_with_deps() {
    local f=$1 d
    inst_library "$f"
    for d in $(ldd "$f" 2>/dev/null | awk '/=> \// {print $3}'); do
        inst_library "$d"
    done
}

install() {
    foyer_lists || return 1
    local src="${FOYER_SRC:-/usr/lib/foyer}" f t so

    # shellcheck disable=SC2086
    inst_multiple $FOYER_BINARIES
    # shellcheck disable=SC2086
    inst_multiple -o $FOYER_OPTIONAL_BINARIES
    if foyer_stack wayland; then
        # shellcheck disable=SC2086
        inst_multiple $FOYER_WAYLAND_BINARIES
        # shellcheck disable=SC2086
        inst_multiple -o $FOYER_WAYLAND_OPTIONAL_BINARIES
        for so in $FOYER_DLOPEN; do inst_with_deps "$FOYER_LIBDIR/$so"; done
        for so in $FOYER_LIBDIR_FILES; do inst_simple "$FOYER_LIBDIR/$so"; done
        for so in $FOYER_LIBDIR_EXECUTABLES; do inst_multiple "$FOYER_LIBDIR/$so"; done
    fi
    if foyer_stack x11; then
        # shellcheck disable=SC2086
        inst_multiple $FOYER_X11_BINARIES $FOYER_CHROMIUM_BINARIES
        for so in $FOYER_X11_MODULES; do inst_with_deps "/usr/lib/xorg/modules/$so"; done
        for so in $FOYER_CHROMIUM_DLOPEN; do inst_with_deps "$so"; done
        # shellcheck disable=SC2086
        inst_multiple $FOYER_X11_DATA_FILES $FOYER_CHROMIUM_FILES
        # the profile's "chromium" is the binary itself: chromium finds its resources beside it
        ln_r /usr/lib/chromium/chromium /usr/bin/chromium
        mkdir -p "$initdir/etc/udev/rules.d"
        foyer_x11_udev_rules foyer-greeter > "$initdir/etc/udev/rules.d/70-foyer-x11.rules"
    fi
    # recovery (sulogin, fsck) and systemd's own agents, which only this generator's images run;
    # no sh here: dracut's base module sets /bin/sh (bash), and installing the host's (dash) over
    # it would change the shell every dracut script runs under
    inst_multiple fsck e2fsck fsck.ext4 sulogin mount umount systemd-tty-ask-password-agent
    inst_multiple -o /lib/systemd/systemd-reply-password
    # systemd-fsckd: the checks' progress, which it reports to Plymouth's socket, served by foyer.
    # The initrd's systemd-fsck-root.service is the fstab generator's, which does not want the
    # socket: sockets.target does
    inst_multiple -o "$systemdutildir/systemd-fsckd" "$systemdsystemunitdir/systemd-fsckd.service" "$systemdsystemunitdir/systemd-fsckd.socket"
    [ -f "$initdir$systemdsystemunitdir/systemd-fsckd.socket" ] && $SYSTEMCTL -q --root "$initdir" add-wants sockets.target systemd-fsckd.socket

    inst_dir /usr/lib/foyer
    foyer_own_files "$src" | while read -r f t; do inst_simple "$f" "$t"; done
    # shellcheck disable=SC2086
    inst_multiple -o $FOYER_DATA_FILES
    for t in $FOYER_DATA_TREES; do
        inst_dir "$t"
        cp -a "$t/." "$initdir$t/" 2>/dev/null
    done
    inst_dir /etc/fonts/conf.d
    foyer_fontconfig_files | while read -r f t; do inst_simple "$f" "$t" 2>/dev/null; done
    # shellcheck disable=SC2086
    inst_rules $FOYER_UDEV_RULES
    mkdir -p "$initdir/etc/modules-load.d"
    # shellcheck disable=SC2086
    printf '%s\n' $FOYER_LOAD_KMODS > "$initdir/etc/modules-load.d/foyer.conf"

    # chromium's kiosk policy is not installed here: foyerd writes it at start (profile key
    # greeter.chromiumPolicyDir, set in the x11 profile), as root into the image's writable /etc,
    # because it names the greeter's port, known only once the server listens. cog, the image's
    # browser, is locked by the content filter foyerd writes beside it.

    # the unprivileged greeter user (cage refuses root), numeric ids as on the build host
    local entries pw gr
    entries=$(foyer_greeter_entries) || { derror "foyer: no foyer-greeter user on the build host"; return 1; }
    pw=$(echo "$entries" | sed -n 1p)
    gr=$(echo "$entries" | sed -n 2p)
    grep -q '^foyer-greeter:' "$initdir/etc/passwd" 2>/dev/null || echo "$pw" >> "$initdir/etc/passwd"
    grep -q '^foyer-greeter:' "$initdir/etc/group" 2>/dev/null || echo "$gr" >> "$initdir/etc/group"

    # the payload of a split image (packaging/erofs/foyer-split-initrd keeps these in the small part)
    inst_multiple blockdev veritysetup
    inst_simple "$moddir/foyer-payload-mount.sh" /usr/lib/foyer/payload-mount

    # the unit sits beside this file in an installed module (packaging/systemd/initrd/ in the source)
    inst_simple "$moddir/foyer.service" "$systemdsystemunitdir/foyer.service"
    $SYSTEMCTL -q --root "$initdir" add-wants sysinit.target foyer.service
    # dracut's dbus modules install the socket without enabling it; foyerd connects once it exists
    $SYSTEMCTL -q --root "$initdir" add-wants sockets.target dbus.socket
    # automatic recovery: a failed fsck (OnFailure=) or emergency mode calls foyerctl through
    # foyer-recovery@.service; and the split image's payload unit (packaging/systemd/initrd/ in the
    # source, systemd/ here)
    if [ -d "$moddir/systemd" ]; then
        inst_simple "$moddir/systemd/foyer-recovery@.service" "$systemdsystemunitdir/foyer-recovery@.service"
        # installed, not wanted: packaging/erofs/foyer-split-initrd pulls it in, in the split image only
        inst_simple "$moddir/systemd/foyer-payload.service" "$systemdsystemunitdir/foyer-payload.service"
        # foyer's first frame, drawn by foyer-splash before node has loaded foyerd: for cage only,
        # which takes the VT from seatd as it is; Xorg, switching to its own VT, hung behind a VT
        # left in graphics mode (test/vm/x11)
        if foyer_stack wayland; then
            inst_simple "$moddir/systemd/foyer-frame.service" "$systemdsystemunitdir/foyer-frame.service"
            $SYSTEMCTL -q --root "$initdir" add-wants foyer.service foyer-frame.service
        fi
        local d
        # Plymouth's name held by systemd for foyerd, where no plymouthd would take it
        if ! dracut_module_included plymouth; then
            inst_simple "$moddir/systemd/foyer-plymouth.socket" "$systemdsystemunitdir/foyer-plymouth.socket"
            $SYSTEMCTL -q --root "$initdir" add-wants foyer.service foyer-plymouth.socket
            # foyer writes /run/plymouth/pid (plymouth.pidFile) so that systemd-fsckd reports to
            # it; systemd's Plymouth agent would then hand every password request to foyer a
            # second time, when foyer already answers them from the ask directory
            $SYSTEMCTL -q --root "$initdir" mask systemd-ask-password-plymouth.path systemd-ask-password-plymouth.service
        fi
        for d in systemd-fsck@.service.d systemd-fsck-root.service.d emergency.service.d; do
            inst_simple "$moddir/systemd/$d/foyer-recovery.conf" "$systemdsystemunitdir/$d/foyer-recovery.conf"
        done
    fi
}
