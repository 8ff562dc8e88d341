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
// The source is another user's tree (the greeter owns its folders in the state): it is read as
// source.ts reads one, by fd, never through a symlink, regular files only. The copies are root's
// and get copyMode; a target folder someone else could change is not written under.
import {
  promises as fs,
  constants,
  lstatSync,
  mkdirSync,
  readdirSync,
  rmSync,
  openSync,
  writeSync,
  fchmodSync,
  chmodSync,
  closeSync,
  renameSync,
  fsyncSync,
  readSync,
  type Stats,
} from "node:fs";
import { createHash, type Hash } from "node:crypto";
import * as path from "node:path";
import { SourceDir, readChunks } from "./source.js";
import { run } from "../base/command.js";

export const TEMP_PREFIX = ".foyer-flush.";

/** Where `dir/name`'s new version is built: this process's temp beside it. */
const tempName = (dir: string, name: string) => path.join(dir, `${TEMP_PREFIX}${process.pid}.${name}`);

export interface FlushResult {
  copied: number;
  skipped: number;
  problems: string[];
}

/**
 * The mode of root's copy of a file or folder whose mode is `mode`. The copy changes hands (the
 * greeter's file becomes root's), so a bit that granted something to the greeter's user or group
 * would grant it in root's name: a set-uid file would run as root, a set-gid one with root's
 * group, and a file or folder writable by group or others could be changed by them under root's
 * name (in a folder, a symlink put where the next flush writes). Only read and execute pass.
 */
export const copyMode = (mode: number): number => mode & 0o755;

/**
 * Why root must not write by path under the existing target folder `st`, or null. The target's
 * checks (is it a symlink, a file) hold only while nobody else can change the folder.
 */
export function unsafeTarget(st: Stats): string | null {
  if (st.isSymbolicLink()) return "a symlink";
  if (!st.isDirectory()) return "not a directory";
  if (st.uid !== process.geteuid?.()) return `owned by uid ${st.uid}`;
  if (st.mode & 0o022) return `writable by its group or others (mode ${(st.mode & 0o7777).toString(8).padStart(4, "0")})`;
  return null;
}

/** fsync of a folder: the renames in it made durable. */
function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
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
    for (let off = 0; off < data.length;) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
    fchmodSync(fd, copyMode(mode));
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
}

/**
 * A new file at `dst` with the content of the open file `src` (at most `size` bytes, readChunks)
 * and copyMode(mode). Not libuv's copyfile: it opens its source by path and gives the copy the
 * source's mode, set-id bits and all. O_EXCL|O_NOFOLLOW: never through a symlink planted at
 * `dst`; removed if the copy fails, unless it was not ours (EEXIST).
 */
function copyNew(src: number, size: number, dst: string, mode: number, hash?: Hash): void {
  const fd = openSync(dst, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    readChunks(src, size, (b) => {
      for (let off = 0; off < b.length;) off += writeSync(fd, b, off, b.length - off);
      hash?.update(b);
    });
    fchmodSync(fd, copyMode(mode));
  } catch (e) {
    closeSync(fd);
    rmSync(dst, { force: true });
    throw e;
  }
  closeSync(fd);
}

/** Whether the open file `src` holds exactly the `size` bytes of the file at `dst` (root's); `hash` sees the source's bytes read. */
function sameContent(src: number, size: number, dst: string, hash?: Hash): boolean {
  const fd = openSync(dst, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const theirs = Buffer.allocUnsafe(Math.min(size, 1 << 20));
    let same = true;
    const read = readChunks(src, size, (b, pos) => {
      if (same) same = readSync(fd, theirs, 0, b.length, pos) === b.length && theirs.subarray(0, b.length).equals(b);
      hash?.update(b);
    });
    return same && read === size;
  } finally {
    closeSync(fd);
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
  return run(["sync", "--file-system", dir], { timeoutMs: 120_000, maxOutput: 4096 }).then(
    (r) => r.code === 0,
    () => false,
  );
}

/** A temp to rename into place: a file, or a whole new folder holding `files` files. */
interface Pending {
  tmp: string;
  dst: string;
  dir: string;
  files: number;
}

/** Where flushTree puts the SHA-256 of each file it mirrors: `into[prefix/<path under from>]`. */
export interface TreeHashes {
  into: Record<string, string>;
  prefix: string;
}

// Mirror `from` into `to`; a file present only in `to` is left alone. A target that is a symlink,
// a non-directory where a directory should be, or a folder someone else could change, is reported
// and skipped (nothing written there). In the source only regular files and folders are copied:
// symlinks, FIFOs and sockets are not, whenever they appeared.
export async function flushTree(from: string | SourceDir, to: string, log: (m: string) => void = () => {}, hashes?: TreeHashes): Promise<FlushResult> {
  const r: FlushResult = { copied: 0, skipped: 0, problems: [] };
  const pending: Pending[] = [];
  const problem = (m: string) => {
    r.problems.push(m);
    log(m);
  };
  const newHash = () => (hashes ? createHash("sha256") : undefined);
  const record = (rel: string, h: Hash | undefined) => {
    if (hashes && h) hashes.into[path.join(hashes.prefix, rel)] = h.digest("hex");
  };
  // the regular files and folders of `s` as opened (source.ts), each closed after its callback;
  // readdir's types only spare opening what was a symlink, a FIFO or a socket already
  const each = (s: SourceDir, file: (name: string, fd: number, st: Stats) => void, dir: (name: string, sub: SourceDir) => void): void => {
    for (const e of s.entries()) {
      if (!e.isFile() && !e.isDirectory()) continue;
      const x = s.open(e.name);
      if (x.kind === "file") {
        try {
          file(e.name, x.fd, x.st);
        } finally {
          closeSync(x.fd);
        }
      } else if (x.kind === "dir") {
        try {
          dir(e.name, x.dir);
        } finally {
          x.dir.close();
        }
      }
    }
  };
  // a folder nobody sees yet (a new folder's temp, or inside one): files go straight to their names
  const fill = (s: SourceDir, d: string, into: Pending, rel: string): void => {
    // chmod, not mkdir's mode: that one passes through the umask and takes a set-gid parent's bit
    mkdirSync(d, { mode: 0o700 });
    chmodSync(d, copyMode(s.st.mode));
    each(
      s,
      (name, fd, st) => {
        const h = newHash();
        copyNew(fd, st.size, path.join(d, name), st.mode, h);
        record(path.join(rel, name), h);
        into.files++;
      },
      (name, sub) => fill(sub, path.join(d, name), into, path.join(rel, name)),
    );
  };
  // synchronous: the flush is a process of its own with nothing else to serve, and thousands of
  // small files cost more in the thread pool's round trips than in the file system
  const walk = (s: SourceDir, d: string, rel: string): void => {
    const st = lstatSync(d, { throwIfNoEntry: false });
    if (st === undefined) {
      // pending before it is filled: a failure inside still puts what was written in place
      const p: Pending = { tmp: tempName(path.dirname(d), path.basename(d)), dst: d, dir: path.dirname(d), files: 0 };
      pending.push(p);
      fill(s, p.tmp, p, rel);
      return;
    }
    const unsafe = unsafeTarget(st);
    if (unsafe) return problem(`flush: ${d} is ${unsafe}; not writing under it`);
    const there = new Set<string>();
    for (const n of readdirSync(d)) {
      // a killed run's temps: files, or a new folder it was building
      if (n.startsWith(TEMP_PREFIX)) rmSync(path.join(d, n), { force: true, recursive: true });
      else there.add(n);
    }
    each(
      s,
      (name, fd, ss) => {
        const dp = path.join(d, name);
        const t = there.has(name) ? lstatSync(dp, { throwIfNoEntry: false }) : undefined;
        if (t && !t.isFile()) {
          problem(`flush: ${dp} is ${t.isSymbolicLink() ? "a symlink" : "not a regular file"}; left alone`);
          return;
        }
        let h = newHash();
        if (t && t.size === ss.size && (t.mode & 0o7777) === copyMode(ss.mode) && sameContent(fd, ss.size, dp, h)) {
          r.skipped++;
          record(path.join(rel, name), h);
          return;
        }
        const tmp = tempName(d, name);
        h = newHash();
        copyNew(fd, ss.size, tmp, ss.mode, h); // made durable below, all at once
        record(path.join(rel, name), h);
        pending.push({ tmp, dst: dp, dir: d, files: 1 });
      },
      (name, sub) => walk(sub, path.join(d, name), path.join(rel, name)),
    );
  };
  let failed: { e: unknown } | undefined;
  let renamed = 0;
  try {
    // a file that cannot be read or written stops the walk; what was written before it still goes in place
    let top: SourceDir | undefined;
    try {
      top = typeof from === "string" ? SourceDir.open(from) : from;
      walk(top, to, "");
    } catch (e) {
      failed = { e };
    } finally {
      if (typeof from === "string") top?.close();
    }
    if (pending.length === 0) {
      if (failed) throw failed.e;
      return r;
    }
    // every temp durable before the first rename (a new folder's files and entries with it)
    if (!(await syncFileSystem(to)))
      await pool(pending.flatMap(temps), PARALLEL, async (t) => {
        const h = await fs.open(t, constants.O_RDONLY | constants.O_NOFOLLOW);
        try {
          await h.sync();
        } finally {
          await h.close();
        }
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
