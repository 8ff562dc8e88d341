// foyerd's command line: rd.foyer=0, the kernel command line's profile winning, a bad profile
// falling back to the built-in default with one clear line, usage errors.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { top } from "../helpers/index.js";

const dir = mkdtempSync(join(tmpdir(), "foyer-cli-"));
const foyerd = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", join(top, "src/cli/foyerd.ts"), ...args], {
    encoding: "utf8",
    timeout: 30_000,
    env: { ...process.env, FOYER_MAIN: "foyerd" },
  });
const cmdline = (text: string) => {
  const p = join(dir, `cmdline-${Math.random().toString(36).slice(2)}`);
  writeFileSync(p, text);
  return p;
};

test("rd.foyer=0: exits 0 at once and says why", () => {
  const r = foyerd("--profile", "headless", "--runtime-dir", join(dir, "rt0"), "--cmdline", cmdline("quiet rd.foyer=0 splash\n"));
  assert.is(r.status, 0);
  assert.match(r.stderr, /disabled on the kernel command line/);
});

test("rd.foyer.profile on the kernel command line wins over --profile", () => {
  const r = foyerd("print-profile", "--profile", "x11", "--cmdline", cmdline("rd.foyer.profile=headless"));
  assert.is(r.status, 0);
  assert.is(JSON.parse(r.stdout).profile.display.stack, "headless");
});

test("a bad profile: one line naming file, path and reason; the built-in default is used", () => {
  const bad = join(dir, "bad.json");
  writeFileSync(bad, '{"schema":1,"restart":{"burst":"lots","secretish":"xyzzy"}}');
  const r = foyerd("print-profile", "--profile", bad, "--cmdline", "/dev/null");
  assert.is(r.status, 1);
  assert.match(r.stderr, new RegExp(`${bad}: restart.burst: `));
  assert.not.match(r.stderr, /xyzzy|lots/);
  const out = JSON.parse(r.stdout);
  assert.is(out.source, "built-in");
  assert.is(out.profile.display.stack, "wayland");
});

test("malformed kernel command line switches are logged and ignored", () => {
  const r = foyerd("--profile", "headless", "--runtime-dir", join(dir, "rt1"), "--cmdline", cmdline("rd.foyer=maybe rd.foyer=0"));
  assert.is(r.status, 0);
  assert.match(r.stderr, /kernel command line: ignoring 'rd.foyer=maybe': expected a boolean/);
});

test("usage errors exit 2", () => {
  assert.is(foyerd("--no-such-flag").status, 2);
  assert.is(foyerd("frobnicate").status, 2);
  assert.match(foyerd("schema").stdout, /"\$schema"/);
});

test.run();
