// A passphrase is a Secret: bytes in a Buffer that no formatter can print. The bytes leave the
// object only through reveal() (grep for it: every call site is a review point), and wipe()
// zeroes them. Secrets never become JS strings in the daemon.
import { inspect } from "node:util";

export class Secret {
  #bytes: Buffer;
  #wiped = false;

  /** Takes ownership of `bytes`: the caller must not keep or reuse the buffer. */
  private constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }

  /** Copies `src[start, end)` into a fresh buffer of its own (secretBuffer). The caller zeroes `src`. */
  static copyOf(src: Uint8Array, start = 0, end = src.length): Secret {
    const b = secretBuffer(Math.max(0, end - start));
    b.set(src.subarray(start, end));
    return new Secret(b);
  }

  static adopt(bytes: Buffer): Secret {
    return new Secret(bytes);
  }

  get length(): number {
    return this.#wiped ? 0 : this.#bytes.length;
  }

  get wiped(): boolean {
    return this.#wiped;
  }

  /** The one way to reach the bytes. Do not keep the returned view past the call. */
  reveal(): Buffer {
    if (this.#wiped) throw new Error("secret used after wipe");
    return this.#bytes;
  }

  wipe(): void {
    this.#bytes.fill(0);
    this.#wiped = true;
  }

  toString(): string {
    return "[redacted]";
  }
  toJSON(): string {
    return "[redacted]";
  }
  [inspect.custom](): string {
    return "Secret([redacted])";
  }
}

/**
 * A zeroed buffer for secret bytes, that stays where it is until it is zeroed: its own
 * ArrayBuffer, outside V8's heap. Buffer.allocUnsafe would share Node's pool (the bytes stay after
 * the buffer is gone), and Buffer.alloc makes a typed array inside the heap when it is small
 * (≤ 64 bytes, a password's size), which the garbage collector may copy elsewhere before it is
 * zeroed, leaving the bytes behind (seen: test/security/terminal's memory scan).
 */
export function secretBuffer(size: number): Buffer {
  return Buffer.from(new ArrayBuffer(size));
}

/** Zeroes every buffer given, ignoring undefined: for finally blocks. */
export function wipeAll(...bufs: (Uint8Array | undefined)[]): void {
  for (const b of bufs) b?.fill(0);
}
