import { FoyerError } from "./errors.js";

/** Rejects with a "timeout" FoyerError when `p` has not settled within `ms`. */
export function withTimeout<T>(p: Promise<T>, ms: number, what = "operation"): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FoyerError("timeout", `${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Milliseconds on the monotonic clock (the clock of ask files' NotAfter, in ms). */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1_000_000n);
}

/** Microseconds on CLOCK_MONOTONIC, as systemd writes NotAfter=. */
export function monotonicUs(): bigint {
  return process.hrtime.bigint() / 1_000n;
}
