// The scale factor reaches both kiosk browsers' command lines; chromium's window size is in
// device-independent pixels, so it is the screen's size divided by the factor.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { DisplayStack } from "../../src/display/stacks.js";
import { greeterPaths } from "../../src/state/greeter-folders.js";
import { ProfileSchema } from "../../src/profile/schema.js";
import { US } from "../../src/display/keyboard.js";
import { createLogger } from "../../src/base/log.js";
import type { Launcher } from "../../src/launch/direct.js";

function stack(display: Record<string, unknown>): DisplayStack {
  const runtimeDir = mkdtempSync(join(tmpdir(), "foyer-stack-"));
  return new DisplayStack({
    profile: ProfileSchema.parse({ schema: 1, display }),
    runtimeDir,
    folders: greeterPaths(join(runtimeDir, "state")),
    logDir: join(runtimeDir, "state", "log"),
    user: { name: "nobody", uid: 65534, gid: 65534 },
    keyboard: US,
    launcher: {} as Launcher, // browserArgv launches nothing
    log: createLogger({ level: "error", kmsg: false }),
    url: () => "http://127.0.0.1:1/#token=t",
    origin: () => "http://127.0.0.1:1",
  });
}

test("chromium on a 2880×1620 Xvfb: scale 2, window 1440×810 DIPs", () => {
  const argv = stack({ stack: "x11", xserver: "Xvfb", browser: "chromium", width: 2880, height: 1620 }).browserArgv(false);
  assert.ok(argv.includes("--force-device-scale-factor=2"));
  assert.ok(argv.includes("--window-size=1440,810"));
});

test("chromium at 1280×800: scale 1, window as given", () => {
  const argv = stack({ stack: "x11", xserver: "Xvfb", browser: "chromium" }).browserArgv(false);
  assert.ok(argv.includes("--force-device-scale-factor=1"));
  assert.ok(argv.includes("--window-size=1280,800"));
});

test("cog: --device-scale only when not 1; the profile's number wins", () => {
  const hidpi = stack({ stack: "headless-wayland", browser: "cog", width: 3840, height: 2160 }).browserArgv(true);
  assert.ok(hidpi.includes("--device-scale=2"));
  assert.ok(hidpi.indexOf("--device-scale=2") < hidpi.length - 1, "the URL stays last");
  assert.not.ok(stack({ stack: "headless-wayland", browser: "cog" }).browserArgv(true).some((a) => a.startsWith("--device-scale")));
  assert.ok(stack({ stack: "headless-wayland", browser: "cog", scale: 3 }).browserArgv(true).includes("--device-scale=3"));
});

test.run();
