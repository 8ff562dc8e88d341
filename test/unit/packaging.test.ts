// The shell scripts that ship must at least parse: a syntax error in the dracut module makes
// dracut drop foyer from the image without failing the build.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { top } from "../helpers/index.js";

for (const f of ["packaging/dracut/91foyer/module-setup.sh", "packaging/dev/setup.sh", ".ci/run"]) {
  test(`bash -n ${f}`, () => {
    const r = spawnSync("bash", ["-n", join(top, f)], { encoding: "utf8" });
    assert.is(r.status, 0, r.stderr);
  });
}

test.run();
