// Rules: only root and the greeter's user reach the greeter's server (every other uid's
// connection is closed unread, whatever token it carries); no token is in any process's argv or
// environment; a peer cannot grow foyerd by not reading (stalled clients are closed at a bound,
// a client cap holds). Real uids through setpriv, a real greeter (cage + chromium), a real foyerd.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { readFileSync, readdirSync, writeFileSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { spawnSync } from "node:child_process";
import WebSocket from "ws";
import type { Socket } from "node:net";
import { Foyerd, askPassword, askFiles, killAskers, requirePrivateAskDir, requireTool, withTimeout, pollUntil, forOtherUsers } from "../helpers/index.js";
import { lookupUser } from "../../src/display/users.js";
import { makeScratchRoot, removeScratchRoot } from "../helpers/scratch-root.js";
import { MAX_CLIENTS, MAX_BACKLOG_BYTES } from "../../src/greeter/server.js";

requireTool("setpriv", "util-linux");
requireTool("cage", "cage");
requireTool("chromium", "chromium");
requirePrivateAskDir();

const greeter = lookupUser("foyer-greeter");
// the clients other uids run, where they can read them
const [PEER_CLIENT, PEER_SUBMIT] = forOtherUsers("test/helpers/peer-client.mjs", "test/helpers/peer-submit.mjs");
const nobody = lookupUser("nobody");

interface Ctx {
  foyerd?: Foyerd;
}
const S = suite<Ctx>("security/greeter-peers", {});
S.after.each(async (ctx) => {
  killAskers();
  await ctx.foyerd?.stop();
  ctx.foyerd?.cleanup();
  ctx.foyerd = undefined;
});

/** peer-client.mjs as `user`, the token on its stdin: what that uid gets from the server */
function asUser(
  user: { uid: number; gid: number },
  port: number,
  token: string,
): { page: number | string; session: number | string; upgrade: number | string } {
  const r = spawnSync("setpriv", [`--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--", process.execPath, PEER_CLIENT, String(port)], {
    input: token,
    encoding: "utf8",
    timeout: 30_000,
  });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

/** every process's argv and environment, as root reads them */
function everyArgvAndEnv(): string {
  let all = "";
  for (const pid of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    for (const f of ["cmdline", "environ"]) {
      try {
        all += `\n${pid} ${f}: ${readFileSync(`/proc/${pid}/${f}`, "latin1").replace(/\0/g, " ")}`;
      } catch {
        /* gone meanwhile */
      }
    }
  }
  return all;
}

S("nobody is refused whatever it holds; the greeter's user gets its launch's session; no token in any argv or environment", async (ctx) => {
  const f = (ctx.foyerd = new Foyerd("headless-wayland", { extraArgs: ["--bus", "none"] }));
  await f.until((l) => l.includes("greeter interactive"), 90_000, "greeter interactive");
  const url = new URL(await f.url());
  const boot = new URLSearchParams(url.hash.slice(1)).get("token")!;
  const port = Number(url.port);
  const ask = askPassword("Only for the person at the screen:", { id: "cryptsetup:/dev/peers" });
  await pollUntil(() => askFiles().length === 1, 10_000, "the ask file");

  // nobody, even with the boot's token in hand: nothing is served, not even the page
  const n = asUser(nobody, port, boot);
  assert.equal(n, { page: "ECONNRESET", session: "ECONNRESET", upgrade: "ECONNRESET" }, JSON.stringify(n));
  await f.until(
    (l) => l.includes("refusing a connection to the greeter's server: uid 65534 is neither root nor the greeter's"),
    5_000,
    "the refusal in foyerd's log",
  );
  // the greeter's own user: the page, its launch's session, and a socket with it
  const g = asUser(greeter, port, "");
  assert.equal(g, { page: 200, session: 200, upgrade: 101 }, JSON.stringify(g));
  assert.is(askFiles().length, 1, "the request is still pending: nothing answered it");

  // the secrets a peer could use: the boot's token and the live launch's
  const s = await fetch(`${url.origin}/session`, { method: "POST", headers: { Origin: url.origin } });
  const launch = ((await s.json()) as { token: string }).token;
  const seen = everyArgvAndEnv();
  assert.ok(seen.includes("chromium") && seen.includes(`127.0.0.1:${port}`), "the walk did not see the greeter's browser");
  assert.not.ok(seen.includes(boot), "the boot's token is in a process's argv or environment");
  assert.not.ok(seen.includes(launch), "the launch's token is in a process's argv or environment");
  assert.not.match(seen, /token=/);
  // and nobody cannot read root's greeter-url
  const r = spawnSync("setpriv", [`--reuid=${nobody.uid}`, `--regid=${nobody.gid}`, "--clear-groups", "--", "cat", join(f.runtimeDir, "greeter-url")], {
    encoding: "utf8",
  });
  assert.is.not(r.status, 0);
  ask.proc.kill();
});

/** the key of the prompt showing `message`, from the state root's client is sent */
function promptKey(url: URL, token: string, message: string): Promise<number> {
  return withTimeout(
    new Promise<number>((resolve) => {
      const ws = new WebSocket(`ws://${url.host}/ws?token=${token}`, { headers: { Origin: url.origin } });
      ws.on("message", (d: Buffer) => {
        const p = (JSON.parse(d.toString()) as { prompts?: { key: number; message: string }[] }).prompts?.find((x) => x.message === message);
        if (p) {
          ws.close();
          resolve(p.key);
        }
      });
    }),
    10_000,
    `the prompt '${message}'`,
  );
}

/** peer-submit.mjs as `user` against `f`: the password, the form, the terminal and an answer it would send, were it let in */
function submitAs(user: { uid: number; gid: number }, port: number, key: number, token: string): { upgrade: number | string; sent: number } {
  const r = spawnSync(
    "setpriv",
    [`--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "--", process.execPath, PEER_SUBMIT, String(port), String(key)],
    { input: token, encoding: "utf8", timeout: 30_000 },
  );
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

S("nobody can submit nothing: an unlock answer, the recovery terminal, the first-boot form; root's same client can", async (ctx) => {
  const root = makeScratchRoot();
  try {
    for (const flow of ["recovery", "firstboot"] as const) {
      const extra = flow === "recovery" ? ["--recovery", "peers"] : ["--firstboot-root", root];
      const f = (ctx.foyerd = new Foyerd("headless", { extraArgs: ["--bus", "none", ...extra] }));
      const url = new URL(await f.url());
      const boot = new URLSearchParams(url.hash.slice(1)).get("token")!;
      await f.until((l) => l.includes("greeter server listening"), 30_000);
      const before = askFiles().length;
      const ask = askPassword(`Unlock for ${flow}:`, { id: `cryptsetup:/dev/${flow}` });
      await pollUntil(() => askFiles().length === before + 1, 10_000, "the ask file");
      const key = await promptKey(url, boot, `Unlock for ${flow}:`);
      // nobody, even with the boot's token in hand
      const n = submitAs(nobody, Number(url.port), key, boot);
      assert.is.not(n.upgrade, 101, `${flow}: nobody's upgrade was accepted`);
      assert.is(n.sent, 0);
      assert.is(askFiles().length, before + 1, `${flow}: the request was answered`);
      assert.is(ask.proc.exitCode, null);
      assert.not.match(f.log, /recovery terminal opened|first-boot setup applied/);
      assert.not.match(readFileSync(join(root, "etc/passwd"), "utf8"), /^mallory:/m);
      // the same client as root gets in, and each thing it sends takes effect: the test can fail
      const r = submitAs({ uid: 0, gid: 0 }, Number(url.port), key, boot);
      assert.equal(r, { upgrade: 101, sent: 4 });
      assert.is((await withTimeout(ask.result, 10_000, "the answer")).out.toString(), "stolen\n");
      if (flow === "recovery") await f.until((l) => l.includes("recovery terminal opened"), 10_000, "the terminal");
      else await pollUntil(() => /^mallory:/m.test(readFileSync(join(root, "etc/passwd"), "utf8")), 30_000, "the form applied");
      await f.stop();
      f.cleanup();
      ctx.foyerd = undefined;
    }
  } finally {
    removeScratchRoot(root);
  }
});

S(
  `stalled clients: ${MAX_CLIENTS} at most, state changes coalesced (under 100 MB), ${MAX_BACKLOG_BYTES >> 20} MiB of other backlog closes one (under 256 MB)`,
  async (ctx) => {
    const dir = mkdtempSync(join(tmpdir(), "foyer-peers-"));
    writeFileSync(join(dir, "p.json"), JSON.stringify({ schema: 1, display: { stack: "headless" }, log: { kmsg: false } }));
    const f = (ctx.foyerd = new Foyerd(join(dir, "p.json"), { extraArgs: ["--bus", "none"], bundle: true }));
    const url = new URL(await f.url());
    const token = new URLSearchParams(url.hash.slice(1)).get("token")!;
    const open = () =>
      new Promise<WebSocket | number>((resolve) => {
        const ws = new WebSocket(`ws://${url.host}/ws?token=${token}`, { headers: { Origin: url.origin } });
        ws.on("open", () => resolve(ws));
        ws.on("unexpected-response", (_q, res) => resolve(res.statusCode ?? 0));
        ws.on("error", () => resolve(0));
      });
    // clients that stop reading once connected: the kernel's buffers fill, then foyerd's queue
    const stalled: WebSocket[] = [];
    for (let i = 0; i < MAX_CLIENTS - 1; i++) {
      const ws = await open();
      if (typeof ws === "number") throw new Error(`client ${i} refused: ${ws}`);
      ws.on("error", () => {});
      (ws as unknown as { _socket: Socket })._socket.pause();
      stalled.push(ws);
    }
    const active = await open();
    if (typeof active === "number") throw new Error(`the active client was refused: ${active}`);
    assert.is(await open(), 503, `client ${MAX_CLIENTS + 1} was let in`);
    // ten pending requests with long messages: every state is ~20 KB
    for (let i = 0; i < 10; i++) askPassword(`${i} ${"long message ".repeat(150)}`, { id: `cryptsetup:/dev/stall${i}` });
    await pollUntil(() => askFiles().length >= 10, 30_000, `the ask files (${askFiles().length} of 10)`);
    // every toggle changes the state, which goes to every client; the last one marks the end
    let size = 0;
    let last = false;
    active.on("message", (d: Buffer) => {
      const m = JSON.parse(d.toString()) as { type: string; appearance?: { highContrast: boolean } };
      if (m.type !== "state") return;
      size = d.length;
      last = m.appearance?.highContrast === true;
    });
    const rounds = 10_000;
    for (let i = 0; i < rounds; i++) {
      active.send(JSON.stringify({ type: "appearance_set", largeText: i % 2 === 0 }));
      if (i % 200 === 0) await new Promise((r) => setTimeout(r, 10));
    }
    active.send(JSON.stringify({ type: "appearance_set", highContrast: true }));
    await pollUntil(() => last, 120_000, "the last state at the active client");
    assert.is(f.count(/does not read what it is sent/), 0, "a slow client was closed for state changes, which coalesce");
    // VmHWM: the most foyerd has held
    const peak = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${f.proc.pid}/status`, "utf8"))![1]) / 1024;
    const afterStates = peak();
    console.log(`foyerd's peak RSS, ${stalled.length} stalled clients, ${rounds} states of ${(size / 1024).toFixed(0)} KB: ${afterStates.toFixed(1)} MB`);
    assert.ok(afterStates < 100, `foyerd's peak RSS ${afterStates.toFixed(1)} MB after the state changes`);
    // what does not coalesce (a reply to each request) closes a client that does not read it
    for (const ws of stalled) for (let i = 0; i < 300; i++) ws.send(JSON.stringify({ type: "keyboard_layouts" }));
    await f.untilCount(/greeter client does not read what it is sent, closing it/, stalled.length, 60_000);
    const afterReplies = peak();
    console.log(`… and ${stalled.length * 300} unread replies of 34 KB: ${afterReplies.toFixed(1)} MB`);
    assert.ok(afterReplies < 256, `foyerd's peak RSS ${afterReplies.toFixed(1)} MB after the unread replies`);
    assert.is(f.proc.exitCode, null, "foyerd alive");
    active.close();
  },
);

S.run();
