// npm run demo's path: a LUKS2 container made on the spot, a real systemd-ask-password request,
// a wrong passphrase asked again, the right one checked by cryptsetup — typed into the greeter.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { chromium } from "playwright-core";
import { requireTool, requirePrivateAskDir, waitForFile, withTimeout, top, CHROMIUM_ARGS, unmountUnder } from "../helpers/index.js";
import { DEMO_PASSPHRASE } from "../../src/cli/demo.js";

requireTool("cryptsetup", "cryptsetup-bin");
requireTool("systemd-ask-password", "systemd");
requireTool("unshare", "util-linux");
requirePrivateAskDir();

test("the demo unlocks its LUKS2 file after a wrong try", async () => {
  const rt = mkdtempSync(join(tmpdir(), "foyer-demo-test-"));
  const demo = spawn(process.execPath, ["--import", "tsx", join(top, "src/cli/demo.ts"), "--runtime-dir", rt], {
    env: { ...process.env, FOYER_MAIN: "foyer-demo", WAYLAND_DISPLAY: "", DISPLAY: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  demo.stdout.on("data", (d) => (out += d));
  demo.stderr.on("data", (d) => (out += d));
  const exited = new Promise<number | null>((r) => demo.on("exit", (c) => r(c)));
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
  try {
    await waitForFile(join(rt, "greeter-url"), 30_000);
    const page = await browser.newPage();
    await page.goto(readFileSync(join(rt, "greeter-url"), "utf8").trim());
    const field = page.getByLabel(/Please enter passphrase for disk demo.luks/);
    await withTimeout(field.waitFor(), 20_000, "demo prompt");
    await field.fill("not the passphrase");
    await field.press("Enter");
    await withTimeout(page.locator(".wrong:not([hidden])").waitFor(), 20_000, "asked again after the wrong one");
    await page.getByLabel(/\(2\/3\)/).fill(DEMO_PASSPHRASE);
    await page.getByLabel(/\(2\/3\)/).press("Enter");
    assert.is(await withTimeout(exited, 30_000, "demo exit"), 0, out);
    assert.match(out, /wrong passphrase \(try 1 of 3\)/);
    assert.match(out, /unlocked demo\.luks/);
  } finally {
    demo.kill();
    await browser.close();
    unmountUnder(rt);
    rmSync(rt, { recursive: true, force: true });
  }
});

test.run();
