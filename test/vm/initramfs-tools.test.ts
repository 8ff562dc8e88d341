// The unlock journey in an image made by initramfs-tools (packaging/initramfs-tools), the other
// generator Debian and Ubuntu use: no systemd in the initramfs. Debian's own cryptsetup-initramfs
// asks through its askpass, which finds "Plymouth" answering — foyerd on Plymouth's socket — and
// asks there: the greeter must be on the virtual screen, a wrong passphrase must be asked again
// by cryptsetup, and the right one must reach the real root, with nothing of foyer left running.
// Nobody is stranded there either: a greeter that cannot start leaves the passphrase to foyer's
// text prompt on the screen's console, and a foyerd killed at the prompt is started again.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { statSync } from "node:fs";
import { requireTool } from "../helpers/index.js";
import { VM_PASSPHRASE, buildAppliance, buildInitramfsTools, type Appliance } from "./appliance.js";
import { countColour, frameBullets, themeDrawn, waitForPrompt } from "./qemu.js";
import { afterUnlock, askedAgain, inVm, timesAsked, unlockToRoot } from "./journey.js";

const say = (s: string) => process.stdout.write(`• ${s}\n`);
let appliance: Appliance;
let initrd: string;

test.before(() => {
  for (const [t, p] of [
    ["mkinitramfs", "initramfs-tools-core"],
    ["plymouth", "plymouth"],
    ["qemu-system-x86_64", "qemu-system-x86"],
  ] as const)
    requireTool(t, p);
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

    const before = timesAsked(vm, /plymouth password request pending/);
    await vm.type("not-the-passphrase", "de");
    await vm.waitSerial(/plymouth password request answered/, 120_000, "foyer's answer to askpass");
    // cryptroot tries it, fails, and runs askpass again: a second request reaches foyer
    await askedAgain(vm, /plymouth password request pending/, before, "no second request after a wrong passphrase");
    assert.not.match(vm.serial, /FOYER-ROOT-OK/, "a wrong passphrase must not unlock");
    // cryptroot says why through `plymouth message`: the greeter shows it under the prompt
    assert.match(vm.serial, /plymouth message 'cryptsetup: ERROR: luks-[0-9a-f-]+: cryptsetup failed, bad password or options\?'/);
    await waitForPrompt(vm, 120_000, join(tmpdir(), "foyer-vm-itools-again.png"));
    say(await unlockToRoot(vm));
  });
});

test("initramfs-tools: a greeter that cannot start trips the breaker; foyer's own frame asks for the passphrase", async () => {
  await inVm(appliance, { initrd, append: "rd.foyer.profile=vm-nobrowser" }, "itools-fallback", async (vm) => {
    await vm.waitSerial(/crash-loop breaker tripped/, 480_000, "the breaker tripping (the image has no chromium)");
    await vm.waitSerial(/plymouth password request pending/, 240_000, "askpass's request reaching foyer");
    await vm.waitSerial(/fallback asking in foyer's frame/, 60_000, "foyer's frame");
    // the machine's keymap is German, but this initramfs does not load it (KEYMAP=n): the frame
    // names what the console's keys are read with, the kernel's US map (KDGKBENT)
    assert.match(vm.serial, /reads keys with the kernel's default US keymap, not the machine's: the frame names 'us' layout=de/);
    // what a person sees: the theme and the prompt's field, drawn without compositor or browser,
    // and no text console over it
    const png = join(tmpdir(), "foyer-vm-itools-fallback.png");
    const look = async () => {
      const shot = await vm.screen(png);
      return { shot, bullets: frameBullets(shot) };
    };
    let seen = await look();
    for (let i = 0; i < 20 && seen.bullets === undefined; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      seen = await look();
    }
    assert.is(seen.bullets, 0, `no empty field in foyer's frame: ${png}`);
    // the console's text is exactly #aaaaaa; the frame's greys (the layout's name, the text's edges) are bluish
    const theme = themeDrawn(seen.shot);
    const text = countColour(seen.shot, [0xaa, 0xaa, 0xaa], 2);
    assert.ok(theme.dark > 0.5 && text < 50, `the theme ${(theme.dark * 100).toFixed(0)} %, console text ${text} px: ${png}`);
    say(`breaker tripped; foyer's frame at ${vm.seconds.toFixed(0)} s after qemu started (${png})`);
    // the kernel's keymap is US here (initramfs-tools with KEYMAP=n): US key positions
    await vm.type(VM_PASSPHRASE.slice(0, 4), "us", false);
    for (let i = 0; i < 30 && seen.bullets !== 4; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      seen = await look();
    }
    assert.is(seen.bullets, 4, `four keys typed, four bullets: ${png}`);
    await vm.type(VM_PASSPHRASE.slice(4), "us");
    say(await afterUnlock(vm));
  });
});

test("initramfs-tools: foyerd killed at the prompt is started again, and its greeter answers askpass", async () => {
  await inVm(appliance, { initrd, append: "rd.foyer.profile=vm foyer-test.kill-foyerd" }, "itools-restart", async (vm) => {
    const [, pid] = await vm.waitSerial(/FOYER-TEST killing foyerd (\d+)/, 480_000, "the test's kill once the greeter is interactive");
    const t0 = vm.seconds;
    await vm.waitSerial(/foyer keeper: foyerd ended \(SIGKILL\): starting it again/, 60_000, "the keeper starting foyerd again");
    const interactive = () => (vm.serial.match(/greeter interactive ms=/g) ?? []).length;
    const t = performance.now();
    while (interactive() < 2) {
      if (performance.now() - t > 480_000) assert.unreachable(`no second greeter; console:\n${vm.tail()}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const after = vm.serial.slice(vm.serial.indexOf(`FOYER-TEST killing foyerd ${pid}`));
    // askpass's client lost its foyerd and cryptroot asked again; the keeper held Plymouth's
    // socket meanwhile, so askpass's ping waited for the new foyerd: it has the request
    await vm.waitSerial(/FOYER-TEST killing foyerd \d+[\s\S]*plymouth password request pending/, 240_000, "askpass asking the new foyerd");
    assert.not.match(after, /not answering on Plymouth's socket/);
    assert.match(after, /serving plymouth's protocol on fd 3 \(socket activation\)/);
    await waitForPrompt(vm, 240_000, join(tmpdir(), "foyer-vm-itools-restart.png"));
    say(`foyerd ${pid} killed; the new one's greeter showed the prompt ${(vm.seconds - t0).toFixed(0)} s later (TCG)`);
    say(await unlockToRoot(vm));
  });
});

test.run();
