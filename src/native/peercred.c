// peerCred(fd) → { pid, uid, gid }: SO_PEERCRED of a connected AF_UNIX socket, the process at the
// other end as of its connect(). Node has no API for it; foyer's Plymouth server needs it to serve
// root only, as plymouthd does. Node-API only, so one build runs on every Node from 18 on.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <sys/socket.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static napi_value fail(napi_env env, const char *code, const char *message) {
  napi_throw_error(env, code, message);
  return NULL;
}

static napi_value set(napi_env env, napi_value obj, const char *key, double v) {
  napi_value n;
  if (napi_create_double(env, v, &n) != napi_ok || napi_set_named_property(env, obj, key, n) != napi_ok) return NULL;
  return obj;
}

static napi_value peer_cred(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0)
    return fail(env, "ERR_INVALID_ARG_TYPE", "peerCred: the argument must be a file descriptor");

  struct ucred c;
  socklen_t len = sizeof c;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &len) != 0) {
    // the errno's name as Node's own errors carry it (EBADF, ENOTSOCK …)
    char message[128];
    int e = errno;
    snprintf(message, sizeof message, "getsockopt(SO_PEERCRED) on fd %d: %s", fd, strerror(e));
    return fail(env, strerrorname_np(e) ? strerrorname_np(e) : "EIO", message);
  }
  if (len != sizeof c) return fail(env, "EPROTO", "getsockopt(SO_PEERCRED): short answer");

  napi_value obj;
  if (napi_create_object(env, &obj) != napi_ok) return NULL;
  // a socket that is not AF_UNIX has no peer credentials: the kernel reports uid and gid -1 (as
  // unsigned), which is never root
  if (!set(env, obj, "pid", c.pid) || !set(env, obj, "uid", c.uid) || !set(env, obj, "gid", c.gid)) return NULL;
  return obj;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "peerCred", NAPI_AUTO_LENGTH, peer_cred, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "peerCred", fn) != napi_ok)
    return NULL;
  return exports;
}
