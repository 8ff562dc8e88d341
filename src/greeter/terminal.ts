// The recovery terminal, foyerd's side: one pty at a time, in the broker process
// (pty-broker.ts), bridged to the greeter client that opened it. The pty closes when that client
// disconnects. Flow control: frames in flight to the browser are counted; above a bound, foyerd
// stops reading the broker, whose blocked stdout pauses the pty. Logs carry byte counts only.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "../base/log.js";
import type { GreeterClient } from "./server.js";

export interface TerminalSpec {
  argv: string[];
  env: Record<string, string>;
}

const HIGH_WATER = 64; // frames in flight to the browser before the pty is paused
const LOW_WATER = 16;

function brokerCommand(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  const bundled = join(here, "foyer-pty.mjs");
  if (existsSync(bundled)) return [bundled];
  return [...process.execArgv, join(here, "pty-broker.ts")];
}

function frame(type: string, payload: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h[0] = type.charCodeAt(0);
  h.writeUInt32BE(payload.length, 1);
  return Buffer.concat([h, payload]);
}

export class TerminalBridge {
  #broker?: ChildProcess;
  #client?: GreeterClient;
  #inFlight = 0;
  #bytesOut = 0;
  #bytesIn = 0;

  constructor(
    private log: Logger,
    private send: (client: GreeterClient, bytes: Buffer, done: () => void) => void,
    private onClosed: () => void,
  ) {}

  get open(): boolean {
    return this.#broker !== undefined;
  }

  start(client: GreeterClient, spec: TerminalSpec, cols: number, rows: number): void {
    this.close();
    this.#client = client;
    const broker = spawn(process.execPath, [...brokerCommand(), JSON.stringify({ argv: spec.argv, env: spec.env, cols, rows })], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...spec.env, FOYER_MAIN: "foyer-pty", PATH: process.env.PATH ?? "/usr/bin:/bin" },
    });
    this.#broker = broker;
    this.#bytesIn = this.#bytesOut = 0;
    this.log.notice("recovery terminal opened", { argv0: spec.argv[0] });
    let acc = Buffer.alloc(0);
    broker.stdout!.on("data", (d: Buffer) => {
      acc = Buffer.concat([acc, d]);
      while (acc.length >= 5) {
        const len = acc.readUInt32BE(1);
        if (acc.length < 5 + len) break;
        const type = String.fromCharCode(acc[0]!);
        const payload = Buffer.from(acc.subarray(5, 5 + len));
        acc = acc.subarray(5 + len);
        if (type === "d") this.#output(payload);
        else if (type === "x") this.log.info("recovery terminal's program exited", { code: payload.readInt32BE(0) });
      }
    });
    broker.stderr!.on("data", (d: Buffer) => this.log.warning("terminal broker", { stderr: d.toString().trim().slice(0, 200) }));
    broker.stdin!.on("error", () => {});
    broker.on("exit", () => {
      if (this.#broker !== broker) return;
      this.log.notice("recovery terminal closed", { bytesIn: this.#bytesIn, bytesOut: this.#bytesOut });
      this.#broker = undefined;
      this.#client = undefined;
      this.onClosed();
    });
  }

  #output(bytes: Buffer): void {
    const client = this.#client;
    const broker = this.#broker;
    if (!client || !broker) return;
    this.#bytesOut += bytes.length;
    this.#inFlight++;
    if (this.#inFlight >= HIGH_WATER) broker.stdout!.pause();
    this.send(client, bytes, () => {
      this.#inFlight--;
      if (this.#inFlight <= LOW_WATER && broker.stdout!.isPaused()) broker.stdout!.resume();
    });
  }

  /** Keystrokes from `client`; only the client that opened the terminal may type into it. */
  input(client: GreeterClient, bytes: Buffer): void {
    if (client !== this.#client || !this.#broker) return;
    this.#bytesIn += bytes.length;
    this.#broker.stdin!.write(frame("d", Buffer.from(bytes)));
  }

  resize(client: GreeterClient, cols: number, rows: number): void {
    if (client !== this.#client || !this.#broker) return;
    const p = Buffer.alloc(4);
    p.writeUInt16BE(cols, 0);
    p.writeUInt16BE(rows, 2);
    this.#broker.stdin!.write(frame("r", p));
  }

  /** The client went away or asked: the shell gets SIGHUP, the broker exits. */
  closeFor(client: GreeterClient): void {
    if (client === this.#client) this.close();
  }

  close(): void {
    const b = this.#broker;
    if (!b) return;
    b.stdin!.write(frame("k", Buffer.alloc(0)));
    b.stdin!.end();
    setTimeout(() => b.exitCode === null && b.kill("SIGKILL"), 2000).unref();
  }
}
