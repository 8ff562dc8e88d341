// org.foyer.Supervisor1 on a real private dbus-daemon configured like the system bus with the
// shipped policy, served by a real foyerd (headless profile), driven by busctl, gdbus and foyerctl
// as root and as the unprivileged user nobody.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import dbus from "dbus-next";
import { Foyerd, withTimeout, requireTool, top } from "../helpers/index.js";
import { PrivateBus, busctl, gdbusCall, foyerctl, nobodyFoyerctl, members, PRIVATE_ASK_DIR, XML } from "./bus.js";
import { connectBus } from "../../src/dbus/service.js";
import type { BusConnection } from "../../src/base/bus-connection.js";

const NAME = "org.foyer.Supervisor1",
  PATH = "/org/foyer/Supervisor1",
  IFACE = "org.foyer.Supervisor1";
const bus = new PrivateBus();
let foyerd: Foyerd;
let conn: BusConnection | undefined;
let client: dbus.MessageBus;
const signals: dbus.Message[] = [];
const signalWaiters: (() => void)[] = [];
const askers: ChildProcess[] = [];

const get = (prop: string, asNobody = false) => busctl(bus, ["get-property", NAME, PATH, IFACE, prop], { asNobody });
const call = (member: string, args: string[] = [], asNobody = false) => busctl(bus, ["call", NAME, PATH, IFACE, member, ...args], { asNobody });

/** Resolves once a signal matching `pred` has arrived (now or earlier). */
function signal(pred: (m: dbus.Message) => boolean, what: string): Promise<dbus.Message> {
  return withTimeout(
    new Promise<dbus.Message>((resolve) => {
      const check = () => {
        const m = signals.find(pred);
        if (m) {
          resolve(m);
          return true;
        }
        return false;
      };
      if (!check()) signalWaiters.push(() => void check());
    }),
    10_000,
    what,
  );
}

test.before(async () => {
  requireTool("gdbus", "libglib2.0-bin");
  requireTool("setpriv", "util-linux");
  requireTool("nsenter", "util-linux");
  requireTool("systemd-ask-password", "systemd");
  await bus.start();
  foyerd = new Foyerd("headless", { wrap: PRIVATE_ASK_DIR, extraArgs: ["--bus", bus.address] });
  await foyerd.until((l) => l.includes(`owning ${NAME}`), 15_000, "foyerd owning its name");
  // a plain client that watches everything the object signals
  conn = await withTimeout(connectBus(bus.address), 5000, "client connect");
  client = conn.bus;
  client.on("message", (m: dbus.Message) => {
    if (m.type !== dbus.MessageType.SIGNAL || m.path !== PATH) return;
    signals.push(m);
    for (const w of signalWaiters) w();
  });
  await withTimeout(
    client.call(
      new dbus.Message({
        destination: "org.freedesktop.DBus",
        path: "/org/freedesktop/DBus",
        interface: "org.freedesktop.DBus",
        member: "AddMatch",
        signature: "s",
        body: [`type='signal',path='${PATH}'`],
      }),
    ),
    5000,
    "AddMatch",
  );
});

test.after(async () => {
  for (const a of askers) a.kill("SIGKILL");
  conn?.close();
  if (foyerd) {
    await withTimeout(foyerd.stop(), 15_000, "foyerd stop").catch(() => foyerd.proc.kill("SIGKILL"));
    foyerd.cleanup();
  }
  await withTimeout(bus.cleanup(), 10_000, "bus cleanup");
});

test("introspection matches the shipped XML", () => {
  const r = busctl(bus, ["introspect", "--xml-interface", NAME, PATH]);
  assert.is(r.code, 0, r.stderr);
  const live = members(r.stdout);
  const shipped = members(readFileSync(XML, "utf8"));
  assert.equal(live, shipped);
  // and the shipped file is the whole API, not an empty match
  assert.is(shipped.length, 12);
});

test("properties read as root and as nobody", () => {
  for (const asNobody of [false, true]) {
    const who = asNobody ? "nobody" : "root";
    assert.is(get("Phase", asNobody).stdout.trim(), 's "running"', who);
    assert.is(get("Flow", asNobody).stdout.trim(), 's "unlock"', who);
    assert.is(get("GreeterState", asNobody).stdout.trim(), 's "none"', who); // headless: no greeter process
    assert.is(get("GreeterRestarts", asNobody).stdout.trim(), "u 0", who);
    assert.is(get("PendingPrompts", asNobody).stdout.trim(), "a(us) 0", who);
  }
  const all = busctl(bus, ["--json=short", "call", NAME, PATH, "org.freedesktop.DBus.Properties", "GetAll", "s", IFACE], { asNobody: true });
  assert.is(all.code, 0, all.stderr);
  assert.equal(Object.keys(JSON.parse(all.stdout).data[0]).sort(), ["Flow", "GreeterRestarts", "GreeterState", "PendingPrompts", "Phase"]);
});

test("a real password request shows in PendingPrompts (key and message, never an answer) with PropertiesChanged", async () => {
  const before = signals.length;
  const asker = spawn(
    "nsenter",
    [`--mount=/proc/${foyerd.proc.pid}/ns/mnt`, "systemd-ask-password", "--no-tty", "--timeout=60", "Passphrase for root (dbus test):"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  askers.push(asker);
  const m = await signal(
    (s, i = signals.indexOf(s)) => i >= before && s.member === "PropertiesChanged" && "PendingPrompts" in (s.body[1] as object),
    "PropertiesChanged with PendingPrompts",
  );
  const changed = (m.body[1] as Record<string, { value: [number, string][] }>).PendingPrompts!.value;
  assert.is(changed.length, 1);
  assert.is(changed[0]![1], "Passphrase for root (dbus test):");
  const r = busctl(bus, ["--json=short", "get-property", NAME, PATH, IFACE, "PendingPrompts"], { asNobody: true });
  assert.equal(JSON.parse(r.stdout).data, [[changed[0]![0], "Passphrase for root (dbus test):"]]);
  const s = foyerctl(bus, ["status"]);
  assert.is(s.code, 0, s.stderr);
  assert.match(s.stdout, `#${changed[0]![0]} Passphrase for root (dbus test):`);
  // cancelled: the prompt goes away again
  const gone = signals.length;
  asker.kill("SIGTERM");
  await signal(
    (x, i = signals.indexOf(x)) =>
      i >= gone && x.member === "PropertiesChanged" && JSON.stringify((x.body[1] as Record<string, { value: unknown }>).PendingPrompts?.value) === "[]",
    "PendingPrompts empty again",
  );
});

test("Status, Reload and ShowRecovery through busctl; Flow changes with PropertiesChanged", async () => {
  const st = busctl(bus, ["--json=short", "call", NAME, PATH, IFACE, "Status"]);
  assert.is(st.code, 0, st.stderr);
  const d = JSON.parse(st.stdout).data[0];
  assert.equal(Object.keys(d).sort(), ["Flow", "GreeterRestarts", "GreeterState", "PendingPrompts", "Phase", "RecoveryReason"]);
  assert.equal(d.Phase, { type: "s", data: "running" });
  assert.equal(d.RecoveryReason, { type: "s", data: "" });
  assert.is(call("Reload").code, 0);
  const before = signals.length;
  const r = call("ShowRecovery", ["s", "fsck found errors on /dev/vda2"]);
  assert.is(r.code, 0, r.stderr);
  await signal(
    (m, i = signals.indexOf(m)) =>
      i >= before && m.member === "PropertiesChanged" && (m.body[1] as Record<string, { value: unknown }>).Flow?.value === "recovery",
    "Flow → recovery",
  );
  assert.is(get("Flow").stdout.trim(), 's "recovery"');
  const j = foyerctl(bus, ["--json", "status"]);
  assert.is(j.code, 0, j.stderr);
  assert.is(JSON.parse(j.stdout).RecoveryReason, "fsck found errors on /dev/vda2");
});

test("errors cross as D-Bus error names with a clear message and no stack", () => {
  const r = gdbusCall(bus, `${IFACE}.RestartGreeter`);
  assert.is.not(r.code, 0);
  assert.match(r.stderr, "org.foyer.Supervisor1.Error.Unsupported: this profile has no greeter process");
  assert.not.match(r.stderr, /\bat .*\.(ts|js):\d+/); // no stack frames
  assert.not.match(r.stderr, "The service threw");
});

test("bad input: InvalidArgs for oversized, empty or control-character reasons and wrong signatures; UnknownMethod; still alive", async () => {
  for (const [args, why] of [
    [[`'${"x".repeat(1025)}'`], "is 1025 bytes"],
    [["''"], "is empty"],
    [["'line1\\nline2'"], "control characters"],
  ] as const) {
    const r = gdbusCall(bus, `${IFACE}.ShowRecovery`, [...args]);
    assert.is.not(r.code, 0, why);
    assert.match(r.stderr, "org.freedesktop.DBus.Error.InvalidArgs", why);
    assert.match(r.stderr, why);
  }
  const big = call("ShowRecovery", ["s", "é".repeat(513)]); // 1026 bytes in 513 characters
  assert.is.not(big.code, 0);
  assert.match(big.stderr, "1026 bytes");
  // wrong signatures from a raw client (gdbus would coerce the arguments to the introspected types)
  for (const [member, signature, body] of [
    ["ShowRecovery", "i", [42]],
    ["ShowRecovery", "ss", ["a", "b"]],
    ["ShowRecovery", "", []],
    ["Handoff", "s", ["now"]],
  ] as const) {
    const e = await withTimeout(
      client.call(new dbus.Message({ destination: NAME, path: PATH, interface: IFACE, member, signature, body: [...body] })),
      5000,
      member,
    ).then(
      () => undefined,
      (x: unknown) => x,
    );
    assert.instance(e, dbus.DBusError, `${member}(${signature})`);
    assert.is((e as dbus.DBusError).type, "org.freedesktop.DBus.Error.InvalidArgs");
    assert.match((e as dbus.DBusError).text, `got '${signature}'`);
  }
  const sig = call("Status", ["s", "extra"]);
  assert.is.not(sig.code, 0);
  assert.match(sig.stderr, "takes signature ''");
  const u = gdbusCall(bus, `${IFACE}.Explode`);
  assert.match(u.stderr, "org.freedesktop.DBus.Error.UnknownMethod");
  // exactly 1024 bytes is allowed
  assert.is(call("ShowRecovery", ["s", "y".repeat(1024)]).code, 0);
  assert.is(get("Phase").stdout.trim(), 's "running"');
  assert.is(foyerd.proc.exitCode, null);
});

test("a non-root caller is denied every method by the policy but reads properties", () => {
  for (const m of ["RestartGreeter", "Handoff", "Reload", "Status"]) {
    const r = gdbusCall(bus, `${IFACE}.${m}`, [], { asNobody: true });
    assert.is.not(r.code, 0, m);
    assert.match(r.stderr, "org.freedesktop.DBus.Error.AccessDenied", m);
  }
  const sr = call("ShowRecovery", ["s", "not yours"], true);
  assert.is.not(sr.code, 0);
  assert.match(sr.stderr, "Access denied");
  assert.is(get("Phase", true).code, 0);
  const ctl = foyerctl(bus, ["reload"], { asNobody: true });
  assert.is(ctl.code, 4, ctl.stderr);
  assert.match(ctl.stderr, "access denied");
  // nobody cannot take the name either
  const own = spawnSync(
    "setpriv",
    [
      "--reuid=nobody",
      "--regid=nogroup",
      "--clear-groups",
      "gdbus",
      "call",
      "-a",
      bus.address,
      "-d",
      "org.freedesktop.DBus",
      "-o",
      "/org/freedesktop/DBus",
      "-m",
      "org.freedesktop.DBus.RequestName",
      NAME,
      "4",
    ],
    { encoding: "utf8", timeout: 10_000 },
  );
  assert.match(own.stderr, "AccessDenied");
});

test("foyerctl: usage errors exit 2, failed calls 1, an unreachable bus 3; --json output", () => {
  assert.is(foyerctl(bus, ["frobnicate"]).code, 2);
  assert.is(foyerctl(bus, ["recovery"]).code, 2);
  assert.is(foyerctl(bus, ["status", "extra"]).code, 2);
  assert.is(foyerctl("no-such-transport:x=1", ["status"]).code, 2);
  const failed = foyerctl(bus, ["--json", "restart-greeter"]);
  assert.is(failed.code, 1);
  assert.equal(JSON.parse(failed.stdout), { ok: false, error: "org.foyer.Supervisor1.Error.Unsupported", message: "this profile has no greeter process" });
  assert.is(foyerctl(bus, ["recovery", "\u0007bell"]).code, 1);
  const ok = foyerctl(bus, ["--json", "reload"]);
  assert.is(ok.code, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout), { ok: true });
  assert.is(foyerctl(bus, ["recovery", "from foyerctl"]).code, 0);
  const h = foyerctl(bus, ["status"]);
  assert.match(h.stdout, "Recovery: from foyerctl");
  assert.match(h.stdout, "Phase: running");
  const gone = foyerctl(`unix:path=${bus.dir}/no-such-socket`, ["status"]);
  assert.is(gone.code, 3);
  assert.match(gone.stderr, "cannot reach the bus");
});

test("the shipped foyerctl (bin/foyerctl.mjs → dist/foyerctl.mjs) works the same", () => {
  const bin = join(top, "bin/foyerctl.mjs");
  assert.ok(existsSync(join(top, "dist/foyerctl.mjs")), "dist/foyerctl.mjs is missing: run npm run build");
  const r = spawnSync(process.execPath, [bin, "--bus", `${bus.address},guid=0123456789abcdef0123456789abcdef`, "--json", "status"], {
    encoding: "utf8",
    timeout: 20_000,
  });
  assert.is(r.status, 0, r.stderr);
  assert.is(JSON.parse(r.stdout).Phase, "running");
  const denied = spawnSync(
    "setpriv",
    ["--reuid=nobody", "--regid=nogroup", "--clear-groups", process.execPath, nobodyFoyerctl(), "--bus", bus.address, "reload"],
    { encoding: "utf8", timeout: 20_000, cwd: "/" },
  );
  assert.is(denied.status, 4, denied.stderr);
});

test("call latency: Status round trips from a plain client", async () => {
  const ms: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t = process.hrtime.bigint();
    await withTimeout(client.call(new dbus.Message({ destination: NAME, path: PATH, interface: IFACE, member: "Status" })), 5000, "Status");
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((a, b) => a - b);
  console.log(`Status round trip over 200 calls: p50 ${ms[100]!.toFixed(2)} ms, p99 ${ms[198]!.toFixed(2)} ms`);
  assert.is(ms.length, 200);
});

test("Handoff: PhaseChanged is signalled, foyerd exits 0 and releases the name; foyerctl then exits 3", async () => {
  const before = signals.length;
  const exited = new Promise<number | null>((r) => (foyerd.proc.exitCode !== null ? r(foyerd.proc.exitCode) : foyerd.proc.once("exit", (c) => r(c))));
  const r = foyerctl(bus, ["handoff"]);
  assert.is(r.code, 0, r.stderr);
  assert.is(await withTimeout(exited, 15_000, "foyerd exit after handoff"), 0);
  const phases = signals
    .slice(before)
    .filter((m) => m.member === "PhaseChanged")
    .map((m) => m.body[0]);
  assert.ok(phases.includes("stopped") || phases.includes("stopping"), `PhaseChanged seen: ${JSON.stringify(phases)}`);
  const after = foyerctl(bus, ["status"]);
  assert.is(after.code, 3, after.stderr);
});

test.run();
