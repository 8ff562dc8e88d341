// Recovery in a real boot: a root file system fsck cannot preen makes systemd-fsck-root.service
// fail, emergency mode follows, and foyer's recovery screen comes up by itself with the device the
// unit failed on, checked read-only. Then each way out, clicked on the screen: Repair (sulogin and
// fsck -y in foyer's terminal) and Continue, which checks and mounts the root; Reboot; Power off.
// The three share one boot: at the recovery screen the machine's state is saved (QEMU's migration
// to a file), Repair and Continue go on in the machine that booted, and Reboot and Power off each
// in a machine started from the saved state — the same screen, the same processes, the root disk
// untouched until then (fsck -n writes nothing). QEMU runs with -no-reboot, so Reboot and Power off
// both end QEMU: the kernel's last words on the serial console tell which one happened. (dracut's
// rd.break is no way in: its shell runs inside the hook's service, not emergency.target, and quits
// Plymouth, which foyer obeys as plymouthd would.)
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { requireTool } from "../helpers/index.js";
import { buildAppliance, buildBrokenRoot, VM_PASSPHRASE, type Appliance } from "./appliance.js";
import { Vm, buttonRow, firstButton, themeDrawn, waitForPrompt } from "./qemu.js";

const say = (s: string) => process.stdout.write(`• ${s}\n`);
let machine: Appliance;
const work = mkdtempSync(join(tmpdir(), "foyer-vm-recovery-"));
const state = join(work, "recovery.state");
// a USB tablet from the start: the recovery screen's buttons are clicked
const OPTS = { append: "rd.foyer.profile=vm-recovery", qemuArgs: ["-device", "qemu-xhci,id=xhci", "-device", "usb-tablet,bus=xhci.0"] };
let booted: Vm | undefined;

test.before(() => {
  for (const [tool, pkg] of [
    ["qemu-system-x86_64", "qemu-system-x86"],
    ["dracut", "dracut"],
    ["debugfs", "e2fsprogs"],
  ] as const)
    requireTool(tool, pkg);
  machine = { ...buildAppliance(say), ...buildBrokenRoot(say) };
});
test.after(async () => {
  await booted?.stop("recovery");
  rmSync(work, { recursive: true, force: true });
});

/** The first row of actions (Repair, Continue, Reboot, Power off), once two looks 2 s apart find it in the same place. */
async function steadyRow(vm: Vm, png: string): Promise<ReturnType<typeof buttonRow>> {
  // the boot log above the buttons fills in after the check's output, and moves them down
  let row: ReturnType<typeof buttonRow> = [];
  let last = "";
  for (let i = 0; i < 60; i++) {
    await new Promise((r) => setTimeout(r, 2000));
    row = buttonRow(await vm.screen(png), 3);
    const at = row.map((b) => `${b.x},${b.y}`).join(" ");
    if (row.length >= 3 && at === last) break;
    last = at;
  }
  assert.ok(row.length >= 3, `no row of recovery actions on the screen: ${png}`);
  assert.ok(themeDrawn(row[0]!.screen).dark > 0.5, `the recovery screen is not foyer's theme: ${png}`);
  return row;
}

test("fsck cannot preen the root: foyer enters recovery by itself and checks the failed unit's device read-only", async () => {
  const vm = (booted = new Vm(machine, OPTS));
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
  await steadyRow(vm, png);
  const t = performance.now();
  await vm.save(state);
  say(`the machine's state saved at the recovery screen, ${vm.seconds.toFixed(0)} s after qemu started, in ${((performance.now() - t) / 1000).toFixed(1)} s`);
});

test("Repair: sulogin and fsck -y in foyer's terminal, the check after it clean; Continue checks and mounts the root", async () => {
  const vm = booted ?? (assert.unreachable("the boot to the recovery screen failed") as never);
  await vm.resume();
  const repairAt = firstButton(await vm.screen(), 170); // "Repair file system (asks for the root password)"
  assert.ok(repairAt, "no Repair button on the screen");
  await vm.click(repairAt.x, repairAt.y, repairAt.screen);
  // sulogin --force says "Press Enter for maintenance" in the terminal (the dracut shell on the
  // serial console says it too, so the serial cannot tell): once the terminal is open, give
  // sulogin time to say it, then Enter
  await vm.waitSerial(/recovery terminal opened argv0=sulogin/, 120_000, "the recovery terminal opened");
  await new Promise((r) => setTimeout(r, 8_000));
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
  // the boot goes on at once (the console's emergency shell ended, not waited for): the root's
  // check runs again and passes, the root is mounted, and switch-root reaches the real root
  await vm.waitSerial(
    /recovery action 'continue' ran[\s\S]*plymouth status 'systemd-fsck-root\.service'[\s\S]*plymouth status 'sysroot\.mount'/,
    120_000,
    "the root's check and mount after Continue",
  );
  const continuedAt = vm.seconds;
  const [root] = await vm.waitSerial(/FOYER-ROOT-OK [\d.]+/, 240_000, "the real root's marker after Continue");
  assert.not.match(vm.serial, /emergency\.service: State 'stop-sigterm' timed out/, "the boot waited for the console's emergency shell");
  say(`Continue: the root's check passed, sysroot.mount, then ${root} ${(vm.seconds - continuedAt).toFixed(0)} s after the mount`);
  await vm.stop("recovery");
  booted = undefined;
});

// the first row's last two: Reboot, Power off
const ACTIONS = [
  { label: "Reboot", action: "reboot", fromEnd: 2, kernel: /reboot: Restarting system/ },
  { label: "Power off", action: "poweroff", fromEnd: 1, kernel: /reboot: Power down/ },
] as const;

for (const a of ACTIONS) {
  test(`recovery's ${a.label}: the machine ${a.action === "reboot" ? "restarts" : "powers off"}`, async () => {
    assert.ok(existsSync(state), "no saved state: the boot to the recovery screen failed");
    const vm = new Vm(machine, { ...OPTS, incoming: state });
    try {
      await vm.attach();
      await vm.resume();
      const row = await steadyRow(vm, join(tmpdir(), `foyer-vm-recovery-${a.action}.png`));
      const b = row[row.length - a.fromEnd]!;
      const exited = new Promise<number | null>((r) => vm.proc.once("exit", (code) => r(code)));
      await vm.click(b.x, b.y, b.screen);
      await vm.waitSerial(new RegExp(`recovery action '${a.action}' ran code=0`), 120_000, `${a.label} run by foyer`);
      // unref'd: a pending deadline must not keep the suite's process alive after its last test
      const code = await Promise.race([exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 180_000).unref())]);
      assert.is.not(code, "timeout", `the machine did not ${a.action} within 180 s; the console's last lines:\n${vm.tail()}`);
      assert.match(vm.serial, a.kernel, `the kernel did not say it: ${vm.tail()}`);
      // the guest's own clock from foyer running the action to the kernel's last word: the shutdown as a person waits for it
      const shutdown = vm.stamp(a.kernel) - vm.stamp(new RegExp(`recovery action '${a.action}' ran`));
      say(
        `${a.label} at (${b.x}, ${b.y}): '${(a.kernel.exec(vm.serial) ?? [""])[0]}' ${shutdown.toFixed(1)} s after foyer ran it (guest clock), QEMU exit ${code}`,
      );
    } finally {
      await vm.stop(`recovery-${a.action}`);
    }
  });
}

test.run();
