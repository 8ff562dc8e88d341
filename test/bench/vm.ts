// Benchmark figures from the VM appliance (when it is built: `npm run vm`): initramfs sizes with
// and without foyer, and QEMU start → the prompt, booted alternately with foyer (the greeter drawn
// on the virtual screen) and without it (systemd's text prompt on the serial console). TCG: the
// absolute times are an emulated CPU's; the ratio is the figure that carries over. The split image
// (packaging/erofs: a small cpio part, foyer's payload as an erofs disk) is booted beside them.
// And one boot with a PID 1 of the bench's own (test/bench/vm-stack-guest.mjs) times goal (a) on
// the emulated CPU: foyerd's start → greeter interactive against the bare cage + cog. Each boot
// with a frame also gives its first frame (foyer's or Plymouth's spinner) and the used memory at
// its prompt, from the kernel's SysRq report, the same way for both.
import { existsSync, statSync, mkdtempSync, mkdirSync, writeFileSync, copyFileSync, rmSync } from "node:fs";
import { join, dirname } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { buildAppliance, buildPlymouthInitrd, buildSplit, cacheDir, PLYMOUTH_THEME, withExtraCpio } from "../vm/appliance.js";
import { Vm, frameBullets, themeDrawn, type Screen } from "../vm/qemu.js";
import { requireTool } from "../helpers/index.js";
import { memReportUsedMb } from "./mem-report.js";

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

type Boot = "foyer" | "split" | "text" | "plymouth";

/** How often both prompts are looked for on the screen: the same for foyer's and Plymouth's. */
const POLL_MS = 300;

/** Plymouth's password entry: lit pixels in a band across the middle of the upper half. */
function dialogDrawn(s: Screen): boolean {
  return lit(s, 0.3, 0.5, 0.3, 0.7) > 2000;
}

/**
 * Plymouth's first frame: the spinner theme's black background with the spinner lit below the
 * middle, and nothing of the console's text above it (the console draws from the top left).
 */
function spinnerDrawn(s: Screen): boolean {
  return lit(s, 0, 0.6, 0, 1) < 50 && lit(s, 0.6, 0.8, 0.4, 0.6) > 30;
}

/** foyer's first frame, its own or the greeter's: the theme's background over half the screen. */
const foyerDrawn = (s: Screen) => themeDrawn(s).dark > 0.5;

/** Pixels brighter than the console's dark grey in a box given as fractions of the screen. */
function lit(s: Screen, top: number, bottom: number, left: number, right: number): number {
  let n = 0;
  for (let y = Math.floor(s.height * top); y < Math.floor(s.height * bottom); y++) {
    for (let x = Math.floor(s.width * left); x < Math.floor(s.width * right); x++) {
      const i = (y * s.width + x) * 3;
      if (s.rgb[i]! + s.rgb[i + 1]! + s.rgb[i + 2]! > 90) n++;
    }
  }
  return n;
}

/** Used memory at this moment, from the kernel's SysRq report (mem-report.ts); it needs a console log level above 4. */
async function usedMemMb(vm: Vm): Promise<number> {
  const from = vm.serial.length;
  await vm.chord(["alt", "sysrq", "8"]);
  await vm.chord(["alt", "sysrq", "m"]);
  await vm.waitSerial(/\d+ pages reserved/, 60_000, "the kernel's memory report (SysRq m)");
  await vm.chord(["alt", "sysrq", "4"]);
  return memReportUsedMb(vm.serial.slice(from));
}

interface BootFigures {
  /** QEMU start → the first frame foyer (or Plymouth) drew, s */
  firstFrameS: number;
  /** QEMU start → a prompt that takes the passphrase, s: foyer's frame's or its greeter's, whichever came first */
  promptS: number;
  /** foyer: QEMU start → the prompt in foyer's own frame (the splash), before the greeter is up */
  nativePromptS?: number;
  /** foyer: QEMU start → the greeter's prompt */
  greeterPromptS?: number;
  /** used memory at the (greeter's) prompt, MB */
  usedMb?: number;
}

async function bootToPrompt(how: Boot): Promise<BootFigures> {
  const a = buildAppliance();
  const withFoyer = how !== "text";
  const split = how === "split" ? buildSplit(a) : undefined;
  // SysRq on in every boot with a frame, so that the memory report can be asked for the same way
  const sysrq = "sysrq_always_enabled";
  const vm = new Vm(
    a,
    how === "text"
      ? { initrd: a.initrdPlain }
      : how === "plymouth"
        ? // plymouthd's own trace on the serial console says when the request reached it
          { initrd: buildPlymouthInitrd(), append: `splash plymouth.ignore-serial-consoles plymouth.debug=stream:/dev/ttyS0 ${sysrq}` }
        : { append: `rd.foyer.profile=vm ${sysrq}`, ...(split && { initrd: split.initrd, payload: split.payload }) },
  );
  try {
    await vm.attach();
    if (!withFoyer) {
      await vm.waitSerial(/Please enter passphrase for disk/, 600_000, "systemd's console prompt");
      return { firstFrameS: vm.seconds, promptS: vm.seconds };
    }
    // both kinds of boot are looked at from QEMU's start, as often, for their first frame and then
    // their prompt: Plymouth's dialog once its trace says the request reached it (the dialog's band
    // is where the spinner theme draws nothing else)
    const png = how === "plymouth" ? `/tmp/foyer-vm-plymouth-${PLYMOUTH_THEME}.png` : undefined;
    let firstFrameS: number | undefined;
    let nativePromptS: number | undefined;
    for (;;) {
      const shot = await vm.screen(png);
      if (firstFrameS === undefined && (how === "plymouth" ? spinnerDrawn(shot) : foyerDrawn(shot))) firstFrameS = vm.seconds;
      const prompt = how === "plymouth" ? /got password request/.test(vm.serial) && dialogDrawn(shot) : foyerDrawn(shot) && themeDrawn(shot).accent > 1000;
      // foyer's: a prompt before the greeter is interactive is its own frame's, in the splash (its
      // field's border is thinner than the greeter's: found as a field, not by the accent's count)
      const greeter = how === "plymouth" || /greeter interactive/.test(vm.serial);
      if (!greeter && foyerDrawn(shot) && frameBullets(shot) !== undefined) nativePromptS ??= vm.seconds;
      if (prompt && greeter) {
        const greeterPromptS = vm.seconds;
        const promptS = Math.min(nativePromptS ?? greeterPromptS, greeterPromptS);
        return {
          firstFrameS: firstFrameS ?? promptS,
          promptS,
          ...(how === "plymouth" ? {} : { nativePromptS: nativePromptS ?? greeterPromptS, greeterPromptS }),
          usedMb: await usedMemMb(vm),
        };
      }
      if (vm.seconds > 900)
        throw new Error(`${how === "plymouth" ? "Plymouth's dialog" : "foyer's prompt"} never appeared; the console's last lines:\n${vm.tail()}`);
      if (vm.proc.exitCode !== null) throw new Error(`qemu exited (${vm.proc.exitCode}); the console's last lines:\n${vm.tail()}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  } finally {
    await vm.stop("bench");
  }
}

/**
 * PID 1 of the stack-start boot: what systemd and udev would have set up for foyer (the virtual
 * files, udev for the DRM and input devices, loopback), then test/bench/vm-stack-guest.mjs.
 */
const STACK_PID1 = `#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/shm /dev/pts /run /tmp; mount -t tmpfs shm /dev/shm; mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /tmp; mkdir -p /run/systemd/ask-password
for m in virtio_pci virtio_gpu virtio_rng; do modprobe $m; done
/usr/lib/systemd/systemd-udevd --daemon; udevadm trigger --action=add; udevadm settle --timeout=60
/foyer-bench/busybox ip link set lo up
# no core files, as foyer.service's LimitCORE=0 (foyerd then starts its greeter without a shell)
ulimit -c 0
node /foyer-bench/guest.mjs "$(cat /proc/cmdline)"
echo FOYER-STACK-END; echo o > /proc/sysrq-trigger; sleep 60
`;

/**
 * (a) inside the VM: foyerd's start → greeter interactive against the bare cage + cog start,
 * alternately, `rounds` of each in one boot of the appliance's kernel and initramfs with a PID 1
 * of the bench's own (no systemd, nothing else booting): what the greeter costs on the emulated CPU.
 */
export async function stackStartFigures(rounds: number, log: (s: string) => void): Promise<Record<string, number>> {
  requireTool("busybox", "busybox");
  requireTool("cpio", "cpio");
  const a = buildAppliance(log);
  const work = mkdtempSync(join(tmpdir(), "foyer-bench-stack-"));
  try {
    const extra = join(work, "extra");
    mkdirSync(join(extra, "foyer-bench"), { recursive: true });
    writeFileSync(join(extra, "foyer-bench/init"), STACK_PID1, { mode: 0o755 });
    copyFileSync(join(dirname(fileURLToPath(import.meta.url)), "vm-stack-guest.mjs"), join(extra, "foyer-bench/guest.mjs"));
    copyFileSync("/usr/bin/busybox", join(extra, "foyer-bench/busybox"));
    const initrd = join(work, "initrd.img");
    withExtraCpio(a.initrd, extra, initrd);
    const vm = new Vm(a, { initrd, append: `rdinit=/foyer-bench/init foyer.stack.rounds=${rounds}` });
    const bare: number[] = [],
      foyerd: number[] = [],
      listening: number[] = [],
      launched: number[] = [],
      node: number[] = [];
    try {
      await vm.attach();
      await vm.waitSerial(/FOYER-STACK-END/, 300_000 + rounds * 400_000, "the stack-start rounds");
    } finally {
      await vm.stop("bench-stack");
    }
    for (const m of vm.serial.matchAll(/FOYER-STACK (\{.*\})/g)) {
      const r = JSON.parse(m[1]!) as { run: string; round: number; result: string; ms: number; listeningMs?: number; launchedMs?: number; log?: string };
      if (r.result !== "ok") throw new Error(`${r.run} round ${r.round}: ${r.result}${r.log ? `: ${r.log}` : ""}`);
      log(
        `vm stack ${r.round}: ${r.run} ${(r.ms / 1000).toFixed(1)} s${r.launchedMs ? ` (greeter launched at ${(r.launchedMs / 1000).toFixed(1)} s, the server listening at ${(r.listeningMs! / 1000).toFixed(1)} s)` : ""}`,
      );
      (r.run === "bare" ? bare : r.run === "node" ? node : foyerd).push(r.ms);
      if (r.listeningMs) listening.push(r.listeningMs);
      if (r.launchedMs) launched.push(r.launchedMs);
    }
    if (bare.length !== rounds || foyerd.length !== rounds)
      throw new Error(`the guest said ${bare.length} bare and ${foyerd.length} foyerd starts of ${rounds}; the console's last lines:\n${vm.tail()}`);
    return {
      vmBareStackS: Number((median(bare) / 1000).toFixed(1)),
      vmFoyerdReadyS: Number((median(foyerd) / 1000).toFixed(1)),
      vmFoyerdListeningS: Number((median(listening) / 1000).toFixed(1)),
      vmFoyerdLaunchedS: Number((median(launched) / 1000).toFixed(1)),
      vmNodeBootS: Number((median(node) / 1000).toFixed(1)),
      vmGreeterReadyRatio: Number((median(foyerd) / median(bare)).toFixed(2)),
      vmStackRounds: rounds,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export function applianceBuilt(): boolean {
  return existsSync(`${cacheDir}/initrd-foyer.img`) && existsSync(`${cacheDir}/root.img`);
}

export async function vmFigures(runs: number, log: (s: string) => void): Promise<Record<string, number>> {
  const a = buildAppliance(log);
  const mb = (p: string) => statSync(p).size / 1048576;
  const split = buildSplit(a, log);
  const foyer: BootFigures[] = [];
  const splitS: BootFigures[] = [];
  const text: BootFigures[] = [];
  const ply: BootFigures[] = [];
  buildPlymouthInitrd(log);
  const said = (b: BootFigures) =>
    `first frame ${b.firstFrameS.toFixed(1)} s, prompt ${b.promptS.toFixed(1)} s` +
    (b.nativePromptS === undefined ? "" : ` (foyer's frame ${b.nativePromptS.toFixed(1)} s, the greeter's ${b.greeterPromptS!.toFixed(1)} s)`) +
    (b.usedMb === undefined ? "" : `, ${b.usedMb.toFixed(0)} MB used`);
  for (let i = 0; i < runs; i++) {
    foyer.push(await bootToPrompt("foyer"));
    log(`vm ${i}: foyer, after qemu started: ${said(foyer.at(-1)!)}`);
    splitS.push(await bootToPrompt("split"));
    log(`vm ${i}: the same from the split image (cpio part + erofs payload): ${said(splitS.at(-1)!)}`);
    ply.push(await bootToPrompt("plymouth"));
    log(`vm ${i}: Plymouth (${PLYMOUTH_THEME}), its spinner and its password dialog: ${said(ply.at(-1)!)}`);
    text.push(await bootToPrompt("text"));
    log(`vm ${i}: the text prompt without foyer ${text.at(-1)!.promptS.toFixed(1)} s after qemu started`);
  }
  const m = (b: BootFigures[], k: keyof BootFigures) => median(b.map((x) => x[k]!));
  const stack = await stackStartFigures(Number(process.env.FOYER_BENCH_VM_STACK_ROUNDS ?? 3), log);
  return {
    ...stack,
    vmPromptS: Number(m(foyer, "promptS").toFixed(1)),
    vmSplitPromptS: Number(m(splitS, "promptS").toFixed(1)),
    vmSplitVsWholeRatio: Number((m(splitS, "promptS") / m(foyer, "promptS")).toFixed(2)),
    vmConsolePromptS: Number(m(text, "promptS").toFixed(1)),
    vmPlymouthPromptS: Number(m(ply, "promptS").toFixed(1)),
    vmPromptRatio: Number((m(foyer, "promptS") / m(ply, "promptS")).toFixed(2)),
    vmNativePromptS: Number(m(foyer, "nativePromptS").toFixed(1)),
    vmNativePromptRatio: Number((m(foyer, "nativePromptS") / m(ply, "promptS")).toFixed(2)),
    vmGreeterPromptS: Number(m(foyer, "greeterPromptS").toFixed(1)),
    vmGreeterPromptRatio: Number((m(foyer, "greeterPromptS") / m(ply, "promptS")).toFixed(2)),
    vmPromptVsConsoleRatio: Number((m(foyer, "promptS") / m(text, "promptS")).toFixed(2)),
    vmFirstFrameS: Number(m(foyer, "firstFrameS").toFixed(1)),
    vmSplitFirstFrameS: Number(m(splitS, "firstFrameS").toFixed(1)),
    vmPlymouthFirstFrameS: Number(m(ply, "firstFrameS").toFixed(1)),
    vmFirstFrameRatio: Number((m(foyer, "firstFrameS") / m(ply, "firstFrameS")).toFixed(2)),
    vmUsedMemMb: Number(m(foyer, "usedMb").toFixed(0)),
    vmSplitUsedMemMb: Number(m(splitS, "usedMb").toFixed(0)),
    vmPlymouthUsedMemMb: Number(m(ply, "usedMb").toFixed(0)),
    vmUsedMemOverPlymouthMb: Number((m(foyer, "usedMb") - m(ply, "usedMb")).toFixed(0)),
    cpioFoyerMb: Number(mb(a.initrd).toFixed(1)),
    cpioPlainMb: Number(mb(a.initrdPlain).toFixed(1)),
    cpioAddedMb: Number((mb(a.initrd) - mb(a.initrdPlain)).toFixed(1)),
    splitCpioMb: Number(mb(split.initrd).toFixed(1)),
    splitErofsMb: Number(mb(split.payload).toFixed(1)),
    vmRuns: runs,
  };
}
