// Reliability check 14 (and 12, 4): 10,000 malformed ask files — no Socket, duplicate keys,
// control characters, invalid UTF-8, huge lines, a 100 MB file, symlinks, FIFOs, files that
// vanish, sockets that are not root's or not in the directory — thrown at the real agent: no
// crash, no stall over 1 s, one log line per bad file, and a real request among them still
// answered. Also 1,000 stale sck.* sockets and dead-PID/expired asks.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { writeFileSync, symlinkSync, rmSync, readdirSync, openSync, ftruncateSync, closeSync, unlinkSync, chownSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { PasswordAgent, type PendingPrompt } from "../../src/agents/password-agent.js";
import { Secret } from "../../src/base/secret.js";
import type { Logger } from "../../src/base/log.js";
import { askPassword, killAskers, requirePrivateAskDir, requireTool, withTimeout, ASK_DIR } from "../helpers/index.js";
import { fuzzRandom } from "../helpers/random.js";

requireTool("systemd-ask-password", "systemd");
requirePrivateAskDir();

const random = fuzzRandom("ask-fuzz", 0x5eed);
const rnd = random.int;
const randBytes = random.bytes;

function malformed(i: number): Buffer {
  const sck = join(ASK_DIR, "sck.real");
  const kinds: (() => string | Buffer)[] = [
    () => "[Ask]\nMessage=no socket\n",
    () => `[Ask]\nSocket=${sck}\nSocket=/tmp/evil\n`,
    () => `[Ask]\nSocket=${sck}\nPID=${rnd(10) - 5}x\n`,
    () => `[Ask]\nSocket=${sck}\nMessage=\x00\x01\x02\n`,
    () => Buffer.concat([Buffer.from(`[Ask]\nSocket=${sck}\nMessage=`), randBytes(64), Buffer.from("\n")]),
    () => `[Ask]\nSocket=${sck}\nMessage=${"A".repeat(70_000)}\n`,
    () => `[Ask\nSocket=${sck}\n`,
    () => `[Ask]\nSocket=relative/sck\n`,
    () => `[Ask]\nSocket=/tmp/elsewhere/sck.x\n`,
    () => `[Ask]\nSocket=${sck}\nEcho=sometimes\n`,
    () => `[Ask]\nSocket=${sck}\nNotAfter=-1\n`,
    () => `[Ask]\nSocket=${sck}\nNotAfter=1\nMessage=expired long ago\n`,
    () => `[Ask]\nSocket=${sck}\nPID=999999999\nMessage=dead asker\n`,
    () => `[Ask]\ngarbage line\nSocket=${sck}\n`,
    () => randBytes(rnd(512)),
    () => `[Ask]\nSocket=${join(ASK_DIR, "sck.nobody")}\nMessage=not root's socket\n`,
    () => `[Ask]\nSocket=${join(ASK_DIR, "sck.missing")}\nMessage=missing socket\n`,
    () => `[Ask]\nSocket=${join(ASK_DIR, "sck.regular")}\nMessage=a regular file\n`,
  ];
  const v = kinds[i % kinds.length]!();
  return typeof v === "string" ? Buffer.from(v) : v;
}

test("10,000 malformed ask files: no crash, no stall, a real request still answered", async () => {
  for (const f of readdirSync(ASK_DIR)) rmSync(join(ASK_DIR, f), { recursive: true, force: true });
  // sockets for the checks: root's in the dir, one owned by nobody, a regular file named like one
  const servers = [createServer(), createServer()];
  await new Promise<void>((r) => servers[0]!.listen(join(ASK_DIR, "sck.real"), r));
  await new Promise<void>((r) => servers[1]!.listen(join(ASK_DIR, "sck.nobody"), r));
  chownSync(join(ASK_DIR, "sck.nobody"), 65534, 65534);
  writeFileSync(join(ASK_DIR, "sck.regular"), "");
  // 1,000 stale sck.* leftovers of dead askers
  for (let i = 0; i < 1000; i++) writeFileSync(join(ASK_DIR, `sck.stale${i}`), "");

  const warnings: string[] = [];
  let stall = 0;
  let last = performance.now();
  const beat = setInterval(() => {
    const now = performance.now();
    stall = Math.max(stall, now - last - 50);
    last = now;
  }, 50);
  const log: Logger = { error: (m) => warnings.push(m), warning: (m) => warnings.push(m), notice() {}, info() {}, debug() {}, child: () => log };
  let latest: PendingPrompt[] = [];
  const agent = new PasswordAgent({ askDir: ASK_DIR, log, onChange: (p) => (latest = p) });
  agent.start();

  const TOTAL = 10_000;
  let written = 0;
  for (let batch = 0; batch < TOTAL / 200; batch++) {
    for (let j = 0; j < 200; j++, written++) {
      const name = join(ASK_DIR, `ask.fuzz${written}`);
      if (written % 997 === 0) symlinkSync("/etc/shadow", name);
      else if (written % 991 === 0) spawnSync("mkfifo", [name]);
      else writeFileSync(name, malformed(written));
    }
    agent.scan(); // as an fs.watch event would: every file of the batch is looked at
    await new Promise((r) => setImmediate(r));
    // files that vanish between the event and the read
    for (let j = 0; j < 20; j++) rmSync(join(ASK_DIR, `ask.fuzz${written - 1 - j * 7}`), { force: true });
    // the directory is capped at 256 looked-at files: clear it as an asker would after an answer
    for (const f of readdirSync(ASK_DIR)) if (f.startsWith("ask.fuzz")) unlinkSync(join(ASK_DIR, f));
  }
  // a 100 MB ask file (sparse) and a real request at the end
  const fd = openSync(join(ASK_DIR, "ask.huge"), "w");
  ftruncateSync(fd, 100 * 1024 * 1024);
  closeSync(fd);
  const real = askPassword("Still here after the fuzz?");
  await withTimeout(
    (async () => {
      while (!latest.some((p) => p.request.message === "Still here after the fuzz?")) await new Promise((r) => setTimeout(r, 20));
    })(),
    15_000,
    "the real request seen",
  );
  const p = latest.find((x) => x.request.message === "Still here after the fuzz?")!;
  const s = Secret.copyOf(Buffer.from("fuzzed"));
  agent.answer(p.key, s);
  s.wipe();
  assert.is((await withTimeout(real.result, 10_000)).out.toString(), "fuzzed\n");
  clearInterval(beat);
  agent.stop();
  killAskers();
  for (const srv of servers) srv.close();
  console.log(`${TOTAL} fuzzed ask files: ${warnings.length} warnings, longest event-loop stall ${stall.toFixed(0)} ms`);
  assert.ok(stall < 1000, `the event loop stalled ${stall.toFixed(0)} ms`);
  // every kind but the expired and dead-PID ones (debug lines) is a warning: about 16 in 18
  assert.ok(warnings.length >= 8_000, `only ${warnings.length} warnings for ${TOTAL} bad files`);
  assert.ok(
    warnings.some((w) => w.includes("not owned by root")),
    "a socket not owned by root was refused",
  );
  assert.ok(
    warnings.some((w) => w.includes("not a socket")),
    "a regular file as Socket= was refused",
  );
  assert.ok(
    warnings.some((w) => w.includes("larger than")),
    "the 100 MB file was refused",
  );
  assert.ok(
    warnings.every((w) => w.length < 400),
    "a log line echoed a huge value",
  );
});

test.run();
