// The systemd side of foyer in a real boot: the greeter run as transient units by the initrd's
// systemd (profile vm-systemd, launch "auto"), and the recovery flow entered by itself when
// systemd-fsck-root.service fails on a root file system fsck cannot preen.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { requireTool } from "../helpers/index.js";
import { buildAppliance, buildBrokenRoot, VM_PASSPHRASE, type Appliance } from "./appliance.js";
import { Vm, waitForPrompt } from "./qemu.js";

const say = (s: string) => process.stdout.write(`• ${s}\n`);
let appliance: Appliance;

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

test("fsck cannot preen the root: foyer enters recovery by itself, naming systemd-fsck-root.service", async () => {
  const broken = buildBrokenRoot(say);
  const vm = new Vm({ ...appliance, ...broken }, { append: "rd.foyer.profile=vm" });
  try {
    await vm.attach();
    await vm.waitSerial(/greeter interactive ms=\d+/, 480_000, "foyer's greeter interactive");
    await waitForPrompt(vm, 240_000);
    await vm.type(VM_PASSPHRASE, "de");
    const [reason] = await vm.waitSerial(/recovery: [^\n]*systemd-fsck-root[^\n]*\n/, 300_000, "foyer's recovery flow");
    say(`${reason.trim()} (${vm.seconds.toFixed(0)} s)`);
    assert.not.match(vm.serial, /FOYER-ROOT-OK/, "the boot went on with a broken root");
    // the recovery screen replaces the prompt: give the emulated browser time to draw it
    await new Promise((r) => setTimeout(r, 20_000));
    await vm.screen(join(tmpdir(), "foyer-vm-recovery.png"));
  } finally {
    await vm.stop("fsck");
  }
});

test.run();
