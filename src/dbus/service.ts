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
// finds the bus's socket: it stays off the way to the first prompt, and a foyerd with no bus
// (an initrd without dbus-broker, a plain host) never loads it.
import { closeQuietly } from "../base/bus-close.js";
import type dbus from "dbus-next";
import { existsSync } from "node:fs";
import { EventEmitter } from "node:events";
import { FoyerError, describe } from "../base/errors.js";
import { withTimeout, monotonicMs } from "../base/timeout.js";
import type { Logger } from "../base/log.js";
import type { Supervisor1 } from "./supervisor1.js";
import { BUS_NAME, OBJECT_PATH, INTERFACE, INVALID_ARGS, METHOD_SIGNATURES, propertyValues, type SupervisorPort, type SupervisorView } from "./names.js";

type DBus = typeof dbus;
let loading: Promise<{ dbus: DBus; Supervisor1: typeof Supervisor1 }> | undefined;
/** dbus-next and the interface class, loaded once, on first use. */
export function loadDBus(): Promise<{ dbus: DBus; Supervisor1: typeof Supervisor1 }> {
  return (loading ??= Promise.all([import("dbus-next"), import("./supervisor1.js")]).then(([d, s]) => ({ dbus: d.default, Supervisor1: s.Supervisor1 })));
}

export { closeQuietly }; // callers of the bus service close their connections with it too

export const SYSTEM_BUS_DEFAULT = "unix:path=/run/dbus/system_bus_socket";
const CALL_TIMEOUT_MS = 2000;
const BACKOFF_INITIAL_MS = 100;
const BACKOFF_MAX_MS = 2000;

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

/** A MessageBus that is connected (Hello answered), or a timeout/connection error. */
export async function connectBus(address: string, ms = CALL_TIMEOUT_MS): Promise<dbus.MessageBus> {
  const { dbus } = await loadDBus();
  const bus = dbus.sessionBus({ busAddress: address });
  try {
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        bus.once("connect", () => resolve());
        bus.once("error", (e: unknown) => reject(e));
      }),
      ms,
      `connecting to ${address}`,
    );
  } catch (e) {
    closeQuietly(bus);
    throw e;
  }
  return bus;
}


/** The socket file of a unix:path= address when it does not exist (nothing to connect to yet). */
export function absentSocket(address: string): string | undefined {
  const path = /^unix:path=([^,;]+)/.exec(address)?.[1];
  return path !== undefined && !existsSync(path) ? path : undefined;
}

/** The connection's end, which dbus-next does not forward from its stream to the MessageBus. */
function onEnd(bus: dbus.MessageBus, f: () => void): void {
  const conn = (bus as unknown as { _connection?: EventEmitter })._connection;
  conn?.once("end", f);
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
  #dbus?: DBus; // loaded by the first attempt that found the socket
  #bus?: dbus.MessageBus;
  #iface?: Supervisor1;
  #unsubscribe?: () => void;
  #retry?: NodeJS.Timeout;
  #backoff = BACKOFF_INITIAL_MS;
  #stopped = false;
  #since = 0; // monotonic ms when the current (re)connection effort began
  #attempts = 0;
  #last?: Record<string, string>; // JSON of each property at the last PropertiesChanged
  #connecting = false;

  constructor(o: ServiceOptions) {
    super();
    this.#o = o;
    this.#log = o.log;
    this.#address = resolveBusAddress(o.bus);
  }

  get owned(): boolean {
    return this.#iface !== undefined;
  }

  /** Starts the first connection; never throws: an absent bus is retried in the background. */
  start(): void {
    this.#since = monotonicMs();
    void this.#attempt();
  }

  async #attempt(): Promise<void> {
    if (this.#stopped || this.#connecting) return;
    this.#connecting = true;
    this.#attempts += 1;
    let bus: dbus.MessageBus | undefined;
    try {
      const absent = absentSocket(this.#address);
      if (absent) throw new FoyerError("not-found", `no socket at ${absent}`);
      const { dbus, Supervisor1 } = await loadDBus();
      this.#dbus = dbus;
      bus = await connectBus(this.#address);
      const lost = (why: string) => this.#lost(bus!, why);
      bus.on("error", (e: unknown) => lost(describe(e)));
      onEnd(bus, () => lost("the bus closed the connection"));
      if (this.#stopped) throw new FoyerError("internal", "stopped while connecting");
      bus.addMethodHandler((m: dbus.Message) => this.#checkSignature(bus!, m));
      const iface = new Supervisor1(this.#o.port, this.#log);
      // exported before the name is owned: a caller that waits for the name finds the object
      bus.export(OBJECT_PATH, iface);
      const reply = await withTimeout(bus.requestName(BUS_NAME, dbus.NameFlag.DO_NOT_QUEUE), CALL_TIMEOUT_MS, "RequestName");
      if (reply !== dbus.RequestNameReply.PRIMARY_OWNER && reply !== dbus.RequestNameReply.ALREADY_OWNER) {
        throw new FoyerError("busy", `${BUS_NAME} is owned by another connection`);
      }
      if (this.#bus !== undefined || this.#stopped) throw new FoyerError("internal", "connection superseded");
      this.#bus = bus;
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
      this.#backoff = BACKOFF_INITIAL_MS;
      this.#attempts = 0;
    } catch (e) {
      if (bus) closeQuietly(bus);
      if (!this.#stopped) {
        // the first failure is worth a line; the retries that follow are not
        const log = this.#attempts === 1 ? this.#log.warning.bind(this.#log) : this.#log.debug.bind(this.#log);
        log(`bus '${this.#address}' not usable, retrying in ${this.#backoff} ms`, { err: describe(e) });
        this.#schedule();
      }
    } finally {
      this.#connecting = false;
    }
  }

  #schedule(): void {
    clearTimeout(this.#retry);
    this.#retry = setTimeout(() => void this.#attempt(), this.#backoff);
    this.#backoff = Math.min(BACKOFF_MAX_MS, this.#backoff * 2);
  }

  #lost(bus: dbus.MessageBus, why: string): void {
    if (bus !== this.#bus) return; // a connection that never got to serve, or already dropped
    this.#log.warning(`lost the bus: ${why}; supervising on, reconnecting`);
    this.#drop();
    this.emit("lost");
    this.#since = monotonicMs();
    this.#backoff = BACKOFF_INITIAL_MS;
    this.#schedule();
  }

  #drop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    const bus = this.#bus, iface = this.#iface;
    this.#bus = undefined;
    this.#iface = undefined;
    if (bus && iface) {
      try {
        bus.unexport(OBJECT_PATH, iface);
      } catch {
        /* not exported */
      }
    }
    if (bus) closeQuietly(bus);
  }

  /** dbus-next answers a known method with a wrong signature as UnknownMethod; it is bad arguments. */
  #checkSignature(bus: dbus.MessageBus, m: dbus.Message): boolean {
    if (m.path !== OBJECT_PATH || m.interface !== INTERFACE) return false;
    const want = METHOD_SIGNATURES[m.member];
    if (want === undefined || want === (m.signature || "")) return false;
    // (the typings say newError takes a string; it takes the call it answers)
    bus.send(this.#dbus!.Message.newError(m as unknown as string, INVALID_ARGS, `${m.member} takes signature '${want}', got '${m.signature || ""}'`));
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
    if (Object.keys(changed).length > 0) this.#dbus!.interface.Interface.emitPropertiesChanged(this.#iface, changed, []);
  }

  /** Releases the name (bounded) and closes the connection; no reconnect after this. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    const bus = this.#bus;
    if (bus) {
      try {
        await withTimeout(bus.releaseName(BUS_NAME), 1000, "ReleaseName");
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
