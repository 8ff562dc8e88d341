// The X server's command line. Xorg runs as the greeter user with no logind in an initramfs: it
// must be told its VT (vtN, the one an x11 image makes the greeter group's, packaging/foyer-image.sh),
// or it opens /dev/tty0 to ask for a free one, which the greeter may not, and dies there; it keeps
// the session the launcher started it in (-keeptty), where that VT becomes its controlling tty.
// Xvfb has no VT. Both take only clients with the cookie, on no TCP port. The real boot is
// test/vm/x11.test.ts.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { DisplayStack, XORG_VT } from "../../src/display/stacks.js";
import { greeterPaths } from "../../src/state/greeter-folders.js";
import { ProfileSchema } from "../../src/profile/schema.js";
import { US } from "../../src/display/keyboard.js";
import { createLogger } from "../../src/base/log.js";
import type { LaunchSpec, Launched } from "../../src/launch/direct.js";

function xserverSpec(xserver: "Xorg" | "Xvfb"): LaunchSpec {
  const runtimeDir = mkdtempSync(join(tmpdir(), "foyer-stack-"));
  const folders = greeterPaths(join(runtimeDir, "state"));
  let spec: LaunchSpec | undefined;
  const handle = new DisplayStack({
    profile: ProfileSchema.parse({ schema: 1, display: { stack: "x11", xserver, browser: "chromium" } }),
    runtimeDir,
    folders,
    xCookie: Buffer.alloc(16, 7),
    logDir: join(runtimeDir, "state", "log"),
    user: { name: "nobody", uid: 65534, gid: 65534 },
    keyboard: US,
    launcher: { start: (s) => ((spec = s), { pipes: [], exited: new Promise(() => {}) } as unknown as Launched) },
    log: createLogger({ level: "error", kmsg: false }),
    url: () => "http://127.0.0.1:1/#token=t",
    origin: () => "http://127.0.0.1:1",
  }).startDisplay();
  handle.ready.catch(() => {});
  assert.ok(spec, "nothing was launched");
  return spec;
}

test("Xorg: its own VT, kept session, cookie, no TCP; as the greeter user", () => {
  const s = xserverSpec("Xorg");
  assert.is(s.argv[0], "Xorg");
  assert.is(XORG_VT, 2, "the VT the x11 image's udev rule hands the greeter (FOYER_X11_VT)");
  assert.ok(s.argv.includes(`vt${XORG_VT}`), s.argv.join(" "));
  for (const a of ["-keeptty", "-novtswitch", "-noreset"]) assert.ok(s.argv.includes(a), `${a}: ${s.argv.join(" ")}`);
  assert.is(s.argv[s.argv.indexOf("-nolisten") + 1], "tcp");
  assert.ok(s.argv[s.argv.indexOf("-auth") + 1]!.endsWith("Xauthority"));
  assert.is(s.uid, 65534);
  assert.is(s.gid, 65534);
  // no secret on the command line or in the environment: the cookie is in the file only
  assert.not.ok([...s.argv, ...Object.values(s.env)].some((a) => a.includes(Buffer.alloc(16, 7).toString("hex"))));
});

test("Xvfb: no VT argument", () => {
  const s = xserverSpec("Xvfb");
  assert.is(s.argv[0], "Xvfb");
  assert.not.ok(s.argv.some((a) => /^vt\d+$/.test(a)), s.argv.join(" "));
});

test("the VT in foyer-image.sh is the one Xorg is given", async () => {
  const { spawnSync } = await import("node:child_process");
  const r = spawnSync("bash", ["-c", ". packaging/foyer-image.sh && echo $FOYER_X11_VT && foyer_x11_udev_rules"], { cwd: join(import.meta.dirname, "../.."), encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  const [vt, ...rules] = r.stdout.trim().split("\n");
  assert.is(Number(vt), XORG_VT);
  assert.ok(rules.some((l) => l.includes(`KERNEL=="tty${XORG_VT}"`) && l.includes('GROUP="foyer-greeter"')), rules.join("\n"));
});

test.run();
