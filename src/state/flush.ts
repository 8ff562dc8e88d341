// Crash-safe mirror of a tmpfs tree onto the real disk (issue 4, part 3).
// A file's new content is only ever put in place by a rename of a temp file whose data is already
// on disk, so a kill or a power cut at any point leaves every target either its old or its new
// version; stale temps from an earlier killed run are removed first, so a rerun completes the job.
// fsync latency is the whole cost (a per-file fsync made the flush 10× slower than cp -a + sync),
// so the tree goes in phases: every temp is written (none synced), then one syncfs(2) of the
// target's file system (`sync --file-system`, coreutils) makes all of them durable at once, then
// the renames, then each folder that got one is fsync'd. Where `sync -f` cannot run, each temp is
// fsync'd instead (PARALLEL at a time: the file system commits concurrent fsyncs together).
// A folder the target does not have yet is built whole under a temp name and renamed into place
// once: its files need no temps of their own (nobody sees them before the folder's rename), so a
// first flush costs one rename per new folder instead of one per file.
import { promises as fs, constants, lstatSync, statSync, mkdirSync, readdirSync, rmSync, readFileSync, openSync, writeSync, fchmodSync, closeSync, renameSync, fsyncSync, copyFileSync } from "node:fs";
import { execFile } from "node:child_process";
import * as path from "node:path";

export const TEMP_PREFIX = ".foyer-flush.";

/** Where `dir/name`'s new version is built: this process's temp beside it. */
const tempName = (dir: string, name: string) => path.join(dir, `${TEMP_PREFIX}${process.pid}.${name}`);

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
 * Writes and fsyncs a temp file (O_EXCL|O_NOFOLLOW: never through a symlink planted at its name);
 * removed if the write fails.
 */
function writeTemp(tmp: string, data: Buffer, mode: number): void {
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
    fchmodSync(fd, mode);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
}

/**
 * A new file at `dst`: `src`'s bytes and mode, copied by the kernel (libuv's copyfile: one call
 * instead of a read and a write through JS). COPYFILE_EXCL is O_CREAT|O_EXCL, so never through a
 * symlink planted at `dst`; removed if the copy fails, unless it was not ours (EEXIST).
 */
function copyNew(src: string, dst: string): void {
  try {
    copyFileSync(src, dst, constants.COPYFILE_EXCL);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") rmSync(dst, { force: true });
    throw e;
  }
}

/** The crash-safe recipe for one file: `dstDir/name` is its old content or `data`, never a mix. */
export async function writeFileSafe(dstDir: string, name: string, data: Buffer, mode: number): Promise<void> {
  const tmp = tempName(dstDir, name);
  writeTemp(tmp, data, mode);
  renameSync(tmp, path.join(dstDir, name));
  fsyncDir(dstDir);
}

/** syncfs(2) of the file system holding `dir` (coreutils' `sync --file-system`); false where it cannot run. */
export function syncFileSystem(dir: string): Promise<boolean> {
  return new Promise((resolve) => execFile("sync", ["--file-system", dir], { timeout: 120_000 }, (e) => resolve(!e)));
}

/** A temp to rename into place: a file, or a whole new folder holding `files` files. */
interface Pending { tmp: string; dst: string; dir: string; files: number }

// Mirror `from` into `to`; a file present only in `to` is left alone. A target that is a symlink,
// or a non-directory where a directory should be, is reported and skipped (nothing written there).
export async function flushTree(from: string, to: string, log: (m: string) => void = () => {}): Promise<FlushResult> {
  const r: FlushResult = { copied: 0, skipped: 0, problems: [] };
  const pending: Pending[] = [];
  const problem = (m: string) => { r.problems.push(m); log(m); };
  // a folder nobody sees yet (a new folder's temp, or inside one), made with `s`'s mode: files go
  // straight to their names
  const fill = (s: string, d: string, into: Pending): void => {
    mkdirSync(d, { mode: statSync(s).mode & 0o7777 });
    const entries = readdirSync(s, { withFileTypes: true });
    for (const e of entries) {
      if (!e.isFile()) continue;
      copyNew(path.join(s, e.name), path.join(d, e.name));
      into.files++;
    }
    for (const e of entries) if (e.isDirectory()) fill(path.join(s, e.name), path.join(d, e.name), into);
  };
  // synchronous: the flush is a process of its own with nothing else to serve, and thousands of
  // small files cost more in the thread pool's round trips than in the file system
  const walk = (s: string, d: string): void => {
    const st = lstatSync(d, { throwIfNoEntry: false });
    if (st === undefined) {
      // pending before it is filled: a failure inside still puts what was written in place
      const p: Pending = { tmp: tempName(path.dirname(d), path.basename(d)), dst: d, dir: path.dirname(d), files: 0 };
      pending.push(p);
      fill(s, p.tmp, p);
      return;
    }
    if (!st.isDirectory()) return problem(`flush: ${d} is ${st.isSymbolicLink() ? "a symlink" : "not a directory"}; not writing under it`);
    const there = new Set<string>();
    for (const n of readdirSync(d)) {
      // a killed run's temps: files, or a new folder it was building
      if (n.startsWith(TEMP_PREFIX)) rmSync(path.join(d, n), { force: true, recursive: true });
      else there.add(n);
    }
    const entries = readdirSync(s, { withFileTypes: true });
    for (const e of entries) {
      if (!e.isFile()) continue;
      const sp = path.join(s, e.name), dp = path.join(d, e.name);
      const t = there.has(e.name) ? lstatSync(dp, { throwIfNoEntry: false }) : undefined;
      if (t && !t.isFile()) {
        problem(`flush: ${dp} is ${t.isSymbolicLink() ? "a symlink" : "not a regular file"}; left alone`);
        continue;
      }
      if (t) {
        const ss = statSync(sp);
        if (t.size === ss.size && (t.mode & 0o7777) === (ss.mode & 0o7777) && readFileSync(dp).equals(readFileSync(sp))) { r.skipped++; continue; }
      }
      const tmp = tempName(d, e.name);
      copyNew(sp, tmp); // made durable below, all at once
      pending.push({ tmp, dst: dp, dir: d, files: 1 });
    }
    for (const e of entries) if (e.isDirectory()) walk(path.join(s, e.name), path.join(d, e.name));
  };
  let failed: { e: unknown } | undefined;
  let renamed = 0;
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
    // every temp durable before the first rename (a new folder's files and entries with it)
    if (!(await syncFileSystem(to))) await pool(pending.flatMap(temps), PARALLEL, async (t) => {
      const h = await fs.open(t, constants.O_RDONLY | constants.O_NOFOLLOW);
      try { await h.sync(); } finally { await h.close(); }
    });
    const dirs = new Set<string>();
    try {
      for (const p of pending) {
        renameSync(p.tmp, p.dst);
        renamed++;
        r.copied += p.files;
        dirs.add(p.dir);
      }
    } finally {
      // the renames that were done are made durable even when another one failed
      for (const d of dirs) fsyncDir(d);
    }
    if (failed) throw failed.e;
    return r;
  } finally {
    for (const p of pending.slice(renamed)) rmSync(p.tmp, { force: true, recursive: true }); // what was not renamed
  }
}

/** Every path under a pending temp that needs an fsync of its own where syncfs cannot run: the folder's files, its folders, itself. */
function temps(p: Pending): string[] {
  const out: string[] = [];
  const visit = (x: string): void => {
    const st = lstatSync(x, { throwIfNoEntry: false });
    if (st?.isDirectory()) for (const n of readdirSync(x)) visit(path.join(x, n));
    if (st) out.push(x);
  };
  visit(p.tmp);
  return out;
}
