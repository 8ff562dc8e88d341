// Who is at the other end of a socket, and abstract names bound as their owners mean them: what
// Node has no API for, through a small Node-API addon of foyer's own (src/native/sockets.c →
// dist/sockets.node, beside the bundles in an image). Loaded at the first call: nothing pays for
// it before the greeter's first connection or the Plymouth server's start.
//   peerCred        SO_PEERCRED of a Unix socket (the Plymouth server: root only)
//   tcpOwner        the uid owning a loopback TCP client's socket (the greeter's server), looked up
//                   by its four-tuple with NETLINK_SOCK_DIAG: one socket, whatever the table's size
//                   (/proc/net/tcp where the kernel lacks inet_diag: tcpOwnerSource)
//   listenAbstract  a listener on an abstract name of its exact length (Node 20 pads it)
//   abstractPeer    who listens on an abstract name
//   kdMode          a VT's display mode (KDGETMODE), or set (KDSETMODE): whether a display
//                   server holds it; foyer's own frame keeps the kernel's console off it
//   capsLock        the console keyboard's caps lock (KDGKBLED)
//   kbEntries       the console keymap's plain entries for some keycodes (KDGKBENT)
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Socket } from "node:net";
import { readFileSync } from "node:fs";
import { FoyerError } from "./errors.js";

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/** A TCP socket's owner as the kernel's socket table has it; inode 0: orphaned (its process closed it) */
export interface TcpOwner {
  uid: number;
  inode: number;
  /** the kernel's TCP state (1 ESTABLISHED, 10 LISTEN …) */
  state: number;
}

interface Addon {
  peerCred(fd: number): PeerCred;
  tcpOwner(clientIp: string, clientPort: number, serverIp: string, serverPort: number): TcpOwner | null;
  listenAbstract(name: string, padded: boolean): number;
  abstractPeer(name: string, padded: boolean): PeerCred | null;
  setCloexec(fd: number): null;
  /** 0 text, 1 graphics; with `set`, the mode before it was set */
  kdMode(fd: number, set?: 0 | 1): number;
  capsLock(fd: number): boolean;
  /** KDGKBENT's kb_value in the plain table for each keycode */
  kbEntries(fd: number, keycodes: readonly number[]): number[];
}

/**
 * Where the addon lies: beside the module that asks, which in the bundle is dist/ (or
 * /usr/lib/foyer in an image); from the sources through tsx, `<top>/dist`.
 */
export function addonPath(moduleUrl = import.meta.url): string {
  const here = fileURLToPath(moduleUrl);
  return here.endsWith(".ts") ? join(dirname(here), "../../dist/sockets.node") : join(dirname(here), "sockets.node");
}

let addon: Addon | undefined;

/** Loads the addon once; throws a FoyerError saying which file and why when it cannot. */
export function loadSockets(): Addon {
  if (addon) return addon;
  const path = addonPath();
  try {
    addon = createRequire(import.meta.url)(path) as Addon;
  } catch (e) {
    // require's message for a missing file goes on with its require stack: the first line says it
    const why = e instanceof Error ? e.message.split("\n")[0] : String(e);
    throw new FoyerError("unsupported", `cannot load '${path}' (built by packaging/dev/build.mjs): ${why}`, { cause: e });
  }
  return addon;
}

/** the handle's fd is libuv's, and Linux's: what getsockopt takes */
function fdOf(sock: Socket): number {
  const fd = (sock as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) throw new FoyerError("internal", "the socket has no file descriptor");
  return fd;
}

/** The credentials of `sock`'s peer. Throws when they cannot be read: callers refuse the peer then. */
export function peerCred(sock: Socket): PeerCred {
  return loadSockets().peerCred(fdOf(sock));
}

/**
 * How the owner of a TCP socket is found: NETLINK_SOCK_DIAG asks for the one socket (its cost does
 * not grow with the table another user can fill); where the kernel has no inet_diag/tcp_diag (a
 * module an image may lack), the kernel's whole table, /proc/net/tcp, read for each connection.
 * Both admit the same uids; the second is slower under a table another user fills.
 */
export type TcpOwnerSource = "sock_diag" | "/proc/net/tcp";
let source: TcpOwnerSource | undefined;

/** Which way tcpClientUid asks: sock_diag once it has found `sock`'s own end, which certainly exists. */
export function tcpOwnerSource(sock: Socket): TcpOwnerSource {
  if (source === "sock_diag") return source;
  const self = loadSockets().tcpOwner(sock.localAddress ?? "", sock.localPort ?? 0, sock.remoteAddress ?? "", sock.remotePort ?? 0);
  return (source = self && self.inode !== 0 ? "sock_diag" : "/proc/net/tcp");
}

/**
 * The uid owning the client end of an accepted loopback TCP connection, or undefined when the
 * kernel has no live socket for it (gone, or orphaned: an orphan shows uid 0 whatever its owner
 * was, so it is no answer). Throws when the kernel cannot be asked: callers refuse the peer then.
 */
export function tcpClientUid(sock: Socket): number | undefined {
  const { remoteAddress, remotePort, localAddress, localPort } = sock;
  if (!remoteAddress || !remotePort || !localAddress || !localPort) return undefined;
  // (a kernel without inet_diag is asked again at each connection: the module may come later)
  if (tcpOwnerSource(sock) === "/proc/net/tcp")
    return tableUid(readFileSync("/proc/net/tcp", "latin1"), { ip: remoteAddress, port: remotePort }, { ip: localAddress, port: localPort });
  const o = loadSockets().tcpOwner(remoteAddress, remotePort, localAddress, localPort);
  return o && o.inode !== 0 && o.state !== 10 ? o.uid : undefined;
}

/** the kernel's hex for an IPv4 address and port as /proc/net/tcp prints them ("0100007F:1F90") */
export function tcpTableAddress(ip: string, port: number): string | undefined {
  const b = ip.split(".").map(Number);
  if (b.length !== 4 || b.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return undefined;
  const hex = (n: number, w: number) => n.toString(16).toUpperCase().padStart(w, "0");
  // the address in the host's byte order as one u32: little-endian on every machine foyer runs on
  return `${hex(b[3]!, 2)}${hex(b[2]!, 2)}${hex(b[1]!, 2)}${hex(b[0]!, 2)}:${hex(port, 4)}`;
}

/** The uid owning the client end (client ip:port → server ip:port) in /proc/net/tcp's text, or undefined when it has no live entry. */
export function tableUid(table: string, client: { ip: string; port: number }, server: { ip: string; port: number }): number | undefined {
  const local = tcpTableAddress(client.ip, client.port);
  const remote = tcpTableAddress(server.ip, server.port);
  if (!local || !remote) return undefined;
  const at = table.indexOf(` ${local} ${remote} `);
  if (at < 0) return undefined;
  const end = table.indexOf("\n", at);
  // sl local rem st tx:rx tr:when retrnsmt uid timeout inode …; the line's start is cut off above
  const f = table
    .slice(at, end < 0 ? undefined : end)
    .trim()
    .split(/\s+/);
  const uid = f[6],
    inode = f[8];
  if (uid === undefined || !/^\d+$/.test(uid) || inode === undefined || !/^\d+$/.test(inode) || inode === "0") return undefined;
  return Number(uid);
}

/** A listening fd on abstract `name` ('\0' not included), bound with its exact length or (padded) the whole sun_path. */
export function listenAbstract(name: string, padded: boolean): number {
  return loadSockets().listenAbstract(name, padded);
}

/** Sets FD_CLOEXEC on an inherited fd, so that no process foyerd starts inherits it. */
export function setCloexec(fd: number): void {
  loadSockets().setCloexec(fd);
}

/** Who listens on abstract `name`, exact or (padded) as libuv binds it; undefined when nobody does. */
export function abstractPeer(name: string, padded: boolean): PeerCred | undefined {
  return loadSockets().abstractPeer(name, padded) ?? undefined;
}
