// Benchmark figures from the VM appliance (when it is built: `npm run vm`): initramfs sizes with
// and without foyer, and QEMU start → the prompt, booted alternately with foyer (the greeter drawn
// on the virtual screen) and without it (systemd's text prompt on the serial console). TCG: the
// absolute times are an emulated CPU's; the ratio is the figure that carries over. The split image
// (packaging/erofs: a small cpio part, foyer's payload as an erofs disk) is booted beside them.
import { existsSync, statSync } from "node:fs";
import { buildAppliance, buildPlymouthInitrd, buildSplit, cacheDir, PLYMOUTH_THEME } from "../vm/appliance.js";
import { Vm, waitForPrompt } from "../vm/qemu.js";

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

type Boot = "foyer" | "split" | "text" | "plymouth";

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
        await new Promise((r) => setTimeout(r, 300));
      }
    }
    if (!withFoyer) {
      await vm.waitSerial(/Please enter passphrase for disk/, 600_000, "systemd's console prompt");
      return vm.seconds;
    }
    await vm.waitSerial(/greeter server listening/, 600_000, "foyerd");
    return await waitForPrompt(vm, 900_000);
  } finally {
    await vm.stop("bench");
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
  return {
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
