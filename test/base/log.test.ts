// The logger writes the same lines before winston is loaded (foyerd's first ~100 ms: records go to
// the sinks directly) and after (winston routes them): same format, same level filter, same
// children, in order, into a real file.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { createLogger, type RootLogger } from "../../src/base/log.js";
import { Secret } from "../../src/base/secret.js";

function records(log: RootLogger, round: string): void {
  log.info(`${round}: started`, { pid: 42, path: "/run/foyer" });
  log.debug(`${round}: not at info`);
  const child = log.child("greeter").child("server");
  child.warning(`${round}: refusing`, { tokenPresent: false, err: "bad\nline" });
  child.info(`${round}: answer`, { bytes: 7, secret: Secret.copyOf(Buffer.from("hunter2")) });
  log.setLevel("debug");
  log.debug(`${round}: now at debug`);
  log.setLevel("info");
  log.error(`${round}: done`);
}

test("the same lines before and after winston takes over", async () => {
  const dir = mkdtempSync(join(tmpdir(), "foyer-log-"));
  try {
    const file = join(dir, "log/foyerd.log");
    const log = createLogger({ level: "info", file, kmsg: false, stderr: false });
    records(log, "R");
    const direct = readFileSync(file, "utf8");
    await log.useWinston();
    records(log, "R");
    await log.close();
    const all = readFileSync(file, "utf8");
    const strip = (s: string) =>
      s
        .split("\n")
        .filter(Boolean)
        .map((l) => l.replace(/^\S+ /, ""));
    const before = strip(direct),
      after = strip(all.slice(direct.length));
    assert.equal(before, [
      "info R: started pid=42 path=/run/foyer",
      "warning greeter/server: R: refusing tokenPresent=false err=bad\\nline",
      "info greeter/server: R: answer bytes=7 secret=Secret([redacted])",
      "debug R: now at debug",
      "error R: done",
    ]);
    assert.equal(after, before, "winston wrote other lines than the direct path");
    assert.not.ok(all.includes("hunter2"));
    for (const l of all.split("\n").filter(Boolean)) assert.match(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z /);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("closing without winston closes the file", async () => {
  const dir = mkdtempSync(join(tmpdir(), "foyer-log-"));
  try {
    const file = join(dir, "foyerd.log");
    const log = createLogger({ level: "info", file, kmsg: false, stderr: false });
    log.info("one");
    await log.close();
    log.info("after close"); // a closed file: dropped, never thrown
    assert.equal(
      readFileSync(file, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => l.replace(/^\S+ /, "")),
      ["info one"],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const kmsgFds = () =>
  readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === "/dev/kmsg";
    } catch {
      return false;
    }
  }).length;

test("kmsg 'auto': opened when writable, not when stderr is the journal's (journald reads kmsg too)", async () => {
  const before = kmsgFds();
  const saved = process.env.JOURNAL_STREAM;
  try {
    delete process.env.JOURNAL_STREAM;
    const plain = createLogger({ level: "error", kmsg: "auto", stderr: false });
    assert.is(kmsgFds(), before + 1, "auto without the journal: /dev/kmsg not opened (run as root)");
    await plain.close();
    process.env.JOURNAL_STREAM = "8:12345";
    const journal = createLogger({ level: "error", kmsg: "auto", stderr: false });
    assert.is(kmsgFds(), before, "auto with stderr in the journal: /dev/kmsg opened");
    await journal.close();
  } finally {
    if (saved === undefined) delete process.env.JOURNAL_STREAM;
    else process.env.JOURNAL_STREAM = saved;
  }
});

test.run();
