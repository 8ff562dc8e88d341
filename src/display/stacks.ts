// Display stacks: how the greeter reaches a screen, per profile.
//   wayland           cage (on DRM, optionally with seatd) running the kiosk browser
//   headless-wayland  the same cage with wlroots' headless backend: a real compositor, no screen
//   x11               an X server (Xorg or Xvfb, readiness from -displayfd; only clients with its
//                     cookie get in, xauth.ts) and chromium on it
//   headless          nothing: the UI is only served (greeter-url), for tests and remote use
// With cage the compositor and the browser are one unit: cage exits when its client does, so the
// greeter unit is "cage -- browser" and a restart restarts both (cage starts in ~0.1 s).
import { mkdirSync, writeFileSync, rmSync, readdirSync, renameSync, openSync, fstatSync, fchmodSync, closeSync, constants } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { spawn } from "node:child_process";
import type { Profile } from "../profile/schema.js";
import type { LaunchSpec, Launched, Launcher } from "../launch/direct.js";
import { FoyerError } from "../base/errors.js";
import { TOOL_PATH } from "../base/command.js";
import { withTimeout } from "../base/timeout.js";
import type { Logger } from "../base/log.js";
import { xkbEnv, type Keyboard } from "./keyboard.js";
import { deviceScale } from "./scale.js";
import type { SystemUser } from "./users.js";
import { inputReady } from "./drm-device.js";
import { writeChromiumKioskPolicy } from "./kiosk-policy.js";
import { grabBrowserKeys, type KeyGrab } from "./x11-keygrab.js";
import { describe } from "../base/errors.js";

export interface StackContext {
  profile: Profile;
  /** foyerd's runtime folder, root's: cog's content filter is written there */
  runtimeDir: string;
  /** the greeter user's HOME and XDG_RUNTIME_DIR, made before (src/state/greeter-folders.ts) */
  folders: { home: string; xdgRuntime: string; xauthority: string };
  /** x11: the X server's cookie (xauth.ts), also written to `folders.xauthority` before the hand-over */
  xCookie?: Buffer;
  /** where each unit's stdout+stderr file goes (in the state tmpfs) */
  logDir: string;
  user: SystemUser;
  keyboard: Keyboard;
  launcher: Launcher;
  log: Logger;
  /** a greeter URL with a token for one launch; only known once the server listens */
  url: () => string;
  /** origin the browser may load, e.g. http://127.0.0.1:4242 */
  origin: () => string;
  /** whether udev has set up an input device (drm-device.ts's inputReady, the default) */
  inputReady?: () => boolean;
}

export interface DisplayHandle {
  launched: Launched;
  ready: Promise<void>;
}

/**
 * The VT Xorg takes (its `vtN`), made the greeter group's in an image with the x11 stack
 * (packaging/foyer-image.sh, FOYER_X11_VT). Xorg runs as the greeter user: without it Xorg asks
 * /dev/tty0 for a free VT, which only root and the tty group may open. Not the console's tty1:
 * Xorg turns its VT's keyboard off (KDSKBMODE K_OFF), so the keys typed at the greeter never wait
 * in a tty's input queue, and may do so only on a VT that is its own (it is its controlling tty:
 * the launcher starts it as a session leader, and -keeptty keeps it in that session).
 */
export const XORG_VT = 2;

const BASE_ENV = { PATH: TOOL_PATH, LANG: "C.UTF-8" };

export class DisplayStack {
  #c: StackContext;
  #xDisplay?: string;
  #keyGrab?: KeyGrab;
  readonly greeterHome: string;
  readonly xdgRuntime: string;

  constructor(c: StackContext) {
    this.#c = c;
    this.greeterHome = c.folders.home;
    this.xdgRuntime = c.folders.xdgRuntime;
  }

  get user(): SystemUser {
    return this.#c.user;
  }

  get hasDisplay(): boolean {
    return this.#c.profile.display.stack === "x11";
  }
  get hasGreeter(): boolean {
    return this.#c.profile.display.stack !== "headless";
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

  #env(extra: Record<string, string> = {}): Record<string, string> {
    // the path only: the cookie itself stays out of every environment
    const x: Record<string, string> = this.#c.profile.display.stack === "x11" ? { XAUTHORITY: this.#c.folders.xauthority } : {};
    return {
      ...BASE_ENV,
      HOME: this.greeterHome,
      USER: this.#c.user.name,
      XDG_RUNTIME_DIR: this.xdgRuntime,
      XDG_CACHE_HOME: join(this.greeterHome, ".cache"),
      XDG_CONFIG_HOME: join(this.greeterHome, ".config"),
      XDG_DATA_HOME: join(this.greeterHome, ".local/share"),
      XDG_STATE_HOME: join(this.greeterHome, ".local/state"),
      // WebKit's network process must not consult a desktop's proxy settings: GNOME's GIO proxy
      // module aborts it where GSettings has no schemas (an initramfs), and the greeter is loopback
      GIO_USE_PROXY_RESOLVER: "dummy",
      GSETTINGS_BACKEND: "memory",
      // no system bus for the greeter: GLib's clients in cog (the network monitor) end the
      // process when the bus goes, and the initrd's bus daemon stops at switch-root before
      // foyerd has kept the greeter's last frame. Nothing on the bus is the greeter's business
      DBUS_SYSTEM_BUS_ADDRESS: "unix:path=/dev/null",
      GIO_USE_NETWORK_MONITOR: "base",
      ...x,
      ...extra,
    };
  }

  #spec(name: string, argv: string[], env: Record<string, string>, extraPipes = 0): LaunchSpec {
    return { name, argv, uid: this.#c.user.uid, gid: this.#c.user.gid, env, logFile: join(this.#c.logDir, `${name}.log`), extraPipes, cwd: this.greeterHome };
  }

  /** The kiosk browser's argv for this stack. */
  browserArgv(wayland: boolean): string[] {
    const d = this.#c.profile.display;
    const g = this.#c.profile.greeter;
    const scale = this.scale;
    if (d.browser === "cog") {
      // WebKit content rules: block every load but the greeter's own origin (http and ws)
      const filter = join(this.#c.runtimeDir, "cog-content-filter.json");
      const host = this.#c.origin().replace(/^http:\/\//, "").replace(/\./g, "\\.");
      writeRootFile(filter, JSON.stringify([
        { trigger: { "url-filter": ".*" }, action: { type: "block" } },
        // WebKit's rule regexes have no disjunction: one rule per scheme
        { trigger: { "url-filter": `^http://${host}/` }, action: { type: "ignore-previous-rules" } },
        { trigger: { "url-filter": `^ws://${host}/` }, action: { type: "ignore-previous-rules" } },
      ]));
      return ["cog", `--platform=${wayland ? "wl" : "x11"}`, "--webprocess-failure=exit", `--content-filter=${filter}`, ...(scale !== 1 ? [`--device-scale=${scale}`] : []), this.#c.url()];
    }
    const argv = [
      "chromium",
      "--kiosk",
      "--no-first-run",
      "--no-default-browser-check",
      `--user-data-dir=${join(this.greeterHome, "chromium")}`,
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-breakpad",
      "--disable-features=Translate,MediaRouter,DialMediaRouteProvider",
      "--noerrdialogs",
      "--disable-session-crashed-bubble",
      "--disable-infobars",
      "--password-store=basic",
      "--disable-gpu",
      // in device-independent pixels: at scale 2 a 2880-pixel screen is 1440 wide
      `--window-size=${Math.round(d.width / scale)},${Math.round(d.height / scale)}`,
      "--window-position=0,0",
      // chromium's own guess comes from the X server's or compositor's DPI, which Xvfb, cage's
      // headless output and many panels in an initramfs report as 96: say it
      `--force-device-scale-factor=${scale}`,
    ];
    if (wayland) argv.push("--ozone-platform=wayland");
    if (g.debugPort !== null) argv.push(`--remote-debugging-port=${g.debugPort}`, "--remote-debugging-address=127.0.0.1");
    argv.push(this.#c.url());
    return argv;
  }

  /** the greeter's device scale factor (profile display.scale, or Plymouth's HiDPI rule) */
  get scale(): number {
    const d = this.#c.profile.display;
    const real = d.stack === "wayland" || (d.stack === "x11" && d.xserver === "Xorg");
    return deviceScale(d.scale, real, d);
  }

  /**
   * A new layout for the greeter. The X server takes it at once (setxkbmap on the running
   * display; resolves when setxkbmap succeeded). cage reads XKB_DEFAULT_* only at start and has no
   * IPC to change its keymap, so for cage this returns "restart": the caller restarts the greeter
   * unit (cage starts in ~0.1 s, then the browser), which then starts with the new env.
   */
  /** The greeter's layout: this stack's, the one owner of it (vconsole.conf's, then the person's choice). */
  get keyboard(): Keyboard {
    return this.#c.keyboard;
  }

  async setKeyboard(k: Keyboard): Promise<"applied" | "restart" | "recorded"> {
    this.#c.keyboard = k;
    const stack = this.#c.profile.display.stack;
    if (stack === "x11") {
      if (this.#xDisplay) await this.#applyXkb();
      return "applied";
    }
    return stack === "headless" ? "recorded" : "restart";
  }

  /**
   * Input devices were plugged in or pulled out. Xorg gives a new keyboard its configured default
   * keymap, not the one setxkbmap set on the keyboards there before (a long-known X behaviour), so
   * on X the layout is set again; cage gives each new keyboard its XKB_DEFAULT_* by itself.
   */
  async inputDevicesChanged(): Promise<void> {
    if (this.#c.profile.display.stack === "x11" && this.#xDisplay) {
      await this.#applyXkb();
      this.#c.log.info("keyboard layout set again for the input devices plugged in", { layout: this.#c.keyboard.layout });
    }
  }

  /** x11 only: starts the X server; `ready` resolves when it wrote its display number. */
  startDisplay(): DisplayHandle {
    const d = this.#c.profile.display;
    const cookie = this.#c.xCookie;
    // without -auth the X server takes every local client: never started without one
    if (!cookie) throw new FoyerError("display-failed", "no X authorization cookie to start the X server with");
    const auth = ["-auth", this.#c.folders.xauthority];
    const argv =
      d.xserver === "Xvfb"
        ? ["Xvfb", "-displayfd", "3", ...auth, "-screen", "0", `${d.width}x${d.height}x24`, "-nolisten", "tcp", "-noreset"]
        : ["Xorg", `vt${XORG_VT}`, "-displayfd", "3", ...auth, "-nolisten", "tcp", "-noreset", "-novtswitch", "-keeptty"];
    const launched = this.#c.launcher.start(this.#spec("display", argv, this.#env(), 1));
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
          this.#c.log.info("X server ready", { display: this.#xDisplay, server: d.xserver });
          void this.#applyXkb().catch(() => {});
          // the browser starts once its reserved accelerators are taken (x11-keygrab.ts); a
          // grab that fails is logged there, and the greeter starts anyway
          this.#keyGrab?.close();
          const grab = (this.#keyGrab = grabBrowserKeys(this.#xDisplay, cookie, this.#c.log));
          void withTimeout(grab.ready, 5_000, "key grab").catch(() => {}).finally(resolve);
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

  /** Whether the greeter draws on the machine's own display (DRM): only then is there a frame to hand over. */
  get onScreen(): boolean {
    return this.#c.profile.display.stack === "wayland";
  }

  /**
   * The greeter's frame as a binary PPM, from its compositor (grim over wlr-screencopy, as the
   * greeter user): what src/display/handoff.ts leaves on the screen. Rejects after `ms`, or past
   * `maxBytes`: the compositor is the greeter's, and says how large its output is.
   */
  grabFrame(ms: number, maxBytes: number): Promise<Buffer> {
    let socket: string | undefined;
    try {
      socket = readdirSync(this.xdgRuntime).find((f) => /^wayland-\d+$/.test(f));
    } catch {
      /* no runtime folder: no compositor */
    }
    if (!socket) return Promise.reject(new FoyerError("display-failed", "no compositor socket to take the frame from"));
    return new Promise((resolve, reject) => {
      const p = spawn("grim", ["-t", "ppm", "-"], { uid: this.#c.user.uid, gid: this.#c.user.gid, env: this.#env({ WAYLAND_DISPLAY: socket! }), stdio: ["ignore", "pipe", "ignore"] });
      const chunks: Buffer[] = [];
      let bytes = 0;
      const timer = setTimeout(() => {
        p.kill("SIGKILL");
        reject(new FoyerError("timeout", `grim took over ${ms} ms`));
      }, ms);
      p.stdout.on("data", (d: Buffer) => {
        bytes += d.length;
        if (bytes <= maxBytes) return void chunks.push(d);
        clearTimeout(timer);
        p.kill("SIGKILL");
        reject(new FoyerError("display-failed", `the greeter's frame is larger than ${maxBytes} bytes`));
      });
      p.on("error", (e) => {
        clearTimeout(timer);
        reject(new FoyerError("spawn-failed", `grim: ${describe(e)}`));
      });
      p.on("close", (code) => {
        clearTimeout(timer);
        if (code === 0) resolve(Buffer.concat(chunks));
        else reject(new FoyerError("display-failed", `grim exited ${code}`));
      });
    });
  }

  #applyXkb(): Promise<void> {
    const k = this.#c.keyboard;
    const args = ["-display", this.#xDisplay!, "-layout", k.layout];
    // an empty -variant resets a variant set before (de(neo) → us must not stay neo)
    args.push("-variant", k.variant);
    if (k.model) args.push("-model", k.model);
    return new Promise((resolve, reject) => {
      const p = spawn("setxkbmap", args, { uid: this.#c.user.uid, gid: this.#c.user.gid, env: this.#env(), stdio: "ignore" });
      p.on("error", () => {
        this.#c.log.warning("setxkbmap not found, keeping the X server's layout");
        reject(new FoyerError("display-failed", "setxkbmap not found"));
      });
      p.on("exit", (code) => {
        if (code === 0) return resolve();
        this.#c.log.warning(`setxkbmap exited ${code}, keeping the X server's layout`);
        reject(new FoyerError("display-failed", `setxkbmap exited ${code}`));
      });
    });
  }

  /**
   * chromium's managed policy, with the greeter's origin (known now: the server listens). Written
   * before every launch, so a policy directory on a fresh tmpfs is filled again. A failure is
   * logged and the greeter starts anyway: a prompt with a weaker kiosk beats no prompt.
   */
  #writeChromiumPolicy(): void {
    const g = this.#c.profile.greeter;
    if (this.#c.profile.display.browser !== "chromium") return;
    if (g.chromiumPolicyDir === null) {
      if (!this.#policyWarned) this.#c.log.warning("no greeter.chromiumPolicyDir: chromium's kiosk is locked by its flags only, ignoring");
      this.#policyWarned = true;
      return;
    }
    try {
      const path = writeChromiumKioskPolicy(g.chromiumPolicyDir, this.#c.origin(), { remoteDebugging: g.debugPort !== null });
      if (!this.#policyWarned) this.#c.log.info("chromium kiosk policy written", { path });
      this.#policyWarned = true;
    } catch (e) {
      this.#c.log.warning(`cannot write chromium's kiosk policy into '${g.chromiumPolicyDir}': ${describe(e)}, ignoring`);
    }
  }
  #policyWarned = false;

  startGreeter(): Launched {
    const d = this.#c.profile.display;
    this.#writeChromiumPolicy();
    switch (d.stack) {
      case "x11":
        if (!this.#xDisplay) throw new FoyerError("display-failed", "no X display to start the greeter on");
        return this.#c.launcher.start(this.#spec("greeter", this.browserArgv(false), this.#env({ DISPLAY: this.#xDisplay })));
      case "wayland":
      case "headless-wayland": {
        const env = this.#env({ ...xkbEnv(this.#c.keyboard), WLR_RENDERER: d.renderer === "auto" ? "" : d.renderer });
        if (!env.WLR_RENDERER) delete env.WLR_RENDERER;
        // with a software compositor the browser renders in software too: Mesa's llvmpipe, without
        // opening a DRM device the greeter user cannot (and need not) open
        if (d.renderer === "pixman") env.LIBGL_ALWAYS_SOFTWARE = "1";
        if (d.stack === "headless-wayland") Object.assign(env, { WLR_BACKENDS: "headless", WLR_LIBINPUT_NO_DEVICES: "1", WLR_HEADLESS_OUTPUTS: "1" });
        if (d.seatd && d.stack === "wayland") env.LIBSEAT_BACKEND = "seatd";
        // no keyboard yet (a USB one behind a slow hub, or plugged in at the prompt): wlroots will not
        // start without an input device unless told to, and then takes each one udev announces, with
        // the same layout (test/vm/unlock plugs a keyboard in at the prompt). Only then: with a
        // device there cage starts as it always did.
        if (d.stack === "wayland" && !(this.#c.inputReady ?? inputReady)()) {
          env.WLR_LIBINPUT_NO_DEVICES = "1";
          this.#c.log.notice("no input device set up yet: cage starts without one and takes a keyboard when it is plugged in");
        }
        const rotate = Array.from({ length: d.rotate }, () => "-r");
        const cage = ["cage", "-d", ...rotate, "--"];
        return this.#c.launcher.start({ ...this.#spec("greeter", [...cage, ...this.browserArgv(true)], env), childArgvAt: cage.length });
      }
      case "headless":
        throw new FoyerError("unsupported", "the headless stack has no greeter process");
    }
  }

  /** seatd for the wayland stack on DRM without logind; runs as root, hands the seat to the greeter's group. */
  seatdSpec(): LaunchSpec | undefined {
    if (!this.#c.profile.display.seatd || this.#c.profile.display.stack !== "wayland") return undefined;
    return { name: "seatd", argv: ["seatd", "-g", this.#c.user.name], env: { ...BASE_ENV }, logFile: join(this.#c.logDir, "seatd.log") };
  }
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
