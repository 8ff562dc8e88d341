// The supervisor's parts as it sees them (interfaces, so that its runner can be driven by fakes
// and a clock: test/supervisor/runner.test.ts), and realParts(), which builds the real ones for
// foyerd: the password agent, Plymouth's server, the greeter's server, the flows and the settings,
// wired to each other where no decision of the supervisor's is involved.
import { join } from "node:path";
import type { Event } from "./machine.js";
import { startFallback, type ConsoleRequest, type Fallback, type FallbackReplies } from "./fallback.js";
import { openFrameScreen } from "../display/frame-screen.js";
import { frameFonts } from "../display/frame-font.js";
import type { FrameFonts } from "../display/frame-render.js";
import { SPLASH_KEYS, drawSplashFrame, type SplashDrawing } from "../display/splash.js";
import { SplashPrompt } from "./splash-prompt.js";
import { Recovery } from "./recovery.js";
import { Firstboot } from "./firstboot.js";
import { GreeterSettings } from "./greeter-settings.js";
import { SystemdBackend } from "./systemd-backend.js";
import type { FirstLaunch } from "./first-launch.js";
import { PasswordAgent } from "../agents/password-agent.js";
import { PlymouthServer, PLYMOUTH_SOCKET, activatedFd } from "../agents/plymouth.js";
import { KeyringCache } from "../agents/keyring.js";
import { GreeterServer, type GreeterClient } from "../greeter/server.js";
import type { LaunchTokens } from "../greeter/listener.js";
import type { DisplayStack } from "../display/stacks.js";
import type { Keyboard } from "../display/keyboard.js";
import { keepLastFrame } from "../display/handoff.js";
import { sweepUser, userGone, userRssKb, type Launched } from "../launch/direct.js";
import { describe } from "../base/errors.js";
import { monotonicMs } from "../base/timeout.js";
import type { Logger } from "../base/log.js";
import type { Secret } from "../base/secret.js";
import type { Profile } from "../profile/schema.js";
import type { ClientMessage, StateMessage } from "../protocol/greeter.js";
import { Timeline } from "../state/timeline.js";
import { stateDir, logDir } from "../state/overlay.js";

export interface SupervisorOptions {
  profile: Profile;
  runtimeDir: string;
  /** the boot timeline in the state tmpfs; an in-memory one when not given */
  timeline?: Timeline;
  askDir: string;
  assetsDir: string;
  uiDir: string;
  log: Logger;
  /** the greeter's language from the kernel command line (rd.foyer.lang=, locale.LANG=) */
  cmdlineLang?: string;
  /** the kernel command line's file (foyerd --cmdline): where a failed root check's device is looked up; /proc/cmdline when not given */
  cmdlineFile?: string;
  /** where the real root is mounted before switch-root (Plymouth's update-root-fs says it too); /sysroot by default */
  newRoot?: string;
  /** what foyerd set up before this module loaded (first-launch.ts): the greeter's listener, display stack and seatd, and the greeter it launched, adopted at the first start */
  first: FirstLaunch;
  /**
   * foyerd --firstboot (foyer-firstboot.service, the real root's first boot): the form is the one
   * job. Once it is applied foyerd stops, keeping the frame for the display manager; a greeter
   * that cannot start (the breaker) stops it too, with exitCode 1, so the boot goes on without it.
   */
  firstbootOnly?: boolean;
}

/** What the runner itself reads of the options; the rest is for building the parts. */
export type RunnerOptions = Pick<SupervisorOptions, "profile" | "runtimeDir" | "log" | "firstbootOnly">;

/** Monotonic time and timers: the real ones, or a test's. */
export interface Clock {
  now(): number;
  /** calls `f` in `ms`; returns the cancel */
  after(ms: number, f: () => void): () => void;
}

export const monotonicClock: Clock = {
  now: monotonicMs,
  after(ms, f) {
    const t = setTimeout(f, ms);
    return () => clearTimeout(t);
  },
};

export interface Parts {
  agent: Pick<PasswordAgent, "start" | "stop" | "scan" | "pending" | "answer" | "cancel">;
  plymouth: Pick<PlymouthServer, "start" | "stop" | "pending" | "owns" | "answer" | "cancel" | "messages" | "record">;
  keyring: Pick<KeyringCache, "asked" | "answered" | "stop">;
  server: Pick<GreeterServer, "start" | "stop" | "url" | "stateChanged" | "send">;
  /** the display stack, and the one owner of the greeter's keyboard layout */
  stack: Pick<DisplayStack, "hasDisplay" | "hasGreeter" | "onScreen" | "keyboard" | "setKeyboard" | "startDisplay" | "startGreeter" | "greeterPainted">;
  recovery: Pick<Recovery, "active" | "view" | "start" | "action" | "openTerminal" | "resize" | "closeTerminal">;
  firstboot: Pick<Firstboot, "active" | "view" | "start" | "options" | "chooseKeyboard" | "submit">;
  settings: Pick<GreeterSettings, "locale" | "appearance" | "layouts" | "check" | "set" | "applyKeyboard" | "followInputDevices" | "stop">;
  systemd: Pick<SystemdBackend, "start" | "stop">;
  /** the greeter's user: its memory at the prompt, and its processes swept when foyerd stops */
  greeterUser: { rssKb(): number; sweep(): number; gone(ms: number): Promise<boolean> };
  tokens: Pick<LaunchTokens, "latest">;
  /** the greeter first-launch.ts launched, for the machine's first start_greeter to adopt */
  firstGreeter?: { launched: Launched; at: number };
  seatd?: Launched;
  timeline: Timeline;
  clock: Clock;
  /** foyer's prompt in the splash before the greeter paints (splash-prompt.ts): where cage runs foyer-splash */
  splashPrompt?: Pick<SplashPrompt, "start" | "update" | "take" | "stop">;
  /** the crash-loop breaker's text prompt (fallback.ts) */
  fallback(requests: ConsoleRequest[], replies: FallbackReplies): Fallback;
  /** the greeter's last frame left on the screen for the display manager (display/handoff.ts); whether it was */
  keepFrame(): Promise<boolean>;
}

/** What the parts tell the supervisor. */
export interface Hooks {
  snapshot(): StateMessage;
  dispatch(e: Event): void;
  /** the pending requests changed (systemd's or Plymouth's) */
  promptsChanged(): void;
  /** the caller wipes the secret; `kept`: characters typed into foyer's frame it goes on from */
  answer(key: number, secret: Secret, kept?: number): void;
  decline(key: number): void;
  message(client: GreeterClient, m: ClientMessage): void;
  stop(o: { retainSplash?: boolean }): void;
  showRecovery(reason: string, fsckDevice?: string): void;
  stopping(): boolean;
  /** the first-boot form's layout */
  keyboardChosen(k: Pick<Keyboard, "layout" | "variant">): void;
  firstbootFinished(): void;
}

export type BuildParts = (h: Hooks) => Parts;

/** foyerd's parts. */
export function realParts(o: SupervisorOptions): BuildParts {
  return (h) => {
    const p = o.profile;
    const { stack, launcher } = o.first;
    const warn = (what: string) => (e: unknown) => o.log.child("supervisor").warning(what, { err: describe(e) });
    const keyring = new KeyringCache({ ...p.keyring, log: o.log.child("keyring") });
    const agent = new PasswordAgent({ askDir: o.askDir, log: o.log.child("agent"), onChange: () => h.promptsChanged() });
    // the legacy name only beside the default one: it is where the plymouth client falls back to.
    // foyer-plymouth.socket hands over the current name only (systemd cannot bind the padded
    // legacy one, which foyerd binds itself); the keeper hands over both
    const plymouthFds = { current: activatedFd(process.env, process.pid, "plymouth"), legacy: activatedFd(process.env, process.pid, "plymouth-legacy") };
    const plymouth = new PlymouthServer({
      ...p.plymouth,
      legacy: p.plymouth.socket === PLYMOUTH_SOCKET,
      log: o.log.child("plymouth"),
      // sulogin asks plymouthd to quit so that it has the console: in foyer's terminal that is the
      // terminal. dracut's emergency shell asks too, for the text console: the recovery screen,
      // with sulogin in its terminal, is what the person needs then; Continue leaves it first
      keepOnQuit: (pid) =>
        recovery.terminalHolds(pid)
          ? "the quit came from foyer's own recovery terminal (sulogin)"
          : recovery.active
            ? "the recovery screen is up (an emergency shell asks for the console)"
            : undefined,
      activatedFds: plymouthFds,
    });
    plymouth.on("prompts", () => h.promptsChanged());
    plymouth.on("messages", () => server.stateChanged());
    plymouth.on("fsck", () => server.stateChanged());
    // `plymouth quit` (GDM's handoff, or plymouth-quit.service): foyer's job is done; the ACK
    // goes out from stop(), once the display is released
    plymouth.on("quit", (q: { retainSplash: boolean }) => h.stop({ retainSplash: q.retainSplash }));
    const server = new GreeterServer({
      assetsDir: o.assetsDir,
      uiDir: o.uiDir,
      port: p.greeter.port,
      listener: o.first.listener,
      log: o.log.child("greeter"),
      urlFile: join(o.runtimeDir, "greeter-url"),
      snapshot: () => h.snapshot(),
      onReady: (paintedMsAgo) => h.dispatch({ type: "greeter_connected", paintedMsAgo }),
      onAnswer: (key, secret, kept) => h.answer(key, secret, kept),
      onCancel: (key) => h.decline(key),
      // the last page gone while its browser lives: the machine gives it lostTimeoutMs to come back
      onClients: (count) => count === 0 && h.dispatch({ type: "greeter_lost" }),
      onMessage: (client, m) => h.message(client, m),
      onTerminalInput: (client, bytes) => recovery.input(client, bytes),
      onDisconnect: (client) => recovery.closeTerminal(client),
      onFirstbootPassword: (field, secret) => firstboot.password(field, secret),
    });
    const firstboot = new Firstboot({
      enabled: p.firstboot.enabled,
      root: p.firstboot.root,
      stateDir: stateDir(o.runtimeDir),
      log: o.log.child("firstboot"),
      keyboard: stack.keyboard,
      changed: () => server.stateChanged(),
      keyboardChosen: (k) => h.keyboardChosen(k),
      finished: () => h.firstbootFinished(),
    });
    const recovery = new Recovery(
      p,
      join(logDir(o.runtimeDir), "foyerd.log"),
      o.log.child("recovery"),
      () => server.stateChanged(),
      (c, b, done) => server.sendTerminal(c, b, done),
      (c, code, message) => server.send(c, { type: "error", code, message }),
    );
    const settings = new GreeterSettings({
      profile: p,
      ...(o.cmdlineLang ? { cmdlineLang: o.cmdlineLang } : {}),
      log: o.log.child("settings"),
      changed: () => server.stateChanged(),
      devicesChanged: (d) => {
        if (d.keyboard) void stack.inputDevicesChanged().catch(warn("keyboard layout not set again"));
      },
    });
    const systemd = new SystemdBackend({
      profile: p,
      launcher,
      log: o.log,
      ...(o.cmdlineFile ? { cmdlineFile: o.cmdlineFile } : {}),
      stopping: () => h.stopping(),
      failure: (reason, device) => h.showRecovery(reason, device),
    });
    const uid = stack.user.uid;
    const splash = o.first.splash;
    const fonts = new Map<number, FrameFonts>();
    let rows: Buffer | undefined;
    const kit: SplashDrawing = {
      fonts: (height) => {
        let f = fonts.get(height);
        if (!f) fonts.set(height, (f = frameFonts(height)));
        return f;
      },
      rows: (bytes) => (rows = rows && rows.length >= bytes ? rows : Buffer.alloc(bytes)),
    };
    const splashPrompt =
      splash &&
      new SplashPrompt({
        path: join(o.runtimeDir, SPLASH_KEYS),
        uid,
        replies: { answer: (key, secret) => h.answer(key, secret), decline: (key) => h.decline(key) },
        log: o.log.child("splash"),
        layout: stack.keyboard.layout,
        idle: () => {
          fonts.clear();
          rows = undefined;
        },
        draw: (view) => drawSplashFrame(o.runtimeDir, splash.colours, view, kit),
      });
    return {
      agent,
      plymouth,
      keyring,
      server,
      stack,
      recovery,
      firstboot,
      settings,
      systemd,
      greeterUser: { rssKb: () => userRssKb(uid), sweep: () => sweepUser(uid), gone: (ms) => userGone(uid, ms) },
      tokens: o.first.tokens,
      ...(o.first.greeter ? { firstGreeter: o.first.greeter } : {}),
      ...(o.first.seatd ? { seatd: o.first.seatd } : {}),
      ...(splashPrompt ? { splashPrompt } : {}),
      timeline: o.timeline ?? new Timeline(undefined),
      clock: monotonicClock,
      fallback: (requests, replies) => {
        const log = o.log.child("fallback");
        return startFallback(p.fallback.mode, p.fallback.console, requests, replies, log, {
          layout: stack.keyboard.layout,
          frame: (consoleFd) => openFrameScreen({ consoleFd, assetsDir: o.assetsDir, theme: p.appearance.theme, warn: (l) => log.warning(l) }),
        });
      },
      keepFrame: () =>
        keepLastFrame({
          root: plymouth.record.newRoot ?? o.newRoot ?? "/sysroot",
          runtimeDir: o.runtimeDir,
          grab: (ms, max) => stack.grabFrame(ms, max),
          log: o.log.child("supervisor"),
        }),
    };
  };
}
