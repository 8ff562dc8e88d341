import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { scaleFor, drmOutputSizes, deviceScale } from "../../src/display/scale.js";

test("Plymouth's rule: 2 from 2880×1620 up, 1 below", () => {
  assert.is(scaleFor(1920, 1080), 1);
  assert.is(scaleFor(2560, 1600), 1);
  assert.is(scaleFor(2880, 1620), 2);
  assert.is(scaleFor(3840, 2160), 2);
  assert.is(scaleFor(2880, 1200), 1); // wide but short: not HiDPI
});

function drm(outputs: Record<string, { status: string; modes: string }>): string {
  const d = mkdtempSync(join(tmpdir(), "foyer-drm-"));
  for (const [name, o] of Object.entries(outputs)) {
    mkdirSync(join(d, name));
    writeFileSync(join(d, name, "status"), o.status + "\n");
    writeFileSync(join(d, name, "modes"), o.modes);
  }
  mkdirSync(join(d, "card0")); // the card itself has no status: skipped
  return d;
}

test("DRM: connected outputs' preferred modes, disconnected ones skipped", () => {
  const d = drm({ "card0-eDP-1": { status: "connected", modes: "3840x2400\n1920x1200\n" }, "card0-HDMI-A-1": { status: "disconnected", modes: "" } });
  assert.equal(drmOutputSizes(d), [{ width: 3840, height: 2400 }]);
  assert.is(deviceScale("auto", true, { width: 1280, height: 800 }, d), 2);
});

test("auto on Xvfb/headless uses the profile's size; a number always wins", () => {
  assert.is(deviceScale("auto", false, { width: 2880, height: 1620 }), 2);
  assert.is(deviceScale("auto", false, { width: 1280, height: 800 }), 1);
  assert.is(deviceScale(3, false, { width: 1280, height: 800 }), 3);
  // a real display with no readable DRM (no /sys/class/drm): the profile's size
  assert.is(deviceScale("auto", true, { width: 1280, height: 800 }, "/nonexistent"), 1);
});

test.run();
