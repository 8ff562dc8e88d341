// A connection to systemd's D-Bus API (org.freedesktop.systemd1): on systemd's private socket
// /run/systemd/private in an initrd (which outlives the initrd's bus daemon at switch-root, and
// is there before it), elsewhere on the system bus when there is one, else on the private socket.
// The private socket is peer-to-peer (base/bus-connection.ts says how that connection is made);
// the connection's calls have their timeout and checked replies from there too.
import { FoyerError } from "../base/errors.js";
import { BusConnection } from "../base/bus-connection.js";
import { existsSync } from "node:fs";

export const SYSTEMD_NAME = "org.freedesktop.systemd1";
export const SYSTEMD_PATH = "/org/freedesktop/systemd1";
export const MANAGER = "org.freedesktop.systemd1.Manager";
const SYSTEMD_PRIVATE_PATH = "/run/systemd/private";
export const SYSTEMD_PRIVATE = `unix:path=${SYSTEMD_PRIVATE_PATH}`;
const INITRD_RELEASE = "/etc/initrd-release";
const SYSTEM_BUS_SOCKET = "/run/dbus/system_bus_socket";
/** each call's bound once connected: a busy boot's systemd takes seconds to start a unit */
export const CALL_TIMEOUT_MS = 5000;

export interface SystemdBusOptions {
  /**
   * a D-Bus address, or "auto": $DBUS_SYSTEM_BUS_ADDRESS when set; in an initrd, systemd's
   * private socket; else the system bus when its socket exists, else the private socket
   */
  address: string;
  /** true when `address` is systemd's own socket (peer-to-peer); "auto" decides it itself */
  peer?: boolean;
  /** how long connecting may take, all tries together */
  timeoutMs?: number;
  /** each call's bound once connected; CALL_TIMEOUT_MS when not given */
  callTimeoutMs?: number;
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

/** A connection to systemd: calls go to org.freedesktop.systemd1; "end" says it is gone (make a new one). */
export type SystemdBus = BusConnection;

/**
 * Connects and proves that systemd answers (its Version property), within the timeout.
 * Throws a FoyerError: "timeout", "not-found" or "unsupported" when nothing answers there.
 */
export async function connectSystemd(o: SystemdBusOptions): Promise<SystemdBus> {
  const ms = o.timeoutMs ?? CALL_TIMEOUT_MS;
  const callMs = o.callTimeoutMs ?? CALL_TIMEOUT_MS;
  if (o.address === "auto") {
    const r = resolveSystemdAddress("auto");
    try {
      return await connectTries(r.address, r.peer, ms, callMs);
    } catch (e) {
      // a socket file left by a stopped bus, or a bus that hangs: systemd's own socket still answers
      if (r.peer) throw e;
      return await connectTries(SYSTEMD_PRIVATE, true, ms, callMs);
    }
  }
  return connectTries(o.address, o.peer ?? resolveSystemdAddress(o.address).peer, ms, callMs);
}

async function connectTries(address: string, peer: boolean, ms: number, callMs: number): Promise<SystemdBus> {
  if (!peer) return connectOnce(address, false, ms, callMs);
  // Seen against systemd 252 with no bus daemon running: about one peer connection in three
  // from dbus-next never gets an answer to its first call (systemctl on the same socket always
  // does; the cause is not found). A fresh connection does answer, so a peer gets a few tries,
  // each with a share of the time. The share bounds the try only, not the calls made after it.
  const tries = 5;
  let last: unknown;
  for (let i = 0; i < tries; i++) {
    try {
      return await connectOnce(address, true, Math.max(200, Math.floor(ms / tries)), callMs);
    } catch (e) {
      last = e;
    }
  }
  throw last;
}

function connectOnce(address: string, peer: boolean, timeoutMs: number, callTimeoutMs: number): Promise<SystemdBus> {
  return BusConnection.connect({ address, peer, name: "systemd", destination: SYSTEMD_NAME, timeoutMs, callTimeoutMs, ready: version });
}

export function manager(bus: SystemdBus, member: string, signature = "", body: unknown[] = []): Promise<unknown[]> {
  return bus.call({ path: SYSTEMD_PATH, interface: MANAGER, member, signature, body });
}

export async function version(bus: SystemdBus): Promise<string> {
  return str(await bus.get(SYSTEMD_PATH, MANAGER, "Version"), "Version");
}

/** Signals need Subscribe(); on a bus they also need a match rule (a peer gets them all). */
export async function subscribe(bus: SystemdBus, matches: string[]): Promise<void> {
  for (const rule of matches) await bus.addMatch(rule);
  await manager(bus, "Subscribe");
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
