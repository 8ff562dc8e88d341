// The systemd side of foyer in a real boot: the greeter run as transient units by the initrd's
// systemd (profile vm-systemd, launch "auto") and controlled with foyerctl over the initrd's bus,
// Plymouth's socket held by systemd, and systemd-fsckd's progress on the greeter. (Recovery when
// systemd-fsck-root.service fails: recovery.test.ts.)
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { requireTool } from "../helpers/index.js";
import { buildAppliance, VM_PASSPHRASE, type Appliance } from "./appliance.js";
import { Vm, near, waitForPrompt } from "./qemu.js";

const say = (s: string) => process.stdout.write(`• ${s}\n`);
let appliance: Appliance;

/** The widest horizontal run of a progress bar's colours (its track #10141d, its fill the accent #6ea8fe). */
function barRun(s: { width: number; height: number; rgb: Buffer }): number {
  let best = 0;
  for (let y = 0; y < s.height; y++) {
    let run = 0;
    for (let x = 0; x < s.width; x++) {
      const i = (y * s.width + x) * 3;
      run = near(s.rgb, i, [0x10, 0x14, 0x1d], 6) || near(s.rgb, i, [0x6e, 0xa8, 0xfe], 24) ? run + 1 : 0;
      best = Math.max(best, run);
    }
  }
  return best;
}

test.before(() => {
  for (const [tool, pkg] of [
    ["qemu-system-x86_64", "qemu-system-x86"],
    ["dracut", "dracut"],
    ["debugfs", "e2fsprogs"],
  ] as const)
    requireTool(tool, pkg);
  appliance = buildAppliance(say);
});

test("launch auto: systemd runs the greeter as a transient unit; foyerctl over the initrd's bus restarts it, systemd brings it back when killed; the unlock reaches the real root", async () => {
  // foyer-test.ctl: a test-only unit in the image runs foyerctl at the prompt, then kills the greeter's unit
  // fsck.mode=force on a disk slowed down: the root's check after the unlock lasts long enough for
  // systemd-fsckd to report its progress through Plymouth's protocol (to foyer, whose
  // /run/plymouth/pid says that Plymouth runs, as systemd-fsck and systemd-fsckd require)
  const vm = new Vm(appliance, { append: "rd.foyer.profile=vm-systemd foyer-test.ctl fsck.mode=force" });
  try {
    await vm.attach();
    const [backend] = await vm.waitSerial(/launch backend \w+[^\n]*\n/, 300_000, "foyer's launch backend");
    assert.match(backend, /launch backend systemd/, `not the systemd backend: ${backend}`);
    // Plymouth's name comes from foyer-plymouth.socket (systemd binds it); the padded legacy name foyerd binds
    await vm.waitSerial(/serving plymouth's protocol on fd 3 \(socket activation\)/, 120_000, "Plymouth's socket handed over by systemd");
    await vm.waitSerial(/serving plymouth's protocol on '@\/ply-boot-protocol'/, 120_000, "the legacy name bound by foyerd");
    await vm.waitSerial(/greeter interactive ms=\d+/, 480_000, "foyer's greeter interactive");
    // foyerd owns its name on the initrd's bus (dracut's dbus module), and foyerctl reaches it there
    await vm.waitSerial(/owning org\.foyer\.Supervisor1[^\n]*system_bus_socket/, 120_000, "foyerd on the initrd's system bus");
    const [status] = await vm.waitSerial(/(FOYER-TEST status\|[^\n]*\n){4}/, 240_000, "foyerctl status in the initrd");
    assert.match(status, /Phase: running[\s\S]*Greeter: running \(0 restarts\)[\s\S]*Prompts: 1/, `foyerctl status: ${status}`);
    await vm.waitSerial(/FOYER-TEST restart-greeter exit 0/, 60_000, "foyerctl restart-greeter");
    await vm.waitSerial(/FOYER-TEST greeter back after restart-greeter/, 480_000, "the greeter back after restart-greeter");
    const [, killed] = await vm.waitSerial(/FOYER-TEST killing (foyer-greeter-\d+-\d+\.service)/, 60_000, "the greeter's unit killed");
    const [, again] = await vm.waitSerial(
      /FOYER-TEST greeter back after the kill: (foyer-greeter-\d+-\d+\.service)/,
      480_000,
      "the greeter back after the kill",
    );
    assert.is.not(again, killed, "the greeter came back in the unit that was killed");
    say(`foyerctl status, restart-greeter (exit 0), ${killed} killed → ${again} (${vm.seconds.toFixed(0)} s)`);
    await waitForPrompt(vm, 240_000);
    // the disk slowed for the check: 4 requests, 128 KiB a second
    await vm.throttleRoot(4, 128 << 10);
    await vm.type(VM_PASSPHRASE, "de");
    // systemd-fsckd's progress on the greeter: foyerd's lines, and the bar on the screen (its
    // track and fill, a run far wider than anything else of those colours on the page)
    await vm.waitSerial(/file system check: [\d.]+ % on 1 disk/, 300_000, "systemd-fsckd's progress");
    const png = join(tmpdir(), "foyer-vm-fsckd.png");
    let bar = 0;
    // the page paints seconds after the state under TCG: look for up to a minute
    for (let i = 0; i < 60 && bar < 300; i++) {
      bar = barRun(await vm.screen(png));
      if (bar < 300) await new Promise((r) => setTimeout(r, 1000));
    }
    assert.ok(bar >= 300, `no progress bar on the screen (widest run ${bar} px): ${png}`);
    const [, pct] = await vm.waitSerial(/file system check: ([1-9]\d|100)\.\d % on 1 disk/, 300_000, "systemd-fsckd's progress past 10 %");
    await vm.throttleRoot(0, 0);
    say(`systemd-fsckd's progress: a bar ${bar} px wide on the greeter; ${pct} % (${vm.seconds.toFixed(0)} s)`);
    const [root] = await vm.waitSerial(/FOYER-ROOT-OK [\d.]+/, 300_000, "the real root's marker");
    say(`${backend.trim()}; ${root} after ${vm.seconds.toFixed(0)} s`);
    // the greeter unit ends when foyer stops at switch-root, not before: the two exits are the
    // restart and the kill above
    const stopAt = vm.serial.search(/received SIGTERM|phase stopping/);
    const beforeStop = stopAt < 0 ? vm.serial : vm.serial.slice(0, stopAt);
    assert.is((beforeStop.match(/greeter exited/g) ?? []).length, 2, "the greeter unit died on the way");
    // systemd's own socket in the initrd: nothing is lost when the initrd's bus daemon stops
    assert.not.match(vm.serial, /lost systemd's bus: systemd's bus closed the connection/, "foyerd's connection to systemd went with the bus daemon");
    // foyer.service's watchdog was armed, and foyerd ran once: no watchdog kill, no restart
    assert.is((vm.serial.match(/pinging the service manager's watchdog/g) ?? []).length, 1, "foyerd's watchdog line, once");
  } finally {
    await vm.stop("systemd");
  }
});

test.run();
