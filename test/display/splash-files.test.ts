// What foyerd gives foyer-splash (src/display/splash.ts): the frame file, the binary where the
// greeter user can run it, the marker, and cage's argv. Files in a temp folder of the test's own.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { DEFAULT_COLOURS, renderFrame } from "../../src/display/frame-render.js";
import {
  GREETER_PAINTED,
  SPLASH_BIN,
  SPLASH_FRAME,
  firstFrame,
  noexecAt,
  openToOthers,
  progressFrame,
  splashBinary,
  splashFrameFile,
  splashGoes,
  splashStays,
} from "../../src/display/splash.js";
import { cageGreeterSpec } from "../../src/display/stack-cage.js";
import { browserArgv } from "../../src/display/greeter-args.js";
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

test("the first frame without a framebuffer: the frame file at the given size, the marker cleared and set, cage's argv", () => {
  const run = temp();
  chmodSync(run, 0o755);
  const warnings: string[] = [];
  const f = firstFrame({
    runtimeDir: run,
    colours: DEFAULT_COLOURS,
    size: { width: 320, height: 200 },
    onScreen: false,
    fb: undefined,
    warn: (l) => warnings.push(l),
  });
  assert.equal(warnings, []);
  assert.is(f.drawn, false);
  const found = splashBinary();
  assert.ok(found, "dist/foyer-splash is built");
  // the binary where it is when anyone may run it there; else a copy in the runtime folder
  const bin = openToOthers(found) ? found : join(run, SPLASH_BIN);
  assert.equal(f.splash, [bin, join(run, SPLASH_FRAME), join(run, GREETER_PAINTED), "--"]);
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

test("a frame rendered ahead at the size the framebuffer turns out to have is used as it is; at another size it is rendered anew", () => {
  const run = temp();
  const ahead = Buffer.alloc(8 * 4 * 4, 0xab);
  const fb = { dev: "/nonexistent/fb", width: 8, height: 4, stride: 32, bitsPerPixel: 32 };
  const same = firstFrame({ runtimeDir: run, colours: DEFAULT_COLOURS, size: { width: 8, height: 4 }, rendered: ahead, onScreen: false, fb, warn: () => {} });
  assert.ok(same.splash);
  assert.equal(readFileSync(join(run, SPLASH_FRAME)).subarray(16), ahead);
  firstFrame({
    runtimeDir: run,
    colours: DEFAULT_COLOURS,
    size: { width: 8, height: 4 },
    rendered: ahead,
    onScreen: false,
    fb: { ...fb, width: 6, stride: 24 },
    warn: () => {},
  });
  const anew = readFileSync(join(run, SPLASH_FRAME));
  assert.is(anew.readUInt32LE(8), 6, "the framebuffer's width");
  assert.equal(anew.subarray(16), progressFrame(6, 4, DEFAULT_COLOURS));
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
