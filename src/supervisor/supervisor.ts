// The composition root of the daemon's parts: the password agent, the greeter server, the display
// stack and the text fallback, wired to the pure state machine (machine.ts) by one effect runner.
// Everything that happens goes through dispatch(event): the machine decides, run() acts.
import { writeFileSync, renameSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { EventEmitter } from "node:events";
import { step, initialState, type State, type Event, type Effect, type Policy } from "./machine.js";
import { startFallback, type ConsoleRequest, type Fallback } from "./fallback.js";
import { Recovery } from "./recovery.js";
import { Firstboot } from "./firstboot.js";
import { GreeterSettings } from "./greeter-settings.js";
import { PasswordAgent, type PendingPrompt } from "../agents/password-agent.js";
import { PlymouthServer, PLYMOUTH_SOCKET, activatedFd } from "../agents/plymouth.js";
import { KeyringCache } from "../agents/keyring.js";
import { GreeterServer } from "../greeter/server.js";
import type { LaunchTokens } from "../greeter/listener.js";
import type { DisplayStack } from "../display/stacks.js";
import { frameBuffer, ppmToFrame, writeFrame, framebufferConsoles, bindConsoles, activeVt, rootRestoresConsole, HELD_FILE, CONSOLE_UNIT } from "../display/handoff.js";
import type { Keyboard } from "../display/keyboard.js";
import { sweepUser, userGone, userRssKb, type Launched } from "../launch/direct.js";
// the systemd launcher and the boot-failure watch (dbus-next under them) are loaded when systemd
// is there to use: without it they stay off the way to the first prompt
import type { SystemdLink } from "../launch/systemd.js";
import type { BootFailureWatch } from "../launch/boot-failures.js";
import { systemdIsPid1, wantsSystemd } from "../launch/pid1.js";
import type { FirstLaunch, SwitchableLauncher } from "./first-launch.js";
import { describe, FoyerError } from "../base/errors.js";
import { escapeControlsText } from "../base/controls.js";
import { monotonicMs, monotonicUs } from "../base/timeout.js";
import { classifyPrompt } from "../protocol/classify.js";
import type { Logger } from "../base/log.js";
import type { Profile } from "../profile/schema.js";
import type { PromptView, StateMessage } from "../protocol/greeter.js";
import type { Secret } from "../base/secret.js";
import { Timeline, processStartMs } from "../state/timeline.js";
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

export interface Milestone {
  name: string;
  /** ms since foyerd's process started, on the monotonic clock (the greeter may be launched before the supervisor exists) */
  at: number;
}

/** Events for the outside (D-Bus, tests): "phase", "greeter-exited", "prompts", "milestone", "state" (any change of state or flow). */
export class Supervisor extends EventEmitter {
  #o: SupervisorOptions;
  #log: Logger;
  #state: State = initialState;
  #policy: Policy;
  #agent: PasswordAgent;
  #keyring: KeyringCache;
  #plymouth: PlymouthServer;
  #server: GreeterServer;
  #stack: DisplayStack;
  #keyboard: Keyboard;
  #display?: Launched;
  #greeter?: Launched;
  #seatd?: Launched;
  #fallback?: Fallback;
  /** the backend the display stack starts through: direct until start() found systemd */
  #launcher: SwitchableLauncher;
  #tokens: LaunchTokens;
  /** the greeter first-launch.ts launched, until the machine's first start_greeter takes it */
  #firstGreeter?: { launched: Launched; at: number };
  #systemd?: SystemdLink;
  #bootWatch?: BootFailureWatch;
  #recovery: Recovery;
  #firstboot: Firstboot;
  #settings: GreeterSettings;
  #timer?: NodeJS.Timeout;
  #t0 = Math.round(processStartMs());
  #greeterStartedAt = 0;
  #lastConnectedAt = -1;
  #notice = "";
  #timeline: Timeline;
  #shownPrompts = new Set<number>();
  #done?: () => void;
  readonly finished: Promise<void>;
  /** resolved when the display is free: the greeter and display server exited, seatd stopped */
  #released: Promise<void>;
  #release?: () => void;
  readonly milestones: Milestone[] = [];

  constructor(o: SupervisorOptions) {
    super();
    this.#o = o;
    this.#log = o.log.child("supervisor");
    this.#timeline = o.timeline ?? new Timeline(undefined);
    const p = o.profile;
    const first = o.first;
    this.#keyboard = first.keyboard;
    this.#keyring = new KeyringCache({ ...p.keyring, log: o.log.child("keyring") });
    this.#agent = new PasswordAgent({ askDir: o.askDir, log: o.log.child("agent"), onChange: (list) => this.#promptsChanged(list) });
    // the legacy name only beside the default one: it is where the plymouth client falls back to.
    // foyer-plymouth.socket hands over the current name only (systemd cannot bind the padded
    // legacy one, which foyerd binds itself); the keeper hands over both
    const plymouthFds = { current: activatedFd(process.env, process.pid, "plymouth"), legacy: activatedFd(process.env, process.pid, "plymouth-legacy") };
    this.#plymouth = new PlymouthServer({
      ...p.plymouth,
      legacy: p.plymouth.socket === PLYMOUTH_SOCKET,
      log: o.log.child("plymouth"),
      // sulogin asks plymouthd to quit so that it has the console: in foyer's terminal that is the
      // terminal. dracut's emergency shell asks too, for the text console: the recovery screen,
      // with sulogin in its terminal, is what the person needs then; Continue leaves it first
      keepOnQuit: (pid) =>
        this.#recovery.terminalHolds(pid)
          ? "the quit came from foyer's own recovery terminal (sulogin)"
          : this.#recovery.active
            ? "the recovery screen is up (an emergency shell asks for the console)"
            : undefined,
      activatedFds: plymouthFds,
    });
    this.#plymouth.on("prompts", () => this.#promptsChanged(this.#agent.pending()));
    this.#plymouth.on("messages", () => this.#server.stateChanged());
    this.#plymouth.on("fsck", () => this.#server.stateChanged());
    // `plymouth quit` (GDM's handoff, or plymouth-quit.service): foyer's job is done; the ACK
    // goes out from stop(), once the display is released
    this.#plymouth.on("quit", (q: { retainSplash: boolean }) => void this.stop({ retainSplash: q.retainSplash }));
    this.#server = new GreeterServer({
      assetsDir: o.assetsDir,
      uiDir: o.uiDir,
      port: p.greeter.port,
      listener: first.listener,
      log: o.log.child("greeter"),
      snapshot: () => this.snapshot(),
      onReady: () => this.dispatch({ type: "greeter_connected" }),
      onAnswer: (key, secret) => this.answer(key, secret),
      onCancel: (key) => this.#decline(key),
      // the last page gone while its browser lives: the machine gives it lostTimeoutMs to come back
      onClients: (count) => count === 0 && this.dispatch({ type: "greeter_lost" }),
      onMessage: (client, m) => {
        switch (m.type) {
          case "recovery_action":
            return this.#recovery.action(m.action);
          case "terminal_open":
            return this.#recovery.openTerminal(client, m.cols, m.rows, m.repair === true);
          case "terminal_resize":
            return this.#recovery.resize(client, m.cols, m.rows);
          case "terminal_close":
            return this.#recovery.closeTerminal(client);
          case "firstboot_options":
            if (this.#firstboot.active) this.#server.send(client, this.#firstboot.options());
            return;
          case "firstboot_keyboard":
            return this.#firstboot.chooseKeyboard(m.layout, m.variant);
          case "firstboot_submit":
            return this.#firstboot.submit(m.answers);
          case "keyboard_layouts":
            return this.#server.send(client, { type: "keyboard_layouts", layouts: this.#settings.layouts() });
          case "keyboard_set":
            this.#settings.check(m.layout, m.variant);
            this.#keyboard = { ...this.#keyboard, layout: m.layout, variant: m.variant };
            this.#server.stateChanged(); // the footer shows it while it is applied
            void this.#settings.applyKeyboard(this.#stack, this.#keyboard, () => this.dispatch({ type: "restart_greeter" })).catch((e) => this.#log.warning("keyboard layout not applied", { err: describe(e) }));
            return;
          case "appearance_set": {
            const { type: _, ...change } = m;
            return this.#settings.set(change);
          }
        }
      },
      onTerminalInput: (client, bytes) => this.#recovery.input(client, bytes),
      onDisconnect: (client) => this.#recovery.closeTerminal(client),
      onFirstbootPassword: (field, secret) => this.#firstboot.password(field, secret),
    });
    this.#firstboot = new Firstboot({
      enabled: p.firstboot.enabled,
      root: p.firstboot.root,
      stateDir: stateDir(o.runtimeDir),
      log: o.log.child("firstboot"),
      keyboard: this.#keyboard,
      changed: () => this.#server.stateChanged(),
      keyboardChosen: (k) => {
        this.#keyboard = { ...this.#keyboard, ...k };
        // X takes it at once; cage is not restarted under a half-filled form, it gets the layout at its next start
        void this.#stack.setKeyboard(this.#keyboard).catch((e) => this.#log.warning("keyboard layout not applied", { err: describe(e) }));
        this.#server.stateChanged();
      },
      finished: () => {
        this.#notice = "This computer is set up.";
        this.#server.stateChanged();
        if (o.firstbootOnly) {
          this.#log.notice("first-boot setup applied, stopping: the display manager comes next");
          void this.stop({ retainSplash: true });
        }
      },
    });
    this.#recovery = new Recovery(
      p,
      join(logDir(o.runtimeDir), "foyerd.log"),
      o.log.child("recovery"),
      () => this.#server.stateChanged(),
      (c, b, done) => this.#server.sendTerminal(c, b, done),
      (c, code, message) => this.#server.send(c, { type: "error", code, message }),
    );
    this.#settings = new GreeterSettings({
      profile: p,
      ...(o.cmdlineLang ? { cmdlineLang: o.cmdlineLang } : {}),
      log: o.log.child("settings"),
      changed: () => this.#server.stateChanged(),
      devicesChanged: (d) => {
        if (d.keyboard) void this.#stack.inputDevicesChanged().catch((e) => this.#log.warning("keyboard layout not set again", { err: describe(e) }));
      },
    });
    this.#tokens = first.tokens;
    this.#launcher = first.launcher;
    this.#stack = first.stack;
    this.#firstGreeter = first.greeter;
    this.#seatd = first.seatd;
    this.#policy = {
      hasDisplay: this.#stack.hasDisplay,
      hasGreeter: this.#stack.hasGreeter,
      burst: p.restart.burst,
      windowMs: p.restart.windowMs,
      initialMs: p.restart.initialMs,
      maxMs: p.restart.maxMs,
      readyTimeoutMs: p.greeter.readyTimeoutMs,
      lostTimeoutMs: p.greeter.lostTimeoutMs,
      maxFailedStarts: p.restart.maxFailedStarts,
    };
    this.finished = new Promise((resolve) => (this.#done = resolve));
    this.#released = new Promise((resolve) => (this.#release = resolve));
  }

  get state(): State {
    return this.#state;
  }
  get url(): string {
    return this.#server.url;
  }
  get pending(): PendingPrompt[] {
    return this.#agent.pending();
  }
  get keyboard(): Keyboard {
    return this.#keyboard;
  }

  /** What the prompt costs, once, when it first shows: foyerd, the greeter's stack, the machine. */
  #logMemory(): void {
    try {
      const mem = readFileSync("/proc/meminfo", "utf8");
      const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(mem)?.[1] ?? 0);
      const mb = (k: number) => Math.round(k / 102.4) / 10;
      this.#log.info("memory at the prompt", {
        supervisorMb: mb(process.memoryUsage().rss / 1024),
        greeterMb: this.#policy.hasGreeter ? mb(userRssKb(this.#stack.user.uid)) : 0,
        systemUsedMb: mb(kb("MemTotal") - kb("MemAvailable")),
      });
    } catch {
      /* no /proc: nothing to say */
    }
  }

  #mark(name: string): void {
    const m = { name, at: monotonicMs() - this.#t0 };
    this.milestones.push(m);
    this.#timeline.mark(name);
    this.#log.info(name, { ms: m.at });
    this.emit("milestone", m);
  }

  async start(): Promise<void> {
    this.#mark("start");
    const k = this.#keyboard;
    this.#log.info("keyboard layout", { layout: k.layout, variant: k.variant, from: this.#o.profile.keyboard.vconsole });
    // decided before the greeter can connect, so its first state already shows the form
    const form = (this.#o.profile.flow !== "recovery" || this.#o.firstbootOnly === true) && this.#firstboot.start();
    // the listener, the greeter's folders, seatd and the greeter itself are first-launch.ts's
    await this.#server.start();
    const urlFile = join(this.#o.runtimeDir, "greeter-url");
    writeFileSync(`${urlFile}.tmp`, this.#server.url + "\n", { mode: 0o600 });
    renameSync(`${urlFile}.tmp`, urlFile);
    this.#mark("greeter server listening");
    this.#agent.start();
    if (this.#policy.hasGreeter) this.#settings.followInputDevices();
    await this.#plymouth.start();
    await this.#useSystemd();
    this.dispatch({ type: "start" });
    if (this.#o.firstbootOnly) {
      // nothing to wait for without a form: foyer-firstboot.service holds the boot before the
      // display manager (foyerd checked before it launched anything; the root may have changed since)
      if (!form) {
        this.#log.notice("no first-boot setup to show, stopping");
        void this.stop();
      }
    } else if (this.#o.profile.flow === "recovery") this.showRecovery("recovery requested by the profile");
  }

  /**
   * Connects to systemd when the profile's launch backend or recovery.watchSystemd needs it.
   * Never throws: without systemd, units start directly and recovery is entered by hand only.
   */
  async #useSystemd(): Promise<void> {
    const p = this.#o.profile;
    const log = this.#o.log.child("systemd");
    const systemd = wantsSystemd(p.launch) ? await import("../launch/systemd.js") : undefined;
    const choice = systemd ? await systemd.chooseBackend(p.launch, log) : { kind: "direct" as const, problem: undefined, link: undefined };
    if (choice.problem) {
      if (p.launch === "systemd") log.error("launch is 'systemd' but systemd does not answer on its bus; starting units directly", { err: choice.problem });
      else log.info("systemd does not answer on its bus; starting units directly", { err: choice.problem });
    }
    const link = choice.link;
    if (link) this.#launcher.target = new systemd!.SystemdLauncher(link, this.#o.log.child("launch"), { stopTimeoutMs: p.restart.stopTimeoutMs, fallback: this.#launcher.target });
    this.#log.info(`launch backend ${choice.kind}`, link ? { bus: link.address } : {});
    this.#systemd = link;
    if (p.recovery.watchSystemd && systemdIsPid1()) {
      // in the background when the greeter does not need systemd: a bus that is slow to answer
      // must not hold back the first prompt
      const watching = this.#watchSystemd(link, log);
      if (link) await watching;
      else void watching;
    }
  }

  async #watchSystemd(have: SystemdLink | undefined, log: Logger): Promise<void> {
    let link = have;
    if (!link) {
      const w = await (await import("../launch/systemd.js")).chooseBackend("systemd", log);
      link = w.link;
      if (!link) return log.warning("cannot watch systemd for failed boot units, ignoring", { err: w.problem });
      if (this.#state.phase === "stopping" || this.#state.phase === "stopped") return link.close();
      this.#systemd = link;
    }
    const { BootFailureWatch } = await import("../launch/boot-failures.js");
    if (this.#state.phase === "stopping" || this.#state.phase === "stopped") return;
    this.#bootWatch = new BootFailureWatch(link, log, this.#o.cmdlineFile ? { cmdline: this.#o.cmdlineFile } : {});
    this.#bootWatch.on("failure", (reason: string, _unit: string, device: string | undefined) => this.showRecovery(reason, device));
    await this.#bootWatch.start();
  }

  snapshot(): StateMessage {
    return {
      type: "state",
      flow: this.#recovery.active ? "recovery" : this.#firstboot.active ? "firstboot" : "unlock",
      phase: this.#state.phase,
      prompts: this.#pendingPrompts(),
      keyboard: { layout: this.#keyboard.layout, variant: this.#keyboard.variant },
      notice: this.#notice,
      messages: this.#plymouth.messages,
      diskCheck: this.#plymouth.record.fsck,
      ...(this.#recovery.active ? { recovery: this.#recovery.view } : {}),
      ...(this.#firstboot.active ? { firstboot: this.#firstboot.view } : {}),
      locale: this.#settings.locale,
      appearance: this.#settings.appearance,
    };
  }

  /**
   * The last lines a unit wrote (its log file), when it failed before it was up: the reason is
   * there (a missing library, no DRM device) and in the initramfs nobody can go and read the file.
   * Browsers print their URL: tokens are cut out.
   */
  #logTail(unit: string): void {
    try {
      const text = readFileSync(join(logDir(this.#o.runtimeDir), `${unit}.log`), "utf8");
      // the last lines as warnings; with rd.foyer.debug, more of what came before
      const lines = text.trimEnd().split("\n").slice(-40);
      lines.forEach((line, i) => {
        // the unit's own words: none of its control characters may act on a console showing the log
        const said = `${unit} said: ${escapeControlsText(line.replace(/token=[\w-]+/g, "token=…").slice(0, 300))}`;
        if (i >= lines.length - 6) this.#log.warning(said);
        else this.#log.debug(said);
      });
    } catch {
      /* no log yet */
    }
  }

  #promptsChanged(list: PendingPrompt[]): void {
    // a request asked again: the passphrase that answered it before did not open the disk
    for (const p of list) this.#keyring.asked(p.request.id);
    // each request's life on the timeline: a span from shown to answered (or gone)
    const now = new Set([...list.map((p) => p.key), ...this.#plymouth.pending().map((p) => p.key)]);
    for (const k of now) if (!this.#shownPrompts.has(k)) this.#timeline.begin(`prompt ${k}`);
    for (const k of this.#shownPrompts) if (!now.has(k)) this.#timeline.end(`prompt ${k}`);
    this.#shownPrompts = now;
    this.#server.stateChanged();
    this.#fallback?.update(this.#consoleRequests());
    this.emit("prompts", list);
  }

  /**
   * Every pending request, systemd's first, as the greeter shows them. A deadline goes out as the
   * time left now, the page's clock being its own: each state sent restarts its countdown.
   */
  #pendingPrompts(): PromptView[] {
    const nowUs = monotonicUs();
    // a question (Echo=) is shown as sent, whatever its words
    const kind = (message: string, echo: boolean) => (echo ? "passphrase" : classifyPrompt(message));
    return [
      ...this.#agent.pending().map((p) => ({
        key: p.key,
        message: p.request.message,
        echo: p.request.echo,
        silent: p.request.silent,
        retries: p.retries,
        kind: kind(p.request.message, p.request.echo),
        ...(p.request.notAfterUs > 0n ? { expiresInMs: Math.max(0, Number((p.request.notAfterUs - nowUs) / 1000n)) } : {}),
        ...(p.request.id ? { id: p.request.id } : {}),
        ...(p.request.icon ? { icon: p.request.icon } : {}),
      })),
      ...this.#plymouth.pending().map((p) => ({ key: p.key, message: p.message, echo: p.echo, silent: false, retries: p.retries, kind: kind(p.message, p.echo) })),
    ];
  }

  /** The same requests, in the same order, as the text fallback asks them. */
  #consoleRequests(): ConsoleRequest[] {
    return this.#pendingPrompts().map(({ key, message, echo, retries, kind }) => ({ key, message, echo, retries, kind, from: this.#plymouth.owns(key) ? "plymouth" : "systemd" }));
  }

  #decline(key: number): void {
    if (this.#plymouth.owns(key)) this.#plymouth.cancel(key);
    else this.#agent.cancel(key);
  }

  /** Answers a pending request; the caller wipes the secret. */
  answer(key: number, secret: Secret): void {
    if (this.#plymouth.owns(key)) this.#plymouth.answer(key, secret);
    else {
      const id = this.#agent.pending().find((p) => p.key === key)?.request.id;
      this.#agent.answer(key, secret);
      this.#keyring.answered(id, secret);
    }
    this.#mark("prompt answered");
    this.#timeline.end(`prompt ${key}`);
  }

  /** Shows the recovery screen (D-Bus ShowRecovery, foyerd --recovery, the profile's flow). */
  showRecovery(reason: string, fsckDevice?: string): void {
    this.#recovery.start(reason, fsckDevice);
    this.emit("state", this.#state); // the flow changed
  }

  /**
   * Handoff (D-Bus Handoff, foyerctl handoff): the display manager takes the screen; foyer keeps the
   * last frame and stops as for `plymouth quit --retain-splash`. Resolves once the display is
   * released: the greeter, the display server and seatd are gone.
   */
  handoff(): Promise<void> {
    this.#log.notice("handoff requested, stopping");
    this.#timeline.mark("handoff");
    void this.stop({ retainSplash: true });
    return this.#released;
  }

  /** Reload (D-Bus Reload): re-reads the ask directory and sends the greeter its full state again. */
  reload(): void {
    this.#agent.scan();
    this.#server.stateChanged();
    this.emit("state", this.#state);
  }

  restartGreeter(): void {
    if (!this.#policy.hasGreeter) throw new FoyerError("unsupported", "this profile has no greeter process");
    this.dispatch({ type: "restart_greeter" });
  }

  /**
   * Stops everything. With `retainSplash` (switch-root, a handoff, `plymouth quit --retain-splash`)
   * the greeter's last frame stays on the screen for the display manager (src/display/handoff.ts).
   */
  async stop(opts: { retainSplash?: boolean } = {}): Promise<void> {
    if (!this.#stopRequested) {
      this.#stopRequested = true;
      if (opts.retainSplash) await this.#freezeFrame();
      this.dispatch({ type: "stop" });
    }
    await this.finished;
  }
  #stopRequested = false;

  /** foyerd's exit code once `finished`: 1 when a first-boot-only run gave up, else 0 */
  get exitCode(): number {
    return this.#exitCode;
  }
  #exitCode = 0;

  /** Leaves the greeter's frame on the fbdev framebuffer with no console drawing over it; never throws. */
  async #freezeFrame(): Promise<void> {
    const log = this.#log;
    if (!this.#stack.onScreen || !this.#greeter) return;
    const root = this.#plymouth.record.newRoot ?? this.#o.newRoot ?? "/sysroot";
    if (!rootRestoresConsole(root)) return log.info(`not keeping the last frame: '${root}' has no ${CONSOLE_UNIT} to give the text console back`);
    const fb = frameBuffer();
    if (!fb) return log.info("not keeping the last frame: no 24/32-bit framebuffer at /sys/class/graphics/fb0");
    const t0 = monotonicMs();
    let frame: Buffer;
    try {
      // a frame up to twice the framebuffer's size each way is still centred and cropped; more is not a frame of this screen
      frame = ppmToFrame(await this.#stack.grabFrame(2000, 64 + 3 * (2 * fb.width) * (2 * fb.height)), fb);
    } catch (e) {
      log.warning("cannot take the greeter's last frame, leaving the screen black", { err: describe(e) });
      frame = Buffer.alloc(fb.stride * fb.height);
    }
    let consoles: string[] = [];
    try {
      writeFrame(fb, frame);
      consoles = framebufferConsoles();
      writeFileSync(join(this.#o.runtimeDir, HELD_FILE), JSON.stringify({ vt: activeVt() ?? null, consoles, root }) + "\n");
      bindConsoles(consoles, false);
      this.#timeline.mark("frame kept");
      log.notice("last frame kept on the screen for the display manager", { ms: Math.round(monotonicMs() - t0), consoles: consoles.length, size: `${fb.width}x${fb.height}` });
    } catch (e) {
      log.warning("cannot keep the last frame, the console shows again", { err: describe(e) });
      try {
        bindConsoles(consoles, true);
      } catch {
        /* nothing more to do: the kernel keeps what it has */
      }
    }
  }

  dispatch(e: Event): void {
    const before = this.#state;
    const [next, effects] = step(before, e, this.#policy, monotonicMs());
    this.#state = next;
    if (before.phase !== next.phase) {
      this.#log.info(`phase ${next.phase}`);
      this.emit("phase", next.phase);
      this.#server.stateChanged();
    }
    if (e.type === "greeter_lost" && next !== before) this.#log.warning("greeter page disconnected, restarting the greeter unless it connects again", { ms: this.#policy.lostTimeoutMs });
    if (e.type === "timer" && before.greeter.kind === "running" && next.greeter.kind === "stopping") this.#log.warning("greeter page did not come back, restarting the greeter");
    if (e.type === "greeter_connected" && before.greeter.kind === "starting" && next.greeter.kind === "running") {
      this.#lastConnectedAt = monotonicMs();
      this.#timeline.end("greeter start");
      this.#mark(next.restarts === 0 ? "greeter interactive" : "greeter interactive again");
      this.#log.info("greeter respawn time", { ms: monotonicMs() - this.#greeterStartedAt, restarts: next.restarts });
      if (next.restarts === 0) this.#logMemory();
    }
    for (const fx of effects) {
      try {
        this.#run(fx);
      } catch (err) {
        this.#log.error(`effect ${fx.do} failed`, { err: describe(err) });
        // a failed start is an exit: the machine decides whether to retry or fall back
        if (fx.do === "start_greeter") queueMicrotask(() => this.dispatch({ type: "greeter_exited", code: 127, signal: null }));
        if (fx.do === "start_display") queueMicrotask(() => this.dispatch({ type: "display_exited", code: 127, signal: null }));
      }
    }
    // after the effects: a D-Bus client sees GreeterExited before the restart it caused
    if (next !== before) this.emit("state", next);
  }

  #run(fx: Effect): void {
    const stopMs = this.#o.profile.restart.stopTimeoutMs;
    switch (fx.do) {
      case "start_display": {
        const h = this.#stack.startDisplay();
        this.#display = h.launched;
        this.#timeline.begin("display server start");
        h.ready.then(() => {
          this.#timeline.end("display server start");
          if (this.#display === h.launched) this.dispatch({ type: "display_ready" });
        }, () => {});
        void h.launched.exited.then((x) => {
          if (this.#display === h.launched) this.#display = undefined;
          this.#log.warning("display server exited", { code: x.code, signal: x.signal });
          this.dispatch({ type: "display_exited", code: x.code, signal: x.signal });
        });
        return;
      }
      case "start_greeter": {
        const adopted = this.#firstGreeter;
        this.#firstGreeter = undefined;
        this.#greeterStartedAt = adopted?.at ?? monotonicMs();
        this.#timeline.begin("greeter start", adopted?.at);
        const g = adopted?.launched ?? this.#stack.startGreeter();
        this.#greeter = g;
        const revoke = this.#tokens.latest;
        const startedAt = this.#greeterStartedAt;
        void g.exited.then((x) => {
          revoke?.(); // its token dies with it
          if (this.#greeter === g) this.#greeter = undefined;
          this.#log.warning("greeter exited", { code: x.code, signal: x.signal });
          // one that never connected (it crashed, or was stopped at the ready deadline) says why
          if (this.#lastConnectedAt < startedAt) this.#logTail("greeter");
          this.dispatch({ type: "greeter_exited", code: x.code, signal: x.signal });
        });
        return;
      }
      case "stop_greeter":
        void this.#greeter?.stop(stopMs);
        return;
      case "stop_display":
        void this.#display?.stop(stopMs);
        return;
      case "arm": {
        clearTimeout(this.#timer);
        const delay = Math.max(0, fx.at - monotonicMs());
        this.#timer = setTimeout(() => this.dispatch({ type: "timer" }), delay);
        return;
      }
      case "fallback_start":
        if (this.#o.firstbootOnly) {
          // the console's text prompt answers passwords, not a form: leave the boot to what comes next
          this.#log.error(`crash-loop breaker tripped: ${fx.reason}; first-boot setup gives up`);
          this.#exitCode = 1;
          void this.stop();
          return;
        }
        this.#log.error(`crash-loop breaker tripped: ${fx.reason}; falling back to the console`);
        this.#fallback = startFallback(
          this.#o.profile.fallback.mode,
          this.#o.profile.fallback.console,
          this.#consoleRequests(),
          { answer: (key, secret) => this.answer(key, secret), decline: (key) => this.#decline(key) },
          this.#o.log.child("fallback"),
        );
        return;
      case "fallback_stop":
        this.#fallback?.stop();
        this.#fallback = undefined;
        return;
      case "notify_exit":
        this.emit("greeter-exited", fx.code, fx.signal);
        return;
      case "done":
        void this.#shutdown();
        return;
    }
  }

  async #shutdown(): Promise<void> {
    clearTimeout(this.#timer);
    // each part in its own try: one failing must not keep the others running
    for (const [name, f] of [
      ["agent", () => this.#agent.stop()],
      ["settings", () => this.#settings.stop()],
      ["keyring", () => this.#keyring.stop()],
      ["terminal", () => this.#recovery.closeTerminal()],
      ["fallback", () => this.#fallback?.stop()],
      ["seatd", () => this.#seatd?.stop(1000)],
      ["server", () => this.#server.stop()],
      ["systemd", () => (this.#bootWatch?.stop(), this.#systemd?.close())],
      ["greeter user's processes", () => this.#policy.hasGreeter && sweepUser(this.#stack.user.uid) && this.#log.info("swept the greeter user's leftover processes")],
      // Handoff's reply once nothing of the greeter holds the display: the sweep's SIGKILLs are only sent
      ["display", async () => {
        try {
          if (this.#policy.hasGreeter && !(await userGone(this.#stack.user.uid, 2000))) this.#log.warning("the greeter user's processes outlived their SIGKILL by 2 s");
        } finally {
          this.#release?.();
        }
      }],
      // last: its quit ACK tells `plymouth quit` that the display is free
      ["plymouth", () => this.#plymouth.stop()],
    ] as const) {
      try {
        await f();
      } catch (e) {
        this.#log.warning(`stopping ${name} failed, ignoring`, { err: describe(e) });
      }
    }
    this.#mark("exit");
    this.#done?.();
  }
}
