// A systemd that stops answering, on a real dbus-daemon: a stand-in owns org.freedesktop.systemd1
// and answers the Version check, then goes silent. A call must time out, the connection must be
// given up ("end", closed) instead of being kept as if it worked, and the link must make a new one
// once systemd answers again.
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as dbus from "dbus-next";
import { connectSystemd, manager } from "../../src/launch/systemd-bus.js";
import { SystemdLink } from "../../src/launch/systemd.js";
import { BusConnection } from "../../src/base/bus-connection.js";
import { collectingLogger, pollUntil, withTimeout } from "../helpers/index.js";
import { PrivateBus } from "../dbus/bus.js";

// a bus where anyone may own and call anything: only the stand-in's silence is under test
const bus = new PrivateBus({ open: true });
const address = bus.address;
let owner: BusConnection;
let answering = true;

test.before(async () => {
  await bus.start();
  owner = await BusConnection.connect({ address, timeoutMs: 5000 });
  await withTimeout(owner.bus.requestName("org.freedesktop.systemd1", 0), 5000, "owning org.freedesktop.systemd1");
  // the stand-in: Version when answering, nothing at all otherwise
  owner.bus.addMethodHandler((m: dbus.Message) => {
    if (answering && m.member === "Get") owner.bus.send(dbus.Message.newMethodReturn(m, "v", [new dbus.Variant("s", "252")]));
    return true;
  });
});

test.after(async () => {
  owner?.close();
  await withTimeout(bus.cleanup(), 10_000, "bus cleanup");
});

test("a call systemd never answers: it times out, and the connection is given up as lost", async () => {
  answering = true;
  const sd = await connectSystemd({ address, peer: false, timeoutMs: 500, callTimeoutMs: 500 });
  let lost = "";
  sd.on("end", (why: string) => (lost = why));
  answering = false;
  const err = await manager(sd, "ListUnits").then(
    () => undefined,
    (e: Error) => e,
  );
  assert.ok(err, "the call returned");
  assert.match(err!.message, /systemd ListUnits timed out after 500 ms/);
  assert.is(lost, "systemd did not answer ListUnits within 500 ms");
  assert.ok(sd.closed, "the silent connection was kept");
});

test("the link: a silent systemd is dropped, and a new connection is made once it answers again", async () => {
  answering = true;
  const lines: string[] = [];
  const link = await SystemdLink.open({ address, peer: false, timeoutMs: 500, callTimeoutMs: 500 }, collectingLogger(lines));
  try {
    const first = link.bus!;
    answering = false;
    await manager(first, "ListUnits").catch(() => {});
    // a start asked for meanwhile waits for the link, and a wait that gives up leaves no listener
    assert.match(
      await link.current(100).then(
        () => "up",
        (e: Error) => e.message,
      ),
      "systemd's bus is not connected",
    );
    assert.is(link.listenerCount("up") + link.listenerCount("closed"), 0, "a wait's listeners are left");
    assert.ok(
      lines.some((l) => l.includes("lost systemd's bus: systemd did not answer ListUnits within 500 ms")),
      lines.join("\n"),
    );
    answering = true;
    await pollUntil(() => lines.some((l) => l.includes("systemd's bus is back")), 10_000, `the link back; it logged:\n${lines.join("\n")}`);
    assert.ok(link.bus && link.bus !== first, "no new connection");
  } finally {
    link.close();
  }
});

test.run();
