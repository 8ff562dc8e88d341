// HiDPI: the greeter's scale factor decided like Plymouth's (2 from 2880×1620) reaches the real
// kiosk browser (--force-device-scale-factor) on an Xvfb screen of that size; a profile override wins.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { chromium, type Page } from "playwright-core";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Foyerd, askPassword, killAskers, requirePrivateAskDir, requireTool, withTimeout, top } from "../helpers/index.js";

requireTool("Xvfb", "xvfb");
requireTool("chromium", "chromium");
requireTool("systemd-ask-password", "systemd");
requirePrivateAskDir();

const dir = mkdtempSync(join(tmpdir(), "foyer-hidpi-"));
const docs = process.env.FOYER_UPDATE_DOCS ? join(top, "docs") : dir;
const PORT = 9345; // not the shipped xvfb profile's: other suites may run their greeter meanwhile

function foyerd(name: string, display: Record<string, unknown>): Foyerd {
  const p = JSON.parse(readFileSync(join(top, "profiles/xvfb.json"), "utf8"));
  p.display = { ...p.display, ...display };
  p.greeter = { ...p.greeter, debugPort: PORT };
  p.locale = { conf: "/nonexistent" };
  p.appearance = { inputDevices: join(top, "test/fixtures/input/laptop.txt") };
  writeFileSync(join(dir, `${name}.json`), JSON.stringify(p));
  return new Foyerd(join(dir, `${name}.json`));
}

async function greeterPage(): Promise<{ page: Page; close: () => Promise<void> }> {
  const b = await withTimeout(
    (async () => {
      for (;;) {
        try {
          return await chromium.connectOverCDP(`http://127.0.0.1:${PORT}`, { timeout: 2000 });
        } catch {
          await new Promise((r) => setTimeout(r, 100)); // the debug port opens with the browser; no event says when
        }
      }
    })(),
    30_000,
    "connect to the greeter's chromium",
  );
  return { page: b.contexts()[0]!.pages()[0]!, close: () => b.close() };
}

const H = suite<{ foyerd?: Foyerd }>("integration/greeter-hidpi", {});
H.after.each(async (ctx) => {
  killAskers();
  await ctx.foyerd?.stop();
  ctx.foyerd?.cleanup();
  ctx.foyerd = undefined;
  spawnSync("pkill", ["-KILL", "-u", "foyer-greeter"]);
});

H("a 2880×1620 screen: the greeter renders at 2×, the prompt fills the same share of the screen", async (ctx) => {
  const f = (ctx.foyerd = foyerd("2x", { width: 2880, height: 1620 }));
  await f.until((l) => l.includes("greeter interactive"), 60_000, "greeter interactive");
  askPassword("Please enter passphrase for disk root:");
  const g = await greeterPage();
  await withTimeout(g.page.getByLabel("Please enter passphrase for disk root:").waitFor(), 15_000, "prompt");
  assert.is(await g.page.evaluate(() => window.devicePixelRatio), 2);
  // CSS pixels are half the screen's: the layout is the one a 1440×810 screen would get
  assert.equal(await g.page.evaluate(() => [window.innerWidth, window.innerHeight]), [1440, 810]);
  const shot = await g.page.screenshot({ path: join(docs, "greeter-2x.png") });
  assert.equal([shot.readUInt32BE(16), shot.readUInt32BE(20)], [2880, 1620]); // PNG IHDR: device pixels
  await g.close();
});

H("the profile's display.scale overrides the rule (1 on the same screen)", async (ctx) => {
  const f = (ctx.foyerd = foyerd("1x", { width: 2880, height: 1620, scale: 1 }));
  await f.until((l) => l.includes("greeter interactive"), 60_000, "greeter interactive");
  const g = await greeterPage();
  await withTimeout(g.page.locator("#status", { hasText: "No password" }).waitFor(), 15_000);
  assert.is(await g.page.evaluate(() => window.devicePixelRatio), 1);
  await g.close();
});

H.run();
