// tsc --noEmit over src and test: a type error fails the test run.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const top = join(dirname(fileURLToPath(import.meta.url)), "../..");

test("tsc --noEmit reports no errors", () => {
  const r = spawnSync(process.execPath, [join(top, "node_modules/typescript/bin/tsc"), "--noEmit", "-p", top], { encoding: "utf8" });
  assert.is(r.status, 0, r.stdout + r.stderr);
});

test.run();
