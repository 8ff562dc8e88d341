// The passphrase typed into foyer's own frame in a real boot (the appliance: dracut, a LUKS2 root,
// cage and cog under QEMU/TCG). While the browser loads, cage gives the keyboard to foyer-splash,
// which reads the keys with cage's keymap (the image's German layout) and sends them to foyerd;
// foyerd draws the prompt in the splash's frame. Typed there whole, the passphrase unlocks the
// root before the greeter is up; half typed there, the greeter comes up with as many bullets
// and takes the rest. Every screendump from QEMU's start across the switch is judged: foyer's
// frame or its greeter, no text console, no black longer than cage's first modeset.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { requireTool, pollUntil } from "../helpers/index.js";
import { buildAppliance, VM_PASSPHRASE, type Appliance } from "./appliance.js";
import { fieldDots, frameBullets, type Vm } from "./qemu.js";
import { afterUnlock, inVm } from "./journey.js";
import { watch, type Run } from "./screens.js";

const say = (s: string) => process.stdout.write(`• ${s}\n`);
let appliance: Appliance;
/** the longest black after foyer's first frame: cage's modeset before the splash maps (test/vm/unlock) */
const MAX_BLACK_S = 2;

test.before(() => {
  for (const [tool, pkg] of [
    ["qemu-system-x86_64", "qemu-system-x86"],
    ["dracut", "dracut"],
    ["cryptsetup", "cryptsetup-bin"],
    ["zstd", "zstd"],
  ] as const)
    requireTool(tool, pkg);
  appliance = buildAppliance(say);
});

/** No text console and no long black once foyer's frame is up; the runs said. */
function judge(runs: Run[], what: string): void {
  say(`${what}: ${runs.map((r) => `${r.kind} ${r.from.toFixed(1)}–${r.to.toFixed(1)} s`).join(" → ")}`);
  const first = runs.findIndex((r) => r.kind === "foyer" || r.kind === "prompt");
  assert.ok(first >= 0, `foyer's frame never on screen (${what})`);
  const after = runs.slice(first);
  const bad = after.filter((r) => r.kind === "text" || r.kind === "other" || r.kind === "dm");
  assert.is(
    bad.length,
    0,
    `${what}: ${bad.map((r) => `${r.kind} ${r.from.toFixed(2)}–${r.to.toFixed(2)} s`).join(", ")}; see ${tmpdir()}/foyer-vm-frame-*.ppm`,
  );
  for (const r of after.filter((r) => r.kind === "black" || r.kind === "off"))
    assert.ok(r.to - r.from <= MAX_BLACK_S, `${what}: ${r.kind} for ${(r.to - r.from).toFixed(2)} s (at most ${MAX_BLACK_S} s)`);
}

/** Boots to foyer's frame asking in the splash, before the greeter has painted; the screen's runs to then. */
async function frameAsks(vm: Vm, name: string): Promise<Run[]> {
  const w = await watch(vm, name, 0, 480, 0, undefined, "prompt", (s) => frameBullets(s) === 0);
  // the console's log comes a moment after the screen
  const [asked] = await vm.waitSerial(/foyer's frame asks, in the splash/, 30_000, "foyer's prompt in the splash");
  assert.not.ok(vm.serial.slice(0, vm.serial.indexOf(asked)).includes("greeter interactive"), "the greeter was up before foyer's frame asked");
  assert.not.match(vm.serial, /greeter interactive/, "the greeter is up already: nothing here would be typed into the frame");
  say(`foyer's frame asks ${vm.seconds.toFixed(1)} s after qemu started (TCG)`);
  return w.runs;
}

test("the whole passphrase typed into foyer's frame unlocks the root before the greeter is up", async () => {
  await inVm(appliance, { append: "rd.foyer.profile=vm" }, "frame-whole", async (vm) => {
    const runs = await frameAsks(vm, "frame-whole");
    // a character at a time, each looked for in the frame's field before the next, as a person would
    let n = 0;
    for (const c of VM_PASSPHRASE) {
      await vm.type(c, "de", false);
      await pollUntil(async () => frameBullets(await vm.screen()) === n + 1, 60_000, `bullet ${n + 1} in foyer's frame after "${c}"`);
      n++;
    }
    await vm.screen(join(tmpdir(), "foyer-vm-frame-typed.png"));
    await vm.chord(["ret"]);
    await vm.waitSerial(/password request answered/, 120_000, "the answer from foyer's frame");
    const answered = vm.serial.search(/password request answered/);
    const up = vm.serial.search(/greeter interactive/);
    assert.ok(up < 0 || up > answered, "the greeter was interactive before the answer: it was not the frame's");
    say(`answered from foyer's frame at ${vm.seconds.toFixed(1)} s${up < 0 ? ", the greeter not up yet" : ""}`);
    judge(runs, "QEMU's start to the frame's prompt");
    say(await afterUnlock(vm));
  });
});

test("begun in foyer's frame, finished in the greeter: the greeter shows the bullets and the root unlocks with the exact bytes", async () => {
  await inVm(appliance, { append: "rd.foyer.profile=vm" }, "frame-half", async (vm) => {
    const before = await frameAsks(vm, "frame-half");
    const half = VM_PASSPHRASE.slice(0, 5);
    let n = 0;
    for (const c of half) {
      await vm.type(c, "de", false);
      await pollUntil(async () => frameBullets(await vm.screen()) === n + 1, 60_000, `bullet ${n + 1} in foyer's frame after "${c}"`);
      n++;
    }
    assert.not.match(vm.serial, /greeter interactive/, "the greeter came up while the first half was typed: type again with a slower greeter");
    // across the switch: the frame with its bullets, then the greeter's field with as many
    const t0 = vm.seconds;
    // (watched until the greeter's field shows them: "dm", never seen here, ends no watch by itself)
    const w = await watch(
      vm,
      "frame-switch",
      0,
      vm.seconds + 240,
      0,
      undefined,
      "dm",
      (s) => /greeter interactive/.test(vm.serial) && fieldDots(s) === half.length,
    );
    const shown = fieldDots(await vm.screen(join(tmpdir(), "foyer-vm-frame-handed.png")));
    assert.is(shown, half.length, `the greeter's field shows ${shown ?? "no focus"}, not ${half.length} bullets (foyer-vm-frame-handed.png)`);
    const [, chars] = await vm.waitSerial(
      /the page goes on from what was typed into foyer's frame key=\d+ chars=(\d+)/,
      10_000,
      "the hand-over of what was typed",
    );
    assert.is(Number(chars), half.length);
    judge([...before, ...w.runs], "QEMU's start across the switch to the greeter");
    say(`the greeter showed the ${half.length} bullets ${(vm.seconds - t0).toFixed(1)} s after the last was typed into the frame`);
    await vm.type(VM_PASSPHRASE.slice(half.length), "de");
    say(await afterUnlock(vm));
  });
});

test.run();
