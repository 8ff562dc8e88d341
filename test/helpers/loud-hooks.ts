// uvu runs a suite's `before` and `after` hooks inside a try/finally whose finally returns, so an
// error one throws is lost — a suite whose set-up failed only shows "(0 / N)". Here every hook
// registered on uvu's default `test` (test/run.mjs preloads this file with `--import`) and on a
// suite made with this file's `suite` (import it from here, not from "uvu") is wrapped so that
// it prints its error first.
import { test, suite as uvuSuite, type Test } from "uvu";

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
export function installLoudHooks<T>(t: Test<T>): void {
  for (const name of ["before", "after"] as const) {
    const register = t[name];
    if ((register as { loud?: true }).loud) continue;
    const loud = Object.assign((fn: Parameters<typeof register>[0]) => register(loudHook(fn)), { each: register.each, loud: true as const });
    t[name] = loud;
  }
}

/** uvu's `suite`, its before/after hooks loud. */
export function suite<T = Record<string, unknown>>(title?: string, context?: T): Test<T> {
  const s = uvuSuite<T>(title, context);
  installLoudHooks(s);
  return s;
}

installLoudHooks(test);
