// osk = auto follows the input devices while the greeter shows: a keyboard plugged in hides the
// on-screen keyboard, pulled out shows it again, until the person toggles it themselves.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { GreeterSettings } from "../../src/supervisor/greeter-settings.js";
import type { InputDevices } from "../../src/display/input-devices.js";
import { ProfileSchema } from "../../src/profile/schema.js";
import { createLogger } from "../../src/base/log.js";
import { top } from "../helpers/index.js";

const fixture = (n: string) => readFileSync(join(top, "test/fixtures/input", n), "utf8");

function settings(osk: "auto" | "on" | "off", devices: string) {
  const file = join(mkdtempSync(join(tmpdir(), "foyer-inputs-")), "devices");
  writeFileSync(file, devices);
  let changed = 0;
  const heard: InputDevices[] = [];
  const s = new GreeterSettings({
    profile: ProfileSchema.parse({ schema: 1, appearance: { osk, inputDevices: file } }),
    log: createLogger({ level: "error", kmsg: false }),
    changed: () => changed++,
    devicesChanged: (d) => heard.push(d),
  });
  return { s, file, heard, plug: (text: string) => writeFileSync(file, text), changes: () => changed };
}

test("auto: a mouse and no keyboard shows it; a keyboard plugged in hides it, pulled out shows it again", () => {
  const { s, plug, changes } = settings("auto", fixture("qemu-pointers-only.txt"));
  assert.is(s.appearance.osk, true);
  plug(fixture("qemu-pc-usb.txt"));
  s.recheckInputDevices();
  assert.is(s.appearance.osk, false);
  assert.is(changes(), 1, "the state is broadcast once");
  s.recheckInputDevices(); // the same list: nothing to say
  assert.is(changes(), 1);
  plug(fixture("qemu-pointers-only.txt"));
  s.recheckInputDevices();
  assert.is(s.appearance.osk, true);
  assert.is(changes(), 2);
});

test("a device list that changes without changing the answer says nothing", () => {
  const { s, plug, changes } = settings("auto", fixture("laptop.txt"));
  assert.is(s.appearance.osk, false);
  plug(fixture("qemu-pc-usb.txt"));
  s.recheckInputDevices();
  assert.is(s.appearance.osk, false);
  assert.is(changes(), 0);
});

test("the person's toggle stands: a keyboard plugged in afterwards does not hide it", () => {
  const { s, plug } = settings("auto", fixture("laptop.txt"));
  s.set({ osk: true });
  plug(fixture("qemu-pointers-only.txt"));
  s.recheckInputDevices();
  plug(fixture("qemu-pc-usb.txt"));
  s.recheckInputDevices();
  assert.is(s.appearance.osk, true);
});

test("the profile's on or off is never second-guessed; an unreadable list changes nothing", () => {
  const on = settings("on", fixture("qemu-pc-usb.txt"));
  on.plug(fixture("tablet.txt"));
  on.s.recheckInputDevices();
  assert.is(on.s.appearance.osk, true);
  const off = settings("off", fixture("tablet.txt"));
  off.s.recheckInputDevices();
  assert.is(off.s.appearance.osk, false);
  const gone = settings("auto", fixture("tablet.txt"));
  rmSync(gone.file);
  gone.s.recheckInputDevices();
  assert.is(gone.s.appearance.osk, true);
  assert.is(gone.changes(), 0);
});

test("followInputDevices looks by itself, and stop() ends it", async () => {
  const { s, plug, changes } = settings("auto", fixture("qemu-pointers-only.txt"));
  s.followInputDevices(20);
  plug(fixture("qemu-pc-usb.txt"));
  const t0 = Date.now();
  while (s.appearance.osk && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
  assert.is(s.appearance.osk, false, "the keyboard was not noticed within 5 s");
  s.stop();
  plug(fixture("qemu-pointers-only.txt"));
  await new Promise((r) => setTimeout(r, 100));
  assert.is(s.appearance.osk, false, "a stopped follower still looked");
  assert.is(changes(), 1);
});

test("every change of the list is heard (the X layout is set again on it), whatever the on-screen keyboard does; the same list is not", () => {
  const on = settings("on", fixture("laptop.txt"));
  on.s.recheckInputDevices();
  assert.equal(on.heard, [], "the list read at the start is no change");
  on.plug(fixture("qemu-pc-usb.txt"));
  on.s.recheckInputDevices();
  on.s.recheckInputDevices();
  assert.equal(on.heard, [{ keyboard: true, touch: false, pointer: true }]);
  assert.is(on.changes(), 0, "osk = on: nothing visible changed");
});

test.run();
