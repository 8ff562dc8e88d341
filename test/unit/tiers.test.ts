// The tiers of test/tiers.mjs: every suite has one, the fast tier's list names real suites that
// need neither root nor a private namespace, and a suite that needs root fails in the fast
// tier's runner instead of passing or being skipped.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FAST, PARALLEL, TIERS, findSuites, tierOf, top } from "../tiers.mjs";

const suites = findSuites();
const text = (rel: string) => readFileSync(join(top, "test", rel), "utf8");

test("every fast suite exists, and none lies where root or real components are the point", () => {
  assert.ok(suites.length > 100, `found only ${suites.length} suites`);
  assert.equal(
    FAST.filter((s) => !existsSync(join(top, "test", s))),
    [],
    "listed in FAST, but no such suite",
  );
  assert.equal(
    FAST.filter((s) => /^(vm|robust|integration|security)\//.test(s)),
    [],
  );
  assert.equal(new Set(FAST).size, FAST.length, "listed twice");
});

test("the suites run tier by tier, each tier in test/tiers.mjs's order", () => {
  const ranks = suites.map((s) => TIERS.indexOf(tierOf(s)));
  assert.ok(ranks.every((r) => r >= 0));
  assert.equal(
    ranks,
    [...ranks].sort((a, b) => a - b),
  );
  assert.is(tierOf("vm/unlock.test.ts"), "vm");
  assert.is(tierOf("robust/crashes.test.ts"), "robust");
  assert.is(tierOf("integration/unlock-wayland.test.ts"), "component");
});

test("no fast suite asks for what only the component tier gives (root's helpers, namespaces, daemons)", () => {
  const marks =
    /requirePrivateAskDir|runInPrivateNetns|privateTmp\(|asAccount\(|new Foyerd\(|nspawn|requireTool\("(Xvfb|dbus-daemon|cage|chromium|cog|cryptsetup|keyctl|plymouth)"/;
  assert.equal(
    FAST.filter((s) => s !== "unit/tiers.test.ts" && marks.test(text(s))),
    [],
  ); // this file names them
});

test("the suites that may run beside others (--jobs) each have a network namespace of their own", () => {
  for (const s of PARALLEL) {
    assert.is(tierOf(s), "component", s);
    assert.match(text(s), "runInPrivateNetns(import.meta.url)", s);
  }
});

test("a suite that needs root fails in the fast tier's runner: never passed, never skipped", () => {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(top, "test/fast.mjs"), join(top, "test/fixtures/tiers/needs-root.ts")], {
    cwd: top,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  });
  assert.is.not(r.status, 0, r.stdout + r.stderr);
  if (process.getuid!() === 0) assert.match(r.stderr, "runs without root");
  else {
    assert.match(r.stdout, /^0 passed, 1 failed$/m, r.stdout + r.stderr);
    assert.match(r.stdout, /EPERM/);
  }
});

test.run();
