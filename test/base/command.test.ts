// base/command's run, with real children: the timeout kills, the capture is bounded and the child
// is drained, stdin gets the exact bytes, the environment is TOOL_PATH's and nothing of ours, and
// each failure names the command and the errno with its syscall, the exit code or the signal.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, rmSync, openSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { randomBytes } from "node:crypto";
import { run, runOk, exitError, TOOL_PATH } from "../../src/base/command.js";
import { FoyerError, describe } from "../../src/base/errors.js";
import { withTimeout } from "../../src/base/timeout.js";
import { pollUntil } from "../helpers/index.js";

const dir = mkdtempSync(join(tmpdir(), "foyer-command-"));
test.after(() => rmSync(dir, { recursive: true, force: true }));

const rejection = (p: Promise<unknown>) =>
  withTimeout(
    p.then(
      () => assert.unreachable("it resolved"),
      (e: unknown) => e,
    ),
    10_000,
    "the run",
  );

const gone = (pid: number) => {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "ESRCH";
  }
};

test("a command past its timeout is SIGKILLed and the run rejects with 'timeout', naming it", async () => {
  const pidFile = join(dir, "pid");
  const started = Date.now();
  // the shell ignores SIGTERM: only SIGKILL ends it
  const e = await rejection(run(["sh", "-c", `trap '' TERM; echo $$ > ${pidFile}; while :; do sleep 1; done`], { timeoutMs: 300 }));
  assert.instance(e, FoyerError);
  assert.is((e as FoyerError).code, "timeout");
  assert.match((e as FoyerError).message, /'sh' ran past 300 ms and was killed/);
  assert.ok(Date.now() - started < 5_000, "not waited for");
  const pid = Number(readFileSync(pidFile, "utf8"));
  await pollUntil(() => gone(pid), 5_000, "the killed shell gone");
});

test("stdout and stderr are kept up to maxOutput each, the rest drained, and it says so", async () => {
  const r = await withTimeout(
    run(["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' a; head -c 200000 /dev/zero | tr '\\0' b >&2; exit 0"], { timeoutMs: 20_000, maxOutput: 1000 }),
    30_000,
    "the run",
  );
  assert.is(r.code, 0, "the child was not blocked on a full pipe");
  assert.is(r.stdout.length, 1000);
  assert.is(r.stderr.length, 1000);
  assert.ok(r.stdout.every((b) => b === 0x61) && r.stderr.every((b) => b === 0x62));
  assert.ok(r.truncated);
  const small = await run(["sh", "-c", "printf abc; printf def >&2"], { timeoutMs: 10_000, maxOutput: 1000 });
  assert.equal([small.stdout.toString(), small.stderr.toString(), small.truncated], ["abc", "def", false]);
  const none = await run(["sh", "-c", "printf abc"], { timeoutMs: 10_000, maxOutput: 0 });
  assert.equal([none.stdout.length, none.truncated, none.code], [0, true, 0]);
});

test("stdin gets the input's exact bytes (every byte value, 1 MiB); the input is left to the caller to zero", async () => {
  const input = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(1 << 20)]);
  const copy = Buffer.from(input);
  const r = await withTimeout(run(["cat"], { input, timeoutMs: 20_000, maxOutput: 2 << 20 }), 30_000, "cat");
  assert.is(r.code, 0);
  assert.ok(r.stdout.equals(copy), "the bytes came back as they went");
  assert.ok(input.equals(copy), "run does not touch the input");
  // no input: stdin is /dev/null, read as an empty file
  const empty = await run(["wc", "-c"], { timeoutMs: 10_000 });
  assert.is(empty.stdout.toString().trim(), "0");
  // a tool that exits before reading is no error of ours: its exit code tells
  const early = await run(["sh", "-c", "exit 4"], { input: Buffer.alloc(1 << 20, 1), timeoutMs: 10_000 });
  assert.is(early.code, 4);
});

test("the environment: TOOL_PATH, a UTF-8 C locale and what is given; nothing of foyerd's own", async () => {
  process.env.FOYER_COMMAND_LEAK = "x";
  try {
    const r = await run(["/usr/bin/env"], { timeoutMs: 10_000, env: { EXTRA: "a b" } });
    assert.equal(r.stdout.toString().trim().split("\n").sort(), ["EXTRA=a b", "LANG=C.UTF-8", `PATH=${TOOL_PATH}`]);
  } finally {
    delete process.env.FOYER_COMMAND_LEAK;
  }
});

test("failures name the command, the errno and its syscall, the exit code or the signal", async () => {
  const missing = await rejection(run(["/nonexistent/tool", "x"], { timeoutMs: 10_000 }));
  assert.instance(missing, FoyerError);
  assert.is((missing as FoyerError).code, "spawn-failed");
  assert.is((missing as FoyerError).message, "cannot run '/nonexistent/tool': ENOENT (spawn /nonexistent/tool)");
  const notOnPath = await rejection(run(["foyer-no-such-tool"], { timeoutMs: 10_000 }));
  assert.is((notOnPath as FoyerError).message, "cannot run 'foyer-no-such-tool': ENOENT (spawn foyer-no-such-tool)");

  const exited = await run(["sh", "-c", "echo why >&2; exit 3"], { timeoutMs: 10_000 });
  assert.equal([exited.code, exited.signal, exited.stderr.toString()], [3, null, "why\n"]);
  assert.is(exitError(exited)!.message, "'sh' exited 3");
  const killed = await run(["sh", "-c", "kill -TERM $$"], { timeoutMs: 10_000 });
  assert.equal([killed.code, killed.signal], [null, "SIGTERM"]);
  assert.is(exitError(killed)!.message, "'sh' was killed by SIGTERM");
  assert.is(exitError(await run(["true"], { timeoutMs: 10_000 })), undefined);
  const e = await rejection(runOk(["sh", "-c", "exit 2"], { timeoutMs: 10_000 }));
  assert.is((e as FoyerError).message, "'sh' exited 2");
});

test("describe keeps a system error's syscall and path", () => {
  try {
    openSync(join(dir, "none"), "r");
    assert.unreachable();
  } catch (e) {
    assert.is(describe(e), `ENOENT (open '${join(dir, "none")}')`);
  }
  assert.is(describe(Object.assign(new Error("x"), { code: "EBUSY" })), "EBUSY");
});

test.run();
