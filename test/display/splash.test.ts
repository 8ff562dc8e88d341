// foyer-splash in a real cage (headless, pixman) with a real cog: foyer's frame from cage's first
// frame, kept over the browser's window after the browser has mapped and painted, and gone once
// foyerd says the page painted; a prompt foyerd draws shown in its place. And the binary alone: whatever it is given, the command runs.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { mkdtempSync, mkdirSync, chmodSync, writeFileSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { spawnSync } from "node:child_process";
import { displayStack, type DisplayStack } from "../../src/display/stacks.js";
import { ProfileSchema, StateSchema } from "../../src/profile/schema.js";
import { US } from "../../src/display/keyboard.js";
import { lookupUser } from "../../src/display/users.js";
import { DirectLauncher, type Launched } from "../../src/launch/direct.js";
import { makeGreeterFolders } from "../../src/state/greeter-folders.js";
import { createLogger } from "../../src/base/log.js";
import { DEFAULT_COLOURS } from "../../src/display/frame-render.js";
import { drawSplashFrame, firstFrame, progressFrame, splashBinary, SPLASH_FRAME, SPLASH_KEYS } from "../../src/display/splash.js";
import { frameFonts } from "../../src/display/frame-font.js";
import { SplashPrompt } from "../../src/supervisor/splash-prompt.js";
import { pollUntil, requireTool } from "../helpers/index.js";

requireTool("cage", "cage");
requireTool("cog", "cog");
requireTool("grim", "grim");

/** wlroots' headless output (cage's headless backend is not told a size) */
const W = 1280,
  H = 720;
const S = suite<{ greeter?: Launched; close?: () => void }>("display/splash", {});
S.after.each(async (ctx) => {
  await ctx.greeter?.stop(3000);
  ctx.close?.();
});

/** A red page that says when it has painted (a request after two animation frames), and keeps changing so cage's headless output renders for grim. */
async function redPage(): Promise<{ origin: string; painted: () => boolean; close: () => void }> {
  let painted = false;
  const srv = createServer((q, r) => {
    if (q.url === "/painted") painted = true;
    r.setHeader("Content-Type", "text/html").end(
      "<body style='margin:0;background:#ff0000'><div id=d style='width:4px;height:4px;background:#fe0000'></div><script>" +
        "requestAnimationFrame(()=>requestAnimationFrame(()=>fetch('/painted')));let i=0;setInterval(()=>{d.style.marginLeft=(i++%50)+'px'},30)</script>",
    );
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const { port } = srv.address() as { port: number };
  return { origin: `http://127.0.0.1:${port}`, painted: () => painted, close: () => srv.close() };
}

/** The pixel at (x, y) of a binary PPM, as [r, g, b]. */
function pixel(ppm: Buffer, x: number, y: number): number[] {
  const head = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(ppm.subarray(0, 32).toString("latin1"))!;
  const at = head[0].length + (y * Number(head[1]) + x) * 3;
  return [ppm[at]!, ppm[at + 1]!, ppm[at + 2]!];
}

/** A frame's pixel at (x, y) of its `w`-wide B, G, R, x rows, as [r, g, b]. */
const at = (f: Buffer, w: number, x: number, y: number) => [f[(y * w + x) * 4 + 2]!, f[(y * w + x) * 4 + 1]!, f[(y * w + x) * 4]!];
const FRAME = progressFrame(W, H, DEFAULT_COLOURS);
/** where the frame's progress mark is lit (frame-render's drawProgress: the first of three dots) */
const MARK = [W / 2 - 24, Math.round(H * 0.62)] as const;
const POINTS = [[W / 2, H / 3], MARK, [5, 5], [W - 3, H - 3]] as const;

type Seen = "splash" | "page" | "other";
/** What the output shows, `expect(x, y)` being the splash's pixel there. */
function seen(ppm: Buffer, expect = (x: number, y: number) => at(FRAME, W, x, y)): Seen {
  const near = (a: number[], b: number[]) => a.every((v, i) => Math.abs(v - b[i]!) <= 2);
  if (POINTS.every(([x, y]) => near(pixel(ppm, x, y), expect(x, y)))) return "splash";
  if (near(pixel(ppm, W / 2, H / 2), [255, 0, 0])) return "page";
  return "other";
}

async function cageWithSplash(
  ctx: { greeter?: Launched; close?: () => void },
  frame?: Buffer,
  size = { width: W, height: H },
): Promise<{ stack: DisplayStack; runtimeDir: string; page: Awaited<ReturnType<typeof redPage>> }> {
  const runtimeDir = mkdtempSync(join(tmpdir(), "foyer-splash-"));
  chmodSync(runtimeDir, 0o755);
  mkdirSync(join(runtimeDir, "state"), { mode: 0o755 });
  const log = createLogger({ level: "error", kmsg: false });
  const user = lookupUser("foyer-greeter");
  const page = await redPage();
  ctx.close = page.close;
  const warnings: string[] = [];
  const f = await firstFrame({ runtimeDir, colours: DEFAULT_COLOURS, size, onScreen: false, fb: undefined, warn: (l) => warnings.push(l) });
  assert.equal(warnings, []);
  assert.ok(f.splash, "the splash is set up");
  assert.is(f.drawn, false, "no framebuffer for a headless compositor");
  if (frame) writeFileSync(join(runtimeDir, SPLASH_FRAME), frame);
  const stack = displayStack({
    profile: ProfileSchema.parse({ schema: 1, display: { stack: "headless-wayland", browser: "cog", renderer: "pixman", rotate: 2, width: W, height: H } }),
    runtimeDir,
    folders: await makeGreeterFolders(join(runtimeDir, "state"), user, StateSchema.parse({})),
    logDir: join(runtimeDir, "log"),
    user,
    keyboard: US,
    launcher: new DirectLauncher(log),
    log,
    url: () => `${page.origin}/`,
    origin: () => page.origin,
    splash: f.splash,
  });
  stack.prepareTmp();
  ctx.greeter = stack.startGreeter();
  return { stack, runtimeDir, page };
}

/** the greeter user's processes named foyer-splash */
function splashes(): number {
  const uid = lookupUser("foyer-greeter").uid;
  let n = 0;
  for (const p of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const status = readFileSync(`/proc/${p}/status`, "utf8");
      if (/^Name:\s+foyer-splash$/m.test(status) && new RegExp(`^Uid:\\s+${uid}\\s`, "m").test(status)) n++;
    } catch {
      /* gone meanwhile */
    }
  }
  return n;
}

S("the splash shows from cage's first frame, stays over the browser's painted page, and goes when foyerd says so", async (ctx) => {
  const { stack, page } = await cageWithSplash(ctx);
  let last: Seen = "other";
  const grab = async () => (last = seen(await stack.grabFrame(5000, 64 << 20)));
  await pollUntil(async () => (await grab().catch(() => "other")) === "splash", 30_000, "the splash's frame from cage");
  await pollUntil(async () => page.painted(), 60_000, "cog's page painted");
  // the browser's window mapped over the splash's; the splash mapped again over it
  for (let i = 0; i < 5; i++) assert.is(await grab(), "splash", `grab ${i} after the page painted`);
  assert.is(splashes(), 1);
  stack.greeterPainted();
  await pollUntil(async () => (await grab()) === "page", 20_000, "the page once the splash went");
  await pollUntil(async () => splashes() === 0, 10_000, "the splash's process gone");
  assert.is(last, "page");
});

S("a prompt foyerd draws for the splash replaces the frame it shows", async (ctx) => {
  const { stack, runtimeDir } = await cageWithSplash(ctx);
  const log = createLogger({ level: "error", kmsg: false });
  const prompt = new SplashPrompt({
    path: join(runtimeDir, SPLASH_KEYS),
    uid: lookupUser("foyer-greeter").uid,
    replies: { answer: () => {}, decline: () => {} },
    log,
    layout: "us",
    draw: (v) => drawSplashFrame(runtimeDir, DEFAULT_COLOURS, v, { fonts: (h) => frameFonts(h), rows: (n) => Buffer.alloc(n) }),
  });
  const close = ctx.close;
  ctx.close = () => (prompt.stop(), close?.());
  const grab = () => stack.grabFrame(5000, 64 << 20).catch(() => Buffer.from("P6 1 1 255 \0\0\0"));
  await pollUntil(async () => seen(await grab()) === "splash", 30_000, "the splash's progress frame");
  await prompt.start([{ key: 3, message: "Passphrase for root:", echo: false, retries: 0, kind: "passphrase", from: "systemd" }]);
  const drawn = () => readFileSync(join(runtimeDir, SPLASH_FRAME)).subarray(16);
  await pollUntil(() => !drawn().equals(FRAME), 10_000, "the prompt drawn into the splash's frame");
  const asPrompt = (x: number, y: number) => at(drawn(), W, x, y);
  assert.not.equal(asPrompt(W / 2, H / 3), at(FRAME, W, W / 2, H / 3), "the prompt's card differs from the progress frame where it is looked at");
  await pollUntil(async () => seen(await grab(), asPrompt) === "splash", 20_000, "the prompt on cage's output");
});

S("a frame of another size covers the output, scaled", async (ctx) => {
  const half = progressFrame(W / 2, H / 2, DEFAULT_COLOURS);
  const { stack } = await cageWithSplash(ctx, undefined, { width: W / 2, height: H / 2 });
  const scaled = (x: number, y: number) => at(half, W / 2, x >> 1, y >> 1);
  await pollUntil(
    async () => seen(await stack.grabFrame(5000, 64 << 20).catch(() => Buffer.from("P6 1 1 255 \0\0\0")), scaled) === "splash",
    30_000,
    "the half-size frame, doubled",
  );
});

S("a frame that is not one is refused by the splash, and the browser starts all the same", async (ctx) => {
  const head = Buffer.from("FOYRFRM1");
  const lying = Buffer.concat([head, Buffer.from([0x00, 5, 0, 0, 0xd0, 2, 0, 0]), Buffer.alloc(100)]); // says 1280x720, holds 100 bytes
  const { stack, page } = await cageWithSplash(ctx, lying);
  await pollUntil(async () => page.painted(), 60_000, "cog's page painted");
  await pollUntil(async () => seen(await stack.grabFrame(5000, 64 << 20)) === "page", 20_000, "the page, with no splash over it");
  assert.is(splashes(), 0);
});

S("the binary runs its command whatever else it is given, and becomes it", () => {
  const bin = splashBinary()!;
  assert.ok(bin, "dist/foyer-splash is built");
  const env = { PATH: "/usr/bin:/bin" }; // no WAYLAND_DISPLAY: nothing to draw on
  const run = (...args: string[]) => spawnSync(bin, args, { env, encoding: "utf8" });
  const ok = run("/nonexistent", "/tmp/painted", "--", "sh", "-c", 'echo "$$ $0 $1"; exit 7', "a", "b");
  assert.is(ok.status, 7, "the command's own status");
  assert.is(ok.stdout, `${ok.pid} a b\n`, "the same process, the command's argv");
  const wrong = run("--", "sh", "-c", "exit 5");
  assert.is(wrong.status, 5, "a call without FRAME and PAINTED still runs the command");
  assert.match(wrong.stderr, /usage: foyer-splash \[--keys SOCKET\] FRAME PAINTED -- COMMAND/);
  const none = run("only", "words");
  assert.is(none.status, 2, "no command: nothing to run");
  const missing = run("/f", "/p", "--", "/nonexistent/browser");
  assert.is(missing.status, 127);
  assert.match(missing.stderr, /cannot run '\/nonexistent\/browser'/);
});

S.run();
