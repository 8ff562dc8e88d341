// `foyerd keep` (initramfs-tools, no service manager): it holds Plymouth's sockets while foyerd
// starts again, so the real `plymouth` client that connects in between waits for the new foyerd
// instead of failing (askpass would then ask on the console); foyerd gets them as systemd's socket
// activation passes them, and marks them close-on-exec so the greeter never inherits them; the
// restart stops after five failed starts; SIGTERM ends foyerd and the keeper.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { pollUntil, requirePrivateAskDir, requireTool, top } from "../helpers/index.js";

requireTool("plymouth", "plymouth");
requirePrivateAskDir();

function keeper(args: string[]): { proc: ChildProcess; out: () => string; pidFile: string } {
  const dir = mkdtempSync(join(tmpdir(), "foyer-keeper-"));
  const pidFile = join(dir, "foyerd.pid");
  const proc = spawn(process.execPath, [join(top, "dist/foyerd.mjs"), "keep", "--", ...args], {
    env: { ...process.env, FOYER_MAIN: "foyerd", FOYER_KEEPER_PIDFILE: pidFile },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  proc.stderr!.on("data", (d: Buffer) => (out += d.toString()));
  return { proc, out: () => out, pidFile };
}

const exited = (p: ChildProcess) => new Promise<number | null>((r) => (p.exitCode !== null ? r(p.exitCode) : p.once("exit", (c) => r(c))));
const ping = () => spawnSync("plymouth", ["--ping"], { timeout: 30_000 }).status;

test("foyerd killed: the keeper starts it again on the same sockets, and a ping in between waits for it", async () => {
  const k = keeper(["--profile", "headless", "--runtime-dir", mkdtempSync(join(tmpdir(), "foyer-keeper-rt-")), "--cmdline", "/dev/null", "--bus", "none"]);
  try {
    await pollUntil(() => (k.out().match(/socket activation/g) ?? []).length === 2, 30_000, "foyerd serving both names on the keeper's fds");
    assert.is(ping(), 0);
    const first = Number(readFileSync(k.pidFile, "utf8"));
    // close-on-exec in foyerd: what it starts (the greeter) must not inherit Plymouth's sockets
    for (const fd of [3, 4]) {
      const flags = /^flags:\s+(\d+)/m.exec(readFileSync(`/proc/${first}/fdinfo/${fd}`, "utf8"))?.[1];
      assert.ok(flags && (parseInt(flags, 8) & 0o2000000) !== 0, `fd ${fd} of foyerd is not close-on-exec (flags ${flags})`);
    }
    process.kill(first, "SIGKILL");
    // at once, before the new foyerd listens: without the keeper this fails (nobody on the name)
    assert.is(ping(), 0, "the ping while foyerd started again");
    const second = Number(readFileSync(k.pidFile, "utf8"));
    assert.is.not(second, first);
    await pollUntil(() => /foyer keeper: foyerd ended \(SIGKILL\): starting it again/.test(k.out()), 10_000, "the keeper saying it started foyerd again");
    // SIGTERM: foyerd stops, the keeper ends with it and starts nothing
    k.proc.kill("SIGTERM");
    assert.is(await exited(k.proc), 0);
    assert.not.ok(existsSync(`/proc/${second}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${second}/status`, "utf8")), "foyerd outlived its keeper");
    assert.is.not(ping(), 0, "the names outlived the keeper");
  } finally {
    k.proc.kill("SIGKILL");
    // a failed assertion must not leave a foyerd behind (the runner waits for its output to end)
    const left = Number(readFileSync(k.pidFile, "utf8"));
    if (left) spawnSync("kill", ["-KILL", String(left)]);
  }
});

test("a foyerd that cannot start: five starts, then the keeper gives up and says so", async () => {
  const k = keeper(["--no-such-option"]);
  assert.is(await exited(k.proc), 1);
  assert.is((k.out().match(/starting it again/g) ?? []).length, 4);
  assert.match(k.out(), /foyerd failed 5 times \(status 2\): passphrases are asked on the console/);
});

test.run();
