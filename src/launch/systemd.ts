// The systemd launch backend: each start is a transient service (StartTransientUnit) named
// foyer-<name>-<foyerd's pid>-<n>.service, watched through systemd's own signals (Subscribe +
// PropertiesChanged on the unit + JobRemoved) until it ends, and reported as the direct backend
// reports a child: `exited` {code, signal}. systemd holds the processes in the unit's cgroup, so
// nothing escapes the stop (cage's orphaned client, chromium's crashpad) and KillMode=mixed gives
// the main process SIGTERM and everything left SIGKILL.
//
// Why a new unit per start rather than RestartUnit on one: the exit of each run is read from the
// unit's ExecMainCode/ExecMainStatus, which a restart of the same unit overwrites; a fresh name
// also never meets the "already exists" of a unit still being collected.
//
// The units have DefaultDependencies=no: in the initrd the greeter starts long before
// sysinit.target (the passphrase it asks for is what sysinit waits on), and a unit with default
// dependencies would wait for basic.target forever.
import { accessSync, constants as fsc, mkdirSync, openSync, closeSync, readFileSync } from "node:fs";
import { constants as osc } from "node:os";
import { dirname, join } from "node:path";
import { EventEmitter } from "node:events";
import dbus from "dbus-next";
import { systemdIsPid1, wantsSystemd } from "./pid1.js";
import { FoyerError, describe } from "../base/errors.js";
import { TOOL_PATH } from "../base/command.js";
import type { Logger } from "../base/log.js";
import type { Exit, LaunchSpec, Launched, Launcher } from "./direct.js";
import {
  connectSystemd,
  manager,
  subscribe,
  unitObjectPath,
  str,
  num,
  SYSTEMD_NAME,
  SYSTEMD_PATH,
  MANAGER,
  CALL_TIMEOUT_MS,
  type SystemdBus,
  type SystemdBusOptions,
} from "./systemd-bus.js";
import { dbusErrorName, Reconnect } from "../base/bus-connection.js";

const CLD_EXITED = 1,
  CLD_KILLED = 2,
  CLD_DUMPED = 3;
const SIGKILL = 9;
const SIGTERM = 15;
/** after the SIGKILL at the stop deadline, how long systemd gets to say the unit ended */
const GIVE_UP_AFTER_KILL_MS = 5000;
/** a unit name is at most 255 bytes; the name part is kept short so the whole always fits */
const MAX_NAME_BYTES = 64;

/** Characters systemd allows in a unit name's prefix (unit-name.c VALID_CHARS), '\\' aside. */
const PLAIN = /^[A-Za-z0-9:_.-]$/;

/**
 * A spec's name as a unit-name part, escaped as systemd-escape does ('/' → '-', any byte outside
 * [A-Za-z0-9:_.-] → \xNN, a leading '.' too), cut to 64 bytes. Never throws: "" becomes "unit".
 */
export function escapeUnitPart(name: string): string {
  let out = "";
  for (const b of Buffer.from(name, "utf8")) {
    const c = String.fromCharCode(b);
    out += c === "/" ? "-" : PLAIN.test(c) && !(out === "" && c === ".") ? c : `\\x${b.toString(16).padStart(2, "0")}`;
    if (out.length >= MAX_NAME_BYTES) break;
  }
  return out || "unit";
}

export function unitName(name: string, pid: number, n: number): string {
  return `foyer-${escapeUnitPart(name)}-${pid}-${n}.service`;
}

/** ExecMainCode/ExecMainStatus (waitid's si_code/si_status) as the direct backend reports an exit. */
export function exitFrom(code: number, status: number): Exit {
  if (code === CLD_EXITED) return { code: status, signal: null };
  if (code === CLD_KILLED || code === CLD_DUMPED) {
    const name = Object.entries(osc.signals).find(([, n]) => n === status)?.[0];
    return { code: null, signal: name ?? `SIG${status}` };
  }
  // never ran (or systemd does not say): the shell's "cannot execute"
  return { code: 127, signal: null };
}

/** argv[0] as an absolute path, searched in the unit's PATH as execvp would; undefined if absent. */
export function resolveExecutable(argv0: string, path: string | undefined, canExec = (p: string) => accessSync(p, fsc.X_OK)): string | undefined {
  const candidates = argv0.includes("/")
    ? [argv0]
    : (path || TOOL_PATH)
        .split(":")
        .filter((d) => d.startsWith("/"))
        .map((d) => join(d, argv0));
  for (const c of candidates) {
    if (!c.startsWith("/")) continue;
    try {
      canExec(c);
      return c;
    } catch {
      /* next */
    }
  }
  return undefined;
}

const MANAGER_MATCH = `type='signal',sender='${SYSTEMD_NAME}',path='${SYSTEMD_PATH}',interface='${MANAGER}'`;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

type Variant = InstanceType<typeof dbus.Variant>;
type Property = [string, Variant];

/** The service foyerd runs in ("foyer.service"), from its cgroup; undefined outside a service. */
export function ownUnitFrom(cgroup: string): string | undefined {
  const m = /^0::\/(?:[^\n]*\/)?([^/\n]+\.service)\n?$/m.exec(cgroup);
  return m?.[1];
}
/** foyerd's own unit, read once, when the first transient unit is made (not at start-up). */
let ownUnit: { name: string | undefined } | undefined;
function ownUnitName(): string | undefined {
  if (!ownUnit) {
    try {
      ownUnit = { name: ownUnitFrom(readFileSync("/proc/self/cgroup", "utf8")) };
    } catch {
      ownUnit = { name: undefined };
    }
  }
  return ownUnit.name;
}

/**
 * The transient unit's properties. Environment entries systemd would refuse (a key that is not
 * a shell name, a NUL anywhere) are dropped and named in `dropped` (keys only, never values).
 */
export function transientProperties(spec: LaunchSpec, exec: string, stopTimeoutMs: number, ownUnit?: string): { props: Property[]; dropped: string[] } {
  const V = dbus.Variant;
  const dropped: string[] = [];
  const env: string[] = [];
  for (const [k, v] of Object.entries(spec.env)) {
    if (ENV_KEY.test(k) && !v.includes("\0")) env.push(`${k}=${v}`);
    else dropped.push(k.replace(/[^\x20-\x7e]/g, "?").slice(0, 64));
  }
  const props: Property[] = [
    ["Description", new V("s", `foyer ${spec.name}`.slice(0, 200))],
    // exec: the start job fails when the binary cannot be executed (simple would report success)
    ["Type", new V("s", "exec")],
    ["ExecStart", new V("a(sasb)", [[exec, spec.argv, false]])],
    ["Environment", new V("as", env)],
    ["WorkingDirectory", new V("s", spec.cwd ?? "/")],
    ["StandardInput", new V("s", "null")],
    ["StandardOutputFileToAppend", new V("s", spec.logFile)],
    ["StandardErrorFileToAppend", new V("s", spec.logFile)],
    // no core files from the greeter: a crashing browser must not leave the prompt's memory on disk
    ["LimitCORE", new V("t", 0n)],
    ["LimitCORESoft", new V("t", 0n)],
    ["KillMode", new V("s", "mixed")],
    ["TimeoutStopUSec", new V("t", BigInt(stopTimeoutMs) * 1000n)],
    ["DefaultDependencies", new V("b", false)],
    ["Conflicts", new V("as", ["shutdown.target"])],
    // ordered before foyerd's own unit: when one transaction stops both (switch-root's isolate,
    // shutdown), systemd stops foyerd first, and foyerd stops its greeter (after keeping its frame)
    ["Before", new V("as", ["shutdown.target", ...(ownUnit ? [ownUnit] : [])])],
  ];
  if (spec.uid !== undefined) props.push(["User", new V("s", String(spec.uid))]);
  if (spec.gid !== undefined) props.push(["Group", new V("s", String(spec.gid))]);
  return { props, dropped };
}

/**
 * The connection to systemd, kept up: when it is lost it is made again with a backoff (100 ms
 * doubling to 2 s). Events: "signal" (from whichever connection is current), "up" (a new
 * connection after a loss), "down".
 */
export class SystemdLink extends EventEmitter {
  #o: SystemdBusOptions;
  #log: Logger;
  #bus?: SystemdBus;
  #reconnect: Reconnect;
  #closed = false;
  #subscription?: { bus: SystemdBus; p: Promise<SystemdBus> };

  private constructor(o: SystemdBusOptions, log: Logger) {
    super();
    this.#o = o;
    this.#log = log;
    this.#reconnect = new Reconnect(
      () => this.#retry(),
      (e) => this.#log.debug("systemd's bus not back yet", { err: describe(e) }),
    );
    this.setMaxListeners(0); // one listener per running unit
  }

  /** The first connection must work: that is how "auto" knows systemd answers. */
  static async open(o: SystemdBusOptions, log: Logger): Promise<SystemdLink> {
    const link = new SystemdLink(o, log);
    link.#adopt(await connectSystemd(o));
    return link;
  }

  get bus(): SystemdBus | undefined {
    return this.#bus && !this.#bus.closed ? this.#bus : undefined;
  }
  get address(): string {
    return this.#bus?.address ?? this.#o.address;
  }

  #adopt(bus: SystemdBus): void {
    this.#bus = bus;
    bus.on("signal", (m: dbus.Message) => this.emit("signal", m));
    bus.once("end", (why: string) => {
      if (this.#closed) return;
      this.#log.warning(`lost systemd's bus: ${why}; reconnecting`);
      this.emit("down");
      this.#reconnect.later();
    });
  }

  async #retry(): Promise<void> {
    const bus = await connectSystemd(this.#o);
    if (this.#closed) return bus.close();
    this.#adopt(bus);
    this.#log.info("systemd's bus is back", { address: bus.address });
    this.emit("up", bus);
  }

  /**
   * Subscribe() and the match rule for the Manager's signals, once per connection: the current
   * bus, ready to deliver JobNew/JobRemoved.
   */
  async subscribed(): Promise<SystemdBus> {
    const bus = await this.current(this.#o.callTimeoutMs ?? CALL_TIMEOUT_MS);
    if (this.#subscription?.bus !== bus) {
      const p = subscribe(bus, [MANAGER_MATCH]).then(() => bus);
      p.catch(() => {
        if (this.#subscription?.p === p) this.#subscription = undefined;
      });
      this.#subscription = { bus, p };
    }
    return this.#subscription.p;
  }

  /**
   * The current bus, or the next one when it is back within `waitMs` (Infinity: whenever it is):
   * a start asked for while the link reconnects waits for it instead of failing at once.
   */
  current(waitMs: number): Promise<SystemdBus> {
    const bus = this.bus;
    if (bus) return Promise.resolve(bus);
    const notConnected = () => new FoyerError("unsupported", "systemd's bus is not connected");
    if (this.#closed) return Promise.reject(notConnected());
    return new Promise((resolve, reject) => {
      // whichever comes first takes all three away: no listener is left behind by a wait
      const settle = () => {
        clearTimeout(timer);
        this.off("up", up);
        this.off("closed", fail);
      };
      const up = (b: SystemdBus) => {
        settle();
        resolve(b);
      };
      const fail = () => {
        settle();
        reject(notConnected());
      };
      const timer = Number.isFinite(waitMs) ? setTimeout(fail, waitMs) : undefined;
      this.once("up", up);
      this.once("closed", fail);
    });
  }

  close(): void {
    if (!this.#closed) this.emit("closed");
    this.#closed = true;
    this.#reconnect.stop();
    this.#bus?.close();
  }
}

export { systemdIsPid1 };

export interface BackendChoice {
  kind: "direct" | "systemd";
  link?: SystemdLink;
  /** why systemd was wanted and not used */
  problem?: string;
}

/**
 * The profile's `launch`: direct; systemd (when its bus answers); auto = systemd when systemd is
 * PID 1 and its bus answers. Never throws: a systemd that does not answer means direct.
 */
export async function chooseBackend(
  mode: "direct" | "systemd" | "auto",
  log: Logger,
  o: { pid1?: boolean; address?: string; timeoutMs?: number } = {},
): Promise<BackendChoice> {
  if (!wantsSystemd(mode, o.pid1)) return { kind: "direct" };
  try {
    return { kind: "systemd", link: await SystemdLink.open({ address: o.address ?? "auto", timeoutMs: o.timeoutMs ?? 2000 }, log) };
  } catch (e) {
    return { kind: "direct", problem: describe(e) };
  }
}

/** Starts each LaunchSpec as a transient unit of the systemd behind `link`. */
export class SystemdLauncher implements Launcher {
  #n = 0;
  #swept = new Map<string, Promise<void>>();

  constructor(
    private link: SystemdLink,
    private log: Logger,
    private o: { stopTimeoutMs: number; fallback?: Launcher } = { stopTimeoutMs: 5000 },
  ) {}

  start(spec: LaunchSpec): Launched {
    if ((spec.extraPipes ?? 0) > 0) {
      // a unit's processes are systemd's children: they cannot inherit a pipe from foyerd, and
      // X's -displayfd needs one. Such a spec is started directly.
      if (!this.o.fallback) throw new FoyerError("unsupported", `${spec.name} needs a pipe (-displayfd), which a systemd unit cannot be given`);
      this.log.info(`${spec.name} needs a pipe from foyerd: started directly, not as a unit`);
      return this.o.fallback.start(spec);
    }
    return new UnitRun(this.link, this.log, spec, unitName(spec.name, process.pid, ++this.#n), this.o.stopTimeoutMs, () => this.sweep(spec.name));
  }

  /**
   * Once per name: stops units of that name left by an earlier foyerd (one that crashed or was
   * killed leaves its greeter running under systemd, holding the display). Units of this
   * process are never touched. Failures are logged, never thrown: a start goes on regardless.
   */
  sweep(name: string): Promise<void> {
    const part = escapeUnitPart(name);
    let p = this.#swept.get(part);
    if (!p) {
      p = (async () => {
        try {
          const bus = await this.link.subscribed();
          // fnmatch would read the escapes' '\\' as its own: any one character stands for it
          const [units] = await manager(bus, "ListUnitsByPatterns", "asas", [[], [`foyer-${part.replace(/[\\*?[\]]/g, "?")}-*.service`]]);
          if (!Array.isArray(units)) throw new FoyerError("protocol-error", "ListUnitsByPatterns did not return a list");
          for (const u of units) {
            const unit = Array.isArray(u) ? u[0] : undefined;
            if (typeof unit !== "string" || !unit.startsWith(`foyer-${part}-`)) continue;
            const m = /^(\d+)-\d+\.service$/.exec(unit.slice(`foyer-${part}-`.length));
            if (!m || Number(m[1]) === process.pid) continue; // another name's unit, or ours
            this.log.warning(`stopping '${unit}', left by an earlier foyerd`);
            await manager(bus, "StopUnit", "ss", [unit, "replace"]).catch((e) => this.log.warning(`StopUnit '${unit}' failed, ignoring`, { err: describe(e) }));
            await manager(bus, "ResetFailedUnit", "s", [unit]).catch(() => {});
          }
        } catch (e) {
          this.log.warning(`cannot look for '${part}' units left by an earlier foyerd, ignoring`, { err: describe(e) });
        }
      })();
      this.#swept.set(part, p);
    }
    return p;
  }
}

type Phase = "starting" | "running" | "done";

/** One start of one spec: the transient unit from StartTransientUnit to its end. */
class UnitRun implements Launched {
  readonly pipes: NodeJS.ReadableStream[] = [];
  readonly exited: Promise<Exit>;
  #pid = 0;
  #phase: Phase = "starting";
  #job = "";
  #jobDone = false;
  #seenUp = false;
  #exec: { code?: number; status?: number } = {};
  #resolve!: (x: Exit) => void;
  #path: string;
  #match: string;
  #onSignal = (m: dbus.Message) => this.#signal(m);
  #onUp = () => void this.#reattach();
  #started: Promise<void>;
  #stopping?: Promise<Exit>;
  /** StartTransientUnit was sent */
  #asked = false;

  constructor(
    private link: SystemdLink,
    private log: Logger,
    private spec: LaunchSpec,
    readonly unit: string,
    private stopTimeoutMs: number,
    private sweep: () => Promise<void> = async () => {},
  ) {
    this.exited = new Promise((r) => (this.#resolve = r));
    this.#path = unitObjectPath(unit);
    this.#match = `type='signal',sender='${SYSTEMD_NAME}',path='${this.#path}',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged'`;
    link.on("signal", this.#onSignal);
    link.on("up", this.#onUp);
    this.#started = this.#start().catch((e) => {
      const name = dbusErrorName(e);
      this.log.error(`${spec.name} failed to start as unit '${unit}'`, { err: describe(e), ...(name ? { dbus: name } : {}) });
      // no answer is no refusal: systemd may start the unit after all, beside the next start
      if (this.#asked && !name) void this.#stopUnanswered();
      this.#finish({ code: 127, signal: null });
    });
  }

  get pid(): number {
    return this.#pid;
  }

  async #start(): Promise<void> {
    const exec = resolveExecutable(this.spec.argv[0] ?? "", this.spec.env.PATH);
    if (!exec) throw new FoyerError("spawn-failed", `cannot find '${this.spec.argv[0]}' in the unit's PATH`);
    mkdirSync(dirname(this.spec.logFile), { recursive: true, mode: 0o700 });
    closeSync(openSync(this.spec.logFile, "a", 0o600)); // systemd would create it 0644
    const { props, dropped } = transientProperties(this.spec, exec, this.stopTimeoutMs, ownUnitName());
    if (dropped.length) this.log.warning(`${this.spec.name}: environment entries systemd would refuse, ignoring: ${dropped.map((k) => `'${k}'`).join(", ")}`);
    await this.sweep();
    const bus = await this.link.subscribed();
    await bus.addMatch(this.#match);
    this.#asked = true;
    const [job] = await manager(bus, "StartTransientUnit", "ssa(sv)a(sa(sv))", [this.unit, "fail", props, []]);
    this.#job = str(job, "StartTransientUnit's job");
    this.log.debug(`started ${this.spec.name}`, { unit: this.unit, argv0: this.spec.argv[0] });
  }

  #signal(m: dbus.Message): void {
    if (this.#phase === "done") return;
    try {
      if (m.path === SYSTEMD_PATH && m.interface === MANAGER && m.member === "JobRemoved") {
        const [, job, unit, result] = m.body as unknown[];
        if (unit !== this.unit || (this.#job && job !== this.#job)) return;
        this.#jobDone = true;
        const r = str(result, "JobRemoved's result");
        if (r === "done") {
          this.#phase = "running";
          void this.#check(); // it may already have ended within the same batch of signals
        } else {
          this.log.warning(`${this.spec.name}: the start job of '${this.unit}' ended '${r}'`);
          void this.#check(true);
        }
        return;
      }
      if (m.path !== this.#path || m.member !== "PropertiesChanged") return;
      const [iface, changed] = m.body as [unknown, unknown];
      if (typeof changed !== "object" || changed === null) throw new FoyerError("protocol-error", "PropertiesChanged without a dictionary");
      const get = (k: string) =>
        (changed as Record<string, unknown>)[k] instanceof dbus.Variant
          ? ((changed as Record<string, InstanceType<typeof dbus.Variant>>)[k]!.value as unknown)
          : undefined;
      if (iface === "org.freedesktop.systemd1.Service") {
        const code = get("ExecMainCode"),
          status = get("ExecMainStatus"),
          pid = get("MainPID");
        if (code !== undefined) this.#exec.code = num(code, "ExecMainCode");
        if (status !== undefined) this.#exec.status = num(status, "ExecMainStatus");
        if (pid !== undefined && num(pid, "MainPID") > 0) this.#pid = num(pid, "MainPID");
      } else if (iface === "org.freedesktop.systemd1.Unit") {
        const state = get("ActiveState");
        if (state === undefined) return;
        this.#state(str(state, "ActiveState"));
      }
    } catch (e) {
      // a reply we cannot read is logged once per signal, never thrown into dbus-next's loop
      this.log.warning(`${this.spec.name}: unreadable signal from systemd, ignoring`, { err: describe(e) });
    }
  }

  #state(s: string): void {
    if (s === "activating" || s === "active" || s === "deactivating" || s === "reloading") this.#seenUp = true;
    // the first PropertiesChanged of a new unit says inactive: only an end after a start counts
    else if ((s === "inactive" || s === "failed") && (this.#seenUp || this.#jobDone)) void this.#ended(s);
  }

  /** After JobRemoved, or a reconnection: reads the state instead of waiting for a change. */
  async #check(failedJob = false): Promise<void> {
    const bus = this.link.bus;
    if (!bus || this.#phase === "done") return;
    try {
      const state = str(await bus.get(this.#path, "org.freedesktop.systemd1.Unit", "ActiveState"), "ActiveState");
      if (this.#pid === 0 && state === "active") this.#pid = num(await bus.get(this.#path, "org.freedesktop.systemd1.Service", "MainPID"), "MainPID");
      if (failedJob || state === "inactive" || state === "failed") await this.#ended(state);
      else this.#seenUp = true;
    } catch (e) {
      if (dbusErrorName(e) === "org.freedesktop.systemd1.NoSuchUnit" || dbusErrorName(e) === "org.freedesktop.DBus.Error.UnknownObject") {
        this.log.warning(`${this.spec.name}: unit '${this.unit}' is gone; its exit status is unknown`);
        this.#finish({ code: null, signal: null });
      } else {
        this.log.warning(`${this.spec.name}: cannot read the state of '${this.unit}'`, { err: describe(e) });
      }
    }
  }

  async #ended(state: string): Promise<void> {
    if (this.#phase === "done") return;
    this.#phase = "done"; // no second report from a later signal
    const bus = this.link.bus;
    if (bus && (this.#exec.code === undefined || this.#exec.status === undefined || this.#exec.code === 0)) {
      try {
        this.#exec.code = num(await bus.get(this.#path, "org.freedesktop.systemd1.Service", "ExecMainCode"), "ExecMainCode");
        this.#exec.status = num(await bus.get(this.#path, "org.freedesktop.systemd1.Service", "ExecMainStatus"), "ExecMainStatus");
      } catch (e) {
        this.log.debug(`${this.spec.name}: exit status of '${this.unit}' not readable`, { err: describe(e) });
      }
    }
    const x = exitFrom(this.#exec.code ?? 0, this.#exec.status ?? 0);
    this.log.debug(`${this.spec.name} unit ended`, { unit: this.unit, state, code: x.code, signal: x.signal });
    // a failed unit stays loaded until reset; reset lets systemd collect it. Awaited: when this
    // exit is the last thing foyerd waits for, it closes the connection right after
    if (bus && state === "failed")
      await manager(bus, "ResetFailedUnit", "s", [this.unit]).catch((e) =>
        this.log.debug(`ResetFailedUnit '${this.unit}' failed, ignoring`, { err: describe(e) }),
      );
    this.#finish(x);
  }

  #finish(x: Exit): void {
    this.#phase = "done";
    this.link.off("signal", this.#onSignal);
    this.link.off("up", this.#onUp);
    this.link.bus?.removeMatch(this.#match);
    this.#resolve(x);
  }

  /** Stops the unit of a start systemd did not answer, once its bus is there (it may be there late). */
  async #stopUnanswered(): Promise<void> {
    try {
      const bus = await this.link.current(Infinity);
      await manager(bus, "StopUnit", "ss", [this.unit, "replace"]);
      this.log.warning(`${this.spec.name}: stopped '${this.unit}', whose start systemd did not answer in time`);
    } catch (e) {
      if (dbusErrorName(e) === "org.freedesktop.systemd1.NoSuchUnit") this.log.info(`${this.spec.name}: '${this.unit}' was never started`);
      else this.log.warning(`${this.spec.name}: cannot stop '${this.unit}', whose start systemd did not answer`, { err: describe(e) });
    }
  }

  /** After the bus came back: signals may have been missed, so the unit's state is read anew. */
  async #reattach(): Promise<void> {
    if (this.#phase === "done") return;
    try {
      const bus = await this.link.subscribed();
      await bus.addMatch(this.#match);
    } catch (e) {
      this.log.warning(`${this.spec.name}: cannot watch '${this.unit}' again`, { err: describe(e) });
      return;
    }
    await this.#check();
  }

  /**
   * SIGTERM to every process of the unit (KillUnit, as the direct launcher signals its group), then
   * StopUnit: a stop job systemd already holds for the unit, ordered after foyerd's own (switch-root),
   * would make StopUnit wait for foyerd, which waits for this.
   */
  stop(timeoutMs: number): Promise<Exit> {
    this.#stopping ??= (async () => {
      await this.#started;
      if (this.#phase === "done") return this.exited;
      const timer = setTimeout(() => {
        this.log.warning(`${this.spec.name} did not stop within ${timeoutMs} ms, killing`, { unit: this.unit });
        const bus = this.link.bus;
        if (bus)
          manager(bus, "KillUnit", "ssi", [this.unit, "all", SIGKILL]).catch((e) => this.log.warning(`KillUnit '${this.unit}' failed`, { err: describe(e) }));
      }, timeoutMs);
      // stop() must end even when systemd cannot be asked (its bus gone for good): the supervisor
      // waits for this exit before it exits itself
      const giveUp = setTimeout(() => {
        if (this.#phase === "done") return;
        this.log.error(`${this.spec.name}: no word from systemd that '${this.unit}' ended; taking it as gone`);
        this.#finish({ code: null, signal: null });
      }, timeoutMs + GIVE_UP_AFTER_KILL_MS);
      try {
        const bus = this.link.bus;
        if (!bus) this.log.warning(`${this.spec.name}: systemd's bus is away; '${this.unit}' is stopped when it is back`);
        else {
          await manager(bus, "KillUnit", "ssi", [this.unit, "all", SIGTERM]).catch(() => {}); // NoSuchUnit: already gone
          await manager(bus, "StopUnit", "ss", [this.unit, "replace"]).catch((e) => {
            // NoSuchUnit: it ended and was collected meanwhile; its signals tell the rest
            if (dbusErrorName(e) !== "org.freedesktop.systemd1.NoSuchUnit") this.log.warning(`StopUnit '${this.unit}' failed`, { err: describe(e) });
            void this.#check();
          });
        }
        return await this.exited;
      } finally {
        clearTimeout(timer);
        clearTimeout(giveUp);
      }
    })();
    return this.#stopping;
  }
}
