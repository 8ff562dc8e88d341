// Automatic entry into recovery where systemd runs: a failed file system check
// (systemd-fsck-root.service, systemd-fsck@<dev>.service, systemd-fsck-usr.service) or an
// activation of emergency.target / rescue.target is what the text emergency shell would have
// answered. foyer hears it from systemd's own signals (JobRemoved with result "failed", JobNew
// for the two targets) and asks at subscription what already happened before it listened.
// The reason always names the unit, so the recovery screen can say what stopped the boot; for a
// failed check the device is found too (the unit's ExecStart, as systemd's fstab-generator and
// systemd-fsck@.service write it; else the instance name), so the screen can check and repair it.
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

/** systemd's unit-name unescaping of a path instance (`unit_name_path_unescape`): '-' is '/', \\xNN a byte. */
export function unescapePath(instance: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < instance.length; i++) {
    const ch = instance[i]!;
    if (ch === "-") bytes.push(0x2f);
    else if (ch === "\\") {
      const m = /^\\x([0-9a-fA-F]{2})/.exec(instance.slice(i));
      if (!m) return undefined;
      bytes.push(parseInt(m[1]!, 16));
      i += 3;
    } else bytes.push(...Buffer.from(ch, "utf8"));
  }
  const path = "/" + Buffer.from(bytes).toString("utf8").replace(/^\/+/, "");
  return path.includes("\0") || path.split("/").some((c) => c === "..") ? undefined : path;
}

/**
 * The device a failed check was for: the last argument of its ExecStart when that is an absolute
 * path (systemd-fsck DEVICE, as the generators write it), else systemd-fsck@'s instance unescaped.
 * systemd-fsck-root without an argument checks what `/` is: unknown here (undefined).
 */
export function fsckDevice(unit: string, execArgv: readonly string[] | undefined): string | undefined {
  const last = execArgv && execArgv.length > 1 ? execArgv[execArgv.length - 1]! : undefined;
  if (last && last.startsWith("/") && !last.includes("\0") && last.length < 4096) return last;
  const m = /^systemd-fsck@(.+)\.service$/.exec(unit);
  return m ? unescapePath(m[1]!) : undefined;
}

/** The argv of a Service's first ExecStart entry, from the a(sasbttttuii) property; undefined when malformed. */
export function execStartArgv(v: unknown): string[] | undefined {
  const first = Array.isArray(v) ? v[0] : undefined;
  const argv = Array.isArray(first) ? first[1] : undefined;
  return Array.isArray(argv) && argv.every((a) => typeof a === "string") ? (argv as string[]) : undefined;
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

/** Events: "failure" (reason, unit, device | undefined). */
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

  async #report(reason: string, unit: string): Promise<void> {
    const device = isFsckUnit(unit) ? await this.#deviceOf(unit) : undefined;
    this.log.notice(reason, device ? { device } : undefined);
    this.emit("failure", reason, unit, device);
  }

  async #deviceOf(unit: string): Promise<string | undefined> {
    let argv: string[] | undefined;
    try {
      const bus = await this.link.subscribed();
      argv = execStartArgv(await bus.get(unitObjectPath(unit), "org.freedesktop.systemd1.Service", "ExecStart"));
    } catch (e) {
      this.log.warning(`cannot read ${printableUnit(unit)}'s ExecStart, ignoring`, { err: describe(e) });
    }
    return fsckDevice(unit, argv);
  }

  #signal(m: dbus.Message): void {
    const e = bootEvent(m);
    if (!e || typeof e.unit !== "string" || (e.kind === "job_removed" && typeof e.result !== "string")) return;
    const reason = classify(e, this.#lastFailed);
    if (e.kind === "job_removed" && e.result === "failed") this.#lastFailed = e.unit;
    if (reason) void this.#report(reason, e.unit);
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
          await this.#report(fsckReason(name), name);
        }
      }
      for (const t of STOP_TARGETS) {
        let state = "";
        try {
          state = str(await bus.get(unitObjectPath(t), "org.freedesktop.systemd1.Unit", "ActiveState"), "ActiveState");
        } catch {
          continue; // not loaded: not reached
        }
        if (state === "active" || state === "activating") await this.#report(stopReason(t, this.#lastFailed), t);
      }
    } catch (e) {
      this.log.warning("cannot watch systemd for failed boot units, ignoring", { err: describe(e) });
    }
  }
}
