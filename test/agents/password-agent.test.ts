// The password agent against the real systemd-ask-password, in a private ask directory.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { writeFileSync, symlinkSync, mkdirSync, rmSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { PasswordAgent, type PendingPrompt } from "../../src/agents/password-agent.js";
import { Secret } from "../../src/base/secret.js";
import { askPassword, killAskers, requirePrivateAskDir, requireTool, withTimeout, ASK_DIR, collectingLogger } from "../helpers/index.js";

requireTool("systemd-ask-password", "systemd");
requirePrivateAskDir();

interface Ctx {
  agent?: PasswordAgent;
  lines: string[];
  changes: ((p: PendingPrompt[]) => void)[];
}
const A = suite<Ctx>("agents/password-agent", { lines: [], changes: [] });

function start(ctx: Ctx): PasswordAgent {
  ctx.agent = new PasswordAgent({ askDir: ASK_DIR, log: collectingLogger(ctx.lines), onChange: (p) => ctx.changes.forEach((f) => f(p)), livenessMs: 200 });
  ctx.agent.start();
  return ctx.agent;
}

function until(ctx: Ctx, pred: (p: PendingPrompt[]) => boolean, what: string): Promise<PendingPrompt[]> {
  return withTimeout(
    new Promise<PendingPrompt[]>((resolve) => {
      const now = ctx.agent!.pending();
      if (pred(now)) return resolve(now);
      const f = (p: PendingPrompt[]) => pred(p) && resolve(p);
      ctx.changes.push(f);
    }),
    10_000,
    what,
  );
}

A.before.each((ctx) => {
  ctx.lines = [];
  ctx.changes = [];
  for (const f of readdirSync(ASK_DIR)) rmSync(join(ASK_DIR, f), { force: true, recursive: true });
});
A.after.each((ctx) => {
  killAskers();
  ctx.agent?.stop();
  ctx.agent = undefined;
});

const answer = (agent: PasswordAgent, key: number, bytes: Buffer) => {
  const s = Secret.copyOf(bytes);
  try {
    agent.answer(key, s);
  } finally {
    s.wipe();
  }
};

A("answers a real request byte-exactly (multi-byte UTF-8, spaces, 2 KiB)", async (ctx) => {
  const agent = start(ctx);
  for (const pass of ["pässwörd with spaces 🙂 ", "x".repeat(2048), " leading and trailing "]) {
    const ask = askPassword("Disk:", { id: "cryptsetup:/dev/test" });
    const [p] = await until(ctx, (l) => l.length === 1, "request visible");
    assert.is(p!.request.message, "Disk:");
    assert.is(p!.request.id, "cryptsetup:/dev/test");
    answer(agent, p!.key, Buffer.from(pass));
    const r = await withTimeout(ask.result, 10_000, "asker exit");
    assert.is(r.code, 0);
    assert.is(r.out.toString("utf8"), pass + "\n");
    await until(ctx, (l) => l.length === 0, "request gone");
  }
});

A("several requests at once, Echo= passed through, a retry after an answer is marked", async (ctx) => {
  const agent = start(ctx);
  const a = askPassword("First:", { id: "x:1" });
  const b = askPassword("Second:", { id: "x:2", echo: true });
  const list = await until(ctx, (l) => l.length === 2, "two requests");
  const second = list.find((p) => p.request.message === "Second:")!;
  assert.is(second.request.echo, true);
  answer(agent, list.find((p) => p.request.message === "First:")!.key, Buffer.from("one"));
  assert.is((await withTimeout(a.result, 10_000)).out.toString(), "one\n");
  const again = askPassword("First:", { id: "x:1" });
  const l2 = await until(ctx, (l) => l.some((p) => p.request.id === "x:1"), "second ask with the same Id");
  assert.is(l2.find((p) => p.request.id === "x:1")!.retries, 1);
  agent.cancel(second.key);
  assert.is.not((await withTimeout(b.result, 10_000)).code, 0);
  again.proc.kill();
});

A("without an Id=, a retry is the same asker asking for the same kind of secret again, not another asker", async (ctx) => {
  const agent = start(ctx);
  // systemd 252 with a TPM2+PIN token asks "LUKS2 token PIN" first and, after a wrong one, "TPM2 PIN"
  const first = askPassword("Please enter LUKS2 token PIN:", { samePid: true });
  const [p1] = await until(ctx, (l) => l.length === 1, "first PIN request");
  assert.is(p1!.request.pid, 1);
  assert.is(p1!.request.id, undefined, "systemd-ask-password wrote an Id= it was not given");
  answer(agent, p1!.key, Buffer.from("1234"));
  assert.is((await withTimeout(first.result, 10_000)).out.toString(), "1234\n");
  await until(ctx, (l) => l.length === 0, "first request gone");
  // another process asking for a PIN: a second disk, not a wrong PIN
  const other = askPassword("Please enter TPM2 PIN:");
  const [p2] = await until(ctx, (l) => l.length === 1, "another asker's request");
  assert.is.not(p2!.request.pid, 1);
  assert.is(p2!.retries, 0);
  other.proc.kill();
  await until(ctx, (l) => l.length === 0, "other request gone");
  // the first asker's PID asking for a PIN again: its PIN was wrong
  const again = askPassword("Please enter TPM2 PIN:", { samePid: true });
  const [p3] = await until(ctx, (l) => l.length === 1 && l[0]!.request.pid === 1, "the same asker again");
  assert.is(p3!.retries, 1);
  // the same PID asking for a passphrase (the TPM gave up) is another question
  const words = askPassword("Please enter passphrase for disk root:", { samePid: true });
  const l4 = await until(ctx, (l) => l.length === 2, "a second question from the same PID");
  assert.is(l4.find((p) => p.request.message.startsWith("Please enter passphrase"))!.retries, 0);
  again.proc.kill();
  words.proc.kill();
});

A("a request whose asker dies vanishes from the list", async (ctx) => {
  start(ctx);
  const a = askPassword("Gone soon:");
  await until(ctx, (l) => l.length === 1, "request visible");
  a.proc.kill("SIGKILL"); // the ask file stays behind; the dead PID removes it from the screen
  await until(ctx, (l) => l.length === 0, "dead asker's request removed");
});

A("malformed, symlinked, FIFO and foreign-socket ask files are skipped with one log line each", async (ctx) => {
  mkdirSync(join(ASK_DIR, "ask.dir"));
  writeFileSync(join(ASK_DIR, "ask.nosocket"), "[Ask]\nMessage=x\n");
  writeFileSync(join(ASK_DIR, "ask.badutf8"), Buffer.from([0x5b, 0x41, 0x73, 0x6b, 0x5d, 0x0a, 0xff]));
  writeFileSync(join(ASK_DIR, "ask.outside"), "[Ask]\nSocket=/tmp/elsewhere.sock\nMessage=x\n");
  writeFileSync(join(ASK_DIR, "ask.huge"), Buffer.alloc(200 * 1024, 0x41));
  symlinkSync("/etc/passwd", join(ASK_DIR, "ask.link"));
  spawnSync("mkfifo", [join(ASK_DIR, "ask.fifo")]);
  writeFileSync(join(ASK_DIR, "notask.txt"), "ignored entirely");
  const agent = start(ctx);
  const ask = askPassword("Real one:");
  const list = await until(ctx, (l) => l.length === 1, "the real request still shows");
  const warnings = ctx.lines.filter((l) => l.startsWith("warning ignoring ask file"));
  for (const n of ["ask.dir", "ask.nosocket", "ask.badutf8", "ask.outside", "ask.huge", "ask.link", "ask.fifo"]) {
    assert.is(warnings.filter((w) => w.includes(`'${n}'`)).length, 1, `${n}: ${warnings.join(" | ")}`);
  }
  assert.not.ok(warnings.some((w) => w.includes("notask")));
  agent.scan();
  agent.scan(); // re-scans do not log the same bad file again
  assert.is(ctx.lines.filter((l) => l.startsWith("warning ignoring ask file")).length, warnings.length);
  answer(agent, list[0]!.key, Buffer.from("ok"));
  assert.is((await withTimeout(ask.result, 10_000)).out.toString(), "ok\n");
});

A("an expired NotAfter is ignored", async (ctx) => {
  // a socket of root in the ask dir, but a deadline in the past (1 µs after boot)
  const ask = askPassword("Live:");
  const agent = start(ctx);
  await until(ctx, (l) => l.length === 1, "live request");
  const sck = agent.pending()[0]!.request.socket;
  writeFileSync(join(ASK_DIR, "ask.expired"), `[Ask]\nSocket=${sck}\nNotAfter=1\nMessage=old\n`);
  agent.scan();
  assert.is(agent.pending().length, 1);
  assert.is(agent.pending()[0]!.request.message, "Live:");
  ask.proc.kill();
});

A("a passphrase typed for one disk answers the others pending that accept cached ones; one that does not is asked", async (ctx) => {
  const agent = start(ctx);
  const root = askPassword("Root:", { id: "cryptsetup:/dev/a", acceptCached: true });
  const home = askPassword("Home:", { id: "cryptsetup:/dev/b", acceptCached: true });
  const swap = askPassword("Swap:", { id: "cryptsetup:/dev/c" });
  const all = await until(ctx, (l) => l.length === 3, "three requests");
  assert.ok(all.every((p) => p.retries === 0));
  answer(agent, all.find((p) => p.request.message === "Root:")!.key, Buffer.from("shared pass"));
  // nobody typed for /home: it got root's, byte-exact
  const [r, h] = await withTimeout(Promise.all([root.result, home.result]), 10_000, "root and home answered");
  assert.is(r.out.toString(), "shared pass\n");
  assert.is(h.out.toString(), "shared pass\n");
  assert.is(h.code, 0);
  const left = await until(ctx, (l) => l.length === 1, "only the request without AcceptCached left");
  assert.is(left[0]!.request.message, "Swap:");
  assert.ok(
    ctx.lines.some((l) => l.startsWith("info password request answered with the passphrase typed for another") && l.includes("cryptsetup:/dev/b")),
    ctx.lines.join("\n"),
  );
  assert.not.ok(
    ctx.lines.some((l) => l.includes("shared pass")),
    "a passphrase in the log",
  );
  answer(agent, left[0]!.key, Buffer.from("another"));
  assert.is((await withTimeout(swap.result, 10_000, "swap answered")).out.toString(), "another\n");
  // nothing is kept: a request that comes later is asked (systemd-cryptsetup's keyring serves those)
  const later = askPassword("Data:", { id: "cryptsetup:/dev/d", acceptCached: true });
  const [p] = await until(ctx, (l) => l.length === 1, "a later request asked");
  answer(agent, p!.key, Buffer.from("data's"));
  assert.is((await withTimeout(later.result, 10_000, "data answered")).out.toString(), "data's\n");
});

A("a PIN is never handed to a passphrase request, nor a passphrase to a PIN request", async (ctx) => {
  const agent = start(ctx);
  const pin = askPassword("Please enter TPM2 PIN:", { acceptCached: true });
  const home = askPassword("Please enter passphrase for disk home:", { id: "cryptsetup:/dev/b", acceptCached: true });
  const all = await until(ctx, (l) => l.length === 2, "two requests");
  answer(agent, all.find((p) => p.request.message.includes("TPM2"))!.key, Buffer.from("2468"));
  assert.is((await withTimeout(pin.result, 10_000, "PIN answered")).out.toString(), "2468\n");
  const left = await until(ctx, (l) => l.length === 1, "the passphrase request still asked");
  assert.match(left[0]!.request.message, /passphrase for disk home/);
  const pin2 = askPassword("Please enter TPM2 PIN:", { acceptCached: true });
  const both = await until(ctx, (l) => l.length === 2, "a PIN request beside it");
  answer(agent, left[0]!.key, Buffer.from("home pass"));
  assert.is((await withTimeout(home.result, 10_000, "home answered")).out.toString(), "home pass\n");
  const still = await until(ctx, (l) => l.length === 1, "the PIN request still asked");
  assert.is(still[0]!.key, both.find((p) => p.request.message.includes("TPM2"))!.key);
  assert.not.ok(
    ctx.lines.some((l) => l.includes("typed for another")),
    ctx.lines.join("\n"),
  );
  pin2.proc.kill();
});

A("a passphrase is handed on once per Id: the request asked again is shown, and not as a wrong passphrase", async (ctx) => {
  const agent = start(ctx);
  const root = askPassword("Root:", { id: "cryptsetup:/dev/a", acceptCached: true });
  const home = askPassword("Home:", { id: "cryptsetup:/dev/b", acceptCached: true });
  let all = await until(ctx, (l) => l.length === 2, "both requests");
  answer(agent, all.find((p) => p.request.message === "Root:")!.key, Buffer.from("root's"));
  await withTimeout(Promise.all([root.result, home.result]), 10_000, "both answered");
  // root's did not open /home: systemd-cryptsetup asks again (here still with AcceptCached=1);
  // root is asked again too (its passphrase was wrong): typing for root must not answer /home twice
  const home2 = askPassword("Home:", { id: "cryptsetup:/dev/b", acceptCached: true });
  const root2 = askPassword("Root:", { id: "cryptsetup:/dev/a", acceptCached: true });
  all = await until(ctx, (l) => l.length === 2, "both asked again");
  assert.is(all.find((p) => p.request.message === "Home:")!.retries, 0, "nobody typed for /home: not 'wrong'");
  assert.is(all.find((p) => p.request.message === "Root:")!.retries, 1);
  answer(agent, all.find((p) => p.request.message === "Root:")!.key, Buffer.from("root's, right"));
  await withTimeout(root2.result, 10_000, "root answered");
  const [p] = await until(ctx, (l) => l.length === 1, "/home still asked");
  assert.is(p!.request.message, "Home:");
  answer(agent, p!.key, Buffer.from("home's"));
  assert.is((await withTimeout(home2.result, 10_000, "home answered")).out.toString(), "home's\n");
});

A.run();
