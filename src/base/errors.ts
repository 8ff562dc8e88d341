// One error type for the whole daemon. The code is drawn from a closed list (docs/protocol.md);
// when in doubt, use "internal". Each boundary (D-Bus, WebSocket, CLI) converts a FoyerError once.
export type ProblemCode =
  | "invalid-argument"
  | "invalid-profile"
  | "invalid-ask-file"
  | "not-found"
  | "access-denied"
  | "timeout"
  | "spawn-failed"
  | "display-failed"
  | "protocol-error"
  | "busy"
  | "unsupported"
  | "internal";

export class FoyerError extends Error {
  override readonly name = "FoyerError";
  constructor(
    readonly code: ProblemCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The errno of a Node system error, or undefined. */
export function errnoOf(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && "code" in e && typeof (e as { code: unknown }).code === "string" ? (e as { code: string }).code : undefined;
}

/**
 * A short, input-free description of an error for a log line. A system error keeps its syscall
 * and the path it was about: "ENOENT (spawn journalctl)", "EACCES (open '/run/foyer/x')".
 */
export function describe(e: unknown): string {
  if (e instanceof FoyerError) return e.message;
  const errno = errnoOf(e);
  if (errno) {
    const { syscall, path, dest } = e as { syscall?: unknown; path?: unknown; dest?: unknown };
    if (typeof syscall !== "string") return errno;
    // spawn's syscall names the command already ("spawn journalctl"), and its path is the same
    const about = typeof path === "string" && !syscall.endsWith(` ${path}`) ? ` '${path}'` : "";
    return `${errno} (${syscall}${about}${typeof dest === "string" ? ` -> '${dest}'` : ""})`;
  }
  if (e instanceof Error) return e.message;
  return String(e);
}

export function assertNever(x: never): never {
  throw new FoyerError("internal", `unexpected value ${JSON.stringify(x)}`);
}
