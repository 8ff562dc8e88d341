// The greeter's processes end with the initrd: foyerd kills its user's processes when it stops
// (launch/direct.ts sweepUser) and the initrd's systemd kills its units' cgroups. One that outlived
// both (an initramfs without systemd, a fork that raced foyerd's sweep) owns folders in the state
// still, so the flush kills it before it reads them: what is copied then holds still, and the
// tmpfs can be unmounted after. The reads are safe without it (source.ts), this is not their guard.
import { lstatSync } from "node:fs";
import { join } from "node:path";
import { processes, alive } from "../base/procs.js";
import { run } from "../base/command.js";

/** The greeter's uid and gid: the owner foyerd gave `state/greeter` (display/stacks.ts); null when root owns it or there is none. */
export function greeterOwner(stateDir: string): { uid: number; gid: number } | null {
  const st = lstatSync(join(stateDir, "greeter"), { throwIfNoEntry: false });
  if (!st?.isDirectory() || st.uid === 0) return null;
  return { uid: st.uid, gid: st.gid };
}

/** The live processes whose real or saved uid is `uid`: the ones a kill(-1) sent as `uid` reaches. */
const pidsOf = (uid: number): number[] =>
  processes()
    .filter((p) => (p.realUid === uid || p.savedUid === uid) && alive(p))
    .map((p) => p.pid);

export interface Sweep {
  killed: number;
  left: number;
}

/**
 * SIGKILLs every process of `uid` and waits up to `ms` for them to be gone; says how many there
 * were, and how many did not go (one in uninterruptible sleep). The kill is kill(-1) sent as
 * `uid`, by a child that takes its ids: the kernel signals all of them in one pass that a fork
 * cannot slip through, where root killing pid by pid from a /proc scan misses a child forked
 * meanwhile. Nothing reports another process's exit, so /proc is looked at again every 20 ms.
 */
export async function killUser(uid: number, gid: number, ms: number): Promise<Sweep> {
  // never root's, never our own (kill(-1) spares only its sender)
  if (uid === 0 || uid === process.geteuid?.() || process.geteuid?.() !== 0) return { killed: 0, left: 0 };
  const killed = pidsOf(uid).length;
  if (killed === 0) return { killed, left: 0 };
  // whether it ran is what /proc says next, as before: a failure to start is not fatal here
  await run([process.execPath, "-e", "process.kill(-1, 'SIGKILL')"], { uid, gid, cwd: "/", timeoutMs: 10_000, maxOutput: 0 }).catch(() => {});
  const end = Date.now() + ms;
  let left = pidsOf(uid).length;
  while (left > 0 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 20));
    left = pidsOf(uid).length;
  }
  return { killed, left };
}
