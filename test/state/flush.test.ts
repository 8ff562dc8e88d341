import { test } from "uvu";
import * as assert from "uvu/assert";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { flushTree, TEMP_PREFIX } from "../../src/state/flush.js";
import { withTimeout } from "../../src/base/timeout.js";

let root = "";
test.before(async () => { root = await fs.mkdtemp(path.join(os.tmpdir(), "foyer-flush-")); });
test.after(async () => { await fs.rm(root, { recursive: true, force: true }); });

test("mirrors files, dirs and modes; leaves target-only files; removes stale temps; twice = same", async () => {
  const from = path.join(root, "a"), to = path.join(root, "b");
  await fs.mkdir(path.join(from, "d/e"), { recursive: true });
  await fs.writeFile(path.join(from, "d/e/x"), "new", { mode: 0o640 });
  await fs.mkdir(path.join(to, "d"), { recursive: true });
  await fs.writeFile(path.join(to, "d/only"), "keep");
  await fs.writeFile(path.join(to, "d", `${TEMP_PREFIX}1.x`), "torn");
  const r1 = await withTimeout(flushTree(from, to), 10_000, "flush");
  assert.is(r1.copied, 1);
  assert.is(await fs.readFile(path.join(to, "d/e/x"), "utf8"), "new");
  assert.is((await fs.stat(path.join(to, "d/e/x"))).mode & 0o777, 0o640);
  assert.is(await fs.readFile(path.join(to, "d/only"), "utf8"), "keep");
  assert.equal((await fs.readdir(path.join(to, "d"))).sort(), ["e", "only"]);
  const r2 = await withTimeout(flushTree(from, to), 10_000, "flush");
  assert.is(r2.copied, 0);
  assert.is(r2.skipped, 1);
});

test("a folder new to the target arrives whole with its modes; a killed run's temp folder is removed", async () => {
  const from = path.join(root, "n"), to = path.join(root, "m");
  await fs.mkdir(path.join(from, "new/sub"), { recursive: true });
  await fs.chmod(path.join(from, "new"), 0o750);
  await fs.writeFile(path.join(from, "new/x"), "x", { mode: 0o600 });
  await fs.writeFile(path.join(from, "new/sub/y"), "y");
  await fs.mkdir(path.join(to, `${TEMP_PREFIX}1.new`), { recursive: true });
  await fs.writeFile(path.join(to, `${TEMP_PREFIX}1.new`, "x"), "torn");
  const r = await withTimeout(flushTree(from, to), 10_000, "flush");
  assert.equal({ copied: r.copied, problems: r.problems }, { copied: 2, problems: [] });
  assert.equal((await fs.readdir(to)).sort(), ["new"]);
  assert.is((await fs.stat(path.join(to, "new"))).mode & 0o777, 0o750);
  assert.is((await fs.stat(path.join(to, "new/x"))).mode & 0o777, 0o600);
  assert.is(await fs.readFile(path.join(to, "new/sub/y"), "utf8"), "y");
  assert.equal((await fs.readdir(path.join(to, "new"))).sort(), ["sub", "x"]);
});

test("where `sync --file-system` cannot run, each temp is fsync'd instead: a new folder's files and folders too", async () => {
  const from = path.join(root, "f"), to = path.join(root, "g"), bin = path.join(root, "bin");
  await fs.mkdir(path.join(from, "new/sub"), { recursive: true });
  await fs.mkdir(path.join(from, "old"), { recursive: true });
  await fs.writeFile(path.join(from, "new/sub/y"), "y");
  await fs.writeFile(path.join(from, "old/z"), "new z");
  await fs.mkdir(path.join(to, "old"), { recursive: true });
  await fs.writeFile(path.join(to, "old/z"), "old z");
  // a `sync` that fails, first on PATH, and says it was asked
  await fs.mkdir(bin);
  await fs.writeFile(path.join(bin, "sync"), `#!/bin/sh\necho "$@" > ${path.join(bin, "asked")}\nexit 1\n`, { mode: 0o755 });
  const saved = process.env.PATH;
  process.env.PATH = `${bin}:${saved}`;
  try {
    const r = await withTimeout(flushTree(from, to), 10_000, "flush");
    assert.equal({ copied: r.copied, problems: r.problems }, { copied: 2, problems: [] });
  } finally {
    process.env.PATH = saved;
  }
  assert.match(await fs.readFile(path.join(bin, "asked"), "utf8"), /--file-system/);
  assert.is(await fs.readFile(path.join(to, "new/sub/y"), "utf8"), "y");
  assert.is(await fs.readFile(path.join(to, "old/z"), "utf8"), "new z");
  assert.equal((await fs.readdir(to)).sort(), ["new", "old"]);
  assert.equal(await fs.readdir(path.join(to, "old")), ["z"]);
});

test("a symlink where a directory should be is reported and nothing is written through it", async () => {
  const from = path.join(root, "s"), to = path.join(root, "t"), outside = path.join(root, "outside");
  await fs.mkdir(path.join(from, "d"), { recursive: true });
  await fs.writeFile(path.join(from, "d/x"), "x");
  await fs.mkdir(to); await fs.mkdir(outside);
  await fs.symlink(outside, path.join(to, "d"));
  const r = await withTimeout(flushTree(from, to), 10_000, "flush");
  assert.is(r.problems.length, 1);
  assert.match(r.problems[0] ?? "", /symlink/);
  assert.equal(await fs.readdir(outside), []);
});

test.run();
