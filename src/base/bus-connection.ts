// One D-Bus connection, the one way foyer talks on a bus: foyer's own service, its link to
// systemd, the unit times and foyerctl all connect through here. A connection is made within a
// timeout, on a bus or peer-to-peer; says once that it ended ("end": an error, the socket closing,
// a call left unanswered; never after close()); gives every call a timeout and checks the reply
// before it is used. Reconnect is the callers' choice, with the backoff below.
//
// Peer-to-peer is systemd's private socket /run/systemd/private: no bus daemon, no Hello, no
// match rules; systemd sends its signals straight to every connection that called Subscribe().
// dbus-next always sends Hello() from its constructor, and systemd answers it with an error
// ("Unknown object '/org/freedesktop/DBus'"), which dbus-next rethrows inside a promise: an
// unhandled rejection that ends the process. PeerBus answers that Hello itself, so nothing
// reaches systemd but real calls (found by experiment against systemd 252; the same connection
// then makes calls and receives signals normally).
//
// dbus-next (a third of foyerd's bundle with its XML parser) is loaded by the first connection
// whose socket is there: foyerd reaches its first prompt without it, and a foyerd with no bus (an
// initrd without dbus-broker, a plain host) never loads it.
//
// dbus-next's private fields (_connection: the end of the socket, which it does not forward, and
// the stream to destroy) are reached into here and nowhere else.
import type DBusNext from "dbus-next";
import { existsSync } from "node:fs";
import { EventEmitter } from "node:events";
import { FoyerError, describe } from "./errors.js";
import { withTimeout } from "./timeout.js";

export type DBus = typeof DBusNext;
export type MessageBus = DBusNext.MessageBus;
export type DBusMessage = DBusNext.Message;

export const DBUS_NAME = "org.freedesktop.DBus";
const DBUS_PATH = "/org/freedesktop/DBus";

interface Lib {
  dbus: DBus;
  PeerBus: new (conn: unknown) => MessageBus;
  createConnection: (o: { busAddress: string }) => unknown;
}
let lib: Lib | undefined;
let loading: Promise<Lib> | undefined;

function load(): Promise<Lib> {
  return (loading ??= Promise.all([import("dbus-next"), import("dbus-next/lib/bus.js"), import("dbus-next/lib/connection.js")]).then(([d, b, c]) => {
    /** dbus-next's MessageBus without the Hello() a peer-to-peer connection cannot answer. */
    class PeerBus extends (b.default as unknown as new (conn: unknown) => MessageBus) {
      override call(msg: DBusMessage): Promise<DBusMessage | null> {
        if (msg.interface === DBUS_NAME && msg.member === "Hello") return Promise.resolve({ body: [":peer"] } as unknown as DBusMessage);
        return super.call(msg);
      }
    }
    return (lib = { dbus: d.default, PeerBus, createConnection: c.default as Lib["createConnection"] });
  }));
}

/** dbus-next, loaded once, on first use. */
export async function loadDBus(): Promise<DBus> {
  return (await load()).dbus;
}

/** A D-Bus error reply's name and text, or undefined for any other error. */
export function dbusError(e: unknown): { name: string; text: string } | undefined {
  return lib && e instanceof lib.dbus.DBusError ? { name: e.type, text: e.text } : undefined;
}

/** The D-Bus name of an error reply (DBusError.type), or "". */
export function dbusErrorName(e: unknown): string {
  return dbusError(e)?.name ?? "";
}

/**
 * The address as dbus-next should open it: unix paths and abstract names through Node's own
 * socket (its `socket=` key), never the usocket addon it otherwise loads for them. That addon
 * calls libuv on a handle it has already closed, which aborted foyerd at exit; foyer passes no
 * file descriptors, and the images never shipped it.
 */
export function viaNodeSocket(address: string): string {
  return address
    .split(";")
    .map((a) => {
      if (!a.startsWith("unix:")) return a;
      const params = a.slice(5).split(",");
      const opened = params.map((p) => (p.startsWith("path=") ? `socket=${p.slice(5)}` : p.startsWith("abstract=") ? `socket=\0${p.slice(9)}` : p));
      return `unix:${opened.join(",")}`;
    })
    .join(";");
}

export interface ConnectOptions {
  /** a D-Bus address: unix:path=…, unix:abstract=…, tcp:… */
  address: string;
  /** peer-to-peer: no bus daemon at the other end, so no Hello() and no match rules */
  peer?: boolean;
  /** who answers there, in messages ("systemd"); "the bus" when not given */
  name?: string;
  /** where calls go when they name no destination; messages call it `name` */
  destination?: string;
  /** how long connecting may take, `ready` included */
  timeoutMs: number;
  /** how long each call may take; timeoutMs when not given */
  callTimeoutMs?: number;
  /** a first call proving that the other end answers (systemd's Version), within timeoutMs */
  ready?: (c: BusConnection) => Promise<unknown>;
}

export interface Call {
  /** the connection's destination when not given */
  destination?: string;
  path: string;
  interface: string;
  member: string;
  signature?: string;
  body?: unknown[];
}

/** A call to the bus daemon itself (org.freedesktop.DBus). */
export function busDaemonCall(member: string, signature = "", body: unknown[] = []): Call {
  return { destination: DBUS_NAME, path: DBUS_PATH, interface: DBUS_NAME, member, signature, body };
}

/**
 * A connected D-Bus connection. Events: "end" (why: string), once, when the connection is gone
 * (not after close()); "signal" (a DBusMessage).
 */
export class BusConnection extends EventEmitter {
  readonly address: string;
  readonly peer: boolean;
  /** dbus-next itself, loaded */
  readonly dbus: DBus;
  /** dbus-next's MessageBus, for serving objects (export, addMethodHandler, send) */
  readonly bus: MessageBus;
  #name: string;
  #destination: string | undefined;
  #callTimeoutMs: number;
  #closed = false;

  private constructor(dbus: DBus, bus: MessageBus, o: ConnectOptions) {
    super();
    this.dbus = dbus;
    this.bus = bus;
    this.address = o.address;
    this.peer = o.peer ?? false;
    this.#name = o.name ?? "the bus";
    this.#destination = o.destination;
    this.#callTimeoutMs = o.callTimeoutMs ?? o.timeoutMs;
    bus.on("message", (m: DBusMessage) => {
      if (m.type === dbus.MessageType.SIGNAL) this.emit("signal", m);
    });
    bus.on("error", (e: unknown) => this.#end(describe(e)));
    // the socket's end, which dbus-next does not forward from its connection to the MessageBus
    (bus as unknown as { _connection?: EventEmitter })._connection?.once("end", () => this.#end(`${this.#name} closed the connection`));
  }

  /**
   * Connects (on a bus, Hello answered) and runs `ready`, within timeoutMs. Throws a FoyerError
   * naming the address: "not-found" (no socket there), "timeout", or "unsupported".
   */
  static async connect(o: ConnectOptions): Promise<BusConnection> {
    const where = `cannot reach ${o.name ?? "the bus"} at '${o.address}':`;
    // before dbus-next is loaded: with no socket there is nothing to load it for
    const socket = /^unix:path=([^,;]+)/.exec(o.address)?.[1];
    if (socket !== undefined && !existsSync(socket)) throw new FoyerError("not-found", `${where} no socket there`);
    const { dbus, PeerBus, createConnection } = await load();
    let bus: MessageBus;
    try {
      const busAddress = viaNodeSocket(o.address);
      bus = o.peer ? new PeerBus(createConnection({ busAddress })) : dbus.sessionBus({ busAddress });
    } catch (e) {
      throw new FoyerError("unsupported", `${where} ${describe(e)}`, { cause: e });
    }
    const connected = new Promise<void>((resolve) => bus.once("connect", () => resolve()));
    const c = new BusConnection(dbus, bus, o);
    let onEnd!: (why: string) => void;
    const ended = new Promise<never>((_, reject) => (onEnd = (why) => reject(new FoyerError("unsupported", `${where} ${why}`))));
    ended.catch(() => {});
    c.once("end", onEnd);
    try {
      await withTimeout(Promise.race([connected.then(() => o.ready?.(c)), ended]), o.timeoutMs, where);
    } catch (e) {
      c.close();
      throw e;
    } finally {
      c.off("end", onEnd);
    }
    return c;
  }

  get closed(): boolean {
    return this.#closed;
  }

  #end(why: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.emit("end", why);
  }

  #who(destination: string | undefined): string {
    return destination === undefined || destination === this.#destination ? this.#name : destination;
  }

  /**
   * A method call within the timeout; the reply's body, checked to be one. A D-Bus error reply
   * comes back as it is (dbusError() reads it); a call left unanswered ends the connection: one
   * that stops answering is as good as gone (seen: a bus killed under a connection whose end never
   * arrived, and first calls on peer connections that never return).
   */
  async call(c: Call, timeoutMs = this.#callTimeoutMs): Promise<unknown[]> {
    const destination = c.destination ?? this.#destination;
    const who = this.#who(destination);
    if (this.#closed) throw new FoyerError("unsupported", `the connection to ${who} is closed`);
    const msg = new this.dbus.Message({
      ...(destination !== undefined ? { destination } : {}),
      path: c.path,
      interface: c.interface,
      member: c.member,
      signature: c.signature ?? "",
      body: c.body ?? [],
    });
    let reply: unknown;
    try {
      reply = await withTimeout(this.bus.call(msg), timeoutMs, `${who} ${c.member}`);
    } catch (e) {
      if (e instanceof FoyerError && e.code === "timeout") {
        this.#end(`${who} did not answer ${c.member} within ${timeoutMs} ms`);
        this.close();
      }
      throw e;
    }
    const body = (reply as { body?: unknown } | null)?.body;
    if (!Array.isArray(body)) throw new FoyerError("protocol-error", `${who}'s reply to ${c.member} has no body`);
    return body;
  }

  /** One property, unwrapped from its variant. */
  async get(path: string, iface: string, prop: string, destination?: string): Promise<unknown> {
    const [v] = await this.call({
      ...(destination !== undefined ? { destination } : {}),
      path,
      interface: "org.freedesktop.DBus.Properties",
      member: "Get",
      signature: "ss",
      body: [iface, prop],
    });
    if (!(v instanceof this.dbus.Variant))
      throw new FoyerError("protocol-error", `${this.#who(destination ?? this.#destination)}'s reply to Get ${prop} is not a variant`);
    return v.value;
  }

  /** A match rule on the bus daemon; a peer is sent every signal without one. */
  async addMatch(rule: string): Promise<void> {
    if (!this.peer) await this.call(busDaemonCall("AddMatch", "s", [rule]));
  }

  /** Removes a match rule, without waiting for the answer. */
  removeMatch(rule: string): void {
    if (!this.peer && !this.#closed) this.call(busDaemonCall("RemoveMatch", "s", [rule])).catch(() => {});
  }

  /** Closes for good, quietly; no "end" after this. */
  close(): void {
    this.#closed = true;
    const bus = this.bus;
    // keep an 'error' listener: a write to the closed stream emits one, unhandled it would throw
    bus.on("error", () => {});
    try {
      bus.disconnect();
    } catch {
      /* already closed */
    }
    // disconnect() only half-closes (end()): a peer that never answers would keep the socket, and
    // each retry against a hung bus would leak one. destroy() releases the fd now.
    const stream = (bus as unknown as { _connection?: { stream?: { destroy?: () => void } } })._connection?.stream;
    try {
      stream?.destroy?.();
    } catch {
      /* already destroyed */
    }
  }
}

/**
 * Tries `attempt` until it resolves, one try at a time, waiting 100 ms doubling to 2 s between
 * tries (the wait starts over after a success): how the service and the systemd link get their
 * connection back. `failed` hears of each failed try and the wait before the next.
 */
export class Reconnect {
  #attempt: () => Promise<void>;
  #failed: (e: unknown, retryMs: number) => void;
  #initialMs: number;
  #maxMs: number;
  #waitMs: number;
  #timer?: NodeJS.Timeout;
  #running = false;
  #stopped = false;

  constructor(attempt: () => Promise<void>, failed: (e: unknown, retryMs: number) => void, o: { initialMs?: number; maxMs?: number } = {}) {
    this.#attempt = attempt;
    this.#failed = failed;
    this.#initialMs = this.#waitMs = o.initialMs ?? 100;
    this.#maxMs = o.maxMs ?? 2000;
  }

  /** A try now (none while one runs). */
  async now(): Promise<void> {
    if (this.#stopped || this.#running) return;
    this.#running = true;
    try {
      await this.#attempt();
      this.#waitMs = this.#initialMs;
    } catch (e) {
      if (!this.#stopped) {
        this.#failed(e, this.#waitMs);
        this.later();
      }
    } finally {
      this.#running = false;
    }
  }

  /** A try after the wait, which doubles for the next one. */
  later(): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.now(), this.#waitMs);
    this.#waitMs = Math.min(this.#maxMs, this.#waitMs * 2);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }
}
