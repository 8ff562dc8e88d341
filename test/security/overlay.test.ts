// docs/security.md rule 1 for the state overlays (state.overlay): root mounts over a profile's path
// and gives the upper layer the lower's owner and mode. Another uid must not be able to steer
// either: not by a symlink it puts on the way to the path (root would mount over a folder of its
// choosing, owned as the one it showed), not by a symlink in the upper layer's place (root's
// chown and chmod would follow it). The hostile files are made by the real `nobody` (setpriv);
// the mounts happen in this suite's own mount namespace (test/run.mjs).
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, lstatSync, chmodSync, chownSync, rmSync, symlinkSync, linkSync, existsSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { requireTool, requirePrivateAskDir, unmountUnder } from "../helpers/index.js";
import { mountState, readMounts, stateDir } from "../../src/state/overlay.js";
import { StateSchema } from "../../src/profile/schema.js";
import { lookupUser } from "../../src/display/users.js";

interface Ctx {
  base: string;
}
const T = suite<Ctx>("security/overlay", { base: "" });
const nobody = lookupUser("nobody");

/** Runs `script` with sh as nobody (no supplementary groups); its exit code. */
function asNobody(script: string): number | null {
  return spawnSync("setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", "sh", "-c", script], {
    stdio: "ignore",
    env: { PATH: "/usr/bin:/bin" },
  }).status;
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
/** The upper layer's folder name for the lower `p`: its device and inode. */
const layerOf = (p: string) => {
  const st = lstatSync(p);
  return `${st.dev}-${st.ino}`;
};

T.before((ctx) => {
  requirePrivateAskDir(); // test/run.mjs's namespaces: these mounts stay in the suite's own
  requireTool("setpriv", "util-linux");
  requireTool("mount", "mount");
  requireTool("setfacl", "acl");
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
  const layer = layerOf(home); // the lower's, before the overlay covers it
  const s = await mountState(rt, StateSchema.parse({ overlay: [home] }));
  assert.equal([s.overlays, s.overlayProblems], [[home], []]);
  const upper = join(stateDir(rt), "overlay", layer, "upper");
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
  assert.match(
    again.overlayProblems[0]!,
    /its upper layer cannot be opened \((ELOOP|ENOTDIR) \(open .*\/overlay\/\d+-\d+\/upper.\)\)/,
    again.overlayProblems[0],
  );
  assert.equal(ownerAndMode(roots), [0, "700"]);
  assert.not.ok(mountedAt(home));
});

T("a folder another uid may write through an ACL, or root's symlink in a sticky folder, is no way to root's folder", async (ctx) => {
  const roots = join(ctx.base, "roots3");
  mkdirSync(roots, { mode: 0o700 });
  // root:root 0755 with an ACL grant to nobody: the mode's group bits become the mask, 0775
  const acl = join(ctx.base, "acl");
  mkdirSync(acl, { mode: 0o755 });
  const set = spawnSync("setfacl", ["-m", `u:nobody:rwx`, acl], { encoding: "utf8" });
  assert.is(set.status, 0, `setfacl: ${set.stderr}`);
  assert.is(asNobody(`ln -s ${roots} ${acl}/x`), 0, "nobody's symlink through the ACL grant");
  // root's own symlink in a root sticky folder, as a hard link another uid could have made of it
  // where fs.protected_hardlinks is 0 (made by root here: this host protects hard links)
  const sticky = join(ctx.base, "sticky");
  mkdirSync(sticky);
  chmodSync(sticky, 0o1777);
  symlinkSync(roots, join(ctx.base, "rootlink"));
  linkSync(join(ctx.base, "rootlink"), join(sticky, "hard"));
  const rt = join(ctx.base, "rt3");
  mkdirSync(rt, { mode: 0o755 });
  const s = await mountState(rt, StateSchema.parse({ overlay: [join(acl, "x"), join(sticky, "hard")] }));
  assert.equal(s.overlays, []);
  assert.match(s.overlayProblems[0]!, /'[^']*\/acl' is a folder that uid 0 or others may change/, s.overlayProblems.join(" | "));
  assert.match(s.overlayProblems[1]!, /'[^']*\/sticky' is a folder that uid 0 or others may change/, s.overlayProblems.join(" | "));
  assert.not.ok(mountedAt(roots), "root's folder was mounted over");
  assert.equal(ownerAndMode(roots), [0, "700"]);
});

T("an upper layer kept from an earlier foyerd goes back over its own folder, whatever the profile's order now", async (ctx) => {
  const home = join(ctx.base, "home4");
  mkdirSync(home, { mode: 0o750 });
  chownSync(home, nobody.uid, nobody.gid);
  const roots = join(ctx.base, "roots4");
  mkdirSync(roots, { mode: 0o700 });
  const rt = join(ctx.base, "rt4");
  mkdirSync(rt, { mode: 0o755 });
  const first = await mountState(rt, StateSchema.parse({ overlay: [home] }));
  assert.equal(first.overlays, [home]);
  assert.is(asNobody(`echo planted > ${home}/planted`), 0, "nobody writes in its own merged home");
  spawnSync("umount", [home]);
  // a restarted foyerd on the same state tmpfs, with root's folder first in the profile now
  const again = await mountState(rt, StateSchema.parse({ overlay: [roots, home] }));
  assert.equal(again.overlays, [roots, home]);
  assert.not.ok(existsSync(join(roots, "planted")), "nobody's file from the kept upper layer appeared in root's folder");
  assert.ok(existsSync(join(home, "planted")), "the kept upper layer is not back over its own folder");
});

T.run();
