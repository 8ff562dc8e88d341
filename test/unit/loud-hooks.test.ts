// test/helpers/loud-hooks.ts, loaded as test/run.mjs loads it: a suite whose before hook throws
// prints the hook's error (uvu alone shows only "(0 / 1)"), and test/run.mjs's row says so.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { top } from "../helpers/index.js";

const fixture = join(top, "test/fixtures/uvu/hook-throws.ts");

function run(preload: boolean): { out: string; err: string } {
  const mark = randomUUID();
  const args = ["--import", "tsx", ...(preload ? ["--import", join(top, "test/helpers/loud-hooks.ts")] : []), fixture];
  const r = spawnSync(process.execPath, args, { cwd: top, encoding: "utf8", env: { ...process.env, FOYER_HOOK_MARK: mark, NO_COLOR: "1" } });
  return { out: r.stdout.replaceAll(mark, "MARK"), err: r.stderr.replaceAll(mark, "MARK") };
}

test("uvu alone loses a before hook's error", () => {
  const r = run(false);
  assert.match(r.out, /\(0 \/ 1\)/);
  assert.not.match(r.out + r.err, /set-up failed/, "uvu printed the hook's error by itself: loud-hooks.ts may be needless now");
});

test("with loud-hooks.ts the hook's error and where it came from are printed", () => {
  const r = run(true);
  assert.match(r.out, /\(0 \/ 1\)/);
  assert.match(r.err, /a before\/after hook failed: Error: set-up failed: MARK/);
  assert.match(r.err, /hook-throws\.ts:\d+/, "the stack names the suite's file");
});

test.run();
