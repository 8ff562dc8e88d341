// Benchmark figures from the VM appliance (when it is built: `npm run vm`): initramfs sizes with
// and without foyer, and QEMU start → the prompt, booted alternately with foyer (the greeter drawn
// on the virtual screen) and without it (systemd's text prompt on the serial console). TCG: the
// absolute times are an emulated CPU's; the ratio is the figure that carries over.
import { existsSync, statSync } from "node:fs";
import { buildAppliance, cacheDir } from "../vm/appliance.js";
import { Vm, waitForPrompt } from "../vm/qemu.js";

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function bootToPrompt(withFoyer: boolean): Promise<number> {
  const a = buildAppliance();
  const vm = new Vm(a, withFoyer ? { append: "rd.foyer.profile=vm" } : { initrd: a.initrdPlain });
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
  const foyer: number[] = [];
  const text: number[] = [];
  for (let i = 0; i < runs; i++) {
    foyer.push(await bootToPrompt(true));
    log(`vm ${i}: foyer's prompt drawn ${foyer.at(-1)!.toFixed(1)} s after qemu started`);
    text.push(await bootToPrompt(false));
    log(`vm ${i}: the text prompt without foyer ${text.at(-1)!.toFixed(1)} s after qemu started`);
  }
  return {
    vmPromptS: Number(median(foyer).toFixed(1)),
    vmConsolePromptS: Number(median(text).toFixed(1)),
    vmPromptVsConsoleRatio: Number((median(foyer) / median(text)).toFixed(2)),
    cpioFoyerMb: Number(mb(a.initrd).toFixed(1)),
    cpioPlainMb: Number(mb(a.initrdPlain).toFixed(1)),
    cpioAddedMb: Number((mb(a.initrd) - mb(a.initrdPlain)).toFixed(1)),
    vmRuns: runs,
  };
}
