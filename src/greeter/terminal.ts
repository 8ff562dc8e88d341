// The recovery terminal, foyerd's side: one pty at a time, in the broker process (pty-broker.ts),
// bridged to the greeter client that opened it. The pty closes when that client disconnects. A
// new terminal starts only once the last broker has exited (its session taken down with it): an
// open before then is refused (`busy`), so no client can run more than one root broker and
// sulogin. Flow control: frames in flight to the browser are counted; above a bound, foyerd stops
// reading the broker, whose blocked stdout pauses the pty. Logs carry byte counts only.
//
// Keystrokes may be the root password. Each buffer foyer fills with them is zeroed once used: the
// WebSocket frame (server.ts), the frame to the broker (after the write's callback), what is held
// for the pacing below, the broker's reader and its stdin chunks. What foyer cannot wipe: the
// kernel's and Node's socket and pipe buffers, ws's copy when a frame arrives in pieces, node-pty's
// write queue (it copies each write with Buffer.from), sulogin's own, and the browser's.
//
// Root passwords are paced while sulogin asks (password-rate.ts): after each password line the
// next is held until the delay has passed, in foyerd, whatever the page does, and across
// terminals (closing and opening one does not reset the count); the program starting a shell
// ends the row.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "../base/log.js";
import { FoyerError, describe } from "../base/errors.js";
import { TOOL_PATH } from "../base/command.js";
import { descendsFrom } from "../base/procs.js";
import { secretBuffer } from "../base/secret.js";
import { monotonicMs } from "../base/timeout.js";
import { encodeFrame, FrameReader } from "./pty-frames.js";
import { failureDelayMs, passwordLineEnd } from "./password-rate.js";
import type { GreeterClient } from "./server.js";

export interface TerminalSpec {
  argv: string[];
  env: Record<string, string>;
  /** the broker's argv as it is started (setpriv --pdeathsig, no cores: src/launch/direct.ts) */
  wrap: (argv: string[]) => string[];
  /** the program is sulogin: its password lines are paced */
  paced: boolean;
}

/** How a terminal ended. */
export interface TerminalEnd {
  client: GreeterClient;
  /** the program started another (sulogin its shell: the root password was given) */
  shell: boolean;
  /** the program's exit code and signal (0: none); null when it never ran */
  code: number | null;
  signal: number;
  /** the broker exited before reporting its program's exit, unasked: the terminal never worked */
  failed: boolean;
}

export interface TerminalEvents {
  shell: () => void;
  closed: (end: TerminalEnd) => void;
}

const HIGH_WATER = 64; // frames in flight to the browser before the pty is paused
const LOW_WATER = 16;
const MAX_HELD = 4096; // keystrokes held for the pacing; more are dropped (sulogin's buffer is smaller)
const KILL_AFTER_MS = 5000; // the broker ends its session in GRACE_MS (0.5 s): this is for a stuck one

interface Open {
  broker: ChildProcess;
  client: GreeterClient;
  paced: boolean;
  shell: boolean;
  closing: boolean;
  exit?: { code: number; signal: number };
  reader: FrameReader;
  held: Buffer[];
  heldBytes: number;
  timer?: NodeJS.Timeout;
  inFlight: number;
  bytesIn: number;
  bytesOut: number;
  /** keystrokes dropped because MAX_HELD were held already */
  bytesDropped: number;
  stderr: string;
}

function brokerCommand(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  const bundled = join(here, "foyer-pty.mjs");
  if (existsSync(bundled)) return [bundled];
  return [...process.execArgv, join(here, "pty-broker.ts")];
}

export class TerminalBridge {
  #t?: Open;
  /** password lines in a row that no shell followed, and when the next may go: across terminals */
  #failures = 0;
  #nextAt = 0;

  constructor(
    private log: Logger,
    private send: (client: GreeterClient, bytes: Buffer, done: () => void) => void,
    private events: TerminalEvents,
  ) {}

  /** A terminal is open or still closing. */
  get open(): boolean {
    return this.#t !== undefined;
  }

  /** Whether process `pid` runs in the open terminal: its broker's, or started below it (sulogin, the shell, what it runs). */
  holds(pid: number): boolean {
    const broker = this.#t?.broker.pid;
    return broker !== undefined && descendsFrom(pid, broker);
  }

  start(client: GreeterClient, spec: TerminalSpec, cols: number, rows: number): void {
    if (this.#t) {
      throw new FoyerError(
        "busy",
        this.#t.closing ? "the last recovery terminal is still closing: open it again in a moment" : "a recovery terminal is open already",
      );
    }
    const argv = spec.wrap([process.execPath, ...brokerCommand()]);
    let broker: ChildProcess;
    try {
      broker = spawn(argv[0]!, argv.slice(1), {
        stdio: ["pipe", "pipe", "pipe"],
        env: { FOYER_MAIN: "foyer-pty", PATH: TOOL_PATH, FOYER_PTY_SPEC: JSON.stringify({ argv: spec.argv, env: spec.env, cols, rows }) },
      });
    } catch (e) {
      this.log.error("cannot start the recovery terminal's broker", { err: describe(e) });
      throw new FoyerError("spawn-failed", "the recovery terminal could not be started", { cause: e });
    }
    // EAGAIN, EMFILE, ENOENT… arrive as an event on the next tick, and no pid now
    broker.on("error", (e) => this.log.error("the recovery terminal's broker failed", { err: describe(e) }));
    if (broker.pid === undefined) throw new FoyerError("spawn-failed", "the recovery terminal could not be started");
    const t: Open = {
      broker,
      client,
      paced: spec.paced,
      shell: false,
      closing: false,
      reader: new FrameReader(1 << 20, (type, p) => this.#frame(t, type, p)),
      held: [],
      heldBytes: 0,
      inFlight: 0,
      bytesIn: 0,
      bytesOut: 0,
      bytesDropped: 0,
      stderr: "",
    };
    this.#t = t;
    this.log.notice("recovery terminal opened", { argv0: spec.argv[0] });
    broker.stdout!.on("data", (d: Buffer) => {
      if (!t.reader.push(d)) {
        this.log.error("the recovery terminal's broker sent a broken frame, closing");
        this.close();
      }
    });
    broker.stderr!.on("data", (d: Buffer) => {
      t.stderr = (t.stderr + d.toString()).slice(-400);
      this.log.warning("terminal broker", { stderr: d.toString().trim().slice(0, 200) });
    });
    broker.stdin!.on("error", () => {});
    // 'close', not 'exit': its last frames (the program's exit) may still be in the pipe at 'exit'
    broker.on("close", () => this.#ended(t));
  }

  #frame(t: Open, type: string, payload: Buffer): void {
    if (type === "d") this.#output(t, payload);
    else if (type === "s" && !t.shell) {
      t.shell = true;
      this.log.notice("the recovery terminal's program started a shell");
      if (t.paced) {
        this.#failures = 0;
        this.#nextAt = 0;
      }
      this.#pump(t); // what was typed meanwhile is the shell's
      if (!t.closing) this.events.shell();
    } else if (type === "x" && payload.length === 8) {
      t.exit = { code: payload.readInt32BE(0), signal: payload.readInt32BE(4) };
      this.log.info("recovery terminal's program exited", t.exit);
    }
  }

  #ended(t: Open): void {
    if (this.#t !== t) return;
    this.#t = undefined;
    this.#drop(t);
    t.reader.wipe();
    const failed = !t.exit && !t.closing;
    if (failed) this.log.error("the recovery terminal's broker exited before its program ran", { stderr: t.stderr.trim() });
    this.log.notice("recovery terminal closed", { bytesIn: t.bytesIn, bytesOut: t.bytesOut, ...(t.bytesDropped ? { bytesDropped: t.bytesDropped } : {}) });
    this.events.closed({ client: t.client, shell: t.shell, code: t.exit?.code ?? null, signal: t.exit?.signal ?? 0, failed });
  }

  /** The send() callee copies the bytes before it returns: they are the reader's, zeroed after. */
  #output(t: Open, bytes: Buffer): void {
    if (t.closing) return;
    const stdout = t.broker.stdout!;
    t.bytesOut += bytes.length;
    t.inFlight++;
    if (t.inFlight >= HIGH_WATER) stdout.pause();
    this.send(t.client, bytes, () => {
      t.inFlight--;
      if (t.inFlight <= LOW_WATER && stdout.isPaused() && !t.closing) stdout.resume();
    });
  }

  /** Keystrokes from `client`; only the client that opened the terminal may type into it. */
  input(client: GreeterClient, bytes: Buffer): void {
    const t = this.#t;
    if (!t || client !== t.client || t.closing) return;
    t.bytesIn += bytes.length;
    if ((!t.paced || t.shell) && t.held.length === 0) return this.#write(t, bytes);
    if (t.heldBytes + bytes.length > MAX_HELD) {
      if (t.bytesDropped === 0) this.log.warning(`more than ${MAX_HELD} bytes typed while a password waits its turn: dropping input until it goes`);
      t.bytesDropped += bytes.length;
      return;
    }
    const copy = secretBuffer(bytes.length);
    copy.set(bytes);
    t.held.push(copy);
    t.heldBytes += copy.length;
    this.#pump(t);
  }

  /** Passes held keystrokes on: at once after a shell started; else one password line per delay. */
  #pump(t: Open): void {
    while (t.held.length > 0 && !t.closing) {
      const pacing = t.paced && !t.shell;
      if (pacing) {
        const wait = this.#nextAt - monotonicMs();
        if (wait > 0) {
          t.timer ??= setTimeout(() => {
            t.timer = undefined;
            this.#pump(t);
          }, wait);
          return;
        }
      }
      const b = t.held[0]!;
      const end = pacing ? passwordLineEnd(b) : -1;
      const n = end < 0 ? b.length : end;
      this.#write(t, b.subarray(0, n));
      b.fill(0, 0, n);
      t.heldBytes -= n;
      if (n === b.length) t.held.shift();
      else t.held[0] = b.subarray(n);
      if (end >= 0) {
        this.#failures++;
        this.#nextAt = monotonicMs() + failureDelayMs(this.#failures);
      }
    }
  }

  /** Held keystrokes are dropped, zeroed. */
  #drop(t: Open): void {
    clearTimeout(t.timer);
    t.timer = undefined;
    for (const b of t.held) b.fill(0);
    t.held = [];
    t.heldBytes = 0;
  }

  #write(t: Open, bytes: Uint8Array): void {
    const f = encodeFrame("d", bytes);
    t.broker.stdin!.write(f, () => f.fill(0));
  }

  resize(client: GreeterClient, cols: number, rows: number): void {
    const t = this.#t;
    if (!t || client !== t.client || t.closing) return;
    const p = Buffer.alloc(4);
    p.writeUInt16BE(cols, 0);
    p.writeUInt16BE(rows, 2);
    t.broker.stdin!.write(encodeFrame("r", p));
  }

  /** The client went away or asked: the terminal's session is taken down, the broker exits. */
  closeFor(client: GreeterClient): void {
    if (client === this.#t?.client) this.close();
  }

  close(): void {
    const t = this.#t;
    if (!t || t.closing) return;
    t.closing = true;
    this.#drop(t);
    t.broker.stdin!.write(encodeFrame("k"));
    t.broker.stdin!.end();
    t.broker.stdout!.resume(); // its last frames are read (and dropped), so it can leave
    const b = t.broker;
    setTimeout(() => b.exitCode === null && b.signalCode === null && b.kill("SIGKILL"), KILL_AFTER_MS).unref();
  }
}
