// The D-Bus face of foyerd: owns org.foyer.Supervisor1 and keeps owning it.
//
// dbus-next never reconnects: when the bus goes away (dbus-broker stops at switch-root, a bus
// restart) the connection ends and later calls never settle. foyerd must go on supervising
// regardless, so the service treats the bus as optional: on 'end' or 'error' it drops the
// connection and builds a new one, with a backoff from 100 ms doubling to 2 s, until the bus
// answers again; then it exports the object, re-owns the name and re-subscribes to the
// supervisor. Every call it makes has a timeout, so a bus that accepts but never answers is a
// failed attempt, not a hang.
//
// dbus-next (a third of foyerd's bundle with its XML parser) is loaded by the first attempt that
// finds the bus's socket (base/bus-connection.ts), the interface class after it: both stay off
// the way to the first prompt, and a foyerd with no bus (an initrd without dbus-broker, a plain
// host) never loads them.
import { EventEmitter } from "node:events";
import { FoyerError, describe } from "../base/errors.js";
import { monotonicMs } from "../base/timeout.js";
import { BusConnection, Reconnect, busDaemonCall, type DBusMessage } from "../base/bus-connection.js";
import type { Logger } from "../base/log.js";
import type { Supervisor1 } from "./supervisor1.js";
import { BUS_NAME, OBJECT_PATH, INTERFACE, INVALID_ARGS, METHOD_SIGNATURES, propertyValues, type SupervisorPort, type SupervisorView } from "./names.js";

export const SYSTEM_BUS_DEFAULT = "unix:path=/run/dbus/system_bus_socket";
const CALL_TIMEOUT_MS = 2000;

/** `system` → $DBUS_SYSTEM_BUS_ADDRESS or the standard socket; anything else is a D-Bus address. */
export function resolveBusAddress(bus: string): string {
  return bus === "system" ? process.env.DBUS_SYSTEM_BUS_ADDRESS || SYSTEM_BUS_DEFAULT : bus;
}

/**
 * A problem with a --bus value, or undefined when usable: "system", "none" (foyerd only) or a
 * D-Bus address dbus-next can open (unix:path=, unix:abstract=, tcp:). Caught at argument
 * parsing: dbus-next would otherwise fail inside with a TypeError on every retry.
 */
export function checkBusOption(bus: string, allowNone: boolean): string | undefined {
  if (bus === "system" || (allowNone && bus === "none")) return undefined;
  // extra keys (",guid=…", as dbus-daemon --print-address writes) are allowed and ignored
  if (/^unix:(path|abstract|socket)=[^,;]+(,[a-z]+=[^,;]*)*$/.test(bus) || /^tcp:(host=[^,;]+,)?port=\d+(,[a-z]+=[^,;]*)*$/.test(bus)) return undefined;
  return `--bus '${bus}' is not ${allowNone ? "'system', 'none'" : "'system'"} or a D-Bus address like unix:path=/run/dbus/system_bus_socket`;
}

/** A connection to the bus at `address` (Hello answered), or a FoyerError. */
export function connectBus(address: string, timeoutMs = CALL_TIMEOUT_MS): Promise<BusConnection> {
  return BusConnection.connect({ address, timeoutMs });
}

export interface ServiceOptions {
  /** a D-Bus address, or "system" */
  bus: string;
  port: SupervisorPort;
  log: Logger;
}

/** Events: "owned" (ms the (re)connection took, attempt count), "lost". */
export class SupervisorService extends EventEmitter {
  #o: ServiceOptions;
  #log: Logger;
  #address: string;
  #conn?: BusConnection;
  #iface?: Supervisor1;
  #unsubscribe?: () => void;
  #reconnect: Reconnect;
  #stopped = false;
  #since = 0; // monotonic ms when the current (re)connection effort began
  #attempts = 0;
  #last?: Record<string, string>; // JSON of each property at the last PropertiesChanged

  constructor(o: ServiceOptions) {
    super();
    this.#o = o;
    this.#log = o.log;
    this.#address = resolveBusAddress(o.bus);
    this.#reconnect = new Reconnect(
      () => this.#attempt(),
      (e, ms) => {
        // the first failure is worth a line; the retries that follow are not
        const log = this.#attempts === 1 ? this.#log.warning.bind(this.#log) : this.#log.debug.bind(this.#log);
        log(`bus '${this.#address}' not usable, retrying in ${ms} ms`, { err: describe(e) });
      },
    );
  }

  get owned(): boolean {
    return this.#iface !== undefined;
  }

  /** Starts the first connection; never throws: an absent bus is retried in the background. */
  start(): void {
    this.#since = monotonicMs();
    void this.#reconnect.now();
  }

  async #attempt(): Promise<void> {
    this.#attempts += 1;
    let conn: BusConnection | undefined;
    try {
      const c = (conn = await connectBus(this.#address));
      c.once("end", (why: string) => this.#lost(c, why));
      const { Supervisor1 } = await import("./supervisor1.js");
      if (this.#stopped) throw new FoyerError("internal", "stopped while connecting");
      c.bus.addMethodHandler((m: DBusMessage) => this.#checkSignature(c, m));
      const iface = new Supervisor1(this.#o.port, this.#log);
      // exported before the name is owned: a caller that waits for the name finds the object
      c.bus.export(OBJECT_PATH, iface);
      const [reply] = await c.call(busDaemonCall("RequestName", "su", [BUS_NAME, c.dbus.NameFlag.DO_NOT_QUEUE]));
      if (reply !== c.dbus.RequestNameReply.PRIMARY_OWNER && reply !== c.dbus.RequestNameReply.ALREADY_OWNER) {
        throw new FoyerError("busy", `${BUS_NAME} is owned by another connection`);
      }
      if (this.#conn !== undefined || this.#stopped) throw new FoyerError("internal", "connection superseded");
      this.#conn = c;
      this.#iface = iface;
      this.#last = snapshotJson(this.#o.port.view());
      this.#unsubscribe = this.#o.port.subscribe({
        changed: () => this.#changed(),
        phase: (p) => this.#iface?.PhaseChanged(p),
        greeterExited: (code, signal) => this.#iface?.GreeterExited(code ?? -1, signal ?? ""),
      });
      const ms = monotonicMs() - this.#since;
      this.#log.info(`owning ${BUS_NAME}`, { address: this.#address, ms, attempts: this.#attempts });
      this.emit("owned", ms, this.#attempts);
      this.#attempts = 0;
    } catch (e) {
      conn?.close();
      throw e;
    }
  }

  #lost(conn: BusConnection, why: string): void {
    if (conn !== this.#conn || this.#stopped) return; // a connection that never got to serve, or already dropped
    this.#log.warning(`lost the bus: ${why}; supervising on, reconnecting`);
    this.#drop();
    this.emit("lost");
    this.#since = monotonicMs();
    this.#reconnect.later();
  }

  #drop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    const conn = this.#conn,
      iface = this.#iface;
    this.#conn = undefined;
    this.#iface = undefined;
    if (conn && iface) {
      try {
        conn.bus.unexport(OBJECT_PATH, iface);
      } catch {
        /* not exported */
      }
    }
    conn?.close();
  }

  /** dbus-next answers a known method with a wrong signature as UnknownMethod; it is bad arguments. */
  #checkSignature(conn: BusConnection, m: DBusMessage): boolean {
    if (m.path !== OBJECT_PATH || m.interface !== INTERFACE) return false;
    const want = METHOD_SIGNATURES[m.member];
    if (want === undefined || want === (m.signature || "")) return false;
    // (the typings say newError takes a string; it takes the call it answers)
    conn.bus.send(conn.dbus.Message.newError(m as unknown as string, INVALID_ARGS, `${m.member} takes signature '${want}', got '${m.signature || ""}'`));
    return true;
  }

  /** Emits PropertiesChanged for the properties whose value differs from the last emission. */
  #changed(): void {
    if (!this.#iface || !this.#last) return;
    const v = this.#o.port.view();
    const now = snapshotJson(v);
    const values = propertyValues(v);
    const changed: Record<string, unknown> = {};
    for (const [k, j] of Object.entries(now)) if (this.#last[k] !== j) changed[k] = values[k];
    this.#last = now;
    if (Object.keys(changed).length > 0) this.#conn?.dbus.interface.Interface.emitPropertiesChanged(this.#iface, changed, []);
  }

  /** Releases the name (bounded) and closes the connection; no reconnect after this. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#reconnect.stop();
    const conn = this.#conn;
    if (conn) {
      try {
        await conn.call(busDaemonCall("ReleaseName", "s", [BUS_NAME]), 1000);
      } catch (e) {
        this.#log.debug("releasing the name failed, ignoring", { err: describe(e) });
      }
    }
    this.#drop();
  }
}

function snapshotJson(v: SupervisorView): Record<string, string> {
  return Object.fromEntries(Object.entries(propertyValues(v)).map(([k, x]) => [k, JSON.stringify(x)]));
}
