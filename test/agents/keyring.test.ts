// Single sign-on's rule (src/agents/keyring.ts): only the passphrase that opened its disk is kept,
// in the kernel's keyring through the real keyctl. This machine's kernel has no device-mapper, so
// "the disk has a holder" is played here; the real thing — systemd-cryptsetup opening a LUKS2 root
// in the VM appliance and the key read in the real root — is test/vm/handoff.test.ts.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { KeyringCache, cacheWithLast, cryptsetupDevice } from "../../src/agents/keyring.js";
import { Secret } from "../../src/base/secret.js";
import { collectingLogger, pollUntil, requireTool } from "../helpers/index.js";

requireTool("keyctl", "keyutils");

const ID = "cryptsetup:/dev/null"; // any device node: its kernel name is what holders are looked up by
const keySerial = () => {
  const r = spawnSync("keyctl", ["search", "@u", "user", "cryptsetup"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
};
const dropKey = () => {
  const s = keySerial();
  if (s) spawnSync("keyctl", ["unlink", s, "@u"]);
};
const secret = (s: string) => Secret.copyOf(Buffer.from(s));

function cache(opts: { enabled?: boolean; confirmMs?: number; add?: (b: Buffer, t: number) => Promise<string> } = {}) {
  const lines: string[] = [];
  const holders = { now: [] as string[], asked: [] as string[] };
  const c = new KeyringCache({
    enabled: opts.enabled ?? true,
    timeoutS: 150,
    log: collectingLogger(lines),
    pollMs: 10,
    confirmMs: opts.confirmMs ?? 5000,
    holders: (dev) => (holders.asked.push(dev), holders.now),
    ...(opts.add && { add: opts.add }),
  });
  return { c, lines, holders };
}

test.before.each(dropKey);
test.after(dropKey);

test("a request's Id names its device by the kernel's name; other Ids name none", () => {
  assert.is(cryptsetupDevice("cryptsetup:/dev/null"), "null");
  assert.is(cryptsetupDevice("cryptsetup:/dev/does-not-exist"), undefined);
  assert.is(cryptsetupDevice("cryptsetup:relative"), undefined);
  assert.is(cryptsetupDevice("fsck:/dev/null"), undefined);
  assert.is(cryptsetupDevice(undefined), undefined);
});

test("the passphrase that opened the disk goes into root's user keyring with keyctl, expiring, and its bytes are zeroed", async () => {
  const { c, lines, holders } = cache();
  const s = secret("right ünd 2");
  c.answered(ID, s);
  s.wipe(); // the caller wipes at once: the cache holds its own copy
  await pollUntil(() => holders.asked.length >= 3, 5000, "the device looked at");
  assert.is(keySerial(), undefined, "kept before the disk was opened");
  holders.now = ["dm-0"];
  await pollUntil(() => lines.some((l) => /passphrase kept|cannot add/.test(l)), 5000, "'passphrase kept'");
  const serial = keySerial();
  assert.ok(serial && lines.some((l) => l.includes("passphrase kept")), `no key; log: ${lines.join(" | ")}`);
  const payload = spawnSync("keyctl", ["pipe", serial!]).stdout;
  assert.ok(payload.equals(Buffer.from("right ünd 2\0")), `the key holds ${payload.length} bytes, not the passphrase and a NUL`);
  const line = readFileSync("/proc/keys", "utf8")
    .split("\n")
    .find((l) => l.startsWith(Number(serial).toString(16).padStart(8, "0") + " "));
  assert.match(line!.split(/\s+/)[3]!, /^(\d+s|[12]m)$/, `not expiring within 150 s: ${line}`);
  assert.ok(
    lines.every((l) => !l.includes("right ünd")),
    "the passphrase is in the log",
  );
});

test("the confirmed passphrase goes last in systemd-cryptsetup's list (where pam_gdm reads), once; the others keep their order", () => {
  const b = (s: string) => Buffer.from(s, "latin1");
  const cases: [string, string, string][] = [
    ["right\0", "", "right\0"],
    ["right\0", "wrong\0right\0other\0", "wrong\0other\0right\0"],
    ["right\0", "right\0", "right\0"],
    ["right\0", "righter\0rig\0", "righter\0rig\0right\0"],
    ["right\0", "\0\0a", "a\0right\0"], // empty entries dropped, an unterminated last one ended
  ];
  for (const [last, list, want] of cases) assert.is(cacheWithLast(b(last), b(list)).toString("latin1"), want, JSON.stringify([last, list]));
});

test("systemd-cryptsetup's own cache in the keyring is kept ahead of the confirmed passphrase", async () => {
  const pushed = spawnSync("keyctl", ["padd", "user", "cryptsetup", "@u"], { input: Buffer.from("typo\0right\0home-only\0") });
  assert.is(pushed.status, 0, `keyctl padd: ${pushed.stderr}`);
  const { c, lines, holders } = cache();
  c.answered(ID, secret("right"));
  holders.now = ["dm-0"];
  await pollUntil(() => lines.some((l) => /passphrase kept|cannot add/.test(l)), 5000, "'passphrase kept'");
  const payload = spawnSync("keyctl", ["pipe", keySerial()!]).stdout;
  assert.is(payload.toString(), "typo\0home-only\0right\0");
  assert.match(lines.join("\n"), /cachedAfter\W+2\b/);
});

// foyer.service's KeyringMode=private gives foyerd a session keyring that does not reach root's user
// keyring, where systemd-cryptsetup's key may be read by a possessor only (add_key's default)
const IN_PRIVATE_SESSION = `
const { KeyringCache } = await import("./src/agents/keyring.ts");
const { Secret } = await import("./src/base/secret.ts");
const { collectingLogger, pollUntil } = await import("./test/helpers/index.ts");
const lines = [];
const c = new KeyringCache({ enabled: true, timeoutS: 150, log: collectingLogger(lines), pollMs: 10, confirmMs: 5000, holders: () => ["dm-0"] });
c.answered("cryptsetup:/dev/null", Secret.copyOf(Buffer.from("right")));
await pollUntil(() => lines.some((l) => /passphrase kept|cannot add/.test(l)), 10000, "kept");
console.log(lines.join("\\n"));
`;

test("from a service's private session keyring, systemd's possessor-only cache is read and kept ahead", () => {
  const pushed = spawnSync("keyctl", ["padd", "user", "cryptsetup", "@u"], { input: Buffer.from("typo\0right\0"), encoding: "utf8" });
  assert.is(pushed.status, 0, `keyctl padd: ${pushed.stderr}`);
  assert.is(spawnSync("keyctl", ["setperm", pushed.stdout.trim(), "0x3f010000"]).status, 0);
  const child = spawnSync("keyctl", ["session", "-", process.execPath, "--import", "tsx", "--input-type=module", "-e", IN_PRIVATE_SESSION], {
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.match(child.stdout, /passphrase kept[^\n]*cachedAfter\W+1\b/, `${child.stdout}${child.stderr}`);
  assert.is(spawnSync("keyctl", ["pipe", keySerial()!]).stdout.toString(), "typo\0right\0");
});

test("a request asked again before its disk opened: the answer was wrong and is never kept", async () => {
  const added: Buffer[] = [];
  const { c, lines, holders } = cache({ add: async (b) => (added.push(Buffer.from(b)), "1") });
  c.answered(ID, secret("wrong"));
  c.asked(ID);
  assert.match(lines.join("\n"), /did not open the disk, not kept/);
  c.answered(ID, secret("right"));
  holders.now = ["dm-3"];
  await pollUntil(() => added.length === 1, 5000, "the right one added");
  assert.is(added[0]!.toString(), "right\0");
  await new Promise((r) => setTimeout(r, 100));
  assert.is(added.length, 1, "the wrong one was added too");
});

test("the buffer handed to keyctl is zeroed once it is done; an unopened disk's answer is dropped at the deadline", async () => {
  let seen: Buffer | undefined;
  let finish!: (s: string) => void;
  const { c, holders } = cache({ add: (b) => ((seen = b), new Promise((r) => (finish = r))) });
  c.answered(ID, secret("zero me"));
  holders.now = ["dm-1"];
  await pollUntil(() => seen !== undefined, 5000, "add called");
  assert.is(seen!.toString(), "zero me\0", "zeroed before keyctl had it");
  finish("7");
  await pollUntil(() => seen!.every((b) => b === 0), 5000, "the buffer zeroed after keyctl");

  const late = cache({ confirmMs: 50, add: async () => assert.unreachable("added without a holder") as never });
  late.c.answered(ID, secret("never opened"));
  await pollUntil(() => late.lines.some((l) => l.includes("not opened in time")), 5000, "'not opened in time'");
});

test("off (the default), an Id that names no device, or stopped: nothing is kept", async () => {
  const off = cache({ enabled: false });
  off.c.answered(ID, secret("x"));
  const noDev = cache();
  noDev.c.answered("cryptsetup:/dev/none-such", secret("x"));
  noDev.c.answered(undefined, secret("x"));
  const stopped = cache();
  stopped.c.answered(ID, secret("x"));
  stopped.c.stop();
  for (const x of [off, noDev, stopped]) x.holders.now = ["dm-0"];
  await new Promise((r) => setTimeout(r, 200)); // twenty polls' worth
  assert.equal(off.holders.asked, [], "a disabled cache looked at the device");
  assert.equal(noDev.holders.asked, []);
  assert.ok(stopped.holders.asked.length <= 1, "a stopped cache kept polling");
  assert.is(keySerial(), undefined);
});

test.run();
