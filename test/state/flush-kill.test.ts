// The flush SIGKILLed at random points over ≥ 2,000 files and ≥ 50 MB: after the kills each target
// file is byte-equal to its old or its new version (or absent if it had no old one: some whole
// folders are new, and flush.ts renames those into place at once), and a rerun
// completes the mirror with no temp file left. Kills come in chains (a flush resumed after a kill is
// killed again) so later kills also land in a flush that skips what an earlier run already copied.
// It runs the bundle (what ships; no tsx start-up per kill) and checks the target every few kills
// and at the end of every chain. The suite does 200 kills, checked every 4; each one checked:
//   FOYER_FLUSH_VERIFY_EVERY=1 node test/run.mjs test/state/flush-kill
import { test } from "uvu";
import * as assert from "uvu/assert";
import { promises as fs } from "node:fs";
import { spawn, execFileSync } from "node:child_process";
import { createHash, randomBytes, randomInt } from "node:crypto";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { withTimeout } from "../../src/base/timeout.js";
import { TEMP_PREFIX } from "../../src/state/flush.js";

const top = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const KILLS = Number(process.env.FOYER_FLUSH_KILLS ?? 60),
  FILES = 2000,
  CHAIN = 5,
  VERIFY_EVERY = Number(process.env.FOYER_FLUSH_VERIFY_EVERY ?? 4);
const bundle = path.join(top, "dist/foyerd.mjs");
let root = "";
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
interface Entry {
  rel: string;
  oldHash: string | null;
  newHash: string;
  mode: number;
}
const entries: Entry[] = [];

test.before(async () => {
  // the bundle must be what the sources say (a no-op when it is fresh)
  execFileSync(process.execPath, [path.join(top, "packaging/dev/build.mjs"), "--if-stale"], { stdio: "inherit" });
  root = await fs.mkdtemp(path.join(os.tmpdir(), "foyer-kill-"));
  // a tmpfs of our own: the tree is big and the suite's namespace drops it on exit anyway
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=768m", "foyer-kill", root]);
  for (const d of ["src", "old"]) await fs.mkdir(path.join(root, d));
  let total = 0;
  for (let i = 0; i < FILES; i++) {
    // some folders are new on this boot (flush.ts builds them under a temp name): nothing of them is old
    const fresh = i % 41 === 0;
    const rel = fresh ? path.join(`n${i % 3}`, `e${i % 5}`, `f${i}`) : path.join(`d${i % 37}`, `e${i % 5}`, `f${i}`);
    // mostly small files, a few MB-sized ones so a kill often lands inside one write
    const size = i % 100 === 0 ? 1_500_000 + randomInt(500_000) : randomInt(1, 25_000);
    const nu = randomBytes(size),
      mode = [0o600, 0o640, 0o644][i % 3]!;
    total += size;
    for (const d of fresh ? ["src"] : ["src", "old"]) await fs.mkdir(path.join(root, d, path.dirname(rel)), { recursive: true });
    await fs.writeFile(path.join(root, "src", rel), nu, { mode });
    await fs.chmod(path.join(root, "src", rel), mode);
    // every 10th file is new on this boot: its "old version" is absence
    let oldHash: string | null = null;
    if (i % 10 !== 0 && !fresh) {
      const old = randomBytes(randomInt(1, 25_000));
      await fs.writeFile(path.join(root, "old", rel), old);
      oldHash = sha(old);
    }
    entries.push({ rel, oldHash, newHash: sha(nu), mode });
  }
  await fs.writeFile(path.join(root, "old", "only-on-disk"), "keep");
  assert.ok(total >= 50 * 1024 * 1024, `tree is ${total} bytes`);
});
test.after(async () => {
  try {
    execFileSync("umount", [root]);
  } catch {
    /* already gone */
  }
  await fs.rm(root, { recursive: true, force: true });
});

function runFlush(killAfterMs: number | null): Promise<{ code: number | null; signal: string | null; ms: number }> {
  const t0 = performance.now();
  const p = spawn(process.execPath, [bundle, "flush", "--from", path.join(root, "src"), "--to", path.join(root, "dst")], {
    env: { ...process.env, FOYER_MAIN: "foyerd" },
    stdio: "ignore",
  });
  const timer = killAfterMs === null ? null : setTimeout(() => p.kill("SIGKILL"), killAfterMs);
  return new Promise((res) =>
    p.on("exit", (code, signal) => {
      if (timer) clearTimeout(timer);
      res({ code, signal, ms: performance.now() - t0 });
    }),
  );
}

async function check(final: boolean): Promise<{ torn: number; missing: number; temps: number }> {
  let torn = 0,
    missing = 0,
    temps = 0;
  for (const e of entries) {
    const p = path.join(root, "dst", e.rel);
    const b = await fs.readFile(p).catch(() => null);
    if (b === null) {
      if (final || e.oldHash !== null) missing++;
      continue;
    }
    const h = sha(b);
    if (h !== e.newHash && (final || h !== e.oldHash)) torn++;
    if (final && ((await fs.stat(p)).mode & 0o777) !== e.mode) torn++;
  }
  const walk = async (d: string): Promise<void> => {
    for (const x of await fs.readdir(d, { withFileTypes: true })) {
      if (x.name.startsWith(TEMP_PREFIX)) temps++;
      else if (x.isDirectory()) await walk(path.join(d, x.name));
    }
  };
  if (final) await walk(path.join(root, "dst"));
  return { torn, missing, temps };
}

async function resetTarget(): Promise<void> {
  await fs.rm(path.join(root, "dst"), { recursive: true, force: true });
  execFileSync("cp", ["-a", path.join(root, "old"), path.join(root, "dst")]);
}

test(`SIGKILLed ${KILLS} times at random points: every file old or new, rerun completes, no temps`, async () => {
  // uninterrupted runs set the range the kill delays are drawn from (process start-up included):
  // the fastest of three, as a loaded machine makes a run slower, never faster, and kills drawn
  // past a slow run's end would land after most flushes had finished
  let full = { code: null as number | null, ms: Infinity };
  for (let i = 0; i < 3; i++) {
    await resetTarget();
    const r = await withTimeout(runFlush(null), 120_000, "full flush");
    assert.is(r.code, 0);
    if (r.ms < full.ms) full = r;
  }
  let kills = 0,
    killedMidway = 0,
    torn = 0,
    missing = 0,
    checks = 0;
  while (kills < KILLS) {
    await resetTarget();
    for (let c = 0; c < CHAIN && kills < KILLS; c++) {
      const r = await withTimeout(runFlush(randomInt(Math.ceil(full.ms * 1.1))), 120_000, "killed flush");
      kills++;
      if (r.signal === "SIGKILL") killedMidway++;
      // a torn file would be repaired by the next run and never seen: check the last kill of
      // every chain and every few kills inside one
      if (c === CHAIN - 1 || kills === KILLS || kills % VERIFY_EVERY === 0) {
        const k = await check(false);
        torn += k.torn;
        missing += k.missing;
        checks++;
      }
    }
    const done = await withTimeout(runFlush(null), 120_000, "rerun");
    assert.is(done.code, 0, "the rerun completes");
    const f = await check(true);
    assert.equal(f, { torn: 0, missing: 0, temps: 0 });
    assert.is(await fs.readFile(path.join(root, "dst", "only-on-disk"), "utf8"), "keep");
  }
  console.log(
    `kill test: ${kills} kills (${killedMidway} before the flush finished), ${checks} checks, full flush ${full.ms.toFixed(0)} ms, torn ${torn}, missing ${missing}`,
  );
  assert.is(torn, 0);
  assert.is(missing, 0);
  // a kill test whose kills all came too late would prove nothing
  assert.ok(killedMidway >= KILLS / 2, `${killedMidway} kills landed before the flush finished`);
});

test.run();
