// The org.foyer.Supervisor1 interface: what units, scripts and display managers may ask foyerd.
// This module knows nothing of the Supervisor class (dbus sits below supervisor in the import
// rule): it serves a SupervisorPort, which the composition root (cli/daemon.ts) builds.
//
// Errors cross the bus boundary here and only here. dbus-next replies to any exception that is
// not a DBusError with the exception's stack, so every method body runs inside toDBusError().
import dbus from "dbus-next";
import { FoyerError, describe, type ProblemCode } from "../base/errors.js";
import type { Logger } from "../base/log.js";

import { INTERFACE, INVALID_ARGS, MAX_REASON_BYTES, promptsValue, type SupervisorPort } from "./names.js";

export {
  BUS_NAME,
  OBJECT_PATH,
  INTERFACE,
  INVALID_ARGS,
  MAX_REASON_BYTES,
  METHOD_SIGNATURES,
  propertyValues,
  type SupervisorView,
  type SupervisorPort,
} from "./names.js";

// ProblemCode → the last part of the error name. Bad input uses the standard InvalidArgs, which
// busctl, gdbus and sd-bus clients already understand.
const ERROR_NAMES: Record<ProblemCode, string> = {
  "invalid-argument": INVALID_ARGS,
  "invalid-profile": `${INTERFACE}.Error.InvalidProfile`,
  "invalid-ask-file": `${INTERFACE}.Error.InvalidAskFile`,
  "not-found": `${INTERFACE}.Error.NotFound`,
  "access-denied": `${INTERFACE}.Error.AccessDenied`,
  timeout: `${INTERFACE}.Error.Timeout`,
  "spawn-failed": `${INTERFACE}.Error.SpawnFailed`,
  "display-failed": `${INTERFACE}.Error.DisplayFailed`,
  "protocol-error": `${INTERFACE}.Error.ProtocolError`,
  busy: `${INTERFACE}.Error.Busy`,
  unsupported: `${INTERFACE}.Error.Unsupported`,
  internal: `${INTERFACE}.Error.Internal`,
};

export function errorName(code: ProblemCode): string {
  return ERROR_NAMES[code];
}

/** The one conversion at the boundary: a DBusError with a clear message; stacks stay in our log. */
export function toDBusError(e: unknown, log: Logger, member: string): dbus.DBusError {
  if (e instanceof FoyerError) {
    log.info(`${member} refused`, { code: e.code, err: e.message });
    return new dbus.DBusError(errorName(e.code), e.message);
  }
  log.error(`${member} failed`, { err: e instanceof Error ? e.stack : describe(e) });
  return new dbus.DBusError(errorName("internal"), `${member} failed: internal error (see foyerd's log)`);
}

/** The reason shown on the recovery screen: 1..1 KiB of UTF-8 without control characters. */
export function checkReason(reason: string): void {
  const bytes = Buffer.byteLength(reason, "utf8");
  if (bytes === 0) throw new FoyerError("invalid-argument", "the reason is empty");
  if (bytes > MAX_REASON_BYTES) throw new FoyerError("invalid-argument", `the reason is ${bytes} bytes, at most ${MAX_REASON_BYTES} are allowed`);
  if (/[\u0000-\u001f\u007f]/.test(reason)) throw new FoyerError("invalid-argument", "the reason contains control characters");
}

type Variant = InstanceType<typeof dbus.Variant>;

export class Supervisor1 extends dbus.interface.Interface {
  #port: SupervisorPort;
  #log: Logger;

  constructor(port: SupervisorPort, log: Logger) {
    super(INTERFACE);
    this.#port = port;
    this.#log = log;
  }

  #call<T>(member: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      throw toDBusError(e, this.#log, member);
    }
  }

  // properties: getters, read through view() so they never go stale
  get Phase(): string {
    return this.#call("Phase", () => this.#port.view().phase);
  }
  get Flow(): string {
    return this.#call("Flow", () => this.#port.view().flow);
  }
  get GreeterState(): string {
    return this.#call("GreeterState", () => this.#port.view().greeterState);
  }
  get GreeterRestarts(): number {
    return this.#call("GreeterRestarts", () => this.#port.view().greeterRestarts);
  }
  get PendingPrompts(): [number, string][] {
    return this.#call("PendingPrompts", () => promptsValue(this.#port.view()));
  }

  RestartGreeter(): void {
    this.#call("RestartGreeter", () => this.#port.restartGreeter());
  }
  ShowRecovery(reason: string): void {
    this.#call("ShowRecovery", () => {
      checkReason(reason);
      this.#port.showRecovery(reason);
    });
  }
  /** Returns once foyer has released the display (foyerctl handoff waits for it). */
  async Handoff(): Promise<void> {
    await this.#call("Handoff", () => this.#port.handoff());
  }
  Reload(): void {
    this.#call("Reload", () => this.#port.reload());
  }
  Status(): Record<string, Variant> {
    return this.#call("Status", () => {
      const v = this.#port.view();
      return {
        Phase: new dbus.Variant("s", v.phase),
        Flow: new dbus.Variant("s", v.flow),
        GreeterState: new dbus.Variant("s", v.greeterState),
        GreeterRestarts: new dbus.Variant("u", v.greeterRestarts),
        PendingPrompts: new dbus.Variant("a(us)", promptsValue(v)),
        RecoveryReason: new dbus.Variant("s", v.recoveryReason),
      };
    });
  }

  // signals: configureMembers wraps these so that calling one emits it with the returned body
  GreeterExited(code: number, signal: string): [number, string] {
    return [code, signal];
  }
  PhaseChanged(phase: string): string {
    return phase;
  }
}

const { ACCESS_READ } = dbus.interface;
Supervisor1.configureMembers({
  properties: {
    Phase: { signature: "s", access: ACCESS_READ },
    Flow: { signature: "s", access: ACCESS_READ },
    GreeterState: { signature: "s", access: ACCESS_READ },
    GreeterRestarts: { signature: "u", access: ACCESS_READ },
    PendingPrompts: { signature: "a(us)", access: ACCESS_READ },
  },
  methods: {
    RestartGreeter: { inSignature: "", outSignature: "" },
    ShowRecovery: { inSignature: "s", outSignature: "" },
    Handoff: { inSignature: "", outSignature: "" },
    Reload: { inSignature: "", outSignature: "" },
    Status: { inSignature: "", outSignature: "a{sv}" },
  },
  signals: {
    GreeterExited: { signature: "is" },
    PhaseChanged: { signature: "s" },
  },
});
