// The direct backend's parent-death signal: which setpriv it uses. An initramfs-tools image has
// BusyBox's setpriv first on PATH, which has no --pdeathsig (a real boot's greeter failed three
// times on it); util-linux's may come later. A stand-in BusyBox applet, then the real one.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { spawnSync } from "node:child_process";
import { findPdeathsigSetpriv } from "../../src/launch/direct.js";
import { requireTool } from "../helpers/index.js";

requireTool("setpriv", "util-linux");
const real = spawnSync("sh", ["-c", "command -v setpriv"], { encoding: "utf8" }).stdout.trim();

test("a setpriv without --pdeathsig is passed over for one with it; none usable → undefined", () => {
  const dir = mkdtempSync(join(tmpdir(), "foyer-setpriv-"));
  try {
    // BusyBox's applet: prints its usage and fails on an option it does not know
    writeFileSync(join(dir, "setpriv"), '#!/bin/sh\necho "Run PROG with different privilege settings" >&2\nexit 1\n', { mode: 0o755 });
    const none = join(dir, "none");
    assert.is(findPdeathsigSetpriv(`${dir}:${join(real, "..")}`, none), real);
    assert.is(findPdeathsigSetpriv(dir, none), undefined);
    assert.is(findPdeathsigSetpriv(none, none), undefined);
    assert.is(findPdeathsigSetpriv(join(real, "..")), real);
    // foyer's own copy beside the bundle comes before PATH (where BusyBox's may be)
    assert.is(findPdeathsigSetpriv(dir, real), real);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
