// `foyerd flush --from DIR --to DIR [--unmount]`: the persistent part of the tmpfs state goes to
// disk (see flush.ts); with --unmount the overlay is unmounted and removed only after every file
// was copied, so a failed flush (ENOSPC, read-only /var) loses nothing: the source stays.
import { parseArgs } from "node:util";
import { execFileSync } from "node:child_process";
import { promises as fs } from "node:fs";
import { resolve } from "node:path";
import { flushTree } from "./flush.js";

const USAGE = "usage: foyerd flush --from DIR --to DIR [--unmount]";

export async function flushMain(argv: string[]): Promise<number> {
  let o;
  try {
    o = parseArgs({ args: argv, options: { from: { type: "string" }, to: { type: "string" }, unmount: { type: "boolean" } } }).values;
  } catch (e) {
    process.stderr.write(`foyerd flush: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (!o.from || !o.to) {
    process.stderr.write(`foyerd flush: --from and --to are required\n${USAGE}\n`);
    return 2;
  }
  const from = resolve(o.from), to = resolve(o.to);
  const say = (m: string) => process.stderr.write(`foyerd ${m}\n`);
  try {
    await fs.mkdir(to, { recursive: true });
    const r = await flushTree(from, to, say);
    say(`flush: ${from} → ${to}: ${r.copied} copied, ${r.skipped} unchanged, ${r.problems.length} problems`);
    if (r.problems.length > 0) return 1;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === "ENOSPC" ? "no space left on the target" : err.code === "EROFS" ? "the target is read-only" : err.message;
    say(`flush: ${from} → ${to} failed (${err.code ?? "error"}: ${why}); the source is kept`);
    return 1;
  }
  if (o.unmount) {
    try {
      execFileSync("umount", [from], { stdio: ["ignore", "ignore", "pipe"] });
      await fs.rmdir(from);
    } catch (e) {
      say(`flush: unmounting ${from} failed: ${(e as Error).message.trim()}`);
      return 1;
    }
  }
  return 0;
}
