// The direct backend's parent-death signal: which setpriv it uses. An initramfs-tools image has
// BusyBox's setpriv first on PATH, which has no --pdeathsig (a real boot's greeter failed three
// times on it); util-linux's may come later. A stand-in BusyBox applet, then the real one.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, writeFileSync, rmSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { spawn, spawnSync } from "node:child_process";
import { findPdeathsigSetpriv, findPdeathsigSetprivAsync, coreLimitIsZero } from "../../src/launch/direct.js";
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

test("the probe without blocking finds the same setpriv", async () => {
  const dir = mkdtempSync(join(tmpdir(), "foyer-setpriv-"));
  try {
    writeFileSync(join(dir, "setpriv"), '#!/bin/sh\necho "Run PROG with different privilege settings" >&2\nexit 1\n', { mode: 0o755 });
    const none = join(dir, "none");
    assert.is(await findPdeathsigSetprivAsync(`${dir}:${join(real, "..")}`, none), real);
    assert.is(await findPdeathsigSetprivAsync(dir, none), undefined);
    assert.is(await findPdeathsigSetprivAsync(dir, real), real);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// foyer.service's LimitCORE=0 (and initramfs-tools' `ulimit -c 0`): then no shell sets it for each child
test("coreLimitIsZero reads a process's real limits: 0 soft and hard only", async () => {
  requireTool("prlimit", "util-linux");
  const limited = async (core: string): Promise<boolean> => {
    const p = spawn("prlimit", [`--core=${core}`, "sleep", "5"], { stdio: "ignore" });
    try {
      // prlimit execs sleep in the same process
      for (let i = 0; i < 100 && !readFileSync(`/proc/${p.pid}/cmdline`, "latin1").startsWith("sleep"); i++) await new Promise((r) => setTimeout(r, 20));
      return coreLimitIsZero(`/proc/${p.pid}/limits`);
    } finally {
      p.kill("SIGKILL");
    }
  };
  assert.is(await limited("0:0"), true);
  assert.is(await limited("0:unlimited"), false, "a soft 0 the child can raise again");
  assert.is(await limited("unlimited:unlimited"), false);
  assert.is(coreLimitIsZero("/nonexistent/limits"), false);
});

test.run();
