// What the stacks share, and the effects they share: the keyboard layout they own, the greeter's
// /tmp, chromium's policy and cog's filter written before a launch, the facts the argument
// builders (greeter-args.ts) are given. Each kind (stack-cage.ts, stack-x11.ts, stack-headless.ts)
// says what it starts.
import { mkdirSync, writeFileSync, rmSync, renameSync, openSync, fstatSync, fchmodSync, closeSync, constants } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { LaunchSpec, Launched } from "../launch/direct.js";
import { FoyerError, describe } from "../base/errors.js";
import type { Keyboard } from "./keyboard.js";
import { deviceScale } from "./scale.js";
import type { SystemUser } from "./users.js";
import { writeChromiumKioskPolicy } from "./kiosk-policy.js";
import { cogContentFilter, COG_FILTER_FILE, type BrowserFacts, type GreeterFacts } from "./greeter-args.js";
import type { DisplayHandle, DisplayStack, KeyboardApplied, StackContext } from "./stacks.js";

export abstract class StackBase implements DisplayStack {
  protected readonly c: StackContext;
  readonly greeterHome: string;
  readonly xdgRuntime: string;
  abstract readonly hasDisplay: boolean;
  abstract readonly hasGreeter: boolean;
  abstract readonly onScreen: boolean;
  /** whether the greeter shows on a real output (cage on DRM, Xorg), whose size then sets the scale */
  protected abstract readonly realOutput: boolean;
  #policyWarned = false;

  constructor(c: StackContext) {
    this.c = c;
    this.greeterHome = c.folders.home;
    this.xdgRuntime = c.folders.xdgRuntime;
  }

  get user(): SystemUser {
    return this.c.user;
  }

  /** The greeter's layout: this stack's, the one owner of it (vconsole.conf's, then the person's choice). */
  get keyboard(): Keyboard {
    return this.c.keyboard;
  }

  /** A new layout for the greeter: "applied" at once (X), "restart" the greeter unit to take it (cage), or "recorded". */
  setKeyboard(k: Keyboard): Promise<KeyboardApplied> {
    this.c.keyboard = k;
    return this.applyKeyboard();
  }
  protected abstract applyKeyboard(): Promise<KeyboardApplied>;

  /** Input devices were plugged in or pulled out: only X needs to be told its layout again. */
  async inputDevicesChanged(): Promise<void> {}

  /** the greeter's device scale factor (profile display.scale, or Plymouth's HiDPI rule) */
  get scale(): number {
    const d = this.c.profile.display;
    return deviceScale(d.scale, this.realOutput, d);
  }

  /**
   * The X server (or cage's Xwayland) puts its socket in /tmp/.X11-unix (sticky, world-writable);
   * an initramfs's /tmp is often bare, and one the X server made would be the greeter's, which
   * could swap the socket foyerd's key grab connects to. /tmp is world-writable, so its .X11-unix
   * may be anybody's, or a symlink: its mode is set through an fd opened without following, and
   * one that is not root's is set aside.
   */
  prepareTmp(): void {
    // / is root's: /tmp is whatever root made it (a symlink to /var/tmp is root's choice)
    stickyDir("/tmp", true);
    stickyDir("/tmp/.X11-unix", false);
  }

  /** seatd, for the stacks on DRM that need one */
  seatdSpec(): LaunchSpec | undefined {
    return undefined;
  }

  startDisplay(): DisplayHandle {
    throw new FoyerError("unsupported", "only the x11 stack has a display server of its own");
  }

  abstract startGreeter(): Launched;

  greeterPainted(): void {}

  abstract grabFrame(ms: number, maxBytes: number): Promise<Buffer>;

  protected get facts(): GreeterFacts {
    return { user: this.c.user, home: this.greeterHome, xdgRuntime: this.xdgRuntime, logDir: this.c.logDir };
  }

  /** The browser's facts for one launch: takes the launch's URL (its token), and writes cog's filter first. */
  protected browserFacts(): BrowserFacts {
    const scale = this.scale;
    const rt = this.c.runtimeDir;
    const contentFilter = this.c.profile.display.browser === "cog" ? writeCogFilter(rt, this.c.origin()) : join(rt, COG_FILTER_FILE);
    return { scale, url: this.c.url(), contentFilter, ...(this.c.background ? { background: this.c.background } : {}) };
  }

  /**
   * chromium's managed policy, with the greeter's origin (known now: the server listens). Written
   * before every launch, so a policy directory on a fresh tmpfs is filled again. A failure is
   * logged and the greeter starts anyway: a prompt with a weaker kiosk beats no prompt.
   */
  protected writeChromiumPolicy(): void {
    const g = this.c.profile.greeter;
    if (this.c.profile.display.browser !== "chromium") return;
    if (g.chromiumPolicyDir === null) {
      if (!this.#policyWarned) this.c.log.warning("no greeter.chromiumPolicyDir: chromium's kiosk is locked by its flags only, ignoring");
      this.#policyWarned = true;
      return;
    }
    try {
      const path = writeChromiumKioskPolicy(g.chromiumPolicyDir, this.c.origin(), { remoteDebugging: g.debugPort !== null });
      if (!this.#policyWarned) this.c.log.info("chromium kiosk policy written", { path });
      this.#policyWarned = true;
    } catch (e) {
      this.c.log.warning(`cannot write chromium's kiosk policy into '${g.chromiumPolicyDir}': ${describe(e)}, ignoring`);
    }
  }
}

/** What grabFrame gives where the greeter has no compositor (stack-cage.ts has one). */
export function noCompositor(): Promise<Buffer> {
  return Promise.reject(new FoyerError("display-failed", "no compositor socket to take the frame from"));
}

/** cog's content filter for `origin`, written into foyerd's runtime folder (root's); its path. */
export function writeCogFilter(runtimeDir: string, origin: string): string {
  const path = join(runtimeDir, COG_FILTER_FILE);
  writeRootFile(path, cogContentFilter(origin));
  return path;
}

/** A file in a folder only root writes to, replaced whole (a temp of its own, then a rename), 0644. */
function writeRootFile(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  writeFileSync(tmp, text, { mode: 0o644, flag: "wx" });
  renameSync(tmp, path);
}

/**
 * `path` as a root-owned sticky folder, mode 1777, set through an fd: never through a symlink
 * (unless `follow`: a path only root can change), and one that is not a folder of root's is
 * renamed aside (root may, in a sticky folder) and made anew.
 */
function stickyDir(path: string, follow: boolean): void {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      mkdirSync(path, { mode: 0o700 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY | (follow ? 0 : constants.O_NOFOLLOW));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (follow || (code !== "ELOOP" && code !== "ENOTDIR")) throw e;
      renameSync(path, `${path}.foyer-aside-${randomBytes(4).toString("hex")}`);
      continue;
    }
    try {
      const st = fstatSync(fd);
      if (st.uid !== 0 && !follow) {
        renameSync(path, `${path}.foyer-aside-${randomBytes(4).toString("hex")}`);
        continue;
      }
      if ((st.mode & 0o7777) !== 0o1777) fchmodSync(fd, 0o1777);
      return;
    } finally {
      closeSync(fd);
    }
  }
  throw new FoyerError("access-denied", `'${path}' keeps being replaced: not made a sticky folder`);
}
