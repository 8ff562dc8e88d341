// What foyer-flush.service does after switch-root (issue 4, part 3): from the state tmpfs, keep
// what the initrd's profile marked persistent (its plan, persist.json, written by foyerd):
//   log/*                 → <logs>/boot-<boot-id>.log   one file per boot, the logs one after the other
//   each `persist` path   → <persistTo>/<path>          mirrored with flushTree
// Every file goes through the crash-safe recipe (flush.ts). A manifest in <persistTo> records, per
// boot, what was written and its hash; it is derived only from the source, so a second run writes
// the same bytes, and once the tmpfs is gone a rerun finds the boot in it and has nothing to do.
// The greeter owns folders in the state: what is in them is read by fd (source.ts), each hash
// taken from the bytes copied, and a greeter process still running is killed first (leftovers.ts).
import { promises as fs, closeSync } from "node:fs";
import { createHash } from "node:crypto";
import * as path from "node:path";
import * as z from "zod/mini";
import "../base/schema-messages.js";
import { StateSchema } from "../profile/schema.js";
import { flushTree, writeFileSafe, copyMode, unsafeTarget, type FlushResult } from "./flush.js";
import { LOG_DIR, PERSIST_FILE, TIMELINE_FILE, type PersistPlan } from "./overlay.js";
import { parseTimeline, monotonicNowMs } from "./timeline.js";
import { SourceDir, readAll, type Entry } from "./source.js";
import { bootLogText, type LogFile } from "./boot-log.js";
import { greeterOwner, killUser } from "./leftovers.js";

export const MANIFEST = "flush-manifest.json";
const KEEP_BOOTS = 32;

const PlanSchema = z.pick(StateSchema, { logs: true, persist: true, persistTo: true });
const ManifestSchema = z.strictObject({
  schema: z.literal(1),
  boots: z.record(z.string(), z.strictObject({ log: z.nullable(z.string()), files: z.record(z.string(), z.string()) })),
});
type Manifest = z.infer<typeof ManifestSchema>;

export interface PersistResult extends FlushResult {
  /** true: the state is gone and the manifest has this boot: an earlier run finished the job */
  alreadyDone: boolean;
  logFile: string | null;
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const under = (root: string, abs: string) => path.join(root, abs);

/** The plan; a missing one is the defaults (a foyerd that could not write it), a bad one an error. */
export async function readPlan(stateDir: string): Promise<PersistPlan> {
  let text: string;
  try {
    text = await fs.readFile(path.join(stateDir, PERSIST_FILE), "utf8");
  } catch {
    return PlanSchema.parse({});
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error(`${PERSIST_FILE}: not valid JSON`);
  }
  const r = PlanSchema.safeParse(raw);
  if (!r.success) throw new Error(`${PERSIST_FILE}: ${r.error.issues.map((i) => `${i.path.join(".") || "<root>"}: ${i.message}`).join("; ")}`);
  return r.data;
}

async function readManifest(file: string): Promise<Manifest> {
  try {
    const r = ManifestSchema.safeParse(JSON.parse(await fs.readFile(file, "utf8")));
    if (r.success) return r.data;
  } catch {
    /* none yet, or unreadable: start a new one (it is a record, the files themselves are the data) */
  }
  return { schema: 1, boots: {} };
}

/** mkdir -p of a target folder; a symlink, a file, or a folder someone else could change is refused (nothing written under it). */
async function targetDir(dir: string, problems: string[], say: (m: string) => void): Promise<boolean> {
  const st = await fs.lstat(dir).catch(() => null);
  if (st === null) {
    await fs.mkdir(dir, { recursive: true, mode: 0o755 });
    return true;
  }
  const unsafe = unsafeTarget(st);
  if (unsafe === null) return true;
  const m = `flush: ${dir} is ${unsafe}; not writing under it`;
  problems.push(m);
  say(m);
  return false;
}

/** The files of the state's log folder (root's), each read by fd as any file of the state. */
function logFiles(state: SourceDir): LogFile[] {
  const e = state.open(LOG_DIR);
  if (e.kind === "file") closeSync(e.fd);
  if (e.kind !== "dir") return [];
  const out: LogFile[] = [];
  try {
    for (const d of e.dir.entries()) {
      if (!d.isFile()) continue;
      const f = e.dir.open(d.name);
      if (f.kind === "dir") f.dir.close();
      if (f.kind !== "file") continue;
      try {
        out.push({ name: d.name, data: readAll(f.fd, f.st.size) });
      } finally {
        closeSync(f.fd);
      }
    }
  } finally {
    e.dir.close();
  }
  return out;
}

/**
 * Opens the state's relative path `rel` one name at a time from `state`, none through a symlink:
 * the entry, or the folder on the way that is a symlink (`via`). What is not a folder on the way
 * is as good as missing. The entry's fd is the caller's to close.
 */
function openPath(state: SourceDir, rel: string): Entry | { kind: "via"; via: string } {
  let dir = state;
  const names = rel.split("/");
  try {
    for (const [i, name] of names.entries()) {
      const e = dir.open(name);
      if (i === names.length - 1) return e;
      if (e.kind === "symlink") return { kind: "via", via: `${dir.shown}/${name}` };
      if (e.kind === "file") closeSync(e.fd);
      if (e.kind !== "dir") return { kind: "missing" };
      if (dir !== state) dir.close();
      dir = e.dir;
    }
    return { kind: "missing" };
  } finally {
    if (dir !== state) dir.close();
  }
}

/** Marks "flush" once in the state's timeline, before it is copied (a rerun adds nothing). */
async function markFlush(stateDir: string): Promise<void> {
  const f = path.join(stateDir, TIMELINE_FILE);
  const t = await fs.readFile(f, "utf8").catch(() => null);
  if (t === null) return;
  const r = parseTimeline(t);
  if (!r.ok || r.data.entries.some((e) => e.name === "flush")) return;
  r.data.entries.push({ name: "flush", at: Math.round(monotonicNowMs() * 10) / 10 });
  await fs.writeFile(`${f}.tmp`, JSON.stringify(r.data) + "\n", { mode: 0o644 });
  await fs.rename(`${f}.tmp`, f);
}

/** Mirrors the state's path `rel` (a file or a folder) under `to`, its hashes into `files`; what is refused goes to r.problems. */
async function keep(state: SourceDir, rel: string, to: string, files: Record<string, string>, r: FlushResult, say: (m: string) => void): Promise<void> {
  const problem = (m: string) => {
    r.problems.push(m);
    say(m);
  };
  const src = `${state.shown}/${rel}`;
  const e = openPath(state, rel);
  // the greeter owns folders in the state: a symlink it put there must not make root read what lies behind it
  if (e.kind === "via") return problem(`flush: ${e.via} is a symlink; '${rel}' not kept`);
  if (e.kind === "symlink") return problem(`flush: ${src} is a symlink; '${rel}' not kept`);
  if (e.kind === "other") return problem(`flush: ${src} is not a file or a folder; not kept`);
  if (e.kind === "missing") return; // nothing of that kind this boot
  try {
    const dst = path.join(to, rel);
    if (!(await targetDir(path.dirname(dst), r.problems, say))) return;
    if (e.kind === "dir") {
      if (!(await targetDir(dst, r.problems, say))) return;
      const got: Record<string, string> = {};
      const t = await flushTree(e.dir, dst, say, { into: got, prefix: rel });
      // in name order, not readdir's: the manifest is the same bytes at every run
      for (const k of Object.keys(got).sort()) files[k] = got[k]!;
      r.copied += t.copied;
      r.skipped += t.skipped;
      r.problems.push(...t.problems);
      return;
    }
    const d = await fs.lstat(dst).catch(() => null);
    if (d && !d.isFile()) return problem(`flush: ${dst} is ${d.isSymbolicLink() ? "a symlink" : "not a regular file"}; left alone`);
    const data = readAll(e.fd, e.st.size);
    if (d && (d.mode & 0o7777) === copyMode(e.st.mode) && (await fs.readFile(dst)).equals(data)) r.skipped++;
    else {
      await writeFileSafe(path.dirname(dst), path.basename(dst), data, e.st.mode);
      r.copied++;
    }
    files[rel] = sha(data);
  } finally {
    if (e.kind === "dir") e.dir.close();
    else closeSync(e.fd);
  }
}

export async function flushState(o: { stateDir: string; root: string; bootId: string; say: (m: string) => void }): Promise<PersistResult> {
  const r: PersistResult = { copied: 0, skipped: 0, problems: [], alreadyDone: false, logFile: null };
  const { stateDir, root, bootId, say } = o;
  const present = await fs.stat(stateDir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  const plan = present ? await readPlan(stateDir) : PlanSchema.parse({});
  const manifestDir = under(root, plan.persistTo);
  const manifestFile = path.join(manifestDir, MANIFEST);
  const manifest = await readManifest(manifestFile);
  if (!present) {
    r.alreadyDone = manifest.boots[bootId] !== undefined;
    return r;
  }
  // a greeter process that outlived the initrd: killed before anything it owns is read
  const owner = greeterOwner(stateDir);
  if (owner) {
    const k = await killUser(owner.uid, owner.gid, 5_000);
    if (k.killed > 0)
      say(`flush: killed ${k.killed} process${k.killed === 1 ? "" : "es"} of uid ${owner.uid} (the greeter's), still running after the greeter stopped`);
    if (k.left > 0) say(`flush: ${k.left} process${k.left === 1 ? "" : "es"} of uid ${owner.uid} outlived SIGKILL by 5 s, ignoring`);
  }
  await markFlush(stateDir);
  const entry: Manifest["boots"][string] = { log: null, files: {} };
  const state = SourceDir.open(stateDir);
  try {
    if (plan.logs !== null) {
      const dir = under(root, plan.logs);
      const text = bootLogText(logFiles(state));
      if (text !== null && (await targetDir(dir, r.problems, say))) {
        const name = `boot-${bootId}.log`;
        const old = await fs.readFile(path.join(dir, name)).catch(() => null);
        if (old?.equals(text)) r.skipped++;
        else {
          await writeFileSafe(dir, name, text, 0o640);
          r.copied++;
        }
        r.logFile = path.join(dir, name);
        entry.log = name;
        entry.files[path.join(path.relative(plan.persistTo, plan.logs), name)] = sha(text);
      }
    }
    for (const rel of plan.persist) await keep(state, rel, manifestDir, entry.files, r, say);
  } finally {
    state.close();
  }

  // the manifest last: it says "this boot is on disk", so it must not be there before the files are
  if (r.problems.length === 0) {
    manifest.boots[bootId] = entry;
    const ids = Object.keys(manifest.boots);
    for (const id of ids.slice(0, Math.max(0, ids.length - KEEP_BOOTS))) delete manifest.boots[id];
    const text = Buffer.from(JSON.stringify(manifest, null, 2) + "\n");
    if (await targetDir(manifestDir, r.problems, say)) {
      const old = await fs.readFile(manifestFile).catch(() => null);
      if (!old?.equals(text)) await writeFileSafe(manifestDir, MANIFEST, text, 0o644);
    }
  }
  return r;
}
