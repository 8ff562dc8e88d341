#!/bin/bash
# dracut module for foyer: node, foyer's bundles, its two native addons, the display stack
# (cage + cog/WPE + seatd), fonts, XKB data and the initrd unit. Installing it into an image:
#   dracut --add foyer …   (with this directory as /usr/lib/dracut/modules.d/91foyer)
# FOYER_SRC (default /usr/lib/foyer) is where the built tree is taken from.

check() {
    require_binaries node cage cog seatd || return 1
    return 255 # only when asked for
}

depends() {
    echo systemd systemd-ask-password systemd-modules-load crypt
}

installkernel() {
    # keyboards and pointers for the compositor: evdev binds to every input device and is not
    # loaded by modalias, so it is listed in modules-load.d below
    instmods evdev atkbd i8042 psmouse serio_raw virtio_input hid_generic usbhid drm virtio_gpu
    # a split image's payload (packaging/erofs): erofs under an overlay, from a disk or a file
    instmods erofs overlay loop
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
    local src="${FOYER_SRC:-/usr/lib/foyer}"
    local lib=/usr/lib/x86_64-linux-gnu

    inst_binary /usr/bin/node
    # no sh here: dracut's base module sets /bin/sh (bash), and installing the host's (dash) over it
    # would change the shell every dracut script runs under
    inst_multiple cage cog seatd prlimit fsck e2fsck fsck.ext4 sulogin setxkbmap mount umount \
        systemd-tty-ask-password-agent
    inst_multiple -o Xwayland /lib/systemd/systemd-reply-password

    # foyer itself: the bundles, the UI, the profiles
    inst_dir /usr/lib/foyer
    local f
    for f in "$src"/dist/*.mjs; do inst_simple "$f" "/usr/lib/foyer/$(basename "$f")"; done
    # the UI: app.js, app.css and the lazily loaded chunks
    for f in "$src"/dist/ui/*.js "$src"/dist/ui/*.css; do inst_simple "$f" "/usr/lib/foyer/dist/ui/$(basename "$f")"; done
    mkdir -p "$initdir/usr/lib/foyer/assets"
    cp -a "$src/assets/." "$initdir/usr/lib/foyer/assets/" # with themes/ and locales
    for f in "$src"/profiles/*.json; do inst_simple "$f" "/usr/lib/foyer/profiles/$(basename "$f")"; done
    # the native addons the bundle leaves external, with what they require at run time
    local m
    for m in unix-dgram bindings file-uri-to-path node-pty; do
        [ -d "$src/node_modules/$m" ] || continue
        (cd "$src" && find "node_modules/$m" \( -name '*.js' -o -name '*.json' -o -name '*.node' \) \
            -not -path '*/test/*' -not -path '*/src/*' -not -path '*/deps/*' -not -path '*/obj.target/*' -print) |
        while read -r f; do inst_simple "$src/$f" "/usr/lib/foyer/$f"; done
    done

    # cog loads its platform and WPE's backend with dlopen: ldd does not see them, and
    # inst_libdir_file copies the file alone, so each comes with its own libraries.
    local so
    for so in cog/modules/libcogplatform-wl.so cog/modules/libcogplatform-drm.so libWPEBackend-fdo-1.0.so.1 \
        wpe-webkit-1.1/injected-bundle/libWPEInjectedBundle.so; do
        inst_with_deps "$lib/$so"
    done
    inst_simple "$lib/libWPEBackend-fdo-1.0.so"
    inst_multiple "$lib"/wpe-webkit-1.1/WPEWebProcess "$lib"/wpe-webkit-1.1/WPENetworkProcess
    # no GIO modules: the greeter is plain http on loopback (no TLS, no proxy), and GNOME's proxy
    # module aborts WebKit's network process when the initramfs has no GSettings schemas
    # WPE renders through EGL even when cage composes with pixman: Mesa's software and virtio
    # drivers, found by libglvnd through its vendor file
    for so in libEGL_mesa.so.0 libgbm.so.1 libglapi.so.0 dri/swrast_dri.so dri/kms_swrast_dri.so dri/virtio_gpu_dri.so; do
        inst_with_deps "$lib/$so"
    done
    inst_multiple -o /usr/share/glvnd/egl_vendor.d/50_mesa.json

    # libinput finds devices through udev's input_id properties, and reads its quirks
    inst_rules 60-input-id.rules 60-persistent-input.rules 60-drm.rules 70-uaccess.rules
    inst_dir /usr/share/libinput
    cp -a /usr/share/libinput/. "$initdir/usr/share/libinput/" 2>/dev/null
    mkdir -p "$initdir/etc/modules-load.d"
    echo evdev > "$initdir/etc/modules-load.d/foyer.conf"

    # fonts and XKB data: what the greeter draws text with and types with
    inst_multiple -o /etc/fonts/fonts.conf
    inst_dir /etc/fonts/conf.d
    for f in /etc/fonts/conf.d/*; do inst_simple "$(readlink -f "$f")" "$f" 2>/dev/null; done
    inst_multiple /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf \
        /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf
    inst_dir /usr/share/X11/xkb
    cp -a /usr/share/X11/xkb/. "$initdir/usr/share/X11/xkb/"
    # the layout and language this machine was set up with, so what the person types at the
    # prompt is what they set (dracut's i18n module copies these only in host-only mode);
    # kbd-model-map turns a console KEYMAP into an X layout, as localectl does
    inst_multiple -o /etc/vconsole.conf /etc/locale.conf /usr/share/systemd/kbd-model-map

    # chromium's kiosk policy is not installed here: foyerd writes it at start (profile key
    # greeter.chromiumPolicyDir, set in the x11 profile), as root into the image's writable /etc,
    # because it names the greeter's port, known only once the server listens. cog, the image's
    # browser, is locked by the content filter foyerd writes beside it.

    # the unprivileged greeter user (cage refuses root), numeric ids as on the build host
    local pw gr
    pw=$(getent passwd foyer-greeter) && gr=$(getent group foyer-greeter) || { derror "foyer: no foyer-greeter user on the build host"; return 1; }
    grep -q '^foyer-greeter:' "$initdir/etc/passwd" 2>/dev/null || echo "$pw" >> "$initdir/etc/passwd"
    grep -q '^foyer-greeter:' "$initdir/etc/group" 2>/dev/null || echo "$gr" >> "$initdir/etc/group"

    # the payload of a split image (packaging/erofs/foyer-split-initrd keeps these in the small part)
    inst_multiple blockdev head sha256sum
    inst_simple "$moddir/foyer-payload-mount.sh" /usr/lib/foyer/payload-mount
    [ -f "$moddir/foyer-payload.service" ] && inst_simple "$moddir/foyer-payload.service" "$systemdsystemunitdir/foyer-payload.service"
    [ -f "$moddir/systemd/foyer-payload.service" ] && inst_simple "$moddir/systemd/foyer-payload.service" "$systemdsystemunitdir/foyer-payload.service"
    $SYSTEMCTL -q --root "$initdir" add-wants sysinit.target foyer-payload.service

    # the unit sits beside this file in an installed module (packaging/systemd/initrd/ in the source)
    inst_simple "$moddir/foyer.service" "$systemdsystemunitdir/foyer.service"
    $SYSTEMCTL -q --root "$initdir" add-wants sysinit.target foyer.service
    # automatic recovery: a failed fsck (OnFailure=) or emergency mode calls foyerctl through
    # foyer-recovery@.service (packaging/systemd/initrd/ in the source, systemd/ here)
    if [ -d "$moddir/systemd" ]; then
        inst_simple "$moddir/systemd/foyer-recovery@.service" "$systemdsystemunitdir/foyer-recovery@.service"
        local d
        for d in systemd-fsck@.service.d systemd-fsck-root.service.d emergency.service.d; do
            inst_simple "$moddir/systemd/$d/foyer-recovery.conf" "$systemdsystemunitdir/$d/foyer-recovery.conf"
        done
    fi
}
