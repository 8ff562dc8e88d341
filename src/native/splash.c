// foyer-splash FRAME PAINTED -- COMMAND [ARG...]: what cage shows from its start until the greeter
// has painted. cage modesets with a black buffer when it starts (cage-kiosk/cage#366) and shows
// nothing more until its client maps a window, which a browser does seconds later; so cage's
// command is this one, which keeps foyer's frame (FRAME, written by foyerd) on the output and then
// becomes COMMAND. The frame is drawn by a grandchild, so cage's client is the browser itself, as
// without the splash, and nothing the splash does (or fails to do) can stop the browser starting.
// The browser's window goes over the splash's when it maps (cage puts the newest view on top), so
// the splash maps again whenever it stops being the active window, until foyerd creates PAINTED
// (the page painted and its socket is open); then it goes, and cage shows the browser.
// FRAME: "FOYRFRM1", u32 width, u32 height (little-endian), then width*height XRGB8888 pixels.
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
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wayland-client.h>
#include "xdg-shell-client-protocol.h"

#define MAX_SIDE 16384
#define MAX_REMAPS 64

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

/** An XRGB8888 buffer of w×h: the frame scaled to cover it (nearest pixel), centred, cut where it overflows. */
static struct wl_buffer *make_buffer(struct splash *s, int32_t w, int32_t h) {
  size_t stride = (size_t)w * 4, size = stride * (size_t)h;
  int fd = memfd_create("foyer-splash", MFD_CLOEXEC);
  if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
    if (fd >= 0) close(fd);
    return NULL;
  }
  uint32_t *dst = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  uint32_t *cols = malloc((size_t)w * sizeof *cols);
  if (dst == MAP_FAILED || !cols) {
    if (dst != MAP_FAILED) munmap(dst, size);
    free(cols);
    close(fd);
    return NULL;
  }
  const struct frame *f = &s->frame;
  double sx = (double)w / f->w, sy = (double)h / f->h, k = sx > sy ? sx : sy;
  double ox = (f->w * k - w) / 2, oy = (f->h * k - h) / 2;
  for (int32_t x = 0; x < w; x++) {
    long fx = (long)((x + 0.5 + ox) / k);
    cols[x] = (uint32_t)(fx < 0 ? 0 : fx >= (long)f->w ? (long)f->w - 1 : fx);
  }
  for (int32_t y = 0; y < h; y++) {
    long fy = (long)((y + 0.5 + oy) / k);
    const uint32_t *row = f->px + (size_t)(fy < 0 ? 0 : fy >= (long)f->h ? (long)f->h - 1 : fy) * f->w;
    for (int32_t x = 0; x < w; x++) dst[(size_t)y * w + x] = row[cols[x]];
  }
  free(cols);
  munmap(dst, size);
  struct wl_shm_pool *pool = wl_shm_create_pool(s->shm, fd, (int32_t)size);
  struct wl_buffer *b = wl_shm_pool_create_buffer(pool, 0, w, h, (int32_t)stride, WL_SHM_FORMAT_XRGB8888);
  wl_shm_pool_destroy(pool);
  close(fd);
  return b;
}

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
  (void)version;
  if (strcmp(iface, wl_compositor_interface.name) == 0) s->compositor = wl_registry_bind(r, name, &wl_compositor_interface, 4);
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

static int run_splash(const char *frame_path, const char *painted) {
  struct splash s = {0};
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
  struct pollfd fds[2] = {{.fd = wl_display_get_fd(s.display), .events = POLLIN}, {.fd = in, .events = POLLIN}};
  for (;;) {
    if (s.remap) {
      s.remaps++;
      map(&s);
    }
    while (wl_display_prepare_read(s.display) != 0)
      if (wl_display_dispatch_pending(s.display) < 0) return 0;
    if (wl_display_flush(s.display) < 0 && errno != EAGAIN) return wl_display_cancel_read(s.display), 0;
    if (poll(fds, 2, -1) < 0) {
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
  if (argc < 5 || strcmp(argv[3], "--") != 0) {
    say("usage: foyer-splash FRAME PAINTED -- COMMAND [ARG...]");
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
      _exit(run_splash(argv[1], argv[2]));
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
