// The watchdog pings of src/launch/notify.ts: what the environment asks for (pure), and the pings
// themselves arriving as datagrams on a real AF_UNIX socket bound here. The service manager's side
// (systemd killing a foyerd that stops pinging, and starting it again) is
// test/robust/watchdog.test.ts, against a real systemd.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { watchdogFromEnv, startWatchdog } from "../../src/launch/notify.js";
import { collectingLogger, pollUntil } from "../helpers/index.js";

test("the environment: nothing asked, another process's watchdog, bad values, unsupported sockets", () => {
  assert.is(watchdogFromEnv({}, 7), undefined);
  assert.is(watchdogFromEnv({ NOTIFY_SOCKET: "/run/systemd/notify" }, 7), undefined, "a socket alone is no watchdog");
  assert.is(watchdogFromEnv({ NOTIFY_SOCKET: "/n", WATCHDOG_USEC: "20000000", WATCHDOG_PID: "8" }, 7), undefined, "meant for PID 8");
  assert.equal(watchdogFromEnv({ NOTIFY_SOCKET: "/n", WATCHDOG_USEC: "20000000", WATCHDOG_PID: "7" }, 7), { socket: "/n", everyMs: 10_000 });
  assert.equal(watchdogFromEnv({ NOTIFY_SOCKET: "/n", WATCHDOG_USEC: "3000000" }, 7), { socket: "/n", everyMs: 1500 });
  assert.equal(watchdogFromEnv({ NOTIFY_SOCKET: "/n", WATCHDOG_USEC: "1" }, 7), { socket: "/n", everyMs: 10 }, "never a busy loop");
  for (const usec of ["", "0", "-5", "1e6", "20s", "99999999999999999999", " 5"]) {
    const r = watchdogFromEnv({ NOTIFY_SOCKET: "/n", WATCHDOG_USEC: usec }, 7);
    assert.ok(r && "problem" in r && r.problem.includes("WATCHDOG_USEC"), `${JSON.stringify(usec)}: ${JSON.stringify(r)}`);
  }
  const none = watchdogFromEnv({ WATCHDOG_USEC: "100" }, 7);
  assert.ok(none && "problem" in none && none.problem.includes("NOTIFY_SOCKET is not"), JSON.stringify(none));
  for (const s of ["@/org/freedesktop/systemd1/notify", "vsock:2:1234", "relative/path"]) {
    const r = watchdogFromEnv({ NOTIFY_SOCKET: s, WATCHDOG_USEC: "100" }, 7);
    assert.ok(r && "problem" in r && r.problem.includes("not a socket path"), `${s}: ${JSON.stringify(r)}`);
  }
});

test("pings arrive on a real datagram socket, the variables leave the environment, and stop() ends them", async () => {
  const dir = mkdtempSync(join(tmpdir(), "foyer-notify-"));
  const path = join(dir, "notify");
  const unix = createRequire(import.meta.url)("unix-dgram") as { createSocket(t: string, cb: (m: Buffer) => void): { bind(p: string): void; close(): void } };
  const got: string[] = [];
  const sock = unix.createSocket("unix_dgram", (m) => got.push(m.toString()));
  sock.bind(path);
  const lines: string[] = [];
  const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: path, WATCHDOG_USEC: "100000", WATCHDOG_PID: String(process.pid), KEEP: "1" };
  const w = startWatchdog(collectingLogger(lines), env);
  try {
    assert.ok(w, lines.join("\n"));
    assert.equal(env, { KEEP: "1" }, "what foyerd starts must not ping on its behalf");
    await pollUntil(() => got.length >= 3, 5000, "three pings");
    assert.ok(
      got.every((m) => m === "WATCHDOG=1"),
      JSON.stringify(got),
    );
    w!.stop();
    const n = got.length;
    await new Promise((r) => setTimeout(r, 300));
    assert.is(got.length, n, "no ping after stop()");
    assert.equal(
      lines.filter((l) => !l.startsWith("info")),
      [],
    );
  } finally {
    w?.stop();
    sock.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a socket that is gone: one warning, the pings go on; a watchdog it cannot serve is an error line", async () => {
  const lines: string[] = [];
  const w = startWatchdog(collectingLogger(lines), { NOTIFY_SOCKET: "/nonexistent/notify", WATCHDOG_USEC: "20000" }, 7);
  await new Promise((r) => setTimeout(r, 100));
  w?.stop();
  assert.ok(w);
  assert.is(lines.filter((l) => l.startsWith("warning") && l.includes("ENOENT")).length, 1, lines.join("\n"));
  const bad: string[] = [];
  assert.is(startWatchdog(collectingLogger(bad), { NOTIFY_SOCKET: "@abstract", WATCHDOG_USEC: "20000" }, 7), undefined);
  assert.match(bad.join("\n"), /^error .*cannot be served: NOTIFY_SOCKET '@abstract' is not a socket path/m);
});

test.run();
