// The x11 stack: Xvfb (readiness from -displayfd) and chromium on it, as the greeter user; the
// greeter killed comes back on the same X server; typed through CDP.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Foyerd, askPassword, killAskers, requirePrivateAskDir, requireTool, withTimeout, top, connectGreeter } from "../helpers/index.js";

requireTool("Xvfb", "xvfb");
requireTool("setxkbmap", "x11-xkb-utils");
requireTool("chromium", "chromium");
requireTool("systemd-ask-password", "systemd");
requirePrivateAskDir();

const X = suite<{ foyerd?: Foyerd }>("integration/unlock-x11", {});
X.after.each(async (ctx) => {
  killAskers();
  await ctx.foyerd?.stop();
  ctx.foyerd?.cleanup();
  spawnSync("pkill", ["-KILL", "-u", "foyer-greeter"]);
});

X("Xvfb + chromium: prompt answered, browser restarted on the same display", async (ctx) => {
  // a machine configured for German (Neo variant): shown in the greeter and applied to the X server
  const dir = mkdtempSync(join(tmpdir(), "foyer-x11-"));
  writeFileSync(join(dir, "vconsole.conf"), 'KEYMAP=de-latin1\nXKBLAYOUT="de"\nXKBVARIANT=neo\n');
  const prof = JSON.parse(readFileSync(join(top, "profiles/xvfb.json"), "utf8"));
  prof.keyboard = { vconsole: join(dir, "vconsole.conf") };
  writeFileSync(join(dir, "p.json"), JSON.stringify(prof));
  const f = (ctx.foyerd = new Foyerd(join(dir, "p.json")));
  await f.until((l) => l.includes("greeter interactive"), 60_000, "greeter interactive");
  const display = /X server ready display=(:\d+)/.exec(f.log)![1]!;
  const q = spawnSync("setxkbmap", ["-display", display, "-query"], { encoding: "utf8", env: { ...process.env, XAUTHORITY: f.xauthority } });
  assert.match(q.stdout, /layout:\s+de/);
  assert.match(q.stdout, /variant:\s+neo/);
  const ask = askPassword("X11 disk:");
  let g = await connectGreeter(9334);
  await withTimeout(g.page.getByLabel("X11 disk:").waitFor(), 15_000, "prompt");
  assert.is(await g.page.locator("#keyboard").textContent(), "de (neo)");
  await g.close();
  const browser = spawnSync("pgrep", ["-u", "foyer-greeter", "-o", "-x", "chromium"], { encoding: "utf8" }).stdout.trim();
  process.kill(Number(browser), "SIGKILL");
  await f.until((l) => l.includes("greeter interactive again"), 60_000, "greeter back");
  assert.not.match(f.log, /display server exited/);
  g = await connectGreeter(9334);
  await g.page.getByLabel("X11 disk:").fill("on x");
  await g.page.getByLabel("X11 disk:").press("Enter");
  assert.is((await withTimeout(ask.result, 10_000)).out.toString(), "on x\n");
  await g.close();
});

X.run();
