// The unlock journey in images made by Arch's mkinitcpio (v41) with foyer's hooks
// (packaging/mkinitcpio): `sd-foyer` in a systemd image, where sd-encrypt's systemd-cryptsetup asks
// through the password agent protocol, and `foyer` in a busybox image, where the `encrypt` hook
// asks through `plymouth ask-for-password` and foyerd answers on Plymouth's socket. In each: the
// greeter on the virtual screen, a wrong passphrase asked again, the right one to the real root.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { statSync } from "node:fs";
import { requireTool } from "../helpers/index.js";
import { buildAppliance, sh, type Appliance } from "./appliance.js";
import { buildMkinitcpio, MKINITCPIO_SRC } from "./mkinitcpio.js";
import { countColour, waitForPrompt, type Vm } from "./qemu.js";
import { askedAgain, inVm, timesAsked, unlockToRoot } from "./journey.js";

const say = (s: string) => process.stdout.write(`• ${s}\n`);
let appliance: Appliance;
const images: Record<"systemd" | "busybox", string> = { systemd: "", busybox: "" };

test.before(() => {
  const tools: [string, string][] = [
    ["qemu-system-x86_64", "qemu-system-x86"],
    ["bsdtar", "libarchive-tools"],
    ["busybox", "busybox"],
    ["zstd", "zstd"],
    ["plymouth", "plymouth"],
    ["cryptsetup", "cryptsetup-bin"],
  ];
  for (const [tool, pkg] of tools) requireTool(tool, pkg);
  requireTool(join(MKINITCPIO_SRC, "mkinitcpio"), "../shared/tools/mkinitcpio (mkinitcpio v41's source, see its FOYER-README.md)");
  appliance = buildAppliance(say);
  for (const flavour of ["systemd", "busybox"] as const) {
    const t0 = performance.now();
    const { initrd, buildLog } = buildMkinitcpio(appliance, flavour, say);
    // the build names nothing it could not find: foyer's hooks and, with Debian's paths mapped
    // (test/vm/mkinitcpio.ts), mkinitcpio's own
    assert.not.match(
      buildLog,
      /ERROR/,
      `mkinitcpio (${flavour}) reported errors:\n${buildLog
        .split("\n")
        .filter((l) => /ERROR/.test(l))
        .join("\n")}`,
    );
    assert.match(buildLog, flavour === "systemd" ? /Running build hook: \[sd-foyer\]/ : /Running build hook: \[foyer\]/);
    // what the greeter runs with is in the image (a list foyer-image.sh renamed once left it out)
    const listed = new Set(sh("sh", ["-c", `/usr/lib/dracut/skipcpio '${initrd}' | zstd -dc | cpio -t --quiet`]).split("\n"));
    for (const f of ["usr/bin/node", "usr/bin/cage", "usr/bin/cog", "usr/bin/seatd", "usr/lib/foyer/foyerd.mjs", "usr/lib/foyer/libexec/noinit.sh"]) {
      assert.ok(listed.has(f), `${f} is not in the mkinitcpio ${flavour} image`);
    }
    images[flavour] = initrd;
    say(`mkinitcpio ${flavour} image ${(statSync(initrd).size / 1048576).toFixed(1)} MiB (ready in ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
});

/** The greeter's prompt, a wrong passphrase, its second request, then the right one to the real root. */
async function wrongThenRight(vm: Vm, pending: RegExp, name: string): Promise<void> {
  const [, ms] = await vm.waitSerial(/greeter interactive ms=(\d+)/, 480_000, "foyer's greeter interactive");
  await vm.waitSerial(pending, 240_000, "the passphrase request reaching foyer");
  const shown = await waitForPrompt(vm, 240_000, join(tmpdir(), `foyer-vm-${name}-prompt.png`));
  say(`greeter interactive ${(Number(ms) / 1000).toFixed(1)} s after foyerd started; prompt drawn ${shown.toFixed(0)} s after qemu started (TCG)`);
  assert.match(vm.serial, /keyboard layout layout=de /, "the image's vconsole.conf (KEYMAP=de-latin1) did not become the X layout");
  assert.not.match(vm.serial, /no sock_diag for TCP/, "the image lacks inet_diag/tcp_diag");
  const before = timesAsked(vm, pending);
  await vm.type("not-the-passphrase", "de");
  await vm.waitSerial(/password request answered/, 120_000, "foyer's answer");
  await askedAgain(vm, pending, before, "no second request after a wrong passphrase");
  assert.not.match(vm.serial, /FOYER-ROOT-OK/, "a wrong passphrase must not unlock");
  // the re-prompt drawn with "That passphrase did not work" in the theme's danger colour: keys
  // typed while the old form is still on screen would go to it and be lost with it
  await waitForPrompt(vm, 120_000, join(tmpdir(), `foyer-vm-${name}-again.png`), (s) => countColour(s, [0xff, 0x8c, 0x8c], 30) > 40);
  say(await unlockToRoot(vm));
}

test("mkinitcpio sd-encrypt + sd-foyer: systemd-cryptsetup asks through foyer; wrong, then right, then the real root", async () => {
  await inVm(appliance, { initrd: images.systemd, append: "rd.foyer.profile=vm" }, "mkinitcpio-systemd", async (vm) => {
    await wrongThenRight(vm, /password request pending/, "mkinitcpio-systemd");
    // foyer.service ran under the image's systemd, which restarted nothing, with the bus the hook added
    assert.match(vm.serial, /pinging the service manager's watchdog/);
    assert.match(vm.serial, /owning org\.foyer\.Supervisor1/, "foyerd found no system bus in the image");
  });
});

test("mkinitcpio encrypt + foyer (busybox): the encrypt hook asks through Plymouth's socket; wrong, then right, then the real root", async () => {
  const append = `rd.foyer.profile=vm cryptdevice=UUID=${appliance.luksUuid}:luks-${appliance.luksUuid}`;
  await inVm(appliance, { initrd: images.busybox, append }, "mkinitcpio-busybox", async (vm) => {
    await wrongThenRight(vm, /plymouth password request pending/, "mkinitcpio-busybox");
    assert.match(vm.serial, /running hook \[foyer\]/, "mkinitcpio's init did not run foyer's hook");
    assert.not.match(vm.serial, /not answering on Plymouth's socket/, "encrypt fell back to the console");
    assert.not.match(vm.serial, /A password is required to access the .* volume:/, "encrypt asked on the console, not through Plymouth");
  });
});

test.run();
