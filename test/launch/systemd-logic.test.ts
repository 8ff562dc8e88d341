// The systemd backend's logic without systemd: unit names and object paths, exits, properties,
// the choice of bus, what a boot failure means, and malformed replies and signals from a fake
// link (a stand-in for the adapter only; the backend itself is shown against a real systemd in
// systemd.test.ts and ../integration/recovery-systemd.test.ts).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EventEmitter } from "node:events";
import dbus from "dbus-next";
import {
  escapeUnitPart,
  unitName,
  exitFrom,
  resolveExecutable,
  transientProperties,
  ownUnitFrom,
  SystemdLauncher,
  type SystemdLink,
} from "../../src/launch/systemd.js";
import { unitObjectPath, resolveSystemdAddress } from "../../src/launch/systemd-bus.js";
import {
  classify,
  reasonForUnit,
  isFsckUnit,
  printableUnit,
  bootEvent,
  fsckReason,
  fsckDevice,
  unescapePath,
  execStartArgv,
} from "../../src/launch/boot-failures.js";
import { checkReason } from "../../src/dbus/supervisor1.js";
import { collectingLogger, pollUntil, withTimeout } from "../helpers/index.js";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";

test("unit names: plain names kept, anything odd escaped, always a valid unit name", () => {
  assert.is(unitName("greeter", 42, 1), "foyer-greeter-42-1.service");
  assert.is(escapeUnitPart("a/b"), "a-b");
  assert.is(escapeUnitPart("x y"), "x\\x20y");
  assert.is(escapeUnitPart(".hidden"), "\\x2ehidden");
  assert.is(escapeUnitPart(""), "unit");
  assert.is(escapeUnitPart("ü"), "\\xc3\\xbc");
  for (const n of ["grüße/../x y\n", "'; rm -rf /", "\0", "a".repeat(1000), "$(id)"]) {
    const u = unitName(n, 1, 1);
    assert.ok(/^foyer-[A-Za-z0-9:_.\\-]+-1-1\.service$/.test(u), u);
    assert.ok(Buffer.byteLength(u) <= 255, u);
  }
});

test("object paths as systemd escapes them (bus_label_escape)", () => {
  assert.is(unitObjectPath("foyer-exp-99.service"), "/org/freedesktop/systemd1/unit/foyer_2dexp_2d99_2eservice");
  assert.is(unitObjectPath("systemd-fsck@dev-foyer\\x2dtest.service"), "/org/freedesktop/systemd1/unit/systemd_2dfsck_40dev_2dfoyer_5cx2dtest_2eservice");
  assert.is(unitObjectPath("1a"), "/org/freedesktop/systemd1/unit/_31a");
  assert.is(unitObjectPath(""), "/org/freedesktop/systemd1/unit/_");
});

test("ExecMainCode/ExecMainStatus as the direct backend reports an exit", () => {
  assert.equal(exitFrom(1, 3), { code: 3, signal: null });
  assert.equal(exitFrom(2, 9), { code: null, signal: "SIGKILL" });
  assert.equal(exitFrom(3, 6), { code: null, signal: "SIGABRT" });
  assert.equal(exitFrom(2, 99), { code: null, signal: "SIG99" });
  assert.equal(exitFrom(0, 0), { code: 127, signal: null });
});

test("executables are found as execvp would, relative PATH entries ignored", () => {
  const have = new Set(["/usr/bin/cage", "/bin/sh"]);
  const can = (p: string) => {
    if (!have.has(p)) throw new Error("ENOENT");
  };
  assert.is(resolveExecutable("cage", "/usr/local/bin:/usr/bin", can), "/usr/bin/cage");
  assert.is(resolveExecutable("cage", ".:bin", can), undefined);
  assert.is(resolveExecutable("/bin/sh", undefined, can), "/bin/sh");
  assert.is(resolveExecutable("nope", undefined, can), undefined);
  assert.is(resolveExecutable("", undefined, can), undefined);
});

test("transient properties: what the unit gets; refused environment keys dropped and named, values never", () => {
  const { props, dropped } = transientProperties(
    {
      name: "greeter",
      argv: ["cage", "--", "cog"],
      uid: 1001,
      gid: 1002,
      env: { A: "1", "BAD KEY": "secret", "B=": "x", C: "nul\0byte" },
      logFile: "/run/foyer/log/greeter.log",
    },
    "/usr/bin/cage",
    5000,
  );
  const p = Object.fromEntries(props.map(([k, v]) => [k, v.value]));
  assert.equal(p.ExecStart, [["/usr/bin/cage", ["cage", "--", "cog"], false]]);
  assert.equal(p.Environment, ["A=1"]);
  assert.equal(dropped, ["BAD KEY", "B=", "C"]);
  assert.is(p.Type, "exec");
  assert.is(p.KillMode, "mixed");
  assert.is(p.LimitCORE, 0n);
  assert.is(p.User, "1001");
  assert.is(p.Group, "1002");
  assert.is(p.StandardOutputFileToAppend, "/run/foyer/log/greeter.log");
  assert.is(p.DefaultDependencies, false);
  assert.is(p.TimeoutStopUSec, 5_000_000n);
  assert.is(p.WorkingDirectory, "/");
  assert.equal(p.Before, ["shutdown.target"], "outside a service there is no own unit to order against");
  // inside foyer.service: ordered before it, so a transaction that stops both stops foyerd first
  const inUnit = Object.fromEntries(
    transientProperties({ name: "greeter", argv: ["cage"], env: {}, logFile: "/l" }, "/usr/bin/cage", 5000, "foyer.service").props.map(([k, v]) => [
      k,
      v.value,
    ]),
  );
  assert.equal(inUnit.Before, ["shutdown.target", "foyer.service"]);
});

test("foyerd's own unit from its cgroup: a service's name, nothing for a scope, the root or a v1 hierarchy", () => {
  assert.is(ownUnitFrom("0::/system.slice/foyer.service\n"), "foyer.service");
  assert.is(ownUnitFrom("0::/foyer.service\n"), "foyer.service");
  assert.is(ownUnitFrom("0::/system.slice/system-foyer\\x2drecovery.slice/foyer-recovery@x.service\n"), "foyer-recovery@x.service");
  assert.is(ownUnitFrom("0::/user.slice/user-0.slice/session-3.scope\n"), undefined);
  assert.is(ownUnitFrom("0::/\n"), undefined);
  assert.is(ownUnitFrom("12:pids:/system.slice/foyer.service\n"), undefined);
});

test("bus choice: the system bus when it is there, else systemd's private socket (peer-to-peer)", () => {
  const has =
    (...paths: string[]) =>
    (p: import("node:fs").PathLike) =>
      paths.includes(String(p));
  assert.equal(resolveSystemdAddress("auto", {}, has("/run/dbus/system_bus_socket", "/run/systemd/private")), {
    address: "unix:path=/run/dbus/system_bus_socket",
    peer: false,
  });
  // in an initrd: systemd's own socket, which outlives the initrd's bus daemon
  assert.equal(resolveSystemdAddress("auto", {}, has("/etc/initrd-release", "/run/dbus/system_bus_socket", "/run/systemd/private")), {
    address: "unix:path=/run/systemd/private",
    peer: true,
  });
  assert.equal(resolveSystemdAddress("auto", {}, has("/etc/initrd-release", "/run/dbus/system_bus_socket")), {
    address: "unix:path=/run/dbus/system_bus_socket",
    peer: false,
  });
  assert.equal(
    resolveSystemdAddress("auto", {}, () => false),
    { address: "unix:path=/run/systemd/private", peer: true },
  );
  assert.equal(
    resolveSystemdAddress("auto", { DBUS_SYSTEM_BUS_ADDRESS: "unix:path=/x" }, () => false),
    { address: "unix:path=/x", peer: false },
  );
  assert.equal(resolveSystemdAddress("unix:path=/proc/1/root/run/systemd/private"), { address: "unix:path=/proc/1/root/run/systemd/private", peer: true });
});

test("boot failures: fsck units and stop targets, reasons that name the unit and pass checkReason", () => {
  for (const u of ["systemd-fsck-root.service", "systemd-fsck-usr.service", "systemd-fsck@dev-sda1.service", "systemd-fsck@dev-disk-by\\x2duuid-1.service"])
    assert.ok(isFsckUnit(u), u);
  for (const u of ["systemd-fsckd.service", "systemd-fsck@.service", "my-systemd-fsck.service", "systemd-fsck-root.socket"]) assert.not.ok(isFsckUnit(u), u);
  assert.is(
    classify({ kind: "job_removed", unit: "systemd-fsck-root.service", result: "failed" }, undefined),
    "file system check failed: 'systemd-fsck-root.service'",
  );
  assert.is(classify({ kind: "job_removed", unit: "systemd-fsck-root.service", result: "done" }, undefined), undefined);
  assert.is(classify({ kind: "job_removed", unit: "systemd-fsck-root.service", result: "dependency" }, undefined), undefined);
  assert.is(
    classify({ kind: "job_new", unit: "emergency.target" }, "x.service"),
    "boot stopped in emergency mode ('emergency.target') after 'x.service' failed",
  );
  assert.is(classify({ kind: "job_new", unit: "rescue.target" }, undefined), "boot stopped in rescue mode ('rescue.target')");
  assert.is(classify({ kind: "job_new", unit: "multi-user.target" }, undefined), undefined);
  // a unit name with control characters or of any length still gives a reason foyer accepts
  for (const u of ["systemd-fsck@a\nb.service", "systemd-fsck@" + "x".repeat(5000) + ".service"]) checkReason(fsckReason(u));
  assert.is(printableUnit("a\u0007b"), "a?b");
});

test("a failed check's device: ExecStart's last argument, else the instance unescaped as systemd does", () => {
  // the initrd's generated systemd-fsck-root.service and systemd-fsck@.service's %f
  assert.is(fsckDevice("systemd-fsck-root.service", ["/usr/lib/systemd/systemd-fsck", "/dev/mapper/luks-1f2e"]), "/dev/mapper/luks-1f2e");
  assert.is(fsckDevice("systemd-fsck@dev-disk-by\\x2duuid-AB12.service", undefined), "/dev/disk/by-uuid/AB12");
  assert.is(fsckDevice("systemd-fsck@dev-vda2.service", ["/bin/sh", "-c", "exit 4"]), "/dev/vda2");
  // the root's check in the real root takes no argument (it checks what / is): not known here
  assert.is(fsckDevice("systemd-fsck-root.service", ["/usr/lib/systemd/systemd-fsck"]), undefined);
  assert.is(unescapePath("dev-mapper-luks\\x2d0a"), "/dev/mapper/luks-0a");
  assert.is(unescapePath("dev-..-etc"), undefined);
  assert.is(unescapePath("bad\\xZZ"), undefined);
  assert.is(unescapePath("a\\x00b"), undefined);
  // systemd's a(sasbttttuii): the first entry's argv, nothing for a malformed reply
  assert.equal(execStartArgv([["/usr/lib/systemd/systemd-fsck", ["/usr/lib/systemd/systemd-fsck", "/dev/vda2"], false, 0n, 0n, 0n, 0n, 0, 0, 0]]), [
    "/usr/lib/systemd/systemd-fsck",
    "/dev/vda2",
  ]);
  assert.is(execStartArgv([]), undefined);
  assert.is(execStartArgv("x"), undefined);
  assert.is(execStartArgv([["p", ["a", 3]]]), undefined);
});

test("foyerctl --unit: a reason for unit names, none for anything that is not one", () => {
  assert.is(reasonForUnit("systemd-fsck@dev-sda1.service"), "file system check failed: 'systemd-fsck@dev-sda1.service'");
  assert.is(reasonForUnit("emergency.service"), "boot stopped in emergency mode ('emergency.service')");
  assert.is(reasonForUnit("foo.mount"), "'foo.mount' failed");
  for (const bad of ["", "a b.service", "a\nb", "x".repeat(256), "'quoted'", "ünit.service"]) assert.is(reasonForUnit(bad), undefined, bad);
});

test("Manager signals with a wrong signature or body are not boot events", () => {
  const m = (member: string, signature: string, body: unknown[]) =>
    ({ path: "/org/freedesktop/systemd1", interface: "org.freedesktop.systemd1.Manager", member, signature, body }) as unknown as dbus.Message;
  assert.equal(bootEvent(m("JobRemoved", "uoss", [1, "/j/1", "systemd-fsck-root.service", "failed"])), {
    kind: "job_removed",
    unit: "systemd-fsck-root.service",
    result: "failed",
  });
  assert.is(bootEvent(m("JobRemoved", "uos", [1, "/j/1", "x"])), undefined);
  assert.is(bootEvent(m("JobNew", "s", ["x"])), undefined);
  assert.is(bootEvent({ ...m("JobNew", "uos", [1, "/j", "emergency.target"]), path: "/other" } as unknown as dbus.Message), undefined);
});

/** A link whose bus answers as the test says: malformed replies, errors, signals on demand. */
function fakeLink(manager: (member: string, body: unknown[]) => Promise<unknown[]>, get: (prop: string) => Promise<unknown> = async () => "inactive") {
  const link = new EventEmitter() as EventEmitter & { bus: unknown; subscribed(): Promise<unknown> };
  const bus = {
    peer: true,
    closed: false,
    call: (c: { member: string; body?: unknown[] }) => manager(c.member, c.body ?? []),
    get: (_p: string, _i: string, prop: string) => get(prop),
    addMatch: async () => {},
    removeMatch: () => {},
  };
  link.bus = bus;
  link.subscribed = async () => bus;
  return link as unknown as SystemdLink & EventEmitter;
}
// a folder of its own: a fixed one in /tmp, left by another user, made every start fail and the
// waits for its job below spin
const logDir = mkdtempSync(join(tmpdir(), "foyer-logic-"));
const spec = { name: "greeter", argv: ["/bin/sh", "-c", "true"], env: { PATH: "/usr/bin:/bin" }, logFile: join(logDir, "greeter.log") };
test.after(() => rmSync(logDir, { recursive: true, force: true }));

test("bad replies: a job that is not a string, a D-Bus error, no bus → exited 127 and one clear line, nothing thrown", async () => {
  for (const [what, manager] of [
    ["a number for the job", async () => [42]],
    ["UnitExists", async () => Promise.reject(new dbus.DBusError("org.freedesktop.systemd1.UnitExists", "Unit foyer-greeter-1-1.service already exists."))],
    ["a call that never settles", () => withTimeout(new Promise<unknown[]>(() => {}), 50, "systemd StartTransientUnit")],
  ] as const) {
    const lines: string[] = [];
    const l = new SystemdLauncher(fakeLink(manager as (m: string, b: unknown[]) => Promise<unknown[]>), collectingLogger(lines), { stopTimeoutMs: 100 });
    const run = l.start(spec);
    assert.equal(await withTimeout(run.exited, 2000, what), { code: 127, signal: null }, what);
    assert.ok(
      lines.some((x) => x.startsWith("error greeter failed to start as unit")),
      `${what}: ${lines.join("\n")}`,
    );
    assert.equal(await withTimeout(run.stop(100), 2000, "stop"), { code: 127, signal: null });
  }
});

test("bad signals: garbage PropertiesChanged and ExecMainCode of the wrong type are logged and ignored; a good end still counts", async () => {
  const lines: string[] = [];
  let job = "";
  const link = fakeLink(
    async (member) => (member === "StartTransientUnit" ? [(job = "/org/freedesktop/systemd1/job/7")] : []),
    async (prop) => (prop === "ActiveState" ? "active" : prop === "MainPID" ? 1234 : prop === "ExecMainCode" ? 1 : 5),
  );
  const run = new SystemdLauncher(link, collectingLogger(lines), { stopTimeoutMs: 100 }).start(spec);
  const unit = (run as unknown as { unit: string }).unit;
  const path = unitObjectPath(unit);
  await pollUntil(() => job !== "", 5000, "StartTransientUnit");
  const sig = (p: string, iface: string, member: string, body: unknown[]) =>
    link.emit("signal", { path: p, interface: iface, member, body } as unknown as dbus.Message);
  sig(path, "org.freedesktop.DBus.Properties", "PropertiesChanged", ["org.freedesktop.systemd1.Unit", "not a dict", []]);
  sig(path, "org.freedesktop.DBus.Properties", "PropertiesChanged", ["org.freedesktop.systemd1.Service", { ExecMainCode: new dbus.Variant("s", "one") }, []]);
  sig("/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "JobRemoved", [7, job, unit, "done"]);
  await new Promise((r) => setTimeout(r, 20));
  assert.is(run.pid, 1234);
  sig(path, "org.freedesktop.DBus.Properties", "PropertiesChanged", [
    "org.freedesktop.systemd1.Service",
    { ExecMainCode: new dbus.Variant("i", 1), ExecMainStatus: new dbus.Variant("i", 5) },
    [],
  ]);
  sig(path, "org.freedesktop.DBus.Properties", "PropertiesChanged", ["org.freedesktop.systemd1.Unit", { ActiveState: new dbus.Variant("s", "failed") }, []]);
  assert.equal(await withTimeout(run.exited, 2000, "exited"), { code: 5, signal: null });
  assert.is(lines.filter((x) => x.includes("unreadable signal from systemd")).length, 2, lines.join("\n"));
});

test("stop() ends even when systemd's bus is gone for good: the unit is taken as gone, with an error line", async () => {
  const lines: string[] = [];
  let job = "";
  const link = fakeLink(
    async (member) => (member === "StartTransientUnit" ? [(job = "/org/freedesktop/systemd1/job/9")] : []),
    async (prop) => (prop === "ActiveState" ? "active" : 77),
  );
  const run = new SystemdLauncher(link, collectingLogger(lines), { stopTimeoutMs: 100 }).start(spec);
  const unit = (run as unknown as { unit: string }).unit;
  await pollUntil(() => job !== "", 5000, "StartTransientUnit");
  link.emit("signal", {
    path: "/org/freedesktop/systemd1",
    interface: "org.freedesktop.systemd1.Manager",
    member: "JobRemoved",
    body: [9, job, unit, "done"],
  } as unknown as dbus.Message);
  (link as unknown as { bus: unknown }).bus = undefined; // the bus went away and never came back
  assert.equal(await withTimeout(run.stop(50), 15_000, "stop without a bus"), { code: null, signal: null });
  assert.ok(
    lines.some((l) => l.startsWith("error greeter: no word from systemd")),
    lines.join("\n"),
  );
});

test("foyerctl recovery --unit: odd unit names are usage errors (2), a good one goes to the bus (3: none here)", async () => {
  const { main } = await import("../../src/cli/foyerctl.js");
  const sink = () =>
    Object.assign(new EventEmitter(), {
      text: "",
      write(s: string) {
        this.text += s;
        return true;
      },
    });
  for (const argv of [
    ["recovery", "--unit", "a b"],
    ["recovery", "--unit", "a\nb.service"],
    ["recovery", "--unit", "x.service", "extra"],
    ["status", "--unit", "x.service"],
    ["recovery", "--unit", "x".repeat(300)],
  ]) {
    const err = sink();
    assert.is(await main(argv, sink() as unknown as typeof process.stdout, err as unknown as typeof process.stderr), 2, argv.join(" "));
    assert.match(err.text, "foyerctl: ");
  }
  const err = sink();
  assert.is(
    await main(
      ["--bus", "unix:path=/nonexistent/foyer-test", "recovery", "--unit", "systemd-fsck-root.service"],
      sink() as unknown as typeof process.stdout,
      err as unknown as typeof process.stderr,
    ),
    3,
    err.text,
  );
});

test.run();
