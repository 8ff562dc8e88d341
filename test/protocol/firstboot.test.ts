// The first-boot field checks the browser and the daemon share, and the 0x03 password frame.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { hostnameProblem, usernameProblem, fullNameProblem, timezoneSyntaxProblem, passwordProblem, encodePassword, MAX_PASSWORD_BYTES, FirstbootAnswers } from "../../src/protocol/firstboot.js";
import { decodeFrame, ClientMessage } from "../../src/protocol/greeter.js";

test("host names: RFC 1123 labels, 64 characters at most", () => {
  for (const ok of ["box", "Box-1", "a", "web01.example.org", "x".repeat(63), `${"a".repeat(31)}.${"b".repeat(32)}`]) assert.is(hostnameProblem(ok), null, ok);
  for (const bad of ["", "-box", "box-", "a..b", ".box", "box.", "bö", "has space", "under_score", "x".repeat(64), `${"a".repeat(32)}.${"b".repeat(32)}`, "a/b"]) assert.type(hostnameProblem(bad), "string", bad);
});

test("login names: Debian's NAME_REGEX, 32 characters at most", () => {
  for (const ok of ["ada", "a", "ada-l", "ada_l0", "a".repeat(32)]) assert.is(usernameProblem(ok), null, ok);
  for (const bad of ["", "Ada", "0ada", "-ada", "_ada", "ad a", "ada.l", "a".repeat(33), "ädä", "ada$"]) assert.type(usernameProblem(bad), "string", bad);
});

test("full names: no GECOS separators or control characters", () => {
  for (const ok of ["", "Ada Lovelace", "Zoë O'Brien-Smith"]) assert.is(fullNameProblem(ok), null, ok);
  for (const bad of ["a:b", "Ada, Countess", "line\nbreak", "tab\there", "x".repeat(129)]) assert.type(fullNameProblem(bad), "string", bad);
});

test("time zone names: tzdata spelling, never '..'", () => {
  for (const ok of ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5"]) assert.is(timezoneSyntaxProblem(ok), null, ok);
  for (const bad of ["", "../etc/passwd", "Europe/../../etc", "/UTC", "Europe/", "Europe//Berlin", "Europe Berlin"]) assert.type(timezoneSyntaxProblem(bad), "string", bad);
});

test("passwords: empty, mismatched, line breaks and over-long ones are refused", () => {
  assert.is(passwordProblem("s3cret pass", "s3cret pass"), null);
  assert.is(passwordProblem("ü".repeat(MAX_PASSWORD_BYTES / 2), "ü".repeat(MAX_PASSWORD_BYTES / 2)), null);
  assert.is(passwordProblem("", ""), "Enter a password.");
  assert.is(passwordProblem("abc", "abd"), "The two passwords do not match.");
  assert.is(passwordProblem("abc", ""), "The two passwords do not match.");
  assert.type(passwordProblem("a\nb", "a\nb"), "string");
  // 256 bytes pass; 257 would be cut by openssl passwd: refused
  assert.type(passwordProblem("ü".repeat(MAX_PASSWORD_BYTES / 2) + "a", "ü".repeat(MAX_PASSWORD_BYTES / 2) + "a"), "string");
});

test("password frames: [0x03][field][bytes], fields 1 and 2 only, bounded", () => {
  const pw = new TextEncoder().encode("pässwort ");
  const f = encodePassword(2, pw);
  const d = decodeFrame(f);
  assert.ok(d.ok && d.kind === "firstboot_password");
  if (d.ok && d.kind === "firstboot_password") {
    assert.is(d.field, 2);
    assert.equal(Array.from(f.subarray(d.start)), Array.from(pw));
  }
  const empty = decodeFrame(encodePassword(1, new Uint8Array(0)));
  assert.ok(empty.ok && empty.kind === "firstboot_password" && empty.field === 1);
  assert.equal(decodeFrame(new Uint8Array([3])), { ok: false, reason: "bad first-boot password field" });
  assert.equal(decodeFrame(encodePassword(3, pw)), { ok: false, reason: "bad first-boot password field" });
  assert.equal(decodeFrame(encodePassword(0, pw)), { ok: false, reason: "bad first-boot password field" });
  assert.equal(decodeFrame(encodePassword(1, new Uint8Array(MAX_PASSWORD_BYTES + 1))), { ok: false, reason: "password too long" });
});

test("the submit message carries no password field", () => {
  const answers = { layout: "de", variant: "", locale: "de_DE.UTF-8", timezone: "Europe/Berlin", hostname: "box", fullName: "", username: "ada", rootLocked: true };
  assert.ok(ClientMessage.safeParse({ type: "firstboot_submit", answers }).success);
  assert.not.ok(FirstbootAnswers.safeParse({ ...answers, password: "x" }).success);
  assert.not.ok(ClientMessage.safeParse({ type: "firstboot_submit", answers: { ...answers, rootPassword: "x" } }).success);
});

test.run();
