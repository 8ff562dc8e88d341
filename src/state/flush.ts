// Crash-safe mirror of a tmpfs tree onto the real disk (issue 4, part 3).
// Each file goes through temp-in-target-dir → write → fsync → fchmod → rename → fsync(dir), so a
// kill at any point leaves every target either its old or its new version; stale temps from an
// earlier killed run are removed first, so a rerun completes the job.
// fsync latency is the whole cost (a per-file fsync made the flush 10× slower than cp -a + sync),
// so the files of one folder are written PARALLEL at a time — the file system commits concurrent
// fsyncs together — and the folder is fsync'd once after its renames. Neither changes what a kill
// can leave: each rename still comes after its own file's fsync.
import { promises as fs, constants } from "node:fs";
import * as path from "node:path";

export const TEMP_PREFIX = ".foyer-flush.";

export interface FlushResult { copied: number; skipped: number; problems: string[] }

export async function fsyncDir(dir: string): Promise<void> {
  const h = await fs.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try { await h.sync(); } finally { await h.close(); }
}

async function sameContent(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([fs.stat(a), fs.lstat(b).catch(() => null)]);
  if (!sb || !sb.isFile() || sa.size !== sb.size || (sa.mode & 0o7777) !== (sb.mode & 0o7777)) return false;
  const [x, y] = await Promise.all([fs.readFile(a), fs.readFile(b)]);
  return x.equals(y);
}

const PARALLEL = 16;

async function copyFileSafe(src: string, dstDir: string, name: string, syncDir: boolean): Promise<void> {
  const mode = (await fs.stat(src)).mode & 0o7777;
  await writeFileSafe(dstDir, name, await fs.readFile(src), mode, syncDir);
}

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

/** The crash-safe recipe for one file: `dstDir/name` is its old content or `data`, never a mix. */
export async function writeFileSafe(dstDir: string, name: string, data: Buffer, mode: number, syncDir = true): Promise<void> {
  const tmp = path.join(dstDir, `${TEMP_PREFIX}${process.pid}.${name}`);
  // O_EXCL|O_NOFOLLOW: never write through a symlink someone planted at the temp name.
  const h = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    await h.writeFile(data);
    await h.sync();
    await h.chmod(mode);
  } catch (e) {
    await h.close();
    await fs.rm(tmp, { force: true });
    throw e;
  }
  await h.close();
  await fs.rename(tmp, path.join(dstDir, name));
  if (syncDir) await fsyncDir(dstDir);
}

// Mirror `from` into `to`; a file present only in `to` is left alone. A target that is a symlink,
// or a non-directory where a directory should be, is reported and skipped (nothing written there).
export async function flushTree(from: string, to: string, log: (m: string) => void = () => {}): Promise<FlushResult> {
  const r: FlushResult = { copied: 0, skipped: 0, problems: [] };
  const walk = async (s: string, d: string): Promise<void> => {
    const st = await fs.lstat(d).catch(() => null);
    if (st === null) {
      await fs.mkdir(d, { mode: (await fs.stat(s)).mode & 0o7777 });
      await fsyncDir(path.dirname(d));
    } else if (!st.isDirectory()) {
      const m = `flush: ${d} is ${st.isSymbolicLink() ? "a symlink" : "not a directory"}; not writing under it`;
      r.problems.push(m); log(m); return;
    }
    for (const n of await fs.readdir(d)) {
      if (n.startsWith(TEMP_PREFIX)) await fs.rm(path.join(d, n), { force: true });
    }
    const entries = await fs.readdir(s, { withFileTypes: true });
    let copied = 0;
    try {
      await pool(entries.filter((e) => e.isFile()), PARALLEL, async (e) => {
        const sp = path.join(s, e.name), dp = path.join(d, e.name);
        const t = await fs.lstat(dp).catch(() => null);
        if (t && !t.isFile()) {
          const m = `flush: ${dp} is ${t.isSymbolicLink() ? "a symlink" : "not a regular file"}; left alone`;
          r.problems.push(m); log(m); return;
        }
        if (t && await sameContent(sp, dp)) { r.skipped++; return; }
        await copyFileSafe(sp, d, e.name, false);
        r.copied++; copied++;
      });
    } finally {
      // the renames that were done are made durable even when another file failed
      if (copied > 0) await fsyncDir(d);
    }
    for (const e of entries) if (e.isDirectory()) await walk(path.join(s, e.name), path.join(d, e.name));
  };
  await walk(from, to);
  return r;
}
