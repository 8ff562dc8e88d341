// The X server's access control. Started without -auth, an X server lets any local uid connect:
// screenshot the greeter, read the keyboard, type into it. So foyerd makes one random
// MIT-MAGIC-COOKIE-1 per start: the X server reads it from an Xauthority file (-auth), its
// clients find it there through XAUTHORITY (the greeter's browser, setxkbmap), and foyerd's own
// connection (x11-keygrab.ts) sends it from memory. The cookie never goes into an argv or an
// environment; the file's path does.
import { randomFillSync } from "node:crypto";
import { secretBuffer } from "../base/secret.js";

export const COOKIE_PROTOCOL = "MIT-MAGIC-COOKIE-1";
const COOKIE_BYTES = 16;
/** an entry for any host: with an empty display number it matches whatever display -displayfd picks */
const FAMILY_WILD = 0xffff;

/** A new cookie, in a buffer of its own off V8's heap (secretBuffer). */
export function newXCookie(): Buffer {
  return randomFillSync(secretBuffer(COOKIE_BYTES));
}

/**
 * An Xauthority file holding `cookie` alone, as libXau reads it: per entry a big-endian u16
 * family, then address, display number, protocol name and data, each a big-endian u16 length and
 * its bytes. The caller zeroes the returned buffer once it is written.
 */
export function xauthorityFile(cookie: Buffer): Buffer {
  const name = Buffer.from(COOKIE_PROTOCOL, "latin1");
  const out = secretBuffer(2 + 2 + 2 + 2 + name.length + 2 + cookie.length);
  let at = out.writeUInt16BE(FAMILY_WILD, 0);
  at = out.writeUInt16BE(0, at); // address
  at = out.writeUInt16BE(0, at); // display number
  at = out.writeUInt16BE(name.length, at);
  at += name.copy(out, at);
  at = out.writeUInt16BE(cookie.length, at);
  cookie.copy(out, at);
  return out;
}
