// The first-boot field checks the browser and the daemon share, and the 0x03 password frame.
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  hostnameProblem,
  usernameProblem,
  fullNameProblem,
  timezoneSyntaxProblem,
  passwordProblem,
  problemMessage,
  encodePassword,
  MAX_PASSWORD_BYTES,
  FirstbootAnswers,
  FirstbootView,
  PROBLEM_CODES,
  PROBLEM_MAX,
  PROBLEM_TEXT,
} from "../../src/protocol/firstboot.js";
import { decodeFrame, ClientMessage } from "../../src/protocol/greeter.js";

test("host names: RFC 1123 labels, 64 characters at most", () => {
  for (const ok of ["box", "Box-1", "a", "web01.example.org", "x".repeat(63), `${"a".repeat(31)}.${"b".repeat(32)}`]) assert.is(hostnameProblem(ok), null, ok);
  for (const bad of [
    "",
    "-box",
    "box-",
    "a..b",
    ".box",
    "box.",
    "bö",
    "has space",
    "under_score",
    "x".repeat(64),
    `${"a".repeat(32)}.${"b".repeat(32)}`,
    "a/b",
  ])
    assert.type(hostnameProblem(bad), "string", bad);
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
  for (const bad of ["", "../etc/passwd", "Europe/../../etc", "/UTC", "Europe/", "Europe//Berlin", "Europe Berlin"])
    assert.type(timezoneSyntaxProblem(bad), "string", bad);
});

test("passwords: empty, mismatched, line breaks and over-long ones are refused", () => {
  assert.is(passwordProblem("s3cret pass", "s3cret pass"), null);
  assert.is(passwordProblem("ü".repeat(MAX_PASSWORD_BYTES / 2), "ü".repeat(MAX_PASSWORD_BYTES / 2)), null);
  assert.is(passwordProblem("", ""), "password-empty");
  assert.is(passwordProblem("abc", "abd"), "password-mismatch");
  assert.is(passwordProblem("abc", ""), "password-mismatch");
  assert.is(passwordProblem("a\nb", "a\nb"), "password-line-break");
  // 256 bytes pass; 257 would be cut by openssl passwd: refused
  assert.is(passwordProblem("ü".repeat(MAX_PASSWORD_BYTES / 2) + "a", "ü".repeat(MAX_PASSWORD_BYTES / 2) + "a"), "password-too-long");
});

test("problems are codes; the English sentence on the wire is the one sent before codes", () => {
  assert.is(hostnameProblem("x".repeat(64) + "y"), "hostname-too-long");
  assert.is(hostnameProblem("a..b"), "hostname-dots");
  assert.is(usernameProblem("Ada"), "username-characters");
  assert.is(timezoneSyntaxProblem("../etc"), "timezone-invalid");
  assert.is(problemMessage("hostname-too-long"), "Use at most 64 characters.");
  assert.is(problemMessage("hostname-part-too-long"), "Each part between dots must be at most 63 characters.");
  assert.is(problemMessage("password-too-long"), "Use at most 256 bytes.");
  assert.is(problemMessage("username-taken-user", "daemon"), "The name 'daemon' is already used by an account on this system.");
  // a name is never read as a replacement pattern
  assert.is(problemMessage("username-taken-group", "a$&b"), "The name 'a$&b' is already used by a group on this system.");
  for (const code of PROBLEM_CODES) {
    const m = problemMessage(code, "ada");
    assert.not.match(m, /\{\w+\}/, `${code}: a placeholder left in '${m}'`);
    assert.ok(m.length <= 256, code);
  }
  // a {max} with no limit would read "at most  characters"
  for (const code of PROBLEM_CODES) assert.is(PROBLEM_TEXT[code].includes("{max}"), PROBLEM_MAX[code] !== undefined, code);
});

test("errors: a code is optional (a daemon from before codes), an unknown one is refused", () => {
  const view = (errors: unknown[]) => ({
    phase: "form",
    values: { layout: "us", variant: "", locale: "C.UTF-8", timezone: "UTC", hostname: "", fullName: "", username: "", rootLocked: true },
    errors,
    hashed: { user: false, root: false },
    message: "",
  });
  assert.ok(FirstbootView.safeParse(view([{ field: "hostname", message: "Enter a name for this computer." }])).success);
  assert.ok(FirstbootView.safeParse(view([{ field: "hostname", code: "hostname-empty", message: "Enter a name for this computer." }])).success);
  assert.not.ok(FirstbootView.safeParse(view([{ field: "hostname", code: "no-such-code", message: "x" }])).success);
  assert.not.ok(FirstbootView.safeParse(view([{ field: "hostname", code: "hostname-empty", message: "x", params: {} }])).success, "still strict");
  assert.ok(
    FirstbootView.safeParse({
      ...view([]),
      phase: "failed",
      message: "Setup could not be completed: useradd failed (exit 9).",
      detail: "useradd failed (exit 9)",
    }).success,
  );
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
  const answers = {
    layout: "de",
    variant: "",
    locale: "de_DE.UTF-8",
    timezone: "Europe/Berlin",
    hostname: "box",
    fullName: "",
    username: "ada",
    rootLocked: true,
  };
  assert.ok(ClientMessage.safeParse({ type: "firstboot_submit", answers }).success);
  assert.not.ok(FirstbootAnswers.safeParse({ ...answers, password: "x" }).success);
  assert.not.ok(ClientMessage.safeParse({ type: "firstboot_submit", answers: { ...answers, rootPassword: "x" } }).success);
});

test.run();
