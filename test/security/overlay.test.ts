// docs/security.md rule 1 for the state overlays (state.overlay): root mounts over a profile's path
// and gives the upper layer the lower's owner and mode. Another uid must not be able to steer
// either: not by a symlink it puts on the way to the path (root would mount over a folder of its
// choosing, owned as the one it showed), not by a symlink in the upper layer's place (root's
// chown and chmod would follow it). The hostile files are made by the real `nobody` (setpriv);
// the mounts happen in this suite's own mount namespace (test/run.mjs).
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, lstatSync, chmodSync, chownSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { requireTool, requirePrivateAskDir, unmountUnder } from "../helpers/index.js";
import { mountState, readMounts, stateDir } from "../../src/state/overlay.js";
import { StateSchema } from "../../src/profile/schema.js";
import { lookupUser } from "../../src/display/users.js";

interface Ctx { base: string }
const T = suite<Ctx>("security/overlay", { base: "" });
const nobody = lookupUser("nobody");

/** Runs `script` with sh as nobody (no supplementary groups); its exit code. */
function asNobody(script: string): number | null {
  return spawnSync("setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", "sh", "-c", script], { stdio: "ignore", env: { PATH: "/usr/bin:/bin" } }).status;
}

/** A folder of root's, 0700, with a file: what nobody wants root to mount over or hand over. */
function rootsFolder(ctx: Ctx): string {
  const d = join(ctx.base, "roots");
  mkdirSync(d, { mode: 0o700 });
  writeFileSync(join(d, "secret"), "root's\n", { mode: 0o600 });
  return d;
}
const ownerAndMode = (p: string) => {
  const st = lstatSync(p);
  return [st.uid, (st.mode & 0o7777).toString(8)];
};
const mountedAt = (p: string) => readMounts().some((m) => m.mountPoint === p);

T.before((ctx) => {
  requirePrivateAskDir(); // test/run.mjs's namespaces: these mounts stay in the suite's own
  requireTool("setpriv", "util-linux");
  requireTool("mount", "mount");
  ctx.base = mkdtempSync(join(tmpdir(), "foyer-overlay-sec-"));
  chmodSync(ctx.base, 0o755);
});

T.after((ctx) => {
  unmountUnder(ctx.base);
  rmSync(ctx.base, { recursive: true, force: true });
});

T("a path in a folder nobody owns is not mounted, a symlink nobody put there to a root folder included", async (ctx) => {
  const roots = rootsFolder(ctx);
  const users = join(ctx.base, "users");
  mkdirSync(users, { mode: 0o755 });
  chownSync(users, nobody.uid, nobody.gid);
  assert.is(asNobody(`mkdir ${users}/cache && ln -s ${roots} ${users}/link`), 0, "nobody's files");
  const rt = join(ctx.base, "rt1");
  mkdirSync(rt, { mode: 0o755 });
  const s = await mountState(rt, StateSchema.parse({ overlay: [join(users, "cache"), join(users, "link")] }));
  assert.ok(s.tmpfs, s.problem);
  assert.equal(s.overlays, []);
  assert.equal(s.overlayProblems, [
    `'${users}/cache': not mounted: '${users}' is a folder that uid ${nobody.uid} or others may change`,
    `'${users}/link': not mounted: '${users}' is a folder that uid ${nobody.uid} or others may change`,
  ]);
  assert.not.ok(mountedAt(roots), "root's folder was mounted over through nobody's symlink");
  assert.not.ok(mountedAt(join(users, "cache")));
  assert.equal(ownerAndMode(roots), [0, "700"]);
});

T("the upper layer takes the lower's owner through an fd: nobody cannot rename it, and a symlink in its place is not followed", async (ctx) => {
  const roots = join(ctx.base, "roots");
  const home = join(ctx.base, "home");
  mkdirSync(home, { mode: 0o750 });
  chownSync(home, nobody.uid, nobody.gid);
  const rt = join(ctx.base, "rt2");
  mkdirSync(rt, { mode: 0o755 });
  const s = await mountState(rt, StateSchema.parse({ overlay: [home] }));
  assert.equal([s.overlays, s.overlayProblems], [[home], []]);
  const upper = join(stateDir(rt), "overlay/0/upper");
  assert.equal(ownerAndMode(upper), [nobody.uid, "750"], "the upper is the lower's");
  assert.equal(ownerAndMode(home), [nobody.uid, "750"], "the merged folder looks like the real one");
  // nobody owns the upper but not its name: the folder holding it is root's
  assert.is.not(asNobody(`mv ${upper} ${upper}.x || exit 1; exit 0`), 0, "nobody renamed the upper layer");
  assert.is.not(asNobody(`rmdir ${upper} 2>/dev/null; ln -sT ${roots} ${upper}`), 0, "nobody put a symlink in its place");
  // a symlink in the upper's place all the same (root's doing here: no other uid can): the next
  // mount refuses it and root's folder keeps its owner and mode, where chown(1) and chmod followed it
  spawnSync("umount", [home]);
  rmSync(upper, { recursive: true });
  symlinkSync(roots, upper);
  const again = await mountState(rt, StateSchema.parse({ overlay: [home] }));
  assert.equal(again.overlays, []);
  assert.is(again.overlayProblems.length, 1);
  assert.match(again.overlayProblems[0]!, /its upper layer cannot be opened \((ELOOP|ENOTDIR) \(open .*\/overlay\/0\/upper.\)\)/, again.overlayProblems[0]);
  assert.equal(ownerAndMode(roots), [0, "700"]);
  assert.not.ok(mountedAt(home));
});

T.run();
