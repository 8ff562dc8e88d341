// Reliability check 11, the display server's part: the X server killed (SIGKILL) under the greeter
// while a request waits. foyerd must see the display go, stop the browser that lost it, start a new
// X server and a new browser on it, and show the same request there — answered byte-exact. The
// real stack: Xvfb (readiness from -displayfd) and chromium as the greeter user, foyerd from the
// bundle. On cage the compositor is the greeter's own unit: its kills are test/robust/crashes.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { Foyerd, askPassword, killAskers, requirePrivateAskDir, requireTool, withTimeout, connectGreeter } from "../helpers/index.js";

requireTool("Xvfb", "xvfb");
requireTool("chromium", "chromium");
requireTool("systemd-ask-password", "systemd");
requirePrivateAskDir();

const KILLS = 5;
const D = suite<{ foyerd?: Foyerd }>("robust/display-kill", {});
D.after.each(async (ctx) => {
  killAskers();
  await ctx.foyerd?.stop();
  ctx.foyerd?.cleanup();
  spawnSync("pkill", ["-KILL", "-u", "foyer-greeter"]);
});

/** The X server foyerd runs now (one at a time: -displayfd picks the display, so none is in argv). */
function xServer(): number {
  const pids = spawnSync("pgrep", ["-u", "foyer-greeter", "-x", "Xvfb"], { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean);
  assert.is(pids.length, 1, `one Xvfb of the greeter user, found: ${JSON.stringify(pids)}`);
  return Number(pids[0]);
}

D(`the X server killed ${KILLS} times under a waiting request: a new display and greeter each time, the request answered after the last`, async (ctx) => {
  // the shipped breaker (more than 5 exits in 10 s): five deaths in a row fall in one window and
  // must count five, whichever of the X server and its browser is heard to die first
  const f = (ctx.foyerd = new Foyerd("xvfb", { bundle: true }));
  await f.until((l) => l.includes("greeter interactive"), 60_000, "greeter interactive");
  const ask = askPassword("Disk under a dying display:");
  await f.until((l) => l.includes("password request pending"), 15_000, "foyerd seeing the request");
  const times: number[] = [];
  for (let k = 1; k <= KILLS; k++) {
    const x = xServer();
    const again = f.count(/greeter interactive again/);
    const t0 = performance.now();
    process.kill(x, "SIGKILL");
    await f
      .until(() => f.count(/greeter interactive again/) > again, 60_000, `the greeter back after X server kill ${k}`)
      .catch((e) => {
        throw new Error(`${(e as Error).message}; foyerd's last lines:\n${f.log.split("\n").slice(-15).join("\n")}`);
      });
    times.push(performance.now() - t0);
    assert.is.not(xServer(), x, "a new X server");
  }
  assert.is(f.count(/display server exited code=null signal=SIGKILL/), KILLS, f.log.slice(-2000));
  const g = await connectGreeter(9334);
  try {
    const input = g.page.getByLabel("Disk under a dying display:");
    await withTimeout(input.waitFor(), 15_000, "the request on the last greeter");
    await input.fill("dïsplay gone ×5");
    await input.press("Enter");
  } finally {
    await g.close();
  }
  assert.is((await withTimeout(ask.result, 10_000)).out.toString(), "dïsplay gone ×5\n");
  const s = [...times].sort((a, b) => a - b);
  // the later kills include the restart backoff (100 ms doubling): they fall in one window
  console.log(
    `  X server SIGKILL → greeter interactive again: ${times.map((t) => t.toFixed(0)).join(", ")} ms (median ${s[Math.floor(s.length / 2)]!.toFixed(0)})`,
  );
});

D.run();
