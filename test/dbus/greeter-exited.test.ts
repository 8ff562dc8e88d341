// With a real greeter (cage's headless backend + chromium, the headless-wayland profile): a
// killed greeter is reported as GreeterExited and GreeterRestarts/GreeterState follow through
// PropertiesChanged; RestartGreeter over the bus restarts it. The kill → signal latency is printed.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, readFileSync } from "node:fs";
import dbus from "dbus-next";
import { Foyerd, withTimeout, requireTool } from "../helpers/index.js";
import { PrivateBus, busctl, PRIVATE_ASK_DIR } from "./bus.js";
import { connectBus } from "../../src/dbus/service.js";
import type { BusConnection } from "../../src/base/bus-connection.js";

const NAME = "org.foyer.Supervisor1",
  PATH = "/org/foyer/Supervisor1",
  IFACE = "org.foyer.Supervisor1";
const bus = new PrivateBus();
let foyerd: Foyerd;
let conn: BusConnection | undefined;
let client: dbus.MessageBus;
const signals: { m: dbus.Message; at: number }[] = [];
const waiters: (() => void)[] = [];

function signal(from: number, pred: (m: dbus.Message) => boolean, what: string, ms = 30_000): Promise<{ m: dbus.Message; at: number }> {
  return withTimeout(
    new Promise((resolve) => {
      const check = () => {
        const s = signals.slice(from).find((x) => pred(x.m));
        if (s) resolve(s);
        return s !== undefined;
      };
      if (!check()) waiters.push(() => void check());
    }),
    ms,
    what,
  );
}

/** Every process's parent and name, from /proc/PID/stat. */
function processes(): { parent: Map<number, number>; comm: Map<number, string> } {
  const parent = new Map<number, number>();
  const comm = new Map<number, string>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const st = readFileSync(`/proc/${e}/stat`, "utf8");
      const close = st.lastIndexOf(")");
      comm.set(Number(e), st.slice(st.indexOf("(") + 1, close));
      parent.set(Number(e), Number(st.slice(close + 2).split(" ")[1]));
    } catch {
      /* exited meanwhile */
    }
  }
  return { parent, comm };
}

/** The cages under this test's foyerd (not another suite's), found by walking foyerd's descendants. */
function cages(): { found: number[]; ours: string } {
  const { parent, comm } = processes();
  const root = foyerd.proc.pid!;
  const isOurs = (p: number): boolean => {
    for (let q = parent.get(p); q !== undefined && q > 1; q = parent.get(q)) if (q === root) return true;
    return false;
  };
  // cage forks before it execs its client (and wlroots before Xwayland): a child still named cage
  // under a cage is not a second compositor
  const found = [...comm].filter(([p, c]) => c === "cage" && isOurs(p) && comm.get(parent.get(p)!) !== "cage").map(([p]) => p);
  const ours = [...comm]
    .filter(([p]) => isOurs(p))
    .map(([p, c]) => `${p}(${c}) ← ${parent.get(p)}(${comm.get(parent.get(p)!)})`)
    .join(", ");
  return { found, ours };
}

/**
 * The one cage under foyerd. A greeter being restarted (by the test or because it exited on its
 * own) has none for a moment: wait up to 30 s for exactly one, and say what ran when there never was.
 */
async function cagePid(): Promise<number> {
  const deadline = performance.now() + 30_000;
  for (;;) {
    const { found, ours } = cages();
    if (found.length === 1) return found[0]!;
    if (performance.now() > deadline)
      throw new Error(`expected one cage under foyerd, found ${found.length}; foyerd said:\n${foyerd.log.split("\n").slice(-30).join("\n")}\n${ours}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const restarts = () => Number(busctl(bus, ["get-property", NAME, PATH, IFACE, "GreeterRestarts"]).stdout.trim().split(" ")[1]);

test.before(async () => {
  requireTool("cage", "cage");
  requireTool("chromium", "chromium");
  await bus.start();
  conn = await withTimeout(connectBus(bus.address), 5000, "client connect");
  client = conn.bus;
  client.on("message", (m: dbus.Message) => {
    if (m.type !== dbus.MessageType.SIGNAL || m.path !== PATH) return;
    signals.push({ m, at: performance.now() });
    for (const w of waiters) w();
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
  foyerd = new Foyerd("headless-wayland", { wrap: PRIVATE_ASK_DIR, extraArgs: ["--bus", bus.address] });
  await foyerd.until((l) => l.includes(`owning ${NAME}`), 15_000, "foyerd owning its name");
  await foyerd.until((l) => l.includes("greeter interactive"), 90_000, "the greeter connecting");
});

test.after(async () => {
  conn?.close();
  if (foyerd) {
    await withTimeout(foyerd.stop(), 20_000, "foyerd stop").catch(() => foyerd.proc.kill("SIGKILL"));
    foyerd.cleanup();
  }
  await withTimeout(bus.cleanup(), 10_000, "bus cleanup");
});

test("a killed greeter: GreeterExited(-1, SIGKILL), then GreeterRestarts and GreeterState through PropertiesChanged", async () => {
  assert.is(busctl(bus, ["get-property", NAME, PATH, IFACE, "GreeterState"]).stdout.trim(), 's "running"');
  const figures: string[] = [];
  for (let i = 1; i <= 3; i++) {
    const pid = await cagePid();
    const before = restarts();
    const from = signals.length;
    const t0 = performance.now();
    process.kill(pid, "SIGKILL");
    const ex = await signal(from, (m) => m.member === "GreeterExited", "GreeterExited");
    figures.push(`${(ex.at - t0).toFixed(1)} ms`);
    assert.equal(ex.m.body, [-1, "SIGKILL"]);
    const pc = await signal(
      from,
      (m) => m.member === "PropertiesChanged" && (m.body[1] as Record<string, { value: unknown }>).GreeterRestarts?.value === before + 1,
      "GreeterRestarts +1",
    );
    assert.ok(pc.at >= ex.at);
    await signal(
      from,
      (m) => m.member === "PropertiesChanged" && (m.body[1] as Record<string, { value: unknown }>).GreeterState?.value === "running",
      "GreeterState running again",
      90_000,
    );
    assert.is.not(await cagePid(), pid);
  }
  console.log(`greeter SIGKILL → GreeterExited at a bus client: ${figures.join(", ")}`);
  const exits = signals.filter((s) => s.m.member === "GreeterExited").map((s) => JSON.stringify(s.m.body));
  if (exits.length !== 3) console.log(`the greeter also exited on its own: every GreeterExited was ${exits.join(", ")}`);
});

test("RestartGreeter through busctl stops the greeter and a new one comes up", async () => {
  const pid = await cagePid();
  const before = restarts();
  const from = signals.length;
  const t0 = performance.now();
  const r = busctl(bus, ["call", NAME, PATH, IFACE, "RestartGreeter"]);
  assert.is(r.code, 0, r.stderr);
  const ex = await signal(from, (m) => m.member === "GreeterExited", "GreeterExited after RestartGreeter");
  await signal(
    from,
    (m) => m.member === "PropertiesChanged" && (m.body[1] as Record<string, { value: unknown }>).GreeterState?.value === "running",
    "GreeterState running again",
    90_000,
  );
  console.log(
    `RestartGreeter → GreeterExited ${(ex.at - t0).toFixed(0)} ms (exit ${JSON.stringify(ex.m.body)}); → running again ${(performance.now() - t0).toFixed(0)} ms`,
  );
  assert.is(restarts(), before + 1);
  assert.is.not(await cagePid(), pid);
});

/** Alive and not a zombie. */
const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
};

test("Handoff (foyerctl handoff) returns once the display is released: the compositor and the browser are gone", async () => {
  const cage = await cagePid();
  const browser = [...processes().parent].filter(([, pp]) => pp === cage).map(([p]) => p);
  assert.ok(browser.length > 0, "no browser under cage");
  const r = busctl(bus, ["--timeout=30", "call", NAME, PATH, IFACE, "Handoff"]);
  assert.is(r.code, 0, r.stderr);
  const left = [cage, ...browser].filter(alive);
  assert.equal(left, [], `Handoff returned while the greeter still ran: ${left.join(", ")}`);
  await foyerd.until((l) => /handoff requested/.test(l), 10_000, "foyerd logging the handoff");
});

test.run();
