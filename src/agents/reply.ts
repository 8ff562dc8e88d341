// Sending the answer datagram to an asker's socket (base/dgram.ts: synchronous, so when it returns
// the kernel has the bytes and our copy is zeroed).
import { FoyerError } from "../base/errors.js";
import { Secret, wipeAll } from "../base/secret.js";
import { sendDatagram as send } from "../base/dgram.js";

function sendDatagram(path: string, payload: Buffer): void {
  const failure = send(path, payload);
  if (failure) throw new FoyerError("not-found", `cannot send to the asker's socket (${failure.code ?? failure.message})`, { cause: failure });
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
