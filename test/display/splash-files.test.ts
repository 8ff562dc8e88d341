// What foyerd gives foyer-splash (src/display/splash.ts): the frame file, the binary where the
// greeter user can run it, the marker, and cage's argv. Files in a temp folder of the test's own.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { DEFAULT_COLOURS, renderFrame } from "../../src/display/frame-render.js";
import {
  GREETER_PAINTED,
  SPLASH_BIN,
  SPLASH_FRAME,
  SPLASH_KEYS,
  firstFrame,
  noexecAt,
  openToOthers,
  prebuiltFrame,
  progressFrame,
  splashBinary,
  splashFrameFile,
  splashGoes,
  splashStays,
  type SplashOptions,
} from "../../src/display/splash.js";
import { cageGreeterSpec } from "../../src/display/stack-cage.js";
import { browserArgv } from "../../src/display/greeter-args.js";
import { firstFrameMain } from "../../src/cli/first-frame.js";
import { spawn, spawnSync } from "node:child_process";
import { withTimeout } from "../helpers/index.js";
import { ProfileSchema } from "../../src/profile/schema.js";
import { US } from "../../src/display/keyboard.js";

const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), "foyer-splash-files-"));
  dirs.push(d);
  return d;
};
test.after.each(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** firstFrame in `run`, off screen, without a framebuffer unless given one, at 8x4 unless told */
const frameIn = (run: string, o: Partial<SplashOptions>) =>
  firstFrame({ runtimeDir: run, colours: DEFAULT_COLOURS, size: { width: 8, height: 4 }, onScreen: false, fb: undefined, warn: () => {}, ...o });

test("the frame file: its magic, its size little-endian, then the progress frame's 32-bpp rows", () => {
  const px = progressFrame(64, 40, DEFAULT_COLOURS);
  assert.equal(px, renderFrame({ width: 64, height: 40, stride: 256, bitsPerPixel: 32 }, DEFAULT_COLOURS, { kind: "progress", step: 0 }));
  const f = splashFrameFile(64, 40, px);
  assert.is(f.subarray(0, 8).toString("latin1"), "FOYRFRM1");
  assert.is(f.readUInt32LE(8), 64);
  assert.is(f.readUInt32LE(12), 40);
  assert.is(f.length, 16 + 64 * 40 * 4);
  assert.equal(f.subarray(16), px);
});

test("a prompt's frame without fonts is refused with a reason, not drawn half", () => {
  assert.throws(
    () =>
      renderFrame({ width: 8, height: 8, stride: 32, bitsPerPixel: 32 }, DEFAULT_COLOURS, {
        kind: "prompt",
        message: "m",
        typed: 0,
        capsLock: "",
        layout: "us",
      }),
    /a prompt's frame needs its fonts/,
  );
});

test("open to others: the file readable and runnable by anyone, and every folder above it passable", () => {
  const d = temp();
  const f = join(d, "prog");
  writeFileSync(f, "#!/bin/sh\n", { mode: 0o755 });
  chmodSync(d, 0o755);
  assert.ok(openToOthers(f));
  chmodSync(d, 0o700);
  assert.not.ok(openToOthers(f), "a folder above it closed to others");
  chmodSync(d, 0o755);
  chmodSync(f, 0o750);
  assert.not.ok(openToOthers(f), "not runnable by others");
  assert.not.ok(openToOthers(join(d, "missing")));
  assert.ok(openToOthers("/bin/sh"));
});

test("noexec is the option of the deepest mount holding the path", () => {
  const mounts = [
    "/dev/vda1 / ext4 rw,relatime 0 0",
    "tmpfs /run tmpfs rw,nosuid,nodev,noexec,mode=755 0 0",
    "tmpfs /run/foyer/state tmpfs rw,nosuid,nodev 0 0",
    "tmpfs /mnt/a\\040b tmpfs rw,noexec 0 0",
  ].join("\n");
  assert.ok(noexecAt("/run/foyer", mounts));
  assert.not.ok(noexecAt("/run/foyer/state/x", mounts), "a deeper mount without noexec");
  assert.not.ok(noexecAt("/runner", mounts), "a name that only starts like a mount point");
  assert.not.ok(noexecAt("/usr/lib/foyer", mounts));
  assert.ok(noexecAt("/mnt/a b/c", mounts), "a mount point with a space, as /proc/self/mounts escapes it");
});

test("the first frame without a framebuffer: the frame file at the given size, the marker cleared and set, cage's argv", async () => {
  const run = temp();
  chmodSync(run, 0o755);
  const warnings: string[] = [];
  const f = await frameIn(run, { size: { width: 320, height: 200 }, warn: (l) => warnings.push(l) });
  assert.equal(warnings, []);
  assert.is(f.drawn, false);
  const found = splashBinary();
  assert.ok(found, "dist/foyer-splash is built");
  // the binary where it is when anyone may run it there; else a copy in the runtime folder
  const bin = openToOthers(found) ? found : join(run, SPLASH_BIN);
  assert.equal(f.splash, [bin, "--keys", join(run, SPLASH_KEYS), join(run, SPLASH_FRAME), join(run, GREETER_PAINTED), "--"]);
  if (bin !== found) assert.equal(readFileSync(bin), readFileSync(found));
  assert.is(statSync(bin).mode & 0o777, 0o755);
  const frame = readFileSync(join(run, SPLASH_FRAME));
  assert.is(frame.length, 16 + 320 * 200 * 4);
  assert.is(statSync(join(run, SPLASH_FRAME)).mode & 0o777, 0o644);
  splashGoes(run);
  assert.ok(existsSync(join(run, GREETER_PAINTED)));
  splashStays(run);
  assert.not.ok(existsSync(join(run, GREETER_PAINTED)));
});

test("a frame rendered ahead at the size the framebuffer turns out to have is used as it is; at another size it is rendered anew", async () => {
  const run = temp();
  const ahead = Buffer.alloc(8 * 4 * 4, 0xab);
  const fb = { dev: "/nonexistent/fb", width: 8, height: 4, stride: 32, bitsPerPixel: 32 };
  const same = await frameIn(run, { rendered: ahead, fb });
  assert.ok(same.splash);
  assert.equal(readFileSync(join(run, SPLASH_FRAME)).subarray(16), ahead);
  await frameIn(run, { rendered: ahead, fb: { ...fb, width: 6, stride: 24 } });
  const anew = readFileSync(join(run, SPLASH_FRAME));
  assert.is(anew.readUInt32LE(8), 6, "the framebuffer's width");
  assert.equal(anew.subarray(16), progressFrame(6, 4, DEFAULT_COLOURS));
});

test("foyerd first-frame writes the default theme's progress frame for foyer-splash --fb; bad arguments are refused", () => {
  const d = temp();
  const out = join(d, "first-frame");
  assert.is(firstFrameMain(["--out", out, "--size", "320x200"]), 0);
  assert.equal(readFileSync(out), splashFrameFile(320, 200, progressFrame(320, 200, DEFAULT_COLOURS)));
  assert.is(statSync(out).mode & 0o777, 0o644);
  const quiet = process.stderr.write;
  process.stderr.write = () => true;
  try {
    assert.is(firstFrameMain(["--size", "320x200"]), 2, "no --out");
    assert.is(firstFrameMain(["--out", out, "--size", "99999x2"]), 2);
    assert.is(firstFrameMain(["--out", out, "--theme", "../../etc"]), 2);
    assert.is(firstFrameMain(["--out", out, "--theme", "no-such-theme"]), 1);
    assert.is(firstFrameMain(["--out", join(d, "missing", "f")]), 1);
  } finally {
    process.stderr.write = quiet;
  }
});

/** A framebuffer of `w`×`h` at `bpp` as foyer-splash --fb finds one: a device file and its sysfs folder, both the test's. */
function fakeFb(w: number, h: number, bpp: 24 | 32, stride = w * (bpp / 8)) {
  const d = temp();
  const sysfs = join(d, "sysfs");
  mkdirSync(sysfs);
  writeFileSync(join(sysfs, "virtual_size"), `${w},${h}\n`);
  writeFileSync(join(sysfs, "stride"), `${stride}\n`);
  writeFileSync(join(sysfs, "bits_per_pixel"), `${bpp}\n`);
  const dev = join(d, "fb0");
  const frame = join(d, "frame");
  writeFileSync(frame, splashFrameFile(w, h, progressFrame(w, h, DEFAULT_COLOURS)));
  // FOYER_VT: not a VT, so the mode cannot be set; the frame is drawn all the same
  const env = { PATH: "/usr/bin:/bin", FOYER_FB: dev, FOYER_FB_SYSFS: sysfs, FOYER_VT: "/dev/null", FOYER_FB_WAIT_MS: "5000" };
  return { dev, frame, env, stride };
}

test("foyer-splash --fb waits for the framebuffer, then draws the frame in its depth and stride", async () => {
  for (const [bpp, pad] of [
    [32, 0],
    [24, 8],
  ] as const) {
    const fb = fakeFb(64, 40, bpp, 64 * (bpp / 8) + pad);
    const px = progressFrame(64, 40, DEFAULT_COLOURS);
    // the device comes a moment after the splash starts, as the GPU driver's does
    const child = spawn(splashBinary()!, ["--fb", fb.frame], { env: fb.env, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (b: Buffer) => (err += b.toString()));
    await new Promise((r) => setTimeout(r, 300));
    writeFileSync(fb.dev, Buffer.alloc(fb.stride * 40));
    const code = await withTimeout(new Promise<number | null>((r) => child.on("exit", r)), 10_000, "foyer-splash --fb");
    assert.is(code, 0, err);
    assert.match(err, /cannot put the VT in graphics mode/);
    const got = readFileSync(fb.dev);
    for (const [x, y] of [
      [0, 0],
      [32, 24],
      [63, 39],
    ] as const) {
      const at = y * fb.stride + x * (bpp / 8);
      assert.equal([...got.subarray(at, at + 3)], [...px.subarray((y * 64 + x) * 4, (y * 64 + x) * 4 + 3)], `${bpp} bpp, pixel ${x},${y}`);
    }
    if (pad) assert.is(got[fb.stride - 1], 0, "the stride's padding is left as it was");
  }
});

test("foyer-splash --fb without a framebuffer gives up quietly; a framebuffer of another depth is refused", () => {
  const none = fakeFb(64, 40, 32);
  const r = spawnSync(splashBinary()!, ["--fb", none.frame], { env: { ...none.env, FOYER_FB_WAIT_MS: "200" }, encoding: "utf8" });
  assert.is(r.status, 0);
  assert.match(r.stderr, /no framebuffer came: nothing drawn/);
  const odd = fakeFb(64, 40, 32);
  writeFileSync(join(odd.env.FOYER_FB_SYSFS, "bits_per_pixel"), "16\n");
  writeFileSync(odd.dev, Buffer.alloc(64 * 40 * 2));
  const r16 = spawnSync(splashBinary()!, ["--fb", odd.frame], { env: odd.env, encoding: "utf8" });
  assert.is(r16.status, 1);
  assert.match(r16.stderr, /not 24 or 32 bits a pixel/);
  assert.equal(readFileSync(odd.dev), Buffer.alloc(64 * 40 * 2), "nothing written");
});

test("with the build's frame file (the default theme) the splash gets a copy of it, and nothing is rendered", async () => {
  const run = temp();
  const file = join(temp(), "first-frame");
  const odd = splashFrameFile(2, 1, Buffer.from([1, 2, 3, 0, 4, 5, 6, 0]));
  writeFileSync(file, odd);
  const warnings: string[] = [];
  const f = await frameIn(run, { size: { width: 320, height: 200 }, prebuilt: file, warn: (l) => warnings.push(l) });
  assert.equal(warnings, []);
  assert.ok(f.splash);
  assert.equal(readFileSync(join(run, SPLASH_FRAME)), odd, "the file as built, whatever the size asked");
  assert.ok(prebuiltFrame(), "dist/first-frame is built beside dist/foyer-splash");
  assert.equal(readFileSync(prebuiltFrame()!).subarray(0, 16), splashFrameFile(1280, 800, Buffer.alloc(0)));
});

test("cog's background until the page paints is the theme's, not white", () => {
  const p = ProfileSchema.parse({ schema: 1, display: { stack: "wayland", browser: "cog" } });
  const b = { scale: 1, url: "http://127.0.0.1:1/", contentFilter: "/f.json" };
  assert.ok(browserArgv(p, "/h", { ...b, background: [0x1d, 0x23, 0x30] }, "wayland").includes("--bg-color=#1d2330ff"));
  assert.not.ok(browserArgv(p, "/h", b, "wayland").some((a) => a.startsWith("--bg-color")));
});

test("cage's argv: cage's own, the splash's, then the browser's; cage's child is the splash, which becomes the browser", () => {
  const p = ProfileSchema.parse({ schema: 1, display: { stack: "wayland", browser: "cog" } });
  const f = { user: { name: "foyer-greeter", uid: 990, gid: 990 }, home: "/h", xdgRuntime: "/x", logDir: "/l" };
  const b = { scale: 1, url: "http://127.0.0.1:1/", contentFilter: "/run/foyer/filter.json" };
  const splash = ["/usr/lib/foyer/foyer-splash", "/run/foyer/splash.frame", "/run/foyer/greeter-painted", "--"];
  const plain = cageGreeterSpec(p, f, b, US, true);
  const spec = cageGreeterSpec(p, f, b, US, true, splash);
  assert.equal(spec.argv, [...plain.argv.slice(0, plain.childArgvAt), ...splash, ...plain.argv.slice(plain.childArgvAt)]);
  assert.is(spec.childArgvAt, plain.childArgvAt);
  assert.is(spec.argv[spec.childArgvAt!], "/usr/lib/foyer/foyer-splash");
});

test.run();
