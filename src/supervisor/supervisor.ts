// The composition root of the daemon's parts (parts.ts builds them, or a test's fakes stand in):
// the password agent, the greeter server, the display stack and the text fallback, wired to the
// pure state machine (machine.ts) by one effect runner. Everything that happens goes through
// dispatch(event): the machine decides, #run() acts. What the page is sent is snapshot.ts's, where
// its messages go router.ts's.
import { EventEmitter } from "node:events";
import { step, initialState, policyOf, type State, type Event, type Effect, type Policy } from "./machine.js";
import type { Fallback } from "./fallback.js";
import { joinTyped, type Typed } from "./prompt-editor.js";
import { snapshotOf } from "./snapshot.js";
import { Requests } from "./requests.js";
import { stopParts } from "./shutdown.js";
import { route } from "./router.js";
import { perform, setKeyboard } from "./actions.js";
import { logMemory, logTail, Milestones } from "./diagnostics.js";
import type { BuildParts, Parts, RunnerOptions } from "./parts.js";
import type { PendingPrompt } from "../agents/password-agent.js";
import type { Launched } from "../launch/direct.js";
import { describe, FoyerError } from "../base/errors.js";
import type { Logger } from "../base/log.js";
import type { StateMessage } from "../protocol/greeter.js";
import type { Secret } from "../base/secret.js";
import { logDir } from "../state/overlay.js";
import { monotonicNowMs } from "../state/timeline.js";

/** Events for the outside (D-Bus, tests): "phase", "greeter-exited", "prompts", "milestone", "state" (any change of state or flow). */
export class Supervisor extends EventEmitter {
  #o: RunnerOptions;
  #log: Logger;
  #p: Parts;
  #requests: Requests;
  #state: State = initialState;
  #policy: Policy;
  #display?: Launched;
  #greeter?: Launched;
  #fallback?: Fallback;
  /** typed into the splash before the page painted, for the page to go on from */
  #typed?: Typed;
  /** the greeter first-launch.ts launched, until the machine's first start_greeter takes it */
  #firstGreeter?: { launched: Launched; at: number };
  #cancelTimer?: () => void;
  #greeterStartedAt = 0;
  #lastConnectedAt = -1;
  #notice = "";
  #stopRequested = false;
  #exitCode = 0;
  #done?: () => void;
  readonly finished = new Promise<void>((resolve) => (this.#done = resolve));
  #release?: () => void;
  /** resolved when the display is free: the greeter and display server exited, seatd stopped */
  #released = new Promise<void>((resolve) => (this.#release = resolve));
  readonly milestones: Milestones;

  constructor(o: RunnerOptions, build: BuildParts) {
    super();
    this.#o = o;
    this.#log = o.log.child("supervisor");
    this.#p = build({
      snapshot: () => this.snapshot(),
      dispatch: (e) => this.dispatch(e),
      promptsChanged: () => this.#promptsChanged(this.#p.agent.pending()),
      answer: (key, secret, kept) => this.answer(key, secret, kept),
      decline: (key) => this.#requests.decline(key),
      message: (client, m) =>
        perform(this.#p, client, route(m, this.#p.firstboot.active), { restartGreeter: () => this.dispatch({ type: "restart_greeter" }), log: this.#log }),
      stop: (opts) => void this.stop(opts),
      showRecovery: (reason, device) => this.showRecovery(reason, device),
      stopping: () => this.#state.phase === "stopping" || this.#state.phase === "stopped",
      keyboardChosen: (k) => setKeyboard(this.#p, k, this.#log),
      firstbootFinished: () => {
        this.#notice = "This computer is set up.";
        this.#p.server.stateChanged();
        if (!o.firstbootOnly) return;
        this.#log.notice("first-boot setup applied, stopping: the display manager comes next");
        void this.stop({ retainSplash: true });
      },
    });
    this.#requests = new Requests(this.#p);
    this.milestones = new Milestones(this.#p.timeline, this.#p.clock, this.#log);
    this.#firstGreeter = this.#p.firstGreeter;
    this.#policy = policyOf(o.profile, this.#p.stack);
  }

  get state(): State {
    return this.#state;
  }

  #mark(name: string, agoMs = 0): void {
    this.emit("milestone", this.milestones.mark(name, agoMs));
  }

  async start(): Promise<void> {
    const { profile, firstbootOnly } = this.#o;
    const p = this.#p;
    this.#mark("start");
    this.#log.info("keyboard layout", { layout: p.stack.keyboard.layout, variant: p.stack.keyboard.variant, from: profile.keyboard.vconsole });
    // decided before the greeter can connect, so its first state already shows the form
    const form = (profile.flow !== "recovery" || firstbootOnly === true) && (await p.firstboot.start());
    // the listener, the greeter's folders, seatd and the greeter itself are first-launch.ts's
    await p.server.start();
    this.#mark("greeter server listening");
    p.agent.start();
    if (this.#policy.hasGreeter) p.settings.followInputDevices();
    await p.plymouth.start();
    if (p.splashPrompt)
      await p.splashPrompt
        .start(this.#requests.forConsole())
        .catch((e) => this.#log.warning("the splash cannot take keys: it shows the frame only", { err: describe(e) }));
    await p.systemd.start();
    this.dispatch({ type: "start" });
    // first boot only and no form: nothing to wait for; foyer-firstboot.service holds the boot before
    // the display manager (foyerd checked before it launched anything; the root may have changed since)
    if (firstbootOnly && !form) {
      this.#log.notice("no first-boot setup to show, stopping");
      void this.stop();
    } else if (!firstbootOnly && profile.flow === "recovery") this.showRecovery("recovery requested by the profile");
  }

  snapshot(): StateMessage {
    const t = this.#typed;
    const views = this.#requests.views().map((v) => (v.key === t?.key ? { ...v, typed: t.chars } : v));
    return snapshotOf(this.#p, this.#state.phase, views, this.#notice);
  }

  #promptsChanged(list: PendingPrompt[]): void {
    this.#requests.changed(list);
    if (this.#typed && !this.#requests.views().some((v) => v.key === this.#typed!.key)) this.#dropTyped();
    this.#p.server.stateChanged();
    this.#fallback?.update(this.#requests.forConsole());
    this.#p.splashPrompt?.update(this.#requests.forConsole());
    this.emit("prompts", list);
  }

  /** What was typed into the splash for the current request, for the page to go on from. */
  #takeTyped(): void {
    const t = this.#p.splashPrompt?.take();
    if (!t) return;
    this.#typed?.secret.wipe();
    this.#typed = t;
    this.#log.info("the page goes on from what was typed into foyer's frame", { key: t.key, chars: t.chars });
    this.#p.server.stateChanged();
  }

  #dropTyped(): void {
    this.#typed?.secret.wipe();
    this.#typed = undefined;
  }

  /**
   * Answers a pending request; the caller wipes the secret. `kept` > 0: the answer goes on from
   * that many of the characters typed into foyer's frame (`typed` in the page's state).
   */
  answer(key: number, secret: Secret, kept = 0): void {
    const t = this.#typed;
    if (kept > 0) {
      if (!t || t.key !== key || kept > t.chars)
        throw new FoyerError("not-found", "what was typed before the greeter came is no longer held: type the whole passphrase again");
      const whole = joinTyped(t, kept, secret);
      this.#dropTyped();
      try {
        this.answer(key, whole);
      } finally {
        whole.wipe();
      }
      return;
    }
    if (t?.key === key) this.#dropTyped(); // the page sent the whole answer itself
    this.#requests.answer(key, secret);
    this.#mark("prompt answered");
    this.#p.timeline.end(`prompt ${key}`);
  }

  /** Shows the recovery screen (D-Bus ShowRecovery, foyerd --recovery, the profile's flow). */
  showRecovery(reason: string, fsckDevice?: string): void {
    this.#p.recovery.start(reason, fsckDevice);
    this.emit("state", this.#state); // the flow changed
  }

  /**
   * Handoff (D-Bus Handoff, foyerctl handoff): the display manager takes the screen; foyer keeps the
   * last frame and stops as for `plymouth quit --retain-splash`. Resolves once the display is
   * released: the greeter, the display server and seatd are gone.
   */
  handoff(): Promise<void> {
    this.#log.notice("handoff requested, stopping");
    this.#p.timeline.mark("handoff");
    void this.stop({ retainSplash: true });
    return this.#released;
  }

  /** Reload (D-Bus Reload): re-reads the ask directory and sends the greeter its full state again. */
  reload(): void {
    this.#p.agent.scan();
    this.#p.server.stateChanged();
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
      if (opts.retainSplash && this.#p.stack.onScreen && this.#greeter && (await this.#p.keepFrame())) this.#p.timeline.mark("frame kept");
      this.dispatch({ type: "stop" });
    }
    await this.finished;
  }

  /** foyerd's exit code once `finished`: 1 when a first-boot-only run gave up, else 0 */
  get exitCode(): number {
    return this.#exitCode;
  }

  dispatch(e: Event): void {
    const before = this.#state;
    const now = () => this.#p.clock.now();
    const [next, effects] = step(before, e, this.#policy, now());
    this.#state = next;
    if (before.phase !== next.phase) {
      this.#log.info(`phase ${next.phase}`);
      this.emit("phase", next.phase);
      this.#p.server.stateChanged();
    }
    if (e.type === "greeter_lost" && next !== before)
      this.#log.warning("greeter page disconnected, restarting the greeter unless it connects again", { ms: this.#policy.lostTimeoutMs });
    if (e.type === "timer" && before.greeter.kind === "running" && next.greeter.kind === "stopping")
      this.#log.warning("greeter page did not come back, restarting the greeter");
    if (e.type === "greeter_connected" && before.greeter.kind === "starting" && next.greeter.kind === "running") {
      this.#lastConnectedAt = now();
      this.#p.stack.greeterPainted();
      this.#takeTyped();
      // a page that painted before its socket opened took keys from then on
      const ago = Math.min(e.paintedMsAgo ?? 0, now() - this.#greeterStartedAt);
      this.#p.timeline.end("greeter start", monotonicNowMs() - ago);
      this.#mark(next.restarts === 0 ? "greeter interactive" : "greeter interactive again", ago);
      this.#log.info("greeter respawn time", { ms: now() - ago - this.#greeterStartedAt, restarts: next.restarts });
      if (next.restarts === 0) logMemory(this.#log, () => (this.#policy.hasGreeter ? this.#p.greeterUser.rssKb() : 0));
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
    const p = this.#p;
    const stopMs = this.#o.profile.restart.stopTimeoutMs;
    switch (fx.do) {
      case "start_display": {
        const h = p.stack.startDisplay();
        this.#display = h.launched;
        p.timeline.begin("display server start");
        h.ready.then(
          () => {
            p.timeline.end("display server start");
            if (this.#display === h.launched) this.dispatch({ type: "display_ready" });
          },
          () => {},
        );
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
        const startedAt = (this.#greeterStartedAt = adopted?.at ?? p.clock.now());
        p.timeline.begin("greeter start", adopted?.at);
        const g = adopted?.launched ?? p.stack.startGreeter();
        this.#greeter = g;
        const revoke = p.tokens.latest;
        void g.exited.then((x) => {
          revoke?.(); // its token dies with it
          if (this.#greeter === g) this.#greeter = undefined;
          this.#log.warning("greeter exited", { code: x.code, signal: x.signal });
          // one that never connected (it crashed, or was stopped at the ready deadline) says why
          if (this.#lastConnectedAt < startedAt) logTail(this.#log, logDir(this.#o.runtimeDir), "greeter");
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
      case "arm":
        this.#cancelTimer?.();
        this.#cancelTimer = p.clock.after(Math.max(0, fx.at - p.clock.now()), () => this.dispatch({ type: "timer" }));
        return;
      case "fallback_start":
        if (this.#o.firstbootOnly) {
          // the console's text prompt answers passwords, not a form: leave the boot to what comes next
          this.#log.error(`crash-loop breaker tripped: ${fx.reason}; first-boot setup gives up`);
          this.#exitCode = 1;
          void this.stop();
          return;
        }
        this.#log.error(`crash-loop breaker tripped: ${fx.reason}; falling back to the console`);
        this.#fallback = p.fallback(this.#requests.forConsole(), {
          answer: (key, secret) => this.answer(key, secret),
          decline: (key) => this.#requests.decline(key),
        });
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
    this.#cancelTimer?.();
    this.#dropTyped();
    await stopParts(this.#p, { fallback: this.#fallback, hasGreeter: this.#policy.hasGreeter, released: () => this.#release?.(), log: this.#log });
    this.#mark("exit");
    this.#done?.();
  }
}
