// The pending requests of both protocols as one list: systemd's ask-password files (the agent)
// and Plymouth's clients. Each answer and cancel goes back to the protocol that asked; a request
// asked again tells the keyring its cached passphrase was wrong; each request's life is a span on
// the boot timeline.
import { promptViews, consoleRequests } from "./snapshot.js";
import type { ConsoleRequest } from "./fallback.js";
import type { Parts } from "./parts.js";
import type { PendingPrompt } from "../agents/password-agent.js";
import type { PromptView } from "../protocol/greeter.js";
import type { Secret } from "../base/secret.js";
import { monotonicUs } from "../base/timeout.js";

export class Requests {
  #p: Pick<Parts, "agent" | "plymouth" | "keyring" | "timeline">;
  #shown = new Set<number>();

  constructor(p: Pick<Parts, "agent" | "plymouth" | "keyring" | "timeline">) {
    this.#p = p;
  }

  /** As the greeter shows them (snapshot.ts). */
  views(): PromptView[] {
    return promptViews(this.#p.agent.pending(), this.#p.plymouth.pending(), monotonicUs());
  }

  /** As the text fallback asks them. */
  forConsole(): ConsoleRequest[] {
    return consoleRequests(this.views(), (key) => this.#p.plymouth.owns(key));
  }

  /** Either protocol's list changed; `list` is the agent's. */
  changed(list: PendingPrompt[]): void {
    const { keyring, plymouth, timeline } = this.#p;
    // a request asked again: the passphrase that answered it before did not open the disk
    for (const p of list) keyring.asked(p.request.id);
    // each request's life on the timeline: a span from shown to answered (or gone)
    const now = new Set([...list.map((p) => p.key), ...plymouth.pending().map((p) => p.key)]);
    for (const k of now) if (!this.#shown.has(k)) timeline.begin(`prompt ${k}`);
    for (const k of this.#shown) if (!now.has(k)) timeline.end(`prompt ${k}`);
    this.#shown = now;
  }

  /** Answers a pending request; the caller wipes the secret. */
  answer(key: number, secret: Secret): void {
    const { plymouth, agent, keyring } = this.#p;
    if (plymouth.owns(key)) plymouth.answer(key, secret);
    else {
      const pending = agent.pending().find((p) => p.key === key);
      agent.answer(key, secret);
      // single sign-on is for the person's passphrase: never a PIN or a recovery key
      if (pending?.kind === "passphrase") keyring.answered(pending.request.id, secret);
    }
  }

  decline(key: number): void {
    if (this.#p.plymouth.owns(key)) this.#p.plymouth.cancel(key);
    else this.#p.agent.cancel(key);
  }
}
