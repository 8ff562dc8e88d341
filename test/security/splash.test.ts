// The splash's files (docs/security.md, rule 1): foyerd puts the frame, the marker and, where the
// bundle's folder is closed to others, a copy of foyer-splash in its runtime folder, root's, each
// by temp and rename; the greeter user runs and reads them and can change none. Acted out as the
// real `foyer-greeter` and `nobody` (setpriv): every write, replacement, removal and symlink in
// their place fails, and the files are what root wrote.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { createHash } from "node:crypto";
import { DEFAULT_COLOURS } from "../../src/display/frame-render.js";
import { firstFrame, splashGoes, splashStays, GREETER_PAINTED, SPLASH_BIN, SPLASH_FRAME } from "../../src/display/splash.js";
import { lookupUser } from "../../src/display/users.js";
import { requireTool } from "../helpers/index.js";

requireTool("setpriv", "util-linux");

const dirs: string[] = [];
test.after.each(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** `script` in sh as `user`, with no supplementary groups; its exit status. */
function as(user: { uid: number; gid: number }, script: string, dir: string): number {
  const r = spawnSync("setpriv", [`--reuid=${user.uid}`, `--regid=${user.gid}`, "--clear-groups", "sh", "-c", script], { cwd: dir, encoding: "utf8" });
  return r.status ?? -1;
}

const digest = (dir: string) =>
  Object.fromEntries(
    readdirSync(dir)
      .sort()
      .map((f) => [
        f,
        createHash("sha256")
          .update(readFileSync(join(dir, f)))
          .digest("hex"),
      ]),
  );

test("the greeter user and nobody can neither change, replace nor remove the splash's frame, marker or binary", async () => {
  const run = mkdtempSync(join(tmpdir(), "foyer-splash-sec-"));
  dirs.push(run);
  chmodSync(run, 0o755);
  const f = await firstFrame({ runtimeDir: run, colours: DEFAULT_COLOURS, size: { width: 64, height: 40 }, onScreen: false, fb: undefined, warn: () => {} });
  assert.ok(f.splash);
  splashGoes(run);
  const before = digest(run);
  const files = [SPLASH_FRAME, GREETER_PAINTED, ...(f.splash[0] === join(run, SPLASH_BIN) ? [SPLASH_BIN] : [])];
  for (const who of [lookupUser("foyer-greeter"), lookupUser("nobody")]) {
    // the splash may read the frame and the marker (and run the binary)
    assert.is(as(who, `cat ${SPLASH_FRAME} >/dev/null && test -e ${GREETER_PAINTED}`, run), 0, `uid ${who.uid} cannot read the splash's files`);
    for (const name of files)
      for (const attack of [
        `printf x >> ${name}`,
        `printf x > ${name}`,
        `rm -f ${name}`,
        `mv ${name} ${name}.aside`,
        `ln -sf /etc/shadow ${name}`,
        `ln -s /etc/shadow ${name}.${process.pid}.tmp`,
        `chmod 666 ${name}`,
      ])
        assert.is.not(as(who, `${attack} 2>/dev/null`, run), 0, `uid ${who.uid}: '${attack}' succeeded`);
  }
  assert.equal(digest(run), before, "a file changed");
  // the marker's removal and creation are root's alone, and work after the attempts
  splashStays(run);
  splashGoes(run);
});

test.run();
