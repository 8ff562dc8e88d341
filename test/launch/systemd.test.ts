// The systemd launch backend against a real systemd 252 as PID 1 (systemd-nspawn booting this
// machine's /usr, test/helpers/nspawn.ts): transient units with the spec's user, environment,
// directory and log file, cores off; a killed unit reported as the direct backend reports a
// child; a restart is a new unit; stop escalates to SIGKILL; bad specs give clear errors; the
// bus going away is survived; and the choice of backend ("auto") and systemd's private socket
// (peer-to-peer, no bus daemon) are shown from inside the container.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SystemdContainer, nodeArgv } from "../helpers/nspawn.js";
import { collectingLogger, pollUntil, withTimeout } from "../helpers/index.js";
import { SystemdLink, SystemdLauncher, chooseBackend } from "../../src/launch/systemd.js";
import { unitObjectPath } from "../../src/launch/systemd-bus.js";
import type { LaunchSpec } from "../../src/launch/direct.js";

const FIXTURE = "test/launch/fixtures/in-container.ts";
const c = new SystemdContainer();
const lines: string[] = [];
const log = collectingLogger(lines);
let link: SystemdLink;
let launcher: SystemdLauncher;

function spec(name: string, script: string, extra: Partial<LaunchSpec> = {}): LaunchSpec {
  return { name, argv: ["/bin/sh", "-c", script], env: { PATH: "/usr/bin:/bin" }, logFile: join(c.dir, "log", `${name}.log`), ...extra };
}
const readLog = (name: string) => (existsSync(join(c.dir, "log", `${name}.log`)) ? readFileSync(join(c.dir, "log", `${name}.log`), "utf8") : "");
const show = (unit: string, props: string) => c.exec(["systemctl", "show", "-p", props, unit]).stdout;

test.before(async () => {
  await c.start();
  link = await withTimeout(SystemdLink.open({ address: c.busAddress }, log), 10_000, "connecting to the container's systemd");
  launcher = new SystemdLauncher(link, log, { stopTimeoutMs: 5000 });
});

test.after(async () => {
  link?.close();
  await c.stop();
});

test("a greeter-like unit runs with the spec's user, environment, directory, log file and no cores", async () => {
  const script = 'echo "uid=$(id -u) gid=$(id -g) cwd=$(pwd) core=$(ulimit -c) env=$FOYER_TEST"; echo to-stderr >&2; exec sleep 1000';
  const run = launcher.start(spec("greeter", script, { uid: 65534, gid: 65534, cwd: c.dir, env: { PATH: "/usr/bin:/bin", FOYER_TEST: "a b=c" } }));
  await pollUntil(() => readLog("greeter").includes("to-stderr"), 20_000, "the unit's output");
  const out = readLog("greeter");
  assert.match(out, `uid=65534 gid=65534 cwd=${c.dir} core=0 env=a b=c`);
  assert.match(out, "to-stderr");
  const unit = (run as unknown as { unit: string }).unit;
  assert.match(unit, /^foyer-greeter-\d+-\d+\.service$/);
  const props = show(unit, "KillMode,LimitCORE,Type,User,ActiveState");
  assert.match(props, "KillMode=mixed");
  assert.match(props, "LimitCORE=0");
  assert.match(props, "Type=exec");
  assert.match(props, "ActiveState=active");
  await pollUntil(() => run.pid > 0, 10_000, "MainPID");
  await withTimeout(run.stop(5000), 15_000, "stop");
  assert.equal(await run.exited, { code: null, signal: "SIGTERM" });
});

test("killed from outside: exited reports the signal, the unit's other processes are gone, and a restart is a new unit", async () => {
  const run = launcher.start(spec("killme", "sleep 1000 & echo child=$!; exec sleep 1000"));
  await pollUntil(() => /child=\d+/.test(readLog("killme")), 20_000, "the unit's output");
  await pollUntil(() => run.pid > 0, 10_000, "MainPID");
  const child = /child=(\d+)/.exec(readLog("killme"))![1]!;
  const t0 = performance.now();
  assert.equal(c.exec(["kill", "-KILL", String(run.pid)]).code, 0);
  const x = await withTimeout(run.exited, 30_000, "exited");
  const ms = performance.now() - t0;
  assert.equal(x, { code: null, signal: "SIGKILL" });
  // exited is reported once the unit is inactive, so nothing of it is left running
  assert.is.not(c.exec(["kill", "-0", child]).code, 0, "the background child outlived its unit");
  console.log(`  kill -9 of the main process → exited reported: ${ms.toFixed(0)} ms`);
  const again = launcher.start(spec("killme", "exec sleep 1000"));
  await pollUntil(() => again.pid > 0, 20_000, "the restarted unit's MainPID");
  assert.is.not((again as unknown as { unit: string }).unit, (run as unknown as { unit: string }).unit);
  await withTimeout(again.stop(5000), 15_000, "stop");
});

test("exit codes come through; a missing binary is 127 with a clear line; nothing throws", async () => {
  assert.equal(await withTimeout(launcher.start(spec("three", "exit 3")).exited, 20_000, "exit 3"), { code: 3, signal: null });
  lines.length = 0;
  const missing = launcher.start({ name: "missing", argv: ["/nonexistent/greeter"], env: { PATH: "/usr/bin" }, logFile: join(c.dir, "log", "missing.log") });
  assert.equal(await withTimeout(missing.exited, 20_000, "missing"), { code: 127, signal: null });
  assert.ok(
    lines.some((l) => l.startsWith("error missing failed to start")),
    lines.join("\n"),
  );
});

test("a unit that ignores SIGTERM is killed at the stop deadline", async () => {
  const run = launcher.start(spec("stubborn", "trap '' TERM; echo ready; while :; do sleep 0.2; done"));
  await pollUntil(() => readLog("stubborn").includes("ready"), 20_000, "ready");
  const x = await withTimeout(run.stop(300), 20_000, "stop");
  assert.equal(x, { code: null, signal: "SIGKILL" });
});

test("odd names and environment keys: escaped unit name, refused keys dropped and named", async () => {
  lines.length = 0;
  const run = launcher.start({
    ...spec("x", "echo GOOD=$GOOD"),
    name: "grüße/../x y\n",
    env: { PATH: "/usr/bin:/bin", GOOD: "1", "BAD KEY": "secret-value" },
    logFile: join(c.dir, "log", "odd.log"),
  });
  assert.equal(await withTimeout(run.exited, 20_000, "odd"), { code: 0, signal: null });
  assert.match(readFileSync(join(c.dir, "log", "odd.log"), "utf8"), "GOOD=1");
  const unit = (run as unknown as { unit: string }).unit;
  assert.ok(/^foyer-[A-Za-z0-9:_.\\-]+\.service$/.test(unit), unit);
  // the object path foyer watched is the one systemd uses for it
  const r = c.exec(["busctl", "call", "org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "LoadUnit", "s", unit]);
  assert.is(r.stdout.trim(), `o "${unitObjectPath(unit)}"`, r.stderr);
  const warn = lines.find((l) => l.includes("environment entries systemd would refuse"));
  assert.ok(warn?.includes("'BAD KEY'"), lines.join("\n"));
  assert.not.ok(
    lines.some((l) => l.includes("secret-value")),
    "a value was logged",
  );
});

test("a unit of the same name left by an earlier foyerd is stopped before the first start; other names and our own are kept", async () => {
  for (const u of ["foyer-sweepme-1-1.service", "foyer-sweepme-x-1-1.service"])
    assert.equal(c.exec(["systemd-run", `--unit=${u}`, "sleep", "1000"]).code, 0, u);
  lines.length = 0;
  const run = launcher.start(spec("sweepme", "exec sleep 1000"));
  await pollUntil(() => run.pid > 0, 20_000, "MainPID");
  assert.is.not(c.exec(["systemctl", "is-active", "foyer-sweepme-1-1.service"]).stdout.trim(), "active");
  assert.is(c.exec(["systemctl", "is-active", "foyer-sweepme-x-1-1.service"]).stdout.trim(), "active");
  assert.ok(
    lines.some((l) => l.includes("stopping 'foyer-sweepme-1-1.service', left by an earlier foyerd")),
    lines.join("\n"),
  );
  const second = launcher.start(spec("sweepme", "exec sleep 1000"));
  await pollUntil(() => second.pid > 0, 20_000, "the second MainPID");
  assert.is(c.exec(["systemctl", "is-active", (run as unknown as { unit: string }).unit]).stdout.trim(), "active", "our own unit was stopped");
  await Promise.all([run.stop(5000), second.stop(5000)]);
  c.exec(["systemctl", "stop", "foyer-sweepme-x-1-1.service"]);
});

test("the system bus dies while a unit runs: the link reconnects and the unit's exit still arrives", async () => {
  const run = launcher.start(spec("survivor", "exec sleep 1000"));
  await pollUntil(() => run.pid > 0, 20_000, "MainPID");
  lines.length = 0;
  assert.equal(c.exec(["systemctl", "kill", "-s", "KILL", "dbus.service"]).code, 0);
  await pollUntil(() => lines.some((l) => l.includes("lost systemd's bus")), 20_000, "the loss noticed").catch((e: Error) => {
    throw new Error(
      `${e.message}; the link logged:\n${lines.join("\n")}\nsystemctl status dbus.service:\n${c.exec(["systemctl", "status", "--no-pager", "dbus.service", "dbus.socket"]).stdout}\nlink address ${link.address}, bus closed ${link.bus === undefined}`,
    );
  });
  await pollUntil(() => lines.some((l) => l.includes("systemd's bus is back")), 30_000, "the bus back (socket activation)");
  assert.equal(c.exec(["kill", "-KILL", String(run.pid)]).code, 0);
  assert.equal(await withTimeout(run.exited, 30_000, "exited after the reconnect"), { code: null, signal: "SIGKILL" });
});

test("inside the container: auto picks systemd on the system bus; outside (no systemd as PID 1) it picks direct", async () => {
  const r = c.exec(nodeArgv(FIXTURE, ["choose", "auto"]), { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout.trim().split("\n").pop()!), {
    kind: "systemd",
    address: "unix:path=/run/dbus/system_bus_socket",
    peer: false,
    problem: null,
  });
  const outside = await chooseBackend("auto", log);
  assert.equal(outside.kind, existsSync("/run/systemd/system") ? "systemd" : "direct");
  outside.link?.close();
});

test("systemd's private socket, peer-to-peer (no bus daemon, no Hello): a unit starts and its exit arrives", async () => {
  const r = c.exec(nodeArgv(FIXTURE, ["run", "unix:path=/run/systemd/private", "/bin/sh", "-c", "exit 7"]), { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split("\n").pop()!);
  assert.equal(out.exit, { code: 7, signal: null });
  assert.equal(out.peer, true);
});

/** The fixture's `paused` run: systemd (the container's PID 1) stopped for `pauseMs` as the start is asked. */
async function pausedStart(argv: string[], pauseMs: number): Promise<{ exit: { code: number | null; signal: string | null }; log: string[] }> {
  for (const f of ["foyer-connected", "foyer-go"]) rmSync(join(c.root, "tmp", f), { force: true });
  const r = c.execAsync(nodeArgv(FIXTURE, ["paused", ...argv]), 90_000);
  await pollUntil(() => existsSync(join(c.root, "tmp/foyer-connected")), 60_000, "the fixture connected");
  process.kill(c.pid, "SIGSTOP");
  try {
    writeFileSync(join(c.root, "tmp/foyer-go"), "");
    await new Promise((res) => setTimeout(res, pauseMs));
  } finally {
    process.kill(c.pid, "SIGCONT");
  }
  const out = await r;
  assert.equal(out.code, 0, out.stderr);
  return JSON.parse(out.stdout.trim().split("\n").pop()!);
}

test("a busy systemd (paused 1.5 s) on the private socket, as foyerd connects in an initrd: the start waits for it", async () => {
  const out = await pausedStart(["/bin/sh", "-c", "exit 7"], 1500);
  assert.equal(out.exit, { code: 7, signal: null }, out.log.join("\n"));
  assert.not.ok(
    out.log.some((l) => l.includes("failed to start")),
    out.log.join("\n"),
  );
});

test("a start systemd answers too late (paused 8 s): reported as failed, and the unit it made late is stopped", async () => {
  const out = await pausedStart(["/bin/sh", "-c", "exec sleep 1000"], 8000);
  const log = out.log.join("\n");
  assert.equal(out.exit, { code: 127, signal: null }, log);
  assert.match(log, /did not answer StartTransientUnit within 5000 ms/, log);
  assert.match(log, /stopped 'foyer-paused-\d+-1\.service', whose start systemd did not answer in time/);
  await pollUntil(
    () => !/foyer-paused-/.test(c.exec(["systemctl", "list-units", "--no-legend", "--plain", "foyer-paused-*"]).stdout),
    20_000,
    "the late unit gone",
  );
});

test("without a system bus (dbus stopped, as in an initrd without one) auto uses the private socket", async () => {
  link.close(); // the last test: the bus goes for good
  assert.equal(c.exec(["systemctl", "stop", "dbus.socket", "dbus.service"]).code, 0);
  const r = c.exec(nodeArgv(FIXTURE, ["choose", "auto"]), { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout.trim().split("\n").pop()!), { kind: "systemd", address: "unix:path=/run/systemd/private", peer: true, problem: null });
});

test.run();
