// Benchmark figures from the VM appliance (when it is built: `npm run vm`): initramfs sizes with
// and without foyer, and QEMU start → the prompt, booted alternately with foyer (the greeter drawn
// on the virtual screen) and without it (systemd's text prompt on the serial console). TCG: the
// absolute times are an emulated CPU's; the ratio is the figure that carries over. The split image
// (packaging/erofs: a small cpio part, foyer's payload as an erofs disk) is booted beside them.
// And one boot with a PID 1 of the bench's own (test/bench/vm-stack-guest.mjs) times goal (a) on
// the emulated CPU: foyerd's start → greeter interactive against the bare cage + cog.
import { existsSync, statSync, mkdtempSync, mkdirSync, writeFileSync, copyFileSync, rmSync } from "node:fs";
import { join, dirname } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { buildAppliance, buildPlymouthInitrd, buildSplit, cacheDir, PLYMOUTH_THEME, withExtraCpio } from "../vm/appliance.js";
import { Vm, waitForPrompt } from "../vm/qemu.js";
import { requireTool } from "../helpers/index.js";

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

type Boot = "foyer" | "split" | "text" | "plymouth";

/** How often both prompts are looked for on the screen: the same for foyer's and Plymouth's. */
const POLL_MS = 300;

/** Plymouth's password entry: lit pixels in a band across the middle of the upper half. */
function dialogDrawn(s: { width: number; height: number; rgb: Buffer }): boolean {
  let lit = 0;
  for (let y = Math.floor(s.height * 0.3); y < Math.floor(s.height * 0.5); y++) {
    for (let x = Math.floor(s.width * 0.3); x < Math.floor(s.width * 0.7); x++) {
      const i = (y * s.width + x) * 3;
      if (s.rgb[i]! + s.rgb[i + 1]! + s.rgb[i + 2]! > 90) lit++;
    }
  }
  return lit > 2000;
}

async function bootToPrompt(how: Boot): Promise<number> {
  const a = buildAppliance();
  const withFoyer = how !== "text";
  const split = how === "split" ? buildSplit(a) : undefined;
  const vm = new Vm(
    a,
    how === "text"
      ? { initrd: a.initrdPlain }
      : how === "plymouth"
        ? // plymouthd's own trace on the serial console says when the request reached it
          { initrd: buildPlymouthInitrd(), append: "splash plymouth.ignore-serial-consoles plymouth.debug=stream:/dev/ttyS0" }
        : { append: "rd.foyer.profile=vm", ...(split && { initrd: split.initrd, payload: split.payload }) },
  );
  try {
    await vm.attach();
    if (how === "plymouth") {
      // plymouthd's trace says when the request reached it; its dialog (an entry box across the
      // middle of the screen, where the spinner theme draws nothing else) is then polled for
      await vm.waitSerial(/got password request/, 600_000, "Plymouth's password request");
      for (;;) {
        const png = `/tmp/foyer-vm-plymouth-${PLYMOUTH_THEME}.png`;
        const shot = await vm.screen(png);
        if (dialogDrawn(shot)) return vm.seconds;
        if (vm.seconds > 900) throw new Error("Plymouth's dialog never appeared");
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    }
    if (!withFoyer) {
      await vm.waitSerial(/Please enter passphrase for disk/, 600_000, "systemd's console prompt");
      return vm.seconds;
    }
    await vm.waitSerial(/greeter server listening/, 600_000, "foyerd");
    return await waitForPrompt(vm, 900_000, undefined, undefined, POLL_MS);
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
  const foyer: number[] = [];
  const splitS: number[] = [];
  const text: number[] = [];
  const ply: number[] = [];
  buildPlymouthInitrd(log);
  for (let i = 0; i < runs; i++) {
    foyer.push(await bootToPrompt("foyer"));
    log(`vm ${i}: foyer's prompt drawn ${foyer.at(-1)!.toFixed(1)} s after qemu started`);
    splitS.push(await bootToPrompt("split"));
    log(`vm ${i}: the same from the split image (cpio part + erofs payload) ${splitS.at(-1)!.toFixed(1)} s`);
    ply.push(await bootToPrompt("plymouth"));
    log(`vm ${i}: Plymouth (${PLYMOUTH_THEME}) drew its password dialog ${ply.at(-1)!.toFixed(1)} s after qemu started`);
    text.push(await bootToPrompt("text"));
    log(`vm ${i}: the text prompt without foyer ${text.at(-1)!.toFixed(1)} s after qemu started`);
  }
  const stack = await stackStartFigures(Number(process.env.FOYER_BENCH_VM_STACK_ROUNDS ?? 3), log);
  return {
    ...stack,
    vmPromptS: Number(median(foyer).toFixed(1)),
    vmSplitPromptS: Number(median(splitS).toFixed(1)),
    vmSplitVsWholeRatio: Number((median(splitS) / median(foyer)).toFixed(2)),
    vmConsolePromptS: Number(median(text).toFixed(1)),
    vmPlymouthPromptS: Number(median(ply).toFixed(1)),
    vmPromptRatio: Number((median(foyer) / median(ply)).toFixed(2)),
    vmPromptVsConsoleRatio: Number((median(foyer) / median(text)).toFixed(2)),
    cpioFoyerMb: Number(mb(a.initrd).toFixed(1)),
    cpioPlainMb: Number(mb(a.initrdPlain).toFixed(1)),
    cpioAddedMb: Number((mb(a.initrd) - mb(a.initrdPlain)).toFixed(1)),
    splitCpioMb: Number(mb(split.initrd).toFixed(1)),
    splitErofsMb: Number(mb(split.payload).toFixed(1)),
    vmRuns: runs,
  };
}
