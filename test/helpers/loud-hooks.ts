// Loaded before every suite (test/run.mjs passes `--import` with this file after tsx): uvu runs a
// suite's `before` and `after` hooks inside a try/finally whose finally returns, so an error one
// throws is lost — a suite whose set-up failed only shows "(0 / N)". Every hook registered on
// uvu's default `test` is wrapped here so that it prints its error first. Suites made with
// `suite()` wrap their own hooks with `loudHook`.
import { test } from "uvu";

export function loudHook<S>(fn: (s: S) => unknown): (s: S) => Promise<void> {
  return async (s) => {
    try {
      await fn(s);
    } catch (e) {
      process.stderr.write(`a before/after hook failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      throw e;
    }
  };
}

/** Makes `t.before(fn)` and `t.after(fn)` register `loudHook(fn)`; their `.each` stay as they are (uvu reports those errors). */
export function installLoudHooks(t: typeof test): void {
  for (const name of ["before", "after"] as const) {
    const register = t[name];
    if ((register as { loud?: true }).loud) continue;
    const loud = Object.assign((fn: Parameters<typeof register>[0]) => register(loudHook(fn)), { each: register.each, loud: true as const });
    t[name] = loud;
  }
}

installLoudHooks(test);
