# What foyer needs inside an initramfs, for every generator: sourced by the dracut module
# (packaging/dracut/91foyer/module-setup.sh) and the initramfs-tools hook
# (packaging/initramfs-tools/hooks/foyer), each of which copies with its own tools.
# Paths are Debian's (multiarch x86_64).

FOYER_LIBDIR=/usr/lib/x86_64-linux-gnu

# executables, each with the libraries ldd names
# setpriv: what foyer starts dies with foyerd (--pdeathsig; src/launch/direct.ts)
FOYER_BINARIES="/usr/bin/node /usr/bin/cage /usr/bin/cog /usr/sbin/seatd /usr/bin/prlimit /usr/bin/setxkbmap /usr/bin/setpriv"
# grim takes the greeter's last frame at switch-root (src/display/handoff.ts; without it the screen
# is left black); keyctl puts an opened disk's passphrase in the keyring (keyring.enabled)
FOYER_OPTIONAL_BINARIES="/usr/bin/Xwayland /usr/bin/grim /usr/bin/keyctl"

# loaded with dlopen, so ldd does not see them: each with the libraries it needs itself.
# cog's platforms and WPE's backend; WPE renders through EGL even when cage composes with pixman:
# Mesa's software and virtio drivers, found by libglvnd through its vendor file.
# No GIO modules: the greeter is plain http on loopback (no TLS, no proxy), and GNOME's proxy
# module aborts WebKit's network process when the initramfs has no GSettings schemas.
FOYER_DLOPEN="cog/modules/libcogplatform-wl.so cog/modules/libcogplatform-drm.so libWPEBackend-fdo-1.0.so.1
  wpe-webkit-1.1/injected-bundle/libWPEInjectedBundle.so
  libEGL_mesa.so.0 libgbm.so.1 libglapi.so.0 dri/swrast_dri.so dri/kms_swrast_dri.so dri/virtio_gpu_dri.so"
# found by name (the unversioned link), and WebKit's helper processes (executables in the libdir)
FOYER_LIBDIR_FILES="libWPEBackend-fdo-1.0.so"
FOYER_LIBDIR_EXECUTABLES="wpe-webkit-1.1/WPEWebProcess wpe-webkit-1.1/WPENetworkProcess"

# data: libinput's quirks, XKB (what the greeter types with), the fonts it draws with, and the
# layout and language this machine was set up with (kbd-model-map turns a console KEYMAP into an
# X layout, as localectl does)
FOYER_DATA_TREES="/usr/share/libinput /usr/share/X11/xkb"
FOYER_DATA_FILES="/usr/share/glvnd/egl_vendor.d/50_mesa.json /etc/fonts/fonts.conf
  /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf
  /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf
  /etc/vconsole.conf /etc/locale.conf /usr/share/systemd/kbd-model-map"

# keyboards and pointers for the compositor (evdev binds to every input device and is not loaded
# by modalias: generators list it to be loaded at boot), and the virtual GPU
# and sock_diag for TCP, with which the greeter's server asks whose a connection is
# (src/base/sockets.ts): loaded at boot like evdev (FOYER_LOAD_KMODS), before foyer.service
FOYER_KMODS="evdev atkbd i8042 psmouse serio_raw virtio_input hid_generic usbhid drm virtio_gpu inet_diag tcp_diag"
FOYER_LOAD_KMODS="evdev inet_diag tcp_diag"
# libinput finds devices through udev's input_id properties
FOYER_UDEV_RULES="60-input-id.rules 60-persistent-input.rules 60-drm.rules 70-uaccess.rules"

# foyer_own_files SRC: "SOURCE TARGET" lines for foyer's own tree, taken from SRC (a checkout with
# dist/ built, or /usr/lib/foyer): the bundles and foyer's own addons beside them (the bundle
# loads dist/sockets.node from its own folder; without it foyerd refuses every Plymouth client),
# the helpers in libexec (foyer-repair: sulogin's shell for the recovery screen's repair), the UI,
# assets, profiles, and the native addons the bundle leaves external with what they require at
# run time.
foyer_own_files() {
    local src=$1 f m
    for f in "$src"/dist/*.mjs "$src"/dist/*.node; do echo "$f /usr/lib/foyer/${f##*/}"; done
    for f in "$src"/packaging/libexec/* "$src"/libexec/*; do [ -f "$f" ] && echo "$f /usr/lib/foyer/libexec/${f##*/}"; done
    for f in "$src"/dist/ui/*.js "$src"/dist/ui/*.css; do echo "$f /usr/lib/foyer/dist/ui/${f##*/}"; done
    (cd "$src" && find assets -type f) | while read -r f; do echo "$src/$f /usr/lib/foyer/$f"; done
    for f in "$src"/profiles/*.json; do echo "$f /usr/lib/foyer/profiles/${f##*/}"; done
    # the bus policy: only root calls org.foyer.Supervisor1's methods (docs/security.md); from a
    # checkout, or where the package put it
    for f in "$src/packaging/dbus/org.foyer.Supervisor1.conf" /usr/share/dbus-1/system.d/org.foyer.Supervisor1.conf; do
        [ -f "$f" ] && { echo "$f /usr/share/dbus-1/system.d/org.foyer.Supervisor1.conf"; break; }
    done
    for m in unix-dgram bindings file-uri-to-path node-pty; do
        [ -d "$src/node_modules/$m" ] || continue
        (cd "$src" && find "node_modules/$m" \( -name '*.js' -o -name '*.json' -o -name '*.node' \) \
            -not -path '*/test/*' -not -path '*/src/*' -not -path '*/deps/*' -not -path '*/obj.target/*' -print) |
            while read -r f; do echo "$src/$f /usr/lib/foyer/$f"; done
    done
}

# foyer_fontconfig_files: "SOURCE TARGET" for fontconfig's conf.d, whose entries are symlinks
foyer_fontconfig_files() {
    local f
    for f in /etc/fonts/conf.d/*; do echo "$(readlink -f "$f") $f"; done
}

# foyer_greeter_entries: the unprivileged greeter user's passwd and group lines (cage refuses root),
# numeric ids as on the build host
foyer_greeter_entries() {
    getent passwd foyer-greeter && getent group foyer-greeter
}
