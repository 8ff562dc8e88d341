// The supervisor's effect runner with fake parts and a fake clock: greeter exits, restarts, the
// backoff, the crash-loop breaker's text fallback and a manual restart out of it, driven through
// the runner itself (machine.test.ts checks the decisions alone) with no socket and no process.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Supervisor } from "../../src/supervisor/supervisor.js";
import type { Clock, Hooks, Parts } from "../../src/supervisor/parts.js";
import type { ConsoleRequest } from "../../src/supervisor/fallback.js";
import type { Exit, Launched } from "../../src/launch/direct.js";
import type { PendingPrompt } from "../../src/agents/password-agent.js";
import type { GreeterClient } from "../../src/greeter/server.js";
import { US } from "../../src/display/keyboard.js";
import { Timeline } from "../../src/state/timeline.js";
import { parseProfile } from "../../src/profile/load.js";
import { Secret } from "../../src/base/secret.js";
import { collectingLogger, withTimeout } from "../helpers/index.js";

/** Monotonic time that moves only when the test says; timers fire in order as it passes them. */
class FakeClock implements Clock {
  t = 50_000;
  #timers: { at: number; f: () => void }[] = [];
  now(): number {
    return this.t;
  }
  after(ms: number, f: () => void): () => void {
    const timer = { at: this.t + ms, f };
    this.#timers.push(timer);
    return () => (this.#timers = this.#timers.filter((x) => x !== timer));
  }
  /** Moves time on by `ms`, firing each timer due on the way (and letting what it started settle). */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const due = this.#timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((x) => x !== due);
      this.t = due.at;
      due.f();
      await settle();
    }
    this.t = end;
  }
}

/** A greeter "process": it exits when the test says, or when stopped. */
class FakeGreeter implements Launched {
  readonly pid: number;
  readonly pipes = [];
  readonly exited: Promise<Exit>;
  stops = 0;
  #exit!: (x: Exit) => void;
  constructor(pid: number) {
    this.pid = pid;
    this.exited = new Promise((resolve) => (this.#exit = resolve));
  }
  exit(code: number | null, signal: string | null = null): void {
    this.#exit({ code, signal });
  }
  stop(): Promise<Exit> {
    this.stops++;
    this.exit(null, "SIGTERM");
    return this.exited;
  }
}

/** What the greeter's exit promise and the runner's .then()s need to run: no timers involved. */
const settle = () => withTimeout(new Promise<void>((resolve) => setImmediate(resolve)), 1000, "settling");

const PROFILE = {
  schema: 1,
  display: { stack: "headless-wayland" },
  restart: { burst: 3, windowMs: 10_000, initialMs: 100, maxMs: 2_000, maxFailedStarts: 3 },
  greeter: { readyTimeoutMs: 30_000, lostTimeoutMs: 5_000 },
};

const PROMPT: PendingPrompt = {
  key: 7,
  retries: 0,
  seenAt: 0,
  request: {
    name: "ask.1",
    socket: "/run/systemd/ask-password/sck.1",
    acceptCached: false,
    echo: false,
    silent: false,
    notAfterUs: 0n,
    message: "Passphrase for root:",
    id: "cryptsetup:/dev/vda2",
  },
  kind: "passphrase",
};

interface Rig {
  sup: Supervisor;
  hooks: Hooks;
  clock: FakeClock;
  greeters: FakeGreeter[];
  fallbacks: { requests: ConsoleRequest[]; stopped: boolean }[];
  stopped: string[];
  log: string[];
  /** the launch (1, 2…) each time the stack heard its page painted */
  painted: number[];
  /** the greeter started last */
  greeter: () => FakeGreeter;
  /** the page of the greeter started last says it is drawn */
  connect: () => void;
  /** the bytes each answer reached the agent with */
  answers: { key: number; bytes: number[] }[];
}

const dirs: string[] = [];

/** `typed`: what the splash's prompt holds for PROMPT when the page paints */
function rig(o: { typed?: string } = {}): Rig {
  const r = parseProfile(JSON.stringify(PROFILE));
  if (!r.ok) throw new Error(r.problems.join("; "));
  const runtimeDir = mkdtempSync(join(tmpdir(), "foyer-runner-"));
  dirs.push(runtimeDir);
  const log: string[] = [];
  const clock = new FakeClock();
  const greeters: FakeGreeter[] = [];
  const painted: number[] = [];
  const fallbacks: Rig["fallbacks"] = [];
  const stopped: string[] = [];
  let keyboard = US;
  const stops = (name: string) => () => void stopped.push(name);
  const answers: Rig["answers"] = [];
  let pending = [PROMPT];
  const parts: Parts = {
    agent: {
      start() {},
      stop: stops("agent"),
      scan() {},
      pending: () => pending,
      answer: (key, s) => {
        answers.push({ key, bytes: [...s.reveal()] });
        pending = [];
      },
      cancel() {},
    },
    plymouth: {
      start: async () => {},
      stop: async () => void stopped.push("plymouth"),
      pending: () => [],
      owns: () => false,
      answer() {},
      cancel() {},
      messages: [],
      record: {
        status: "",
        mode: "boot",
        progress: null,
        fsck: null,
        newRoot: null,
        systemInitialized: false,
        deactivated: false,
        splashShown: false,
        progressPaused: false,
        errors: 0,
      },
    },
    keyring: { asked() {}, answered() {}, stop: stops("keyring") },
    server: { start: async () => {}, stop: async () => void stopped.push("server"), url: "http://127.0.0.1:1/", stateChanged() {}, send() {} },
    stack: {
      hasDisplay: false,
      hasGreeter: true,
      onScreen: false,
      get keyboard() {
        return keyboard;
      },
      setKeyboard: async (k) => ((keyboard = k), "restart" as const),
      startDisplay: () => {
        throw new Error("no display server on this stack");
      },
      startGreeter: () => {
        const g = new FakeGreeter(1000 + greeters.length);
        greeters.push(g);
        return g;
      },
      greeterPainted: () => void painted.push(greeters.length),
    },
    recovery: {
      active: false,
      view: { reason: "", fsck: null, journal: [], busy: "", terminal: { open: false, repair: false } },
      start() {},
      action() {},
      openTerminal() {},
      resize() {},
      closeTerminal() {},
    },
    firstboot: {
      active: false,
      view: undefined as never,
      start: async () => false,
      options: () => ({ type: "firstboot_options", layouts: [], locales: [], timezones: [] }),
      chooseKeyboard() {},
      submit() {},
    },
    settings: {
      locale: "C.UTF-8",
      appearance: { theme: "default", highContrast: false, largeText: false, reducedMotion: false, osk: false },
      layouts: () => [],
      check() {},
      set() {},
      applyKeyboard: async (stack, k, restart) => void ((await stack.setKeyboard(k)) === "restart" && restart()),
      followInputDevices() {},
      stop: stops("settings"),
    },
    systemd: { start: async () => {}, stop: stops("systemd") },
    greeterUser: { rssKb: () => 0, sweep: () => 0, gone: async () => true },
    tokens: {},
    timeline: new Timeline(undefined),
    clock,
    fallback: (requests) => {
      const f = { requests, stopped: false };
      fallbacks.push(f);
      return { update: (rs) => (f.requests = rs), stop: () => void (f.stopped = true) };
    },
    keepFrame: async () => false,
    ...(o.typed !== undefined
      ? {
          splashPrompt: {
            start: async () => {},
            update() {},
            take: () => {
              const typed = o.typed ? { key: PROMPT.key, secret: Secret.copyOf(Buffer.from(o.typed)), chars: [...o.typed].length } : undefined;
              o.typed = "";
              return typed;
            },
            stop: stops("splash"),
          },
        }
      : {}),
  };
  let hooks!: Hooks;
  const sup = new Supervisor({ profile: r.profile, runtimeDir, log: collectingLogger(log) }, (h) => ((hooks = h), parts));
  const greeter = () => greeters[greeters.length - 1]!;
  return { sup, hooks, clock, greeters, fallbacks, stopped, log, greeter, painted, answers, connect: () => hooks.dispatch({ type: "greeter_connected" }) };
}

/** The greeter started last exits (it crashed) and the runner hears of it. */
async function crash(t: Rig): Promise<void> {
  t.greeter().exit(1);
  await settle();
}

test.after.each(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

test("an exited greeter is started again at once, a second one after the backoff on the clock", async () => {
  const t = rig();
  const exits: unknown[] = [];
  t.sup.on("greeter-exited", (code, signal) => exits.push([code, signal]));
  await withTimeout(t.sup.start(), 5000, "start");
  assert.is(t.greeters.length, 1);
  t.connect();
  assert.is(t.sup.state.phase, "running");
  await crash(t);
  assert.is(t.greeters.length, 2, "the first exit in the window restarts at once");
  assert.equal(exits, [[1, null]]);
  t.connect();
  await crash(t);
  assert.is(t.greeters.length, 2, "the second backs off");
  await t.clock.advance(99);
  assert.is(t.greeters.length, 2);
  await t.clock.advance(1);
  assert.is(t.greeters.length, 3, "started when the backoff ends (initialMs)");
  assert.is(t.sup.state.restarts, 2);
  t.connect();
  assert.ok(
    t.log.some((l) => l.startsWith("info greeter interactive again")),
    t.log.join("\n"),
  );
});

test("what was typed into foyer's frame goes to the page as a count, and its bytes lead the page's answer", async () => {
  const t = rig({ typed: "pä字" });
  await withTimeout(t.sup.start(), 5000, "start");
  assert.is(t.sup.snapshot().prompts[0]!.typed, undefined, "nothing held before the page paints");
  t.connect();
  assert.is(t.sup.snapshot().prompts[0]!.typed, 3, "three characters held, counted as characters");
  // the page kept two of the three (one erased) and typed "x" after them
  t.hooks.answer(PROMPT.key, Secret.copyOf(Buffer.from("x")), 2);
  assert.equal(t.answers, [{ key: 7, bytes: [...Buffer.from("päx")] }]);
  assert.is(t.sup.snapshot().prompts.length, 0);
});

test("an answer that keeps typed characters foyerd no longer holds is refused with a clear error; the whole answer is taken", async () => {
  const t = rig({ typed: "abc" });
  await withTimeout(t.sup.start(), 5000, "start");
  t.connect();
  assert.throws(() => t.hooks.answer(PROMPT.key, Secret.copyOf(Buffer.from("x")), 4), /no longer held: type the whole passphrase again/);
  assert.throws(() => t.hooks.answer(99, Secret.copyOf(Buffer.from("x")), 1), /no longer held/);
  assert.equal(t.answers, [], "nothing reached the asker");
  // the page's field cleared and typed anew: the answer is the page's alone, and nothing is held after it
  t.hooks.answer(PROMPT.key, Secret.copyOf(Buffer.from("whole")));
  assert.equal(t.answers, [{ key: 7, bytes: [...Buffer.from("whole")] }]);
  assert.throws(() => t.hooks.answer(PROMPT.key, Secret.copyOf(Buffer.from("x")), 1), /no longer held/);
});

test("the stack hears once per launch that its page painted: the splash goes then, not before", async () => {
  const t = rig();
  await withTimeout(t.sup.start(), 5000, "start");
  assert.equal(t.painted, [], "nothing painted before the page connects");
  t.connect();
  t.connect();
  assert.equal(t.painted, [1], "the first launch's page, once");
  await crash(t);
  assert.equal(t.painted, [1], "a new launch's splash stays until its own page connects");
  t.connect();
  assert.equal(t.painted, [1, 2]);
});

test("a greeter that never connects is stopped at the ready deadline and started again", async () => {
  const t = rig();
  await withTimeout(t.sup.start(), 5000, "start");
  await t.clock.advance(30_000);
  assert.is(t.greeters[0]!.stops, 1, "stopped at readyTimeoutMs");
  assert.is(t.greeters.length, 2);
});

test("the breaker trips to the text fallback with the pending request; a manual restart brings the greeter back", async () => {
  const t = rig();
  await withTimeout(t.sup.start(), 5000, "start");
  // burst 3: the fourth exit inside the window trips it; each one connected first (not a failed start)
  for (let i = 0; i < 4; i++) {
    t.connect();
    await crash(t);
    await t.clock.advance(2_000);
  }
  assert.is(t.sup.state.phase, "fallback");
  assert.is(t.greeters.length, 4, "no greeter after the breaker tripped");
  assert.equal(t.fallbacks.length, 1);
  assert.equal(t.fallbacks[0]!.requests, [{ key: 7, message: "Passphrase for root:", echo: false, retries: 0, kind: "passphrase", from: "systemd" }]);
  assert.ok(
    t.log.some((l) => l.startsWith("error crash-loop breaker tripped: greeter exited 4 times in 10000 ms")),
    t.log.join("\n"),
  );
  await t.clock.advance(60_000);
  assert.is(t.greeters.length, 4, "nothing restarts it by itself");
  t.sup.restartGreeter();
  assert.ok(t.fallbacks[0]!.stopped, "the console's prompt is stopped");
  assert.is(t.greeters.length, 5);
  t.connect();
  assert.is(t.sup.state.phase, "running");
});

test("greeters that fail to start trip the breaker too", async () => {
  const t = rig();
  await withTimeout(t.sup.start(), 5000, "start");
  for (let i = 0; i < 3; i++) {
    await crash(t);
    await t.clock.advance(2_000);
  }
  assert.is(t.sup.state.phase, "fallback");
  assert.ok(
    t.log.some((l) => l.includes("greeter failed to start 3 times in a row")),
    t.log.join("\n"),
  );
});

test("the layout switcher's message restarts the greeter with the new layout", async () => {
  const t = rig();
  await withTimeout(t.sup.start(), 5000, "start");
  t.connect();
  t.hooks.message({} as GreeterClient, { type: "keyboard_set", layout: "de", variant: "neo" });
  assert.equal(t.sup.snapshot().keyboard, { layout: "de", variant: "neo" });
  await settle();
  assert.is(t.greeters[0]!.stops, 1, "restarted: cage reads its layout at start only");
  await settle();
  assert.is(t.greeters.length, 2);
});

test("stop stops the greeter, then every part, the bus and Plymouth last", async () => {
  const t = rig();
  await withTimeout(t.sup.start(), 5000, "start");
  t.connect();
  await withTimeout(t.sup.stop(), 5000, "stop");
  assert.is(t.sup.state.phase, "stopped");
  assert.is(t.greeters[0]!.stops, 1);
  assert.equal(t.stopped, ["agent", "settings", "keyring", "server", "systemd", "plymouth"]);
  assert.equal(t.sup.milestones.list.at(-1)?.name, "exit");
});

test.run();
