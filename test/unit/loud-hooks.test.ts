// test/helpers/loud-hooks.ts, loaded as test/run.mjs loads it: a suite whose before hook throws
// prints the hook's error (uvu alone shows only "(0 / 1)"); so does a suite made with its `suite`,
// which every suite uses instead of uvu's.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { top } from "../helpers/index.js";

function run(preload: boolean, fixture = join(top, "test/fixtures/uvu/hook-throws.ts")): { out: string; err: string } {
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

test("a suite() from test/helpers/loud-hooks.ts prints its hook's error without the preload", () => {
  const r = run(false, join(top, "test/fixtures/uvu/suite-hook-throws.ts"));
  assert.match(r.out, /\(0 \/ 1\)/);
  assert.match(r.err, /a before\/after hook failed: Error: suite set-up failed: MARK/);
});

test("no suite takes uvu's own suite() (its hooks' errors would be lost)", () => {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (e.endsWith(".test.ts")) files.push(p);
    }
  };
  walk(join(top, "test"));
  assert.ok(files.length > 50, `found only ${files.length} suites`);
  const bad = files.filter((f) => /import\s*\{[^}]*\bsuite\b[^}]*\}\s*from\s*"uvu"/.test(readFileSync(f, "utf8")));
  assert.equal(
    bad.map((f) => f.slice(top.length + 1)),
    [],
    "import suite from test/helpers/loud-hooks.js instead",
  );
});

test.run();
