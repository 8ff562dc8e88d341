// The one D-Bus connection (src/base/bus-connection.ts) against a real dbus-daemon: connecting
// within a timeout, calls with a timeout and checked replies, errors naming the method and the
// destination, the end of a connection (the bus killed, a call left unanswered, never after
// close()), and the reconnect's backoff. A stand-in on the bus owns a name and answers as told.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createServer, Socket as NetSocket, type Server, type Socket } from "node:net";
import { createRequire } from "node:module";
import { readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import dbus from "dbus-next";
import { BusConnection, Reconnect, busDaemonCall, dbusError, dbusErrorName, viaNodeSocket, type DBusMessage } from "../../src/base/bus-connection.js";
import { FoyerError } from "../../src/base/errors.js";
import { pollUntil, withTimeout } from "../helpers/index.js";
import { PrivateBus } from "../dbus/bus.js";

const NAME = "org.foyer.Test",
  PATH = "/org/foyer/Test",
  IFACE = "org.foyer.Test";
// a bus where anyone may own and call anything: only the connection is under test
const bus = new PrivateBus({ open: true });
const address = bus.address;
let owner: BusConnection | undefined;
/** how the stand-in answers a call: "ok" (its argument back), "silent", "wrong" (Get: a plain string) */
let mode: "ok" | "silent" | "wrong" = "ok";
const open: BusConnection[] = [];

async function connect(o: Partial<Parameters<typeof BusConnection.connect>[0]> = {}): Promise<BusConnection> {
  const c = await BusConnection.connect({ address, timeoutMs: 2000, ...o });
  open.push(c);
  return c;
}

const caught = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as Error,
  );

test.before(async () => {
  await bus.start();
  const o = (owner = await BusConnection.connect({ address, timeoutMs: 5000 }));
  await withTimeout(o.bus.requestName(NAME, 0), 5000, `owning ${NAME}`);
  o.bus.addMethodHandler((m: DBusMessage) => {
    if (m.path !== PATH || mode === "silent") return true;
    if (m.member === "Echo") o.bus.send(dbus.Message.newMethodReturn(m, "s", [m.body[0]]));
    else if (m.member === "Get")
      o.bus.send(
        mode === "wrong" ? dbus.Message.newMethodReturn(m, "s", ["no variant"]) : dbus.Message.newMethodReturn(m, "v", [new dbus.Variant("s", "252")]),
      );
    // (the typings say newError takes a string; it takes the call it answers)
    else if (m.member === "Fail") o.bus.send(dbus.Message.newError(m as unknown as string, "org.foyer.Test.Error.Refused", "refused, as asked"));
    return true;
  });
});

test.after.each(() => {
  mode = "ok";
  for (const c of open.splice(0)) c.close();
});

test.after(async () => {
  owner?.close();
  await withTimeout(bus.cleanup(), 10_000, "bus cleanup");
});

test("no socket at the address: not-found, without a connection attempt", async () => {
  const e = await caught(BusConnection.connect({ address: `unix:path=${join(bus.dir, "none")}`, name: "systemd", timeoutMs: 2000 }));
  assert.instance(e, FoyerError);
  assert.is((e as FoyerError).code, "not-found");
  assert.is(e!.message, `cannot reach systemd at 'unix:path=${join(bus.dir, "none")}': no socket there`);
});

/** This process's open sockets. */
function sockets(): number {
  return readdirSync("/proc/self/fd").filter((f) => {
    try {
      return readlinkSync(`/proc/self/fd/${f}`).startsWith("socket:");
    } catch {
      return false;
    }
  }).length;
}

test("a socket that accepts and never answers: a timeout within timeoutMs, and the socket is given back", async () => {
  const path = join(bus.dir, "silent");
  const accepted: Socket[] = [];
  // never read: a hung broker does not, so only a destroy() on foyer's side frees foyer's socket
  const server: Server = createServer((s) => accepted.push(s.on("error", () => {})));
  await withTimeout(new Promise<void>((r) => server.listen(path, r)), 5000, "listen");
  try {
    const before = sockets();
    const t0 = performance.now();
    const e = await caught(BusConnection.connect({ address: `unix:path=${path}`, timeoutMs: 300 }));
    const ms = performance.now() - t0;
    assert.instance(e, FoyerError);
    assert.is((e as FoyerError).code, "timeout");
    assert.is(e!.message, `cannot reach the bus at 'unix:path=${path}': timed out after 300 ms`);
    assert.ok(ms < 1500, `gave up after ${ms} ms`);
    assert.is(accepted.length, 1);
    for (const s of accepted) s.destroy();
    await pollUntil(() => sockets() === before, 2000, `the sockets back at ${before} (now ${sockets()})`);
  } finally {
    await withTimeout(new Promise<void>((r) => server.close(() => r())), 5000, "server close");
  }
});

test("a call: the reply's body; a D-Bus error comes back as the D-Bus error", async () => {
  const c = await connect({ destination: NAME, name: "the stand-in" });
  assert.equal(await c.call({ path: PATH, interface: IFACE, member: "Echo", signature: "s", body: ["hi"] }), ["hi"]);
  assert.is(await c.get(PATH, IFACE, "Version"), "252");
  const e = await caught(c.call({ path: PATH, interface: IFACE, member: "Fail" }));
  assert.equal(dbusError(e), { name: "org.foyer.Test.Error.Refused", text: "refused, as asked" });
  assert.is(dbusErrorName(e), "org.foyer.Test.Error.Refused");
  assert.is(dbusErrorName(new Error("plain")), "");
  assert.not.ok(c.closed, "an error reply is an answer: the connection stays");
  // the bus daemon's own methods
  const [names] = await c.call(busDaemonCall("ListNames"));
  assert.ok(Array.isArray(names) && names.includes(NAME), JSON.stringify(names));
});

test("a reply of the wrong shape is a protocol-error naming the method and who sent it", async () => {
  const c = await connect({ destination: NAME, name: "the stand-in" });
  mode = "wrong";
  const e = await caught(c.get(PATH, IFACE, "Version"));
  assert.instance(e, FoyerError);
  assert.is((e as FoyerError).code, "protocol-error");
  assert.is(e!.message, "the stand-in's reply to Get Version is not a variant");
  // named by its destination when it is not the connection's own
  const other = await connect();
  const e2 = await caught(other.get(PATH, IFACE, "Version", NAME));
  assert.is(e2!.message, `${NAME}'s reply to Get Version is not a variant`);
});

test("a call left unanswered: a timeout naming the method and destination, and the connection ends", async () => {
  const c = await connect({ callTimeoutMs: 300 });
  const ends: string[] = [];
  c.on("end", (why: string) => ends.push(why));
  mode = "silent";
  const e = await caught(c.call({ destination: NAME, path: PATH, interface: IFACE, member: "Echo", signature: "s", body: ["hi"] }));
  assert.instance(e, FoyerError);
  assert.is((e as FoyerError).code, "timeout");
  assert.is(e!.message, `${NAME} Echo timed out after 300 ms`);
  assert.equal(ends, [`${NAME} did not answer Echo within 300 ms`]);
  assert.ok(c.closed);
  mode = "ok";
  const again = await caught(c.call({ destination: NAME, path: PATH, interface: IFACE, member: "Echo", signature: "s", body: ["hi"] }));
  assert.is(again!.message, `the connection to ${NAME} is closed`);
  assert.equal(ends.length, 1, "one end");
});

test("ready: connecting waits for it, and a failing one fails the connection", async () => {
  const c = await connect({ destination: NAME, ready: (c) => c.get(PATH, IFACE, "Version") });
  assert.not.ok(c.closed);
  mode = "wrong";
  const e = await caught(connect({ destination: NAME, ready: (c) => c.get(PATH, IFACE, "Version") }));
  assert.is((e as FoyerError).code, "protocol-error");
});

test("signals: each one the connection receives, after a match rule", async () => {
  const c = await connect();
  const got = new Promise<DBusMessage>((resolve) => c.on("signal", (m: DBusMessage) => m.member === "Ping" && resolve(m)));
  await c.addMatch(`type='signal',interface='${IFACE}'`);
  owner!.bus.send(dbus.Message.newSignal(PATH, IFACE, "Ping", "s", ["pong"]));
  assert.equal((await withTimeout(got, 5000, "the signal")).body, ["pong"]);
  c.removeMatch(`type='signal',interface='${IFACE}'`);
});

test("peer-to-peer: no Hello is sent (so a bus daemon, which wants one first, answers nothing)", async () => {
  const c = await connect({ peer: true, callTimeoutMs: 300 });
  assert.is((c.bus as unknown as { name: string }).name, ":peer", "the Hello answered by the connection itself");
  const ends: string[] = [];
  c.on("end", (why: string) => ends.push(why));
  const e = await caught(c.call(busDaemonCall("ListNames")));
  assert.is((e as FoyerError).code, "timeout");
  assert.equal(ends, ["org.freedesktop.DBus did not answer ListNames within 300 ms"]);
});

test("addresses: unix paths and abstract names are opened with Node's own socket", () => {
  const cases: [string, string][] = [
    ["unix:path=/run/systemd/private", "unix:socket=/run/systemd/private"],
    ["unix:abstract=/tmp/dbus-x,guid=ab12", "unix:socket=\0/tmp/dbus-x,guid=ab12"],
    ["unix:path=/a;tcp:host=localhost,port=1", "unix:socket=/a;tcp:host=localhost,port=1"],
    ["tcp:host=localhost,port=1", "tcp:host=localhost,port=1"],
  ];
  for (const [given, want] of cases) assert.is(viaNodeSocket(given), want, given);
});

test("a connection on a unix path is a Node socket; dbus-next's usocket addon is never loaded", async () => {
  const c = await connect();
  const stream = (c.bus as unknown as { _connection: { stream: unknown } })._connection.stream;
  assert.instance(stream, NetSocket);
  const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes("/usocket/"));
  assert.equal(loaded, []);
});

test("an abstract address reaches the listener on that name", async () => {
  const name = `foyer-test-abstract-${process.pid}`;
  const accepted: Socket[] = [];
  const server: Server = createServer((s) => accepted.push(s.on("error", () => {})));
  await withTimeout(new Promise<void>((r) => server.listen(`\0${name}`, r)), 5000, "listen");
  try {
    const e = await caught(BusConnection.connect({ address: `unix:abstract=${name}`, timeoutMs: 300 }));
    assert.is((e as FoyerError).code, "timeout");
    assert.is(accepted.length, 1);
  } finally {
    for (const s of accepted) s.destroy();
    await withTimeout(new Promise<void>((r) => server.close(() => r())), 5000, "server close");
  }
});

test("the bus killed: the end is said once; close() says nothing", async () => {
  const quiet = await connect();
  const c = await connect();
  const ends: string[] = [];
  c.on("end", (why: string) => ends.push(why));
  quiet.on("end", () => assert.unreachable("an end after close()"));
  quiet.close();
  owner?.close();
  await bus.kill();
  await withTimeout(new Promise<void>((r) => (ends.length ? r() : c.once("end", () => r()))), 5000, "the end");
  assert.equal(ends.length, 1);
  assert.match(ends[0]!, /the bus closed the connection|ECONNRESET/);
  assert.ok(c.closed);
  // the address answers again once a new bus listens there
  await bus.start();
  const back = await connect();
  assert.equal((await back.call(busDaemonCall("NameHasOwner", "s", [NAME])))[0], false);
});

test("the reconnect's backoff: doubles to its cap, one try at a time, back to the start after a success", async () => {
  const waits: number[] = [];
  let fails = 4;
  let tries = 0;
  let succeeded!: () => void;
  let done = new Promise<void>((r) => (succeeded = r));
  const r = new Reconnect(
    async () => {
      tries += 1;
      if (fails-- > 0) throw new Error("not yet");
      succeeded();
    },
    (_, ms) => waits.push(ms),
    { initialMs: 5, maxMs: 20 },
  );
  const first = r.now();
  void r.now(); // while the first runs: no second try
  await first;
  await withTimeout(done, 5000, "the success");
  assert.equal(waits, [5, 10, 20, 20]);
  assert.is(tries, 5);
  // after a success the wait starts over
  fails = 1;
  done = new Promise<void>((r) => (succeeded = r));
  r.later();
  await withTimeout(done, 5000, "the second success");
  assert.equal(waits, [5, 10, 20, 20, 10]);
  // stopped: no try after
  r.stop();
  r.later();
  await r.now();
  await new Promise((res) => setTimeout(res, 30));
  assert.is(tries, 7);
});

test.run();
