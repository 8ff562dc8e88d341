// The unit activation times systemd reports over D-Bus, for the boot timeline: what started while
// foyer ran (systemd-cryptsetup@…, sysroot.mount, initrd targets), from InactiveExitTimestamp-
// Monotonic (began activating) to ActiveEnterTimestampMonotonic (active), both CLOCK_MONOTONIC µs,
// the clock of foyer's own milestones. Read once, when foyerd stops: the initrd's systemd, and its
// units' times, are gone after switch-root.
import dbus from "dbus-next";
import { withTimeout } from "../base/timeout.js";

const SYSTEMD = "org.freedesktop.systemd1";
export const MAX_UNITS = 200;

export interface UnitTimes {
  unit: string;
  /** ms on CLOCK_MONOTONIC */
  start: number;
  /** ms; absent while the unit is still activating */
  end?: number;
}

const ms = (v: unknown) => Number(typeof v === "bigint" ? v : BigInt(Number(v ?? 0))) / 1000;

async function call(bus: dbus.MessageBus, path: string, iface: string, member: string, signature: string, body: unknown[], timeoutMs: number): Promise<unknown[]> {
  const reply = await withTimeout(bus.call(new dbus.Message({ destination: SYSTEMD, path, interface: iface, member, signature, body })), timeoutMs, `${iface}.${member}`);
  return reply?.body ?? [];
}

/** Units that began activating at or after `sinceMs`, oldest first, at most MAX_UNITS. */
export async function readUnitTimes(bus: dbus.MessageBus, sinceMs: number, timeoutMs = 2000): Promise<UnitTimes[]> {
  const [units] = (await call(bus, "/org/freedesktop/systemd1", `${SYSTEMD}.Manager`, "ListUnits", "", [], timeoutMs)) as [unknown[][]];
  const out: UnitTimes[] = [];
  for (const u of units ?? []) {
    const name = String(u[0]), path = String(u[6]);
    const [props] = (await call(bus, path, "org.freedesktop.DBus.Properties", "GetAll", "s", [`${SYSTEMD}.Unit`], timeoutMs)) as [Record<string, { value: unknown }>];
    const start = ms(props?.InactiveExitTimestampMonotonic?.value);
    const end = ms(props?.ActiveEnterTimestampMonotonic?.value);
    if (start <= 0 || start < sinceMs) continue;
    out.push(end >= start ? { unit: name, start, end } : { unit: name, start });
  }
  return out.sort((a, b) => a.start - b.start).slice(0, MAX_UNITS);
}
