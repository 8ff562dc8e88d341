// The x11 profile in a real boot (issue 28): the appliance's image built with FOYER_STACKS=x11
// (Xorg with the modesetting driver on virtio-gpu, libinput, chromium in kiosk mode; no cage, cog
// or WPE), booted under QEMU/TCG with rd.foyer.profile=vm-x11 (profiles/x11.json with a deadline
// for an emulated CPU). The prompt must be drawn on Xorg — not Xvfb — on the virtual screen, the
// passphrase typed on the virtual keyboard must unlock the root, and the real root's init must
// report on the serial console after switch-root with nothing of foyer's left running.
// FOYER_UPDATE_DOCS=1 refreshes docs/vm-x11-prompt.png.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { copyFileSync, existsSync, statSync } from "node:fs";
import { requireTool } from "../helpers/index.js";
import { buildAppliance, buildX11Initrd, top, type Appliance } from "./appliance.js";
import { waitForPrompt } from "./qemu.js";
import { inVm, unlockToRoot } from "./journey.js";

const say = (s: string) => process.stdout.write(`• ${s}\n`);
let appliance: Appliance;
let initrd: string;

test.before(() => {
  const tools: [string, string][] = [
    ["qemu-system-x86_64", "qemu-system-x86"],
    ["dracut", "dracut"],
    ["cryptsetup", "cryptsetup-bin"],
    ["mkfs.ext4", "e2fsprogs"],
    ["busybox", "busybox"],
    ["zstd", "zstd"],
    ["Xorg", "xserver-xorg-core"],
    ["xkbcomp", "x11-xkb-utils"],
    ["/usr/lib/chromium/chromium", "chromium"],
  ];
  for (const [tool, pkg] of tools) requireTool(tool, pkg);
  for (const [file, pkg] of [
    ["/usr/lib/xorg/modules/drivers/modesetting_drv.so", "xserver-xorg-core"],
    ["/usr/lib/xorg/modules/input/libinput_drv.so", "xserver-xorg-input-libinput"],
  ] as const) {
    if (!existsSync(file)) throw new Error(`'${file}' is missing: install the Debian package '${pkg}' (packaging/dev/setup.sh does)`);
  }
  appliance = buildAppliance(say);
  const t0 = performance.now();
  initrd = buildX11Initrd(say);
  say(
    `x11 image ${(statSync(initrd).size / 1048576).toFixed(1)} MiB, the wayland one ${(statSync(appliance.initrd).size / 1048576).toFixed(1)} MiB (ready in ${((performance.now() - t0) / 1000).toFixed(0)} s)`,
  );
});

test("x11: Xorg + chromium on virtio-gpu → the prompt on screen → the passphrase reaches the real root", async () => {
  await inVm(appliance, { initrd, append: "rd.foyer.profile=vm-x11" }, "x11", async (vm) => {
    // a greeter that cannot start trips the breaker within seconds: fail then, not at the deadline
    const [started, ms] = await vm.waitSerial(/greeter interactive ms=(\d+)|crash-loop breaker tripped/, 600_000, "foyer's greeter interactive");
    assert.ok(ms, `${started}: the greeter never came up; the console's last lines:\n${vm.tail(60)}`);
    // the real X server, with the modesetting driver on virtio-gpu's card: not Xvfb
    const [xready] = await vm.waitSerial(/X server ready display=:\d+ server=\w+/, 10_000, "foyer's X server line");
    assert.match(xready, /server=Xorg$/, `not Xorg: ${xready}`);
    const card = /display device card=(card\d+) driver=(\S+)/.exec(vm.serial);
    assert.ok(card, `foyerd did not say which display device it launched on: ${vm.tail(30)}`);
    assert.is(card[2], "virtio-pci");
    const png = join(tmpdir(), "foyer-vm-x11-prompt.png");
    const shown = await waitForPrompt(vm, 240_000, png);
    say(`greeter interactive ${(Number(ms) / 1000).toFixed(1)} s after foyerd started; prompt drawn ${shown.toFixed(0)} s after qemu started (TCG): ${png}`);
    if (process.env.FOYER_UPDATE_DOCS) copyFileSync(png, join(top, "docs/vm-x11-prompt.png"));
    assert.match(vm.serial, /keyboard layout layout=de /, "the image's vconsole.conf (KEYMAP=de-latin1) did not become the X layout");
    assert.match(vm.serial, /chromium kiosk policy written/);
    const mem = /memory at the prompt supervisorMb=([\d.]+) greeterMb=([\d.]+) systemUsedMb=([\d.]+)/.exec(vm.serial);
    if (mem) say(`memory at the prompt: foyerd ${mem[1]} MB, greeter stack ${mem[2]} MB, whole VM ${mem[3]} MB used`);
    const line = await unlockToRoot(vm);
    const [ps] = /FOYER-PS [^\n]*\n/.exec(vm.serial)!;
    assert.not.match(ps, /\b(Xorg|chromium|chrome_crashpad)/, `the x11 stack survived switch-root: ${ps}`);
    say(line);
  });
});

test.run();
