// The supervisor's decisions, as a pure function: step(state, event, policy, now) → [state,
// effects]. No timers, no processes, no I/O here: the runner (supervisor.ts) performs the effects and
// feeds events back. That keeps every restart and breaker decision testable with a fake clock.
//
// Policy, as systemd and greetd do it, tuned for a person waiting at a prompt:
//  - the first greeter exit in a window restarts at once (a respawn must cost no more than a
//    cold start); later ones back off, doubling from initialMs up to maxMs;
//  - more than `burst` exits within `windowMs` trips the breaker: the greeter is not started
//    again and the text fallback asks on the console, so a pending request stays answerable;
//  - a greeter that does not connect within readyTimeoutMs is stopped (and counts as an exit);
//  - a running greeter whose page disconnected (it navigated away — chromium's "blocked" page
//    replaces it — or its renderer died under a live browser) and does not connect again within
//    lostTimeoutMs is stopped too: a browser process alive is not a prompt on the screen;
//  - `maxFailedStarts` exits in a row of a greeter that never became interactive also trip the
//    breaker: with backoff, a greeter that fails slowly (seconds per try under emulation) never
//    gets more than `burst` exits into the window, and would keep a person waiting forever;
//  - a manual restart (D-Bus RestartGreeter, foyerctl) resets the breaker;
//  - an X server's death is one exit: its browser dies with it, and when the browser's exit is
//    heard first (the two races) the display's that follows within SAME_FAULT_MS is not counted
//    again, nor does it back off as a second exit would.
import { assertNever } from "../base/errors.js";
import type { Profile } from "../profile/schema.js";

/** a display exit this soon after a greeter exit is the same fault (the browser died of it) */
export const SAME_FAULT_MS = 1000;

export interface Policy {
  hasDisplay: boolean; // a separate display server (X) under the greeter
  hasGreeter: boolean; // false for the headless stack: the UI is only served
  burst: number;
  windowMs: number;
  initialMs: number;
  maxMs: number;
  readyTimeoutMs: number;
  lostTimeoutMs: number;
  maxFailedStarts: number;
}

/** The policy of a profile's restart and greeter settings, on a stack with or without a display server and a greeter. */
export function policyOf(p: Pick<Profile, "restart" | "greeter">, stack: Pick<Policy, "hasDisplay" | "hasGreeter">): Policy {
  const { burst, windowMs, initialMs, maxMs, maxFailedStarts } = p.restart;
  const { readyTimeoutMs, lostTimeoutMs } = p.greeter;
  return { hasDisplay: stack.hasDisplay, hasGreeter: stack.hasGreeter, burst, windowMs, initialMs, maxMs, readyTimeoutMs, lostTimeoutMs, maxFailedStarts };
}

export type Part =
  | { kind: "none" }
  | { kind: "waiting" } // for what it needs (the display) to be ready
  | { kind: "starting"; deadline: number }
  /** `lostUntil`: its page disconnected; stopped at that time unless it connects again */
  | { kind: "running"; since: number; lostUntil?: number }
  /** `forDisplay`: the greeter is stopped because its display died; its exit is not its own fault */
  | { kind: "stopping"; forDisplay?: true }
  | { kind: "backoff"; until: number }
  | { kind: "tripped" };

/** The earliest time something in the state is due (a deadline, a backoff's end, a lost page's grace). */
export function nextDeadline(s: State): number | undefined {
  const at = (x: Part) => (x.kind === "starting" ? x.deadline : x.kind === "backoff" ? x.until : x.kind === "running" ? x.lostUntil : undefined);
  const all = [at(s.display), at(s.greeter)].filter((t): t is number => t !== undefined);
  return all.length ? Math.min(...all) : undefined;
}

export type Phase = "init" | "starting" | "running" | "fallback" | "stopping" | "stopped";

export interface State {
  phase: Phase;
  display: Part;
  greeter: Part;
  /** monotonic ms of the greeter's (or display's) recent exits, inside the window */
  exits: number[];
  restarts: number;
  /** exits in a row of a greeter that never connected */
  failedStarts: number;
  /** when the greeter last exited while running or starting (see SAME_FAULT_MS) */
  greeterExitAt?: number;
}

export type Event =
  | { type: "start" }
  | { type: "display_ready" }
  | { type: "display_exited"; code: number | null; signal: string | null }
  | { type: "greeter_connected"; paintedMsAgo?: number }
  | { type: "greeter_lost" } // the last page connection closed
  | { type: "greeter_exited"; code: number | null; signal: string | null }
  | { type: "timer" }
  | { type: "restart_greeter" }
  | { type: "stop" };

export type Effect =
  | { do: "start_display" }
  | { do: "stop_display" }
  | { do: "start_greeter" }
  | { do: "stop_greeter" }
  | { do: "arm"; at: number }
  | { do: "fallback_start"; reason: string }
  | { do: "fallback_stop" }
  | { do: "notify_exit"; code: number | null; signal: string | null }
  | { do: "done" };

export const initialState: State = { phase: "init", display: { kind: "none" }, greeter: { kind: "none" }, exits: [], restarts: 0, failedStarts: 0 };

function startStack(s: State, p: Policy, now: number): [State, Effect[]] {
  if (p.hasDisplay)
    return [
      { ...s, phase: "starting", display: { kind: "starting", deadline: now + p.readyTimeoutMs }, greeter: { kind: "waiting" } },
      [{ do: "start_display" }, { do: "arm", at: now + p.readyTimeoutMs }],
    ];
  if (p.hasGreeter) return startGreeter({ ...s, phase: "starting" }, p, now);
  return [{ ...s, phase: "running" }, []];
}

function startGreeter(s: State, p: Policy, now: number): [State, Effect[]] {
  const deadline = now + p.readyTimeoutMs;
  return [{ ...s, greeter: { kind: "starting", deadline } }, [{ do: "start_greeter" }, { do: "arm", at: deadline }]];
}

/** An exit of the greeter or the display: restart after the backoff, or trip the breaker. */
function onExit(s: State, p: Policy, now: number, code: number | null, signal: string | null, what: "greeter" | "display"): [State, Effect[]] {
  const fx: Effect[] = what === "greeter" ? [{ do: "notify_exit", code, signal }] : [];
  if (s.phase === "stopping") {
    const next: State = { ...s, [what]: { kind: "none" } };
    const otherDone = what === "greeter" ? !isAlive(next.display) : !isAlive(next.greeter);
    if (otherDone) return [{ ...next, phase: "stopped" }, [...fx, { do: "done" }]];
    return [next, fx];
  }
  const sameFault = what === "display" && s.greeterExitAt !== undefined && now - s.greeterExitAt <= SAME_FAULT_MS;
  const recent = s.exits.filter((t) => t > now - p.windowMs);
  const exits = sameFault && recent.length > 0 ? recent : [...recent, now];
  if (what === "greeter") s = { ...s, greeterExitAt: now };
  const neverUp = what === "greeter" ? s.greeter.kind === "starting" : s.display.kind === "starting";
  const failedStarts = neverUp ? s.failedStarts + 1 : 0;
  s = { ...s, failedStarts };
  if (exits.length > p.burst || failedStarts >= p.maxFailedStarts) {
    const reason =
      exits.length > p.burst ? `${what} exited ${exits.length} times in ${p.windowMs} ms` : `${what} failed to start ${failedStarts} times in a row`;
    const stopOther: Effect[] =
      what === "greeter" && isAlive(s.display) ? [{ do: "stop_display" }] : what === "display" && isAlive(s.greeter) ? [{ do: "stop_greeter" }] : [];
    return [
      { ...s, phase: "fallback", exits, greeter: { kind: "tripped" }, display: p.hasDisplay ? { kind: "tripped" } : { kind: "none" } },
      [...fx, ...stopOther, { do: "fallback_start", reason }],
    ];
  }
  const delay = exits.length <= 1 ? 0 : Math.min(p.maxMs, p.initialMs * 2 ** (exits.length - 2));
  const until = now + delay;
  if (what === "display") {
    // the greeter cannot outlive its display: stop it, restart both after the backoff
    const stop: Effect[] = isAlive(s.greeter) ? [{ do: "stop_greeter" }] : [];
    return [
      { ...s, exits, display: { kind: "backoff", until }, greeter: isAlive(s.greeter) ? { kind: "stopping", forDisplay: true } : { kind: "waiting" } },
      [...stop, { do: "arm", at: until }],
    ];
  }
  if (delay === 0) {
    const [n, f] = startGreeter({ ...s, exits, restarts: s.restarts + 1 }, p, now);
    return [n, [...fx, ...f]];
  }
  return [{ ...s, exits, greeter: { kind: "backoff", until } }, [...fx, { do: "arm", at: until }]];
}

function isAlive(x: Part): boolean {
  return x.kind === "starting" || x.kind === "running" || x.kind === "stopping";
}

export function step(s: State, e: Event, p: Policy, now: number): [State, Effect[]] {
  switch (e.type) {
    case "start":
      if (s.phase !== "init") return [s, []];
      return startStack(s, p, now);

    case "display_ready":
      if (s.display.kind !== "starting") return [s, []];
      if (!p.hasGreeter) return [{ ...s, phase: "running", display: { kind: "running", since: now } }, []];
      // the last greeter may still be on its way out (a browser takes a moment to notice its X
      // server died): a new one started beside it meets its instance and exits at once
      if (s.greeter.kind === "stopping") return [{ ...s, display: { kind: "running", since: now } }, []];
      return startGreeter({ ...s, display: { kind: "running", since: now } }, p, now);

    case "greeter_connected":
      if (s.greeter.kind === "running" && s.greeter.lostUntil !== undefined) return [{ ...s, greeter: { kind: "running", since: s.greeter.since } }, []];
      if (s.greeter.kind !== "starting") return [s, []];
      return [{ ...s, failedStarts: 0, phase: s.phase === "starting" ? "running" : s.phase, greeter: { kind: "running", since: now } }, []];

    case "greeter_lost": {
      if (s.greeter.kind !== "running" || s.greeter.lostUntil !== undefined || s.phase !== "running") return [s, []];
      const lostUntil = now + p.lostTimeoutMs;
      return [{ ...s, greeter: { ...s.greeter, lostUntil } }, [{ do: "arm", at: lostUntil }]];
    }

    case "greeter_exited":
      if (!isAlive(s.greeter)) return [s, []];
      if (s.greeter.kind === "stopping" && s.greeter.forDisplay && s.phase !== "stopping") {
        // stopped with its display: not an exit of its own; it starts again once the display is up
        const notify: Effect = { do: "notify_exit", code: e.code, signal: e.signal };
        if (s.display.kind === "running") {
          const [n, f] = startGreeter(s, p, now);
          return [n, [notify, ...f]];
        }
        return [{ ...s, greeter: { kind: "waiting" } }, [notify]];
      }
      return onExit(s, p, now, e.code, e.signal, "greeter");

    case "display_exited":
      if (!isAlive(s.display)) return [s, []];
      return onExit(s, p, now, e.code, e.signal, "display");

    case "timer": {
      if (s.phase === "stopping" || s.phase === "stopped" || s.phase === "fallback") return [s, []];
      if (s.display.kind === "backoff" && now >= s.display.until) {
        return [
          { ...s, restarts: s.restarts + 1, display: { kind: "starting", deadline: now + p.readyTimeoutMs } },
          [{ do: "start_display" }, { do: "arm", at: now + p.readyTimeoutMs }],
        ];
      }
      if (s.display.kind === "starting" && now >= s.display.deadline) return [{ ...s, display: { kind: "stopping" } }, [{ do: "stop_display" }]];
      if (s.greeter.kind === "backoff" && now >= s.greeter.until) return startGreeter({ ...s, restarts: s.restarts + 1 }, p, now);
      if (s.greeter.kind === "starting" && now >= s.greeter.deadline) return [{ ...s, greeter: { kind: "stopping" } }, [{ do: "stop_greeter" }]];
      if (s.greeter.kind === "running" && s.greeter.lostUntil !== undefined && now >= s.greeter.lostUntil)
        return [{ ...s, greeter: { kind: "stopping" } }, [{ do: "stop_greeter" }]];
      // nothing due yet: a timer can fire a little early (libuv counts from its cached loop time)
      // or an arm for one deadline may have replaced another's: wait for the nearest one again
      const next = nextDeadline(s);
      return [s, next === undefined ? [] : [{ do: "arm", at: next }]];
    }

    case "restart_greeter": {
      if (!p.hasGreeter || s.phase === "stopping" || s.phase === "stopped" || s.phase === "init") return [s, []];
      if (s.phase === "fallback") {
        const [n, fx] = startStack(
          { ...s, exits: [], failedStarts: 0, restarts: s.restarts + 1, display: { kind: "none" }, greeter: { kind: "none" } },
          p,
          now,
        );
        return [n, [{ do: "fallback_stop" }, ...fx]];
      }
      if (s.greeter.kind === "running" || s.greeter.kind === "starting") {
        // the exit that follows restarts it; forget earlier exits so a manual restart never trips
        return [{ ...s, exits: [], greeter: { kind: "stopping" } }, [{ do: "stop_greeter" }]];
      }
      if (s.greeter.kind === "backoff") return startGreeter({ ...s, exits: [], restarts: s.restarts + 1 }, p, now);
      return [s, []];
    }

    case "stop": {
      if (s.phase === "stopping" || s.phase === "stopped") return [s, []];
      const fx: Effect[] = [];
      if (s.phase === "fallback") fx.push({ do: "fallback_stop" });
      if (isAlive(s.greeter)) fx.push({ do: "stop_greeter" });
      if (isAlive(s.display)) fx.push({ do: "stop_display" });
      const greeter: Part = isAlive(s.greeter) ? { kind: "stopping" } : { kind: "none" };
      const display: Part = isAlive(s.display) ? { kind: "stopping" } : { kind: "none" };
      if (!isAlive(s.greeter) && !isAlive(s.display)) return [{ ...s, phase: "stopped", greeter, display }, [...fx, { do: "done" }]];
      return [{ ...s, phase: "stopping", greeter, display }, fx];
    }

    default:
      return assertNever(e);
  }
}

/** The greeter's state as one word, for D-Bus and the UI. */
export function greeterStateName(s: State): string {
  return s.greeter.kind;
}
