// The pacing of root passwords (src/greeter/password-rate.ts): the delays, the bound they make,
// and where a password line ends for sulogin on a pty.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { failureDelayMs, maxTriesWithin, passwordLineEnd } from "../../src/greeter/password-rate.js";

test("3 s after each of the first three failures in a row, then doubling up to a minute", () => {
  assert.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 50].map(failureDelayMs), [0, 3000, 3000, 3000, 6000, 12_000, 24_000, 48_000, 60_000, 60_000]);
});

test("the bound: 7 tries in the first minute, then one a minute", () => {
  assert.is(maxTriesWithin(0), 1);
  assert.is(maxTriesWithin(2999), 1);
  assert.is(maxTriesWithin(3000), 2);
  assert.is(maxTriesWithin(20_000), 5);
  assert.is(maxTriesWithin(60_000), 7);
  assert.is(maxTriesWithin(60 * 60_000), 8 + Math.floor((3600 - 99) / 60)); // the 8th at 99 s, then every 60 s: 66 in an hour
  // the bound is the schedule's: each try one delay after the one before
  for (let ms = 0; ms < 10 * 60_000; ms += 250) {
    let at = 0;
    for (let n = 1; n < maxTriesWithin(ms); n++) at += failureDelayMs(n);
    assert.ok(at <= ms && at + failureDelayMs(maxTriesWithin(ms)) > ms, `at ${ms} ms`);
  }
});

test("a password line ends at CR, LF or NUL (sulogin reads a pty raw)", () => {
  const b = (s: string) => Buffer.from(s, "latin1");
  assert.is(passwordLineEnd(b("secret")), -1);
  assert.is(passwordLineEnd(b("secret\r")), 7);
  assert.is(passwordLineEnd(b("a\nb\r")), 2);
  assert.is(passwordLineEnd(b("a\nb\r"), 2), 4);
  assert.is(passwordLineEnd(b("ab\0cd")), 3);
  assert.is(passwordLineEnd(b("pässwörd\x7f\x15")), -1); // erase and kill edit the line, they do not end it
});

test.run();
