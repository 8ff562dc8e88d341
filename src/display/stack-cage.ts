// cage running the kiosk browser: on DRM (stack "wayland", with seatd where there is no logind)
// or on wlroots' headless backend ("headless-wayland": a real compositor, no screen). The
// compositor and the browser are one unit: cage exits when its client does, so the greeter unit
// is "cage -- browser" and a restart restarts both (cage starts in ~0.1 s).
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { spawn } from "node:child_process";
import type { Profile } from "../profile/schema.js";
import type { LaunchSpec, Launched } from "../launch/direct.js";
import { FoyerError, describe } from "../base/errors.js";
import { xkbEnv, type Keyboard } from "./keyboard.js";
import type { SystemUser } from "./users.js";
import { inputReady } from "./drm-device.js";
import { BASE_ENV, browserArgv, greeterEnv, greeterSpec, type BrowserFacts, type Env, type GreeterFacts } from "./greeter-args.js";
import { StackBase, noCompositor } from "./stack-base.js";
import { splashGoes, splashStays } from "./splash.js";
import type { KeyboardApplied } from "./stacks.js";

type Display = Profile["display"];

/** cage's argv up to its client's: `-d` (no client-side decorations), `-r` a quarter turn each. */
export function cageArgv(d: Display): string[] {
  return ["cage", "-d", ...Array.from({ length: d.rotate }, () => "-r"), "--"];
}

/** What cage is told besides the greeter's environment: the layout, the renderer, its backend. */
export function cageEnv(d: Display, k: Keyboard, input: boolean): Env {
  const env: Env = { ...xkbEnv(k) };
  if (d.renderer !== "auto") env.WLR_RENDERER = d.renderer;
  // with a software compositor the browser renders in software too: Mesa's llvmpipe, without
  // opening a DRM device the greeter user cannot (and need not) open
  if (d.renderer === "pixman") env.LIBGL_ALWAYS_SOFTWARE = "1";
  if (d.stack === "headless-wayland") Object.assign(env, { WLR_BACKENDS: "headless", WLR_LIBINPUT_NO_DEVICES: "1", WLR_HEADLESS_OUTPUTS: "1" });
  if (d.seatd && d.stack === "wayland") env.LIBSEAT_BACKEND = "seatd";
  // no keyboard yet (a USB one behind a slow hub, or plugged in at the prompt): wlroots will not
  // start without an input device unless told to, and then takes each one udev announces, with
  // the same layout (test/vm/unlock plugs a keyboard in at the prompt). Only then: with a
  // device there cage starts as it always did.
  if (d.stack === "wayland" && !input) env.WLR_LIBINPUT_NO_DEVICES = "1";
  return env;
}

/** The greeter unit: cage and the browser (after foyer-splash, which becomes it), its child from `childArgvAt`. */
export function cageGreeterSpec(p: Profile, f: GreeterFacts, b: BrowserFacts, k: Keyboard, input: boolean, splash: string[] = []): LaunchSpec {
  const cage = cageArgv(p.display);
  const argv = [...cage, ...splash, ...browserArgv(p, f.home, b, "wayland")];
  return { ...greeterSpec(f, "greeter", argv, greeterEnv(f, cageEnv(p.display, k, input))), childArgvAt: cage.length };
}

/** seatd for cage on DRM without logind; runs as root, hands the seat to the greeter's group. */
export function seatdSpec(d: Display, user: SystemUser, logDir: string): LaunchSpec | undefined {
  if (!d.seatd || d.stack !== "wayland") return undefined;
  return { name: "seatd", argv: ["seatd", "-g", user.name], env: { ...BASE_ENV }, logFile: join(logDir, "seatd.log") };
}

export class CageStack extends StackBase {
  readonly hasDisplay = false;
  readonly hasGreeter = true;
  /** on DRM: the stack "wayland" (not its headless twin) */
  readonly onScreen = this.c.profile.display.stack === "wayland";
  protected readonly realOutput = this.onScreen;

  /** cage reads XKB_DEFAULT_* only at start and has no IPC to change its keymap: the caller restarts the greeter unit */
  protected async applyKeyboard(): Promise<KeyboardApplied> {
    return "restart";
  }

  override seatdSpec(): LaunchSpec | undefined {
    return seatdSpec(this.c.profile.display, this.c.user, this.c.logDir);
  }

  startGreeter(): Launched {
    this.writeChromiumPolicy();
    const input = !this.onScreen || (this.c.inputReady ?? inputReady)();
    if (!input) this.c.log.notice("no input device set up yet: cage starts without one and takes a keyboard when it is plugged in");
    const browser = this.browserFacts();
    const splash = this.c.splash;
    if (splash) splashStays(this.c.runtimeDir);
    return this.c.launcher.start(cageGreeterSpec(this.c.profile, this.facts, browser, this.c.keyboard, input, splash));
  }

  override greeterPainted(): void {
    if (!this.c.splash) return;
    try {
      splashGoes(this.c.runtimeDir);
    } catch (e) {
      this.c.log.warning(`cannot tell the splash the greeter painted: ${describe(e)}; it stays over the greeter, ignoring`);
    }
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
    if (!socket) return noCompositor();
    return new Promise((resolve, reject) => {
      const p = spawn("grim", ["-t", "ppm", "-"], {
        uid: this.c.user.uid,
        gid: this.c.user.gid,
        env: greeterEnv(this.facts, { WAYLAND_DISPLAY: socket }),
        stdio: ["ignore", "pipe", "ignore"],
      });
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
}
