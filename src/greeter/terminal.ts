// The recovery terminal, foyerd's side: one pty at a time, in the broker process (pty-broker.ts),
// bridged to the greeter client that opened it. The pty closes when that client disconnects. A
// new terminal starts only once the last broker has exited (its session taken down with it): an
// open before then is refused (`busy`), so no client can run more than one root broker and
// sulogin. Flow control: frames in
// flight to the browser are counted; above a bound, foyerd stops reading the broker, whose blocked
// stdout pauses the pty. Logs carry byte counts only.
//
// Keystrokes may be the root password. Each buffer foyer fills with them is zeroed once used: the
// WebSocket frame (server.ts), the frame to the broker (after the write's callback), the broker's
// reader and its stdin chunks. What foyer cannot wipe: the kernel's and Node's socket and pipe
// buffers, ws's copy when a frame arrives in pieces, node-pty's write queue (it copies each write
// with Buffer.from), sulogin's own, and the browser's.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "../base/log.js";
import { FoyerError, describe } from "../base/errors.js";
import { encodeFrame, FrameReader } from "./pty-frames.js";
import type { GreeterClient } from "./server.js";

export interface TerminalSpec {
  argv: string[];
  env: Record<string, string>;
  /** the broker's argv as it is started (setpriv --pdeathsig, no cores: src/launch/direct.ts) */
  wrap: (argv: string[]) => string[];
}

/** How a terminal ended. */
export interface TerminalEnd {
  client: GreeterClient;
  /** the broker exited before reporting its program's exit, unasked: the terminal never worked */
  failed: boolean;
}

export interface TerminalEvents {
  closed: (end: TerminalEnd) => void;
}

const HIGH_WATER = 64; // frames in flight to the browser before the pty is paused
const LOW_WATER = 16;
const KILL_AFTER_MS = 5000; // the broker ends its session in GRACE_MS (0.5 s): this is for a stuck one

interface Open {
  broker: ChildProcess;
  client: GreeterClient;
  closing: boolean;
  exited: boolean;
  reader: FrameReader;
  inFlight: number;
  bytesIn: number;
  bytesOut: number;
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

  constructor(
    private log: Logger,
    private send: (client: GreeterClient, bytes: Buffer, done: () => void) => void,
    private events: TerminalEvents,
  ) {}

  /** A terminal is open or still closing. */
  get open(): boolean {
    return this.#t !== undefined;
  }

  start(client: GreeterClient, spec: TerminalSpec, cols: number, rows: number): void {
    if (this.#t) {
      throw new FoyerError("busy", this.#t.closing ? "the last recovery terminal is still closing: open it again in a moment" : "a recovery terminal is open already");
    }
    const argv = spec.wrap([process.execPath, ...brokerCommand()]);
    let broker: ChildProcess;
    try {
      broker = spawn(argv[0]!, argv.slice(1), {
        stdio: ["pipe", "pipe", "pipe"],
        env: { FOYER_MAIN: "foyer-pty", PATH: process.env.PATH ?? "/usr/bin:/bin", FOYER_PTY_SPEC: JSON.stringify({ argv: spec.argv, env: spec.env, cols, rows }) },
      });
    } catch (e) {
      this.log.error("cannot start the recovery terminal's broker", { err: describe(e) });
      throw new FoyerError("spawn-failed", "the recovery terminal could not be started", { cause: e });
    }
    // EAGAIN, EMFILE, ENOENT… arrive as an event on the next tick, and no pid now
    broker.on("error", (e) => this.log.error("the recovery terminal's broker failed", { err: describe(e) }));
    if (broker.pid === undefined) throw new FoyerError("spawn-failed", "the recovery terminal could not be started");
    const t: Open = { broker, client, closing: false, exited: false, reader: new FrameReader(1 << 20, (type, p) => this.#frame(t, type, p)), inFlight: 0, bytesIn: 0, bytesOut: 0, stderr: "" };
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
    else if (type === "x" && payload.length >= 4) {
      t.exited = true;
      this.log.info("recovery terminal's program exited", { code: payload.readInt32BE(0) });
    }
  }

  #ended(t: Open): void {
    if (this.#t !== t) return;
    this.#t = undefined;
    t.reader.wipe();
    const failed = !t.exited && !t.closing;
    if (failed) this.log.error("the recovery terminal's broker exited before its program ran", { stderr: t.stderr.trim() });
    this.log.notice("recovery terminal closed", { bytesIn: t.bytesIn, bytesOut: t.bytesOut });
    this.events.closed({ client: t.client, failed });
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
    this.#write(t, bytes);
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
    t.broker.stdin!.write(encodeFrame("k"));
    t.broker.stdin!.end();
    t.broker.stdout!.resume(); // its last frames are read (and dropped), so it can leave
    const b = t.broker;
    setTimeout(() => b.exitCode === null && b.signalCode === null && b.kill("SIGKILL"), KILL_AFTER_MS).unref();
  }
}
