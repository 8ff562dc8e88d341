// The hand-over's logic (src/display/handoff.ts) on folders shaped like sysfs: the frame's pixel
// layout, which consoles are unbound, and when foyer-console.service binds them again. The real
// kernel, framebuffer and display manager are in test/vm/handoff.test.ts.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import {
  ppmToFrame,
  framebufferConsoles,
  bindConsoles,
  frameBuffer,
  restoreConsole,
  rootRestoresConsole,
  vtGraphics,
  HELD_FILE,
  type DmState,
} from "../../src/display/handoff.js";

const ppm = (w: number, h: number, px: number[]) => Buffer.concat([Buffer.from(`P6\n${w} ${h}\n255\n`), Buffer.from(px)]);

function sysfs(): string {
  const d = mkdtempSync(join(tmpdir(), "foyer-vtcon-"));
  for (const [n, name, bind] of [
    ["vtcon0", "(S) dummy device", "0"],
    ["vtcon1", "(M) frame buffer device", "1"],
  ] as const) {
    mkdirSync(join(d, n));
    writeFileSync(join(d, n, "name"), name + "\n");
    writeFileSync(join(d, n, "bind"), bind + "\n");
  }
  return d;
}
const bindOf = (d: string, n: string) => readFileSync(join(d, n, "bind"), "utf8").trim();

test("a PPM becomes XRGB rows at the framebuffer's stride, centred, cropped where larger", () => {
  // 2x1: red, blue → a 4x2 framebuffer with 20-byte rows: centred at x=1, y=0
  const fb = { dev: "", width: 4, height: 2, stride: 20, bitsPerPixel: 32 };
  const out = ppmToFrame(ppm(2, 1, [255, 0, 0, 0, 0, 255]), fb);
  assert.is(out.length, 40);
  assert.equal([...out.subarray(4, 8)], [0, 0, 255, 0], "red as B G R x");
  assert.equal([...out.subarray(8, 12)], [255, 0, 0, 0], "blue as B G R x");
  assert.equal([...out.subarray(0, 4)], [0, 0, 0, 0], "black around it");
  assert.ok(
    out.subarray(20).every((b) => b === 0),
    "the second row is black",
  );
  // larger than the screen: the middle is kept
  const big = ppmToFrame(ppm(3, 1, [1, 1, 1, 2, 2, 2, 3, 3, 3]), { dev: "", width: 1, height: 1, stride: 4, bitsPerPixel: 32 });
  assert.equal([...big], [2, 2, 2, 0]);
});

test("what is not a whole 8-bit P6 PPM is refused with a reason", () => {
  const fb = { dev: "", width: 2, height: 2, stride: 8, bitsPerPixel: 32 };
  assert.throws(() => ppmToFrame(Buffer.from("P3\n1 1\n255\n0 0 0\n"), fb), /not a binary PPM/);
  assert.throws(() => ppmToFrame(Buffer.from("P6\n1 1\n65535\n\0\0\0\0\0\0"), fb), /maxval is 65535/);
  assert.throws(() => ppmToFrame(ppm(2, 2, [1, 2, 3]), fb), /truncated: 3 bytes for 2x2/);
});

test("the framebuffer is read from sysfs; odd depths and missing files give none", () => {
  const d = mkdtempSync(join(tmpdir(), "foyer-fb-"));
  writeFileSync(join(d, "virtual_size"), "1280,800\n");
  writeFileSync(join(d, "stride"), "5120\n");
  writeFileSync(join(d, "bits_per_pixel"), "32\n");
  assert.equal(frameBuffer(d, "/dev/fbX"), { dev: "/dev/fbX", width: 1280, height: 800, stride: 5120, bitsPerPixel: 32 });
  writeFileSync(join(d, "bits_per_pixel"), "16\n");
  assert.is(frameBuffer(d), undefined);
  assert.is(frameBuffer(join(d, "nothing")), undefined);
});

test("only bound framebuffer consoles are unbound, and bound again", () => {
  const d = sysfs();
  const c = framebufferConsoles(d);
  assert.equal(c, [join(d, "vtcon1")]);
  bindConsoles(c, false);
  assert.is(bindOf(d, "vtcon1"), "0");
  assert.equal(framebufferConsoles(d), [], "an unbound one is not listed again");
  bindConsoles(c, true);
  assert.is(bindOf(d, "vtcon1"), "1");
  assert.is(bindOf(d, "vtcon0"), "0", "the dummy console is left alone");
});

test("foyer keeps a frame only for a root that has foyer-console.service", () => {
  const root = mkdtempSync(join(tmpdir(), "foyer-root-"));
  assert.not.ok(rootRestoresConsole(root));
  mkdirSync(join(root, "lib/systemd/system"), { recursive: true });
  writeFileSync(join(root, "lib/systemd/system/foyer-console.service"), "");
  assert.ok(rootRestoresConsole(root));
});

/** restoreConsole with a held file, a display manager whose state, VT and VT's mode follow `script` (one entry per poll). */
async function restore(held: string | undefined, script: { dm: DmState; vt: string; graphics?: boolean }[], timeoutMs = 5000, dmPollMs = 0) {
  const d = sysfs();
  bindConsoles([join(d, "vtcon1")], false);
  const run = mkdtempSync(join(tmpdir(), "foyer-run-"));
  if (held !== undefined) writeFileSync(join(run, HELD_FILE), held.replaceAll("$D", d));
  let i = 0,
    vtLooks = 0;
  const lines: string[] = [];
  const at = (k: number) => script[Math.min(k, script.length - 1)]!;
  const why = await restoreConsole({
    runtimeDir: run,
    vtconsoleDir: d,
    timeoutMs,
    settleMs: 30,
    pollMs: 10,
    dmPollMs,
    log: (l) => lines.push(l),
    dmState: () => at(i++).dm, // one poll: the display manager's state, then the VT
    activeVt: () => {
      vtLooks++;
      return at(i - 1).vt;
    },
    vtGraphics: (vt) => (vt === at(i - 1).vt ? at(i - 1).graphics : (assert.unreachable(`asked for ${vt}'s mode`) as never)),
  });
  return { why, bound: bindOf(d, "vtcon1"), heldLeft: existsSync(join(run, HELD_FILE)), lines, polls: i, vtLooks };
}
const lightdm = (active: string): DmState => ({ load: "loaded", active });
const HELD = JSON.stringify({ vt: "tty1", consoles: ["$D/vtcon1"] });

test("the console comes back once the display manager switched to its VT and its server put it in graphics mode", async () => {
  const text = { dm: lightdm("active"), vt: "tty7", graphics: false };
  const r = await restore(HELD, [{ dm: lightdm("activating"), vt: "tty1" }, { dm: lightdm("active"), vt: "tty1" }, text, text, { ...text, graphics: true }]);
  assert.is(r.why, "the display manager took tty7");
  assert.is(r.bound, "1");
  assert.not.ok(r.heldLeft, "the held file is removed");
  assert.is(r.polls, 5, `bound after ${r.polls} polls: not at the first poll that found tty7 in graphics mode`);
});

test("a display manager on foyer's own VT (GDM on tty1): the console comes back once its server puts that VT from text into graphics mode", async () => {
  const tty1 = (graphics: boolean) => ({ dm: lightdm("active"), vt: "tty1", graphics });
  const r = await restore(HELD, [tty1(true), tty1(false), tty1(false), tty1(true)]);
  assert.is(r.why, "the display manager took tty1");
  assert.is(r.polls, 4, `bound after ${r.polls} polls: not when tty1 went from text into graphics mode`);
  // in graphics mode all along (not left in text mode by foyer's compositor): not taken by anyone new
  const still = await restore(HELD, [tty1(true)], 200);
  assert.is(still.why, "the display manager did not take the display in 200 ms");
});

test("a VT left in text mode (a text greeter), or one whose mode cannot be read: the console comes back after the settling time", async () => {
  for (const [graphics, how] of [
    [false, "in text mode"],
    [undefined, "its mode unknown"],
  ] as const) {
    const r = await restore(HELD, [
      { dm: lightdm("active"), vt: "tty1" },
      { dm: lightdm("active"), vt: "tty7", graphics },
    ]);
    assert.is(r.why, `the display manager took tty7 (${how} after 30 ms)`);
    assert.is(r.bound, "1");
    assert.ok(r.polls >= 4, `bound after ${r.polls} polls: the new VT was not given time to settle`);
  }
});

test("no display manager, or a failed or stopped one: the console comes back at once", async () => {
  for (const [dm, why] of [
    [{ load: "not-found", active: "inactive" }, "no display manager"],
    [lightdm("failed"), "the display manager is failed"],
    [lightdm("inactive"), "the display manager is inactive"],
  ] as const) {
    const r = await restore(HELD, [{ dm, vt: "tty1" }]);
    assert.is(r.why, why);
    assert.is(r.bound, "1");
  }
});

test("a display manager that never takes the display: the console comes back at the deadline", async () => {
  const r = await restore(HELD, [{ dm: lightdm("active"), vt: "tty1" }], 200);
  assert.is(r.why, "the display manager did not take the display in 200 ms");
  assert.is(r.bound, "1");
});

test("the display manager's state is asked for once per dmPollMs, the VT at every poll", async () => {
  const r = await restore(HELD, [{ dm: lightdm("active"), vt: "tty1" }], 300, 1000);
  assert.is(r.why, "the display manager did not take the display in 300 ms");
  assert.is(r.polls, 1, `systemctl would have run ${r.polls} times in 300 ms`);
  assert.ok(r.vtLooks >= 10, `the VT was looked at ${r.vtLooks} times in 300 ms at a 10 ms poll`);
});

test("a malformed held file is reported and every framebuffer console is bound", async () => {
  for (const bad of ["{", JSON.stringify({ vt: "tty1", consoles: ["/etc/passwd"] }), JSON.stringify({ vt: 1, consoles: "x" })]) {
    const r = await restore(bad, [{ dm: lightdm("failed"), vt: "tty1" }]);
    assert.match(r.lines[0]!, /is malformed/);
    assert.is(r.bound, "1", `not bound after '${bad}'`);
    assert.not.ok(r.heldLeft);
  }
});

test("a VT's mode is read only from a VT: not from a name that is no VT's, nor from a file that is no terminal", () => {
  const dev = mkdtempSync(join(tmpdir(), "foyer-dev-"));
  writeFileSync(join(dev, "tty7"), "");
  for (const vt of ["tty7", "../tty7", "tty0", "ttyS0", "tty7/x", ""]) assert.is(vtGraphics(vt, dev), undefined, `'${vt}'`);
});

test("nothing held: nothing done", async () => {
  const r = await restore(undefined, [{ dm: lightdm("failed"), vt: "tty1" }]);
  assert.is(r.why, "nothing held");
  assert.is(r.bound, "0", "a console foyer did not unbind is not touched");
});

test.run();
