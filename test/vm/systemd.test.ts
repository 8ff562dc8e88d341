// The systemd side of foyer in a real boot: the greeter run as transient units by the initrd's
// systemd (profile vm-systemd, launch "auto"), and the recovery flow entered by itself when
// systemd-fsck-root.service fails on a root file system fsck cannot preen, with the device it
// failed on found from the unit and checked read-only for the screen.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { requireTool } from "../helpers/index.js";
import { buildAppliance, buildBrokenRoot, VM_PASSPHRASE, type Appliance } from "./appliance.js";
import { Vm, near, themeDrawn, waitForPrompt } from "./qemu.js";

const say = (s: string) => process.stdout.write(`• ${s}\n`);
let appliance: Appliance;

type Screen = { width: number; height: number; rgb: Buffer };
/**
 * The first button from the top crossing column `x` (in its padding, clear of its label): a run of
 * the theme's button colour (#323c52) at least 20 px tall; its centre.
 */
function firstButton(s: Screen, x: number): { x: number; y: number; screen: Screen } | undefined {
  let start = -1;
  for (let y = 0; y < s.height; y++) {
    const hit = near(s.rgb, (y * s.width + x) * 3, [0x32, 0x3c, 0x52], 6);
    if (hit && start < 0) start = y;
    else if (!hit && start >= 0) {
      if (y - start >= 20) return { x, y: Math.round((start + y) / 2), screen: s };
      start = -1;
    }
  }
  return undefined;
}

test.before(() => {
  for (const [tool, pkg] of [["qemu-system-x86_64", "qemu-system-x86"], ["dracut", "dracut"], ["debugfs", "e2fsprogs"]] as const) requireTool(tool, pkg);
  appliance = buildAppliance(say);
});

test("launch auto: systemd runs the greeter as a transient unit, and the unlock through it reaches the real root", async () => {
  const vm = new Vm(appliance, { append: "rd.foyer.profile=vm-systemd" });
  try {
    await vm.attach();
    const [backend] = await vm.waitSerial(/launch backend \w+[^\n]*\n/, 300_000, "foyer's launch backend");
    assert.match(backend, /launch backend systemd/, `not the systemd backend: ${backend}`);
    await vm.waitSerial(/greeter interactive ms=\d+/, 480_000, "foyer's greeter interactive");
    await waitForPrompt(vm, 240_000);
    await vm.type(VM_PASSPHRASE, "de");
    const [root] = await vm.waitSerial(/FOYER-ROOT-OK [\d.]+/, 300_000, "the real root's marker");
    say(`${backend.trim()}; ${root} after ${vm.seconds.toFixed(0)} s`);
    // the greeter unit ends when foyer stops at switch-root, not before
    const stopAt = vm.serial.search(/received SIGTERM|phase stopping/);
    const beforeStop = stopAt < 0 ? vm.serial : vm.serial.slice(0, stopAt);
    assert.not.match(beforeStop, /greeter exited/, "the greeter unit died on the way");
    // foyer.service's watchdog was armed, and foyerd ran once: no watchdog kill, no restart
    assert.is((vm.serial.match(/pinging the service manager's watchdog/g) ?? []).length, 1, "foyerd's watchdog line, once");
  } finally {
    await vm.stop("systemd");
  }
});

test("fsck cannot preen the root: foyer enters recovery by itself, checks the device, repairs it; Continue checks and mounts the root", async () => {
  const broken = buildBrokenRoot(say);
  // a USB tablet from the start: the recovery screen's buttons are clicked
  const vm = new Vm({ ...appliance, ...broken }, { append: "rd.foyer.profile=vm-recovery", qemuArgs: ["-device", "qemu-xhci,id=xhci", "-device", "usb-tablet,bus=xhci.0"] });
  try {
    await vm.attach();
    await vm.waitSerial(/greeter interactive ms=\d+/, 480_000, "foyer's greeter interactive");
    await waitForPrompt(vm, 240_000);
    await vm.type(VM_PASSPHRASE, "de");
    const [reason] = await vm.waitSerial(/recovery: [^\n]*systemd-fsck-root[^\n]*\n/, 300_000, "foyer's recovery flow");
    say(`${reason.trim()} (${vm.seconds.toFixed(0)} s)`);
    // the device comes from the failed unit itself (no recovery.fsckDevice in the profile): the
    // unlocked root's mapping, checked read-only for the screen
    const [, device, code] = await vm.waitSerial(/fsck check of '(\/dev\/[^']+)' exited (\d+)/, 300_000, "foyer's read-only check of the failed unit's device");
    assert.match(device!, /^\/dev\/(mapper\/luks-|disk\/by-uuid\/|dm-)/, `not the root's mapping: ${device}`);
    assert.is(Number(code), 4, "fsck -n should find the damage (exit 4)");
    say(`the recovery screen checked ${device} read-only: fsck exit ${code}`);
    assert.not.match(vm.serial, /FOYER-ROOT-OK/, "the boot went on with a broken root");
    // dracut's emergency shell runs `plymouth quit` for the text console: foyer keeps the screen
    await vm.waitSerial(/the recovery screen is up \(an emergency shell asks for the console\), ignoring the quit/, 120_000, "dracut's plymouth quit ignored");
    // the recovery screen replaces the prompt and stays: foyer's theme, not a black screen
    const png = join(tmpdir(), "foyer-vm-recovery.png");
    await new Promise((r) => setTimeout(r, 20_000));
    const shown = themeDrawn(await vm.screen(png));
    assert.ok(shown.dark > 0.5, `the recovery screen is not on the display (${(shown.dark * 100).toFixed(0)} % theme background): ${png}`);
    assert.not.match(vm.serial, /supervisor: phase stopping/, "foyer stopped in emergency mode");

    // Repair: sulogin in foyer's terminal, then fsck -y; the screen checks again; Continue boots
    const repairAt = firstButton(await vm.screen(), 170); // "Repair file system (asks for the root password)"
    assert.ok(repairAt, "no Repair button on the screen");
    await vm.click(repairAt.x, repairAt.y, repairAt.screen);
    // sulogin --force says "Press Enter for maintenance" in the terminal (the dracut shell on the
    // serial console says it too, so the serial cannot tell): give the terminal time, then Enter
    await new Promise((r) => setTimeout(r, 10_000));
    await vm.screen(join(tmpdir(), "foyer-vm-repair-asks.png"));
    await vm.chord(["ret"]);
    await vm.waitSerial(/fsck repair of '[^']+' started in the recovery terminal/, 120_000, "sulogin starting foyer-repair");
    // fsck -y reads nothing: this Enter waits for foyer-repair's "Press Enter to close this terminal."
    await vm.chord(["ret"]);
    const [, repaired] = await vm.waitSerial(/fsck repair of '[^']+' exited (\d+)/, 300_000, "fsck -y in the terminal");
    assert.is(repaired, "1", "fsck -y should correct the errors (exit 1)");
    await vm.waitSerial(/fsck repair of '[^']+' exited 1[\s\S]*fsck check of '[^']+' exited 0/, 180_000, "the check after the repair, clean");
    say(`Repair: fsck -y exited ${repaired ?? "1"}, the read-only check after it 0 (${vm.seconds.toFixed(0)} s)`);
    await new Promise((r) => setTimeout(r, 10_000));
    await vm.screen(join(tmpdir(), "foyer-vm-repaired.png"));
    const continueAt = firstButton(await vm.screen(), 585); // "Continue boot", where the shorter output left it
    assert.ok(continueAt, "no Continue button on the screen");
    await vm.click(continueAt.x, continueAt.y, continueAt.screen);
    await vm.waitSerial(/recovery action 'continue' ran code=0/, 120_000, "Continue");
    // the boot goes on: the root's check runs again and passes this time (sysroot.mount, which
    // needs it, starts). The switch to the real root then stalls 90 s in dracut and drops to
    // emergency again: an open finding (docs/launch.md), so the journey stops here.
    await vm.waitSerial(/recovery action 'continue' ran[\s\S]*plymouth status 'systemd-fsck-root\.service'[\s\S]*plymouth status 'sysroot\.mount'/, 120_000, "the root's check and mount after Continue");
    say(`Continue: the root's check passed and sysroot.mount started (${vm.seconds.toFixed(0)} s)`);
  } finally {
    await vm.stop("fsck");
  }
});

test.run();
