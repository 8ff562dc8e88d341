// Rule: on the x11 stack only the holder of the X server's cookie reaches the display. foyerd
// starts Xvfb with -auth (one random MIT-MAGIC-COOKIE-1 in the greeter's XDG_RUNTIME_DIR, 0600);
// with a request pending, `nobody` cannot list the windows, take a screenshot or type the answer,
// and neither can `foyer-greeter` without the file: the cookie grants access, not the uid. With
// the file (root; the greeter with XAUTHORITY) the same tools work and the typed passphrase
// reaches the asker. /tmp/.X11-unix is root's sticky folder, also when nobody made one first, so
// no other uid can swap the socket foyerd's key grab connects to; a new X server after a kill
// keeps all of this.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { lstatSync, readFileSync, readdirSync } from "node:fs";
import {
  Foyerd,
  account,
  asAccount,
  askPassword,
  connectGreeter,
  killAskers,
  requirePrivateAskDir,
  requireTool,
  withTimeout,
  type Account,
  type Asker,
  privateTmp,
  undoPrivateTmp,
} from "../helpers/index.js";

requireTool("setpriv", "util-linux");
requireTool("Xvfb", "xvfb");
requireTool("xwininfo", "x11-utils");
requireTool("xwd", "x11-apps");
requireTool("xdotool", "xdotool");
requireTool("chromium", "chromium");
requireTool("systemd-ask-password", "systemd");
requirePrivateAskDir();

const nobody = account("nobody");
const greeter = account("foyer-greeter");
const PORT = 9334; // the xvfb profile's debug port: the test waits on the page, never types through it

interface Ctx {
  foyerd?: Foyerd;
}
const S = suite<Ctx>("security/x11-auth", {});

S.before.each(() => {
  // a /tmp of each test's own (test/run.mjs gives each suite its mount namespace): the X server's
  // /tmp/.X11-unix is made here, not found from an earlier run
  privateTmp();
});
S.after.each(async (ctx) => {
  killAskers();
  await ctx.foyerd?.stop();
  ctx.foyerd?.cleanup();
  ctx.foyerd = undefined;
  spawnSync("pkill", ["-KILL", "-u", "foyer-greeter"]); // our own PID namespace (test/run.mjs)
  undoPrivateTmp();
});

/**
 * An X client on `display`: as `who` (setpriv) or root, with XAUTHORITY set to `xauthority` or
 * unset; HOME has no ~/.Xauthority, so nothing else grants access.
 */
function x(display: string, who: Account | "root", xauthority: string | undefined, argv: string[]) {
  const env: Record<string, string> = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/nonexistent", DISPLAY: display };
  if (xauthority !== undefined) env.XAUTHORITY = xauthority;
  const cmd = who === "root" ? argv : [...asAccount(who), ...argv];
  return spawnSync(cmd[0]!, cmd.slice(1), { env, encoding: "latin1", timeout: 20_000, maxBuffer: 64 << 20 });
}

/** foyerd with the xvfb profile, a request pending and drawn; its display */
async function start(ctx: Ctx, message: string): Promise<{ f: Foyerd; display: string; ask: Asker }> {
  const f = (ctx.foyerd = new Foyerd("xvfb"));
  await f.until((l) => l.includes("greeter interactive"), 60_000, "greeter interactive");
  const display = /X server ready display=(:\d+)/.exec(f.log)![1]!;
  const ask = askPassword(message, { id: "x11-auth:disk" });
  const g = await connectGreeter(PORT);
  await withTimeout(g.page.getByLabel(message).waitFor(), 15_000, "the prompt");
  await g.close();
  return { f, display, ask };
}

/** every process's argv and environment, as root reads them */
function processTexts(): { pid: string; argv: Buffer; env: Buffer }[] {
  const read = (pid: string, what: string) => {
    try {
      return readFileSync(`/proc/${pid}/${what}`);
    } catch {
      return Buffer.alloc(0); // exited meanwhile
    }
  };
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .map((pid) => ({ pid, argv: read(pid, "cmdline"), env: read(pid, "environ") }));
}

/** what `who` got from the display without the cookie; "" when it was refused */
function breach(what: string, r: ReturnType<typeof x>): string {
  if (r.status !== 0 && /Authorization required|Invalid MIT-MAGIC-COOKIE-1 key/.test(r.stderr)) return "";
  return `${what}: exit ${r.status}, ${r.stdout.length} bytes out, stderr ${JSON.stringify(r.stderr.slice(0, 200))}`;
}

S("without the cookie nobody and the greeter user are refused the display; with it root and the greeter reach it", async (ctx) => {
  const { f, display, ask } = await start(ctx, "Disk behind X:");
  const breaches: string[] = [];
  const sticky = lstatSync("/tmp/.X11-unix");
  if (!(sticky.isDirectory() && sticky.uid === 0 && (sticky.mode & 0o7777) === 0o1777)) {
    breaches.push(`/tmp/.X11-unix is uid ${sticky.uid}'s, mode ${(sticky.mode & 0o7777).toString(8)}`);
  }
  // nobody: no XAUTHORITY, then the greeter's file (which it cannot read)
  for (const xa of [undefined, f.xauthority]) {
    const as = `nobody (XAUTHORITY ${xa ?? "unset"})`;
    breaches.push(breach(`${as} listed the windows`, x(display, nobody, xa, ["xwininfo", "-root", "-tree"])));
    breaches.push(breach(`${as} took a screenshot`, x(display, nobody, xa, ["xwd", "-root", "-silent"])));
  }
  // the greeter user runs the X server, but without the file its uid alone grants nothing
  for (const xa of [undefined, "/dev/null"]) {
    const as = `foyer-greeter (XAUTHORITY ${xa ?? "unset"})`;
    breaches.push(breach(`${as} listed the windows`, x(display, greeter, xa, ["xwininfo", "-root", "-tree"])));
    breaches.push(breach(`${as} took a screenshot`, x(display, greeter, xa, ["xwd", "-root", "-silent"])));
  }
  // nobody types an answer and presses Enter: refused, so the prompt waits for the person
  breaches.push(breach("nobody typed", x(display, nobody, undefined, ["xdotool", "type", "--delay", "15", "typed-by-nobody"])));
  breaches.push(breach("nobody pressed Enter", x(display, nobody, undefined, ["xdotool", "key", "--clearmodifiers", "Return"])));

  // with the file it works: what the refusals above are measured against
  const tree = x(display, "root", f.xauthority, ["xwininfo", "-root", "-tree"]);
  assert.is(tree.status, 0, tree.stderr);
  assert.match(tree.stdout, /"foyer - Chromium"/);
  const shot = x(display, "root", f.xauthority, ["xwd", "-root", "-silent"]);
  assert.is(shot.status, 0, shot.stderr);
  assert.ok(shot.stdout.length > 1280 * 800 * 3, `a screenshot of ${shot.stdout.length} bytes`);
  const own = x(display, greeter, f.xauthority, ["xwininfo", "-root", "-tree"]);
  assert.is(own.status, 0, `the greeter with its file: ${own.stderr}`);
  assert.is(x(display, "root", f.xauthority, ["xdotool", "type", "--delay", "15", "typed by root"]).status, 0);
  assert.is(x(display, "root", f.xauthority, ["xdotool", "key", "--clearmodifiers", "Return"]).status, 0);
  const got = (await withTimeout(ask.result, 10_000, "the answer")).out.toString();
  if (got !== "typed by root\n") breaches.push(`the asker received ${JSON.stringify(got)}, not what root typed`);
  assert.equal(breaches.filter(Boolean), [], breaches.filter(Boolean).join("\n"));
  // the file's path is in the X server's argv and the browser's environment; the cookie in none
  const cookie = readFileSync(f.xauthority).subarray(-16);
  assert.is(cookie.length, 16);
  const procs = processTexts();
  assert.ok(
    procs.some((p) => p.argv.toString().split("\0").join(" ").includes(`Xvfb -displayfd 3 -auth ${f.xauthority} `)),
    "Xvfb with -auth",
  );
  assert.ok(
    procs.some((p) => /(^|\/)chromium$/.test(p.argv.toString().split("\0")[0]!) && p.env.toString().split("\0").includes(`XAUTHORITY=${f.xauthority}`)),
    "chromium with XAUTHORITY",
  );
  for (const needle of [cookie, Buffer.from(cookie.toString("hex")), Buffer.from(cookie.toString("hex").toUpperCase())]) {
    const holders = procs.filter((p) => p.argv.includes(needle) || p.env.includes(needle)).map((p) => p.pid);
    assert.equal(holders, [], "the cookie in an argv or environment");
  }
  assert.match(f.log, /browser accelerators grabbed on the X root window/);
  assert.not.match(f.log, /cannot grab the browser's keys/);
});

S("a new X server after a kill: the same file, nobody still refused, foyerd's key grab back", async (ctx) => {
  const { f, display } = await start(ctx, "Disk after a new X:");
  const pid = spawnSync("pgrep", ["-u", "foyer-greeter", "-x", "Xvfb"], { encoding: "utf8" }).stdout.trim();
  const again = f.count(/greeter interactive again/);
  // logged again at every keymap change (setxkbmap): counted, not expected once
  const grabbed = f.count(/browser accelerators grabbed on the X root window/);
  process.kill(Number(pid), "SIGKILL");
  await f.untilCount(/greeter interactive again/, again + 1, 60_000);
  const next = [...f.log.matchAll(/X server ready display=(:\d+)/g)].at(-1)![1]!;
  assert.ok(f.count(/browser accelerators grabbed on the X root window/) > grabbed, f.log.slice(-2000));
  assert.not.match(f.log, /cannot grab the browser's keys/);
  const refused = breach("nobody listed the windows", x(next, nobody, undefined, ["xwininfo", "-root", "-tree"]));
  assert.is(refused, "", `${refused} (the first display was ${display})`);
  const tree = x(next, "root", f.xauthority, ["xwininfo", "-root", "-tree"]);
  assert.is(tree.status, 0, tree.stderr);
});

S("a /tmp/.X11-unix that nobody made first is set aside: the X server's socket is in root's folder", async (ctx) => {
  // /tmp is world-writable: nobody's folder, had the X server used it, would let nobody swap the
  // socket for a listener of its own, to which foyerd's key grab would send the cookie
  const [cmd, ...args] = [...asAccount(nobody), "mkdir", "-m", "1777", "/tmp/.X11-unix"];
  const made = spawnSync(cmd!, args, { encoding: "utf8" });
  assert.is(made.status, 0, made.stderr);
  assert.is(lstatSync("/tmp/.X11-unix").uid, nobody.uid);
  const { f, display } = await start(ctx, "Disk past a planted folder:");
  const dir = lstatSync("/tmp/.X11-unix");
  assert.equal([dir.isDirectory(), dir.uid, (dir.mode & 0o7777).toString(8)], [true, 0, "1777"], "/tmp/.X11-unix: owner, mode");
  const socket = lstatSync(`/tmp/.X11-unix/X${display.slice(1)}`);
  assert.ok(socket.isSocket() && socket.uid === greeter.uid, "the X server's socket in root's folder");
  assert.ok(
    readdirSync("/tmp").some((n) => n.startsWith(".X11-unix.foyer-aside-")),
    "nobody's folder set aside",
  );
  assert.match(f.log, /browser accelerators grabbed on the X root window/);
});

S.run();
