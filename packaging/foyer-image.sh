# What foyer needs inside an initramfs, for every generator: sourced by the dracut module
# (packaging/dracut/91foyer/module-setup.sh) and the initramfs-tools hook
# (packaging/initramfs-tools/hooks/foyer), each of which copies with its own tools.
# Paths are Debian's (multiarch x86_64).

FOYER_LIBDIR=/usr/lib/x86_64-linux-gnu

# The display stacks an image carries: FOYER_STACKS at build time, "wayland" (the default: cage +
# cog/WPE), "x11" (Xorg + chromium, the FOYER_X11_* lists below) or both ("wayland x11"). The
# initramfs-tools hook carries the wayland stack only.
FOYER_STACKS=${FOYER_STACKS:-wayland}

# executables, each with the libraries ldd names
# setpriv: what foyer starts dies with foyerd (--pdeathsig; src/launch/direct.ts)
FOYER_BINARIES="/usr/bin/node /usr/bin/prlimit /usr/bin/setxkbmap /usr/bin/setpriv"
FOYER_WAYLAND_BINARIES="/usr/bin/cage /usr/bin/cog /usr/sbin/seatd"
# keyctl puts an opened disk's passphrase in the keyring (keyring.enabled); grim takes the
# greeter's last frame at switch-root (src/display/handoff.ts; without it the screen is left black)
FOYER_OPTIONAL_BINARIES="/usr/bin/keyctl"
FOYER_WAYLAND_OPTIONAL_BINARIES="/usr/bin/Xwayland /usr/bin/grim"

# loaded with dlopen, so ldd does not see them: each with the libraries it needs itself. And
# foyer-splash's one library (foyer_own_files copies foyer's files as they are).
# cog's platforms and WPE's backend; WPE renders through EGL even when cage composes with pixman:
# Mesa's software and virtio drivers, found by libglvnd through its vendor file.
# No GIO modules: the greeter is plain http on loopback (no TLS, no proxy), and GNOME's proxy
# module aborts WebKit's network process when the initramfs has no GSettings schemas.
FOYER_DLOPEN="cog/modules/libcogplatform-wl.so cog/modules/libcogplatform-drm.so libWPEBackend-fdo-1.0.so.1
  wpe-webkit-1.1/injected-bundle/libWPEInjectedBundle.so
  libEGL_mesa.so.0 libgbm.so.1 libglapi.so.0 dri/swrast_dri.so dri/kms_swrast_dri.so dri/virtio_gpu_dri.so
  libwayland-client.so.0"
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

# The x11 stack (profiles/x11.json): Xorg as the greeter user with the modesetting driver and
# libinput, no glamor (chromium draws in software, --disable-gpu: the shadow framebuffer is all
# Xorg needs, and glamor would pull in Mesa's EGL), xkbcomp (Xorg compiles the keymap setxkbmap
# names with it) and libinput's InputClass. Modules are loaded with dlopen: each with its libraries.
FOYER_X11_BINARIES="/usr/bin/Xorg /usr/lib/xorg/Xorg /usr/bin/xkbcomp"
FOYER_X11_MODULES="drivers/modesetting_drv.so input/libinput_drv.so libshadow.so"
FOYER_X11_DATA_FILES="/usr/share/X11/xorg.conf.d/40-libinput.conf"
# chromium as Debian ships it, without its launcher script (a shell script that sources
# /etc/chromium.d: /usr/bin/chromium is a link to the binary in the image), the Vulkan validation
# layer and mock driver (23 MB, for developers) and every locale but en-US (the greeter's text is
# foyer's own; chromium's strings are its menus, which the kiosk does not show). libEGL/libGLESv2
# and SwiftShader: chromium's software GL, loaded even with --disable-gpu. NSS's softoken: chromium
# aborts without it (loaded with dlopen).
FOYER_CHROMIUM_BINARIES="/usr/lib/chromium/chromium /usr/lib/chromium/chrome_crashpad_handler"
FOYER_CHROMIUM_DLOPEN="/usr/lib/chromium/libEGL.so /usr/lib/chromium/libGLESv2.so /usr/lib/chromium/libvk_swiftshader.so
  /usr/lib/chromium/libvulkan.so.1 $FOYER_LIBDIR/libsoftokn3.so $FOYER_LIBDIR/libfreeblpriv3.so"
FOYER_CHROMIUM_FILES="/usr/lib/chromium/icudtl.dat /usr/lib/chromium/resources.pak /usr/lib/chromium/chrome_100_percent.pak
  /usr/lib/chromium/chrome_200_percent.pak /usr/lib/chromium/snapshot_blob.bin /usr/lib/chromium/v8_context_snapshot.bin
  /usr/lib/chromium/vk_swiftshader_icd.json /usr/lib/chromium/locales/en-US.pak
  $FOYER_LIBDIR/libsoftokn3.chk $FOYER_LIBDIR/libfreeblpriv3.chk"
# The VT Xorg takes (its vtN argument, src/display/stack-x11.ts XORG_VT): the greeter's, as below
FOYER_X11_VT=2

# foyer_x11_udev_rules: the rules an image with the x11 stack needs. Xorg runs as the greeter user
# (as cage does) and an initramfs has no logind to hand it devices, nor does Xorg speak seatd's
# protocol: the GPU's cards, the input devices and VT 2 are made the greeter group's, which is
# what seatd gives cage on the wayland stack (the keyboard's events, the screen). The VT is not
# the console's (tty1): Xorg switches to it, sets it to graphics and turns its keyboard off, so no
# key typed at the greeter is left in a tty's input queue.
foyer_x11_udev_rules() {
    local g=${1:-foyer-greeter}
    echo "# foyer's x11 stack: Xorg as $g, without logind (packaging/foyer-image.sh)"
    echo "SUBSYSTEM==\"drm\", KERNEL==\"card[0-9]*\", GROUP=\"$g\", MODE=\"0660\""
    echo "SUBSYSTEM==\"input\", KERNEL==\"event[0-9]*\", GROUP=\"$g\", MODE=\"0660\""
    echo "SUBSYSTEM==\"tty\", KERNEL==\"tty$FOYER_X11_VT\", GROUP=\"$g\", MODE=\"0660\""
}

# foyer_own_files SRC: "SOURCE TARGET" lines for foyer's own tree, taken from SRC (a checkout with
# dist/ built, or /usr/lib/foyer): the bundles and foyer's own addons beside them (the bundle
# loads dist/sockets.node from its own folder; without it foyerd refuses every Plymouth client),
# foyer-splash (its library, libwayland-client, comes with FOYER_DLOPEN) and the first frame it
# draws before foyerd runs (dist/first-frame, foyer-frame.service),
# the helpers in libexec (foyer-repair: sulogin's shell for the recovery screen's repair), the UI,
# assets, profiles, and the native addons the bundle leaves external with what they require at
# run time.
foyer_own_files() {
    local src=$1 f m
    for f in "$src"/dist/*.mjs "$src"/dist/*.node "$src"/dist/foyer-splash "$src"/dist/first-frame; do echo "$f /usr/lib/foyer/${f##*/}"; done
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
    done    # FreeType for foyer's own frame: the binding's JavaScript and this machine's prebuild only
    local arch
    case $(uname -m) in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
    for m in @julusian/freetype2 pkg-prebuilds; do
        [ -d "$src/node_modules/$m" ] || continue
        (cd "$src" && find "node_modules/$m" \( -name '*.js' -o -name '*.json' \) -not -path '*/vendor/*' -not -path '*/src/*' -not -path "node_modules/$m/node_modules/*" -print &&
            find "node_modules/$m" -path "*/prebuilds/*-linux-$arch/*.node" -print) |
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
