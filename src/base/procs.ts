// The processes /proc shows, with what the sweeps and the memory figure of a user's processes read
// from their status files. A process that ends while the list is read is left out.
import { readdirSync, readFileSync } from "node:fs";

export interface ProcStatus {
  pid: number;
  realUid: number;
  savedUid: number;
  /** the State: letter (R, S, D, Z…) */
  state: string;
  rssKb: number;
}

export function processes(): ProcStatus[] {
  const out: ProcStatus[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${e}/status`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    const uids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status);
    if (!uids) continue;
    const state = /^State:\s+(\S)/m.exec(status)?.[1] ?? "?";
    out.push({ pid: Number(e), realUid: Number(uids[1]), savedUid: Number(uids[3]), state, rssKb: Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0) });
  }
  return out;
}

/** Not a zombie nor dead: a process that still runs, and may still hold files open. */
export const alive = (p: ProcStatus): boolean => p.state !== "Z" && p.state !== "X";

/** The parent of `pid` (from /proc/PID/stat), or undefined when it is gone. */
export function parentOf(pid: number): number | undefined {
  try {
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    return Number.isInteger(ppid) ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `pid` is `ancestor` or was started, at any depth, by it (and still hangs below it). */
export function descendsFrom(pid: number, ancestor: number): boolean {
  for (let p: number | undefined = pid, depth = 0; p !== undefined && p > 1 && depth < 64; p = parentOf(p), depth++) if (p === ancestor) return true;
  return false;
}
