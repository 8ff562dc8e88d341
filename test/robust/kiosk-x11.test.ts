// Reliability check 8 on the x11 stack, with real key events: Xvfb + chromium as foyer runs them,
// chromium's managed policy written by foyerd (into this suite's private /etc/chromium, see
// test/run.mjs), and xdotool pressing each escape key through the X server (XTEST), so chromium's
// accelerators see them as they would a keyboard's — CDP-synthesised keys go to the page and
// bypass them. After each key: still one window, titled by the greeter, the same browser process,
// and a passphrase typed with xdotool still unlocks (a new tab, window or dialog would have taken
// the keyboard). The production configuration has no debug port; a second test uses the test
// profile's port to play a hostile page script (window.open, file:, chrome:, javascript:, data:,
// another origin) and shows the page stays on — or comes back to — the greeter.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Foyerd, askPassword, killAskers, requirePrivateAskDir, requireTool, withTimeout, top, connectGreeter } from "../helpers/index.js";

requireTool("Xvfb", "xvfb");
requireTool("xdotool", "xdotool");
requireTool("chromium", "chromium");
requireTool("systemd-ask-password", "systemd");
requirePrivateAskDir();
const POLICY_DIR = "/etc/chromium/policies/managed";
if (!readFileSync("/proc/self/mounts", "utf8").split("\n").some((l) => l.split(" ")[1] === "/etc/chromium")) {
  throw new Error("/etc/chromium is not a private mount: run this suite through test/run.mjs");
}

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

/** A profile file: the shipped xvfb test profile with `greeter` and `restart` overrides. */
function profile(greeter: Record<string, unknown>, restart: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "foyer-kiosk-"));
  const p = JSON.parse(readFileSync(join(top, "profiles/xvfb.json"), "utf8"));
  p.greeter = { ...p.greeter, chromiumPolicyDir: POLICY_DIR, ...greeter };
  p.restart = restart;
  writeFileSync(join(dir, "p.json"), JSON.stringify(p));
  return join(dir, "p.json");
}

const x = (display: string, ...args: string[]) => spawnSync("xdotool", args, { encoding: "utf8", env: { ...process.env, DISPLAY: display } });
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
  "ctrl+l", "ctrl+t", "ctrl+n", "ctrl+shift+n", "ctrl+o", "ctrl+p", "ctrl+s", "F12", "ctrl+shift+i", "ctrl+shift+j",
  "ctrl+shift+c", "ctrl+u", "alt+F4", "ctrl+w", "ctrl+q", "alt+Left", "F11", "ctrl+shift+Delete", "shift+Escape",
  "ctrl+h", "ctrl+j", "ctrl+d", "ctrl+shift+o", "ctrl+shift+t", "ctrl+shift+w", "ctrl+shift+q", "F1", "alt+Home", "alt+f", "ctrl+Tab", "shift+F10",
];

K("production lock-down, real keys: every escape key leaves one greeter window that still unlocks", async (ctx) => {
  // no debug port (as shipped); the browser is restarted before each key so that the prompt of
  // the round is on the screen when the key is pressed ("greeter interactive" is sent after paint)
  const f = (ctx.foyerd = new Foyerd(profile({ debugPort: null }, { burst: 1000, windowMs: 100, initialMs: 0, maxMs: 0 })));
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
  for (const [i, key] of KEYS.entries()) {
    const round = i + 1;
    const ask = askPassword(`Round ${round}:`, { id: `kiosk:${round}` });
    await f.untilCount(/password request pending/, round, 10_000);
    process.kill(browserPid(), "SIGKILL");
    await f.untilCount(/greeter interactive again/, round, 60_000);
    const pid = browserPid();
    x(display, "key", "--clearmodifiers", key);
    x(display, "type", "--delay", "15", `pass ${round}`);
    x(display, "key", "--clearmodifiers", "Return");
    const got = await withTimeout(ask.result, 20_000, `unlock after ${key}`).catch(() => null);
    const windows = visibleWindows(display);
    const alive = existsSync(`/proc/${pid}`) && browserPid() === pid;
    const problems = [
      got?.out.toString() === `pass ${round}\n` ? "" : "the typed passphrase did not reach the greeter",
      JSON.stringify(windows) === JSON.stringify(baseline) ? "" : `windows ${JSON.stringify(windows)}`,
      alive ? "" : "the browser exited",
    ].filter(Boolean);
    if (problems.length) {
      failures.push(`${key}: ${problems.join("; ")}`);
      ask.proc.kill("SIGKILL");
    }
  }
  assert.equal(failures, [], failures.join("\n"));
  // no devtools anywhere: nothing of chromium listens on TCP
  const ss = spawnSync("ss", ["-Hltnp"], { encoding: "utf8" }).stdout.split("\n").filter((l) => l.includes('"chromium"'));
  assert.equal(ss, [], "chromium listens");
});

/**
 * The pages of the debug port, without attaching. A popup chromium blocked is kept as a page
 * with no URL that never loads and is never shown (the X windows say so): not counted.
 */
async function pages(port: number): Promise<string[]> {
  const r = await fetch(`http://127.0.0.1:${port}/json/list`);
  const list = (await r.json()) as { type: string; url: string }[];
  return list.filter((t) => t.type === "page" && t.url !== "").map((t) => t.url);
}

K("a hostile page script cannot leave the greeter: blocked, or the greeter comes back", async (ctx) => {
  // another origin with something to hit: it must never be asked for anything
  let hits = 0;
  const other = (ctx.server = createServer((_q, r) => (hits++, r.end("<title>elsewhere</title>other"))));
  await new Promise<void>((r) => other.listen(0, "127.0.0.1", r));
  const otherPort = (other.address() as { port: number }).port;
  const port = 9334;
  const f = (ctx.foyerd = new Foyerd(profile({ debugPort: port, lostTimeoutMs: 1000 })));
  await f.until((l) => l.includes("greeter interactive"), 60_000, "greeter interactive");
  const origin = new URL((await pages(port))[0]!).origin;
  const display = /X server ready display=(:\d+)/.exec(f.log)![1]!;
  const baseline = visibleWindows(display);
  let g = await connectGreeter(port);
  const s = await g.page.context().newCDPSession(g.page);
  // a script of the page, with a user gesture (a keystroke in the greeter gives it one)
  const run = (expression: string) => s.send("Runtime.evaluate", { expression, userGesture: true }).catch(() => undefined);
  const stays = async (what: string, expression: string) => {
    await run(expression);
    // a round trip through the page: navigations it started have been decided by then
    await s.send("Runtime.evaluate", { expression: "1" }).catch(() => undefined);
    const list = await pages(port);
    assert.equal(list.length, 1, `${what}: pages ${JSON.stringify(list)}`);
    assert.equal(visibleWindows(display), baseline, `${what}: windows`);
    assert.is(new URL(list[0]!).origin, origin, `${what}: left for ${list[0]}`);
    assert.is(await g.page.evaluate(() => document.querySelector("#unlock-view") !== null), true, `${what}: the greeter's document is gone`);
  };
  await stays("file:", `location.href = "file:///etc/shadow"`);
  await stays("chrome:", `location.href = "chrome://settings"`);
  await stays("view-source:", `location.href = "view-source:${origin}/"`);
  await stays("devtools:", `location.href = "devtools://devtools/bundled/inspector.html"`);
  await stays("javascript:", `location.href = "javascript:document.body.innerHTML='pwned'"`);
  assert.not.ok((await g.page.evaluate(() => document.body.innerHTML)).includes("pwned"), "a javascript: URL ran");
  await stays("data:", `location.href = "data:text/html,<h1>data</h1>"`);
  await stays("window.open (same origin)", `window.open("${origin}/")`);
  await stays("window.open (another origin)", `window.open("http://127.0.0.1:${otherPort}/")`);
  await stays("window.open (file:)", `window.open("file:///etc/passwd")`);
  assert.is(hits, 0, "the other origin was asked");

  // another http origin: chromium's policy blocks it, and its "blocked" page replaces the greeter,
  // whose page connection closes; foyerd restarts the greeter (greeter.lostTimeoutMs)
  const ask = askPassword("After the escape:", { id: "kiosk:hostile" });
  await run(`location.href = "http://127.0.0.1:${otherPort}/"`);
  await f.until((l) => l.includes("greeter page disconnected"), 10_000, "page lost");
  await f.until((l) => l.includes("greeter interactive again"), 60_000, "greeter back");
  assert.is(hits, 0, "the other origin was asked");
  const after = await pages(port);
  assert.equal(after.map((u) => new URL(u).origin), [origin]);
  await g.close();
  g = await connectGreeter(port);
  await withTimeout(g.page.getByLabel("After the escape:").waitFor(), 15_000, "prompt");
  await g.page.getByLabel("After the escape:").fill("back home");
  await g.page.getByLabel("After the escape:").press("Enter");
  assert.is((await withTimeout(ask.result, 10_000)).out.toString(), "back home\n");
  await g.close();
});

K.run();
