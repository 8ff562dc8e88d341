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

for (const unit of ["foyer-flush.service", "foyer-console.service"]) {
  test(`systemd-analyze verify packaging/systemd/root/${unit}`, () => {
    const r = spawnSync("systemd-analyze", ["verify", join(top, "packaging/systemd/root", unit)], { encoding: "utf8" });
    if (r.error) throw new Error("'systemd-analyze' is missing: install the Debian package 'systemd'");
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stderr.trim(), "", r.stderr);
  });
}

test.run();
