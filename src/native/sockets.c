// What Node cannot ask the kernel about sockets, for foyer's checks of who is at the other end:
//   peerCred(fd) → { pid, uid, gid }: SO_PEERCRED of a connected AF_UNIX socket (the process at
//     the other end as of its connect(); for a client socket, the listener's as of its listen())
//   tcpOwner(clientIp, clientPort, serverIp, serverPort) → { uid, inode, state } | null: the
//     owner of one IPv4 TCP socket, looked up by its four-tuple with NETLINK_SOCK_DIAG (what
//     `ss` asks, without a dump: one socket, whatever the size of the table)
//   listenAbstract(name, padded) → fd: a listening AF_UNIX stream socket on the abstract name,
//     bound with its exact length (systemd's and plymouthd's notation; Node 20's libuv pads the
//     name to the whole sun_path, so a client that connects with the exact name never reaches
//     it), or padded to the whole sun_path (old plymouthd's legacy name), whatever libuv does
//   abstractPeer(name, padded) → { pid, uid, gid } | null: who listens on an abstract name (the
//     listener's credentials through a connect), null when nobody does
//   kdMode(fd[, set]) → 0 text | 1 graphics: a VT's display mode (KDGETMODE), with `set` the one
//     before KDSETMODE; capsLock(fd) (KDGKBLED); kbEntries(fd, keycodes) (KDGKBENT's plain keymap
//     entries): the things here not about sockets, for a display server holding the VT and for
//     foyer's own frame (the kernel's console kept off it, the keyboard's state and keymap)
// Node-API only, so one build runs on every Node from 18 on.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/inet_diag.h>
#include <linux/kd.h>
#include <sys/ioctl.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static napi_value fail(napi_env env, const char *code, const char *message) {
  napi_throw_error(env, code, message);
  return NULL;
}

/** Throws an Error whose code is errno's name (EBADF, ENOTSOCK …), as Node's own carry it. */
static napi_value fail_errno(napi_env env, int e, const char *what) {
  char message[160];
  snprintf(message, sizeof message, "%s: %s", what, strerror(e));
  return fail(env, strerrorname_np(e) ? strerrorname_np(e) : "EIO", message);
}

static napi_value set(napi_env env, napi_value obj, const char *key, double v) {
  napi_value n;
  if (napi_create_double(env, v, &n) != napi_ok || napi_set_named_property(env, obj, key, n) != napi_ok) return NULL;
  return obj;
}

static napi_value null_value(napi_env env) {
  napi_value v;
  napi_get_null(env, &v);
  return v;
}

/** argv[i] as an int32 in [lo, hi]; false (with an exception pending) when it is not. */
static int arg_int(napi_env env, napi_value v, int32_t lo, int32_t hi, int32_t *out, const char *what) {
  if (napi_get_value_int32(env, v, out) != napi_ok || *out < lo || *out > hi) {
    fail(env, "ERR_INVALID_ARG_TYPE", what);
    return 0;
  }
  return 1;
}

/** argv[i] as a string of at most size-1 bytes; false (with an exception pending) when it is not. */
static int arg_string(napi_env env, napi_value v, char *buf, size_t size, size_t *len, const char *what) {
  if (napi_get_value_string_utf8(env, v, buf, size, len) != napi_ok || *len >= size - 1) {
    fail(env, "ERR_INVALID_ARG_TYPE", what);
    return 0;
  }
  return 1;
}

static napi_value cred_object(napi_env env, const struct ucred *c) {
  napi_value obj;
  if (napi_create_object(env, &obj) != napi_ok) return NULL;
  // a socket that is not AF_UNIX has no peer credentials: the kernel reports uid and gid -1 (as
  // unsigned), which is never root
  if (!set(env, obj, "pid", c->pid) || !set(env, obj, "uid", c->uid) || !set(env, obj, "gid", c->gid)) return NULL;
  return obj;
}

static napi_value peer_cred(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return fail(env, "ERR_INVALID_ARG_TYPE", "peerCred(fd)");
  if (!arg_int(env, argv[0], 0, 1 << 30, &fd, "peerCred: the argument must be a file descriptor")) return NULL;
  struct ucred c;
  socklen_t len = sizeof c;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &len) != 0) return fail_errno(env, errno, "getsockopt(SO_PEERCRED)");
  if (len != sizeof c) return fail(env, "EPROTO", "getsockopt(SO_PEERCRED): short answer");
  return cred_object(env, &c);
}

static napi_value tcp_owner(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  char cip[64], sip[64];
  size_t n;
  int32_t cport, sport;
  struct in_addr ca, sa;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4) return fail(env, "ERR_INVALID_ARG_TYPE", "tcpOwner(clientIp, clientPort, serverIp, serverPort)");
  // port 0 with address 0.0.0.0 as the far end finds a listener (a probe of sock_diag itself)
  if (!arg_string(env, argv[0], cip, sizeof cip, &n, "tcpOwner: clientIp must be a string") || !arg_int(env, argv[1], 0, 65535, &cport, "tcpOwner: clientPort must be a port") ||
      !arg_string(env, argv[2], sip, sizeof sip, &n, "tcpOwner: serverIp must be a string") || !arg_int(env, argv[3], 0, 65535, &sport, "tcpOwner: serverPort must be a port"))
    return NULL;
  if (inet_pton(AF_INET, cip, &ca) != 1 || inet_pton(AF_INET, sip, &sa) != 1) return fail(env, "ERR_INVALID_ARG_VALUE", "tcpOwner: the addresses must be IPv4");

  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return fail_errno(env, errno, "socket(NETLINK_SOCK_DIAG)");
  // no NLM_F_DUMP: the kernel looks the one socket up (inet_diag_find_one_icsk), the one whose
  // local end is id.src and whose remote end is id.dst: the client's
  struct {
    struct nlmsghdr nlh;
    struct inet_diag_req_v2 r;
  } req;
  memset(&req, 0, sizeof req);
  req.nlh.nlmsg_len = sizeof req;
  req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.nlh.nlmsg_flags = NLM_F_REQUEST;
  req.nlh.nlmsg_seq = 1;
  req.r.sdiag_family = AF_INET;
  req.r.sdiag_protocol = IPPROTO_TCP;
  req.r.idiag_states = ~0U;
  req.r.id.idiag_sport = htons((uint16_t)cport);
  req.r.id.idiag_dport = htons((uint16_t)sport);
  req.r.id.idiag_src[0] = ca.s_addr;
  req.r.id.idiag_dst[0] = sa.s_addr;
  req.r.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  req.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  if (sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&kernel, sizeof kernel) != sizeof req) {
    int e = errno;
    close(fd);
    return fail_errno(env, e, "sendto(NETLINK_SOCK_DIAG)");
  }
  long buf[1024];
  ssize_t got;
  do got = recv(fd, buf, sizeof buf, 0);
  while (got < 0 && errno == EINTR);
  int e = errno;
  close(fd);
  if (got < 0) return fail_errno(env, e, "recv(NETLINK_SOCK_DIAG)");

  struct nlmsghdr *h = (struct nlmsghdr *)buf;
  if (!NLMSG_OK(h, (unsigned)got)) return fail(env, "EPROTO", "sock_diag: a short answer");
  if (h->nlmsg_type == NLMSG_ERROR) {
    struct nlmsgerr *err = NLMSG_DATA(h);
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof *err)) return fail(env, "EPROTO", "sock_diag: a short error");
    if (err->error == -ENOENT) return null_value(env); // no such socket
    return fail_errno(env, -err->error, "sock_diag");
  }
  if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(struct inet_diag_msg))) return fail(env, "EPROTO", "sock_diag: an unexpected answer");
  struct inet_diag_msg *m = NLMSG_DATA(h);
  // the socket answered must be the one asked for (the lookup also finds listeners)
  if (m->id.idiag_sport != req.r.id.idiag_sport || m->id.idiag_dport != req.r.id.idiag_dport || m->id.idiag_src[0] != ca.s_addr || m->id.idiag_dst[0] != sa.s_addr) return null_value(env);
  napi_value obj;
  if (napi_create_object(env, &obj) != napi_ok) return NULL;
  if (!set(env, obj, "uid", m->idiag_uid) || !set(env, obj, "inode", m->idiag_inode) || !set(env, obj, "state", m->idiag_state)) return NULL;
  return obj;
}

/** The sockaddr of abstract `name`: its exact length, or (padded) the whole sun_path as libuv binds it. */
static socklen_t abstract_addr(struct sockaddr_un *a, const char *name, size_t len, int padded) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  memcpy(a->sun_path + 1, name, len);
  return padded ? sizeof *a : (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
}

/** The abstract name and padding of a call (name, padded); false with an exception pending when they are not. */
static int abstract_args(napi_env env, napi_callback_info info, const char *usage, char *name, size_t size, size_t *len, bool *padded) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) {
    fail(env, "ERR_INVALID_ARG_TYPE", usage);
    return 0;
  }
  if (!arg_string(env, argv[0], name, size, len, "the name must be a string shorter than sun_path")) return 0;
  if (*len == 0 || napi_get_value_bool(env, argv[1], padded) != napi_ok) {
    fail(env, "ERR_INVALID_ARG_TYPE", usage);
    return 0;
  }
  return 1;
}

/**
 * A non-blocking AF_UNIX stream socket and the address of the abstract name its call names
 * (name, padded); -1 with an exception pending when the arguments or the socket fail.
 */
static int abstract_socket(napi_env env, napi_callback_info info, const char *usage, struct sockaddr_un *a, socklen_t *alen) {
  char name[sizeof a->sun_path - 1];
  size_t len;
  bool padded;
  if (!abstract_args(env, info, usage, name, sizeof name, &len, &padded)) return -1;
  *alen = abstract_addr(a, name, len, padded);
  // non-blocking: a listener whose queue is full answers EAGAIN instead of holding foyerd
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) fail_errno(env, errno, "socket(AF_UNIX)");
  return fd;
}

static napi_value listen_abstract(napi_env env, napi_callback_info info) {
  struct sockaddr_un a;
  socklen_t alen;
  int fd = abstract_socket(env, info, "listenAbstract(name, padded)", &a, &alen);
  if (fd < 0) return NULL;
  if (bind(fd, (struct sockaddr *)&a, alen) != 0 || listen(fd, 128) != 0) {
    int e = errno;
    close(fd);
    return fail_errno(env, e, "bind/listen on the abstract name");
  }
  napi_value v;
  if (napi_create_int32(env, fd, &v) != napi_ok) {
    close(fd);
    return NULL;
  }
  return v;
}

static napi_value abstract_peer(napi_env env, napi_callback_info info) {
  struct sockaddr_un a;
  socklen_t alen;
  int fd = abstract_socket(env, info, "abstractPeer(name, padded)", &a, &alen);
  if (fd < 0) return NULL;
  if (connect(fd, (struct sockaddr *)&a, alen) != 0) {
    int e = errno;
    close(fd);
    if (e == ECONNREFUSED) return null_value(env); // nobody listens there
    return fail_errno(env, e, "connect to the abstract name");
  }
  struct ucred c;
  socklen_t clen = sizeof c;
  int r = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &clen);
  int e = errno;
  close(fd);
  if (r != 0) return fail_errno(env, e, "getsockopt(SO_PEERCRED)");
  return cred_object(env, &c);
}

// a listening socket handed to foyerd (socket activation) is inherited without FD_CLOEXEC: set it,
// or every process foyerd starts, the greeter's included, would hold Plymouth's socket too
static napi_value set_cloexec(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return fail(env, "ERR_INVALID_ARG_TYPE", "setCloexec(fd)");
  if (!arg_int(env, argv[0], 0, 1 << 30, &fd, "setCloexec: the argument must be a file descriptor")) return NULL;
  int fl = fcntl(fd, F_GETFD);
  if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) != 0) return fail_errno(env, errno, "fcntl(F_SETFD, FD_CLOEXEC)");
  return null_value(env);
}

// a display server (X, or logind for a Wayland compositor) puts its VT in KD_GRAPHICS: from then on
// the kernel's console does not draw on it
static napi_value kd_mode(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  int32_t fd, set = -1;
  int mode = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return fail(env, "ERR_INVALID_ARG_TYPE", "kdMode(fd[, set])");
  if (!arg_int(env, argv[0], 0, 1 << 30, &fd, "kdMode: the argument must be a file descriptor")) return NULL;
  if (argc >= 2 && !arg_int(env, argv[1], 0, 1, &set, "kdMode: the mode to set must be 0 (text) or 1 (graphics)")) return NULL;
  if (ioctl(fd, KDGETMODE, &mode) != 0) return fail_errno(env, errno, "ioctl(KDGETMODE)");
  if (set >= 0 && ioctl(fd, KDSETMODE, set ? KD_GRAPHICS : KD_TEXT) != 0) return fail_errno(env, errno, "ioctl(KDSETMODE)");
  if (napi_create_int32(env, mode == KD_GRAPHICS ? 1 : 0, &out) != napi_ok) return NULL;
  return out;
}

// the console keyboard's caps lock, as the VT has it (the LED flags, whatever the LEDs show)
static napi_value caps_lock(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  int32_t fd;
  char flags = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return fail(env, "ERR_INVALID_ARG_TYPE", "capsLock(fd)");
  if (!arg_int(env, argv[0], 0, 1 << 30, &fd, "capsLock: the argument must be a file descriptor")) return NULL;
  if (ioctl(fd, KDGKBLED, &flags) != 0) return fail_errno(env, errno, "ioctl(KDGKBLED)");
  if (napi_get_boolean(env, (flags & LED_CAP) != 0, &out) != napi_ok) return NULL;
  return out;
}

// the console keyboard's plain-table keymap entries (KDGKBENT) for up to 256 keycodes: which
// keymap the kernel reads the console's keys with
static napi_value kb_entries(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  int32_t fd;
  uint32_t n = 0;
  bool is_array = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return fail(env, "ERR_INVALID_ARG_TYPE", "kbEntries(fd, keycodes)");
  if (!arg_int(env, argv[0], 0, 1 << 30, &fd, "kbEntries: the first argument must be a file descriptor")) return NULL;
  if (napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[1], &n) != napi_ok || n > 256)
    return fail(env, "ERR_INVALID_ARG_TYPE", "kbEntries: the keycodes must be an array of at most 256");
  if (napi_create_array_with_length(env, n, &out) != napi_ok) return NULL;
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    int32_t code;
    if (napi_get_element(env, argv[1], i, &v) != napi_ok) return NULL;
    if (!arg_int(env, v, 0, 255, &code, "kbEntries: a keycode must be 0 to 255")) return NULL;
    struct kbentry e = { .kb_table = K_NORMTAB, .kb_index = (unsigned char)code, .kb_value = 0 };
    if (ioctl(fd, KDGKBENT, &e) != 0) return fail_errno(env, errno, "ioctl(KDGKBENT)");
    if (napi_create_uint32(env, e.kb_value, &v) != napi_ok || napi_set_element(env, out, i, v) != napi_ok) return NULL;
  }
  return out;
}

NAPI_MODULE_INIT() {
  const struct { const char *name; napi_callback cb; } fns[] = {
    { "peerCred", peer_cred },
    { "tcpOwner", tcp_owner },
    { "listenAbstract", listen_abstract },
    { "abstractPeer", abstract_peer },
    { "setCloexec", set_cloexec },
    { "kdMode", kd_mode },
    { "capsLock", caps_lock },
    { "kbEntries", kb_entries },
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value fn;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].cb, NULL, &fn) != napi_ok || napi_set_named_property(env, exports, fns[i].name, fn) != napi_ok) return NULL;
  }
  return exports;
}
