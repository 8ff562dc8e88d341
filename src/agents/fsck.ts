// Running fsck for the recovery screen, with its progress: `fsck -C3` makes the checker write
// "pass current max device" lines on fd 3, which become a percentage with e2fsck's own weights
// for its five passes. The output is kept as a bounded tail. Only ever a read-only check (-n):
// a repair writes as root, so it runs behind sulogin's password (libexec/foyer-repair).
import { spawn } from "node:child_process";
import { toolEnv } from "../base/command.js";

// e2fsck weights its passes 70/20/2/3/5 % (e2fsck/unix.c's progress table)
const PASS_START = [0, 0, 70, 90, 92, 95];
const PASS_WEIGHT = [0, 70, 20, 2, 3, 5];
export const MAX_OUTPUT = 60 * 1024;

/** Parses one progress line; undefined when it is not one. */
export function progressPercent(line: string): number | undefined {
  const m = /^(\d+) (\d+) (\d+)/.exec(line.trim());
  if (!m) return undefined;
  const pass = Number(m[1]),
    cur = Number(m[2]),
    max = Number(m[3]);
  // digits past a double's range read as Infinity, and Infinity / Infinity is NaN: not a progress line
  if (pass < 1 || pass > 5 || max <= 0 || !Number.isFinite(cur) || !Number.isFinite(max)) return undefined;
  return Math.min(100, PASS_START[pass]! + (PASS_WEIGHT[pass]! * Math.min(cur, max)) / max);
}

export interface FsckOptions {
  device: string;
  onProgress: (percent: number) => void;
  onOutput: (tail: string) => void;
}

/** Runs `fsck -n`; resolves with its exit code (0 clean, 4 errors left uncorrected, 8 operational error…). */
export function runFsck(o: FsckOptions): Promise<number> {
  return new Promise((resolve) => {
    // -f: check even a file system marked clean (the boot's check failed on it)
    const args = ["-C3", "-n", "-f", o.device];
    // not base/command's run: fsck's output and its progress (fd 3) are shown while it runs
    const p = spawn("fsck", ["-T", ...args], { stdio: ["ignore", "pipe", "pipe", "pipe"], env: toolEnv() });
    let tail = "";
    const out = (d: Buffer) => {
      tail = (tail + d.toString("utf8")).slice(-MAX_OUTPUT);
      o.onOutput(tail);
    };
    p.stdout!.on("data", out);
    p.stderr!.on("data", out);
    let partial = "";
    (p.stdio[3] as NodeJS.ReadableStream).on("data", (d: Buffer) => {
      const lines = (partial + d.toString("latin1")).split("\n");
      partial = lines.pop() ?? "";
      const last = lines
        .map(progressPercent)
        .filter((x): x is number => x !== undefined)
        .pop();
      if (last !== undefined) o.onProgress(last);
    });
    p.on("error", () => {
      out(Buffer.from("fsck could not be started\n"));
      resolve(8);
    });
    p.on("exit", (code, signal) => resolve(code ?? (signal ? 8 : 8)));
  });
}
