// Names and tables another uid can fill: Plymouth's abstract name, which every client tries first
// with its exact length, is foyerd's while it serves, and a squatter found before it starts is
// named, not deferred to; and the greeter's server admits a connection by asking the kernel for
// that one socket, so `nobody` growing the kernel's TCP table and queueing refused connections
// does not stall root's. Real uids (setpriv), a real foyerd, the real `plymouth` client.
import { runInPrivateNetns } from "../helpers/netns.js";
runInPrivateNetns(import.meta.url);

import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { spawn, type ChildProcess } from "node:child_process";
import { request } from "node:http";
import { Foyerd, account, asAccount, requirePrivateAskDir, requireTool, withTimeout, forOtherUsers } from "../helpers/index.js";
import { ply, killClients } from "../helpers/plymouth.js";
import { abstractPeer } from "../../src/base/sockets.js";

requireTool("plymouth", "plymouth");
requireTool("setpriv", "util-linux");
requireTool("prlimit", "util-linux");
requirePrivateAskDir();

const NOBODY = account("nobody");
const EXACT = "/org/freedesktop/plymouthd";
// the addon as nobody loads it: a copy where every user can read it
const [ADDON] = forOtherUsers("dist/sockets.node");

interface Ctx {
  foyerd?: Foyerd;
  others: ChildProcess[];
}
const S = suite<Ctx>("security/socket-squat", { others: [] });
S.after.each(async (ctx) => {
  killClients();
  for (const p of ctx.others) p.kill("SIGKILL");
  ctx.others = [];
  await ctx.foyerd?.stop();
  ctx.foyerd?.cleanup();
  ctx.foyerd = undefined;
});

/** node as nobody running `js` (the addon's path in ADDON), its first line of output */
function asNobody(ctx: Ctx, js: string, limits: string[] = []): Promise<{ proc: ChildProcess; line: string }> {
  const [cmd, ...argv] = [
    ...(limits.length ? ["prlimit", ...limits, "--"] : []),
    ...asAccount(NOBODY),
    process.execPath,
    "-e",
    `const ADDON = ${JSON.stringify(ADDON)};\n${js}`,
  ];
  const proc = spawn(cmd!, argv, { cwd: "/", stdio: ["ignore", "pipe", "inherit"] });
  ctx.others.push(proc);
  const line = new Promise<string>((resolve) => {
    let out = "";
    proc.stdout!.on("data", (d: Buffer) => {
      out += d;
      if (out.includes("\n")) resolve(out.split("\n")[0]!);
    });
    proc.on("exit", () => resolve(out.split("\n")[0] ?? ""));
  });
  return withTimeout(line, 60_000, "nobody's script").then((l) => ({ proc, line: l }));
}

const squat = `try { require(ADDON).listenAbstract(${JSON.stringify(EXACT)}, false); console.log("bound"); setInterval(() => {}, 1000); } catch (e) { console.log(e.code); process.exit(0); }`;

S("while foyerd serves, nobody cannot bind Plymouth's exact name", async (ctx) => {
  const f = (ctx.foyerd = new Foyerd("headless", { extraArgs: ["--bus", "none"] }));
  await f.until((l) => l.includes(`serving plymouth's protocol on '@${EXACT}'`), 30_000, "foyerd serving plymouth");
  assert.equal(abstractPeer(EXACT, false), { pid: f.proc.pid!, uid: 0, gid: 0 }, "the exact name is not foyerd's");
  const { line } = await asNobody(ctx, squat);
  assert.is(line, "EADDRINUSE", "nobody bound the exact name beside foyerd");
  // root's client, trying the exact name first, reaches foyerd
  assert.is((await withTimeout(ply(["--ping"]).result, 10_000, "ping")).code, 0);
});

S("a squatter found before foyerd starts is named in the log and not deferred to", async (ctx) => {
  const { line } = await asNobody(ctx, squat);
  assert.is(line, "bound");
  const f = (ctx.foyerd = new Foyerd("headless", { extraArgs: ["--bus", "none"] }));
  await f.until(
    (l) => new RegExp(`'@${EXACT}' is held by uid ${NOBODY.uid} \\(pid \\d+\\), not by plymouthd: not serving that name`).test(l),
    30_000,
    "the squatter named",
  );
  await f.until((l) => l.includes("serving plymouth's protocol on '@/ply-boot-protocol'"), 30_000, "the legacy name served");
  assert.not.match(f.log, /a plymouthd listens/);
  assert.equal(abstractPeer("/ply-boot-protocol", true), { pid: f.proc.pid!, uid: 0, gid: 0 });
});

S("nobody's 20,000 sockets and 500 refused connections: root's page is served while they queue", async (ctx) => {
  const f = (ctx.foyerd = new Foyerd("headless", { extraArgs: ["--bus", "none"] }));
  const url = new URL(await f.url());
  const port = Number(url.port);
  // the kernel's TCP table grown by listeners on other loopback addresses: four processes of
  // 5,000 each (a process's descriptors are capped, often at a few thousand)
  for (let p = 0; p < 4; p++) {
    const part = await asNobody(
      ctx,
      `const net = require("net"); let n = 0;
       for (let i = 0; i < 5000; i++) { const s = net.createServer(); s.on("error", (e) => console.log(e.code)); s.listen(40000 + i, "127.${p + 1}." + Math.floor(i / 250) + "." + (1 + (i % 250)), () => { if (++n === 5000) console.log("table " + n); }); }`,
      ["--nofile=5500:5500"],
    );
    assert.is(part.line, "table 5000", `nobody's listeners, part ${p + 1}`);
  }
  // a burst of connections, all established (in foyerd's accept queue) before root's comes
  const burst = await asNobody(
    ctx,
    `const net = require("net"); let up = 0;
     for (let i = 0; i < 500; i++) { const s = net.connect(${port}, "127.0.0.1"); s.on("error", () => {}); s.on("connect", () => { if (++up === 500) console.log("queued " + up); }); }
     setTimeout(() => console.log("queued " + up), 5000);`,
    ["--nofile=1000:1000"],
  );
  assert.match(burst.line, /^queued [1-9]\d\d$/, "nobody's burst did not queue");
  // root's request, behind them: served (the old check read the whole table for each of them)
  const status = await withTimeout(
    new Promise<number>((resolve, reject) =>
      request({ host: "127.0.0.1", port, path: "/", agent: false }, (r) => (r.resume(), resolve(r.statusCode ?? 0)))
        .on("error", reject)
        .end(),
    ),
    10_000,
    "root's page behind nobody's burst",
  );
  assert.is(status, 200);
  assert.match(f.log, /refusing a connection to the greeter's server: uid 65534/);
});

S.run();
