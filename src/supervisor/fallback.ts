// The text fallback, used when the breaker trips: nobody may be stranded at boot. Either foyer
// asks on the console itself (builtin: echo off, bytes into a Buffer, answered through the same
// password agent), or it hands the console to systemd-tty-ask-password-agent (tty-agent).
import { openSync, writeSync } from "node:fs";
import { ReadStream } from "node:tty";
import { spawn, type ChildProcess } from "node:child_process";
import { Secret, wipeAll } from "../base/secret.js";
import { describe } from "../base/errors.js";
import { MAX_PASSPHRASE_BYTES } from "../protocol/greeter.js";
import type { Logger } from "../base/log.js";
import type { PasswordAgent, PendingPrompt } from "../agents/password-agent.js";

export interface Fallback {
  /** the pending prompts changed */
  update(prompts: PendingPrompt[]): void;
  stop(): void;
}

export function startFallback(mode: "builtin" | "tty-agent", consolePath: string, agent: PasswordAgent, log: Logger): Fallback {
  return mode === "tty-agent" ? new TtyAgentFallback(consolePath, log) : new ConsolePrompt(consolePath, agent, log);
}

class TtyAgentFallback implements Fallback {
  #child?: ChildProcess;
  constructor(consolePath: string, log: Logger) {
    this.#child = spawn("systemd-tty-ask-password-agent", ["--watch", `--console=${consolePath}`], { stdio: "ignore", env: { PATH: "/usr/bin:/bin:/usr/sbin:/sbin:/lib/systemd" } });
    this.#child.on("error", (e) => log.error("cannot start systemd-tty-ask-password-agent", { err: describe(e) }));
    log.notice("console handed to systemd-tty-ask-password-agent", { console: consolePath });
  }
  update(): void {}
  stop(): void {
    this.#child?.kill("SIGTERM");
  }
}

const CR = 0x0d, LF = 0x0a, BS = 0x08, DEL = 0x7f, CTRL_U = 0x15, CTRL_C = 0x03, ESC = 0x1b;

/** foyer's own console prompt: one pending request at a time, in the order they arrived. */
class ConsolePrompt implements Fallback {
  #fd: number;
  #in: ReadStream;
  #buf = Buffer.alloc(MAX_PASSPHRASE_BYTES);
  #len = 0;
  #current?: PendingPrompt;
  #prompts: PendingPrompt[] = [];

  constructor(
    private consolePath: string,
    private agent: PasswordAgent,
    private log: Logger,
  ) {
    this.#fd = openSync(consolePath, "r+");
    this.#in = new ReadStream(this.#fd);
    this.#in.setRawMode(true); // no echo, byte at a time: the passphrase never shows on screen
    this.#in.on("data", (d: Buffer) => {
      try {
        this.#feed(d);
      } finally {
        wipeAll(d);
      }
    });
    this.#in.on("error", (e) => log.error("console read failed", { err: describe(e) }));
    this.#write("\r\nfoyer: the graphical greeter failed; answering on this console.\r\n");
    log.notice("text fallback asking on the console", { console: consolePath });
    this.update(agent.pending());
  }

  #write(s: string): void {
    try {
      writeSync(this.#fd, s);
    } catch (e) {
      this.log.warning(`cannot write to '${this.consolePath}', ignoring`, { err: describe(e) });
    }
  }

  update(prompts: PendingPrompt[]): void {
    this.#prompts = prompts;
    if (this.#current && !prompts.some((p) => p.key === this.#current!.key)) {
      this.#write("\r\n(request withdrawn)\r\n");
      this.#current = undefined;
      this.#clear();
    }
    if (!this.#current && prompts.length > 0) {
      this.#current = prompts[0]!;
      const wrong = this.#current.retries > 0 ? "Wrong passphrase, try again. " : "";
      this.#write(`\r\n${wrong}${this.#current.request.message || "Password:"} `);
    }
  }

  #clear(): void {
    this.#buf.fill(0, 0, this.#len);
    this.#len = 0;
  }

  #feed(d: Buffer): void {
    for (const byte of d) {
      if (byte === CR || byte === LF) {
        this.#submit();
      } else if (byte === DEL || byte === BS) {
        // drop one whole UTF-8 character: continuation bytes are 10xxxxxx
        while (this.#len > 0) {
          const b = this.#buf[--this.#len]!;
          this.#buf[this.#len] = 0;
          if ((b & 0xc0) !== 0x80) break;
        }
      } else if (byte === CTRL_U || byte === CTRL_C) {
        this.#clear();
      } else if (byte === ESC) {
        continue;
      } else if (this.#len < this.#buf.length) {
        this.#buf[this.#len++] = byte;
      }
    }
  }

  #submit(): void {
    const p = this.#current;
    if (!p) {
      this.#clear();
      return;
    }
    const secret = Secret.copyOf(this.#buf, 0, this.#len);
    this.#clear();
    try {
      this.agent.answer(p.key, secret);
      this.#write("\r\n");
    } catch (e) {
      this.log.warning("console answer failed", { err: describe(e) });
      this.#write("\r\n(could not send the answer)\r\n");
    } finally {
      secret.wipe();
    }
    this.#current = undefined;
    this.update(this.#prompts.filter((x) => x.key !== p.key));
  }

  stop(): void {
    this.#clear();
    try {
      this.#in.setRawMode(false);
    } catch {
      /* console gone */
    }
    this.#in.destroy(); // the stream owns the fd and closes it
  }
}
