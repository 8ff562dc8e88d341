// Reliability check 11 where no service manager cleans up: foyerd SIGKILLed (as in an
// initramfs-tools image, where its init-premount script started it in the background). What it
// started directly must die with it (PR_SET_PDEATHSIG through setpriv, src/launch/direct.ts), so
// that no display server or greeter is left holding the screen over the console, where cryptroot's
// askpass asks once foyer's Plymouth socket is gone. Under systemd, foyer.service's cgroup and its
// watchdog do this (test/robust/watchdog). The real stacks: cage + chromium, cage + cog (the
// initramfs default: cog does not exit when its compositor dies, so it gets the death signal of its
// own, through cage's command line), Xvfb + chromium.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Foyerd, pollUntil, requireTool } from "../helpers/index.js";

requireTool("cage", "cage");
requireTool("Xvfb", "xvfb");
requireTool("chromium", "chromium");
requireTool("cog", "cog");
requireTool("setpriv", "util-linux");

const K = suite<{ foyerd?: Foyerd }>("robust/foyerd-killed", {});
K.after.each(async (ctx) => {
  ctx.foyerd?.cleanup();
  spawnSync("pkill", ["-KILL", "-u", "foyer-greeter"]);
});
// the shipped headless-wayland profile with cog instead of chromium
const profDir = mkdtempSync(join(tmpdir(), "foyer-killed-"));
const cogProfile = join(profDir, "headless-cog.json");
writeFileSync(cogProfile, JSON.stringify({ schema: 1, display: { stack: "headless-wayland", browser: "cog", renderer: "pixman" }, log: { kmsg: false } }));
K.after(() => rmSync(profDir, { recursive: true, force: true }));

/** The greeter user's processes by name (foyer's display server and greeter run as it). */
function greeterProcs(): string[] {
  return spawnSync("pgrep", ["-u", "foyer-greeter", "-l"], { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean);
}

const stacks = [
  { name: "cage + chromium", profile: "headless-wayland", display: "cage", browser: /chrom/ },
  { name: "cage + cog", profile: cogProfile, display: "cage", browser: / cog$/ },
  { name: "Xvfb + chromium", profile: "xvfb", display: "Xvfb", browser: /chrom/ },
];
for (const { name, profile, display, browser } of stacks) {
  K(`${name}: foyerd killed → ${display} and the browser die with it`, async (ctx) => {
    const f = (ctx.foyerd = new Foyerd(profile, { bundle: true }));
    await f.until((l) => l.includes("greeter interactive"), 60_000, "greeter interactive");
    const before = greeterProcs();
    assert.ok(
      before.some((p) => p.endsWith(` ${display}`)),
      `no ${display} running: ${before.join(", ")}`,
    );
    assert.ok(
      before.some((p) => browser.test(p)),
      `no browser running: ${before.join(", ")}`,
    );
    const t0 = performance.now();
    f.proc.kill("SIGKILL");
    await pollUntil(() => !greeterProcs().some((p) => p.endsWith(` ${display}`)), 5000, `${display} gone after foyerd's SIGKILL`).catch((e) => {
      throw new Error(`${(e as Error).message}; left: ${greeterProcs().join(", ")}`);
    });
    const displayMs = performance.now() - t0;
    await pollUntil(() => greeterProcs().length === 0, 10_000, "every process of the greeter user gone").catch((e) => {
      throw new Error(`${(e as Error).message}; left: ${greeterProcs().join(", ")}`);
    });
    console.log(
      `  ${name}: ${display} gone ${displayMs.toFixed(0)} ms after foyerd's SIGKILL, all ${before.length} greeter processes ${(performance.now() - t0).toFixed(0)} ms`,
    );
  });
}

K.run();
