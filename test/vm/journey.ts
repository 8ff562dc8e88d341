// The parts every VM journey shares: a booted appliance that leaves a screendump behind when the
// journey fails, and the end of an unlock — the passphrase typed on the virtual keyboard, the real
// root's marker, nothing of foyer running there, the passphrase never on the console.
import * as assert from "uvu/assert";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { VM_PASSPHRASE, type Appliance } from "./appliance.js";
import { Vm } from "./qemu.js";

/** Boots, runs the journey, keeps a screendump (/tmp/foyer-vm-NAME-failed.png) if it fails, stops. */
export async function inVm(appliance: Appliance, opts: ConstructorParameters<typeof Vm>[1], name: string, journey: (vm: Vm) => Promise<void>): Promise<void> {
  const vm = new Vm(appliance, opts);
  try {
    await vm.attach();
    await journey(vm);
  } catch (e) {
    await vm.screen(join(tmpdir(), `foyer-vm-${name}-failed.png`)).catch(() => {});
    throw e;
  } finally {
    await vm.stop(name);
  }
}

/** How many requests matching `pending` the console has shown so far. */
export function timesAsked(vm: Vm, pending: RegExp): number {
  return (vm.serial.match(new RegExp(pending.source, "g")) ?? []).length;
}

/**
 * Waits, three minutes at most, until the console has shown more than `before` requests matching
 * `pending`: the asker tried what it was given and asked again. `what` names it when it does not.
 */
export async function askedAgain(vm: Vm, pending: RegExp, before: number, what: string): Promise<void> {
  const t = performance.now();
  while (timesAsked(vm, pending) <= before) {
    if (performance.now() - t > 180_000) assert.unreachable(`${what}; console:\n${vm.tail()}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/**
 * Types the right passphrase (German key positions: the appliance's layout) and follows it into
 * the busybox real root: its marker, then its process list without node, cage, cog or seatd (foyer
 * ends before switch-root). Returns the marker line.
 */
export async function unlockToRoot(vm: Vm): Promise<string> {
  await vm.type(VM_PASSPHRASE, "de");
  return afterUnlock(vm);
}

/** The real root reached after the passphrase was given (unlockToRoot's second half): its marker line. */
export async function afterUnlock(vm: Vm): Promise<string> {
  const [root] = await vm.waitSerial(/FOYER-ROOT-OK [\d.]+/, 300_000, "the real root's marker");
  const [ps] = await vm.waitSerial(/FOYER-PS [^\n]*\n/, 30_000, "the real root's process list");
  assert.not.match(ps, /\b(node|cage|cog|seatd)\b/, `foyer's processes survived switch-root: ${ps}`);
  assert.not.ok(vm.serial.includes(VM_PASSPHRASE), "the passphrase appeared on the serial console");
  return `${root} — whole journey ${vm.seconds.toFixed(0)} s`;
}
