// The unlock journey in an image made by initramfs-tools (packaging/initramfs-tools), the other
// generator Debian and Ubuntu use: no systemd in the initramfs. Debian's own cryptsetup-initramfs
// asks through its askpass, which finds "Plymouth" answering — foyerd on Plymouth's socket — and
// asks there: the greeter must be on the virtual screen, a wrong passphrase must be asked again
// by cryptsetup, and the right one must reach the real root, with nothing of foyer left running.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { statSync } from "node:fs";
import { requireTool } from "../helpers/index.js";
import { buildAppliance, buildInitramfsTools, type Appliance } from "./appliance.js";
import { waitForPrompt } from "./qemu.js";
import { inVm, unlockToRoot } from "./journey.js";

const say = (s: string) => process.stdout.write(`• ${s}\n`);
let appliance: Appliance;
let initrd: string;

test.before(() => {
  for (const [t, p] of [["mkinitramfs", "initramfs-tools-core"], ["plymouth", "plymouth"], ["qemu-system-x86_64", "qemu-system-x86"]] as const) requireTool(t, p);
  requireTool("/usr/lib/cryptsetup/askpass", "cryptsetup-initramfs");
  appliance = buildAppliance(say);
  const t0 = performance.now();
  initrd = buildInitramfsTools(appliance, say);
  say(`initramfs-tools image ${(statSync(initrd).size / 1048576).toFixed(1)} MiB (ready in ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
});

test("initramfs-tools: cryptsetup's askpass asks through foyer's Plymouth socket; wrong, then right, then the real root", async () => {
  await inVm(appliance, { initrd, append: "rd.foyer.profile=vm" }, "itools", async (vm) => {
    await vm.waitSerial(/plymouth password request pending/, 480_000, "askpass's request reaching foyer through Plymouth's protocol");
    const [, ms] = await vm.waitSerial(/greeter interactive ms=(\d+)/, 480_000, "foyer's greeter interactive");
    const shown = await waitForPrompt(vm, 240_000, join(tmpdir(), "foyer-vm-itools-prompt.png"));
    say(`greeter interactive ${(Number(ms) / 1000).toFixed(1)} s after foyerd started; prompt drawn ${shown.toFixed(0)} s after qemu started (TCG)`);
    // the hook loads inet_diag/tcp_diag (conf/modules): the greeter's server asks the kernel for one socket's owner
    assert.not.match(vm.serial, /no sock_diag for TCP/, "the image lacks inet_diag/tcp_diag");
    const mem = /memory at the prompt supervisorMb=([\d.]+) greeterMb=([\d.]+) systemUsedMb=([\d.]+)/.exec(vm.serial);
    if (mem) say(`memory at the prompt: foyerd ${mem[1]} MB, greeter stack ${mem[2]} MB, whole VM ${mem[3]} MB used`);
    assert.not.match(vm.serial, /not answering on Plymouth's socket/, "askpass fell back to the console");
    // no systemd here to bring loopback up: foyerd does, or the browser could not reach it
    assert.match(vm.serial, /the loopback interface was down: brought it up/);

    const asks = () => (vm.serial.match(/plymouth password request pending/g) ?? []).length;
    const before = asks();
    await vm.type("not-the-passphrase", "de");
    await vm.waitSerial(/plymouth password request answered/, 120_000, "foyer's answer to askpass");
    // cryptroot tries it, fails, and runs askpass again: a second request reaches foyer
    const t = performance.now();
    while (asks() <= before) {
      if (performance.now() - t > 180_000) assert.unreachable(`no second request after a wrong passphrase; console:\n${vm.tail()}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    assert.not.match(vm.serial, /FOYER-ROOT-OK/, "a wrong passphrase must not unlock");
    // cryptroot says why through `plymouth message`: the greeter shows it under the prompt
    assert.match(vm.serial, /plymouth message 'cryptsetup: ERROR: luks-[0-9a-f-]+: cryptsetup failed, bad password or options\?'/);
    await waitForPrompt(vm, 120_000, join(tmpdir(), "foyer-vm-itools-again.png"));
    say(await unlockToRoot(vm));
  });
});

test.run();
