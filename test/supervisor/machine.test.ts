import { test } from "uvu";
import * as assert from "uvu/assert";
import { step, initialState, policyOf, type State, type Event, type Policy, type Effect } from "../../src/supervisor/machine.js";
import { parseProfile } from "../../src/profile/load.js";

const policy: Policy = {
  hasDisplay: false,
  hasGreeter: true,
  burst: 5,
  windowMs: 10_000,
  initialMs: 100,
  maxMs: 2_000,
  readyTimeoutMs: 30_000,
  lostTimeoutMs: 5_000,
  maxFailedStarts: 1000,
};

function run(events: [Event, number][], p = policy, s0: State = initialState): { s: State; fx: Effect[][] } {
  let s = s0;
  const fx: Effect[][] = [];
  for (const [e, now] of events) {
    const [n, f] = step(s, e, p, now);
    s = n;
    fx.push(f);
  }
  return { s, fx };
}
const exited: Event = { type: "greeter_exited", code: 0, signal: null };

test("start launches the greeter and arms the ready deadline", () => {
  const { s, fx } = run([[{ type: "start" }, 0]]);
  assert.is(s.phase, "starting");
  assert.equal(fx[0], [{ do: "start_greeter" }, { do: "arm", at: 30_000 }]);
});

test("the greeter connecting makes the phase running", () => {
  const { s } = run([
    [{ type: "start" }, 0],
    [{ type: "greeter_connected" }, 500],
  ]);
  assert.is(s.phase, "running");
  assert.equal(s.greeter, { kind: "running", since: 500 });
});

test("the first exit restarts at once; the second backs off initialMs", () => {
  const { s, fx } = run([
    [{ type: "start" }, 0],
    [{ type: "greeter_connected" }, 10],
    [exited, 1000],
    [{ type: "greeter_connected" }, 1100],
    [exited, 2000],
  ]);
  assert.equal(fx[2], [{ do: "notify_exit", code: 0, signal: null }, { do: "start_greeter" }, { do: "arm", at: 31_000 }]);
  assert.equal(s.greeter, { kind: "backoff", until: 2100 });
  assert.equal(fx[4], [
    { do: "notify_exit", code: 0, signal: null },
    { do: "arm", at: 2100 },
  ]);
  const [n, f] = step(s, { type: "timer" }, policy, 2100);
  assert.is(n.greeter.kind, "starting");
  assert.equal(f[0], { do: "start_greeter" });
  assert.is(n.restarts, 2);
});

test("backoff doubles and is capped at maxMs", () => {
  let s: State = run([[{ type: "start" }, 0]]).s;
  const delays: number[] = [];
  const p = { ...policy, burst: 100, windowMs: 1e9 };
  let now = 0;
  for (let i = 0; i < 8; i++) {
    now += 10;
    const [n, f] = step(s, exited, p, now);
    const arm = f.find((x) => x.do === "arm" && n.greeter.kind === "backoff");
    delays.push(n.greeter.kind === "backoff" ? n.greeter.until - now : 0);
    s = n.greeter.kind === "backoff" ? step(n, { type: "timer" }, p, n.greeter.until)[0] : n;
    if (n.greeter.kind === "backoff") now = n.greeter.until;
    void arm;
  }
  assert.equal(delays, [0, 100, 200, 400, 800, 1600, 2000, 2000]);
});

test("more than `burst` exits in the window trips the breaker into the text fallback", () => {
  let s = run([[{ type: "start" }, 0]]).s;
  let last: Effect[] = [];
  for (let i = 1; i <= 6; i++) {
    [s, last] = step(s, exited, policy, i * 10);
    if (s.greeter.kind === "backoff") [s] = step(s, { type: "timer" }, policy, s.greeter.until);
  }
  assert.is(s.phase, "fallback");
  assert.is(s.greeter.kind, "tripped");
  assert.ok(last.some((f) => f.do === "fallback_start"));
  assert.not.ok(last.some((f) => f.do === "start_greeter"));
});

test("a greeter that never comes up trips the breaker after maxFailedStarts, however slowly it fails", () => {
  const p = { ...policy, maxFailedStarts: 3 };
  let s = run([[{ type: "start" }, 0]], p).s;
  let fx: Effect[] = [];
  for (let i = 1; i <= 3; i++) {
    [s, fx] = step(s, exited, p, i * 60_000); // far apart: the window alone would never trip
    if (s.greeter.kind === "backoff") [s] = step(s, { type: "timer" }, p, s.greeter.until);
  }
  assert.is(s.phase, "fallback");
  assert.ok(fx.some((f) => f.do === "fallback_start" && f.reason === "greeter failed to start 3 times in a row"));
});

test("one successful connection resets the failed-start count", () => {
  const p = { ...policy, maxFailedStarts: 3 };
  let s = run([[{ type: "start" }, 0]], p).s;
  for (let i = 1; i <= 6; i++) {
    [s] = step(s, exited, p, i * 60_000);
    if (s.greeter.kind === "backoff") [s] = step(s, { type: "timer" }, p, s.greeter.until);
    if (i % 2 === 0) [s] = step(s, { type: "greeter_connected" }, p, i * 60_000 + 1);
  }
  assert.is.not(s.phase, "fallback");
});

test("exits spread wider than the window never trip", () => {
  let s = run([[{ type: "start" }, 0]]).s;
  for (let i = 1; i <= 20; i++) {
    [s] = step(s, exited, policy, i * 3_000);
    if (s.greeter.kind === "backoff") [s] = step(s, { type: "timer" }, policy, s.greeter.until);
  }
  assert.is.not(s.phase, "fallback");
});

test("a manual restart in fallback resets the breaker and starts the greeter", () => {
  let s = run([[{ type: "start" }, 0]]).s;
  for (let i = 1; i <= 6; i++) {
    [s] = step(s, exited, policy, i);
    if (s.greeter.kind === "backoff") [s] = step(s, { type: "timer" }, policy, s.greeter.until);
  }
  assert.is(s.phase, "fallback");
  const [n, fx] = step(s, { type: "restart_greeter" }, policy, 100);
  assert.equal(fx.slice(0, 2), [{ do: "fallback_stop" }, { do: "start_greeter" }]);
  assert.equal(n.exits, []);
});

test("a greeter that never connects is stopped at the deadline", () => {
  const { s } = run([[{ type: "start" }, 0]]);
  const [n, fx] = step(s, { type: "timer" }, policy, 30_000);
  assert.equal(fx, [{ do: "stop_greeter" }]);
  assert.is(n.greeter.kind, "stopping");
});

test("x11: display first, greeter after display_ready; a display exit stops the greeter", () => {
  const p = { ...policy, hasDisplay: true };
  const { s, fx } = run(
    [
      [{ type: "start" }, 0],
      [{ type: "display_ready" }, 30],
    ],
    p,
  );
  assert.equal(fx[0]![0], { do: "start_display" });
  assert.equal(fx[1]![0], { do: "start_greeter" });
  const [n, f] = step(s, { type: "display_exited", code: 1, signal: null }, p, 100);
  assert.equal(f[0], { do: "stop_greeter" });
  assert.is(n.display.kind, "backoff");
});

test("x11: the X server's death is one exit, whichever of it and its browser is heard first", () => {
  const p = { ...policy, hasDisplay: true };
  const up: [Event, number][] = [
    [{ type: "start" }, 0],
    [{ type: "display_ready" }, 30],
    [{ type: "greeter_connected" }, 60],
  ];
  const displayGone: Event = { type: "display_exited", code: null, signal: "SIGKILL" };
  // the browser's exit first: counted, the greeter restarted at once; the display's 20 ms later is the same fault
  const a = run([...up, [exited, 1000], [displayGone, 1020]], p);
  assert.equal(a.s.exits, [1000]);
  assert.equal(a.s.display, { kind: "backoff", until: 1020 }, "no backoff: still the first exit in the window");
  // the display's first: counted once, the browser's exit while it waits is not counted
  const b = run([...up, [displayGone, 1000], [exited, 1020]], p);
  assert.equal(b.s.exits, [1000]);
  // five X deaths in the window, each heard browser-first: the breaker (burst 5) does not trip
  const events: [Event, number][] = [...up];
  for (let k = 0; k < 5; k++) {
    const t = 1000 + k * 1500;
    events.push(
      [exited, t],
      [displayGone, t + 20],
      [{ type: "timer" }, t + 1200],
      [{ type: "display_ready" }, t + 1300],
      [{ type: "greeter_connected" }, t + 1400],
    );
  }
  const c = run(events, p);
  assert.is(c.s.phase, "running");
  assert.is(c.s.exits.length, 5);
  // a display exit long after the browser's is a fault of its own
  const d = run([...up, [exited, 1000], [{ type: "greeter_connected" }, 1500], [displayGone, 1000 + 1500]], p);
  assert.equal(d.s.exits, [1000, 2500]);
});

test("stop stops what runs and finishes when it exited", () => {
  const { s } = run([
    [{ type: "start" }, 0],
    [{ type: "greeter_connected" }, 1],
  ]);
  const [n, fx] = step(s, { type: "stop" }, policy, 5);
  assert.equal(fx, [{ do: "stop_greeter" }]);
  const [m, fx2] = step(n, exited, policy, 6);
  assert.is(m.phase, "stopped");
  assert.ok(fx2.some((f) => f.do === "done"));
});

test("headless: nothing to start, running at once", () => {
  const { s, fx } = run([[{ type: "start" }, 0]], { ...policy, hasGreeter: false });
  assert.is(s.phase, "running");
  assert.equal(fx[0], []);
});

test("a page that disconnects under a live browser is given lostTimeoutMs, then restarted", () => {
  const lost: Event = { type: "greeter_lost" };
  const { s, fx } = run([
    [{ type: "start" }, 0],
    [{ type: "greeter_connected" }, 10],
    [lost, 1000],
  ]);
  assert.equal(s.greeter, { kind: "running", since: 10, lostUntil: 6000 });
  assert.equal(fx[2], [{ do: "arm", at: 6000 }]);
  // a timer that fires a little early (libuv's clock) does nothing yet but waits again: found in
  // the VM, where the greeter stayed lost for good
  assert.equal(step(s, { type: "timer" }, policy, 5999), [s, [{ do: "arm", at: 6000 }]]);
  const [n, f] = step(s, { type: "timer" }, policy, 6000);
  assert.is(n.greeter.kind, "stopping");
  assert.equal(f, [{ do: "stop_greeter" }]);
  // its exit restarts it as any exit does, not as a failed start
  const [r, g] = step(n, exited, policy, 6100);
  assert.is(r.greeter.kind, "starting");
  assert.is(r.failedStarts, 0);
  assert.equal(g[1], { do: "start_greeter" });
});

test("a page that connects again in time keeps its greeter", () => {
  const { s } = run([
    [{ type: "start" }, 0],
    [{ type: "greeter_connected" }, 10],
    [{ type: "greeter_lost" }, 1000],
    [{ type: "greeter_connected" }, 1500],
  ]);
  assert.equal(s.greeter, { kind: "running", since: 10 });
  assert.equal(step(s, { type: "timer" }, policy, 6000), [s, []]);
});

test("a lost page is ignored while starting, stopping or in the fallback", () => {
  const { s } = run([
    [{ type: "start" }, 0],
    [{ type: "greeter_lost" }, 5],
  ]);
  assert.is(s.greeter.kind, "starting");
  const { s: t } = run([
    [{ type: "start" }, 0],
    [{ type: "greeter_connected" }, 10],
    [{ type: "stop" }, 20],
    [{ type: "greeter_lost" }, 30],
  ]);
  assert.is(t.greeter.kind, "stopping");
});

test("an early timer never loses a deadline: backoff and ready deadlines are armed again", () => {
  // two quick exits: the second backs off until 10 + 100
  const { s } = run([
    [{ type: "start" }, 0],
    [exited, 5],
    [exited, 10],
  ]);
  assert.equal(s.greeter, { kind: "backoff", until: 110 });
  assert.equal(step(s, { type: "timer" }, policy, 109), [s, [{ do: "arm", at: 110 }]]);
  assert.is(step(s, { type: "timer" }, policy, 110)[0].greeter.kind, "starting");
  // a starting greeter's ready deadline
  const { s: t } = run([[{ type: "start" }, 0]]);
  assert.equal(step(t, { type: "timer" }, policy, 29_999), [t, [{ do: "arm", at: 30_000 }]]);
  // nothing pending: no arm
  const { s: r } = run([
    [{ type: "start" }, 0],
    [{ type: "greeter_connected" }, 10],
  ]);
  assert.equal(step(r, { type: "timer" }, policy, 50), [r, []]);
});

test("X killed: a greeter still on its way out when the new display is ready is waited for, not doubled, and its exit is not counted", () => {
  const px: Policy = { ...policy, hasDisplay: true, maxFailedStarts: 3 };
  const displayExited: Event = { type: "display_exited", code: null, signal: "SIGKILL" };
  let { s } = run(
    [
      [{ type: "start" }, 0],
      [{ type: "display_ready" }, 10],
      [{ type: "greeter_connected" }, 500],
    ],
    px,
  );
  for (let i = 0; i < 5; i++) {
    const t = 1000 + i * 3000;
    // the display dies; when its backoff is over a new one is ready before the old browser has noticed
    const [dead, stopFx] = step(s, displayExited, px, t);
    assert.equal(stopFx[0], { do: "stop_greeter" });
    const due = dead.display.kind === "backoff" ? dead.display.until : t;
    const r = run(
      [
        [{ type: "timer" }, due],
        [{ type: "display_ready" }, due + 50],
      ],
      px,
      dead,
    );
    assert.equal(r.fx[0]![0], { do: "start_display" });
    assert.not.ok(
      r.fx[1]!.some((f) => f.do === "start_greeter"),
      `round ${i}: a greeter started beside the one still stopping`,
    );
    assert.equal(r.s.greeter, { kind: "stopping", forDisplay: true });
    // the old browser's exit: now the new greeter starts, and it is no failed start of its own
    const [n, f] = step(r.s, exited, px, due + 300);
    assert.equal(
      f.map((x) => x.do),
      ["notify_exit", "start_greeter", "arm"],
    );
    assert.is(n.failedStarts, 0);
    s = step(n, { type: "greeter_connected" }, px, due + 800)[0];
    assert.is(s.phase, "running");
  }
});

test("X killed and the old browser gone before the new display: the greeter waits, then starts with the display", () => {
  const px: Policy = { ...policy, hasDisplay: true };
  const { s } = run(
    [
      [{ type: "start" }, 0],
      [{ type: "display_ready" }, 10],
      [{ type: "greeter_connected" }, 500],
      [{ type: "display_exited", code: null, signal: "SIGKILL" }, 1000],
      [exited, 1010],
    ],
    px,
  );
  assert.equal(s.greeter, { kind: "waiting" });
  const [n, f] = step(step(s, { type: "timer" }, px, 1010)[0], { type: "display_ready" }, px, 1100);
  assert.is(n.greeter.kind, "starting");
  assert.equal(f[0], { do: "start_greeter" });
});

test("policyOf: the profile's restart and greeter settings, and what the stack has", () => {
  const r = parseProfile(
    JSON.stringify({ schema: 1, restart: { burst: 4, windowMs: 9000, maxFailedStarts: 2 }, greeter: { readyTimeoutMs: 7000, lostTimeoutMs: 3000 } }),
  );
  if (!r.ok) throw new Error(r.problems.join("; "));
  const { initialMs, maxMs } = r.profile.restart;
  assert.equal(policyOf(r.profile, { hasDisplay: true, hasGreeter: false }), {
    hasDisplay: true,
    hasGreeter: false,
    burst: 4,
    windowMs: 9000,
    initialMs,
    maxMs,
    readyTimeoutMs: 7000,
    lostTimeoutMs: 3000,
    maxFailedStarts: 2,
  });
});

test.run();
