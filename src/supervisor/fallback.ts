// The fallback, used when the breaker trips: nobody may be stranded at boot. Either foyer asks on
// the console itself (builtin: every pending request, systemd's and Plymouth's, echo off unless the
// request is a question, bytes into a Buffer, answered as the greeter would; drawn in foyer's own
// frame where there is a framebuffer, as text on the console where there is none), or it
// hands the console to systemd-tty-ask-password-agent (tty-agent), which answers systemd's requests;
// Plymouth's are then declined, so that their clients ask on their own terminal, as they do when
// plymouthd cannot show a prompt.
import { openSync, writeSync } from "node:fs";
import { ReadStream } from "node:tty";
import { spawn, type ChildProcess } from "node:child_process";
import { Secret, wipeAll } from "../base/secret.js";
import { describe } from "../base/errors.js";
import { TOOL_PATH } from "../base/command.js";
import { MAX_PASSPHRASE_BYTES } from "../protocol/greeter.js";
import type { PromptKind } from "../protocol/classify.js";
import type { Logger } from "../base/log.js";
import type { FrameScreen } from "../display/frame-screen.js";

/** A pending request as the console asks it, whichever protocol brought it. */
export interface ConsoleRequest {
  key: number;
  message: string;
  /** a question (Plymouth's ask-question, systemd's Echo=): the answer is shown as typed */
  echo: boolean;
  /** > 0: the last answer was wrong */
  retries: number;
  /** what it asks for: the console says which was wrong */
  kind: PromptKind;
  from: "systemd" | "plymouth";
}

export interface Fallback {
  /** the pending requests changed */
  update(prompts: ConsoleRequest[]): void;
  stop(): void;
}

/** Where the console's answers go: back to the request's sender. The caller of `answer` wipes the secret. */
export interface FallbackReplies {
  answer(key: number, secret: Secret): void;
  decline(key: number): void;
}

export interface FallbackOptions {
  /** opens foyer's frame on the console's fd (builtin only); without it, or when it fails, text */
  frame?: (consoleFd: number) => FrameScreen;
  /** the keyboard layout's name, shown in the frame's field */
  layout?: string;
}

export function startFallback(
  mode: "builtin" | "tty-agent",
  consolePath: string,
  pending: ConsoleRequest[],
  replies: FallbackReplies,
  log: Logger,
  o: FallbackOptions = {},
): Fallback {
  return mode === "tty-agent" ? new TtyAgentFallback(consolePath, pending, replies, log) : new ConsolePrompt(consolePath, pending, replies, log, o);
}

class TtyAgentFallback implements Fallback {
  #child?: ChildProcess;
  constructor(
    consolePath: string,
    pending: ConsoleRequest[],
    private replies: FallbackReplies,
    private log: Logger,
  ) {
    this.#child = spawn("systemd-tty-ask-password-agent", ["--watch", `--console=${consolePath}`], {
      stdio: "ignore",
      env: { PATH: `${TOOL_PATH}:/lib/systemd` },
    }); // a long-lived child; the agent may sit in /lib/systemd
    this.#child.on("error", (e) => log.error("cannot start systemd-tty-ask-password-agent", { err: describe(e) }));
    log.notice("console handed to systemd-tty-ask-password-agent", { console: consolePath });
    this.update(pending);
  }
  update(prompts: ConsoleRequest[]): void {
    for (const p of prompts.filter((x) => x.from === "plymouth")) {
      this.log.notice("declining a Plymouth request: systemd's console agent cannot ask it; its client asks on its own terminal", { key: p.key });
      try {
        this.replies.decline(p.key);
      } catch (e) {
        this.log.warning("could not decline a Plymouth request", { key: p.key, err: describe(e) });
      }
    }
  }
  stop(): void {
    this.#child?.kill("SIGTERM");
  }
}

const WRONG: Record<PromptKind, string> = { passphrase: "passphrase", pin: "PIN", "recovery-key": "recovery key" };

const CR = 0x0d,
  LF = 0x0a,
  BS = 0x08,
  DEL = 0x7f,
  CTRL_U = 0x15,
  CTRL_C = 0x03,
  ESC = 0x1b;

/** How often the frame looks at caps lock: the key sends no byte to read. */
const CAPS_POLL_MS = 250;

/** foyer's own console prompt: one pending request at a time, in the order they arrived. */
class ConsolePrompt implements Fallback {
  #fd: number;
  #in: ReadStream;
  #buf = Buffer.alloc(MAX_PASSPHRASE_BYTES);
  #len = 0;
  #current?: ConsoleRequest;
  #prompts: ConsoleRequest[] = [];
  #frame?: FrameScreen;
  #caps = false;
  #capsTimer?: NodeJS.Timeout;
  #drawFailed = false;
  #submits = 0;
  /** the layout's name the frame shows */
  #layout = "";

  constructor(
    private consolePath: string,
    pending: ConsoleRequest[],
    private replies: FallbackReplies,
    private log: Logger,
    o: FallbackOptions,
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
    if (o.frame) {
      try {
        this.#frame = o.frame(this.#fd);
        this.#caps = this.#frame.capsLock();
        this.#capsTimer = setInterval(() => this.#pollCaps(), CAPS_POLL_MS).unref();
      } catch (e) {
        log.warning("cannot draw foyer's frame, asking in text", { err: describe(e) });
      }
    }
    this.#layout = o.layout ?? "";
    // the frame names the keymap the console's keys are read with; an initramfs without the
    // machine's console keymap reads them as US whatever the profile says
    if (this.#frame && this.#layout && this.#layout !== "us" && this.#frame.usKeymap() === true) {
      log.notice("the console reads keys with the kernel's default US keymap, not the machine's: the frame names 'us'", { layout: this.#layout });
      this.#layout = "us";
    }
    if (this.#frame) log.notice("fallback asking in foyer's frame", { console: consolePath, size: `${this.#frame.fb.width}x${this.#frame.fb.height}` });
    else {
      this.#write("\r\nfoyer: the graphical greeter failed; answering on this console.\r\n");
      log.notice("text fallback asking on the console", { console: consolePath });
    }
    this.update(pending);
    if (!this.#current) this.#draw();
  }

  /** text on the console, when there is no frame */
  #say(s: string | Buffer): void {
    if (!this.#frame) this.#write(s);
  }

  #pollCaps(): void {
    const caps = this.#frame?.capsLock() ?? false;
    if (caps !== this.#caps) {
      this.#caps = caps;
      this.#draw();
    }
  }

  /** the frame as things are: the current request's prompt, or the progress mark */
  #draw(): void {
    if (!this.#frame) return;
    const p = this.#current;
    try {
      if (!p) this.#frame.draw({ kind: "progress", step: 0 });
      else {
        let chars = 0;
        for (let i = 0; i < this.#len; i++) if ((this.#buf[i]! & 0xc0) !== 0x80) chars++;
        const wrong = p.retries > 0 ? `Wrong ${WRONG[p.kind]}, try again. ` : "";
        this.#frame.draw({
          kind: "prompt",
          message: `${wrong}${p.message || "Password:"}`,
          typed: chars,
          capsLock: this.#caps ? "Caps Lock is on" : "",
          layout: this.#layout,
          // a question's answer is shown as typed; a passphrase never leaves the buffer
          ...(p.echo ? { shown: this.#buf.toString("utf8", 0, this.#len) } : {}),
        });
      }
    } catch (e) {
      if (!this.#drawFailed) this.log.warning("cannot draw foyer's frame", { err: describe(e) });
      this.#drawFailed = true;
    }
  }

  #write(s: string | Buffer): void {
    try {
      writeSync(this.#fd, typeof s === "string" ? Buffer.from(s) : s);
    } catch (e) {
      this.log.warning(`cannot write to '${this.consolePath}', ignoring`, { err: describe(e) });
    }
  }

  update(prompts: ConsoleRequest[]): void {
    this.#prompts = prompts;
    if (this.#current && !prompts.some((p) => p.key === this.#current!.key)) {
      this.#say("\r\n(request withdrawn)\r\n");
      this.#current = undefined;
      this.#clear();
      this.#draw();
    }
    if (!this.#current && prompts.length > 0) {
      this.#current = prompts[0]!;
      const wrong = this.#current.retries > 0 ? `Wrong ${WRONG[this.#current.kind]}, try again. ` : "";
      this.#say(`\r\n${wrong}${this.#current.message || "Password:"} `);
      this.#draw();
    }
  }

  #clear(): void {
    this.#buf.fill(0, 0, this.#len);
    this.#len = 0;
  }

  #feed(d: Buffer): void {
    const had = this.#len,
      submits = this.#submits;
    this.#edit(d);
    // a submit drew what comes next with an empty field: keys after it in the same read are not on it yet
    const changed = this.#submits === submits ? this.#len !== had || this.#current?.echo : this.#len > 0;
    if (changed) this.#draw();
  }

  #edit(d: Buffer): void {
    for (const byte of d) {
      if (byte === CR || byte === LF) {
        this.#submit();
      } else if (byte === DEL || byte === BS) {
        // drop one whole UTF-8 character: continuation bytes are 10xxxxxx
        const had = this.#len;
        while (this.#len > 0) {
          const b = this.#buf[--this.#len]!;
          this.#buf[this.#len] = 0;
          if ((b & 0xc0) !== 0x80) break;
        }
        if (this.#current?.echo && had > this.#len) this.#say("\b \b");
      } else if (byte === CTRL_U || byte === CTRL_C) {
        this.#clear();
      } else if (byte === ESC) {
        continue;
      } else if (this.#len < this.#buf.length) {
        this.#buf[this.#len++] = byte;
        if (this.#current?.echo) this.#say(Buffer.of(byte)); // a question's answer is shown, a passphrase never
      }
    }
  }

  #submit(): void {
    const p = this.#current;
    if (!p) {
      this.#clear();
      return;
    }
    this.#submits++;
    const secret = Secret.copyOf(this.#buf, 0, this.#len);
    this.#clear();
    try {
      this.replies.answer(p.key, secret);
      this.#say("\r\n");
    } catch (e) {
      this.log.warning("console answer failed", { err: describe(e) });
      this.#say("\r\n(could not send the answer)\r\n");
    } finally {
      secret.wipe();
    }
    this.#current = undefined;
    this.update(this.#prompts.filter((x) => x.key !== p.key));
    if (!this.#current) this.#draw();
  }

  stop(): void {
    clearInterval(this.#capsTimer);
    this.#frame?.close();
    this.#clear();
    try {
      this.#in.setRawMode(false);
    } catch {
      /* console gone */
    }
    this.#in.destroy(); // the stream owns the fd and closes it
  }
}
