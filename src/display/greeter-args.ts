// What every stack gives the processes it starts, as pure functions of the profile and the facts:
// the greeter user's environment, a launch spec, the kiosk browser's argv and cog's content
// filter. Nothing here reads or writes a file: the stacks (stack-*.ts) gather the facts and write.
import { join } from "node:path";
import type { Profile } from "../profile/schema.js";
import type { LaunchSpec } from "../launch/direct.js";
import type { SystemUser } from "./users.js";
import type { Rgb } from "./frame-render.js";
import { TOOL_PATH } from "../base/command.js";

export type Env = Record<string, string>;

/** Who runs the greeter's processes, and where their files are. */
export interface GreeterFacts {
  user: SystemUser;
  /** the greeter's HOME and XDG_RUNTIME_DIR (src/state/greeter-folders.ts) */
  home: string;
  xdgRuntime: string;
  /** where each unit's stdout+stderr file goes (in the state tmpfs) */
  logDir: string;
}

/** What the kiosk browser is started with at one launch. */
export interface BrowserFacts {
  /** the greeter's device scale factor (scale.ts) */
  scale: number;
  /** the greeter URL with this launch's token */
  url: string;
  /** cog's content filter file, written by root into foyerd's runtime folder */
  contentFilter: string;
  /** the theme's background: cog's own until the page paints, instead of white */
  background?: Rgb;
}

export const BASE_ENV: Env = { PATH: TOOL_PATH, LANG: "C.UTF-8" };

/** cog's content filter, in foyerd's runtime folder (root's, so never a folder the greeter writes) */
export const COG_FILTER_FILE = "cog-content-filter.json";

/** The environment of every process of the greeter user, then `extra`. */
export function greeterEnv(f: GreeterFacts, extra: Env = {}): Env {
  return {
    ...BASE_ENV,
    HOME: f.home,
    USER: f.user.name,
    XDG_RUNTIME_DIR: f.xdgRuntime,
    XDG_CACHE_HOME: join(f.home, ".cache"),
    XDG_CONFIG_HOME: join(f.home, ".config"),
    XDG_DATA_HOME: join(f.home, ".local/share"),
    XDG_STATE_HOME: join(f.home, ".local/state"),
    // WebKit's network process must not consult a desktop's proxy settings: GNOME's GIO proxy
    // module aborts it where GSettings has no schemas (an initramfs), and the greeter is loopback
    GIO_USE_PROXY_RESOLVER: "dummy",
    GSETTINGS_BACKEND: "memory",
    // no system bus for the greeter: GLib's clients in cog (the network monitor) end the
    // process when the bus goes, and the initrd's bus daemon stops at switch-root before
    // foyerd has kept the greeter's last frame. Nothing on the bus is the greeter's business
    DBUS_SYSTEM_BUS_ADDRESS: "unix:path=/dev/null",
    GIO_USE_NETWORK_MONITOR: "base",
    ...extra,
  };
}

/** A unit run as the greeter user in its HOME, its output in `<logDir>/<name>.log`. */
export function greeterSpec(f: GreeterFacts, name: string, argv: string[], env: Env, extraPipes = 0): LaunchSpec {
  return { name, argv, uid: f.user.uid, gid: f.user.gid, env, logFile: join(f.logDir, `${name}.log`), extraPipes, cwd: f.home };
}

/** The kiosk browser's argv, on a Wayland compositor or an X server. */
export function browserArgv(p: Profile, home: string, b: BrowserFacts, platform: "wayland" | "x11"): string[] {
  const d = p.display;
  if (d.browser === "cog") {
    return [
      "cog",
      `--platform=${platform === "wayland" ? "wl" : "x11"}`,
      "--webprocess-failure=exit",
      `--content-filter=${b.contentFilter}`,
      ...(b.background ? [`--bg-color=#${b.background.map((c) => c.toString(16).padStart(2, "0")).join("")}ff`] : []),
      ...(b.scale !== 1 ? [`--device-scale=${b.scale}`] : []),
      b.url,
    ];
  }
  return [
    "chromium",
    "--kiosk",
    "--no-first-run",
    "--no-default-browser-check",
    `--user-data-dir=${join(home, "chromium")}`,
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
    `--window-size=${Math.round(d.width / b.scale)},${Math.round(d.height / b.scale)}`,
    "--window-position=0,0",
    // chromium's own guess comes from the X server's or compositor's DPI, which Xvfb, cage's
    // headless output and many panels in an initramfs report as 96: say it
    `--force-device-scale-factor=${b.scale}`,
    ...(platform === "wayland" ? ["--ozone-platform=wayland"] : []),
    ...(p.greeter.debugPort !== null ? [`--remote-debugging-port=${p.greeter.debugPort}`, "--remote-debugging-address=127.0.0.1"] : []),
    b.url,
  ];
}

/** WebKit content rules for cog: every load blocked but the greeter's own origin's (http and ws). */
export function cogContentFilter(origin: string): string {
  const host = origin.replace(/^http:\/\//, "").replace(/\./g, "\\.");
  return JSON.stringify([
    { trigger: { "url-filter": ".*" }, action: { type: "block" } },
    // WebKit's rule regexes have no disjunction: one rule per scheme
    { trigger: { "url-filter": `^http://${host}/` }, action: { type: "ignore-previous-rules" } },
    { trigger: { "url-filter": `^ws://${host}/` }, action: { type: "ignore-previous-rules" } },
  ]);
}
