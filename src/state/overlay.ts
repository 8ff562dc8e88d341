// The state overlay (issue 4, part 1): a tmpfs at <runtime-dir>/state that holds everything foyer
// and its greeter write until the real root is up — foyer's log, the children's stdout/stderr, the
// greeter's HOME and XDG folders, the browser profile, first-boot answers, the boot timeline — so
// the disks can be fsck'd underneath and nothing is written to them before foyer-flush.service
// moves what the profile keeps. /run survives switch-root, so the tmpfs does too.
//
//   <runtime-dir>/state/            tmpfs, size= and nr_inodes= from the profile, root 0755
//     log/                          foyerd.log, greeter.log, display.log, seatd.log (0700)
//     greeter/                      the greeter user's own tmpfs: HOME and XDG_RUNTIME_DIR
//                                   (greeter-folders.ts)
//     overlay/<dev>-<ino>/{upper,work}/  upper layers of the profile's state.overlay paths, named
//                                   after the lower folder they belong to
//     timeline.json                 the boot timeline (timeline.ts)
//     persist.json                  what foyer-flush keeps, written by foyerd from the profile
//
// Mounting needs CAP_SYS_ADMIN. Without it (a container, a test as non-root) foyer runs on a plain
// directory at the same place and says so once: nothing else changes but the limits.
import {
  mkdirSync,
  readFileSync,
  statSync,
  lstatSync,
  readlinkSync,
  realpathSync,
  writeFileSync,
  renameSync,
  openSync,
  fstatSync,
  fchmodSync,
  fchownSync,
  closeSync,
  constants,
} from "node:fs";
import { FoyerError, describe, errnoOf } from "../base/errors.js";
import { firstLine, run } from "../base/command.js";
import { join, resolve } from "node:path";
import type { StateConfig } from "../profile/schema.js";

export const STATE_DIR = "state";
export const LOG_DIR = "log";
export const TIMELINE_FILE = "timeline.json";
export const PERSIST_FILE = "persist.json";

export function stateDir(runtimeDir: string): string {
  return join(runtimeDir, STATE_DIR);
}
export function logDir(runtimeDir: string): string {
  return join(stateDir(runtimeDir), LOG_DIR);
}

export interface MountInfo {
  mountPoint: string;
  fsType: string;
  source: string;
  superOptions: string;
}

/** /proc/self/mountinfo, with its octal escapes (\040 for a space) decoded. */
export function readMounts(file = "/proc/self/mountinfo"): MountInfo[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const out: MountInfo[] = [];
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return out;
  }
  for (const line of text.split("\n")) {
    const [pre, post] = line.split(" - ");
    if (!pre || !post) continue;
    const f = pre.split(" "),
      g = post.split(" ");
    out.push({ mountPoint: unescape(f[4] ?? ""), fsType: g[0] ?? "", source: unescape(g[1] ?? ""), superOptions: unescape(g[2] ?? "") });
  }
  return out;
}

export function isMountPoint(dir: string): boolean {
  const d = resolve(dir);
  return readMounts().some((m) => m.mountPoint === d);
}

export interface StateMount {
  dir: string;
  /** true: a tmpfs foyer mounted (or found mounted by an earlier foyerd); false: a plain directory */
  tmpfs: boolean;
  /** why it is a plain directory; once in the log */
  problem?: string;
  /** state.overlay paths now overlay-mounted, and the ones that could not be, with why */
  overlays: string[];
  overlayProblems: string[];
}

/** mount(8) and umount(8) take a moment; one that hangs (a dead network file system below) is given up on */
const MOUNT_TIMEOUT_MS = 30_000;

/** `argv` (mount or umount); undefined when it worked, else the first line it said, or why it could not run. */
async function mountTool(argv: string[], pkg: string): Promise<string | undefined> {
  try {
    const r = await run(argv, { timeoutMs: MOUNT_TIMEOUT_MS, maxOutput: 4096 });
    return r.code === 0 ? undefined : firstLine(r.stderr) || `'${argv[0]}' exited ${r.code ?? r.signal}`;
  } catch (e) {
    return errnoOf((e as Error).cause) === "ENOENT" ? `'${argv[0]}' not found (${pkg})` : describe(e);
  }
}

/** mount(8) with `args`; undefined when it worked, else the first line it said. */
export function mountCmd(args: string[]): Promise<string | undefined> {
  return mountTool(["mount", ...args], "util-linux");
}

/**
 * Mounts the state tmpfs (once: a restarted foyerd finds its tmpfs mounted and keeps what is in
 * it, logs included) and the overlays. Never throws for a refused mount: the caller logs
 * `problem` and runs on a plain directory.
 */
export async function mountState(runtimeDir: string, cfg: StateConfig): Promise<StateMount> {
  const dir = stateDir(runtimeDir);
  ownFolder(runtimeDir);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const r: StateMount = { dir, tmpfs: false, overlays: [], overlayProblems: [] };
  const here = readMounts().find((m) => m.mountPoint === resolve(dir));
  if (here?.fsType === "tmpfs") r.tmpfs = true;
  else {
    const problem = await mountCmd(["-t", "tmpfs", "-o", `size=${cfg.sizeMb}m,nr_inodes=${cfg.inodes},mode=0755,nosuid,nodev`, "foyer-state", dir]);
    if (problem) r.problem = problem;
    else r.tmpfs = true;
  }
  ownFolder(dir);
  mkdirSync(join(dir, LOG_DIR), { recursive: true, mode: 0o700 });
  for (const path of cfg.overlay) {
    const problem = await mountOverlay(dir, path);
    if (problem) r.overlayProblems.push(`'${path}': ${problem}`);
    else r.overlays.push(path);
  }
  return r;
}

/**
 * `path` as foyerd's own folder: made if missing, never a symlink, foyerd's, mode 0755 (the
 * greeter user passes through the runtime and state folders to its own; what is private inside
 * has its own mode), set through an fd.
 */
function ownFolder(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o755 });
  const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    const st = fstatSync(fd);
    const me = process.getuid?.() ?? 0;
    if (st.uid !== me) throw new FoyerError("access-denied", `'${path}' belongs to uid ${st.uid}, not to foyerd's`);
    if ((st.mode & 0o7777) !== 0o755) fchmodSync(fd, 0o755);
  } finally {
    closeSync(fd);
  }
}

/**
 * Why root must not mount over `path` by its name, or undefined. Each name on the way (a
 * symlink's target too) must sit in a folder no other uid can change: root's, not writable by
 * group or others (with an ACL the group bits are its mask, so a named user's grant shows there),
 * or root's sticky folder holding a real folder of root's (a symlink there may be a hard link
 * another uid made of root's symlink, where protected_hardlinks is off).
 * Otherwise that uid could put a symlink there, between the checks and mount(8), and have root
 * mount over a folder of its choosing, owned and moded as the one it showed. The path itself may
 * be anyone's (a home).
 */
function swappableBy(path: string, links = 0): string | undefined {
  if (links > 40) return `'${path}' has too many symlinks`;
  const names = path.split("/").filter(Boolean);
  let parent = lstatSync("/");
  let at = "/";
  for (const [k, name] of names.entries()) {
    const next = join(at, name);
    const st = lstatSync(next);
    const othersWrite = parent.uid !== 0 || (parent.mode & 0o022) !== 0;
    const sticky = parent.uid === 0 && (parent.mode & 0o1000) !== 0 && st.uid === 0 && st.isDirectory();
    if (othersWrite && !sticky) return `'${at}' is a folder that uid ${parent.uid} or others may change`;
    if (st.isSymbolicLink()) return swappableBy(resolve(at, readlinkSync(next), ...names.slice(k + 1)), links + 1);
    parent = st;
    at = next;
  }
  return undefined;
}

async function mountOverlay(dir: string, given: string): Promise<string | undefined> {
  let st, path: string, swappable: string | undefined;
  try {
    swappable = swappableBy(given);
    // once no other uid can change it, its target is what mount(8), which resolves it too, mounts on
    path = realpathSync(given);
    st = statSync(path);
  } catch {
    return "does not exist";
  }
  if (!st.isDirectory()) return "is not a directory";
  if (swappable) return `not mounted: ${swappable}`;
  if (readMounts().some((m) => m.mountPoint === path && m.fsType === "overlay" && m.superOptions.includes(`upperdir=${dir}/`))) return undefined;
  // named after the lower, not its place in the profile: an upper kept from an earlier foyerd
  // (another uid's files in it) never lands on another folder when the profile changed
  const layer = join(dir, "overlay", `${st.dev}-${st.ino}`);
  const upper = join(layer, "upper"),
    work = join(layer, "work");
  mkdirSync(upper, { recursive: true, mode: 0o755 });
  mkdirSync(work, { recursive: true, mode: 0o700 });
  // the upper's root takes the lower's owner and mode, so the merged folder looks like the real
  // one. Through an fd: an upper kept from an earlier foyerd is the lower owner's, and root's
  // chown must never follow a name (docs/security.md, rule 1)
  let fd: number;
  try {
    fd = openSync(upper, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (e) {
    return `its upper layer cannot be opened (${describe(e)})`;
  }
  try {
    try {
      fchownSync(fd, st.uid, st.gid);
    } catch {
      /* root only; the merged folder keeps the upper's owner */
    }
    fchmodSync(fd, st.mode & 0o7777);
  } finally {
    closeSync(fd);
  }
  // nosuid, nodev: the merged folder must not gain what a nosuid /home lacks
  return await mountCmd(["-t", "overlay", "foyer-overlay", "-o", `nosuid,nodev,lowerdir=${path},upperdir=${upper},workdir=${work}`, path]);
}

/** The overlays whose upper layer lives in `dir`, innermost first: they go before the tmpfs. */
export function overlaysOn(dir: string): string[] {
  const d = resolve(dir);
  return readMounts()
    .filter((m) => m.fsType === "overlay" && m.superOptions.split(",").some((o) => o.startsWith(`upperdir=${d}/`)))
    .map((m) => m.mountPoint)
    .reverse();
}

/** The plan foyer-flush follows, written by foyerd from its profile (the real root may not have the initrd's profile). */
export interface PersistPlan {
  logs: string | null;
  persist: string[];
  persistTo: string;
}

export function writePersistPlan(dir: string, cfg: StateConfig): void {
  const plan: PersistPlan = { logs: cfg.logs, persist: cfg.persist, persistTo: cfg.persistTo };
  const f = join(dir, PERSIST_FILE);
  writeFileSync(`${f}.tmp`, JSON.stringify(plan, null, 2) + "\n", { mode: 0o644 });
  renameSync(`${f}.tmp`, f);
}

/** umount(8) of `p` (`lazy`: detached now, freed when nothing holds it); undefined when it worked, else why not. */
export function umountCmd(p: string, lazy = false): Promise<string | undefined> {
  return mountTool(["umount", ...(lazy ? ["-l", p] : [p])], "util-linux");
}

async function umount(p: string): Promise<void> {
  const problem = await umountCmd(p);
  if (problem) throw new Error(problem);
}

/**
 * Overlays first (their upper layers live in the tmpfs), then what is mounted inside it (the
 * greeter's own tmpfs, greeter-folders.ts), deepest first, then the tmpfs; leaves the empty mount point.
 */
export async function unmountState(dir: string): Promise<void> {
  for (const o of overlaysOn(dir)) await umount(o);
  const d = resolve(dir);
  for (const m of readMounts()
    .filter((m) => m.mountPoint.startsWith(`${d}/`))
    .reverse())
    await umount(m.mountPoint);
  if (isMountPoint(dir)) await umount(dir);
  if (isMountPoint(dir)) throw new Error(`${dir} is still a mount point`);
}
