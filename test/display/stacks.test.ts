// What each display stack starts, as a table: for a profile and the machine's facts (an input
// device or not, the scale, the launch URL), the X server's, seatd's and the greeter's argv and
// environment, to the letter and in order. Each row is run through the whole stack with a launcher
// that only records (the effects: cog's content filter, the X server's -displayfd pipe), and
// through the kind's pure builders. Xorg runs as the greeter user with no logind: it is told its
// VT (the one an x11 image makes the greeter group's) and keeps the session it was started in
// (-keeptty); Xvfb has no VT. Both take only clients with the cookie, on no TCP port.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { PassThrough } from "node:stream";
import { displayStack } from "../../src/display/stacks.js";
import { cogContentFilter, type BrowserFacts, type GreeterFacts } from "../../src/display/greeter-args.js";
import { cageGreeterSpec, seatdSpec } from "../../src/display/stack-cage.js";
import { XORG_VT, setxkbmapArgs, xGreeterSpec, xServerSpec } from "../../src/display/stack-x11.js";
import { scaleFor } from "../../src/display/scale.js";
import { greeterPaths } from "../../src/state/greeter-folders.js";
import { ProfileSchema, type Profile } from "../../src/profile/schema.js";
import { US, type Keyboard } from "../../src/display/keyboard.js";
import { createLogger } from "../../src/base/log.js";
import type { LaunchSpec, Launched } from "../../src/launch/direct.js";

type Env = Record<string, string>;
interface Started {
  argv: string[];
  env: Env;
}
interface Row {
  name: string;
  display: Record<string, unknown>;
  debugPort?: number;
  keyboard?: Keyboard;
  /** whether udev has set up an input device */
  input?: boolean;
  /** the X server */
  server?: Started;
  seatd?: Started;
  /** the greeter unit: cage and its browser, or the browser on X; undefined: the stack has none */
  greeter?: Started & { childArgvAt?: number };
}

const RUN = "/run/foyer";
const HOME = `${RUN}/state/greeter/home`;
const XDG = `${RUN}/state/greeter/xdg`;
const URL = "http://127.0.0.1:4242/#token=t";
const FILTER = `${RUN}/cog-content-filter.json`;
const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"; // base/command.ts TOOL_PATH, to the letter
const GREETER_ENV: Env = {
  PATH,
  LANG: "C.UTF-8",
  HOME,
  USER: "nobody",
  XDG_RUNTIME_DIR: XDG,
  XDG_CACHE_HOME: `${HOME}/.cache`,
  XDG_CONFIG_HOME: `${HOME}/.config`,
  XDG_DATA_HOME: `${HOME}/.local/share`,
  XDG_STATE_HOME: `${HOME}/.local/state`,
  GIO_USE_PROXY_RESOLVER: "dummy",
  GSETTINGS_BACKEND: "memory",
  DBUS_SYSTEM_BUS_ADDRESS: "unix:path=/dev/null",
  GIO_USE_NETWORK_MONITOR: "base",
};
const X_ENV: Env = { ...GREETER_ENV, XAUTHORITY: `${XDG}/Xauthority` };
const cog = (platform: string, ...flags: string[]) => [
  "cog",
  `--platform=${platform}`,
  "--webprocess-failure=exit",
  `--content-filter=${FILTER}`,
  ...flags,
  URL,
];
const chromium = (size: string, scale: number, ...flags: string[]) => [
  "chromium",
  "--kiosk",
  "--no-first-run",
  "--no-default-browser-check",
  `--user-data-dir=${HOME}/chromium`,
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
  `--window-size=${size}`,
  "--window-position=0,0",
  `--force-device-scale-factor=${scale}`,
  ...flags,
  URL,
];
const cage = (...browser: string[]) => ({ argv: ["cage", "-d", "--", ...browser], childArgvAt: 3 });
const SEATD: Started = { argv: ["seatd", "-g", "nobody"], env: { PATH, LANG: "C.UTF-8" } };
const DE_NEO: Keyboard = { layout: "de", variant: "neo", model: "pc105", options: "caps:escape" };

const ROWS: Row[] = [
  {
    name: "wayland, cog, an input device: seatd, cage with the layout and pixman",
    display: { stack: "wayland", scale: 1 },
    input: true,
    seatd: SEATD,
    greeter: {
      ...cage(...cog("wl")),
      env: { ...GREETER_ENV, XKB_DEFAULT_LAYOUT: "us", WLR_RENDERER: "pixman", LIBGL_ALWAYS_SOFTWARE: "1", LIBSEAT_BACKEND: "seatd" },
    },
  },
  {
    name: "wayland without an input device yet: cage is told to start without one",
    display: { stack: "wayland", scale: 1 },
    input: false,
    seatd: SEATD,
    greeter: {
      ...cage(...cog("wl")),
      env: {
        ...GREETER_ENV,
        XKB_DEFAULT_LAYOUT: "us",
        WLR_RENDERER: "pixman",
        LIBGL_ALWAYS_SOFTWARE: "1",
        LIBSEAT_BACKEND: "seatd",
        WLR_LIBINPUT_NO_DEVICES: "1",
      },
    },
  },
  {
    name: "wayland, chromium at scale 2, turned once, auto renderer, no seatd, a full layout",
    display: { stack: "wayland", browser: "chromium", scale: 2, rotate: 1, renderer: "auto", seatd: false, width: 2880, height: 1800 },
    keyboard: DE_NEO,
    input: true,
    greeter: {
      argv: ["cage", "-d", "-r", "--", ...chromium("1440,900", 2, "--ozone-platform=wayland")],
      childArgvAt: 4,
      env: { ...GREETER_ENV, XKB_DEFAULT_LAYOUT: "de", XKB_DEFAULT_VARIANT: "neo", XKB_DEFAULT_MODEL: "pc105", XKB_DEFAULT_OPTIONS: "caps:escape" },
    },
  },
  {
    name: "wayland, chromium on gles2 with DevTools, thrice turned",
    display: { stack: "wayland", browser: "chromium", scale: 1, rotate: 3, renderer: "gles2" },
    debugPort: 9333,
    input: true,
    seatd: SEATD,
    greeter: {
      argv: [
        "cage",
        "-d",
        "-r",
        "-r",
        "-r",
        "--",
        ...chromium("1280,800", 1, "--ozone-platform=wayland", "--remote-debugging-port=9333", "--remote-debugging-address=127.0.0.1"),
      ],
      childArgvAt: 6,
      env: { ...GREETER_ENV, XKB_DEFAULT_LAYOUT: "us", WLR_RENDERER: "gles2", LIBSEAT_BACKEND: "seatd" },
    },
  },
  {
    name: "headless-wayland, cog on a 4K output: scale 2 from its size; no seatd, never input devices",
    display: { stack: "headless-wayland", width: 3840, height: 2160, rotate: 2 },
    input: true,
    greeter: {
      argv: ["cage", "-d", "-r", "-r", "--", ...cog("wl", "--device-scale=2")],
      childArgvAt: 5,
      env: {
        ...GREETER_ENV,
        XKB_DEFAULT_LAYOUT: "us",
        WLR_RENDERER: "pixman",
        LIBGL_ALWAYS_SOFTWARE: "1",
        WLR_BACKENDS: "headless",
        WLR_LIBINPUT_NO_DEVICES: "1",
        WLR_HEADLESS_OUTPUTS: "1",
      },
    },
  },
  {
    name: "headless-wayland, chromium, the profile's scale 3 wins",
    display: { stack: "headless-wayland", browser: "chromium", scale: 3, width: 1920, height: 1080 },
    debugPort: 9333,
    input: false,
    greeter: {
      ...cage(...chromium("640,360", 3, "--ozone-platform=wayland", "--remote-debugging-port=9333", "--remote-debugging-address=127.0.0.1")),
      env: {
        ...GREETER_ENV,
        XKB_DEFAULT_LAYOUT: "us",
        WLR_RENDERER: "pixman",
        LIBGL_ALWAYS_SOFTWARE: "1",
        WLR_BACKENDS: "headless",
        WLR_LIBINPUT_NO_DEVICES: "1",
        WLR_HEADLESS_OUTPUTS: "1",
      },
    },
  },
  {
    name: "x11 on Xvfb, chromium at 2880×1620: scale 2 from its size, window in DIPs",
    display: { stack: "x11", xserver: "Xvfb", browser: "chromium", width: 2880, height: 1620 },
    server: { argv: ["Xvfb", "-displayfd", "3", "-auth", `${XDG}/Xauthority`, "-screen", "0", "2880x1620x24", "-nolisten", "tcp", "-noreset"], env: X_ENV },
    greeter: { argv: chromium("1440,810", 2), env: { ...X_ENV, DISPLAY: ":987" } },
  },
  {
    name: "x11 on Xorg, chromium: its VT, kept session; the layout is setxkbmap's, not the env's",
    display: { stack: "x11", xserver: "Xorg", browser: "chromium", scale: 1 },
    keyboard: DE_NEO,
    debugPort: 9333,
    server: { argv: ["Xorg", "vt2", "-displayfd", "3", "-auth", `${XDG}/Xauthority`, "-nolisten", "tcp", "-noreset", "-novtswitch", "-keeptty"], env: X_ENV },
    greeter: { argv: chromium("1280,800", 1, "--remote-debugging-port=9333", "--remote-debugging-address=127.0.0.1"), env: { ...X_ENV, DISPLAY: ":987" } },
  },
  {
    name: "x11 on Xorg, cog on X",
    display: { stack: "x11", xserver: "Xorg", browser: "cog", scale: 2 },
    server: { argv: ["Xorg", "vt2", "-displayfd", "3", "-auth", `${XDG}/Xauthority`, "-nolisten", "tcp", "-noreset", "-novtswitch", "-keeptty"], env: X_ENV },
    greeter: { argv: cog("x11", "--device-scale=2"), env: { ...X_ENV, DISPLAY: ":987" } },
  },
  { name: "headless: nothing started, the UI only served", display: { stack: "headless" } },
];

const COG_FILTER = [
  { trigger: { "url-filter": ".*" }, action: { type: "block" } },
  { trigger: { "url-filter": "^http://127\\.0\\.0\\.1:4242/" }, action: { type: "ignore-previous-rules" } },
  { trigger: { "url-filter": "^ws://127\\.0\\.0\\.1:4242/" }, action: { type: "ignore-previous-rules" } },
];

const entries = (o: Env) => Object.entries(o);
const NOBODY = { name: "nobody", uid: 65534, gid: 65534 };
const COOKIE = Buffer.alloc(16, 7);
const parse = (r: Row): Profile => ProfileSchema.parse({ schema: 1, display: r.display, greeter: r.debugPort ? { debugPort: r.debugPort } : {} });
interface Got {
  server?: LaunchSpec;
  greeter?: LaunchSpec;
  seatd?: LaunchSpec;
  filter?: unknown;
}

/** the row through its kind's pure builders, with the facts a stack would gather */
function build(r: Row): Got {
  const p = parse(r);
  const d = p.display;
  const f: GreeterFacts = { user: NOBODY, home: HOME, xdgRuntime: XDG, logDir: `${RUN}/state/log` };
  const b: BrowserFacts = { scale: d.scale === "auto" ? scaleFor(d.width, d.height) : d.scale, url: URL, contentFilter: FILTER };
  const filter = JSON.parse(cogContentFilter("http://127.0.0.1:4242")) as unknown;
  switch (d.stack) {
    case "wayland":
    case "headless-wayland":
      return { seatd: seatdSpec(d, NOBODY, f.logDir), greeter: cageGreeterSpec(p, f, b, r.keyboard ?? US, r.input ?? false), filter };
    case "x11": {
      const xf = { ...f, xauthority: `${XDG}/Xauthority` };
      return { server: xServerSpec(d, xf), greeter: xGreeterSpec(p, xf, b, ":987"), filter };
    }
    case "headless":
      return {};
  }
}

/** the row through the whole stack, its temp runtime folder written as RUN */
async function runStack(r: Row): Promise<Got> {
  const tmp = mkdtempSync(join(tmpdir(), "foyer-stack-"));
  const specs: LaunchSpec[] = [];
  const pipe = new PassThrough();
  const profile = parse(r);
  const stack = displayStack({
    profile,
    runtimeDir: tmp,
    folders: greeterPaths(join(tmp, "state")),
    ...(profile.display.stack === "x11" ? { xCookie: COOKIE } : {}),
    logDir: join(tmp, "state", "log"),
    user: NOBODY,
    keyboard: r.keyboard ?? US,
    launcher: { start: (s) => (specs.push(s), { pid: 1, pipes: [pipe], exited: new Promise(() => {}) } as unknown as Launched) },
    log: createLogger({ level: "emerg", kmsg: false }),
    url: () => URL,
    origin: () => "http://127.0.0.1:4242",
    inputReady: () => r.input ?? false,
  });
  const norm = (s: LaunchSpec): LaunchSpec => JSON.parse(JSON.stringify(s).replaceAll(tmp, RUN)) as LaunchSpec;
  const out: Got = {};
  assert.is(stack.hasGreeter, r.greeter !== undefined);
  assert.is(stack.hasDisplay, r.server !== undefined);
  const seatd = stack.seatdSpec();
  if (seatd) out.seatd = norm(seatd);
  if (stack.hasDisplay) {
    const h = stack.startDisplay();
    out.server = norm(specs.pop()!);
    // no X server answers on :987: the key grab fails at once, and the greeter starts anyway
    pipe.write("987\n");
    await h.ready;
  }
  if (stack.hasGreeter) {
    stack.startGreeter();
    out.greeter = norm(specs.pop()!);
    if (profile.display.browser === "cog") out.filter = JSON.parse(readFileSync(join(tmp, "cog-content-filter.json"), "utf8"));
  }
  return out;
}

function check(r: Row, got: Got): void {
  assert.equal(
    got.seatd && { argv: got.seatd.argv, env: entries(got.seatd.env), logFile: got.seatd.logFile, uid: got.seatd.uid },
    r.seatd && { argv: r.seatd.argv, env: entries(r.seatd.env), logFile: `${RUN}/state/log/seatd.log`, uid: undefined },
  );
  if (r.server) {
    const s = got.server!;
    assert.equal(s.argv, r.server.argv);
    assert.equal(entries(s.env), entries(r.server.env));
    assert.equal(
      [s.name, s.uid, s.gid, s.cwd, s.logFile, s.extraPipes, s.childArgvAt],
      ["display", 65534, 65534, HOME, `${RUN}/state/log/display.log`, 1, undefined],
    );
  } else assert.is(got.server, undefined);
  if (r.greeter) {
    const g = got.greeter!;
    assert.equal(g.argv, r.greeter.argv);
    assert.equal(entries(g.env), entries(r.greeter.env));
    assert.equal(
      [g.name, g.uid, g.gid, g.cwd, g.logFile, g.extraPipes, g.childArgvAt],
      ["greeter", 65534, 65534, HOME, `${RUN}/state/log/greeter.log`, 0, r.greeter.childArgvAt],
    );
    if (r.greeter.argv.includes(`--content-filter=${FILTER}`)) assert.equal(got.filter, COG_FILTER);
  } else assert.is(got.greeter, undefined);
  // no secret on a command line or in an environment: the cookie is in its file only
  const all = [got.server, got.greeter, got.seatd].flatMap((s) => (s ? [...s.argv, ...Object.values(s.env)] : []));
  assert.not.ok(all.some((a) => a.includes(COOKIE.toString("hex")) || a.includes(COOKIE.toString("base64"))));
}

for (const r of ROWS) {
  test(`builders: ${r.name}`, () => check(r, build(r)));
  test(`stack: ${r.name}`, async () => check(r, await runStack(r)));
}

const XKB: [Keyboard, string[]][] = [
  // an empty -variant resets a variant set before: de(neo) → us must not stay neo
  [US, ["-display", ":1", "-layout", "us", "-variant", ""]],
  [DE_NEO, ["-display", ":1", "-layout", "de", "-variant", "neo", "-model", "pc105"]],
  [{ layout: "fr", variant: "", model: "", options: "compose:ralt" }, ["-display", ":1", "-layout", "fr", "-variant", ""]],
];
test("setxkbmap: the layout, always a variant, a model only when set", () => {
  for (const [k, args] of XKB) assert.equal(setxkbmapArgs(":1", k), args);
});

test("the VT in foyer-image.sh is the one Xorg is given", () => {
  const r = spawnSync("bash", ["-c", ". packaging/foyer-image.sh && echo $FOYER_X11_VT && foyer_x11_udev_rules"], {
    cwd: join(import.meta.dirname, "../.."),
    encoding: "utf8",
  });
  assert.is(r.status, 0, r.stderr);
  const [vt, ...rules] = r.stdout.trim().split("\n");
  assert.is(Number(vt), XORG_VT);
  assert.is(XORG_VT, 2, "the VT the x11 image's udev rule hands the greeter (FOYER_X11_VT)");
  assert.ok(
    rules.some((l) => l.includes(`KERNEL=="tty${XORG_VT}"`) && l.includes('GROUP="foyer-greeter"')),
    rules.join("\n"),
  );
});

test.run();
