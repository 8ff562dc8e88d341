// How fast the recovery terminal lets anyone try root passwords. sulogin itself takes them as fast
// as they come: after a wrong one it prints "Login incorrect" and prompts again at once (no sleep,
// no PAM, so no pam_faildelay; util-linux login-utils/sulogin.c), where login(1) waits
// FAIL_DELAY (3 s) after each failure. So foyerd paces the lines it passes to sulogin: after each
// password line, the next is held until a delay has passed, 3 s for the first three failures in a
// row, then doubling up to a minute; a shell starting ends the row. Pure: the terminal bridge
// (terminal.ts) holds and releases the bytes.

/** The delay after the `failures`-th wrong password in a row before the next one is read. */
export function failureDelayMs(failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(60_000, 3_000 * 2 ** Math.max(0, failures - 3));
}

/**
 * The most passwords that can reach sulogin within `ms` of the first, from a foyerd with no
 * failures yet: 7 in the first minute (at 0, 3, 6, 9, 15, 27 and 51 s), then one a minute.
 */
export function maxTriesWithin(ms: number): number {
  let tries = 1;
  for (let at = failureDelayMs(1); at <= ms; at += failureDelayMs(tries)) tries++;
  return tries;
}

/**
 * Where the first password line in `bytes` ends (the index after its last byte), or -1 when it
 * does not end there. sulogin treats a pty as a serial line: raw mode, one byte a read, and CR, LF
 * or NUL ends the password (getpasswd()).
 */
export function passwordLineEnd(bytes: Uint8Array, from = 0): number {
  for (let i = from; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x0d || b === 0x0a || b === 0x00) return i + 1;
  }
  return -1;
}
