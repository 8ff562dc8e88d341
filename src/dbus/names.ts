// org.foyer.Supervisor1 without dbus-next: its names, the shape the service reads from the
// supervisor, the method signatures and the property values. The D-Bus service (service.ts)
// loads dbus-next and the interface class (supervisor1.ts) only when a bus is there to serve on.

export const BUS_NAME = "org.foyer.Supervisor1";
export const OBJECT_PATH = "/org/foyer/Supervisor1";
export const INTERFACE = "org.foyer.Supervisor1";
export const INVALID_ARGS = "org.freedesktop.DBus.Error.InvalidArgs";
/** ShowRecovery's reason is shown on screen and logged: bounded, printable */
export const MAX_REASON_BYTES = 1024;

export interface SupervisorView {
  phase: string;
  flow: string;
  greeterState: string;
  greeterRestarts: number;
  /** request keys and messages only: answers never leave the daemon */
  prompts: { key: number; message: string }[];
  recoveryReason: string;
}

/** What the service needs from the supervisor; cli/daemon.ts adapts the Supervisor to it. */
export interface SupervisorPort {
  view(): SupervisorView;
  restartGreeter(): void;
  showRecovery(reason: string): void;
  /** resolves once the display is released */
  handoff(): Promise<void>;
  reload(): void;
  /** `changed` after anything in view() may have changed; the service diffs. Returns an unsubscribe. */
  subscribe(h: { changed(): void; phase(p: string): void; greeterExited(code: number | null, signal: string | null): void }): () => void;
}

/** The signatures methods take; a call with any other signature gets InvalidArgs (see service.ts). */
export const METHOD_SIGNATURES: Record<string, string> = {
  RestartGreeter: "",
  ShowRecovery: "s",
  Handoff: "",
  Reload: "",
  Status: "",
};

export function promptsValue(v: SupervisorView): [number, string][] {
  return v.prompts.map((p) => [p.key, p.message]);
}

/** The properties as emitted in PropertiesChanged, keyed by D-Bus name. */
export function propertyValues(v: SupervisorView): Record<string, unknown> {
  return { Phase: v.phase, Flow: v.flow, GreeterState: v.greeterState, GreeterRestarts: v.greeterRestarts, PendingPrompts: promptsValue(v) };
}
