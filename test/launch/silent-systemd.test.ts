// A systemd that stops answering, on a real dbus-daemon: a stand-in owns org.freedesktop.systemd1
// and answers the Version check, then goes silent. A call must time out, the connection must be
// given up ("lost", closed) instead of being kept as if it worked, and the link must make a new one
// once systemd answers again.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import * as dbus from "dbus-next";
import { SystemdBus } from "../../src/launch/systemd-bus.js";
import { SystemdLink } from "../../src/launch/systemd.js";
import { closeQuietly } from "../../src/base/bus-close.js";
import { collectingLogger, pollUntil, requireTool, withTimeout } from "../helpers/index.js";

const dir = mkdtempSync(join(tmpdir(), "foyer-silent-systemd-"));
const address = `unix:path=${join(dir, "bus")}`;
let daemon: ChildProcess;
let owner: dbus.MessageBus;
let answering = true;

test.before(async () => {
  requireTool("dbus-daemon", "dbus-daemon");
  // a bus where anyone may own and call anything: only the stand-in's silence is under test
  writeFileSync(join(dir, "bus.conf"), `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>${address}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_type="method_call"/><allow send_type="method_return"/><allow send_type="error"/><allow send_type="signal"/><allow receive_type="method_call"/><allow receive_type="method_return"/><allow receive_type="error"/><allow receive_type="signal"/></policy>
</busconfig>`);
  daemon = spawn("dbus-daemon", ["--config-file", join(dir, "bus.conf"), "--nofork", "--nopidfile", "--print-address=1"], { stdio: ["ignore", "pipe", "inherit"] });
  await withTimeout(new Promise((r) => daemon.stdout!.once("data", r)), 5000, "dbus-daemon start");
  owner = dbus.sessionBus({ busAddress: address });
  await withTimeout(owner.requestName("org.freedesktop.systemd1", 0), 5000, "owning org.freedesktop.systemd1");
  // the stand-in: Version when answering, nothing at all otherwise
  (owner as unknown as { addMethodHandler(f: (m: dbus.Message) => boolean): void }).addMethodHandler((m) => {
    if (answering && m.member === "Get") owner.send(dbus.Message.newMethodReturn(m, "v", [new dbus.Variant("s", "252")]));
    return true;
  });
});

test.after(() => {
  closeQuietly(owner);
  daemon.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

test("a call systemd never answers: it times out, and the connection is given up as lost", async () => {
  answering = true;
  const sd = await SystemdBus.connect({ address, peer: false, timeoutMs: 500 });
  let lost = "";
  sd.on("lost", (why: string) => (lost = why));
  answering = false;
  const err = await sd.manager("ListUnits").then(() => undefined, (e: Error) => e);
  assert.ok(err, "the call returned");
  assert.match(err!.message, /systemd ListUnits timed out after 500 ms/);
  assert.is(lost, "systemd did not answer ListUnits within 500 ms");
  assert.ok(sd.closed, "the silent connection was kept");
});

test("the link: a silent systemd is dropped, and a new connection is made once it answers again", async () => {
  answering = true;
  const lines: string[] = [];
  const link = await SystemdLink.open({ address, peer: false, timeoutMs: 500 }, collectingLogger(lines));
  try {
    const first = link.bus!;
    answering = false;
    await first.manager("ListUnits").catch(() => {});
    assert.ok(lines.some((l) => l.includes("lost systemd's bus: systemd did not answer ListUnits within 500 ms")), lines.join("\n"));
    answering = true;
    await pollUntil(() => lines.some((l) => l.includes("systemd's bus is back")), 10_000, `the link back; it logged:\n${lines.join("\n")}`);
    assert.ok(link.bus && link.bus !== first, "no new connection");
  } finally {
    link.close();
  }
});

test.run();
