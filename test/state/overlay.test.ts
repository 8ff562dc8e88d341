// The state overlay with real mounts (test/run.mjs gives the suite its own mount namespace): the
// tmpfs and its limits, overlays whose lower layer is never written, a real foyerd whose greeter
// (cage + chromium) writes only into the tmpfs, then `foyerd flush --state … --unmount` keeping the
// boot's log and timeline and leaving no mount behind; and what happens without the privilege.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { spawnSync, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, existsSync, readdirSync, statSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { createHash } from "node:crypto";
import { Foyerd, top, requireTool } from "../helpers/index.js";
import { mountState, readMounts, overlaysOn, stateDir } from "../../src/state/overlay.js";
import { StateSchema } from "../../src/profile/schema.js";
import { parseTimeline } from "../../src/state/timeline.js";
import { MANIFEST } from "../../src/state/persist.js";

const T = suite<{ dirs: string[]; foyerd?: Foyerd }>("state/overlay", { dirs: [] });
const BOOT = "0123456789abcdef0123456789abcdef";
const bundle = join(top, "dist/foyerd.mjs");

function tmp(ctx: { dirs: string[] }, name: string): string {
  const d = mkdtempSync(join(tmpdir(), `foyer-${name}-`));
  ctx.dirs.push(d);
  return d;
}
const mountsUnder = (d: string) =>
  readMounts()
    .filter((m) => m.mountPoint === d || m.mountPoint.startsWith(d + "/"))
    .map((m) => m.mountPoint);
const flush = (...args: string[]) => spawnSync(process.execPath, [bundle, "flush", ...args], { encoding: "utf8", timeout: 60_000 });

/** Every file under `d` with its hash and mtime: "the disk was not touched" is this, unchanged. */
function snapshot(d: string): string {
  const out: string[] = [];
  const walk = (p: string) => {
    for (const e of readdirSync(p, { withFileTypes: true })) {
      const q = join(p, e.name);
      const st = statSync(q);
      out.push(`${q} ${st.mtimeMs} ${e.isFile() ? createHash("sha256").update(readFileSync(q)).digest("hex") : "dir"}`);
      if (e.isDirectory()) walk(q);
    }
  };
  walk(d);
  return out.sort().join("\n");
}

T.before(() => {
  requireTool("mount", "mount");
  requireTool("cage", "cage");
  requireTool("chromium", "chromium");
  execFileSync(process.execPath, [join(top, "packaging/dev/build.mjs"), "--if-stale"], { stdio: "inherit" });
});

T.after.each(async (ctx) => {
  await ctx.foyerd?.stop();
  ctx.foyerd = undefined;
  for (const d of ctx.dirs.reverse()) {
    for (const m of mountsUnder(d).reverse()) spawnSync("umount", ["-l", m]);
    rmSync(d, { recursive: true, force: true });
  }
  ctx.dirs = [];
});

T("a tmpfs with the profile's size and inode limits; mounted once, a second foyerd finds it and its files", async (ctx) => {
  const rt = tmp(ctx, "rt");
  const cfg = StateSchema.parse({ sizeMb: 4, inodes: 300 });
  const s = await mountState(rt, cfg);
  assert.ok(s.tmpfs, s.problem);
  const m = readMounts().filter((x) => x.mountPoint === stateDir(rt));
  assert.is(m.length, 1);
  assert.is(m[0]!.fsType, "tmpfs");
  assert.match(m[0]!.superOptions, /size=4096k/);
  assert.match(m[0]!.superOptions, /nr_inodes=300/);
  writeFileSync(join(s.dir, "keep"), "x");
  // the size limit: 5 MB do not fit in 4
  assert.throws(() => writeFileSync(join(s.dir, "big"), Buffer.alloc(5 << 20)), /ENOSPC/);
  rmSync(join(s.dir, "big"), { force: true });
  // the inode limit
  assert.throws(() => {
    for (let i = 0; i < 400; i++) writeFileSync(join(s.dir, `f${i}`), "");
  }, /ENOSPC/);
  const again = await mountState(rt, cfg);
  assert.ok(again.tmpfs);
  assert.is(readMounts().filter((x) => x.mountPoint === stateDir(rt)).length, 1, "not mounted twice");
  assert.is(readFileSync(join(s.dir, "keep"), "utf8"), "x");
});

T("an overlay: writes land in the tmpfs, the read-only disk below is never touched, unmount leaves nothing", async (ctx) => {
  const rt = tmp(ctx, "rt"),
    disk = tmp(ctx, "disk"),
    root = tmp(ctx, "root");
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "foyer-disk", disk]);
  mkdirSync(join(disk, "home"));
  writeFileSync(join(disk, "home", "settings"), "from the disk\n");
  execFileSync("mount", ["-o", "remount,ro", disk]);
  const before = snapshot(disk);
  const home = join(disk, "home");
  const s = await mountState(rt, StateSchema.parse({ overlay: [home, join(disk, "missing")] }));
  assert.equal(s.overlays, [home]);
  assert.equal(s.overlayProblems, [`'${join(disk, "missing")}': does not exist`]);
  assert.is(readFileSync(join(home, "settings"), "utf8"), "from the disk\n", "the merged folder shows the disk's files");
  writeFileSync(join(home, "settings"), "changed at boot\n");
  writeFileSync(join(home, "new"), "new\n");
  assert.is(readFileSync(join(home, "settings"), "utf8"), "changed at boot\n");
  assert.is(readFileSync(join(s.dir, "overlay", readdirSync(join(s.dir, "overlay"))[0]!, "upper/new"), "utf8"), "new\n", "the write is in the tmpfs");
  assert.equal(overlaysOn(s.dir), [home]);
  const r = flush("--state", s.dir, "--root", root, "--boot-id", BOOT, "--unmount");
  assert.is(r.status, 0, r.stderr);
  assert.equal(mountsUnder(rt), [], "no mount left under the runtime dir");
  assert.not.ok(existsSync(s.dir), "the state folder is removed");
  assert.not.ok(
    mountsUnder(disk).some((m) => m !== disk),
    "the overlay on the disk is gone",
  );
  assert.is(snapshot(disk), before, "the disk below is as it was");
});

T("a real foyerd: the greeter's writes and every log are in the tmpfs; flush keeps log and timeline, twice the same, then no mount", async (ctx) => {
  const rt = tmp(ctx, "rt"),
    root = tmp(ctx, "root"),
    dir = tmp(ctx, "prof");
  // the disk: the real root's /var, which nothing may write before the flush
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=16m", "foyer-var", root]);
  mkdirSync(join(root, "var/log"), { recursive: true });
  writeFileSync(join(root, "var/log/other.log"), "someone else's\n");
  const before = snapshot(root);
  const prof = JSON.parse(readFileSync(join(top, "profiles/headless-wayland.json"), "utf8"));
  prof.greeter = {};
  prof.state = { sizeMb: 96 };
  writeFileSync(join(dir, "p.json"), JSON.stringify(prof));
  const f = (ctx.foyerd = new Foyerd(join(dir, "p.json"), { runtimeDir: rt, bundle: true, extraArgs: ["--bus", "none"] }));
  await f.until((l) => l.includes("greeter interactive"), 90_000, "greeter interactive");
  const st = stateDir(rt);
  assert.ok(
    readMounts().some((m) => m.mountPoint === st && m.fsType === "tmpfs"),
    "the state is a tmpfs",
  );
  assert.match(f.log, /state on tmpfs at /);
  for (const l of ["foyerd.log", "greeter.log"]) assert.ok(existsSync(join(st, "log", l)), `${l} in the tmpfs`);
  assert.not.ok(existsSync(join(rt, "log")), "no log outside the tmpfs");
  // chromium's profile and caches: written by the greeter user, into its HOME in the tmpfs
  const home = join(st, "greeter/home");
  assert.ok(existsSync(join(home, "chromium")), "chromium's profile is in the tmpfs");
  const owned = readdirSync(join(home, "chromium")).length;
  assert.ok(owned > 0, "chromium wrote its profile");
  assert.ok(parseTimeline(readFileSync(join(st, "timeline.json"), "utf8")).ok);
  assert.is(snapshot(root), before, "nothing touched the disk before the flush");
  await f.stop();

  const r1 = flush("--state", st, "--root", root, "--boot-id", BOOT);
  assert.is(r1.status, 0, r1.stderr);
  const log = readFileSync(join(root, "var/log/foyer", `boot-${BOOT}.log`), "utf8");
  assert.match(log, /^==> foyerd\.log <==\n/);
  assert.match(log, /greeter interactive/);
  assert.match(log, /==> greeter\.log <==/);
  assert.not.match(log, /token=[\w-]{8,}/, "no greeter token in the kept log");
  const tl = parseTimeline(readFileSync(join(root, "var/lib/foyer/timeline.json"), "utf8"));
  assert.ok(tl.ok && tl.data.entries.some((e) => e.name === "flush") && tl.data.entries.some((e) => e.name === "greeter interactive"));
  const after1 = snapshot(join(root, "var"));
  const r2 = flush("--state", st, "--root", root, "--boot-id", BOOT, "--unmount");
  assert.is(r2.status, 0, r2.stderr);
  assert.is(snapshot(join(root, "var")), after1, "a second run writes the same bytes (nothing at all)");
  assert.equal(mountsUnder(rt), [], "no mount left");
  assert.not.ok(existsSync(st));
  const r3 = flush("--state", st, "--root", root, "--boot-id", BOOT, "--unmount");
  assert.is(r3.status, 0, r3.stderr);
  assert.match(r3.stderr, /already flushed/);
  assert.is(snapshot(join(root, "var")), after1);
  assert.ok(JSON.parse(readFileSync(join(root, "var/lib/foyer", MANIFEST), "utf8")).boots[BOOT]);
  assert.is(readFileSync(join(root, "var/log/other.log"), "utf8"), "someone else's\n");
});

T("without the privilege to mount: a plain folder, said once, foyerd runs; flush --unmount removes the folder", async (ctx) => {
  requireTool("setpriv", "util-linux");
  const rt = tmp(ctx, "rt"),
    root = tmp(ctx, "root");
  const f = (ctx.foyerd = new Foyerd("headless", {
    runtimeDir: rt,
    bundle: true,
    extraArgs: ["--bus", "none"],
    wrap: ["setpriv", "--bounding-set", "-sys_admin", "--"],
  }));
  await f.url(30_000);
  await f.until((l) => l.includes("greeter server listening"), 30_000);
  assert.is(f.count(/cannot mount the state tmpfs/), 1, f.log);
  assert.not.ok(readMounts().some((m) => m.mountPoint === stateDir(rt)));
  assert.ok(existsSync(join(stateDir(rt), "log/foyerd.log")));
  await f.stop();
  const r = flush("--state", stateDir(rt), "--root", root, "--boot-id", BOOT, "--unmount");
  assert.is(r.status, 0, r.stderr);
  assert.ok(existsSync(join(root, "var/log/foyer", `boot-${BOOT}.log`)));
  assert.not.ok(existsSync(stateDir(rt)));
});

T("bad input: a malformed plan, a symlinked target, a full disk, a symlink in the state: clear lines, exit 1, the state kept", async (ctx) => {
  const rt = tmp(ctx, "rt"),
    root = tmp(ctx, "root"),
    outside = tmp(ctx, "outside");
  const s = await mountState(rt, StateSchema.parse({}));
  writeFileSync(join(s.dir, "log/foyerd.log"), "a line\n");
  writeFileSync(join(s.dir, "persist.json"), '{"logs":"relative/path","persist":[],"persistTo":"/var/lib/foyer"}');
  let r = flush("--state", s.dir, "--root", root, "--boot-id", BOOT, "--unmount");
  assert.is(r.status, 1);
  assert.match(r.stderr, /persist\.json: logs: must be an absolute path/);
  assert.ok(
    readMounts().some((m) => m.mountPoint === s.dir),
    "still mounted",
  );

  writeFileSync(join(s.dir, "persist.json"), JSON.stringify({ logs: "/var/log/foyer", persist: [], persistTo: "/var/lib/foyer" }));
  mkdirSync(join(root, "var/log"), { recursive: true });
  execFileSync("ln", ["-s", outside, join(root, "var/log/foyer")]);
  r = flush("--state", s.dir, "--root", root, "--boot-id", BOOT, "--unmount");
  assert.is(r.status, 1);
  assert.match(r.stderr, /var\/log\/foyer is a symlink; not writing under it/);
  assert.equal(readdirSync(outside), []);
  assert.ok(
    readMounts().some((m) => m.mountPoint === s.dir),
    "still mounted",
  );

  const full = tmp(ctx, "full");
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "foyer-full", full]);
  writeFileSync(join(s.dir, "log/foyerd.log"), Buffer.alloc(256 << 10, 0x61));
  r = flush("--state", s.dir, "--root", full, "--boot-id", BOOT, "--unmount");
  assert.is(r.status, 1);
  assert.match(r.stderr, /no space left on the target\); the source is kept/);
  assert.ok(
    readMounts().some((m) => m.mountPoint === s.dir),
    "still mounted",
  );
  assert.equal(readdirSync(join(full, "var/log/foyer")), [], "no temp file left behind");

  // a symlink the greeter planted inside the state: what lies behind it is not copied
  execFileSync("umount", [full]);
  rmSync(join(root, "var/log/foyer"));
  writeFileSync(join(s.dir, "log/foyerd.log"), "a line\n");
  writeFileSync(join(outside, "secret"), "not for /var/lib\n");
  mkdirSync(join(s.dir, "greeter"));
  execFileSync("ln", ["-s", outside, join(s.dir, "greeter/home")]);
  writeFileSync(join(s.dir, "persist.json"), JSON.stringify({ logs: "/var/log/foyer", persist: ["greeter/home/secret"], persistTo: "/var/lib/foyer" }));
  r = flush("--state", s.dir, "--root", root, "--boot-id", BOOT, "--unmount");
  assert.is(r.status, 1);
  assert.match(r.stderr, /greeter\/home is a symlink; 'greeter\/home\/secret' not kept/);
  assert.not.ok(existsSync(join(root, "var/lib/foyer/greeter/home/secret")));
  assert.ok(
    readMounts().some((m) => m.mountPoint === s.dir),
    "still mounted",
  );

  r = flush("--state", s.dir, "--root", root, "--boot-id", "not-hex");
  assert.is(r.status, 2);
  assert.match(r.stderr, /--boot-id must be 32 hex digits/);
});

T.run();
