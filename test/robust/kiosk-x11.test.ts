// Reliability check 8 on the x11 stack, with real key events: Xvfb + chromium as foyer runs them,
// chromium's managed policy written by foyerd (into this suite's private /etc/chromium, see
// test/run.mjs), and xdotool pressing each escape key through the X server (XTEST), so chromium's
// accelerators see them as they would a keyboard's — CDP-synthesised keys go to the page and
// bypass them. After each key: still one window, titled by the greeter, the same browser process,
// and a passphrase typed with xdotool still unlocks (a new tab, window or dialog would have taken
// the keyboard). The production configuration has no debug port; a second test uses the test
// profile's port to play a hostile page script (window.open, file:, chrome:, javascript:, data:,
// another origin) and shows the page stays on — or comes back to — the greeter.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { readFileSync, existsSync } from "node:fs";
import type { Server } from "node:http";
import { join } from "node:path";
import { Foyerd, askPassword, killAskers, requirePrivateAskDir, requireTool, withTimeout } from "../helpers/index.js";
import { POLICY_DIR, hostileScript, kioskProfile, pages, requirePrivateChromiumEtc, tabOverGreeter } from "../helpers/kiosk.js";

requireTool("Xvfb", "xvfb");
requireTool("xdotool", "xdotool");
requireTool("chromium", "chromium");
requireTool("systemd-ask-password", "systemd");
requirePrivateAskDir();
requirePrivateChromiumEtc();

interface Ctx {
  foyerd?: Foyerd;
  server?: Server;
}
const K = suite<Ctx>("robust/kiosk-x11", {});
K.after.each(async (ctx) => {
  killAskers();
  await ctx.foyerd?.stop();
  ctx.foyerd?.cleanup();
  ctx.server?.close();
  spawnSync("pkill", ["-KILL", "-u", "foyer-greeter"]); // our own PID namespace (test/run.mjs)
});

const profile = (greeter: Record<string, unknown>, restart: Record<string, unknown> = {}) => kioskProfile("xvfb", greeter, restart);

// the display's access is foyerd's cookie: the file it wrote for the greeter (greeter-folders.ts)
let xauthority = "";
const x = (display: string, ...args: string[]) =>
  spawnSync("xdotool", args, { encoding: "utf8", env: { ...process.env, DISPLAY: display, XAUTHORITY: xauthority } });
function visibleWindows(display: string): string[] {
  const ids = x(display, "search", "--onlyvisible", "--name", "").stdout.split("\n").filter(Boolean);
  return ids.map((id) => x(display, "getwindowname", id).stdout.trim());
}
function browserPid(): number {
  const pid = Number(spawnSync("pgrep", ["-u", "foyer-greeter", "-o", "-x", "chromium"], { encoding: "utf8" }).stdout.trim());
  if (!pid) throw new Error("no chromium of foyer-greeter");
  return pid;
}

// the brief's list and chromium's other accelerators that open or leave something (xdotool names)
const KEYS = [
  "ctrl+l",
  "ctrl+t",
  "ctrl+n",
  "ctrl+shift+n",
  "ctrl+o",
  "ctrl+p",
  "ctrl+s",
  "F12",
  "ctrl+shift+i",
  "ctrl+shift+j",
  "ctrl+shift+c",
  "ctrl+u",
  "alt+F4",
  "ctrl+w",
  "ctrl+q",
  "alt+Left",
  "F11",
  "ctrl+shift+Delete",
  "shift+Escape",
  "ctrl+h",
  "ctrl+j",
  "ctrl+d",
  "ctrl+shift+o",
  "ctrl+shift+t",
  "ctrl+shift+w",
  "ctrl+shift+q",
  "F1",
  "alt+Home",
  "alt+f",
  "ctrl+Tab",
  "shift+F10",
];

K("production lock-down, real keys: every escape key leaves one greeter window that still unlocks", async (ctx) => {
  // no debug port (as shipped); the browser is restarted before each key so that the prompt of
  // the round is on the screen when the key is pressed ("greeter interactive" is sent after paint)
  const f = (ctx.foyerd = new Foyerd(profile({ debugPort: null }, { burst: 1000, windowMs: 100, initialMs: 0, maxMs: 0 })));
  xauthority = f.xauthority;
  await f.until((l) => l.includes("greeter interactive"), 60_000, "greeter interactive");
  const display = /X server ready display=(:\d+)/.exec(f.log)![1]!;
  assert.match(f.log, /browser accelerators grabbed on the X root window/);
  assert.ok(existsSync(join(POLICY_DIR, "foyer-kiosk.json")), "foyerd wrote the policy");
  const policy = JSON.parse(readFileSync(join(POLICY_DIR, "foyer-kiosk.json"), "utf8"));
  assert.is(policy.DeveloperToolsAvailability, 2);
  assert.is(policy.RemoteDebuggingAllowed, false);
  assert.not.match(readFileSync(`/proc/${browserPid()}/cmdline`, "latin1"), /remote-debugging/);
  // chromium maps a nameless helper window beside its browser window
  const baseline = visibleWindows(display);
  assert.ok(baseline.includes("foyer - Chromium"), `windows ${JSON.stringify(baseline)}`);
  const failures: string[] = [];
  const retried: string[] = [];
  const enter = (text: string) => {
    x(display, "type", "--delay", "15", text);
    x(display, "key", "--clearmodifiers", "Return");
  };
  for (const [i, key] of KEYS.entries()) {
    const round = i + 1;
    // counted from here: a key that closed the browser made foyerd restart it once more
    const pending = f.count(/password request pending/);
    const again = f.count(/greeter interactive again/);
    const ask = askPassword(`Round ${round}:`, { id: `kiosk:${round}` });
    let second: typeof ask | undefined;
    try {
      await f.untilCount(/password request pending/, pending + 1, 10_000);
      process.kill(browserPid(), "SIGKILL");
      await f.untilCount(/greeter interactive again/, again + 1, 60_000);
      const pid = browserPid();
      x(display, "key", "--clearmodifiers", key);
      // the key at once: what it does in the first instants must not strand anyone. The passphrase
      // at a person's pace, and typed again the way a person would when it did not arrive whole:
      // a combination pressed in the first instants after a restart can make chromium take the
      // focus from its page for ~180 ms (the page's window gets `blur`, the combination's keydown
      // never reaches it, X's focus stays on chromium's window), and what is typed meanwhile is
      // lost: with ctrl+shift+i pressed at once and "pass N" typed 100 ms later, 3 of 140 rounds
      // answered only "N"; 0 of 150 without the combination. Neither the page's window.focus() at
      // the blur (3 of 150) nor moving X's focus away and back (4 of 150) shortened it. After
      // ctrl+Tab (grabbed by foyerd: chromium sees only the ctrl) 1 of 350 rounds answered "" with
      // every keydown seen by the page, which had the focus. A lost character is a wrong
      // passphrase and a second try, not an escape; every retry is reported
      await new Promise((r) => setTimeout(r, 400));
      enter(`pass ${round}`);
      let got = await withTimeout(ask.result, 12_000, `unlock after ${key}`).catch(() => null);
      if (got?.out.toString() !== `pass ${round}\n`) {
        retried.push(`${key} (${got ? `the greeter answered ${JSON.stringify(got.out.toString())}` : "nothing arrived"})`);
        // a wrong answer ended that request: the next one, as cryptsetup would ask again
        const next = got ? askPassword(`Round ${round}, again:`, { id: `kiosk:${round}:again` }) : ask;
        if (next !== ask) {
          second = next;
          await f.untilCount(/password request pending/, pending + 2, 10_000);
          await new Promise((r) => setTimeout(r, 400));
        }
        x(display, "key", "--clearmodifiers", "ctrl+a", "BackSpace");
        enter(`pass ${round}`);
        got = await withTimeout(next.result, 12_000, `unlock after ${key}, second try`).catch(() => null);
      }
      const windows = visibleWindows(display);
      const alive = existsSync(`/proc/${pid}`) && browserPid() === pid;
      const problems = [
        got?.out.toString() === `pass ${round}\n`
          ? ""
          : got
            ? `the greeter answered ${JSON.stringify(got.out.toString())}, not the typed passphrase`
            : "the typed passphrase did not reach the greeter",
        JSON.stringify(windows) === JSON.stringify(baseline) ? "" : `windows ${JSON.stringify(windows)}`,
        alive ? "" : "the browser exited",
      ].filter(Boolean);
      if (problems.length) failures.push(`${key}: ${problems.join("; ")}`);
    } catch (e) {
      failures.push(`${key}: ${(e as Error).message}`);
    } finally {
      ask.proc.kill("SIGKILL");
      second?.proc.kill("SIGKILL");
    }
  }
  if (retried.length) console.log(`typed twice before it reached the greeter: ${retried.join("; ")}`);
  // an occasional lost character is a person's retry; losing them in many rounds would be a regression
  assert.ok(retried.length <= 3, `${retried.length} of ${KEYS.length} rounds needed a second try`);
  if (failures.length) console.log(`foyerd's log:\n${f.log}`);
  assert.equal(failures, [], failures.join("\n"));
  // no devtools anywhere: nothing of chromium listens on TCP
  const ss = spawnSync("ss", ["-Hltnp"], { encoding: "utf8" })
    .stdout.split("\n")
    .filter((l) => l.includes('"chromium"'));
  assert.equal(ss, [], "chromium listens");
});

K("a hostile page script cannot leave the greeter: blocked, or the greeter comes back", async (ctx) => {
  const port = 9334;
  const f = (ctx.foyerd = new Foyerd(profile({ debugPort: port, lostTimeoutMs: 1000 })));
  xauthority = f.xauthority;
  await f.until((l) => l.includes("greeter interactive"), 60_000, "greeter interactive");
  const display = /X server ready display=(:\d+)/.exec(f.log)![1]!;
  const baseline = visibleWindows(display);
  assert.equal((await pages(port)).length, 1);
  // besides the debug port's pages, what the X server shows: no window came or went
  ctx.server = await hostileScript(f, port, (what) => assert.equal(visibleWindows(display), baseline, `${what}: windows`));
});

K("a tab opened over the greeter does not strand anyone: the browser is restarted", async (ctx) => {
  const f = (ctx.foyerd = new Foyerd(profile({ debugPort: 9334, lostTimeoutMs: 1000 })));
  await f.until((l) => l.includes("greeter interactive"), 60_000, "greeter interactive");
  await tabOverGreeter(f, 9334);
});

K.run();
