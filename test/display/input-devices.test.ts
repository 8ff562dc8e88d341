import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseInputDevices, oskWanted } from "../../src/display/input-devices.js";
import { top } from "../helpers/index.js";

const fixture = (n: string) => readFileSync(join(top, "test/fixtures/input", n), "utf8");

test("a laptop: keyboard yes; its touchpad is a pointer, not a touch screen", () => {
  assert.equal(parseInputDevices(fixture("laptop.txt")), { keyboard: true, touch: false, pointer: true });
  assert.is(oskWanted(parseInputDevices(fixture("laptop.txt"))), false);
});

test("a tablet: power and volume keys are not a keyboard; the touch screen is direct", () => {
  assert.equal(parseInputDevices(fixture("tablet.txt")), { keyboard: false, touch: true, pointer: false });
  assert.is(oskWanted(parseInputDevices(fixture("tablet.txt"))), true);
});

test("a tablet with its keyboard cover: no on-screen keyboard", () => {
  assert.equal(parseInputDevices(fixture("tablet-with-keyboard.txt")), { keyboard: true, touch: true, pointer: true }); // the cover's touchpad
  assert.is(oskWanted(parseInputDevices(fixture("tablet-with-keyboard.txt"))), false);
});

test("nothing listed (a VM without input, a container): neither", () => {
  assert.equal(parseInputDevices(""), { keyboard: false, touch: false, pointer: false });
  assert.equal(parseInputDevices("B: EV=zz\nB: KEY=\n"), { keyboard: false, touch: false, pointer: false });
});

// recorded in the VM appliance (QEMU 7.2's i8042 and USB devices, Debian 12's kernel)
test("QEMU's USB tablet, USB mouse and PS/2 mouse with no keyboard: pointers, so the on-screen keyboard shows", () => {
  const d = parseInputDevices(fixture("qemu-pointers-only.txt"));
  assert.equal(d, { keyboard: false, touch: false, pointer: true });
  assert.is(oskWanted(d), true);
  // each one alone: relative axes (the mice), absolute ones off the display (the tablet)
  for (const block of fixture("qemu-pointers-only.txt")
    .split(/\n\s*\n/)
    .filter((b) => b.trim())) {
    assert.is(parseInputDevices(block).pointer, true, block.split("\n")[1]);
  }
});

test("the same machine with its AT and USB keyboards: no on-screen keyboard", () => {
  const d = parseInputDevices(fixture("qemu-pc-usb.txt"));
  assert.equal(d, { keyboard: true, touch: false, pointer: true });
  assert.is(oskWanted(d), false);
});

test("a button with no axes, or axes with no button, is no pointer", () => {
  assert.is(parseInputDevices("B: EV=7\nB: KEY=1f0000 0 0 0 0\nB: REL=0\n").pointer, false);
  assert.is(parseInputDevices("B: EV=7\nB: KEY=0\nB: REL=3\n").pointer, false);
});
test.run();
