// The greeter's first launch, before the rest of the daemon loads. The display stack's start is
// the long part of the way to the first prompt (cage + the browser: ~0.4 s here, seconds on a slow
// CPU), and loading the supervisor's modules (the agents, Plymouth's protocol, ws, sirv, the flows)
// is the next one: so foyerd opens the greeter's socket, prepares the greeter's folders, starts
// seatd and launches the greeter with only this module's imports loaded, and loads the rest while
// the browser starts. The supervisor adopts what was launched here (supervisor.ts, `first`).
// The listener holds the browser's requests until the server is there to answer them.
// Only where the greeter is one directly started unit (cage and its browser, launch "direct" or
// no systemd): an X server's greeter waits for its display, and systemd's launcher needs D-Bus.
// On DRM the card may not be there yet (foyerd starts while udev loads the drivers): the launch
// waits for it (display/drm-device.ts), and the daemon loads the rest meanwhile.
import type { Profile } from "../profile/schema.js";
import type { Logger } from "../base/log.js";
import { monotonicMs } from "../base/timeout.js";
import { describe } from "../base/errors.js";
import { GreeterListener, LaunchTokens, type RefusalLog } from "../greeter/listener.js";
import { ensureLoopback } from "../greeter/loopback.js";
import { displayStack, type DisplayStack, type StackContext } from "../display/stacks.js";
import type { FrameColours } from "../display/frame-render.js";
import { firstFrame, ownVtMode, prebuiltFrame, progressFrame } from "../display/splash.js";
import { themeColours } from "../display/frame-screen.js";
import { waitForDisplayDevices } from "../display/drm-device.js";
import { newXCookie, xauthorityFile } from "../display/xauth.js";
import { readKeyboard } from "../display/keyboard.js";
import { lookupUser } from "../display/users.js";
import { DirectLauncher, probeDeathSignal, type Launched, type Launcher, type LaunchSpec } from "../launch/direct.js";
import { wantsSystemd } from "../launch/pid1.js";
import { PAYLOAD_TIMEOUT_MS, firstOf, waitForPayload } from "../launch/payload.js";
import { stateDir, logDir } from "../state/overlay.js";
import { greeterPaths, makeGreeterFolders, type GreeterFolders } from "../state/greeter-folders.js";

/** seatd's socket where SEATD_SOCK does not say otherwise */
const SEATD_SOCKET = "/run/seatd.sock";
const SEATD_SOCKET_MS = 5000;

/** The launcher the display stack starts through: direct until the supervisor finds systemd. */
export type SwitchableLauncher = { target: Launcher } & Launcher;

export function switchable(target: Launcher): SwitchableLauncher {
  return {
    target,
    start(spec: LaunchSpec) {
      return this.target.start(spec);
    },
  };
}

export interface FirstLaunch {
  listener: GreeterListener;
  tokens: LaunchTokens;
  launcher: SwitchableLauncher;
  stack: DisplayStack;
  seatd?: Launched;
  /** the greeter launched here (monotonic ms); undefined where the supervisor launches it */
  greeter?: { launched: Launched; at: number };
  /** cage runs foyer-splash before the browser: its frame is drawn in these colours */
  splash?: { colours: FrameColours };
}

/** Whether the greeter can be launched before the supervisor exists (see the top of this file). */
export function launchesFirst(p: Profile): boolean {
  return (p.display.stack === "wayland" || p.display.stack === "headless-wayland") && !wantsSystemd(p.launch);
}

/** Whether the stack shows on a DRM device, which udev may not have set up yet when foyerd starts. */
export function needsDrmCard(p: Profile): boolean {
  return p.display.stack === "wayland" || (p.display.stack === "x11" && p.display.xserver === "Xorg");
}

export interface LaunchFirstOptions {
  /** the kernel's nomodeset: the firmware framebuffer is the display, no real driver will come */
  nomodeset?: boolean;
  /** called once when the launch has to wait for the display device: the daemon loads the rest */
  meanwhile?: () => void;
  /** the assets folder (the theme's colours): without it, no first frame and no splash */
  assetsDir?: string;
}

export async function launchFirst(p: Profile, runtimeDir: string, log: Logger, o: LaunchFirstOptions = {}): Promise<FirstLaunch> {
  const keyboard = readKeyboard(p.keyboard.vconsole);
  const hasGreeter = p.display.stack !== "headless";
  const user = hasGreeter ? lookupUser(p.greeter.user) : { name: "root", uid: 0, gid: 0 };
  const listener = await GreeterListener.open(p.greeter.port, {
    peers: [user.uid],
    refused: refusals(log.child("greeter")),
    warn: (l) => log.child("greeter").warning(l),
  });
  await ensureLoopback(listener.port, log.child("greeter"));
  // seatd always starts directly; the greeter through the launcher the supervisor may switch to systemd
  const direct = new DirectLauncher(log.child("launch"));
  const launcher = switchable(direct);
  const tokens = new LaunchTokens(() => listener);
  // one cookie per foyerd start: a greeter relaunch and a new X server use the same file
  const xCookie = p.display.stack === "x11" ? newXCookie() : undefined;
  const folders = hasGreeter ? await greeterFolders(stateDir(runtimeDir), user, p, xCookie) : greeterPaths(stateDir(runtimeDir));
  if ("setAside" in folders) {
    if (folders.problem) log.warning(`cannot mount the greeter's tmpfs (${folders.problem}); its folders are plain ones in the state folder`);
    if (folders.setAside.length) log.info("an earlier greeter's folders set aside", { paths: folders.setAside.join(" ") });
  }
  const context: StackContext = {
    profile: p,
    runtimeDir,
    folders,
    ...(xCookie ? { xCookie } : {}),
    logDir: logDir(runtimeDir),
    user,
    keyboard,
    launcher,
    log: log.child("display"),
    url: () => tokens.next(),
    origin: () => listener.origin,
  };
  const stack = displayStack(context);
  if (stack.hasGreeter) stack.prepareTmp();
  // started by the daemon before it mounted its state (cli/daemon.ts): done by now, or nearly
  await probeDeathSignal();
  // in a split image the display stack is in the payload: seatd starts once it is mounted, while
  // the first frame goes up; in a whole one at once
  const payload = waitForPayload(PAYLOAD_TIMEOUT_MS);
  const seatdSpec = stack.seatdSpec();
  const seatdStarted = payload.then((s) => {
    if (s === "mounted") log.info("the payload is mounted: starting the display stack");
    else if (s !== "none")
      log.error(
        `the payload is not mounted (${s === "failed" ? "its mount failed" : `nothing said within ${PAYLOAD_TIMEOUT_MS} ms`}): the display stack cannot start, the fallback asks`,
      );
    return seatdSpec ? direct.start(seatdSpec) : undefined;
  });
  seatdStarted.catch(() => {}); // awaited below, after the display device: a failure is reported there
  // cage's stacks: the theme's background behind the browser's first frame, and foyer's first
  // frame rendered (at the profile's size, the framebuffer's unknown yet) while the card is awaited
  const cage = p.display.stack === "wayland" || p.display.stack === "headless-wayland";
  const warn = (l: string) => log.child("display").warning(l);
  const colours = cage && o.assetsDir ? themeColours(o.assetsDir, p.appearance.theme, warn) : undefined;
  if (colours) context.background = colours.bg;
  const size = { width: p.display.width, height: p.display.height };
  // the default theme's frame is the build's (foyer-splash scales it): nothing to render here
  const prebuilt = colours && p.display.splash && p.appearance.theme === "default" ? prebuiltFrame() : undefined;
  const rendered = colours && p.display.splash && !prebuilt ? progressFrame(size.width, size.height, colours) : undefined;
  // foyer-frame.service may have left the VT in graphics mode under its frame: foyerd owns it now
  if (needsDrmCard(p)) {
    ownVtMode();
    await waitForDisplay(p, log.child("display"), o);
  }
  let splash: FirstLaunch["splash"];
  if (colours && (rendered || prebuilt)) {
    const at = monotonicMs();
    const onScreen = p.display.stack === "wayland"; // a headless compositor's output is not the machine's framebuffer
    const f = await firstFrame({ runtimeDir, colours, size, rendered, prebuilt, onScreen, ...(onScreen ? {} : { fb: undefined }), warn });
    context.splash = f.splash;
    if (f.splash) splash = { colours };
    log
      .child("display")
      .info("first frame", { framebuffer: f.drawn, splash: f.splash !== undefined, prebuilt: prebuilt !== undefined, ms: Math.round(monotonicMs() - at) });
  }
  const seatd = await seatdStarted;
  // seatd started just now, after a payload's mount: cage connects to its socket once, at start
  if (seatd && (await payload) === "mounted" && !(await firstOf([SEATD_SOCKET], SEATD_SOCKET_MS)))
    log.child("display").warning(`no ${SEATD_SOCKET} within ${SEATD_SOCKET_MS} ms of seatd's start, launching anyway`);
  const first: FirstLaunch = { listener, tokens, launcher, stack, ...(seatd ? { seatd } : {}), ...(splash ? { splash } : {}) };
  if (launchesFirst(p)) {
    const at = monotonicMs();
    try {
      first.greeter = { launched: stack.startGreeter(), at };
      log.child("supervisor").info("greeter launched before the supervisor loaded", { pid: first.greeter.launched.pid });
    } catch (e) {
      // the supervisor's own start then fails the same way, and its machine decides what follows
      log.child("supervisor").warning("cannot launch the greeter first, leaving it to the supervisor", { err: describe(e) });
    }
  }
  return first;
}

/** The greeter's folders, with the X server's cookie file among them when there is a cookie. */
async function greeterFolders(state: string, user: { uid: number; gid: number }, p: Profile, xCookie: Buffer | undefined): Promise<GreeterFolders> {
  const xauthority = xCookie ? xauthorityFile(xCookie) : undefined;
  try {
    return await makeGreeterFolders(state, user, p.state, xauthority ? { xauthority } : {});
  } finally {
    xauthority?.fill(0);
  }
}

/** The listener's refusals: the first from each uid a warning, the rest (a loop of them) at debug level. */
function refusals(log: Logger): RefusalLog {
  const seen = new Set<number | undefined>();
  return (uid, why) => {
    const say = `refusing a connection to the greeter's server: ${why}`;
    if (seen.has(uid)) return log.debug(say);
    seen.add(uid);
    log.warning(say, { uid: uid ?? null });
  };
}

/** Waits until the stack's DRM card is usable and an input device set up (display/drm-device.ts); says what it found and how long it took. */
async function waitForDisplay(p: Profile, log: Logger, o: LaunchFirstOptions): Promise<void> {
  const nomodeset = o.nomodeset ?? false;
  let waited = false;
  const w = await waitForDisplayDevices({
    timeoutMs: p.display.deviceTimeoutMs,
    nomodeset,
    onWait: (card) => {
      waited = true;
      log.info("waiting for the display and input devices", {
        card: card?.name ?? "none",
        timeoutMs: p.display.deviceTimeoutMs,
        ...(nomodeset ? { nomodeset } : {}),
      });
      o.meanwhile?.();
    },
  });
  if (!waited && w.input && w.result !== "none") {
    log.info("display device", { card: w.card.name, driver: w.card.driver || "?" });
    return;
  }
  if (!w.input) log.notice("no input device set up by udev yet: launching without one", { waitedMs: w.waitedMs });
  if (w.result === "none") log.warning("no display device came: launching anyway", { waitedMs: w.waitedMs });
  else if (w.result === "firmware")
    log.notice("no GPU driver's card came: using the firmware framebuffer's", { card: w.card.name, driver: w.card.driver, waitedMs: w.waitedMs });
  else log.info("display device", { card: w.card.name, driver: w.card.driver || "?", waitedMs: w.waitedMs });
}
