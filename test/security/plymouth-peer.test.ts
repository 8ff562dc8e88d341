// Who may speak Plymouth's protocol to foyerd: root only, as with plymouthd. A real foyerd
// (headless profile) and Debian's real `plymouth` client run as root, as `nobody` and as the
// greeter's own user (setpriv: real uid and gid, no other group); what foyerd does is read where
// the person would see it, in the greeter's state over its WebSocket, and in foyerd's log.
import { runInPrivateNetns } from "../helpers/netns.js";
runInPrivateNetns(import.meta.url);

import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import WebSocket from "ws";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { tmpdir } from "node:os";
import { Foyerd, account, asAccount, requirePrivateAskDir, requireTool, withTimeout, pollUntil, top, type Account } from "../helpers/index.js";
import { ply, killClients } from "../helpers/plymouth.js";
import { encodeAnswer, type StateMessage } from "../../src/protocol/greeter.js";

requireTool("plymouth", "plymouth");
requireTool("setpriv", "util-linux");
requirePrivateAskDir();

const NOBODY = account("nobody");
const GREETER = account("foyer-greeter");

/** The greeter's side, as root with the boot token: every state foyerd broadcast, in order. */
interface Greeter {
  ws: WebSocket;
  states: StateMessage[];
}

async function greeter(f: Foyerd): Promise<Greeter> {
  const u = new URL(await f.url());
  const token = new URLSearchParams(u.hash.slice(1)).get("token")!;
  const ws = new WebSocket(`ws://${u.host}/ws?token=${token}`, { headers: { Origin: `http://${u.host}` } });
  const states: StateMessage[] = [];
  ws.on("message", (d, binary) => {
    const m = binary ? undefined : (JSON.parse(d.toString()) as { type: string });
    if (m?.type === "state") states.push(m as StateMessage);
  });
  await withTimeout(new Promise((r) => ws.on("open", r)), 10_000, "greeter websocket open");
  return { ws, states };
}

/**
 * A root client's display-message, waited for in the greeter's state. foyerd handles a
 * connection's requests as they arrive and broadcasts each change in order, so once this marker
 * is shown, whatever an earlier client (already exited) made foyerd do is in `g.states` too.
 */
async function barrier(g: Greeter, text: string): Promise<void> {
  assert.is((await withTimeout(ply(["display-message", "--text", text]).result, 10_000, "root display-message")).code, 0);
  await pollUntil(() => g.states.some((s) => s.messages.includes(text)), 10_000, `'${text}' in the greeter's state`);
}

const everPrompted = (g: Greeter, text: string) => g.states.some((s) => s.prompts.some((p) => p.message === text));
const everShown = (g: Greeter, text: string) => g.states.some((s) => s.messages.includes(text));

/**
 * Raw connections as `who`, from a node child: it reaches the legacy name the way foyerd binds it
 * (see test/helpers/plymouth.ts). `script` has `open()` (a connected socket) and `readAll(sock)`
 * (what came until the close, hex, or '-' for nothing), and its arguments in `process.argv`.
 */
const rawChildren = new Set<ChildProcess>();
function rawAs(who: Account, script: string, args: string[]): ChildProcess {
  const prelude = `const net = require("net");
const open = () => new Promise((ok, fail) => { const s = net.connect("\\0/ply-boot-protocol"); s.once("connect", () => ok(s)); s.once("error", fail); });
const readAll = (s) => new Promise((ok) => { const got = []; s.on("data", (d) => got.push(d)); s.on("error", () => {}); s.on("close", () => ok(Buffer.concat(got).toString("hex") || "-")); });
`;
  const [cmd, ...argv] = [...asAccount(who), process.execPath, "-e", prelude + script, ...args];
  const p = spawn(cmd!, argv, { cwd: "/", stdio: ["pipe", "pipe", "pipe"] });
  rawChildren.add(p);
  p.on("exit", () => rawChildren.delete(p));
  return p;
}

function output(p: ChildProcess): Promise<{ code: number | null; out: string; err: string }> {
  let out = "",
    err = "";
  p.stdout!.on("data", (d) => (out += d));
  p.stderr!.on("data", (d) => (err += d));
  return new Promise((r) => p.on("close", (code) => r({ code, out, err })));
}

interface Ctx {
  foyerd?: Foyerd;
  greeter?: Greeter;
  tree?: string;
}
const P = suite<Ctx>("security/plymouth-peer", {});

P.before.each(async (ctx) => {
  ctx.foyerd = new Foyerd("headless");
  await ctx.foyerd.until((l) => /serving plymouth's protocol on '@\/ply-boot-protocol'/.test(l), 20_000, "plymouth server up");
  ctx.greeter = await greeter(ctx.foyerd);
});
P.after.each(async (ctx) => {
  killClients();
  for (const p of rawChildren) p.kill("SIGKILL");
  ctx.greeter?.ws.close();
  await ctx.foyerd?.stop();
  ctx.foyerd?.cleanup();
  if (ctx.tree) rmSync(ctx.tree, { recursive: true, force: true });
  Object.assign(ctx, { foyerd: undefined, greeter: undefined, tree: undefined });
});

for (const who of [NOBODY, GREETER]) {
  P(`${who.name}: ask-for-password fails and no prompt reaches the greeter; foyerd logs the peer, not its text`, async (ctx) => {
    const f = ctx.foyerd!,
      g = ctx.greeter!;
    const text = `Please enter passphrase for disk root (asked by ${who.name}):`;
    // as the client asks by default (progress paused first) and with the password request first
    for (const args of [[], ["--dont-pause-progress"]]) {
      const c = ply(["ask-for-password", `--prompt=${text}`, ...args], undefined, who);
      const r = await withTimeout(c.result, 15_000, `ask-for-password ${args.join(" ")} as ${who.name}`);
      assert.is.not(r.code, 0, `the client succeeded: ${r.out.toString()}`);
      assert.is(r.signal, null, "the client crashed: it takes a NAK for a failure, not for an answer");
      assert.is(r.out.length, 0);
      await f.until(
        (l) => new RegExp(`refusing plymouth client \\d+: uid ${who.uid} \\(pid ${c.proc.pid}\\) is not root`).test(l),
        5_000,
        "the refusal logged with the peer's uid and pid",
      );
    }
    await barrier(g, `after ${who.name}'s ask-for-password`);
    assert.not.ok(everPrompted(g, text), "a non-root client's prompt reached the greeter");
    assert.not.ok(f.log.includes(text), "the refused request's text reached the log");
  });

  P(`${who.name}: display-message and watch-keystroke fail; nothing is shown, nothing is held`, async (ctx) => {
    const f = ctx.foyerd!,
      g = ctx.greeter!;
    const text = `Touch your security key (says ${who.name})`;
    assert.is.not((await withTimeout(ply(["display-message", `--text=${text}`], undefined, who).result, 15_000, "display-message")).code, 0);
    // held open for root; refused at once here
    assert.is.not((await withTimeout(ply(["watch-keystroke", "--keys=yn"], undefined, who).result, 15_000, "watch-keystroke")).code, 0);
    await barrier(g, `after ${who.name}'s display-message`);
    assert.not.ok(everShown(g, text), "a non-root client's message reached the greeter");
    assert.not.ok(f.log.includes(text), "the refused request's text reached the log");
  });

  P(`${who.name}: update-root-fs --new-root-dir fails and records nothing`, async (ctx) => {
    const f = ctx.foyerd!;
    assert.is.not(
      (await withTimeout(ply(["update-root-fs", `--new-root-dir=/tmp/root-of-${who.name}`], undefined, who).result, 15_000, "update-root-fs")).code,
      0,
    );
    await barrier(ctx.greeter!, `after ${who.name}'s update-root-fs`);
    assert.not.match(f.log, /plymouth: new root/);
  });

  P(`${who.name}: quit fails and foyerd goes on serving`, async (ctx) => {
    const f = ctx.foyerd!;
    assert.is.not((await withTimeout(ply(["quit"], undefined, who).result, 15_000, "quit")).code, 0);
    assert.is((await withTimeout(ply(["--ping"]).result, 10_000, "root ping")).code, 0);
    await barrier(ctx.greeter!, `after ${who.name}'s quit`);
    assert.is(f.proc.exitCode, null, "foyerd exited");
    assert.not.match(f.log, /plymouth: quit/);
  });
}

P("a refused peer gets one NAK for its first request and is closed, whatever else it sent", async (ctx) => {
  const f = ctx.foyerd!;
  // ping, display-message and quit in one write, on 40 connections one after the other
  const p = rawAs(
    NOBODY,
    `(async () => {
  const r = [];
  for (let i = 0; i < Number(process.argv[1]); i++) {
    const s = await open();
    const got = readAll(s);
    s.write(Buffer.from("P\\0M\\x02\\x05evil\\0Q\\x02\\x01\\0", "latin1"));
    r.push(await got);
  }
  console.log(r.join(" "));
})();`,
    ["40"],
  );
  const r = await withTimeout(output(p), 60_000, "40 refused connections");
  assert.is(r.code, 0, r.err);
  assert.equal([...new Set(r.out.trim().split(" "))], ["15"], "each connection got exactly one NAK, then its close");
  await barrier(ctx.greeter!, "after 40 refused connections");
  assert.not.ok(everShown(ctx.greeter!, "evil"));
  assert.is(f.proc.exitCode, null, "foyerd exited");
  // each refusal costs at most one line: a flood cannot fill the state tmpfs with warnings
  assert.ok(f.count(/refusing plymouth client/) <= 32, `${f.count(/refusing plymouth client/)} refusals logged`);
});

P("idle non-root connections do not take root's connection slots, and are closed", async (ctx) => {
  // more idle connections than foyerd serves at once (64); none sends a byte
  const p = rawAs(
    NOBODY,
    `(async () => {
  const got = [];
  for (let i = 0; i < Number(process.argv[1]); i++) got.push(readAll(await open()));
  console.log("connected");
  process.stdin.once("data", async () => console.log((await Promise.all(got)).join(" ")));
})();`,
    ["80"],
  );
  const r = output(p);
  let out = "";
  p.stdout!.on("data", (d) => (out += d));
  await pollUntil(() => out.includes("connected") || p.exitCode !== null, 20_000, "80 idle connections");
  assert.is((await withTimeout(ply(["--ping"]).result, 10_000, "root ping beside them")).code, 0, "root's client was turned away");
  p.stdin!.end("\n");
  const done = await withTimeout(r, 60_000, "every idle connection closed");
  assert.is(done.code, 0, done.err);
  assert.equal([...new Set(done.out.trim().split("\n").pop()!.split(" "))], ["-"], "each was closed without a byte");
  assert.is(ctx.foyerd!.proc.exitCode, null);
});

P("root: ask-for-password is answered through the greeter; display-message, update-root-fs and quit act", async (ctx) => {
  const f = ctx.foyerd!,
    g = ctx.greeter!;
  const text = "Please enter passphrase for disk root:";
  const c = ply(["ask-for-password", `--prompt=${text}`]);
  await pollUntil(() => everPrompted(g, text), 10_000, "root's prompt in the greeter");
  const key = g.states.flatMap((s) => s.prompts).find((p) => p.message === text)!.key;
  g.ws.send(encodeAnswer(key, Buffer.from("root's pässphrase")));
  const r = await withTimeout(c.result, 10_000, "root's ask-for-password");
  assert.is(r.code, 0, r.err);
  assert.equal(r.out, Buffer.from("root's pässphrase"));
  assert.not.match(f.log, /refusing plymouth client/);

  await barrier(g, "Touch your security key");
  assert.is((await withTimeout(ply(["update-root-fs", "--new-root-dir=/sysroot-of-root"]).result, 10_000)).code, 0);
  await f.until((l) => l.includes("plymouth: new root '/sysroot-of-root'"), 5_000, "new root recorded");

  const exited = new Promise<number | null>((res) => f.proc.once("exit", res));
  assert.is((await withTimeout(ply(["quit"]).result, 20_000, "root quit")).code, 0);
  assert.is(await withTimeout(exited, 20_000, "foyerd's exit"), 0);
});

/** foyer's own files laid out as an image gets them (packaging/foyer-image.sh), under `root`. */
function imageTree(root: string, skip: (target: string) => boolean): string {
  const r = spawnSync("bash", ["-c", '. packaging/foyer-image.sh && foyer_own_files "$1"', "bash", top], { cwd: top, encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  for (const line of r.stdout.trim().split("\n")) {
    const [src, target] = line.split(" ") as [string, string];
    if (skip(target)) continue;
    mkdirSync(dirname(join(root, target)), { recursive: true });
    copyFileSync(src, join(root, target));
  }
  return join(root, "usr/lib/foyer/foyerd.mjs");
}

P("foyerd as an image lays it out: root is served; without the credentials addon every client is refused, root too", async (ctx) => {
  await ctx.foyerd!.stop();
  ctx.foyerd!.cleanup();
  ctx.greeter!.ws.close();
  ctx.tree = mkdtempSync(join(tmpdir(), "foyer-image-"));
  for (const [name, skip] of [
    ["whole", () => false],
    ["without-addon", (t: string) => t.endsWith(".node") && !t.includes("node_modules")],
  ] as const) {
    const f = (ctx.foyerd = new Foyerd("headless", { bundle: imageTree(join(ctx.tree, name), skip) }));
    await f.until((l) => /serving plymouth's protocol on '@\/ply-boot-protocol'/.test(l), 20_000, `${name}: plymouth server up`);
    const ping = await withTimeout(ply(["--ping"]).result, 10_000, `${name}: root ping`);
    const ask = await withTimeout(
      ply(["ask-for-password", "--prompt=Passphrase:", "--dont-pause-progress"], undefined, NOBODY).result,
      15_000,
      `${name}: nobody's ask-for-password`,
    );
    assert.is.not(ask.code, 0);
    if (name === "whole") {
      assert.is(ping.code, 0, "root refused by foyerd with its addon");
      assert.not.match(f.log, /credentials/);
    } else {
      assert.is.not(ping.code, 0, "root served without a way to check credentials");
      assert.ok(f.count(/cannot read plymouth clients' credentials/) === 1, f.log);
    }
    await f.stop();
    f.cleanup();
  }
});

P.run();
