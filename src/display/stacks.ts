// Display stacks: how the greeter reaches a screen, per profile, one type a kind.
//   wayland           cage (on DRM, optionally with seatd) running the kiosk browser (stack-cage.ts)
//   headless-wayland  the same cage with wlroots' headless backend: a real compositor, no screen
//   x11               an X server (Xorg or Xvfb, readiness from -displayfd; only clients with its
//                     cookie get in, xauth.ts) and chromium on it (stack-x11.ts)
//   headless          nothing: the UI is only served (greeter-url), for tests and remote use
// Each kind's argv and environment are pure functions of the profile and the facts (greeter-args.ts
// and the builders atop each stack-*.ts); the classes gather the facts, write and launch.
import type { Profile } from "../profile/schema.js";
import type { LaunchSpec, Launched, Launcher } from "../launch/direct.js";
import type { Logger } from "../base/log.js";
import type { Keyboard } from "./keyboard.js";
import type { SystemUser } from "./users.js";
import type { Rgb } from "./frame-render.js";
import { CageStack } from "./stack-cage.js";
import { XStack } from "./stack-x11.js";
import { HeadlessStack } from "./stack-headless.js";

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
  /** cage's command before the browser's: foyer-splash (splash.ts), once its files are in place */
  splash?: string[] | undefined;
  /** the theme's background colour: the browser's own before the page paints */
  background?: Rgb;
}

export interface DisplayHandle {
  launched: Launched;
  ready: Promise<void>;
}

/** How a new layout reached the greeter: at once, at the greeter unit's restart (cage), or kept for later. */
export type KeyboardApplied = "applied" | "restart" | "recorded";

export interface DisplayStack {
  readonly user: SystemUser;
  readonly greeterHome: string;
  readonly xdgRuntime: string;
  /** an X server runs as its own unit (startDisplay) */
  readonly hasDisplay: boolean;
  /** a greeter process runs (startGreeter): every stack but headless */
  readonly hasGreeter: boolean;
  /** the greeter draws on the machine's own display (DRM): only then is there a frame to hand over */
  readonly onScreen: boolean;
  /** the greeter's layout, of which the stack is the one owner */
  readonly keyboard: Keyboard;
  setKeyboard(k: Keyboard): Promise<KeyboardApplied>;
  inputDevicesChanged(): Promise<void>;
  /** /tmp and /tmp/.X11-unix made root's sticky folders, before any X server or Xwayland */
  prepareTmp(): void;
  seatdSpec(): LaunchSpec | undefined;
  /** the X server; `ready` resolves when it wrote its display number */
  startDisplay(): DisplayHandle;
  startGreeter(): Launched;
  /** the greeter's page painted: what stood in for it until then may go */
  greeterPainted(): void;
  /** the greeter's frame as a binary PPM, within `ms` and `maxBytes` (handoff.ts) */
  grabFrame(ms: number, maxBytes: number): Promise<Buffer>;
}

/** The stack of the profile's kind. */
export function displayStack(c: StackContext): DisplayStack {
  switch (c.profile.display.stack) {
    case "wayland":
    case "headless-wayland":
      return new CageStack(c);
    case "x11":
      return new XStack(c);
    case "headless":
      return new HeadlessStack(c);
  }
}
