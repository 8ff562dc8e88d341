// The frames between foyerd and the pty broker (pty-broker.ts), on the broker's stdin and stdout:
// [type u8][length u32 BE][payload]. Keystrokes travel in them (a root password, typed at
// sulogin's prompt), so every buffer here is a secretBuffer (not pooled, not moved by the garbage
// collector) and is zeroed once it is used: a frame by its writer in the write's callback, the
// reader's own buffer as soon as a frame has been handed on.
import { secretBuffer } from "../base/secret.js";

/** A frame in a buffer of its own. */
export function encodeFrame(type: string, payload: Uint8Array = new Uint8Array(0)): Buffer {
  const f = secretBuffer(5 + payload.length);
  f[0] = type.charCodeAt(0);
  f.writeUInt32BE(payload.length, 1);
  f.set(payload, 5);
  return f;
}

/**
 * Cuts a byte stream into frames. `onFrame` gets a view of the reader's buffer, valid during the
 * call only (the callee copies what it keeps); the bytes are zeroed after it returns. push() zeroes
 * nothing of the caller's chunk.
 */
export class FrameReader {
  #buf = secretBuffer(0);
  #len = 0;

  constructor(
    private maxPayload: number,
    private onFrame: (type: string, payload: Buffer) => void,
  ) {}

  /** false when the stream is broken (a frame longer than maxPayload): stop reading it. */
  push(chunk: Uint8Array): boolean {
    if (this.#len + chunk.length > this.#buf.length) {
      const grown = secretBuffer(Math.max(this.#len + chunk.length, 2 * this.#buf.length, 256));
      this.#buf.copy(grown, 0, 0, this.#len);
      this.#buf.fill(0);
      this.#buf = grown;
    }
    this.#buf.set(chunk, this.#len);
    this.#len += chunk.length;
    let at = 0;
    try {
      while (this.#len - at >= 5) {
        const len = this.#buf.readUInt32BE(at + 1);
        if (len > this.maxPayload) return false;
        if (this.#len - at < 5 + len) break;
        const type = String.fromCharCode(this.#buf[at]!);
        try {
          this.onFrame(type, this.#buf.subarray(at + 5, at + 5 + len));
        } finally {
          this.#buf.fill(0, at, at + 5 + len);
        }
        at += 5 + len;
      }
      return true;
    } finally {
      // the rest of a frame to the front; what it left behind is zeroed
      this.#buf.copyWithin(0, at, this.#len);
      this.#buf.fill(0, this.#len - at, this.#len);
      this.#len -= at;
    }
  }

  /** Zeroes what is held (a frame cut short when the stream ended). */
  wipe(): void {
    this.#buf.fill(0);
    this.#len = 0;
  }
}
