// First-boot setup in a real boot: the unlock journey into a root on its first boot (no
// /etc/machine-id) that runs systemd with foyer-firstboot.service enabled as shipped. After
// switch-root the unit starts `foyerd --firstboot`; its greeter (cage + cog on virtio-gpu, the
// appliance's profile from the kernel command line) shows the form, which is filled on the virtual
// keyboard (German key positions: the appliance's layout); the root's own tools apply it, foyerd
// exits, the unit ends with success, and the root's report says what the setup left.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { requireTool, top } from "../helpers/index.js";
import { buildAppliance, buildFirstbootRoot, VM_PASSPHRASE, type Appliance } from "./appliance.js";
import { waitForPrompt, near, type Vm } from "./qemu.js";
import { inVm } from "./journey.js";

const say = (s: string) => process.stdout.write(`• ${s}\n`);

// where the form's fields are on the appliance's 1280×800 screen (left, top, right): a focused
// one has the theme's accent as a 3-pixel outline 1 (inputs) or 2 (selects) pixels above its top edge
const FIELDS = {
  layout: [296, 182, 632],
  variant: [648, 182, 984],
  locale: [296, 264, 632],
  timezone: [648, 264, 984],
  hostname: [296, 394, 984],
  fullName: [296, 466, 632],
  username: [648, 466, 984],
  password: [296, 538, 632],
  confirm: [648, 538, 984],
} as const;
type Field = keyof typeof FIELDS;

/** The field whose focus outline is on the screen, if any. */
async function focused(vm: Vm): Promise<Field | undefined> {
  const s = await vm.screen();
  for (const [name, [left, top, right]] of Object.entries(FIELDS) as [Field, readonly number[]][]) {
    for (let y = top! - 5; y <= top! - 2; y++) {
      let accent = 0;
      for (let x = left! + 8; x < right! - 8; x++) if (near(s.rgb, (y * s.width + x) * 3, [0x6e, 0xa8, 0xfe], 40)) accent++;
      if (accent > 0.8 * (right! - left! - 16)) return name;
    }
  }
  return undefined;
}

/**
 * Tab until `target` shows the focus, as a person watching the screen would: after each Tab the
 * screen is looked at until the outline shows on another field (under TCG a key takes a while to
 * show, and a frame between two may have no outline at all: that is not a move).
 */
async function focusField(vm: Vm, target: Field): Promise<void> {
  // the form puts the focus on its first field when it shows: a Tab before that is drawn would be
  // counted from the wrong place
  let now = await focused(vm);
  for (const end = performance.now() + 20_000; now === undefined && performance.now() < end;) {
    await new Promise((r) => setTimeout(r, 300));
    now = await focused(vm);
  }
  for (let tabs = 0; now !== target; tabs++) {
    if (tabs > 14) throw new Error(`no focus on the form's ${target} after 14 tabs (last seen: ${now ?? "none"})`);
    const before = now;
    await vm.chord(["tab"]);
    const end = performance.now() + 15_000;
    do {
      await new Promise((r) => setTimeout(r, 300));
      now = await focused(vm);
    } while ((now === before || now === undefined) && performance.now() < end);
  }
}
let appliance: Appliance;

test.before(() => {
  for (const [t, p] of [
    ["qemu-system-x86_64", "qemu-system-x86"],
    ["cryptsetup", "cryptsetup-bin"],
    ["mkfs.ext4", "e2fsprogs"],
  ] as const)
    requireTool(t, p);
  const a = buildAppliance(say);
  appliance = { ...a, ...buildFirstbootRoot(a, say) };
});

test("unlock, switch-root into a root on its first boot: foyer-firstboot.service shows the form, the root's tools apply it, the boot goes on", async () => {
  await inVm(appliance, { append: "rd.foyer.profile=vm" }, "firstboot", async (vm) => {
    await vm.waitSerial(/greeter interactive ms=\d+/, 480_000, "foyer's greeter interactive");
    await waitForPrompt(vm, 240_000);
    await vm.type(VM_PASSPHRASE, "de");
    // the real root's foyerd, its form and its greeter
    const [, layouts] = await vm.waitSerial(/first-boot setup starts[^\n]*layouts=(\d+)/, 300_000, "the real root's first-boot setup");
    await vm.waitSerial(/first-boot setup starts[\s\S]*greeter interactive ms=\d+/, 480_000, "the first-boot greeter interactive");
    say(`the form in the real root: ${layouts} layouts, greeter interactive ${vm.seconds.toFixed(0)} s after QEMU started`);
    await focusField(vm, "hostname");
    await vm.type("erststart", "de", false);
    await focusField(vm, "username");
    await vm.type("grace", "de", false);
    await focusField(vm, "password");
    await vm.type("erster1", "de", false);
    await focusField(vm, "confirm");
    await vm.type("erster1", "de", false);
    await vm.screen(join(tmpdir(), "foyer-vm-firstboot-form.png"));
    if (process.env.FOYER_UPDATE_DOCS) await vm.screen(join(top, "docs/vm-firstboot.png"));
    await vm.chord(["ret"]); // Enter submits the form
    const [line, result, status] = await vm.waitSerial(/FOYER-FIRSTBOOT unit=(\S+) status=(\S+)/, 300_000, "the root's report");
    await vm.waitSerial(/FOYER-REPORT-END/, 30_000, "the end of the report");
    const rest = vm.serial.slice(vm.serial.indexOf(line));
    for (const l of rest.split("\n").filter((x) => /^FOYER-FIRSTBOOT/.test(x.trim()))) say(l.trim());
    say(`whole journey ${vm.seconds.toFixed(0)} s`);
    assert.is(result, "success", `foyer-firstboot.service: ${result}; console:\n${vm.tail(60)}`);
    assert.is(status, "0");
    assert.match(rest, /FOYER-FIRSTBOOT-HOST erststart\r?\n/);
    assert.match(rest, /FOYER-FIRSTBOOT-USER grace 1\d{3} \/home\/grace/);
    assert.match(rest, /FOYER-FIRSTBOOT-SHADOW grace sha512/);
    assert.match(rest, /FOYER-FIRSTBOOT-SHADOW root locked/);
    assert.match(rest, /FOYER-FIRSTBOOT-STAMP yes/);
    assert.not.ok(vm.serial.includes("erster1"), "the password appeared on the serial console");
    assert.not.ok(vm.serial.includes(VM_PASSPHRASE), "the passphrase appeared on the serial console");
  });
});

test.run();
