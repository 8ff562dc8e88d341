// The greeter user's folders: its HOME (the XDG config, cache, data and state folders, the
// browser's profile) and its XDG_RUNTIME_DIR (the compositor's socket), on a tmpfs of their own at
// <state>/greeter, made anew at every foyerd start, as logind makes /run/user/UID.
//
// foyerd is root and the greeter user owns what is inside, so foyerd never walks into it: a path
// inside could be a symlink the greeter planted, and root would create, chown or remove what lies
// behind it. A fresh tmpfs is root's alone (0755, root) until everything root puts there is in
// place; the greeter's folders are handed over last; a restarted foyerd detaches the old tmpfs
// instead of reading, chowning or removing anything in it. Without the privilege to mount, the
// same layout is a plain folder, the old one renamed aside and removed by the greeter user itself.
//
//   <state>/greeter/            tmpfs (state.sizeMb, state.inodes), root 0755
//     home/                     HOME, the greeter's, 0700: .cache .config .local/share .local/state
//       .config/chromium/       root's, 0755, holding crashpad's database "Crash Reports" (below):
//         Crash Reports/        root's, 0755: new/ pending/ completed/ attachments/ root's, 0555;
//           settings.dat        the greeter's, 0600 (crashpad's client id and upload consent)
//     xdg/                      XDG_RUNTIME_DIR, the greeter's, 0700
//       Xauthority              x11 stack: the X server's cookie (display/xauth.ts), the greeter's, 0600
import { spawn } from "node:child_process";
import { mkdirSync, lstatSync, lchownSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { FoyerError } from "../base/errors.js";
import { toolEnv } from "../base/command.js";
import type { StateConfig } from "../profile/schema.js";
import { isMountPoint, mountCmd, umountCmd } from "./overlay.js";

export const GREETER_DIR = "greeter";
/** crashpad's database folders (CrashReportDatabaseGeneric): made root's and read-only */
export const CRASHPAD_FOLDERS = ["new", "pending", "completed", "attachments"];

export interface GreeterFolders {
  home: string;
  xdgRuntime: string;
  /** the X server's Xauthority file; written only when makeGreeterFolders was given its bytes */
  xauthority: string;
  /** true: on a tmpfs of its own; false: a plain folder (no privilege to mount), `problem` says why */
  tmpfs: boolean;
  problem?: string;
  /** what was found in the way and set aside, for the log */
  setAside: string[];
}

/** Where the greeter's folders are under the state folder. */
export function greeterPaths(stateDir: string): { dir: string; home: string; xdgRuntime: string; xauthority: string } {
  const dir = join(stateDir, GREETER_DIR);
  return { dir, home: join(dir, "home"), xdgRuntime: join(dir, "xdg"), xauthority: join(dir, "xdg", "Xauthority") };
}

/** The folders below HOME that the greeter's programs expect (XDG_*_HOME). */
export const HOME_FOLDERS = [".cache", ".config", ".local", ".local/share", ".local/state"];

/** What root puts in the greeter's folders besides the folders themselves. */
export interface GreeterFiles {
  /** the Xauthority file's bytes (display/xauth.ts), for an X server the greeter runs */
  xauthority?: Buffer;
}

/**
 * Makes the greeter's folders anew for `user`. `stateDir` must be root's (foyerd's state tmpfs);
 * anything of an earlier foyerd's at <state>/greeter is detached or set aside, never entered.
 */
export async function makeGreeterFolders(
  stateDir: string,
  user: { uid: number; gid: number },
  cfg: StateConfig,
  files: GreeterFiles = {},
): Promise<GreeterFolders> {
  if (user.uid === 0) throw new FoyerError("invalid-argument", "the greeter's folders are for an unprivileged user");
  const st = lstatSync(stateDir);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0)
    throw new FoyerError("access-denied", `'${stateDir}' is not a folder only root may write to`);
  const p = greeterPaths(stateDir);
  const r: GreeterFolders = { home: p.home, xdgRuntime: p.xdgRuntime, xauthority: p.xauthority, tmpfs: false, setAside: [] };
  // an earlier foyerd's tmpfs: detached (lazily: its greeter may still hold files in it), never read
  while (isMountPoint(p.dir)) {
    const problem = await umountCmd(p.dir, true);
    if (problem) throw new FoyerError("internal", `cannot detach the old greeter folders at '${p.dir}': ${problem}`);
  }
  // a plain folder an earlier foyerd made (or anything else in the way): renamed aside in the
  // root-owned state folder, so nothing in it is ever resolved by root again
  if (lstatSync(p.dir, { throwIfNoEntry: false })) {
    const aside = join(stateDir, `.old-greeter-${randomBytes(6).toString("hex")}`);
    renameSync(p.dir, aside);
    r.setAside.push(aside);
    removeAs(aside, user);
  }
  mkdirSync(p.dir, { mode: 0o755 });
  const problem = await mountCmd([
    "-t",
    "tmpfs",
    "-o",
    `size=${cfg.sizeMb}m,nr_inodes=${cfg.inodes},mode=0755,uid=0,gid=0,nosuid,nodev`,
    "foyer-greeter",
    p.dir,
  ]);
  if (problem) r.problem = problem;
  else r.tmpfs = true;
  // everything below is made while only root can reach it: home is root's 0700 until its last step
  mkdirSync(p.home, { mode: 0o700 });
  mkdirSync(p.xdgRuntime, { mode: 0o700 });
  for (const d of HOME_FOLDERS) mkdirSync(join(p.home, d), { mode: 0o700 });
  // chromium's crashpad writes minidumps (memory, so maybe a typed passphrase) to
  // ~/.config/chromium/Crash Reports whatever the flags say (--disable-breakpad and
  // --disable-crash-reporter do not stop it). Its database is laid out here root's, with the
  // folders a dump would go into read-only: crashpad's handler opens it and runs, and can write no
  // dump. Not a root-owned file in its place: the handler then exits at once, and where chromium
  // starts slowly (an emulated CPU, test/vm/x11) the browser finds its handler gone and dies on
  // a CHECK (SIGTRAP) every time. settings.dat is the one file crashpad must open for writing.
  const crash = join(p.home, ".config", "chromium", "Crash Reports");
  mkdirSync(join(p.home, ".config", "chromium"), { mode: 0o755 });
  mkdirSync(crash, { mode: 0o755 });
  for (const d of CRASHPAD_FOLDERS) mkdirSync(join(crash, d), { mode: 0o555 });
  writeFileSync(join(crash, "settings.dat"), "", { mode: 0o600, flag: "wx" });
  lchownSync(join(crash, "settings.dat"), user.uid, user.gid);
  // the X server and the browser read the cookie as the greeter; once xdg/ is handed over root
  // never opens it again (foyerd's own connection has the cookie in memory)
  if (files.xauthority) {
    writeFileSync(p.xauthority, files.xauthority, { mode: 0o600, flag: "wx" });
    lchownSync(p.xauthority, user.uid, user.gid);
  }
  for (const d of [...HOME_FOLDERS, ""].map((d) => join(p.home, d))) lchownSync(d, user.uid, user.gid);
  lchownSync(p.xdgRuntime, user.uid, user.gid);
  return r;
}

/**
 * Removes a set-aside tree as `user`, in the background: what the greeter made, the greeter
 * removes, so no symlink inside can point root's unlink anywhere. What is root's in it (the
 * crash-report stand-in) stays, a few inodes, only where foyerd could not mount.
 */
function removeAs(path: string, user: { uid: number; gid: number }): void {
  try {
    // not base/command's run: nothing waits for it, and it may outlive this foyerd
    const p = spawn("rm", ["-rf", "--", path], { uid: user.uid, gid: user.gid, env: toolEnv(), stdio: "ignore", detached: true });
    p.on("error", () => {});
    p.unref();
  } catch {
    /* left in the tmpfs: it goes with it */
  }
}
