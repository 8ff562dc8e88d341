// An X server (Xorg, or Xvfb for tests) as its own unit, and the kiosk browser on it: readiness
// from -displayfd; only clients with its cookie get in (xauth.ts); foyerd grabs the browser's
// reserved keys (x11-keygrab.ts) and sets the layout with setxkbmap, so a new layout needs no
// restart.
import { spawn } from "node:child_process";
import type { Profile } from "../profile/schema.js";
import type { LaunchSpec, Launched } from "../launch/direct.js";
import { FoyerError } from "../base/errors.js";
import { withTimeout } from "../base/timeout.js";
import type { Keyboard } from "./keyboard.js";
import { grabBrowserKeys, type KeyGrab } from "./x11-keygrab.js";
import { browserArgv, greeterEnv, greeterSpec, type BrowserFacts, type Env, type GreeterFacts } from "./greeter-args.js";
import { StackBase, noCompositor } from "./stack-base.js";
import type { DisplayHandle, KeyboardApplied } from "./stacks.js";

/**
 * The VT Xorg takes (its `vtN`), made the greeter group's in an image with the x11 stack
 * (packaging/foyer-image.sh, FOYER_X11_VT). Xorg runs as the greeter user: without it Xorg asks
 * /dev/tty0 for a free VT, which only root and the tty group may open. Not the console's tty1:
 * Xorg turns its VT's keyboard off (KDSKBMODE K_OFF), so the keys typed at the greeter never wait
 * in a tty's input queue, and may do so only on a VT that is its own (it is its controlling tty:
 * the launcher starts it as a session leader, and -keeptty keeps it in that session).
 */
export const XORG_VT = 2;

/** The greeter's facts on X: its clients find the cookie's file by XAUTHORITY. */
export interface XFacts extends GreeterFacts {
  xauthority: string;
}

/** The environment of every X client of the greeter's: the cookie's path only, never the cookie. */
export function xEnv(f: XFacts, extra: Env = {}): Env {
  return greeterEnv(f, { XAUTHORITY: f.xauthority, ...extra });
}

/** The X server: its display number on fd 3, the cookie's file, no TCP; without -auth it takes every local client. */
export function xServerSpec(d: Profile["display"], f: XFacts): LaunchSpec {
  const auth = ["-auth", f.xauthority];
  const argv =
    d.xserver === "Xvfb"
      ? ["Xvfb", "-displayfd", "3", ...auth, "-screen", "0", `${d.width}x${d.height}x24`, "-nolisten", "tcp", "-noreset"]
      : ["Xorg", `vt${XORG_VT}`, "-displayfd", "3", ...auth, "-nolisten", "tcp", "-noreset", "-novtswitch", "-keeptty"];
  return greeterSpec(f, "display", argv, xEnv(f), 1);
}

/** The greeter unit on X: the browser alone, on `display`. */
export function xGreeterSpec(p: Profile, f: XFacts, b: BrowserFacts, display: string): LaunchSpec {
  return greeterSpec(f, "greeter", browserArgv(p, f.home, b, "x11"), xEnv(f, { DISPLAY: display }));
}

/** setxkbmap's arguments for a layout on `display`; an empty -variant resets a variant set before (de(neo) → us must not stay neo). */
export function setxkbmapArgs(display: string, k: Keyboard): string[] {
  return ["-display", display, "-layout", k.layout, "-variant", k.variant, ...(k.model ? ["-model", k.model] : [])];
}

export class XStack extends StackBase {
  readonly hasDisplay = true;
  readonly hasGreeter = true;
  readonly onScreen = false;
  protected readonly realOutput = this.c.profile.display.xserver === "Xorg";
  #xDisplay?: string;
  #keyGrab?: KeyGrab;

  get #xFacts(): XFacts {
    return { ...this.facts, xauthority: this.c.folders.xauthority };
  }

  /** The X server takes a layout at once (setxkbmap on the running display; resolves when setxkbmap succeeded). */
  protected async applyKeyboard(): Promise<KeyboardApplied> {
    if (this.#xDisplay) await this.#applyXkb();
    return "applied";
  }

  /**
   * Input devices were plugged in or pulled out. Xorg gives a new keyboard its configured default
   * keymap, not the one setxkbmap set on the keyboards there before (a long-known X behaviour), so
   * the layout is set again; cage gives each new keyboard its XKB_DEFAULT_* by itself.
   */
  override async inputDevicesChanged(): Promise<void> {
    if (!this.#xDisplay) return;
    await this.#applyXkb();
    this.c.log.info("keyboard layout set again for the input devices plugged in", { layout: this.c.keyboard.layout });
  }

  override startDisplay(): DisplayHandle {
    const d = this.c.profile.display;
    const cookie = this.c.xCookie;
    // without -auth the X server takes every local client: never started without one
    if (!cookie) throw new FoyerError("display-failed", "no X authorization cookie to start the X server with");
    const launched = this.c.launcher.start(xServerSpec(d, this.#xFacts));
    const ready = new Promise<void>((resolve, reject) => {
      let text = "";
      let seen = false;
      const pipe = launched.pipes[0];
      if (!pipe) return reject(new FoyerError("display-failed", "X server has no -displayfd pipe"));
      pipe.on("data", (chunk: Buffer) => {
        text += chunk.toString("latin1");
        const m = /^(\d+)\n/.exec(text);
        if (m && !seen) {
          seen = true;
          this.#xDisplay = `:${m[1]}`;
          this.c.log.info("X server ready", { display: this.#xDisplay, server: d.xserver });
          void this.#applyXkb().catch(() => {});
          // the browser starts once its reserved accelerators are taken (x11-keygrab.ts); a
          // grab that fails is logged there, and the greeter starts anyway
          this.#keyGrab?.close();
          const grab = (this.#keyGrab = grabBrowserKeys(this.#xDisplay, cookie, this.c.log));
          void withTimeout(grab.ready, 5_000, "key grab")
            .catch(() => {})
            .finally(resolve);
        }
      });
      pipe.on("error", () => {});
      void launched.exited.then(() => {
        this.#keyGrab?.close();
        this.#keyGrab = undefined;
        reject(new FoyerError("display-failed", "X server exited before it was ready"));
      });
    });
    ready.catch(() => {});
    return { launched, ready };
  }

  grabFrame(): Promise<Buffer> {
    return noCompositor();
  }

  startGreeter(): Launched {
    this.writeChromiumPolicy();
    if (!this.#xDisplay) throw new FoyerError("display-failed", "no X display to start the greeter on");
    return this.c.launcher.start(xGreeterSpec(this.c.profile, this.#xFacts, this.browserFacts(), this.#xDisplay));
  }

  #applyXkb(): Promise<void> {
    const args = setxkbmapArgs(this.#xDisplay!, this.c.keyboard);
    return new Promise((resolve, reject) => {
      const p = spawn("setxkbmap", args, { uid: this.c.user.uid, gid: this.c.user.gid, env: xEnv(this.#xFacts), stdio: "ignore" });
      p.on("error", () => {
        this.c.log.warning("setxkbmap not found, keeping the X server's layout");
        reject(new FoyerError("display-failed", "setxkbmap not found"));
      });
      p.on("exit", (code) => {
        if (code === 0) return resolve();
        this.c.log.warning(`setxkbmap exited ${code}, keeping the X server's layout`);
        reject(new FoyerError("display-failed", `setxkbmap exited ${code}`));
      });
    });
  }
}
