// One AF_UNIX datagram to a socket path. Node core has no AF_UNIX datagrams, so this uses
// unix-dgram (a small native addon, loaded at the first send). The send is synchronous: when it
// returns, the kernel has the bytes. Paths only: unix-dgram copies the address with strncpy, so an
// abstract name ("@…") cannot be reached.
import { createRequire } from "node:module";
import { getSystemErrorName } from "node:util";

interface DgramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, cb: (err?: Error) => void): void;
  close(): void;
  on(ev: "error", fn: (e: Error) => void): void;
}
const require = createRequire(import.meta.url);
let unix: { createSocket(type: "unix_dgram"): DgramSocket } | undefined;

/** Sends `payload` to `path`; returns the send's error (its errno's name in `code`), or undefined. */
export function sendDatagram(path: string, payload: Buffer): NodeJS.ErrnoException | undefined {
  unix ??= require("unix-dgram") as { createSocket(type: "unix_dgram"): DgramSocket };
  const sock = unix.createSocket("unix_dgram");
  let failure: Error | undefined;
  sock.on("error", (e) => (failure = e));
  try {
    sock.send(payload, 0, payload.length, path, (e) => (failure = e ?? failure));
  } catch (e) {
    failure = e as Error;
  } finally {
    try {
      sock.close();
    } catch {
      /* the fd is gone either way */
    }
  }
  if (!failure) return undefined;
  // unix-dgram gives the negative errno as a number
  const e = failure as NodeJS.ErrnoException & { code?: unknown };
  if (typeof e.code === "number" && e.code < 0) {
    try {
      e.code = getSystemErrorName(e.code);
    } catch {
      /* not an errno: kept as it is */
    }
  }
  return e;
}
