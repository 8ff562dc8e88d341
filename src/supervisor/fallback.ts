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
import { wipeAll } from "../base/secret.js";
import { describe } from "../base/errors.js";
import { TOOL_PATH } from "../base/command.js";
import { PromptEditor, type ConsoleRequest, type FallbackReplies } from "./prompt-editor.js";
import type { Logger } from "../base/log.js";
import type { FrameScreen } from "../display/frame-screen.js";

export type { ConsoleRequest, FallbackReplies } from "./prompt-editor.js";

export interface Fallback {
  /** the pending requests changed */
  update(prompts: ConsoleRequest[]): void;
  stop(): void;
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

/** How often the frame looks at caps lock: the key sends no byte to read. */
const CAPS_POLL_MS = 250;

/** foyer's own console prompt: the console's keys into the editor, drawn on its framebuffer or as text. */
class ConsolePrompt implements Fallback {
  #fd: number;
  #in: ReadStream;
  #frame?: FrameScreen;
  #capsTimer?: NodeJS.Timeout;
  #editor: PromptEditor;

  constructor(
    private consolePath: string,
    pending: ConsoleRequest[],
    replies: FallbackReplies,
    private log: Logger,
    o: FallbackOptions,
  ) {
    this.#fd = openSync(consolePath, "r+");
    this.#in = new ReadStream(this.#fd);
    this.#in.setRawMode(true); // no echo, byte at a time: the passphrase never shows on screen
    this.#in.on("data", (d: Buffer) => {
      try {
        this.#editor.feed(d);
      } finally {
        wipeAll(d);
      }
    });
    this.#in.on("error", (e) => log.error("console read failed", { err: describe(e) }));
    if (o.frame) {
      try {
        this.#frame = o.frame(this.#fd);
      } catch (e) {
        log.warning("cannot draw foyer's frame, asking in text", { err: describe(e) });
      }
    }
    let layout = o.layout ?? "";
    // the frame names the keymap the console's keys are read with; an initramfs without the
    // machine's console keymap reads them as US whatever the profile says
    if (this.#frame && layout && layout !== "us" && this.#frame.usKeymap() === true) {
      log.notice("the console reads keys with the kernel's default US keymap, not the machine's: the frame names 'us'", { layout });
      layout = "us";
    }
    const frame = this.#frame;
    this.#editor = new PromptEditor(replies, log, {
      layout,
      ...(frame ? { draw: (v) => frame.draw(v) } : {}),
      say: (s) => this.#write(s),
    });
    if (frame) {
      this.#editor.capsLock = frame.capsLock();
      this.#capsTimer = setInterval(() => (this.#editor.capsLock = frame.capsLock()), CAPS_POLL_MS).unref();
      log.notice("fallback asking in foyer's frame", { console: consolePath, size: `${frame.fb.width}x${frame.fb.height}` });
    } else {
      this.#write("\r\nfoyer: the graphical greeter failed; answering on this console.\r\n");
      log.notice("text fallback asking on the console", { console: consolePath });
    }
    this.#editor.update(pending);
    this.#editor.draw();
  }

  #write(s: string | Buffer): void {
    try {
      writeSync(this.#fd, typeof s === "string" ? Buffer.from(s) : s);
    } catch (e) {
      this.log.warning(`cannot write to '${this.consolePath}', ignoring`, { err: describe(e) });
    }
  }

  update(prompts: ConsoleRequest[]): void {
    this.#editor.update(prompts);
  }

  stop(): void {
    clearInterval(this.#capsTimer);
    this.#frame?.close();
    this.#editor.clear();
    try {
      this.#in.setRawMode(false);
    } catch {
      /* console gone */
    }
    this.#in.destroy(); // the stream owns the fd and closes it
  }
}
