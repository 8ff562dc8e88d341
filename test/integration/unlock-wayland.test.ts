// Unlock under a real compositor: cage (wlroots headless backend) running chromium as the
// unprivileged greeter user, driven over CDP. The greeter is killed again and again: each new one
// shows the same pending prompt, and the request is still answered. Then the breaker trips and
// the text fallback answers on a terminal (a real pty): systemd's requests and Plymouth's, in
// foyer's own prompt or through systemd-tty-ask-password-agent.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import * as pty from "node-pty";
import WebSocket from "ws";
import { ply, killClients } from "../helpers/plymouth.js";
import { Foyerd, askPassword, killAskers, requirePrivateAskDir, requireTool, withTimeout, pollUntil, top, connectGreeter } from "../helpers/index.js";

requireTool("cage", "cage");
requireTool("chromium", "chromium");
requireTool("grim", "grim");
requireTool("systemd-ask-password", "systemd");
requireTool("systemd-tty-ask-password-agent", "systemd");
requireTool("plymouth", "plymouth");
requireTool("perl", "perl-base");
requirePrivateAskDir();

interface Ctx {
  foyerd?: Foyerd;
  term?: pty.IPty;
}
const W = suite<Ctx>("integration/unlock-wayland", {});
W.after.each(async (ctx) => {
  killAskers();
  killClients();
  ctx.term?.kill("SIGKILL"); // the console holder ignores SIGHUP, as a console would
  await ctx.foyerd?.stop();
  ctx.foyerd?.cleanup();
  // foyerd's stop takes the whole greeter (cage, chromium and its helpers) down with it
  // (zombies are PID 1's to reap, not ours: count only live processes)
  // (SIGKILL is delivered, not awaited: a process may take a moment to finish dying)
  const live = () => spawnSync("pgrep", ["-u", "foyer-greeter", "--runstates", "R,S,D,T,t"], { encoding: "utf8" }).stdout.trim();
  for (let i = 0; i < 50 && live() !== ""; i++) await new Promise((r) => setTimeout(r, 100));
  const left = live() && spawnSync("ps", ["-o", "pid,stat,comm", "-u", "foyer-greeter"], { encoding: "utf8" }).stdout.trim();
  spawnSync("pkill", ["-KILL", "-u", "foyer-greeter"]); // so one failure cannot spoil the next test
  assert.is(left, "", "greeter processes left after foyerd stopped");
});

function greeterPid(): number {
  const r = spawnSync("pgrep", ["-u", "foyer-greeter", "-x", "cage"], { encoding: "utf8" });
  const pid = Number(r.stdout.trim().split("\n")[0]);
  if (!pid) throw new Error("no cage process of foyer-greeter");
  return pid;
}

W("types into the greeter under cage; screenshot of the unlock screen", async (ctx) => {
  const f = (ctx.foyerd = new Foyerd("headless-wayland"));
  await f.until((l) => l.includes("greeter interactive"), 60_000, "greeter interactive");
  const ask = askPassword("Please enter passphrase for disk luks-root (cryptroot):", { id: "cryptsetup:/dev/vda2" });
  const { page, close } = await connectGreeter(9333);
  const input = page.getByLabel("Please enter passphrase for disk luks-root (cryptroot):");
  await withTimeout(input.waitFor(), 15_000, "prompt in the greeter");
  await page.waitForFunction(() => document.activeElement instanceof HTMLInputElement);
  // the compositor's view of it: grim over wlr-screencopy, as the greeter user
  const shot = spawnSync(
    "runuser",
    ["-u", "foyer-greeter", "--", "env", `XDG_RUNTIME_DIR=${join(f.runtimeDir, "state/greeter/xdg")}`, "WAYLAND_DISPLAY=wayland-0", "grim", "-"],
    { maxBuffer: 64 << 20 },
  );
  assert.is(shot.status, 0, String(shot.stderr));
  assert.ok(shot.stdout.length > 10_000, "grim returned an empty picture");
  mkdirSync(join(top, "docs"), { recursive: true });
  writeFileSync(join(tmpdir(), "foyer-unlock-cage.png"), shot.stdout);
  if (process.env.FOYER_UPDATE_DOCS) writeFileSync(join(top, "docs/unlock-cage.png"), shot.stdout);
  await input.fill("tröt 123");
  await input.press("Enter");
  assert.is((await withTimeout(ask.result, 10_000)).out.toString(), "tröt 123\n");
  await close();
});

W("the greeter is launched before the supervisor loads, and the supervisor adopts that one", async (ctx) => {
  const f = (ctx.foyerd = new Foyerd("headless-wayland"));
  await f.until((l) => l.includes("greeter interactive"), 60_000, "greeter interactive");
  const launched = /greeter launched before the supervisor loaded pid=(\d+)/.exec(f.log);
  assert.ok(launched, "no first launch in foyerd's log");
  assert.ok(f.log.indexOf(launched[0]) < f.log.indexOf("greeter server listening"), "the greeter was launched after the supervisor's server");
  assert.not.match(f.log, /greeter exited|interactive again/);
  // one launch: the cage running now is the one launched first, and the timeline has one start
  assert.is(greeterPid(), Number(launched[1]));
  const tl = JSON.parse(readFileSync(join(f.runtimeDir, "state/timeline.json"), "utf8")) as { entries: { name: string; at: number; end?: number }[] };
  const starts = tl.entries.filter((e) => e.name === "greeter start");
  const listening = tl.entries.find((e) => e.name === "greeter server listening")!;
  assert.is(starts.length, 1, JSON.stringify(tl.entries));
  assert.ok(starts[0]!.at < listening.at && starts[0]!.end !== undefined, JSON.stringify(tl.entries));
});

W("a killed greeter comes back with the same prompt, and the request is still answered", async (ctx) => {
  const f = (ctx.foyerd = new Foyerd("headless-wayland"));
  await f.until((l) => l.includes("greeter interactive"), 60_000, "greeter interactive");
  const ask = askPassword("Survive kills:", { id: "cryptsetup:/dev/kills" });
  // the first launch's URL (no token in it), and its token fetched as its page does
  const firstUrl = new URL(/http:\/\/127\.0\.0\.1:\d+\/\S*/.exec(readFileSync(`/proc/${greeterPid()}/cmdline`, "latin1").replace(/\0/g, " "))![0]);
  assert.not.match(firstUrl.href, /token/, "the browser's command line carries a token");
  const session = await fetch(`${firstUrl.origin}/session`, { method: "POST", headers: { Origin: firstUrl.origin } });
  const firstToken = ((await session.json()) as { token: string }).token;
  for (let i = 1; i <= 3; i++) {
    const { page, close } = await connectGreeter(9333);
    await withTimeout(page.getByLabel("Survive kills:").waitFor(), 15_000, `prompt shown (round ${i})`);
    await close();
    process.kill(greeterPid(), "SIGKILL");
    await f.untilCount(/greeter interactive again/, i, 60_000);
  }
  const stale = await new Promise<number | "open">((resolve) => {
    const ws = new WebSocket(`ws://${firstUrl.host}/ws?token=${firstToken}`, { headers: { Origin: firstUrl.origin } });
    ws.on("open", () => (ws.close(), resolve("open")));
    ws.on("unexpected-response", (_q, r) => resolve(r.statusCode ?? 0));
    ws.on("error", () => resolve(0));
  });
  assert.is(stale, 403, "a dead greeter's token still opens the WebSocket");
  const { page, close } = await connectGreeter(9333);
  await withTimeout(page.getByLabel("Survive kills:").waitFor(), 15_000, "prompt after the kills");
  await page.getByLabel("Survive kills:").fill("still here");
  await page.getByLabel("Survive kills:").press("Enter");
  assert.is((await withTimeout(ask.result, 10_000)).out.toString(), "still here\n");
  assert.not.ok(f.log.includes("breaker tripped"));
  await close();
});

/** A pty whose slave foyerd opens as its console, and foyerd's greeter killed until the breaker trips. */
async function tripBreaker(ctx: Ctx, mode: "builtin" | "tty-agent", pending: () => void): Promise<{ screen: () => string; f: Foyerd }> {
  // like a boot's /dev/console, the pty is nobody's controlling terminal (TIOCNOTTY): systemd's
  // console agent waits until it can make it its own
  const holder = '$SIG{HUP} = "IGNORE"; $| = 1; print readlink("/proc/self/fd/0"), "\\n"; ioctl(STDIN, 0x5422, 0) or die "TIOCNOTTY: $!"; sleep 600';
  const term = (ctx.term = pty.spawn("perl", ["-e", holder], { cols: 200, rows: 24 }));
  let screen = "";
  term.onData((d) => (screen += d));
  await pollUntil(() => /\/dev\/pts\/\d+/.test(screen), 5_000, "pty path");
  const ttyPath = /\/dev\/pts\/\d+/.exec(screen)![0];
  const dir = mkdtempSync(join(tmpdir(), "foyer-prof-"));
  const prof = JSON.parse(readFileSync(join(top, "profiles/headless-wayland.json"), "utf8"));
  prof.restart = { burst: 2, windowMs: 120_000 };
  prof.fallback = { mode, console: ttyPath };
  writeFileSync(join(dir, "breaker.json"), JSON.stringify(prof));
  const f = (ctx.foyerd = new Foyerd(join(dir, "breaker.json")));
  await f.until((l) => l.includes("greeter interactive"), 60_000, "greeter interactive");
  pending();
  for (let i = 1; i <= 3; i++) {
    await f.untilCount(/greeter connected/, i, 60_000);
    process.kill(greeterPid(), "SIGKILL");
    await f.untilCount(/greeter exited/, i, 10_000);
  }
  await f.until((l) => l.includes("breaker tripped"), 10_000, "breaker tripped");
  assert.is(spawnSync("pgrep", ["-u", "foyer-greeter", "-x", "cage"]).status, 1, "no greeter after the breaker tripped");
  return { screen: () => screen, f };
}

W("the breaker trips and the text fallback asks every request on the console, systemd's and Plymouth's", async (ctx) => {
  let ask!: ReturnType<typeof askPassword>, cryptroot!: ReturnType<typeof ply>;
  const { screen, f } = await tripBreaker(ctx, "builtin", () => {
    ask = askPassword("Breaker:", { id: "cryptsetup:/dev/breaker" });
    // Debian's cryptroot asks this way (initramfs-tools): through Plymouth's protocol only
    cryptroot = ply(["ask-for-password", "--prompt=Please unlock disk cryptroot:"]);
  });
  await f.until((l) => l.includes("plymouth password request pending"), 10_000, "the Plymouth request reaching foyerd");
  await pollUntil(() => screen().includes("Breaker:"), 5_000, "the systemd request on the console");
  ctx.term!.write("typed on the console\r");
  assert.is((await withTimeout(ask.result, 10_000)).out.toString(), "typed on the console\n");
  await pollUntil(() => screen().includes("Please unlock disk cryptroot:"), 5_000, `the Plymouth request on the console:\n${screen()}`);
  ctx.term!.write("tröt plymouth\r");
  const c = await withTimeout(cryptroot.result, 10_000);
  assert.is(c.code, 0, c.err);
  assert.is(c.out.toString(), "tröt plymouth");
  // a request that comes while the fallback asks on the console is asked there too
  const question = ply(["ask-question", "--prompt=Which volume next?"]);
  await pollUntil(() => screen().includes("Which volume next?"), 5_000, "the Plymouth question on the console");
  // a question's answer is shown as typed (a backspace takes the last character back), a passphrase never
  ctx.term!.write("homex\x7f\r");
  const q = await withTimeout(question.result, 10_000);
  assert.is(q.out.toString(), "home");
  await pollUntil(() => screen().includes("home"), 5_000, "the question's answer echoed");
  assert.not.ok(screen().includes("typed on the console"), "the console echoed a passphrase");
  assert.not.ok(screen().includes("tröt plymouth"), "the console echoed Plymouth's passphrase");
});

W("tty-agent mode: systemd's console agent answers systemd's requests, Plymouth's are declined to their own terminal", async (ctx) => {
  let ask!: ReturnType<typeof askPassword>, cryptroot!: ReturnType<typeof ply>;
  const { screen, f } = await tripBreaker(ctx, "tty-agent", () => {
    ask = askPassword("Agent breaker:", { id: "cryptsetup:/dev/agent" });
    cryptroot = ply(["ask-for-password", "--prompt=Please unlock disk cryptroot:"]);
  });
  // the client is told NO_ANSWER, as plymouthd says when it cannot show a prompt, and gives up on it
  const c = await withTimeout(cryptroot.result, 10_000, "the Plymouth client declined");
  assert.is.not(c.code, 0, "the declined Plymouth request was answered");
  assert.ok(f.log.includes("declining a Plymouth request"), f.log);
  await pollUntil(() => screen().includes("Agent breaker:"), 10_000, `systemd-tty-ask-password-agent asking on the console:\n${screen()}`);
  ctx.term!.write("agent typed\r");
  assert.is((await withTimeout(ask.result, 10_000)).out.toString(), "agent typed\n");
  assert.not.ok(screen().includes("agent typed"), "the console echoed the passphrase");
});

W.run();
