// Benchmark figures from the VM appliance (when it is built: `npm run vm`): initramfs sizes with
// and without foyer, and QEMU start → the prompt, booted alternately with foyer (the greeter drawn
// on the virtual screen) and without it (systemd's text prompt on the serial console). TCG: the
// absolute times are an emulated CPU's; the ratio is the figure that carries over. The split image
// (packaging/erofs: a small cpio part, foyer's payload as an erofs disk) is booted beside them.
import { existsSync, statSync } from "node:fs";
import { buildAppliance, buildSplit, cacheDir } from "../vm/appliance.js";
import { Vm, waitForPrompt } from "../vm/qemu.js";

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

type Boot = "foyer" | "split" | "text";

async function bootToPrompt(how: Boot): Promise<number> {
  const a = buildAppliance();
  const withFoyer = how !== "text";
  const split = how === "split" ? buildSplit(a) : undefined;
  const vm = new Vm(a, how === "text" ? { initrd: a.initrdPlain } : { append: "rd.foyer.profile=vm", ...(split && { initrd: split.initrd, payload: split.payload }) });
  try {
    await vm.attach();
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
  for (let i = 0; i < runs; i++) {
    foyer.push(await bootToPrompt("foyer"));
    log(`vm ${i}: foyer's prompt drawn ${foyer.at(-1)!.toFixed(1)} s after qemu started`);
    splitS.push(await bootToPrompt("split"));
    log(`vm ${i}: the same from the split image (cpio part + erofs payload) ${splitS.at(-1)!.toFixed(1)} s`);
    text.push(await bootToPrompt("text"));
    log(`vm ${i}: the text prompt without foyer ${text.at(-1)!.toFixed(1)} s after qemu started`);
  }
  return {
    vmPromptS: Number(median(foyer).toFixed(1)),
    vmSplitPromptS: Number(median(splitS).toFixed(1)),
    vmSplitVsWholeRatio: Number((median(splitS) / median(foyer)).toFixed(2)),
    vmConsolePromptS: Number(median(text).toFixed(1)),
    vmPromptVsConsoleRatio: Number((median(foyer) / median(text)).toFixed(2)),
    cpioFoyerMb: Number(mb(a.initrd).toFixed(1)),
    cpioPlainMb: Number(mb(a.initrdPlain).toFixed(1)),
    cpioAddedMb: Number((mb(a.initrd) - mb(a.initrdPlain)).toFixed(1)),
    splitCpioMb: Number(mb(split.initrd).toFixed(1)),
    splitErofsMb: Number(mb(split.payload).toFixed(1)),
    vmRuns: runs,
  };
}
