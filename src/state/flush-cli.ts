// `foyerd flush`: the persistent part of the tmpfs state goes to disk.
//   --state DIR [--root DIR] [--boot-id ID]   what the profile marked persistent (persist.ts); what
//                                             foyer-flush.service runs after switch-root
//   --from DIR --to DIR                       one tree mirrored (flush.ts)
// With --unmount the overlays on the state and the state tmpfs are unmounted and the folder
// removed, only after every file was copied: a failed flush (ENOSPC, read-only /var) loses
// nothing, the source stays for the next run.
import { parseArgs } from "node:util";
import { promises as fs } from "node:fs";
import { resolve } from "node:path";
import { flushTree, type FlushResult } from "./flush.js";
import { unmountState, isMountPoint } from "./overlay.js";

const USAGE = `usage: foyerd flush --state DIR [--root DIR] [--boot-id ID] [--unmount]
       foyerd flush --from DIR --to DIR [--unmount]`;

export async function flushMain(argv: string[]): Promise<number> {
  // fsync runs on libuv's thread pool, 4 threads by default: the flush writes 16 files at a time
  // (flush.ts). Read when the pool starts, at the first asynchronous file operation: nothing has
  // used it yet.
  process.env.UV_THREADPOOL_SIZE ??= "16";
  let o;
  try {
    o = parseArgs({
      args: argv,
      options: {
        from: { type: "string" },
        to: { type: "string" },
        state: { type: "string" },
        root: { type: "string" },
        "boot-id": { type: "string" },
        unmount: { type: "boolean" },
      },
    }).values;
  } catch (e) {
    process.stderr.write(`foyerd flush: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const usage = (m: string) => (process.stderr.write(`foyerd flush: ${m}\n${USAGE}\n`), 2);
  if (o.state !== undefined && (o.from !== undefined || o.to !== undefined)) return usage("--state and --from/--to do not go together");
  if (o.state === undefined && (!o.from || !o.to)) return usage("--state, or --from and --to, are required");
  if (o.state === undefined && (o.root !== undefined || o["boot-id"] !== undefined)) return usage("--root and --boot-id go with --state");
  // the persist plan's and the timeline's schemas (zod) only for --state: one tree's mirror starts without them
  const state = o.state === undefined ? undefined : { ...(await import("./persist.js")), ...(await import("./timeline.js")) };
  const bootId = state ? (o["boot-id"] ?? state.readBootId()).replace(/-/g, "") : "";
  if (state && !/^[0-9a-f]{32}$/.test(bootId))
    return usage(o["boot-id"] === undefined ? "no boot id in /proc/sys/kernel/random/boot_id; give --boot-id" : "--boot-id must be 32 hex digits");

  const from = resolve(o.state ?? o.from!);
  const say = (m: string) => process.stderr.write(`foyerd ${m}\n`);
  let r: FlushResult;
  try {
    if (state) {
      const root = resolve(o.root ?? "/");
      const p = await state.flushState({ stateDir: from, root, bootId, say });
      if (p.alreadyDone) {
        say(`flush: ${from} is gone and boot ${bootId} is in the manifest: already flushed`);
        return 0;
      }
      if (
        !(await fs.stat(from).then(
          () => true,
          () => false,
        ))
      ) {
        say(`flush: no state at ${from}; nothing to flush`);
        return 0;
      }
      r = p;
      say(
        `flush: ${from} → ${root}: ${p.copied} copied, ${p.skipped} unchanged, ${p.problems.length} problems${p.logFile ? `; this boot's log is ${p.logFile}` : ""}`,
      );
    } else {
      const to = resolve(o.to!);
      await fs.mkdir(to, { recursive: true });
      r = await flushTree(from, to, say);
      say(`flush: ${from} → ${to}: ${r.copied} copied, ${r.skipped} unchanged, ${r.problems.length} problems`);
    }
    if (r.problems.length > 0) {
      if (o.unmount) say(`flush: not unmounting ${from}: not everything was copied`);
      return 1;
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === "ENOSPC" ? "no space left on the target" : err.code === "EROFS" ? "the target is read-only" : err.message;
    say(`flush: ${from} failed (${err.code ?? "error"}: ${why}); the source is kept`);
    return 1;
  }
  if (o.unmount) {
    try {
      if (isMountPoint(from)) await unmountState(from);
      // else foyerd ran on a plain folder (no privilege to mount): it is the data itself, now on disk
      await fs.rm(from, { recursive: true, force: true });
    } catch (e) {
      say(`flush: unmounting ${from} failed: ${(e as Error).message.trim()}`);
      return 1;
    }
  }
  return 0;
}
