// foyer-splash [--keys SOCKET] FRAME PAINTED -- COMMAND [ARG...]: what cage shows from its start until the greeter
// has painted. cage modesets with a black buffer when it starts (cage-kiosk/cage#366) and shows
// nothing more until its client maps a window, which a browser does seconds later; so cage's
// command is this one, which keeps foyer's frame (FRAME, written by foyerd) on the output and then
// becomes COMMAND. The frame is drawn by a grandchild, so cage's client is the browser itself, as
// without the splash, and nothing the splash does (or fails to do) can stop the browser starting.
// The browser's window goes over the splash's when it maps (cage puts the newest view on top), so
// the splash maps again whenever it stops being the active window, until foyerd creates PAINTED
// (the page painted and its socket is open); then it goes, and cage shows the browser.
// FRAME: "FOYRFRM1", u32 width, u32 height (little-endian), then width*height XRGB8888 pixels.
//
// With --keys SOCKET the splash is also foyer's prompt until the greeter has painted: cage gives
// the newest window the keyboard, so the keys typed while the browser loads come here. Each is read
// with the compositor's keymap (the one the browser gets) and sent to foyerd over SOCKET as the
// console's raw bytes: UTF-8 text, 0x7f to erase, 0x0d to submit, 0x15 to clear; 0x11 and 0x12
// say caps lock went on or off. foyerd keeps what was typed, draws the prompt into FRAME and sends
// 'f' when there is a new one to show. Nothing typed stays here: each key's bytes are zeroed once
// sent.
//
// foyer-splash --fb FRAME: the same frame on the framebuffer, before foyerd runs: waits for fb0
// (the GPU driver's, as udev's coldplug loads it), draws FRAME scaled to cover it, puts the
// foreground VT in graphics mode so the text console does not draw over it (as Plymouth does),
// and exits. foyerd draws its own frame later and owns the VT's mode from then on; should foyerd
// fail, foyer.service gives the VT its text mode back with foyer-splash --text.
// FOYER_FB, FOYER_FB_SYSFS, FOYER_VT and FOYER_FB_WAIT_MS name other devices and wait (tests).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wayland-client.h>
#include <xkbcommon/xkbcommon.h>
#include <xkbcommon/xkbcommon-keysyms.h>
#include "xdg-shell-client-protocol.h"

#define MAX_SIDE 16384
#define MAX_REMAPS 64
/** how often the splash tries foyerd's socket until it answers */
#define CONNECT_EVERY_MS 200
/** the largest keymap taken from the compositor */
#define MAX_KEYMAP (1u << 20)

struct frame {
  uint32_t w, h;
  uint32_t *px;
};

struct splash {
  struct frame frame;
  struct wl_display *display;
  struct wl_compositor *compositor;
  struct wl_shm *shm;
  struct xdg_wm_base *wm;
  struct wl_surface *surface;
  struct xdg_surface *xdg;
  struct xdg_toplevel *toplevel;
  struct wl_buffer *buffer;
  int32_t buffer_w, buffer_h;
  int32_t want_w, want_h;
  bool active, was_active, remap;
  int remaps;
  const char *frame_path;
  /** foyerd's socket (--keys), and the connection to it: -1 while there is none */
  const char *keys_path;
  int keys;
  struct wl_seat *seat;
  struct wl_keyboard *keyboard;
  struct xkb_context *xkb;
  struct xkb_keymap *keymap;
  struct xkb_state *kb;
  /** caps lock as last said to foyerd: -1 unknown */
  int caps;
};

static void say(const char *what) { fprintf(stderr, "foyer-splash: %s\n", what); }

/** Reads FRAME: a regular file, no symlink, its size exactly what its header says. */
static bool read_frame(const char *path, struct frame *f) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return say("cannot open the frame"), false;
  struct stat st;
  unsigned char head[16];
  bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && read(fd, head, sizeof head) == (ssize_t)sizeof head &&
            memcmp(head, "FOYRFRM1", 8) == 0;
  if (ok) {
    memcpy(&f->w, head + 8, 4);
    memcpy(&f->h, head + 12, 4);
    ok = f->w > 0 && f->h > 0 && f->w <= MAX_SIDE && f->h <= MAX_SIDE && (uint64_t)st.st_size == 16 + (uint64_t)f->w * f->h * 4;
  }
  size_t bytes = ok ? (size_t)f->w * f->h * 4 : 0;
  if (ok) ok = (f->px = malloc(bytes)) != NULL;
  for (size_t got = 0; ok && got < bytes;) {
    ssize_t n = read(fd, (char *)f->px + got, bytes - got);
    if (n <= 0) ok = false;
    else got += (size_t)n;
  }
  close(fd);
  if (!ok) say("the frame is not a foyer frame of the size its header says");
  return ok;
}

/** The frame scaled to cover w×h (nearest pixel), centred, cut where it overflows: rows of `stride` bytes, 4 or 3 bytes a pixel (B, G, R[, x]). */
static bool scale_into(const struct frame *f, unsigned char *dst, int32_t w, int32_t h, size_t stride, int bytes) {
  uint32_t *cols = malloc((size_t)w * sizeof *cols);
  if (!cols) return false;
  double sx = (double)w / f->w, sy = (double)h / f->h, k = sx > sy ? sx : sy;
  double ox = (f->w * k - w) / 2, oy = (f->h * k - h) / 2;
  for (int32_t x = 0; x < w; x++) {
    long fx = (long)((x + 0.5 + ox) / k);
    cols[x] = (uint32_t)(fx < 0 ? 0 : fx >= (long)f->w ? (long)f->w - 1 : fx);
  }
  for (int32_t y = 0; y < h; y++) {
    long fy = (long)((y + 0.5 + oy) / k);
    const uint32_t *row = f->px + (size_t)(fy < 0 ? 0 : fy >= (long)f->h ? (long)f->h - 1 : fy) * f->w;
    unsigned char *d = dst + (size_t)y * stride;
    if (bytes == 4)
      for (int32_t x = 0; x < w; x++) memcpy(d + (size_t)x * 4, &row[cols[x]], 4);
    else
      for (int32_t x = 0; x < w; x++) memcpy(d + (size_t)x * 3, &row[cols[x]], 3);
  }
  free(cols);
  return true;
}

/** An XRGB8888 wl_buffer of w×h holding the frame scaled to cover it. */
static struct wl_buffer *make_buffer(struct splash *s, int32_t w, int32_t h) {
  size_t stride = (size_t)w * 4, size = stride * (size_t)h;
  int fd = memfd_create("foyer-splash", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
    if (fd >= 0) close(fd);
    return NULL;
  }
  unsigned char *dst = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  bool ok = dst != MAP_FAILED && scale_into(&s->frame, dst, w, h, stride, 4);
  if (dst != MAP_FAILED) munmap(dst, size);
  if (!ok) {
    close(fd);
    return NULL;
  }
  struct wl_shm_pool *pool = wl_shm_create_pool(s->shm, fd, (int32_t)size);
  struct wl_buffer *b = wl_shm_pool_create_buffer(pool, 0, w, h, (int32_t)stride, WL_SHM_FORMAT_XRGB8888);
  wl_shm_pool_destroy(pool);
  close(fd);
  return b;
}

static const char *env_or(const char *name, const char *fallback) {
  const char *v = getenv(name);
  return v && *v ? v : fallback;
}

/** Reads a small sysfs attribute of the framebuffer's into buf; false when it cannot. */
static bool sysfs_read(const char *dir, const char *name, char *buf, size_t size) {
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return false;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, buf, size - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  return true;
}

/** Waits up to ms for `path` to exist, woken by inotify on its folder; whether it does. */
static bool wait_for(const char *path, long ms) {
  if (access(path, F_OK) == 0) return true;
  char dir[PATH_MAX];
  const char *slash = strrchr(path, '/');
  if (!slash || (size_t)(slash - path) >= sizeof dir) return false;
  if (slash == path) strcpy(dir, "/");
  else {
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = 0;
  }
  int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (in < 0) return false;
  if (inotify_add_watch(in, dir, IN_CREATE | IN_MOVED_TO | IN_ATTRIB) < 0) {
    close(in);
    return false;
  }
  bool there = access(path, F_OK) == 0;
  struct pollfd p = {.fd = in, .events = POLLIN};
  for (long left = ms; !there && left > 0; left -= 100) {
    if (poll(&p, 1, 100) > 0) {
      char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
      while (read(in, buf, sizeof buf) > 0) {
      }
    }
    there = access(path, F_OK) == 0;
  }
  close(in);
  return there;
}

/** The VT's mode: KD_GRAPHICS keeps the text console off the frame; KD_TEXT gives it back. */
static bool vt_mode(int mode) {
  int fd = open(env_or("FOYER_VT", "/dev/tty0"), O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ioctl(fd, KDSETMODE, mode) == 0;
  close(fd);
  return ok;
}

static int run_fb(const char *frame_path) {
  struct frame f = {0};
  if (!read_frame(frame_path, &f)) return 1;
  const char *dev = env_or("FOYER_FB", "/dev/fb0"), *sysfs = env_or("FOYER_FB_SYSFS", "/sys/class/graphics/fb0");
  long wait_ms = strtol(env_or("FOYER_FB_WAIT_MS", "60000"), NULL, 10);
  if (!wait_for(dev, wait_ms)) return say("no framebuffer came: nothing drawn"), 0;
  char size[64], stride_s[32], bpp_s[32];
  int w = 0, h = 0;
  // the device node comes as the driver registers fb0; its attributes may follow a moment later
  bool geometry = false;
  for (int tries = 0; !geometry && tries < 60; tries++) {
    geometry = sysfs_read(sysfs, "virtual_size", size, sizeof size) && sscanf(size, "%d,%d", &w, &h) == 2 && sysfs_read(sysfs, "stride", stride_s, sizeof stride_s) &&
               sysfs_read(sysfs, "bits_per_pixel", bpp_s, sizeof bpp_s);
    if (!geometry) poll(NULL, 0, 50);
  }
  if (!geometry) return say("cannot read the framebuffer's geometry"), 1;
  long stride = strtol(stride_s, NULL, 10), bpp = strtol(bpp_s, NULL, 10);
  if (w <= 0 || h <= 0 || w > MAX_SIDE || h > MAX_SIDE || (bpp != 32 && bpp != 24) || stride < w * (bpp / 8))
    return say("the framebuffer is not 24 or 32 bits a pixel of a sane size"), 1;
  size_t bytes = (size_t)stride * (size_t)h;
  unsigned char *rows = calloc(1, bytes);
  if (!rows || !scale_into(&f, rows, w, h, (size_t)stride, (int)bpp / 8)) return say("out of memory"), 1;
  int fd = open(dev, O_WRONLY | O_CLOEXEC);
  bool ok = fd >= 0 && pwrite(fd, rows, bytes, 0) == (ssize_t)bytes;
  if (fd >= 0) close(fd);
  free(rows);
  if (!ok) return say("cannot write the framebuffer"), 1;
  if (!vt_mode(KD_GRAPHICS)) say("cannot put the VT in graphics mode: the text console may draw over the frame");
  fprintf(stderr, "foyer-splash: first frame on %s (%dx%d, %ld bpp)\n", dev, w, h, bpp);
  return 0;
}

/** Sends bytes to foyerd; a peer gone closes the connection, to be made again. */
static void send_keys(struct splash *s, const unsigned char *b, size_t n) {
  if (s->keys < 0) return;
  if (send(s->keys, b, n, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)n) {
    say("foyerd's socket took no keys: reconnecting");
    close(s->keys);
    s->keys = -1;
  }
}

static void connect_keys(struct splash *s) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(s->keys_path) >= sizeof a.sun_path) return;
  strcpy(a.sun_path, s->keys_path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return;
  }
  s->keys = fd;
  if (s->caps >= 0) {
    unsigned char b = s->caps ? 0x11 : 0x12;
    send_keys(s, &b, 1);
  }
}

/** FRAME read again (foyerd drew the prompt into it) and shown, when the window is up. */
static void reload_frame(struct splash *s) {
  struct frame f = {0};
  if (!read_frame(s->frame_path, &f)) return;
  free(s->frame.px);
  s->frame = f;
  if (!s->surface || !s->buffer) return;
  struct wl_buffer *old = s->buffer;
  s->buffer = make_buffer(s, s->buffer_w, s->buffer_h);
  if (s->buffer) {
    wl_surface_attach(s->surface, s->buffer, 0, 0);
    wl_surface_damage_buffer(s->surface, 0, 0, INT32_MAX, INT32_MAX);
    wl_surface_commit(s->surface);
  }
  wl_buffer_destroy(old);
}

static void kb_keymap(void *data, struct wl_keyboard *k, uint32_t format, int32_t fd, uint32_t size) {
  (void)k;
  struct splash *s = data;
  if (format != WL_KEYBOARD_KEYMAP_FORMAT_XKB_V1 || size == 0 || size > MAX_KEYMAP) {
    close(fd);
    return say("the compositor's keymap is not an XKB one of a sane size: keys are not read");
  }
  char *text = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (text == MAP_FAILED) return;
  struct xkb_keymap *map = xkb_keymap_new_from_buffer(s->xkb, text, strnlen(text, size), XKB_KEYMAP_FORMAT_TEXT_V1, XKB_KEYMAP_COMPILE_NO_FLAGS);
  munmap(text, size);
  struct xkb_state *state = map ? xkb_state_new(map) : NULL;
  if (!state) {
    xkb_keymap_unref(map);
    return say("cannot compile the compositor's keymap: keys are not read");
  }
  xkb_state_unref(s->kb);
  xkb_keymap_unref(s->keymap);
  s->keymap = map;
  s->kb = state;
}

static void kb_enter(void *data, struct wl_keyboard *k, uint32_t serial, struct wl_surface *surface, struct wl_array *keys) {
  (void)data, (void)k, (void)serial, (void)surface, (void)keys;
}
static void kb_leave(void *data, struct wl_keyboard *k, uint32_t serial, struct wl_surface *surface) { (void)data, (void)k, (void)serial, (void)surface; }

static void kb_key(void *data, struct wl_keyboard *k, uint32_t serial, uint32_t time, uint32_t key, uint32_t state) {
  (void)k, (void)serial, (void)time;
  struct splash *s = data;
  if (state != WL_KEYBOARD_KEY_STATE_PRESSED || !s->kb) return;
  xkb_keycode_t code = key + 8; // evdev's codes, as XKB numbers them
  xkb_keysym_t sym = xkb_state_key_get_one_sym(s->kb, code);
  unsigned char out[16];
  size_t n = 0;
  if (sym == XKB_KEY_Return || sym == XKB_KEY_KP_Enter) out[n++] = 0x0d;
  else if (sym == XKB_KEY_BackSpace) out[n++] = 0x7f;
  else if ((sym == XKB_KEY_u || sym == XKB_KEY_U) && xkb_state_mod_name_is_active(s->kb, XKB_MOD_NAME_CTRL, XKB_STATE_MODS_EFFECTIVE) > 0) out[n++] = 0x15;
  else {
    // text only: control characters (Escape, Tab, a key with Ctrl) are not part of an answer
    int len = xkb_state_key_get_utf8(s->kb, code, (char *)out, sizeof out);
    if (len > 0 && (size_t)len < sizeof out && out[0] >= 0x20 && out[0] != 0x7f) n = (size_t)len;
  }
  if (n) send_keys(s, out, n);
  explicit_bzero(out, sizeof out);
}

static void kb_modifiers(void *data, struct wl_keyboard *k, uint32_t serial, uint32_t depressed, uint32_t latched, uint32_t locked, uint32_t group) {
  (void)k, (void)serial;
  struct splash *s = data;
  if (!s->kb) return;
  xkb_state_update_mask(s->kb, depressed, latched, locked, 0, 0, group);
  int caps = xkb_state_mod_name_is_active(s->kb, XKB_MOD_NAME_CAPS, XKB_STATE_MODS_LOCKED) > 0;
  if (caps == s->caps) return;
  s->caps = caps;
  unsigned char b = caps ? 0x11 : 0x12;
  send_keys(s, &b, 1);
}

static void kb_repeat(void *data, struct wl_keyboard *k, int32_t rate, int32_t delay) { (void)data, (void)k, (void)rate, (void)delay; }

static const struct wl_keyboard_listener keyboard_listener = {
    .keymap = kb_keymap, .enter = kb_enter, .leave = kb_leave, .key = kb_key, .modifiers = kb_modifiers, .repeat_info = kb_repeat};

static void seat_capabilities(void *data, struct wl_seat *seat, uint32_t caps) {
  struct splash *s = data;
  bool has = caps & WL_SEAT_CAPABILITY_KEYBOARD;
  if (has && !s->keyboard) {
    s->keyboard = wl_seat_get_keyboard(seat);
    wl_keyboard_add_listener(s->keyboard, &keyboard_listener, s);
  } else if (!has && s->keyboard) {
    wl_keyboard_destroy(s->keyboard);
    s->keyboard = NULL;
  }
}
static void seat_name(void *data, struct wl_seat *seat, const char *name) { (void)data, (void)seat, (void)name; }
static const struct wl_seat_listener seat_listener = {.capabilities = seat_capabilities, .name = seat_name};

static void wm_ping(void *data, struct xdg_wm_base *wm, uint32_t serial) {
  (void)data;
  xdg_wm_base_pong(wm, serial);
}
static const struct xdg_wm_base_listener wm_listener = {.ping = wm_ping};

static void toplevel_configure(void *data, struct xdg_toplevel *t, int32_t w, int32_t h, struct wl_array *states) {
  (void)t;
  struct splash *s = data;
  s->want_w = w > 0 ? w : (int32_t)s->frame.w;
  s->want_h = h > 0 ? h : (int32_t)s->frame.h;
  bool active = false;
  uint32_t *st;
  wl_array_for_each(st, states) if (*st == XDG_TOPLEVEL_STATE_ACTIVATED) active = true;
  s->active = active;
}
static void toplevel_close(void *data, struct xdg_toplevel *t) {
  (void)data;
  (void)t;
}
static const struct xdg_toplevel_listener toplevel_listener = {.configure = toplevel_configure, .close = toplevel_close};

static void surface_configure(void *data, struct xdg_surface *x, uint32_t serial) {
  struct splash *s = data;
  xdg_surface_ack_configure(x, serial);
  // another window became the active one: it went over ours, so ours maps again, on top
  if (s->was_active && !s->active && s->remaps < MAX_REMAPS) {
    s->remap = true;
    return;
  }
  s->was_active = s->active;
  if (!s->buffer || s->buffer_w != s->want_w || s->buffer_h != s->want_h) {
    if (s->buffer) wl_buffer_destroy(s->buffer);
    s->buffer = make_buffer(s, s->want_w, s->want_h);
    s->buffer_w = s->want_w;
    s->buffer_h = s->want_h;
  }
  if (!s->buffer) return;
  wl_surface_attach(s->surface, s->buffer, 0, 0);
  wl_surface_damage_buffer(s->surface, 0, 0, INT32_MAX, INT32_MAX);
  wl_surface_commit(s->surface);
}
static const struct xdg_surface_listener surface_listener = {.configure = surface_configure};

static void global(void *data, struct wl_registry *r, uint32_t name, const char *iface, uint32_t version) {
  struct splash *s = data;
  if (strcmp(iface, wl_seat_interface.name) == 0 && s->keys_path && !s->seat) {
    s->seat = wl_registry_bind(r, name, &wl_seat_interface, version < 4 ? version : 4);
    wl_seat_add_listener(s->seat, &seat_listener, s);
  } else if (strcmp(iface, wl_compositor_interface.name) == 0) s->compositor = wl_registry_bind(r, name, &wl_compositor_interface, 4);
  else if (strcmp(iface, wl_shm_interface.name) == 0) s->shm = wl_registry_bind(r, name, &wl_shm_interface, 1);
  else if (strcmp(iface, xdg_wm_base_interface.name) == 0) {
    s->wm = wl_registry_bind(r, name, &xdg_wm_base_interface, 1);
    xdg_wm_base_add_listener(s->wm, &wm_listener, s);
  }
}
static void global_remove(void *data, struct wl_registry *r, uint32_t name) {
  (void)data;
  (void)r;
  (void)name;
}
static const struct wl_registry_listener registry_listener = {.global = global, .global_remove = global_remove};

static void unmap(struct splash *s) {
  if (s->toplevel) xdg_toplevel_destroy(s->toplevel);
  if (s->xdg) xdg_surface_destroy(s->xdg);
  if (s->surface) wl_surface_destroy(s->surface);
  s->toplevel = NULL;
  s->xdg = NULL;
  s->surface = NULL;
}

/** A new window: cage maps it on top of every other and makes it the active one. */
static void map(struct splash *s) {
  unmap(s);
  s->was_active = s->active = s->remap = false;
  s->surface = wl_compositor_create_surface(s->compositor);
  s->xdg = xdg_wm_base_get_xdg_surface(s->wm, s->surface);
  xdg_surface_add_listener(s->xdg, &surface_listener, s);
  s->toplevel = xdg_surface_get_toplevel(s->xdg);
  xdg_toplevel_add_listener(s->toplevel, &toplevel_listener, s);
  xdg_toplevel_set_app_id(s->toplevel, "foyer-splash");
  xdg_toplevel_set_title(s->toplevel, "foyer");
  wl_surface_commit(s->surface);
}

/** Whether PAINTED is there: inotify on its folder says when it is created or renamed into place. */
static bool painted_now(const char *painted) { return access(painted, F_OK) == 0; }

static int run_splash(const char *frame_path, const char *painted, const char *keys) {
  struct splash s = {.frame_path = frame_path, .keys_path = keys, .keys = -1, .caps = -1};
  if (keys && !(s.xkb = xkb_context_new(XKB_CONTEXT_NO_DEFAULT_INCLUDES | XKB_CONTEXT_NO_ENVIRONMENT_NAMES))) return say("cannot make an XKB context"), 1;
  if (painted_now(painted)) return 0;
  char dir[PATH_MAX];
  const char *slash = strrchr(painted, '/');
  if (!slash || slash == painted || (size_t)(slash - painted) >= sizeof dir) return say("PAINTED must be an absolute path in a folder"), 1;
  memcpy(dir, painted, (size_t)(slash - painted));
  dir[slash - painted] = 0;
  int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (in < 0 || inotify_add_watch(in, dir, IN_CREATE | IN_MOVED_TO) < 0) return say("cannot watch PAINTED's folder"), 1;
  if (!read_frame(frame_path, &s.frame)) return 1;
  s.display = wl_display_connect(NULL);
  if (!s.display) return say("cannot connect to the compositor"), 1;
  struct wl_registry *reg = wl_display_get_registry(s.display);
  wl_registry_add_listener(reg, &registry_listener, &s);
  if (wl_display_roundtrip(s.display) < 0 || !s.compositor || !s.shm || !s.wm) return say("the compositor lacks wl_compositor, wl_shm or xdg_wm_base"), 1;
  map(&s);
  struct pollfd fds[3] = {{.fd = wl_display_get_fd(s.display), .events = POLLIN}, {.fd = in, .events = POLLIN}, {.fd = -1, .events = POLLIN}};
  for (;;) {
    if (s.remap) {
      s.remaps++;
      map(&s);
    }
    if (s.keys_path && s.keys < 0) connect_keys(&s);
    fds[2].fd = s.keys;
    while (wl_display_prepare_read(s.display) != 0)
      if (wl_display_dispatch_pending(s.display) < 0) return 0;
    if (wl_display_flush(s.display) < 0 && errno != EAGAIN) return wl_display_cancel_read(s.display), 0;
    if (poll(fds, 3, s.keys_path && s.keys < 0 ? CONNECT_EVERY_MS : -1) < 0) {
      wl_display_cancel_read(s.display);
      if (errno == EINTR) continue;
      return 1;
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      // the compositor is gone (cage exits with its client): so is the splash
      if (wl_display_read_events(s.display) < 0) return 0;
    } else
      wl_display_cancel_read(s.display);
    if (wl_display_dispatch_pending(s.display) < 0) return 0;
    if (s.keys >= 0 && fds[2].fd == s.keys && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
      char said[64];
      ssize_t n = recv(s.keys, said, sizeof said, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        close(s.keys);
        s.keys = -1;
      } else if (n > 0 && memchr(said, 'f', (size_t)n))
        reload_frame(&s);
    }
    if (fds[1].revents & POLLIN) {
      char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
      while (read(in, buf, sizeof buf) > 0) {
      }
      if (painted_now(painted)) break;
    }
  }
  unmap(&s);
  wl_display_roundtrip(s.display);
  wl_display_disconnect(s.display);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--fb") == 0) return run_fb(argv[2]);
  if (argc == 2 && strcmp(argv[1], "--text") == 0) return vt_mode(KD_TEXT) ? 0 : (say("cannot give the VT its text mode back"), 1);
  const char *keys = NULL;
  if (argc > 2 && strcmp(argv[1], "--keys") == 0) {
    keys = argv[2];
    argv += 2;
    argc -= 2;
  }
  if (argc < 5 || strcmp(argv[3], "--") != 0) {
    say("usage: foyer-splash [--keys SOCKET] FRAME PAINTED -- COMMAND [ARG...]");
    // a wrong call still starts the command, where there is one: the splash must never stand
    // between cage and the greeter
    for (int i = 1; i < argc - 1; i++)
      if (strcmp(argv[i], "--") == 0) execvp(argv[i + 1], argv + i + 1);
    return 2;
  }
  // the grandchild draws; the child exits at once, so the splash is nobody's child to reap
  pid_t child = fork();
  if (child == 0) {
    if (fork() == 0) {
      // the command's file descriptors are not the splash's to hold
      for (int fd = 3; fd < 1024; fd++) close(fd);
      signal(SIGPIPE, SIG_IGN);
      _exit(run_splash(argv[1], argv[2], keys));
    }
    _exit(0);
  }
  if (child > 0)
    while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {
    }
  execvp(argv[4], argv + 4);
  fprintf(stderr, "foyer-splash: cannot run '%s': %s\n", argv[4], strerror(errno));
  return 127;
}
