import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseInputDevices, oskWanted } from "../../src/display/input-devices.js";
import { top } from "../helpers/index.js";

const fixture = (n: string) => readFileSync(join(top, "test/fixtures/input", n), "utf8");

test("a laptop: keyboard yes; its touchpad is not a touch screen", () => {
  assert.equal(parseInputDevices(fixture("laptop.txt")), { keyboard: true, touch: false });
  assert.is(oskWanted(parseInputDevices(fixture("laptop.txt"))), false);
});

test("a tablet: power and volume keys are not a keyboard; the touch screen is direct", () => {
  assert.equal(parseInputDevices(fixture("tablet.txt")), { keyboard: false, touch: true });
  assert.is(oskWanted(parseInputDevices(fixture("tablet.txt"))), true);
});

test("a tablet with its keyboard cover: no on-screen keyboard", () => {
  assert.equal(parseInputDevices(fixture("tablet-with-keyboard.txt")), { keyboard: true, touch: true });
  assert.is(oskWanted(parseInputDevices(fixture("tablet-with-keyboard.txt"))), false);
});

test("nothing listed (a VM without input, a container): neither", () => {
  assert.equal(parseInputDevices(""), { keyboard: false, touch: false });
  assert.equal(parseInputDevices("B: EV=zz\nB: KEY=\n"), { keyboard: false, touch: false });
});
test.run();
