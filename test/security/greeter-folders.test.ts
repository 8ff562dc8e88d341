// Rule: foyerd, as root, never writes, chowns or removes through a path the greeter user can
// change. The greeter plants symlinks in every folder it owns (found by walking the runtime
// folder for its uid), pointing at a root-owned file and folder outside; then its browser is
// killed (a greeter relaunch, which the greeter can always force) and foyerd itself is killed
// and started again on the same state tmpfs (as systemd restarts it). Nothing outside may change
// owner, mode or content. And `nobody` plants /tmp/.X11-unix as a symlink before foyerd starts
// cage: foyerd must not chmod through it.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { mkdtempSync, writeFileSync, readFileSync, mkdirSync, chmodSync, lstatSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { spawnSync } from "node:child_process";
import { Foyerd, requirePrivateAskDir, requireTool, privateTmp, undoPrivateTmp } from "../helpers/index.js";
import { lookupUser } from "../../src/display/users.js";

requireTool("setpriv", "util-linux");
requireTool("cage", "cage");
requireTool("cog", "cog");
requirePrivateAskDir();

const greeter = lookupUser("foyer-greeter");

interface Ctx {
  foyerd?: Foyerd;
}
const S = suite<Ctx>("security/greeter-folders", {});

S.before.each(() => {
  // a /tmp of each test's own (test/run.mjs gives each suite its mount namespace): nobody's
  // planted /tmp/.X11-unix must not reach the host's X servers, nor find one made before
  privateTmp();
});
S.after.each(async (ctx) => {
  await ctx.foyerd?.stop();
  ctx.foyerd?.cleanup();
  ctx.foyerd = undefined;
  undoPrivateTmp();
});

/** a root-owned file and folder outside foyer's folders, and how they look */
function victims(): { dir: string; look: () => string } {
  const dir = mkdtempSync(join(tmpdir(), "foyer-victim-"));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, "victim"), "untouched\n", { mode: 0o644 });
  mkdirSync(join(dir, "victimdir"), { mode: 0o755 });
  chmodSync(join(dir, "victimdir"), 0o755);
  const look = () => {
    const f = statSync(join(dir, "victim")),
      d = statSync(join(dir, "victimdir"));
    return JSON.stringify({
      file: [f.uid, f.gid, (f.mode & 0o7777).toString(8), readFileSync(join(dir, "victim"), "utf8")],
      dir: [d.uid, d.gid, (d.mode & 0o7777).toString(8), readdirSync(join(dir, "victimdir"))],
    });
  };
  return { dir, look };
}

/** the profile, and a kernel command line with rd.foyer.debug: each launch is logged ("started greeter") */
function profile(): string {
  const dir = mkdtempSync(join(tmpdir(), "foyer-prof-"));
  const file = join(dir, "p.json");
  writeFileSync(join(dir, "cmdline"), "rd.foyer.debug\n");
  // cog: its content filter is a file root writes at every greeter launch
  writeFileSync(
    file,
    JSON.stringify({ schema: 1, display: { stack: "headless-wayland", browser: "cog", renderer: "pixman", rotate: 2 }, log: { kmsg: false } }),
  );
  return file;
}

/** Every folder under `top` the greeter user owns, deepest first (a walk by lstat: no link is followed). */
function greeterOwned(top: string): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (!st?.isDirectory()) continue;
      if (st.uid === greeter.uid) out.push(`${depth}\t${p}`);
      walk(p, depth + 1);
    }
  };
  walk(top, 0);
  return out.sort((a, b) => Number(b.split("\t")[0]) - Number(a.split("\t")[0])).map((l) => l.split("\t")[1]!);
}

// as the greeter: each entry of each of its folders becomes a symlink outside (folders to the
// victim folder, files to the victim file), and the names foyer has used there are planted too
const PLANT = `V=$1; shift
for d in "$@"; do
  for e in "$d"/* "$d"/.[!.]*; do
    { [ -e "$e" ] || [ -L "$e" ]; } || continue
    case "$e" in *.orig) continue;; esac
    if [ -d "$e" ] && [ ! -L "$e" ]; then t="$V/victimdir"; else t="$V/victim"; fi
    mv -f "$e" "$e.orig" 2>/dev/null || continue
    ln -s "$t" "$e"
  done
  for n in content-filter.json "Crash Reports"; do { [ -e "$d/$n" ] || [ -L "$d/$n" ]; } || ln -s "$V/victim" "$d/$n"; done
  for n in .config .cache .local share state chromium home xdg greeter; do { [ -e "$d/$n" ] || [ -L "$d/$n" ]; } || ln -s "$V/victimdir" "$d/$n"; done
done
exit 0`;

function asGreeter(script: string, ...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync("setpriv", [`--reuid=${greeter.uid}`, `--regid=${greeter.gid}`, "--clear-groups", "--", "sh", "-c", script, "sh", ...args], {
    encoding: "utf8",
  });
  return { status: r.status, stderr: r.stderr };
}

function plant(runtimeDir: string, victimDir: string): number {
  const dirs = greeterOwned(runtimeDir);
  const r = asGreeter(PLANT, victimDir, ...dirs);
  assert.is(r.status, 0, r.stderr);
  return dirs.length;
}

S("symlinks planted by the greeter, across a greeter relaunch and a foyerd restart: nothing outside changes", async (ctx) => {
  const v = victims();
  const before = v.look();
  const prof = profile();
  const args = ["--bus", "none", "--cmdline", join(prof, "../cmdline")];
  const f = (ctx.foyerd = new Foyerd(prof, { extraArgs: args }));
  const rt = f.runtimeDir;
  await f.until((l) => l.includes("greeter interactive"), 60_000, "greeter interactive");
  assert.ok(plant(rt, v.dir) > 0, "the greeter owns no folder to plant in: the walk found nothing");

  // a relaunch the greeter forces itself: it kills its own browser. The planted folders may keep
  // the new one from coming up; what counts is that foyer launched it again
  const launches = f.count(/started greeter/);
  assert.is(asGreeter("kill -KILL $(pgrep -u $(id -u) -x cog) 2>/dev/null; exit 0").status, 0);
  await f.untilCount(/started greeter/, launches + 1, 30_000);
  assert.is(v.look(), before, "the greeter's relaunch wrote through a planted symlink");

  // foyerd killed and started again on the same state tmpfs (its restart keeps it, by design)
  plant(rt, v.dir);
  f.proc.kill("SIGKILL");
  await new Promise((r) => f.proc.once("exit", r));
  const g = (ctx.foyerd = new Foyerd(prof, { runtimeDir: rt, extraArgs: args }));
  await g.until((l) => l.includes("started greeter"), 60_000, "the greeter launched after the restart");
  assert.is(v.look(), before, "the restarted foyerd wrote, chowned or removed through a planted symlink");
  await g.until((l) => l.includes("greeter interactive"), 60_000, "greeter interactive after the restart");
  // and the new folders are the greeter's again, fresh: no planted link among them
  const home = join(rt, "state/greeter/home");
  assert.is(lstatSync(home).uid, greeter.uid);
  for (const n of [".config", ".cache", ".local"]) assert.ok(lstatSync(join(home, n)).isDirectory(), `${n} is a real folder again`);
});

S("nobody's /tmp/.X11-unix symlink: foyerd does not chmod through it", async (ctx) => {
  const v = victims();
  const before = v.look();
  const nobody = lookupUser("nobody");
  const r = spawnSync(
    "setpriv",
    [`--reuid=${nobody.uid}`, `--regid=${nobody.gid}`, "--clear-groups", "--", "ln", "-s", join(v.dir, "victimdir"), "/tmp/.X11-unix"],
    { encoding: "utf8" },
  );
  assert.is(r.status, 0, r.stderr);
  const prof = profile();
  const f = (ctx.foyerd = new Foyerd(prof, { extraArgs: ["--bus", "none", "--cmdline", join(prof, "../cmdline")] }));
  await f.until((l) => l.includes("started greeter"), 60_000, "the greeter launched");
  assert.is(v.look(), before, "foyerd changed what nobody's /tmp/.X11-unix pointed at");
  await f.until((l) => l.includes("greeter interactive"), 60_000, "greeter interactive");
  const x = lstatSync("/tmp/.X11-unix");
  assert.ok(x.isDirectory() && x.uid === 0 && (x.mode & 0o7777) === 0o1777, "/tmp/.X11-unix is root's sticky folder");
});

S.run();
