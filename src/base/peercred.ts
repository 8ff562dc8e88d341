// Who is at the other end of a Unix socket: SO_PEERCRED, the pid, uid and gid of the process that
// connected (as of its connect()). Node has no API for it, so foyer carries a small Node-API addon
// of its own (src/native/peercred.c → dist/peercred.node, beside the bundles in an image). Loaded
// at the first call: nothing pays for it before the Plymouth server starts.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Socket } from "node:net";
import { FoyerError } from "./errors.js";

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

interface Addon {
  peerCred(fd: number): PeerCred;
}

/**
 * Where the addon lies: beside the module that asks, which in the bundle is dist/ (or
 * /usr/lib/foyer in an image); from the sources through tsx, `<top>/dist`.
 */
export function addonPath(moduleUrl = import.meta.url): string {
  const here = fileURLToPath(moduleUrl);
  return here.endsWith(".ts") ? join(dirname(here), "../../dist/peercred.node") : join(dirname(here), "peercred.node");
}

let addon: Addon | undefined;

/** Loads the addon once; throws a FoyerError saying which file and why when it cannot. */
export function loadPeerCred(): void {
  if (addon) return;
  const path = addonPath();
  try {
    addon = createRequire(import.meta.url)(path) as Addon;
  } catch (e) {
    // require's message for a missing file goes on with its require stack: the first line says it
    const why = e instanceof Error ? e.message.split("\n")[0] : String(e);
    throw new FoyerError("unsupported", `cannot load '${path}' (built by packaging/dev/build.mjs): ${why}`, { cause: e });
  }
}

/** The credentials of `sock`'s peer. Throws when they cannot be read: callers refuse the peer then. */
export function peerCred(sock: Socket): PeerCred {
  loadPeerCred();
  // the handle's fd is libuv's, and Linux's: what getsockopt takes
  const fd = (sock as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) throw new FoyerError("internal", "the socket has no file descriptor");
  return addon!.peerCred(fd);
}
