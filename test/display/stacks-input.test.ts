// cage on DRM with no input device yet (a USB keyboard that comes late or is plugged in at the
// prompt): wlroots refuses to start without one unless WLR_LIBINPUT_NO_DEVICES is set, and the
// crash-loop breaker would then put the person on the text console. The flag is given only when
// no device is set up; the real boot is test/vm/unlock's keyboard plugged in at the prompt.
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
import type { LaunchSpec, Launched } from "../../src/launch/direct.js";

/** the environment cage would be started with, for a stack and whether an input device is there */
function cageEnv(stackName: string, input: boolean): Record<string, string> {
  const runtimeDir = mkdtempSync(join(tmpdir(), "foyer-stack-"));
  let spec: LaunchSpec | undefined;
  new DisplayStack({
    profile: ProfileSchema.parse({ schema: 1, display: { stack: stackName, browser: "cog" } }),
    runtimeDir,
    folders: greeterPaths(join(runtimeDir, "state")),
    logDir: join(runtimeDir, "state", "log"),
    user: { name: "nobody", uid: 65534, gid: 65534 },
    keyboard: US,
    launcher: { start: (s) => ((spec = s), {} as Launched) },
    log: createLogger({ level: "error", kmsg: false }),
    url: () => "http://127.0.0.1:1/#token=t",
    origin: () => "http://127.0.0.1:1",
    inputReady: () => input,
  }).startGreeter();
  assert.ok(spec, "nothing was launched");
  assert.is(spec.argv[0], "cage");
  return spec.env;
}

test("wayland on DRM without an input device: cage is told to start without one", () => {
  assert.is(cageEnv("wayland", false).WLR_LIBINPUT_NO_DEVICES, "1");
});

test("wayland on DRM with an input device: cage starts as always, refusing to run without one", () => {
  assert.is(cageEnv("wayland", true).WLR_LIBINPUT_NO_DEVICES, undefined);
});

test("the headless backend never has input devices: the flag whatever the host has", () => {
  assert.is(cageEnv("headless-wayland", true).WLR_LIBINPUT_NO_DEVICES, "1");
  assert.is(cageEnv("headless-wayland", false).WLR_LIBINPUT_NO_DEVICES, "1");
});

test.run();
