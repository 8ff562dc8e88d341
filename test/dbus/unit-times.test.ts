// The unit activation times foyerd records when systemd runs: a private bus with a stand-in for
// systemd's Manager and Unit objects (PID 1 here is not systemd; the VM has the real one), a real
// foyerd on that bus, and its timeline after it stopped: the units that started while it ran, as
// spans on the same monotonic clock, and nothing from before.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync, rmSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import dbus from "dbus-next";
import { Foyerd, requireTool, withTimeout } from "../helpers/index.js";
import { connectBus } from "../../src/dbus/service.js";
import { parseTimeline } from "../../src/state/timeline.js";

const T = suite<{ foyerd?: Foyerd }>("dbus/unit-times", {});
let daemon: ChildProcess,
  dir = "",
  address = "";
const nowUs = () => process.hrtime.bigint() / 1000n;

class Manager extends dbus.interface.Interface {
  units: [string, string][] = [];
  ListUnits(): unknown[] {
    return this.units.map(([name, path]) => [name, "", "loaded", "active", "running", "", path, 0, "", "/"]);
  }
}
Manager.configureMembers({ methods: { ListUnits: { inSignature: "", outSignature: "a(ssssssouso)" } } });

class Unit extends dbus.interface.Interface {
  constructor(
    public start: bigint,
    public end: bigint,
  ) {
    super("org.freedesktop.systemd1.Unit");
  }
  get InactiveExitTimestampMonotonic(): bigint {
    return this.start;
  }
  get ActiveEnterTimestampMonotonic(): bigint {
    return this.end;
  }
}
Unit.configureMembers({
  properties: {
    InactiveExitTimestampMonotonic: { signature: "t", access: dbus.interface.ACCESS_READ },
    ActiveEnterTimestampMonotonic: { signature: "t", access: dbus.interface.ACCESS_READ },
  },
});

T.before(async () => {
  requireTool("dbus-daemon", "dbus-daemon");
  dir = mkdtempSync(join(tmpdir(), "foyer-units-"));
  chmodSync(dir, 0o755);
  const socket = join(dir, "bus");
  address = `unix:path=${socket}`;
  writeFileSync(
    join(dir, "bus.conf"),
    `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path=${socket}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_type="method_call"/><allow send_type="signal"/><allow send_requested_reply="true"/><allow receive_type="*"/></policy></busconfig>`,
  );
  daemon = spawn("dbus-daemon", ["--config-file", join(dir, "bus.conf"), "--nofork", "--nopidfile", "--print-address=1"], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  await withTimeout(new Promise<void>((r) => daemon.stdout!.once("data", () => r())), 5000, "dbus-daemon");
});
T.after(() => {
  daemon?.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});
T.after.each(async (ctx) => {
  await ctx.foyerd?.stop();
  ctx.foyerd?.cleanup();
  ctx.foyerd = undefined;
});

T("the units that started while foyerd ran are spans on its timeline; older ones are not", async (ctx) => {
  const conn = await connectBus(address);
  const bus = conn.bus;
  try {
    const manager = new Manager("org.freedesktop.systemd1.Manager");
    bus.export("/org/freedesktop/systemd1", manager);
    await bus.requestName("org.freedesktop.systemd1", 0);
    const f = (ctx.foyerd = new Foyerd("headless", { bundle: true, extraArgs: ["--bus", address] }));
    await f.until((l) => l.includes("owning org.foyer.Supervisor1"), 30_000, "foyerd on the bus");
    // what a systemd in the initrd would hold now: one unit from early boot, one that started and
    // became active while foyerd ran, one still activating
    const t = nowUs();
    const units: [string, Unit][] = [
      ["systemd-udevd.service", new Unit(5_000n, 9_000n)],
      ["systemd-cryptsetup@root.service", new Unit(t - 50_000n, t - 20_000n)],
      ["sysroot.mount", new Unit(t - 10_000n, 0n)],
    ];
    units.forEach(([name, u], i) => {
      bus.export(`/org/freedesktop/systemd1/unit/u${i}`, u);
      manager.units.push([name, `/org/freedesktop/systemd1/unit/u${i}`]);
    });
    const code = await f.stop();
    assert.is(code, 0, `foyerd ended with ${code ?? f.proc.signalCode}; its log:\n${f.log}`);
    const r = parseTimeline(readFileSync(join(f.runtimeDir, "state/timeline.json"), "utf8"));
    assert.ok(r.ok);
    const es = (r as { ok: true; data: { entries: { name: string; at: number; end?: number }[] } }).data.entries;
    const crypt = es.find((e) => e.name === "unit systemd-cryptsetup@root.service");
    assert.ok(crypt, JSON.stringify(es));
    assert.is(crypt!.at, Math.round(Number(t - 50_000n) / 100) / 10);
    assert.is(crypt!.end, Math.round(Number(t - 20_000n) / 100) / 10);
    const mount = es.find((e) => e.name === "unit sysroot.mount");
    assert.ok(mount && mount.end === undefined, "still activating: no end");
    assert.not.ok(
      es.some((e) => e.name === "unit systemd-udevd.service"),
      "a unit from before foyerd is not foyer's to show",
    );
    assert.match(f.log, /unit activation times on the timeline units=2/);
  } finally {
    conn.close();
  }
});

T("a bus without systemd: foyerd stops as always, no unit on the timeline", async (ctx) => {
  const f = (ctx.foyerd = new Foyerd("headless", { bundle: true, extraArgs: ["--bus", address] }));
  await f.until((l) => l.includes("owning org.foyer.Supervisor1"), 30_000, "foyerd on the bus");
  const code = await f.stop();
  assert.is(code, 0, `foyerd ended with ${code ?? f.proc.signalCode}; its log:\n${f.log}`);
  const r = parseTimeline(readFileSync(join(f.runtimeDir, "state/timeline.json"), "utf8"));
  assert.ok(r.ok && !r.data.entries.some((e) => e.name.startsWith("unit ")) && r.data.entries.some((e) => e.name === "exit"));
});

T.run();
