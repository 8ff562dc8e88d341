// foyer's one way to run a command to its end: an explicit environment whose PATH is TOOL_PATH, a
// timeout that SIGKILLs it, stdin from a Buffer, stdout and stderr kept up to a bound, and every
// failure a FoyerError naming the command and what went wrong (the syscall and errno, the exit code
// or the signal). Nothing here blocks the event loop. Secrets go on stdin only: argv and the
// environment are readable in /proc by every local user; the caller zeroes its input once `run`
// has settled. Long-lived children (the greeter, the display server, the recovery terminal's
// broker, fsck's progress) keep their own launchers and take TOOL_PATH from here.
import { spawn } from "node:child_process";
import { FoyerError, describe } from "./errors.js";
import { secretBuffer } from "./secret.js";

/** The PATH of everything foyer runs, as root or as the greeter, in the initramfs and the real root. */
export const TOOL_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The environment a tool gets: TOOL_PATH, a UTF-8 C locale, and `extra` over them. */
export function toolEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: TOOL_PATH, LANG: "C.UTF-8", ...extra };
}

export interface RunOptions {
  /** killed (SIGKILL) after this long, and the run rejects with a "timeout" FoyerError */
  timeoutMs: number;
  /** written to stdin, then stdin is closed; none: stdin is /dev/null. Zeroed by the caller, not here. */
  input?: Buffer;
  /** merged over toolEnv() */
  env?: Record<string, string>;
  uid?: number;
  gid?: number;
  cwd?: string;
  /** bytes kept of stdout and of stderr each (the first ones); the rest is read and dropped. Default 1 MiB. */
  maxOutput?: number;
}

export interface RunResult {
  /** argv[0], as error messages name it */
  command: string;
  /** the exit code, or null when a signal ended it */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** the first maxOutput bytes, in a secretBuffer (it may be a secret: keyctl pipe); the read chunks are zeroed */
  stdout: Buffer;
  stderr: Buffer;
  /** stdout or stderr went past maxOutput */
  truncated: boolean;
}

export const DEFAULT_MAX_OUTPUT = 1 << 20;

/** Why a run did not succeed ("'mount' exited 32", "'x' was killed by SIGTERM"), or undefined when it exited 0. */
export function exitError(r: RunResult): FoyerError | undefined {
  if (r.code === 0) return undefined;
  return new FoyerError("internal", r.code !== null ? `'${r.command}' exited ${r.code}` : `'${r.command}' was killed by ${r.signal ?? "a signal"}`);
}

/** The first line of stderr, for a log or a problem string; empty when there is none. */
export function firstLine(b: Buffer): string {
  return b.toString("utf8").trim().split("\n")[0]!.trim();
}

/** A bounded capture: the first `max` bytes, copied out of the chunks, which are zeroed. */
class Capture {
  #chunks: Buffer[] = [];
  #kept = 0;
  over = false;
  constructor(readonly max: number) {}
  push(d: Buffer): void {
    const room = this.max - this.#kept;
    if (d.length > room) this.over = true;
    if (room > 0) {
      const keep = secretBuffer(Math.min(room, d.length));
      d.copy(keep, 0, 0, keep.length);
      this.#chunks.push(keep);
      this.#kept += keep.length;
    }
    d.fill(0);
  }
  take(): Buffer {
    const all = secretBuffer(this.#kept);
    let at = 0;
    for (const c of this.#chunks) {
      c.copy(all, at);
      at += c.length;
      c.fill(0);
    }
    this.#chunks = [];
    return all;
  }
  wipe(): void {
    for (const c of this.#chunks) c.fill(0);
    this.#chunks = [];
  }
}

/**
 * Runs `argv` to its end. Resolves with how it ended, whatever the exit code (exitError says
 * whether it failed); rejects with "spawn-failed" when it cannot start, and "timeout" when it ran
 * past `timeoutMs` (it is killed then; a process it started that holds the pipes open is not
 * waited for).
 */
export function run(argv: readonly string[], o: RunOptions): Promise<RunResult> {
  const command = argv[0] ?? "";
  return new Promise<RunResult>((resolve, reject) => {
    const out = new Capture(o.maxOutput ?? DEFAULT_MAX_OUTPUT),
      err = new Capture(o.maxOutput ?? DEFAULT_MAX_OUTPUT);
    let settled = false;
    const fail = (e: FoyerError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      out.wipe();
      err.wipe();
      reject(e);
    };
    let p: ReturnType<typeof spawn>;
    try {
      p = spawn(command, argv.slice(1), {
        env: toolEnv(o.env),
        stdio: [o.input ? "pipe" : "ignore", "pipe", "pipe"],
        ...(o.uid !== undefined ? { uid: o.uid } : {}),
        ...(o.gid !== undefined ? { gid: o.gid } : {}),
        ...(o.cwd !== undefined ? { cwd: o.cwd } : {}),
      });
    } catch (e) {
      // a bad argument (a NUL byte, uid without privilege) throws at once rather than as an event
      return reject(new FoyerError("spawn-failed", `cannot run '${command}': ${describe(e)}`, { cause: e }));
    }
    const timer = setTimeout(() => {
      p.kill("SIGKILL");
      fail(new FoyerError("timeout", `'${command}' ran past ${o.timeoutMs} ms and was killed`));
    }, o.timeoutMs);
    p.stdout!.on("data", (d: Buffer) => out.push(d));
    p.stderr!.on("data", (d: Buffer) => err.push(d));
    p.on("error", (e) => fail(new FoyerError("spawn-failed", `cannot run '${command}': ${describe(e)}`, { cause: e })));
    p.on("close", (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ command, code, signal, stdout: out.take(), stderr: err.take(), truncated: out.over || err.over });
    });
    if (o.input) {
      p.stdin!.on("error", () => {}); // a tool that exits before reading closes the pipe: its exit code tells
      p.stdin!.end(o.input);
    }
  });
}

/** run(), rejecting with exitError when the command did not exit 0. */
export async function runOk(argv: readonly string[], o: RunOptions): Promise<RunResult> {
  const r = await run(argv, o);
  const e = exitError(r);
  if (e) throw e;
  return r;
}
