import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, readFileSync, mkdtempSync, writeFileSync, symlinkSync, chmodSync, chownSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { parseProfile, loadProfile, shippedProfileDir, BUILTIN_DEFAULT } from "../../src/profile/load.js";
import { profileJsonSchema } from "../../src/profile/schema.js";

test("every shipped profile is valid", () => {
  const dir = shippedProfileDir();
  const files = readdirSync(dir).filter((f) => f.endsWith(".json"));
  assert.ok(files.length >= 5, `expected the shipped profiles in ${dir}`);
  for (const f of files) {
    const r = parseProfile(readFileSync(join(dir, f), "utf8"));
    assert.ok(r.ok, `${f}: ${r.ok ? "" : r.problems.join("; ")}`);
  }
});

test("{schema:1} is a complete profile with defaults", () => {
  const r = parseProfile('{"schema":1}');
  assert.ok(r.ok);
  if (r.ok) {
    assert.is(r.profile.restart.burst, 5);
    assert.is(r.profile.restart.windowMs, 10_000);
    assert.is(r.profile.greeter.user, "foyer-greeter");
  }
});

test("unknown keys, wrong types and a wrong schema are reported as path: reason", () => {
  const r = parseProfile('{"schema":1,"display":{"stack":"wayland","colour":"red"},"restart":{"burst":"five"}}');
  assert.is(r.ok, false);
  if (r.ok) return;
  assert.ok(
    r.problems.some((p) => p.startsWith("display: ") && p.includes("colour")),
    r.problems.join("|"),
  );
  assert.ok(
    r.problems.some((p) => p.startsWith("restart.burst: ")),
    r.problems.join("|"),
  );
  assert.equal(parseProfile('{"schema":2}').ok, false);
});

test("problems never echo values", () => {
  const r = parseProfile('{"schema":1,"greeter":{"user":"hunter2-secret-value!"}}');
  assert.is(r.ok, false);
  if (!r.ok) assert.not.ok(r.problems.join("\n").includes("hunter2"));
});

test("broken JSON names the line and column, not the content", () => {
  const r = parseProfile('{\n  "schema": 1,\n  oops\n}');
  assert.is(r.ok, false);
  if (!r.ok) {
    assert.match(r.problems[0]!, /not valid JSON \(line 3 column \d+\)/);
    assert.not.ok(r.problems[0]!.includes("oops"));
  }
});

test("loadProfile falls back to the built-in default and names the file", () => {
  const d = mkdtempSync(join(tmpdir(), "foyer-prof-"));
  writeFileSync(join(d, "bad.json"), '{"schema":1,"nope":true}');
  const r = loadProfile("bad", { dirs: [d] });
  assert.is(r.ok, false);
  assert.equal(r.profile, BUILTIN_DEFAULT);
  if (!r.ok) assert.match(r.problems[0]!, new RegExp(`^${join(d, "bad.json")}: <root>: `));
});

test("a later directory overrides an earlier one; symlinks and missing names are refused", () => {
  const a = mkdtempSync(join(tmpdir(), "foyer-prof-"));
  const b = mkdtempSync(join(tmpdir(), "foyer-prof-"));
  writeFileSync(join(a, "p.json"), '{"schema":1,"description":"a"}');
  writeFileSync(join(b, "p.json"), '{"schema":1,"description":"b"}');
  const r = loadProfile("p", { dirs: [a, b] });
  assert.ok(r.ok && r.profile.description === "b");
  symlinkSync(join(a, "p.json"), join(b, "link.json"));
  assert.is(loadProfile("link", { dirs: [b] }).ok, false);
  assert.is(loadProfile("missing", { dirs: [a] }).ok, false);
  assert.is(loadProfile("../etc/passwd", { dirs: [a] }).ok, false);
});

test("a test-only key (greeter.debugPort) is refused unless the loader is told it runs for tests", () => {
  const d = mkdtempSync(join(tmpdir(), "foyer-prof-"));
  writeFileSync(join(d, "dev.json"), '{"schema":1,"greeter":{"debugPort":9333}}');
  const r = loadProfile("dev", { dirs: [d] });
  assert.is(r.ok, false);
  assert.equal(r.profile, BUILTIN_DEFAULT);
  if (!r.ok) assert.match(r.problems[0]!, /greeter\.debugPort: a test-only key .*FOYER_TEST_KEYS=1/);
  const t = loadProfile("dev", { dirs: [d], testKeys: true });
  assert.ok(t.ok && t.profile.greeter.debugPort === 9333);
  // every shipped profile that opens DevTools is a test profile: refused in a boot
  for (const f of readdirSync(shippedProfileDir()).filter((f) => f.endsWith(".json"))) {
    const name = f.slice(0, -5);
    const raw = JSON.parse(readFileSync(join(shippedProfileDir(), f), "utf8")) as { greeter?: { debugPort?: number } };
    assert.is(loadProfile(name).ok, raw.greeter?.debugPort === undefined, `${f} in a boot`);
  }
});

test("a profile another user can write is refused: group- or world-writable, or another uid's", () => {
  const d = mkdtempSync(join(tmpdir(), "foyer-prof-"));
  writeFileSync(join(d, "open.json"), '{"schema":1}');
  chmodSync(join(d, "open.json"), 0o666);
  const r = loadProfile("open", { dirs: [d] });
  assert.ok(!r.ok && /open\.json: <file>: writable by its group or by others/.test(r.problems[0]!));
  writeFileSync(join(d, "theirs.json"), '{"schema":1}');
  chownSync(join(d, "theirs.json"), 65534, 65534);
  const t = loadProfile("theirs", { dirs: [d] });
  assert.ok(!t.ok && /theirs\.json: <file>: belongs to uid 65534, not to root/.test(t.problems[0]!));
  chmodSync(join(d, "open.json"), 0o644);
  assert.ok(loadProfile("open", { dirs: [d] }).ok);
});

test("the greeter's user is its own: root and nobody are refused", () => {
  for (const user of ["root", "nobody"]) {
    const r = parseProfile(JSON.stringify({ schema: 1, greeter: { user } }));
    assert.ok(!r.ok && r.problems.some((p) => /^greeter\.user: must be the greeter's own user, not root or nobody/.test(p)), user);
  }
  assert.ok(parseProfile('{"schema":1,"greeter":{"user":"gdm"}}').ok);
});

test("the JSON Schema describes the profile", () => {
  const s = profileJsonSchema() as { properties: Record<string, unknown>; required: string[] };
  assert.ok("display" in s.properties && "restart" in s.properties);
  assert.ok(s.required.includes("schema"));
});

test.run();
