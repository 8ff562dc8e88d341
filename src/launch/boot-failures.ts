// Automatic entry into recovery where systemd runs: a failed file system check
// (systemd-fsck-root.service, systemd-fsck@<dev>.service, systemd-fsck-usr.service) or an
// activation of emergency.target / rescue.target is what the text emergency shell would have
// answered. foyer hears it from systemd's own signals (JobRemoved with result "failed", JobNew
// for the two targets) and asks at subscription what already happened before it listened.
// The reason always names the unit, so the recovery screen can say what stopped the boot.
import { EventEmitter } from "node:events";
import dbus from "dbus-next";
import { describe } from "../base/errors.js";
import type { Logger } from "../base/log.js";
import { SYSTEMD_PATH, MANAGER, str, unitObjectPath } from "./systemd-bus.js";
import type { SystemdLink } from "./systemd.js";

const STOP_TARGETS = new Set(["emergency.target", "rescue.target"]);
/** a reason is shown on screen and passes checkReason: printable and bounded */
const MAX_UNIT_CHARS = 200;

export function isFsckUnit(unit: string): boolean {
  return /^systemd-fsck(-root|-usr|@[^/]+)?\.service$/.test(unit);
}

/** A unit name as it may appear in a reason: control characters replaced, length bounded. */
export function printableUnit(unit: string): string {
  // eslint-disable-next-line no-control-regex
  const s = unit.replace(/[\u0000-\u001f\u007f]/g, "?");
  return s.length > MAX_UNIT_CHARS ? `${s.slice(0, MAX_UNIT_CHARS)}…` : s;
}

export function fsckReason(unit: string): string {
  return `file system check failed: '${printableUnit(unit)}'`;
}

export function stopReason(target: string, lastFailed: string | undefined): string {
  const mode = target.startsWith("rescue") ? "rescue" : "emergency";
  return `boot stopped in ${mode} mode ('${printableUnit(target)}')${lastFailed ? ` after '${printableUnit(lastFailed)}' failed` : ""}`;
}

/**
 * The reason for a unit named by systemd (foyer-recovery@.service's %i): what its failure or
 * activation means. Unit names are at most 255 bytes; anything else is not one.
 */
export function reasonForUnit(unit: string): string | undefined {
  if (unit === "" || Buffer.byteLength(unit) > 255 || !/^[A-Za-z0-9:_.\\@-]+$/.test(unit)) return undefined;
  if (isFsckUnit(unit)) return fsckReason(unit);
  if (/^(emergency|rescue)\.(service|target)$/.test(unit)) return stopReason(unit, undefined);
  return `'${unit}' failed`;
}

export type BootEvent = { kind: "job_removed"; unit: string; result: string } | { kind: "job_new"; unit: string };

/** Pure: what a Manager signal means for recovery. `lastFailed` is updated by the caller. */
export function classify(e: BootEvent, lastFailed: string | undefined): string | undefined {
  if (e.kind === "job_removed") return e.result === "failed" && isFsckUnit(e.unit) ? fsckReason(e.unit) : undefined;
  return STOP_TARGETS.has(e.unit) ? stopReason(e.unit, lastFailed) : undefined;
}

/** Reads a Manager signal into a BootEvent; undefined for anything else or a malformed body. */
export function bootEvent(m: dbus.Message): BootEvent | undefined {
  if (m.path !== SYSTEMD_PATH || m.interface !== MANAGER || !Array.isArray(m.body)) return undefined;
  if (m.member === "JobRemoved" && m.signature === "uoss") return { kind: "job_removed", unit: m.body[2] as string, result: m.body[3] as string };
  if (m.member === "JobNew" && m.signature === "uos") return { kind: "job_new", unit: m.body[2] as string };
  return undefined;
}

/** Events: "failure" (reason, unit). */
export class BootFailureWatch extends EventEmitter {
  #lastFailed?: string;
  #onSignal = (m: dbus.Message) => this.#signal(m);
  #onUp = () => void this.#subscribe();

  constructor(
    private link: SystemdLink,
    private log: Logger,
  ) {
    super();
  }

  /** Subscribes and reports what failed before; never throws (a problem is logged). */
  async start(): Promise<void> {
    this.link.on("signal", this.#onSignal);
    this.link.on("up", this.#onUp);
    await this.#subscribe();
  }

  stop(): void {
    this.link.off("signal", this.#onSignal);
    this.link.off("up", this.#onUp);
  }

  #report(reason: string, unit: string): void {
    this.log.notice(reason);
    this.emit("failure", reason, unit);
  }

  #signal(m: dbus.Message): void {
    const e = bootEvent(m);
    if (!e || typeof e.unit !== "string" || (e.kind === "job_removed" && typeof e.result !== "string")) return;
    const reason = classify(e, this.#lastFailed);
    if (e.kind === "job_removed" && e.result === "failed") this.#lastFailed = e.unit;
    if (reason) this.#report(reason, e.unit);
  }

  async #subscribe(): Promise<void> {
    try {
      const bus = await this.link.subscribed();
      // what happened before foyer listened: failed checks, a stop target already reached
      const [units] = await bus.manager("ListUnitsByPatterns", "asas", [["failed"], ["systemd-fsck*"]]);
      if (!Array.isArray(units)) throw new Error("ListUnitsByPatterns did not return a list");
      for (const u of units) {
        const name = Array.isArray(u) ? u[0] : undefined;
        if (typeof name === "string" && isFsckUnit(name)) {
          this.#lastFailed = name;
          this.#report(fsckReason(name), name);
        }
      }
      for (const t of STOP_TARGETS) {
        let state = "";
        try {
          state = str(await bus.get(unitObjectPath(t), "org.freedesktop.systemd1.Unit", "ActiveState"), "ActiveState");
        } catch {
          continue; // not loaded: not reached
        }
        if (state === "active" || state === "activating") this.#report(stopReason(t, this.#lastFailed), t);
      }
    } catch (e) {
      this.log.warning("cannot watch systemd for failed boot units, ignoring", { err: describe(e) });
    }
  }
}
