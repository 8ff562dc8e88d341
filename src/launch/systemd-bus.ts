// A connection to systemd's D-Bus API (org.freedesktop.systemd1): on systemd's private socket
// /run/systemd/private in an initrd (which outlives the initrd's bus daemon at switch-root, and
// is there before it), elsewhere on the system bus when there is one, else on the private socket.
//
// The private socket is peer-to-peer: no bus daemon, no Hello, no match rules; systemd sends its
// signals straight to every connection that called Subscribe(). dbus-next always sends Hello()
// from its constructor, and systemd answers it with an error ("Unknown object
// '/org/freedesktop/DBus'"), which dbus-next rethrows inside a promise: an unhandled rejection
// that ends the process. PeerBus answers that Hello itself, so nothing reaches systemd but real
// calls (found by experiment against systemd 252; the same connection then makes calls and
// receives signals normally).
//
// Every call has a timeout (a bus that accepts and never answers is an error, not a hang), and
// every reply is checked before it is used: a malformed reply is a "protocol-error", never a
// TypeError deep inside the launcher.
import { closeQuietly } from "../base/bus-close.js";
import dbus from "dbus-next";
import MessageBusImpl from "dbus-next/lib/bus.js";
import createConnection from "dbus-next/lib/connection.js";
import { existsSync } from "node:fs";
import { EventEmitter } from "node:events";
import { FoyerError, describe } from "../base/errors.js";
import { withTimeout } from "../base/timeout.js";

export const SYSTEMD_NAME = "org.freedesktop.systemd1";
export const SYSTEMD_PATH = "/org/freedesktop/systemd1";
export const MANAGER = "org.freedesktop.systemd1.Manager";
const SYSTEMD_PRIVATE_PATH = "/run/systemd/private";
export const SYSTEMD_PRIVATE = `unix:path=${SYSTEMD_PRIVATE_PATH}`;
const INITRD_RELEASE = "/etc/initrd-release";
const SYSTEM_BUS_SOCKET = "/run/dbus/system_bus_socket";
const CALL_TIMEOUT_MS = 5000;

/** dbus-next's MessageBus without the Hello() a peer-to-peer connection cannot answer. */
class PeerBus extends (MessageBusImpl as unknown as new (conn: unknown) => dbus.MessageBus) {
  override call(msg: dbus.Message): Promise<dbus.Message | null> {
    if (msg.interface === "org.freedesktop.DBus" && msg.member === "Hello") {
      return Promise.resolve({ body: [":peer"] } as unknown as dbus.Message);
    }
    return super.call(msg);
  }
}

export interface SystemdBusOptions {
  /**
   * a D-Bus address, or "auto": $DBUS_SYSTEM_BUS_ADDRESS when set; in an initrd, systemd's
   * private socket; else the system bus when its socket exists, else the private socket
   */
  address: string;
  /** true when `address` is systemd's own socket (peer-to-peer); "auto" decides it itself */
  peer?: boolean;
  timeoutMs?: number;
}

/** The address "auto" resolves to, and whether it is peer-to-peer. */
export function resolveSystemdAddress(address: string, env = process.env, exists = existsSync): { address: string; peer: boolean } {
  if (address !== "auto") return { address, peer: /\/run\/systemd\/private(,|$)/.test(address) };
  if (env.DBUS_SYSTEM_BUS_ADDRESS) return { address: env.DBUS_SYSTEM_BUS_ADDRESS, peer: false };
  // in the initrd, systemd's own socket: its bus daemon is stopped at switch-root before foyerd,
  // whose greeter units are stopped through systemd after that
  if (exists(INITRD_RELEASE) && exists(SYSTEMD_PRIVATE_PATH)) return { address: SYSTEMD_PRIVATE, peer: true };
  if (exists(SYSTEM_BUS_SOCKET)) return { address: `unix:path=${SYSTEM_BUS_SOCKET}`, peer: false };
  return { address: SYSTEMD_PRIVATE, peer: true };
}

export type Signal = dbus.Message;

/**
 * One connection to systemd. Events: "signal" (a dbus.Message from systemd), "lost" (the
 * connection ended; make a new SystemdBus).
 */
export class SystemdBus extends EventEmitter {
  readonly address: string;
  readonly peer: boolean;
  #bus: dbus.MessageBus;
  #timeoutMs: number;
  #closed = false;

  private constructor(bus: dbus.MessageBus, address: string, peer: boolean, timeoutMs: number) {
    super();
    this.#bus = bus;
    this.address = address;
    this.peer = peer;
    this.#timeoutMs = timeoutMs;
    bus.on("message", (m: dbus.Message) => {
      if (m.type === dbus.MessageType.SIGNAL) this.emit("signal", m);
    });
    bus.on("error", (e: unknown) => this.#lose(describe(e)));
    (bus as unknown as { _connection?: EventEmitter })._connection?.once("end", () => this.#lose("systemd's bus closed the connection"));
  }

  #lose(why: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.emit("lost", why);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Connects and proves that systemd answers (its Version property), within the timeout.
   * Throws a FoyerError: "timeout", or "unsupported" when nothing listens there.
   */
  static async connect(o: SystemdBusOptions): Promise<SystemdBus> {
    if (o.address === "auto") {
      const r = resolveSystemdAddress("auto");
      try {
        return await SystemdBus.#connect(r.address, r.peer, o.timeoutMs ?? CALL_TIMEOUT_MS);
      } catch (e) {
        // a socket file left by a stopped bus, or a bus that hangs: systemd's own socket still answers
        if (r.peer) throw e;
        return await SystemdBus.#connect(SYSTEMD_PRIVATE, true, o.timeoutMs ?? CALL_TIMEOUT_MS);
      }
    }
    return SystemdBus.#connect(o.address, o.peer ?? resolveSystemdAddress(o.address).peer, o.timeoutMs ?? CALL_TIMEOUT_MS);
  }

  static async #connect(address: string, peer: boolean, ms: number): Promise<SystemdBus> {
    if (!peer) return SystemdBus.#connectOnce(address, false, ms);
    // Seen against systemd 252 with no bus daemon running: about one peer connection in three
    // from dbus-next never gets an answer to its first call (systemctl on the same socket always
    // does; the cause is not found). A fresh connection does answer, so a peer gets a few tries,
    // each with a share of the time.
    const tries = 5;
    let last: unknown;
    for (let i = 0; i < tries; i++) {
      try {
        return await SystemdBus.#connectOnce(address, true, Math.max(200, Math.floor(ms / tries)));
      } catch (e) {
        last = e;
      }
    }
    throw last;
  }

  static async #connectOnce(address: string, peer: boolean, ms: number): Promise<SystemdBus> {
    const r = { address, peer };
    let bus: dbus.MessageBus;
    try {
      bus = r.peer ? new PeerBus(createConnection({ busAddress: r.address })) : dbus.sessionBus({ busAddress: r.address });
    } catch (e) {
      throw new FoyerError("unsupported", `cannot open systemd's bus at '${r.address}': ${describe(e)}`, { cause: e });
    }
    const failed = new Promise<never>((_, reject) => bus.once("error", (e: unknown) => reject(new FoyerError("unsupported", `systemd's bus at '${r.address}': ${describe(e)}`, { cause: e }))));
    failed.catch(() => {});
    const sd = new SystemdBus(bus, r.address, r.peer, ms);
    try {
      await withTimeout(Promise.race([sd.version(), failed]), ms, `connecting to systemd at '${r.address}'`);
    } catch (e) {
      sd.close();
      throw e;
    }
    return sd;
  }

  /** A method call to systemd with the timeout; D-Bus errors come back as they are (DBusError). */
  async call(path: string, iface: string, member: string, signature = "", body: unknown[] = []): Promise<unknown[]> {
    if (this.#closed) throw new FoyerError("unsupported", "systemd's bus connection is closed");
    const msg = new dbus.Message({ destination: SYSTEMD_NAME, path, interface: iface, member, signature, body });
    let reply: unknown;
    try {
      reply = await withTimeout(this.#bus.call(msg), this.#timeoutMs, `systemd ${member}`);
    } catch (e) {
      // a connection that stops answering is as good as gone (seen: a bus killed under a
      // connection whose end never arrived, and first calls on peer connections that never
      // return): say so, so that the link makes a new one, and free this one
      if (e instanceof FoyerError && e.code === "timeout") {
        this.#lose(`systemd did not answer ${member} within ${this.#timeoutMs} ms`);
        this.close();
      }
      throw e;
    }
    const b = (reply as { body?: unknown } | null)?.body;
    if (!Array.isArray(b)) throw new FoyerError("protocol-error", `systemd's reply to ${member} has no body`);
    return b;
  }

  manager(member: string, signature = "", body: unknown[] = []): Promise<unknown[]> {
    return this.call(SYSTEMD_PATH, MANAGER, member, signature, body);
  }

  /** One property, unwrapped from its variant. */
  async get(path: string, iface: string, prop: string): Promise<unknown> {
    const [v] = await this.call(path, "org.freedesktop.DBus.Properties", "Get", "ss", [iface, prop]);
    if (!(v instanceof dbus.Variant)) throw new FoyerError("protocol-error", `systemd's reply to Get ${prop} is not a variant`);
    return v.value;
  }

  async version(): Promise<string> {
    return str(await this.get(SYSTEMD_PATH, MANAGER, "Version"), "Version");
  }

  /** Signals need Subscribe(); on a bus they also need a match rule (a peer gets them all). */
  async subscribe(matches: string[]): Promise<void> {
    if (!this.peer) {
      for (const rule of matches) {
        const msg = new dbus.Message({ destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus", member: "AddMatch", signature: "s", body: [rule] });
        await withTimeout(this.#bus.call(msg), this.#timeoutMs, "AddMatch");
      }
    }
    await this.manager("Subscribe");
  }

  async addMatch(rule: string): Promise<void> {
    if (this.peer) return;
    const msg = new dbus.Message({ destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus", member: "AddMatch", signature: "s", body: [rule] });
    await withTimeout(this.#bus.call(msg), this.#timeoutMs, "AddMatch");
  }

  removeMatch(rule: string): void {
    if (this.peer || this.#closed) return;
    const msg = new dbus.Message({ destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus", member: "RemoveMatch", signature: "s", body: [rule] });
    withTimeout(this.#bus.call(msg), this.#timeoutMs, "RemoveMatch").catch(() => {});
  }

  close(): void {
    this.#closed = true;
    closeQuietly(this.#bus);
  }
}

/** A string from systemd, or a protocol-error naming what was wrong. */
export function str(v: unknown, what: string): string {
  if (typeof v !== "string") throw new FoyerError("protocol-error", `systemd sent ${what} as ${typeof v}, not a string`);
  return v;
}

export function num(v: unknown, what: string): number {
  if (typeof v === "bigint") return Number(v);
  if (typeof v !== "number" || !Number.isFinite(v)) throw new FoyerError("protocol-error", `systemd sent ${what} as ${typeof v}, not a number`);
  return v;
}

/** The D-Bus name of an error (DBusError.type), or "". */
export function dbusErrorName(e: unknown): string {
  return e instanceof dbus.DBusError ? e.type : "";
}

/**
 * systemd's object path for a unit: every byte that is not [A-Za-z0-9] (and a leading digit)
 * becomes _XX (bus_label_escape in systemd's bus-label.c).
 */
export function unitObjectPath(unit: string): string {
  if (unit === "") return `${SYSTEMD_PATH}/unit/_`;
  let out = "";
  const bytes = Buffer.from(unit, "utf8");
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    const alpha = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    const digit = c >= 0x30 && c <= 0x39;
    out += alpha || (digit && i > 0) ? String.fromCharCode(c) : `_${c.toString(16).padStart(2, "0")}`;
  }
  return `${SYSTEMD_PATH}/unit/${out}`;
}
