// Sending the answer datagram to an asker's socket. Node core has no AF_UNIX datagrams, so this
// uses unix-dgram (a small native addon). The send is synchronous: when it returns, the kernel has
// the bytes and our copy is zeroed.
import { createRequire } from "node:module";
import { FoyerError } from "../base/errors.js";
import { Secret, wipeAll } from "../base/secret.js";

interface DgramSocket {
  send(buf: Buffer, offset: number, length: number, path: string, cb: (err?: Error) => void): void;
  close(): void;
  on(ev: "error", fn: (e: Error) => void): void;
}
const require = createRequire(import.meta.url);
let unix: { createSocket(type: "unix_dgram"): DgramSocket } | undefined;

function dgram(): { createSocket(type: "unix_dgram"): DgramSocket } {
  unix ??= require("unix-dgram") as { createSocket(type: "unix_dgram"): DgramSocket };
  return unix;
}

function sendDatagram(path: string, payload: Buffer): void {
  const sock = dgram().createSocket("unix_dgram");
  let failure: Error | undefined;
  sock.on("error", (e) => (failure = e));
  try {
    sock.send(payload, 0, payload.length, path, (e) => (failure = e ?? failure));
  } finally {
    try {
      sock.close();
    } catch {
      /* the fd is gone either way */
    }
  }
  if (failure) throw new FoyerError("not-found", `cannot send to the asker's socket (${(failure as NodeJS.ErrnoException).code ?? failure.message})`, { cause: failure });
}

/**
 * "+" followed by the passphrases, NUL-separated, as systemd's agents send. The payload buffer
 * is zeroed before returning, whether or not the send worked; the secrets stay the caller's.
 */
export function sendPassphrases(socket: string, secrets: Secret[]): void {
  const total = 1 + secrets.reduce((n, s) => n + s.length, 0) + Math.max(0, secrets.length - 1);
  const payload = Buffer.alloc(total);
  try {
    payload[0] = 0x2b; // '+'
    let at = 1;
    secrets.forEach((s, i) => {
      if (i > 0) payload[at++] = 0;
      at += s.reveal().copy(payload, at);
    });
    sendDatagram(socket, payload);
  } finally {
    wipeAll(payload);
  }
}

export function sendCancel(socket: string): void {
  sendDatagram(socket, Buffer.from("-"));
}
