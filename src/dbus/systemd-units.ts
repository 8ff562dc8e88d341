// The unit activation times systemd reports over D-Bus, for the boot timeline: what started while
// foyer ran (systemd-cryptsetup@…, sysroot.mount, initrd targets), from InactiveExitTimestamp-
// Monotonic (began activating) to ActiveEnterTimestampMonotonic (active), both CLOCK_MONOTONIC µs,
// the clock of foyer's own milestones. Read once, when foyerd stops: the initrd's systemd, and its
// units' times, are gone after switch-root.
import type { BusConnection } from "../base/bus-connection.js";

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

/** Units that began activating at or after `sinceMs`, oldest first, at most MAX_UNITS. */
export async function readUnitTimes(bus: BusConnection, sinceMs: number, timeoutMs = 2000): Promise<UnitTimes[]> {
  const [units] = (await bus.call(
    { destination: SYSTEMD, path: "/org/freedesktop/systemd1", interface: `${SYSTEMD}.Manager`, member: "ListUnits" },
    timeoutMs,
  )) as [unknown[][]];
  const out: UnitTimes[] = [];
  for (const u of units ?? []) {
    const name = String(u[0]),
      path = String(u[6]);
    const [props] = (await bus.call(
      { destination: SYSTEMD, path, interface: "org.freedesktop.DBus.Properties", member: "GetAll", signature: "s", body: [`${SYSTEMD}.Unit`] },
      timeoutMs,
    )) as [Record<string, { value: unknown }>];
    const start = ms(props?.InactiveExitTimestampMonotonic?.value);
    const end = ms(props?.ActiveEnterTimestampMonotonic?.value);
    if (start <= 0 || start < sinceMs) continue;
    out.push(end >= start ? { unit: name, start, end } : { unit: name, start });
  }
  return out.sort((a, b) => a.start - b.start).slice(0, MAX_UNITS);
}
