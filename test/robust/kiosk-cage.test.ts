// Reliability check 8 under cage (headless backend) with chromium: the hostile page script of
// test/helpers/kiosk.ts, as on X. Real key events cannot be sent here: cage 0.1.4 offers no
// virtual-keyboard protocol (wtype and the like fail) and its headless backend has no input
// device, so chromium's accelerators are only tested on X (kiosk-x11), where real keys exist.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import type { Server } from "node:http";
import { Foyerd, killAskers, requirePrivateAskDir, requireTool } from "../helpers/index.js";
import { hostileScript, kioskProfile, requirePrivateChromiumEtc, tabOverGreeter } from "../helpers/kiosk.js";

requireTool("cage", "cage");
requireTool("chromium", "chromium");
requireTool("systemd-ask-password", "systemd");
requirePrivateAskDir();
requirePrivateChromiumEtc();

const W = suite<{ foyerd?: Foyerd; server?: Server }>("robust/kiosk-cage", {});
W.after.each(async (ctx) => {
  killAskers();
  await ctx.foyerd?.stop();
  ctx.foyerd?.cleanup();
  ctx.server?.close();
  spawnSync("pkill", ["-KILL", "-u", "foyer-greeter"]); // our own PID namespace (test/run.mjs)
});

W("cage + chromium: a hostile page script cannot leave the greeter", async (ctx) => {
  const f = (ctx.foyerd = new Foyerd(kioskProfile("headless-wayland", { debugPort: 9333, lostTimeoutMs: 1000 })));
  await f.until((l) => l.includes("greeter interactive"), 60_000, "greeter interactive");
  assert.match(f.log, /chromium kiosk policy written/);
  ctx.server = await hostileScript(f, 9333);
});

W("cage + chromium: a tab opened over the greeter does not strand anyone: the browser is restarted", async (ctx) => {
  const f = (ctx.foyerd = new Foyerd(kioskProfile("headless-wayland", { debugPort: 9333, lostTimeoutMs: 1000 })));
  await f.until((l) => l.includes("greeter interactive"), 60_000, "greeter interactive");
  await tabOverGreeter(f, 9333);
});

W.run();
