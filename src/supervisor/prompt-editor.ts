// The prompt foyer asks in itself, whoever brings the keys: the console's raw bytes (fallback.ts)
// or the keys typed into the splash inside cage (splash-prompt.ts), which sends them in the same
// form. One pending request at a time, in the order they arrived; the typed bytes in one bounded
// Buffer, zeroed at each answer; drawn in foyer's frame, or as text on the console where there is
// no frame.
import { Secret, secretBuffer } from "../base/secret.js";
import { describe } from "../base/errors.js";
import { MAX_PASSPHRASE_BYTES } from "../protocol/greeter.js";
import type { PromptKind } from "../protocol/classify.js";
import type { Logger } from "../base/log.js";
import type { FrameView } from "../display/frame-render.js";

/** A pending request as foyer asks it, whichever protocol brought it. */
export interface ConsoleRequest {
  key: number;
  message: string;
  /** a question (Plymouth's ask-question, systemd's Echo=): the answer is shown as typed */
  echo: boolean;
  /** > 0: the last answer was wrong */
  retries: number;
  /** what it asks for: the prompt says which was wrong */
  kind: PromptKind;
  from: "systemd" | "plymouth";
}

/** Where the answers go: back to the request's sender. The caller of `answer` wipes the secret. */
export interface FallbackReplies {
  answer(key: number, secret: Secret): void;
  decline(key: number): void;
}

/** What was typed for a request and not yet submitted, taken out of the editor. */
export interface Typed {
  key: number;
  secret: Secret;
  /** characters, one bullet each */
  chars: number;
}

export interface EditorOptions {
  /** draws foyer's frame; without it the prompt is text through `say` */
  draw?: (view: FrameView) => void;
  /** text on the console, where there is no frame */
  say?: (s: string | Buffer) => void;
  /** the keyboard layout's name, shown in the frame's field */
  layout?: string;
}

const WRONG: Record<PromptKind, string> = { passphrase: "passphrase", pin: "PIN", "recovery-key": "recovery key" };

const CR = 0x0d,
  LF = 0x0a,
  BS = 0x08,
  DEL = 0x7f,
  CTRL_U = 0x15,
  CTRL_C = 0x03,
  ESC = 0x1b;

/** The line being typed: the console's editing keys on a bounded Buffer. */
export class PromptEditor {
  #buf = Buffer.alloc(MAX_PASSPHRASE_BYTES);
  #len = 0;
  #current?: ConsoleRequest;
  #prompts: ConsoleRequest[] = [];
  #caps = false;
  #drawFailed = false;
  #submits = 0;
  /** the layout's name the frame shows */
  layout: string;

  constructor(
    private replies: FallbackReplies,
    private log: Logger,
    private o: EditorOptions,
  ) {
    this.layout = o.layout ?? "";
  }

  /** text on the console, when there is no frame */
  #say(s: string | Buffer): void {
    if (!this.o.draw) this.o.say?.(s);
  }

  set capsLock(on: boolean) {
    if (on === this.#caps) return;
    this.#caps = on;
    this.draw();
  }

  /** the frame as things are: the current request's prompt, or the progress mark */
  draw(): void {
    if (!this.o.draw) return;
    const p = this.#current;
    try {
      if (!p) this.o.draw({ kind: "progress", step: 0 });
      else {
        const wrong = p.retries > 0 ? `Wrong ${WRONG[p.kind]}, try again. ` : "";
        this.o.draw({
          kind: "prompt",
          message: `${wrong}${p.message || "Password:"}`,
          typed: this.#chars(),
          capsLock: this.#caps ? "Caps Lock is on" : "",
          layout: this.layout,
          // a question's answer is shown as typed; a passphrase never leaves the buffer
          ...(p.echo ? { shown: this.#buf.toString("utf8", 0, this.#len) } : {}),
        });
      }
    } catch (e) {
      if (!this.#drawFailed) this.log.warning("cannot draw foyer's frame", { err: describe(e) });
      this.#drawFailed = true;
    }
  }

  #chars(): number {
    let chars = 0;
    for (let i = 0; i < this.#len; i++) if ((this.#buf[i]! & 0xc0) !== 0x80) chars++;
    return chars;
  }

  update(prompts: ConsoleRequest[]): void {
    this.#prompts = prompts;
    if (this.#current && !prompts.some((p) => p.key === this.#current!.key)) {
      this.#say("\r\n(request withdrawn)\r\n");
      this.#current = undefined;
      this.clear();
      this.draw();
    }
    if (!this.#current && prompts.length > 0) {
      this.#current = prompts[0]!;
      const wrong = this.#current.retries > 0 ? `Wrong ${WRONG[this.#current.kind]}, try again. ` : "";
      this.#say(`\r\n${wrong}${this.#current.message || "Password:"} `);
      this.draw();
    }
  }

  clear(): void {
    this.#buf.fill(0, 0, this.#len);
    this.#len = 0;
  }

  /** Typed bytes; the caller zeroes `d`. */
  feed(d: Buffer): void {
    const had = this.#len,
      submits = this.#submits;
    this.#edit(d);
    // a submit drew what comes next with an empty field: keys after it in the same read are not on it yet
    const changed = this.#submits === submits ? this.#len !== had || this.#current?.echo : this.#len > 0;
    if (changed) this.draw();
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
        this.clear();
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
      this.clear();
      return;
    }
    this.#submits++;
    const secret = Secret.copyOf(this.#buf, 0, this.#len);
    this.clear();
    try {
      this.replies.answer(p.key, secret);
      this.#say("\r\n");
    } catch (e) {
      this.log.warning("answer failed", { err: describe(e) });
      this.#say("\r\n(could not send the answer)\r\n");
    } finally {
      secret.wipe();
    }
    this.#current = undefined;
    this.update(this.#prompts.filter((x) => x.key !== p.key));
    if (!this.#current) this.draw();
  }

  /** What is typed for the current request, taken out (the editor's buffer zeroed); undefined when nothing is. */
  take(): Typed | undefined {
    const p = this.#current;
    if (!p || this.#len === 0) return undefined;
    const typed = { key: p.key, secret: Secret.copyOf(this.#buf, 0, this.#len), chars: this.#chars() };
    this.clear();
    return typed;
  }
}

/** The first `kept` characters of what was typed, then `rest`: one answer, in a buffer of its own. */
export function joinTyped(typed: Typed, kept: number, rest: Secret): Secret {
  const t = typed.secret.reveal(),
    r = rest.reveal();
  let end = 0;
  for (let chars = 0; end < t.length; end++) {
    if ((t[end]! & 0xc0) !== 0x80 && chars++ === kept) break;
  }
  const b = secretBuffer(end + r.length);
  b.set(t.subarray(0, end));
  b.set(r, end);
  return Secret.adopt(b);
}
