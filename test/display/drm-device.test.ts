// Waiting for the display device (src/display/drm-device.ts) on a sysfs tree of the test's own:
// /sys/class/drm's layout (cardN with device/driver a symlink to the bound driver, connectors
// beside them), /sys/class/input's event nodes and udev's database entries for them. The real thing is exercised by every VM boot (test/vm), where foyerd starts before
// udev loads virtio-gpu's driver.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, mkdirSync, symlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { drmCards, inputReady, usableCard, waitForDisplayDevices } from "../../src/display/drm-device.js";

let dir = "";
let top = "";
let dirs = { drmDir: "", inputDir: "", udevData: "" };
test.before.each(() => {
  top = mkdtempSync(join(tmpdir(), "foyer-drm-"));
  dir = join(top, "drm");
  dirs = { drmDir: dir, inputDir: join(top, "input"), udevData: join(top, "udev") };
  for (const d of Object.values(dirs)) mkdirSync(d);
});
test.after.each(() => rmSync(top, { recursive: true, force: true }));

/** An input event node, set up by udev (its database entry) or not yet. */
function input(n: number, initialized: boolean): void {
  mkdirSync(join(dirs.inputDir, `event${n}`));
  mkdirSync(join(dirs.inputDir, `input${n}`));
  writeFileSync(join(dirs.inputDir, `event${n}`, "dev"), `13:${64 + n}\n`);
  if (initialized) writeFileSync(join(dirs.udevData, `c13:${64 + n}`), "");
}

/** A card bound to `driver` (undefined: not bound yet), with a connector beside it. */
function card(n: number, driver?: string): void {
  mkdirSync(join(dir, `card${n}`, "device"), { recursive: true });
  mkdirSync(join(dir, `card${n}-Virtual-1`));
  if (driver) symlinkSync(`../../../bus/platform/drivers/${driver}`, join(dir, `card${n}`, "device", "driver"));
}

test("cards are listed in number order, connectors left out, each with its driver", () => {
  card(10, "amdgpu");
  card(1, "i915");
  card(0, "simple-framebuffer");
  card(2);
  assert.equal(drmCards(dir), [
    { name: "card0", driver: "simple-framebuffer", firmware: true },
    { name: "card1", driver: "i915", firmware: false },
    { name: "card2", driver: "", firmware: false },
    { name: "card10", driver: "amdgpu", firmware: false },
  ]);
  assert.equal(drmCards(join(top, "missing")), []);
});

test("a GPU driver's card is taken over a firmware one; the firmware one only when settling", () => {
  card(0, "simple-framebuffer");
  assert.is(usableCard(drmCards(dir), false), undefined);
  assert.is(usableCard(drmCards(dir), true)?.name, "card0");
  card(1, "virtio_gpu");
  assert.is(usableCard(drmCards(dir), false)?.name, "card1");
});

test("an input device counts once udev has set it up", () => {
  assert.is(inputReady(dirs.inputDir, dirs.udevData), false);
  input(0, false);
  assert.is(inputReady(dirs.inputDir, dirs.udevData), false);
  writeFileSync(join(dirs.udevData, "c13:64"), "");
  assert.is(inputReady(dirs.inputDir, dirs.udevData), true);
  assert.is(inputReady(join(top, "missing"), dirs.udevData), false);
});

test("a card and an input device already there are found at once", async () => {
  card(0, "virtio_gpu");
  input(0, true);
  let waits = 0;
  const w = await waitForDisplayDevices({ timeoutMs: 5000, nomodeset: false, ...dirs, onWait: () => waits++ });
  assert.is(waits, 0, "onWait called though nothing was waited for");
  assert.is(w.result, "found");
  assert.ok(w.result === "found" && w.card.driver === "virtio_gpu");
  assert.ok(w.waitedMs < 1000, `${w.waitedMs} ms for a card that was there`);
});

test("a card that appears while waiting is found when it appears, not at the timeout", async () => {
  input(0, true);
  setTimeout(() => card(0, "virtio_gpu"), 300);
  const seen: (string | undefined)[] = [];
  const w = await waitForDisplayDevices({ timeoutMs: 20_000, nomodeset: false, ...dirs, pollMs: 20, onWait: (c) => seen.push(c?.name) });
  assert.equal(seen, [undefined], "onWait: once, before the first pause, with no card yet");
  assert.is(w.result, "found");
  assert.ok(w.waitedMs >= 250 && w.waitedMs < 10_000, `found after ${w.waitedMs} ms`);
});

test("the input device's setup by udev is waited for; at the timeout the card is taken without it", async () => {
  card(0, "virtio_gpu");
  input(0, false);
  setTimeout(() => writeFileSync(join(dirs.udevData, "c13:64"), ""), 300);
  const w = await waitForDisplayDevices({ timeoutMs: 20_000, nomodeset: false, ...dirs, pollMs: 20 });
  assert.is(w.result, "found");
  assert.is(w.input, true);
  assert.ok(w.waitedMs >= 250 && w.waitedMs < 10_000, `found after ${w.waitedMs} ms`);

  rmSync(join(dirs.udevData, "c13:64"));
  const without = await waitForDisplayDevices({ timeoutMs: 300, nomodeset: false, ...dirs, pollMs: 20 });
  assert.is(without.result, "found");
  assert.is(without.input, false);
  assert.ok(without.waitedMs >= 300, `gave up after ${without.waitedMs} ms`);
});

test("the real driver replacing simpledrm is waited for; simpledrm alone is taken at the timeout", async () => {
  input(0, true);
  card(0, "simple-framebuffer");
  setTimeout(() => card(1, "amdgpu"), 300);
  const seen: (string | undefined)[] = [];
  const w = await waitForDisplayDevices({ timeoutMs: 20_000, nomodeset: false, ...dirs, pollMs: 20, onWait: (c) => seen.push(c?.name) });
  assert.equal(seen, [undefined], "simpledrm's card is not usable while a GPU driver's may come");
  assert.is(w.result, "found");
  assert.ok(w.result === "found" && w.card.name === "card1", JSON.stringify(w));

  rmSync(join(dir, "card1"), { recursive: true });
  const alone = await waitForDisplayDevices({ timeoutMs: 400, nomodeset: false, ...dirs, pollMs: 20 });
  assert.is(alone.result, "firmware");
  assert.ok(alone.waitedMs >= 400, `settled after ${alone.waitedMs} ms, before the timeout`);
});

test("with nomodeset the firmware framebuffer is taken at once", async () => {
  input(0, true);
  card(0, "simple-framebuffer");
  const w = await waitForDisplayDevices({ timeoutMs: 20_000, nomodeset: true, ...dirs });
  assert.is(w.result, "firmware");
  assert.ok(w.waitedMs < 1000, `${w.waitedMs} ms`);
});

test("no card at all: 'none' at the timeout, never a rejection", async () => {
  const w = await waitForDisplayDevices({ timeoutMs: 300, nomodeset: false, ...dirs, drmDir: join(top, "no-such-dir"), pollMs: 20 });
  assert.is(w.result, "none");
  assert.is(w.input, false);
  assert.ok(w.waitedMs >= 300, `${w.waitedMs} ms`);
});

test.run();
