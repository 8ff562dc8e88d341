// chromium's kiosk policy and the shipped profiles: devtools and the debug port exist only in
// the test profiles, the production chromium profile writes the policy, and the policy allows the
// greeter's one origin.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, mkdtempSync, statSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { parseProfile } from "../../src/profile/load.js";
import { chromiumKioskPolicy, writeChromiumKioskPolicy } from "../../src/display/kiosk-policy.js";
import { GRABBED } from "../../src/display/x11-keygrab.js";
import { top } from "../helpers/index.js";

const shipped = (name: string) => {
  const r = parseProfile(readFileSync(join(top, "profiles", `${name}.json`), "utf8"));
  if (!r.ok) throw new Error(`${name}: ${r.problems.join("; ")}`);
  return r.profile;
};

for (const name of ["default", "wayland", "x11"]) {
  test(`production profile '${name}' has no debug port`, () => {
    assert.is(shipped(name).greeter.debugPort, null);
  });
}

test("the production chromium profile writes the kiosk policy", () => {
  assert.is(shipped("x11").greeter.chromiumPolicyDir, "/etc/chromium/policies/managed");
});

test("the policy: one origin, no devtools, no remote debugging, no downloads or printing", () => {
  const p = chromiumKioskPolicy("http://127.0.0.1:4242", { remoteDebugging: false });
  assert.equal(p.URLBlocklist, ["*"]);
  assert.equal(p.URLAllowlist, ["http://127.0.0.1:4242"]);
  assert.is(p.DeveloperToolsAvailability, 2);
  assert.is(p.RemoteDebuggingAllowed, false);
  assert.is(p.DownloadRestrictions, 3);
  assert.is(p.PrintingEnabled, false);
  assert.is(p.IncognitoModeAvailability, 1);
  assert.is(p.PasswordManagerEnabled, false);
  const dbg = chromiumKioskPolicy("http://127.0.0.1:4242", { remoteDebugging: true });
  assert.is(dbg.DeveloperToolsAvailability, 1);
  assert.is(dbg.RemoteDebuggingAllowed, true);
});

test("the policy file is world-readable JSON", () => {
  const dir = join(mkdtempSync(join(tmpdir(), "foyer-policy-")), "managed");
  const path = writeChromiumKioskPolicy(dir, "http://127.0.0.1:1", { remoteDebugging: false });
  assert.is(statSync(path).mode & 0o777, 0o644);
  assert.equal(JSON.parse(readFileSync(path, "utf8")).URLAllowlist, ["http://127.0.0.1:1"]);
});

test("the X key grab takes chromium's reserved accelerators, not the shell's", () => {
  const names = GRABBED.map((g) => g.name);
  for (const n of ["Ctrl+T", "Ctrl+N", "Ctrl+W", "Ctrl+Shift+Q", "Alt+F4", "Shift+Escape", "F11", "F1"]) assert.ok(names.includes(n), n);
  // the recovery terminal's readline keys stay with the page
  for (const n of ["Ctrl+D", "Ctrl+U", "Ctrl+R", "Ctrl+A", "Ctrl+C"]) assert.not.ok(names.includes(n), n);
});

test.run();
