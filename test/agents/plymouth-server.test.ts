// foyer's Plymouth protocol server against Debian's real `plymouth` client, in a private network
// namespace (the client only knows the abstract name; see test/helpers/netns.ts). What the client
// does at each command is what these tests assert: exit codes, stdout bytes, what the server saw.
import { runInPrivateNetns } from "../helpers/netns.js";
runInPrivateNetns(import.meta.url);

import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, writeFileSync, rmSync, readFileSync, existsSync, chmodSync, symlinkSync, lstatSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { PlymouthServer, PLYMOUTH_SOCKET, PLYMOUTH_KEY_BASE, activatedFd, type PlymouthPrompt } from "../../src/agents/plymouth.js";
import { encodeRequest } from "../../src/agents/plymouth-protocol.js";
import { Secret } from "../../src/base/secret.js";
import { requireTool, withTimeout, pollUntil, collectingLogger } from "../helpers/index.js";
import { fuzzRandom } from "../helpers/random.js";
import { ply, killClients, rawClient } from "../helpers/plymouth.js";

requireTool("plymouth", "plymouth");
requireTool("python3", "python3");

interface Ctx {
  server?: PlymouthServer;
  lines: string[];
  others: ChildProcess[];
}
const S = suite<Ctx>("agents/plymouth-server", { lines: [], others: [] });

async function start(ctx: Ctx, o: Partial<ConstructorParameters<typeof PlymouthServer>[0]> = {}): Promise<PlymouthServer> {
  ctx.server = new PlymouthServer({
    socket: PLYMOUTH_SOCKET,
    legacy: true,
    serve: true,
    cachePasswords: false,
    log: collectingLogger(ctx.lines),
    partialTimeoutMs: 300,
    ...o,
  });
  await withTimeout(ctx.server.start(), 5_000, "server start");
  return ctx.server;
}

function nextPrompts(s: PlymouthServer, pred: (p: PlymouthPrompt[]) => boolean): Promise<PlymouthPrompt[]> {
  return withTimeout(
    new Promise((resolve) => {
      if (pred(s.pending())) return resolve(s.pending());
      const f = (p: PlymouthPrompt[]) => pred(p) && (s.off("prompts", f), resolve(p));
      s.on("prompts", f);
    }),
    10_000,
    "plymouth prompts",
  );
}

S.after.each(async (ctx) => {
  killClients();
  for (const p of ctx.others) p.kill("SIGKILL");
  ctx.others = [];
  await ctx.server?.stop();
  ctx.server = undefined;
  ctx.lines = [];
});

S("--ping: 0 while foyer serves, non-zero before and after", async (ctx) => {
  const before = await withTimeout(ply(["--ping"]).result, 10_000);
  assert.is.not(before.code, 0);
  const s = await start(ctx);
  assert.ok(s.serving);
  assert.is((await withTimeout(ply(["--ping"]).result, 10_000)).code, 0);
  await s.stop();
  assert.is.not((await withTimeout(ply(["--ping"]).result, 10_000)).code, 0);
});

S("ask-for-password: the client prints exactly the answered bytes; the prompt leaves the list", async (ctx) => {
  const s = await start(ctx);
  const c = ply(["ask-for-password", "--prompt", "Passphrase for /dev/vda2:"]);
  const [p] = await nextPrompts(s, (l) => l.length === 1);
  assert.is(p!.message, "Passphrase for /dev/vda2:");
  assert.is(p!.echo, false);
  assert.ok(p!.key >= PLYMOUTH_KEY_BASE, "keys stay clear of the password agent's");
  const secret = Secret.copyOf(Buffer.from("wröng pass phrase"));
  s.answer(p!.key, secret);
  secret.wipe();
  const r = await withTimeout(c.result, 10_000);
  assert.is(r.code, 0);
  assert.equal(r.out, Buffer.from("wröng pass phrase")); // no newline: the client writes the answer as is
  assert.equal(s.pending(), []);
  assert.not.ok(ctx.lines.join("\n").includes("wröng"), "the passphrase reached a log line");
});

S("--command that fails asks again: the second prompt counts as a retry", async (ctx) => {
  const s = await start(ctx);
  // the client tries cached passwords first (NO_ANSWER: caching is off), then asks; the command
  // gets the answer on stdin and its failure makes the client ask again, up to the tries
  // the client splits --command at spaces itself (no shell quoting): the check is a script file
  const dir = mkdtempSync(join(tmpdir(), "foyer-ply-"));
  const check = join(dir, "check");
  writeFileSync(check, '#!/bin/sh\nread -r x\ntest "$x" = right\n', { mode: 0o755 });
  const c = ply(["ask-for-password", "--prompt", "Disk:", "--number-of-tries=2", "--command", check]);
  const [first] = await nextPrompts(s, (l) => l.length === 1);
  assert.is(first!.retries, 0);
  s.answer(first!.key, Secret.copyOf(Buffer.from("wrong")));
  const [second] = await nextPrompts(s, (l) => l.length === 1 && l[0]!.key !== first!.key);
  assert.is(second!.retries, 1);
  s.answer(second!.key, Secret.copyOf(Buffer.from("right")));
  assert.is((await withTimeout(c.result, 10_000)).code, 0);
  rmSync(dir, { recursive: true, force: true });
});

S("cached passwords: NO_ANSWER by default; with caching on, the passphrases answered this boot", async (ctx) => {
  let s = await start(ctx);
  const a = ply(["ask-for-password", "--prompt", "A:"]);
  const [pa] = await nextPrompts(s, (l) => l.length === 1);
  s.answer(pa!.key, Secret.copyOf(Buffer.from("alpha")));
  await withTimeout(a.result, 10_000);
  // with --command the client asks for cached passwords first; off → it prompts instead
  const b = ply(["ask-for-password", "--prompt", "B:", "--command", "cat"]);
  const [pb] = await nextPrompts(s, (l) => l.length === 1);
  assert.is(pb!.message, "B:");
  s.cancel(pb!.key);
  await withTimeout(b.result, 10_000);
  await s.stop();

  s = await start(ctx, { cachePasswords: true });
  const c = ply(["ask-for-password", "--prompt", "C:"]);
  const [pc] = await nextPrompts(s, (l) => l.length === 1);
  s.answer(pc!.key, Secret.copyOf(Buffer.from("gamma")));
  await withTimeout(c.result, 10_000);
  const d = await withTimeout(ply(["ask-for-password", "--prompt", "D:", "--command", "cat"]).result, 10_000);
  assert.is(d.code, 0);
  assert.equal(d.out, Buffer.from("gamma"), "the cached passphrase went to the command, no prompt shown");
  assert.equal(s.pending(), []);
});

S("cancel: the client gets NO_ANSWER and fails without a terminal to ask on", async (ctx) => {
  const s = await start(ctx);
  const c = ply(["ask-for-password", "--prompt", "X:"]);
  const [p] = await nextPrompts(s, (l) => l.length === 1);
  s.cancel(p!.key);
  const r = await withTimeout(c.result, 10_000);
  assert.is.not(r.code, 0);
  assert.is(r.out.length, 0);
});

S("ask-question: an echoing prompt; the client prints the typed text", async (ctx) => {
  const s = await start(ctx);
  const c = ply(["ask-question", "--prompt", "Continue? [y/n]"]);
  const [p] = await nextPrompts(s, (l) => l.length === 1);
  assert.is(p!.echo, true);
  s.answer(p!.key, Secret.copyOf(Buffer.from("y")));
  const r = await withTimeout(c.result, 10_000);
  assert.is(r.code, 0);
  assert.equal(r.out, Buffer.from("y"));
});

S("a client that goes away takes its prompt with it", async (ctx) => {
  const s = await start(ctx);
  const c = ply(["ask-for-password", "--prompt", "Gone:"]);
  await nextPrompts(s, (l) => l.length === 1);
  c.proc.kill("SIGKILL");
  await nextPrompts(s, (l) => l.length === 0);
});

S("display-message / hide-message keep the message list; update, system-update, change-mode, root fs are recorded", async (ctx) => {
  const s = await start(ctx);
  const msgs: string[][] = [];
  s.on("messages", (m: string[]) => msgs.push(m));
  for (const args of [
    ["display-message", "--text", "Touch your security key"],
    ["display-message", "--text=fsck: 42%"],
    ["hide-message", "--text", "Touch your security key"],
    ["update", "--status=cryptsetup"],
    ["system-update", "--progress=42"],
    ["change-mode", "--updates"],
    ["update-root-fs", "--new-root-dir=/sysroot"],
    ["update-root-fs", "--read-write"],
  ]) {
    const r = await withTimeout(ply(args).result, 10_000, args.join(" "));
    assert.is(r.code, 0, args.join(" "));
  }
  assert.equal(msgs, [["Touch your security key"], ["Touch your security key", "fsck: 42%"], ["fsck: 42%"]]);
  assert.equal(s.messages, ["fsck: 42%"]);
  assert.is(s.record.status, "cryptsetup");
  assert.is(s.record.progress, 42);
  assert.is(s.record.mode, "updates");
  assert.is(s.record.newRoot, "/sysroot");
  assert.is(s.record.systemInitialized, true);
});

S("--has-active-vt: false (foyer holds no VT); deactivate and reactivate: events, exit 0", async (ctx) => {
  const s = await start(ctx);
  const vt = await withTimeout(ply(["--has-active-vt"]).result, 10_000);
  assert.is(vt.code, 1);
  const events: string[] = [];
  s.on("deactivate", () => events.push("deactivate"));
  s.on("reactivate", () => events.push("reactivate"));
  assert.is((await withTimeout(ply(["deactivate"]).result, 10_000)).code, 0);
  assert.ok(s.record.deactivated);
  assert.is((await withTimeout(ply(["reactivate"]).result, 10_000)).code, 0);
  assert.equal(events, ["deactivate", "reactivate"]);
});

S("quit --retain-splash: the event carries the flag; the client waits for stop()'s ACK", async (ctx) => {
  const s = await start(ctx);
  const quits: boolean[] = [];
  s.on("quit", (q: { retainSplash: boolean }) => quits.push(q.retainSplash));
  const c = ply(["quit", "--retain-splash"]);
  await withTimeout(
    pollUntil(() => quits.length === 1, 10_000, "quit event"),
    11_000,
  );
  assert.equal(quits, [true]);
  assert.is(c.proc.exitCode, null, "the client waits for the quit to complete");
  await s.stop();
  assert.is((await withTimeout(c.result, 10_000)).code, 0);
  const plain = await start(ctx);
  plain.on("quit", (q: { retainSplash: boolean }) => {
    quits.push(q.retainSplash);
    void plain.stop();
  });
  assert.is((await withTimeout(ply(["quit"]).result, 10_000)).code, 0);
  assert.equal(quits, [true, false]);
});

S("--wait (plymouth-quit-wait.service) blocks while foyer serves and returns 0 once it stops", async (ctx) => {
  const s = await start(ctx);
  const w = ply(["--wait"]);
  // the client holds a connection and waits for the hang-up; a ping answered after it was
  // started shows the server has seen it, and it is still waiting
  await pollUntil(() => s.connections === 1, 10_000, "the waiting client connected");
  assert.is((await withTimeout(ply(["--ping"]).result, 10_000)).code, 0);
  assert.is(w.proc.exitCode, null);
  await s.stop();
  assert.is((await withTimeout(w.result, 10_000)).code, 0);
});

S("watch-keystroke is held open; ignore-keystroke answers it with NO_ANSWER", async (ctx) => {
  const s = await start(ctx);
  const w = ply(["watch-keystroke", "--keys=cC"]);
  await pollUntil(() => s.keystrokeWatches === 1, 10_000, "the watch registered");
  assert.is(w.proc.exitCode, null, "the client waits for a key");
  const ig = await withTimeout(ply(["ignore-keystroke", "--keys=cC"]).result, 10_000);
  assert.is(ig.code, 0);
  const r = await withTimeout(w.result, 10_000);
  assert.is(r.signal, null, "the client did not crash on the reply");
  assert.is(r.out.length, 0);
  assert.is(s.keystrokeWatches, 0);
});

S("unknown commands get NAK; bad framing, stalled requests and floods close that connection only", async (ctx) => {
  const s = await start(ctx);
  const a = await rawClient();
  a.sock.write(Buffer.from("z\0", "latin1"));
  await pollUntil(() => a.got.length > 0, 5_000, "NAK");
  assert.equal([...Buffer.concat(a.got)], [0x15]);
  a.sock.write(Buffer.from("P\x07", "latin1"));
  await withTimeout(a.closed, 5_000, "closed after bad framing");
  const b = await rawClient();
  b.sock.write(Buffer.from("M\x02\x20half", "latin1"));
  await withTimeout(b.closed, 5_000, "closed after a stalled request");
  assert.ok(ctx.lines.some((l) => l.startsWith("warning") && l.includes("incomplete request")));
  // a client that writes requests and never reads the replies is cut off, with bounded memory
  const c = await rawClient();
  c.sock.pause();
  const ping = encodeRequest("P");
  const flood = Buffer.concat(Array.from({ length: 4096 }, () => ping));
  for (let i = 0; i < 64 && !c.sock.destroyed; i++) c.sock.write(flood);
  await withTimeout(c.closed, 20_000, "flooding client cut off");
  assert.ok(ctx.lines.some((l) => l.includes("does not read its replies")));
  // and the server still answers
  assert.is((await withTimeout(ply(["--ping"]).result, 10_000)).code, 0);
  assert.ok(s.serving);
});

S("a half-open client (shuts its write side with a prompt pending) is closed; its prompt goes", async (ctx) => {
  const s = await start(ctx);
  const c = await rawClient();
  c.sock.write(encodeRequest("*", "half-open"));
  await nextPrompts(s, (l) => l.length === 1);
  c.sock.end(); // FIN: it can no longer send, and foyer does not keep a half connection
  await withTimeout(c.closed, 5_000, "closed");
  await nextPrompts(s, (l) => l.length === 0);
  assert.is(s.connections, 0);
});

S("500 connections of random bytes: the server answers the real client afterwards and holds nothing", async (ctx) => {
  const s = await start(ctx);
  const random = fuzzRandom("plymouth-server", 0x2545f491);
  const rnd = () => random.int(256);
  for (let round = 0; round < 50; round++) {
    const conns = await Promise.all(Array.from({ length: 10 }, () => rawClient()));
    for (const c of conns) {
      const n = 1 + (rnd() % 300);
      // half the time start with a real command byte, so the parser goes past the first byte
      const b = Buffer.from(Array.from({ length: n }, rnd));
      if (rnd() & 1) b[0] = "P*McKQVDrUuRS".charCodeAt(rnd() % 13);
      c.sock.write(b);
      c.sock.destroy();
    }
    await Promise.all(conns.map((c) => withTimeout(c.closed, 5_000)));
  }
  await pollUntil(() => s.connections === 0, 10_000, "every connection gone");
  assert.equal(s.pending(), []);
  assert.is(s.keystrokeWatches, 0);
  assert.is((await withTimeout(ply(["--ping"]).result, 10_000)).code, 0);
  assert.not.ok(
    ctx.lines.some((l) => l.startsWith("error")),
    ctx.lines.filter((l) => l.startsWith("error")).join("\n"),
  );
});

S("at most 16 prompts: more get NO_ANSWER at once", async (ctx) => {
  const s = await start(ctx);
  const conns = await Promise.all(Array.from({ length: 17 }, () => rawClient()));
  for (const [i, c] of conns.entries()) c.sock.write(encodeRequest("*", `P${i}`));
  await pollUntil(() => conns.some((c) => c.got.length > 0), 10_000, "a NO_ANSWER");
  await nextPrompts(s, (l) => l.length === 16);
  assert.equal([...Buffer.concat(conns.flatMap((c) => c.got))], [0x05]);
  for (const c of conns) c.sock.destroy();
  await nextPrompts(s, (l) => l.length === 0);
});

S("serve auto: a real plymouthd's socket (exact-length abstract name) means foyer stays off", async (ctx) => {
  // plymouthd binds the exact-length name; python's socket module does the same
  const py = spawn(
    "python3",
    ["-c", "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.bind('\\0/org/freedesktop/plymouthd')\ns.listen()\nprint('up',flush=True)\nsys.stdin.read()"],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  ctx.others.push(py);
  await withTimeout(once(py.stdout!, "data"), 10_000, "python listener");
  const s = await start(ctx, { serve: "auto" });
  assert.not.ok(s.serving);
  assert.ok(ctx.lines.some((l) => l.startsWith("notice") && l.includes("a plymouthd listens on '@/org/freedesktop/plymouthd'")));
  await s.stop();
  py.kill();
  await once(py, "exit");
  const t = await start(ctx, { serve: "auto" });
  assert.ok(t.serving);
  const off = new PlymouthServer({ socket: PLYMOUTH_SOCKET, legacy: true, serve: false, cachePasswords: false, log: collectingLogger(ctx.lines) });
  await off.start();
  assert.not.ok(off.serving);
});

S("activatedFd: only our PID's fds, by FileDescriptorName", () => {
  assert.is(activatedFd({ LISTEN_PID: "42", LISTEN_FDS: "1", LISTEN_FDNAMES: "plymouth" }, 42, "plymouth"), 3);
  assert.is(activatedFd({ LISTEN_PID: "42", LISTEN_FDS: "2", LISTEN_FDNAMES: "dbus:plymouth" }, 42, "plymouth"), 4);
  assert.is(activatedFd({ LISTEN_PID: "41", LISTEN_FDS: "1", LISTEN_FDNAMES: "plymouth" }, 42, "plymouth"), undefined);
  assert.is(activatedFd({ LISTEN_PID: "42", LISTEN_FDS: "1" }, 42, "plymouth"), undefined);
  assert.is(activatedFd({ LISTEN_PID: "42", LISTEN_FDS: "1", LISTEN_FDNAMES: "other:plymouth" }, 42, "plymouth"), undefined);
  assert.is(activatedFd({}, 42, "plymouth"), undefined);
});

S(
  "the pid file: written once serving (what systemd-fsckd takes for a running plymouthd), removed at stop; never through a folder others may write",
  async (ctx) => {
    const dir = mkdtempSync(join(tmpdir(), "foyer-plypid-"));
    try {
      const pidFile = join(dir, "plymouth", "pid");
      const s = await start(ctx, { pidFile });
      assert.is(readFileSync(pidFile, "utf8"), `${process.pid}\n`);
      assert.is(lstatSync(join(dir, "plymouth")).mode & 0o777, 0o755);
      await s.stop();
      assert.not.ok(existsSync(pidFile), "the pid file outlived the server");
      // a folder another user may write: refused, nothing written, the server serves all the same
      const open = join(dir, "open");
      writeFileSync(join(dir, "elsewhere"), "root's file\n");
      rmSync(join(dir, "plymouth"), { recursive: true });
      chmodSync(dir, 0o755);
      mkdirSync(open, { mode: 0o777 });
      chmodSync(open, 0o1777);
      symlinkSync(join(dir, "elsewhere"), join(open, "pid"));
      ctx.lines = [];
      const t = await start(ctx, { pidFile: join(open, "pid") });
      assert.ok(t.serving);
      assert.is(readFileSync(join(dir, "elsewhere"), "utf8"), "root's file\n");
      assert.ok(lstatSync(join(open, "pid")).isSymbolicLink(), "the planted link was replaced");
      assert.ok(
        ctx.lines.some((l) => l.includes("is not root's folder, writable by root only")),
        ctx.lines.join("\n"),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

S.run();
