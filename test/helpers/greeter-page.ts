// The suite every greeter-page test shares: the page in a real chromium against a real foyerd.
// One browser for the suite; after each test the askers are killed (and what `afterEach` names
// besides) and the test's foyerd is stopped and removed.
import { chromium, type Browser } from "playwright-core";
import type { Test } from "uvu";
import { suite } from "./loud-hooks.js";
import { CHROMIUM_ARGS, killAskers, withTimeout, type Foyerd } from "./index.js";

export interface PageCtx {
  browser?: Browser;
  foyerd?: Foyerd;
}

export function pageSuite<C extends PageCtx = PageCtx>(title: string, afterEach: () => void = () => {}): Test<C> {
  const s = suite<C>(title, {} as C);
  s.before(async (ctx) => {
    ctx.browser = await withTimeout(chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS }), 30_000, "chromium launch");
  });
  s.after.each(async (ctx) => {
    afterEach();
    killAskers();
    await ctx.foyerd?.stop();
    ctx.foyerd?.cleanup();
    ctx.foyerd = undefined;
  });
  s.after(async (ctx) => {
    await ctx.browser?.close();
  });
  return s;
}
