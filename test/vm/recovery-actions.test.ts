// Recovery's Reboot and Power off in a real boot: a root file system fsck cannot preen brings
// foyer's recovery screen up by itself (systemd-fsck-root.service fails, emergency mode follows),
// and each button is clicked on the screen. QEMU runs with -no-reboot, so both end QEMU: the
// kernel's last words on the serial console tell which one happened. (dracut's rd.break is no
// way in: its shell runs inside the hook's service, not emergency.target, and quits Plymouth,
// which foyer obeys as plymouthd would.)
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { requireTool } from "../helpers/index.js";
import { buildAppliance, buildBrokenRoot, VM_PASSPHRASE, type Appliance } from "./appliance.js";
import { Vm, buttonRow, themeDrawn, waitForPrompt } from "./qemu.js";

const say = (s: string) => process.stdout.write(`• ${s}\n`);
let appliance: Appliance;
let broken: { rootImage: string; luksUuid: string };

test.before(() => {
  for (const [tool, pkg] of [["qemu-system-x86_64", "qemu-system-x86"], ["dracut", "dracut"], ["debugfs", "e2fsprogs"]] as const) requireTool(tool, pkg);
  appliance = buildAppliance(say);
  broken = buildBrokenRoot(say);
});

// the first row of actions: Repair, Continue, Reboot, Power off
const ACTIONS = [
  { label: "Reboot", action: "reboot", fromEnd: 2, kernel: /reboot: Restarting system/ },
  { label: "Power off", action: "poweroff", fromEnd: 1, kernel: /reboot: Power down/ },
] as const;

for (const a of ACTIONS) {
  test(`recovery's ${a.label} after a failed root check: the machine ${a.action === "reboot" ? "restarts" : "powers off"}`, async () => {
    const vm = new Vm({ ...appliance, ...broken }, { append: "rd.foyer.profile=vm-recovery", qemuArgs: ["-device", "qemu-xhci,id=xhci", "-device", "usb-tablet,bus=xhci.0"] });
    try {
      await vm.attach();
      await vm.waitSerial(/greeter interactive ms=\d+/, 480_000, "foyer's greeter interactive");
      await waitForPrompt(vm, 240_000);
      await vm.type(VM_PASSPHRASE, "de");
      const [reason] = await vm.waitSerial(/recovery: [^\n]*systemd-fsck-root[^\n]*\n/, 300_000, "foyer's recovery flow");
      // the read-only check's output is in place: the buttons have stopped moving
      await vm.waitSerial(/fsck check of '[^']+' exited \d+/, 300_000, "the read-only check");
      say(`${reason.trim()} (${vm.seconds.toFixed(0)} s)`);
      // the screen has changed from the prompt to recovery once its buttons are drawn, and they are
      // where they stay once two looks 2 s apart find them in the same place (the boot log above
      // them fills in after the check's output, and moves them down)
      let row: ReturnType<typeof buttonRow> = [];
      let last = "";
      const png = join(tmpdir(), `foyer-vm-recovery-${a.action}.png`);
      for (let i = 0; i < 60; i++) {
        await new Promise((r) => setTimeout(r, 2000));
        row = buttonRow(await vm.screen(png), 3);
        const at = row.map((b) => `${b.x},${b.y}`).join(" ");
        if (row.length >= 3 && at === last) break;
        last = at;
      }
      assert.ok(row.length >= 3, `no row of recovery actions on the screen: ${png}`);
      assert.ok(themeDrawn(row[0]!.screen).dark > 0.5, `the recovery screen is not foyer's theme: ${png}`);
      const b = row[row.length - a.fromEnd]!;
      const exited = new Promise<number | null>((r) => vm.proc.once("exit", (code) => r(code)));
      await vm.click(b.x, b.y, b.screen);
      await vm.waitSerial(new RegExp(`recovery action '${a.action}' ran code=0`), 120_000, `${a.label} run by foyer`);
      const code = await Promise.race([exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 180_000))]);
      assert.is.not(code, "timeout", `the machine did not ${a.action} within 180 s; the console's last lines:\n${vm.tail()}`);
      assert.match(vm.serial, a.kernel, `the kernel did not say it: ${vm.tail()}`);
      // the guest's own clock from foyer running the action to the kernel's last word: the shutdown as a person waits for it
      const shutdown = vm.stamp(a.kernel) - vm.stamp(new RegExp(`recovery action '${a.action}' ran`));
      say(`${a.label} at (${b.x}, ${b.y}): '${(a.kernel.exec(vm.serial) ?? [""])[0]}' ${shutdown.toFixed(1)} s after foyer ran it (guest clock), QEMU exit ${code}`);
    } finally {
      await vm.stop(`recovery-${a.action}`);
    }
  });
}

test.run();
