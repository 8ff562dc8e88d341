// Crash-safe mirror of a tmpfs tree onto the real disk (issue 4, part 3).
// A file's new content is only ever put in place by a rename of a temp file whose data is already
// on disk, so a kill or a power cut at any point leaves every target either its old or its new
// version; stale temps from an earlier killed run are removed first, so a rerun completes the job.
// fsync latency is the whole cost (a per-file fsync made the flush 10× slower than cp -a + sync),
// so the tree goes in phases: every temp file is written (none synced), then one syncfs(2) of the
// target's file system (`sync --file-system`, coreutils) makes all of them durable at once, then
// the renames, then each folder that got one is fsync'd. Where `sync -f` cannot run, each temp is
// fsync'd instead (PARALLEL at a time: the file system commits concurrent fsyncs together).
import { promises as fs, constants, lstatSync, statSync, mkdirSync, readdirSync, rmSync, readFileSync, openSync, writeSync, fchmodSync, closeSync, renameSync, fsyncSync, type Stats } from "node:fs";
import { execFile } from "node:child_process";
import * as path from "node:path";

export const TEMP_PREFIX = ".foyer-flush.";

export interface FlushResult { copied: number; skipped: number; problems: string[] }

/** fsync of a folder: the renames in it made durable. */
function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

const PARALLEL = 16;

/** Runs f over items, n at a time; on a failure takes no new item, waits for the running ones, then throws the first. */
async function pool<T>(items: T[], n: number, f: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: { e: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !failed) {
      const x = items[next++]!;
      try {
        await f(x);
      } catch (e) {
        failed ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failed) throw failed.e;
}

/**
 * Writes a temp file (O_EXCL|O_NOFOLLOW: never through a symlink planted at its name), fsync'd when
 * `sync`; removed if the write fails. Synchronous: the flush is a process of its own with nothing
 * else to serve, and thousands of small files cost more in the thread pool's round trips than in the
 * file system.
 */
function writeTemp(tmp: string, data: Buffer, mode: number, sync: boolean): void {
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
    if (sync) fsyncSync(fd);
    fchmodSync(fd, mode);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
}

/** The crash-safe recipe for one file: `dstDir/name` is its old content or `data`, never a mix. */
export async function writeFileSafe(dstDir: string, name: string, data: Buffer, mode: number): Promise<void> {
  const tmp = path.join(dstDir, `${TEMP_PREFIX}${process.pid}.${name}`);
  writeTemp(tmp, data, mode, true);
  renameSync(tmp, path.join(dstDir, name));
  fsyncDir(dstDir);
}

/** syncfs(2) of the file system holding `dir` (coreutils' `sync --file-system`); false where it cannot run. */
export function syncFileSystem(dir: string): Promise<boolean> {
  return new Promise((resolve) => execFile("sync", ["--file-system", dir], { timeout: 120_000 }, (e) => resolve(!e)));
}

interface Pending { tmp: string; dst: string; dir: string }

// Mirror `from` into `to`; a file present only in `to` is left alone. A target that is a symlink,
// or a non-directory where a directory should be, is reported and skipped (nothing written there).
export async function flushTree(from: string, to: string, log: (m: string) => void = () => {}): Promise<FlushResult> {
  const r: FlushResult = { copied: 0, skipped: 0, problems: [] };
  const pending: Pending[] = [];
  const lstatOrNull = (p: string): Stats | null => {
    try { return lstatSync(p); } catch { return null; }
  };
  // synchronous, as writeTemp
  const walk = (s: string, d: string): void => {
    const st = lstatOrNull(d);
    if (st === null) {
      mkdirSync(d, { mode: statSync(s).mode & 0o7777 });
      fsyncDir(path.dirname(d));
    } else if (!st.isDirectory()) {
      const m = `flush: ${d} is ${st.isSymbolicLink() ? "a symlink" : "not a directory"}; not writing under it`;
      r.problems.push(m); log(m); return;
    }
    for (const n of readdirSync(d)) {
      if (n.startsWith(TEMP_PREFIX)) rmSync(path.join(d, n), { force: true });
    }
    const entries = readdirSync(s, { withFileTypes: true });
    for (const e of entries) {
      if (!e.isFile()) continue;
      const sp = path.join(s, e.name), dp = path.join(d, e.name);
      const t = lstatOrNull(dp);
      if (t && !t.isFile()) {
        const m = `flush: ${dp} is ${t.isSymbolicLink() ? "a symlink" : "not a regular file"}; left alone`;
        r.problems.push(m); log(m); continue;
      }
      const ss = statSync(sp);
      const data = readFileSync(sp);
      if (t && t.size === ss.size && (t.mode & 0o7777) === (ss.mode & 0o7777) && readFileSync(dp).equals(data)) { r.skipped++; continue; }
      const tmp = path.join(d, `${TEMP_PREFIX}${process.pid}.${e.name}`);
      writeTemp(tmp, data, ss.mode & 0o7777, false); // removes its temp if it fails; made durable below, all at once
      pending.push({ tmp, dst: dp, dir: d });
    }
    for (const e of entries) if (e.isDirectory()) walk(path.join(s, e.name), path.join(d, e.name));
  };
  let failed: { e: unknown } | undefined;
  try {
    // a file that cannot be read or written stops the walk; what was written before it still goes in place
    try {
      walk(from, to);
    } catch (e) {
      failed = { e };
    }
    if (pending.length === 0) {
      if (failed) throw failed.e;
      return r;
    }
    // every temp durable before the first rename
    if (!(await syncFileSystem(to))) await pool(pending, PARALLEL, async (p) => {
      const h = await fs.open(p.tmp, constants.O_RDONLY | constants.O_NOFOLLOW);
      try { await h.sync(); } finally { await h.close(); }
    });
    const dirs = new Set<string>();
    try {
      for (const p of pending) {
        renameSync(p.tmp, p.dst);
        r.copied++;
        dirs.add(p.dir);
      }
    } finally {
      // the renames that were done are made durable even when another one failed
      for (const d of dirs) fsyncDir(d);
    }
    if (failed) throw failed.e;
    return r;
  } finally {
    for (const p of pending) rmSync(p.tmp, { force: true }); // what was not renamed
  }
}
