import { test } from "uvu";
import * as assert from "uvu/assert";
import { promises as fs } from "node:fs";
import { execFileSync } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { flushTree, TEMP_PREFIX } from "../../src/state/flush.js";
import { withTimeout } from "../../src/base/timeout.js";
import { TOOL_PATH } from "../../src/base/command.js";

let root = "";
test.before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "foyer-flush-"));
});
test.after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

test("mirrors files, dirs and modes; leaves target-only files; removes stale temps; twice = same", async () => {
  const from = path.join(root, "a"),
    to = path.join(root, "b");
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
  const from = path.join(root, "n"),
    to = path.join(root, "m");
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
  const from = path.join(root, "f"),
    to = path.join(root, "g"),
    bin = path.join(root, "bin");
  await fs.mkdir(path.join(from, "new/sub"), { recursive: true });
  await fs.mkdir(path.join(from, "old"), { recursive: true });
  await fs.writeFile(path.join(from, "new/sub/y"), "y");
  await fs.writeFile(path.join(from, "old/z"), "new z");
  await fs.mkdir(path.join(to, "old"), { recursive: true });
  await fs.writeFile(path.join(to, "old/z"), "old z");
  // a `sync` that fails and says it was asked, bound over the one foyer's PATH finds (this suite
  // has a mount namespace of its own)
  await fs.mkdir(bin);
  await fs.writeFile(path.join(bin, "sync"), `#!/bin/sh\necho "$@" > ${path.join(bin, "asked")}\nexit 1\n`, { mode: 0o755 });
  const real = execFileSync("sh", ["-c", "command -v sync"], { encoding: "utf8", env: { PATH: TOOL_PATH } }).trim();
  execFileSync("mount", ["--bind", path.join(bin, "sync"), real]);
  try {
    const r = await withTimeout(flushTree(from, to), 10_000, "flush");
    assert.equal({ copied: r.copied, problems: r.problems }, { copied: 2, problems: [] });
  } finally {
    execFileSync("umount", [real]);
  }
  assert.match(await fs.readFile(path.join(bin, "asked"), "utf8"), /--file-system/);
  assert.is(await fs.readFile(path.join(to, "new/sub/y"), "utf8"), "y");
  assert.is(await fs.readFile(path.join(to, "old/z"), "utf8"), "new z");
  assert.equal((await fs.readdir(to)).sort(), ["new", "old"]);
  assert.equal(await fs.readdir(path.join(to, "old")), ["z"]);
});

test("a symlink where a directory should be is reported and nothing is written through it", async () => {
  const from = path.join(root, "s"),
    to = path.join(root, "t"),
    outside = path.join(root, "outside");
  await fs.mkdir(path.join(from, "d"), { recursive: true });
  await fs.writeFile(path.join(from, "d/x"), "x");
  await fs.mkdir(to);
  await fs.mkdir(outside);
  await fs.symlink(outside, path.join(to, "d"));
  const r = await withTimeout(flushTree(from, to), 10_000, "flush");
  assert.is(r.problems.length, 1);
  assert.match(r.problems[0] ?? "", /symlink/);
  assert.equal(await fs.readdir(outside), []);
});

test("root's copies: set-id, sticky and group/other write bits dropped, in new folders and existing ones; unchanged next time", async () => {
  const from = path.join(root, "sid"),
    to = path.join(root, "sid-to");
  await fs.mkdir(path.join(from, "old"), { recursive: true });
  await fs.mkdir(path.join(from, "new"));
  for (const d of ["old", "new"]) {
    await fs.writeFile(path.join(from, d, "suid"), "x");
    await fs.chmod(path.join(from, d, "suid"), 0o6755);
    await fs.writeFile(path.join(from, d, "open"), "y");
    await fs.chmod(path.join(from, d, "open"), 0o1666);
  }
  await fs.chmod(path.join(from, "new"), 0o3777);
  await fs.mkdir(path.join(to, "old"), { recursive: true });
  const r1 = await withTimeout(flushTree(from, to), 10_000, "flush");
  assert.equal({ copied: r1.copied, problems: r1.problems }, { copied: 4, problems: [] });
  const mode = async (p: string) => (await fs.stat(path.join(to, p))).mode & 0o7777;
  assert.equal(
    [await mode("old/suid"), await mode("old/open"), await mode("new/suid"), await mode("new/open"), await mode("new")],
    [0o755, 0o644, 0o755, 0o644, 0o755],
  );
  // the copy's mode is what the source's becomes: not a change to copy again
  const r2 = await withTimeout(flushTree(from, to), 10_000, "flush");
  assert.equal({ copied: r2.copied, skipped: r2.skipped }, { copied: 0, skipped: 4 });
});

test("a target folder another user could change (group/other-writable, or not ours) is reported and not written under", async () => {
  const from = path.join(root, "u"),
    to = path.join(root, "u-to");
  await fs.mkdir(path.join(from, "w"), { recursive: true });
  await fs.mkdir(path.join(from, "o"), { recursive: true });
  await fs.writeFile(path.join(from, "w/x"), "x");
  await fs.writeFile(path.join(from, "o/x"), "x");
  await fs.mkdir(path.join(to, "w"), { recursive: true });
  await fs.chmod(path.join(to, "w"), 0o777);
  await fs.mkdir(path.join(to, "o"));
  await fs.chown(path.join(to, "o"), 4242, 4242);
  const r = await withTimeout(flushTree(from, to), 10_000, "flush");
  assert.equal(r.problems.sort(), [
    `flush: ${path.join(to, "o")} is owned by uid 4242; not writing under it`,
    `flush: ${path.join(to, "w")} is writable by its group or others (mode 0777); not writing under it`,
  ]);
  assert.equal(await fs.readdir(path.join(to, "w")), []);
  assert.equal(await fs.readdir(path.join(to, "o")), []);
});

test("hashes: each file mirrored, copied or unchanged, by its path under the prefix; symlinks and FIFOs neither copied nor hashed", async () => {
  const from = path.join(root, "h"),
    to = path.join(root, "h-to");
  await fs.mkdir(path.join(from, "d"), { recursive: true });
  await fs.writeFile(path.join(from, "a"), "a");
  await fs.writeFile(path.join(from, "d/b"), "b");
  await fs.symlink(path.join(from, "a"), path.join(from, "link"));
  execFileSync("mkfifo", [path.join(from, "fifo")]);
  const sha = (s: string) => createHash("sha256").update(s).digest("hex");
  const want = { "p/a": sha("a"), "p/d/b": sha("b") };
  for (const run of [1, 2]) {
    const into: Record<string, string> = {};
    const r = await withTimeout(
      flushTree(from, to, () => {}, { into, prefix: "p" }),
      10_000,
      "flush",
    );
    assert.equal(r.problems, []);
    assert.equal(into, want, `run ${run}`);
  }
  assert.equal((await fs.readdir(to)).sort(), ["a", "d"]);
});

test.run();
