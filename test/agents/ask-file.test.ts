import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseAskFile } from "../../src/agents/ask-file.js";

const enc = (s: string) => new TextEncoder().encode(s);
const ask = (body: string) => parseAskFile("ask.x", enc(`[Ask]\n${body}`));

test("parses a systemd-ask-password file", () => {
  const r = ask(
    "PID=42\nSocket=/run/systemd/ask-password/sck.1\nAcceptCached=0\nEcho=0\nNotAfter=123456\nSilent=0\nMessage=Please enter passphrase for disk root:\nId=cryptsetup:/dev/vda2\nIcon=drive-harddisk\n",
  );
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(r.request.pid, 42);
  assert.is(r.request.socket, "/run/systemd/ask-password/sck.1");
  assert.is(r.request.notAfterUs, 123456n);
  assert.is(r.request.message, "Please enter passphrase for disk root:");
  assert.is(r.request.id, "cryptsetup:/dev/vda2");
  assert.is(r.request.echo, false);
});

test("splits at the first '=' and keeps ';' and '#' inside values", () => {
  const r = ask("Socket=/s/sck.1\nMessage=a=b; c # d\n");
  assert.ok(r.ok && r.request.message === "a=b; c # d");
});

test("booleans: Echo=yes, Silent=1, AcceptCached=true", () => {
  const r = ask("Socket=/s/sck\nEcho=yes\nSilent=1\nAcceptCached=true\n");
  assert.ok(r.ok && r.request.echo && r.request.silent && r.request.acceptCached);
});

for (const [name, body, reason] of [
  ["no Socket", "Message=hi\n", "no Socket= key"],
  ["relative Socket", "Socket=sck.1\n", "Socket= is not an absolute socket path"],
  ["bad PID", "Socket=/s/x\nPID=-1\n", "PID= is not a process id"],
  ["bad NotAfter", "Socket=/s/x\nNotAfter=soon\n", "NotAfter= is not a number"],
  ["bad Echo", "Socket=/s/x\nEcho=maybe\n", "Echo= is not a boolean"],
  ["duplicate Socket", "Socket=/s/x\nSocket=/s/y\n", "duplicate Socket= key"],
  ["no key=value", "Socket=/s/x\ngarbage\n", "a line in [Ask] has no key=value"],
] as const) {
  test(`rejects: ${name}`, () => {
    const r = ask(body);
    assert.equal(r, { ok: false, reason });
  });
}

test("rejects a file without [Ask]", () => {
  assert.equal(parseAskFile("ask.x", enc("Socket=/s/x\n")), { ok: false, reason: "no [Ask] section" });
});

test("rejects invalid UTF-8 and NUL bytes", () => {
  const bad = new Uint8Array([...enc("[Ask]\nSocket=/s/x\nMessage="), 0xff, 0xfe, 0x0a]);
  assert.equal(parseAskFile("ask.x", bad), { ok: false, reason: "not valid UTF-8" });
  assert.equal(parseAskFile("ask.x", enc("[Ask]\nSocket=/s/x\0\n")), { ok: false, reason: "contains a NUL byte" });
});

test("rejects oversized files", () => {
  const r = parseAskFile("ask.x", new Uint8Array(64 * 1024 + 1));
  assert.is(r.ok, false);
});

test("an injected line cannot forge a second Socket (systemd PR #43150 vector)", () => {
  // an asker that wrote a newline inside Message= produces a separate line: a duplicate Socket is refused
  const r = ask("Socket=/run/systemd/ask-password/sck.1\nMessage=hi\nSocket=/tmp/evil\n");
  assert.equal(r, { ok: false, reason: "duplicate Socket= key" });
});

test("control characters are stripped from Message", () => {
  const r = ask("Socket=/s/x\nMessage=a\x1b[2Jb\x07c\n");
  assert.ok(r.ok && r.request.message === "a[2Jbc");
});

test("keys outside [Ask] are ignored", () => {
  const r = parseAskFile("ask.x", enc("[Other]\nSocket=/evil\n[Ask]\nSocket=/s/x\n"));
  assert.ok(r.ok && r.request.socket === "/s/x");
});

test.run();
