// The unlock view: one form per pending password request, its Message as the label of a
// password field; a PIN or a recovery key is labelled as one, with the Message under it.
// Passphrases (and PINs) leave as binary frames of bytes (never JSON), and the field and the
// byte copies are cleared at once.
import { encodeAnswer, type StateMessage, type PromptView } from "../protocol/greeter.js";
import { classifyMessage, type PromptKind } from "../protocol/classify.js";
import type { Connection } from "./connection.js";
import { t, type MessageKey } from "./i18n.js";

/** a passphrase's label is the asker's own Message=; the others say what is asked for */
const LABEL: Record<PromptKind, MessageKey | undefined> = { passphrase: undefined, pin: "prompt.pin", "recovery-key": "prompt.recoveryKey" };
const WRONG: Record<PromptKind, MessageKey> = { passphrase: "prompt.wrong", pin: "prompt.wrongPin", "recovery-key": "prompt.wrongRecoveryKey" };
/** seconds left at which a screen reader is told the time: not every second, which would drown the field */
const ANNOUNCE_AT = [60, 30, 10];

interface Countdown {
  /** performance.now() at which the asker gives up */
  deadline: number;
  /** the last of ANNOUNCE_AT said (or passed before the request showed) */
  said: number;
}

const forms = new Map<number, HTMLFormElement>();
const countdowns = new Map<number, Countdown>();
let ticker: ReturnType<typeof setInterval> | undefined;
let conn: Connection | undefined;
let statusEl: HTMLElement;
/** a passphrase went out from this page: with nothing left to ask, the boot goes on */
let answered = false;
/** the requests whose forms were submitted before the socket opened, in order: they go when it is there */
const queued = new Set<number>();
/**
 * Stands in the field for each character typed into foyer's own frame before the page painted:
 * the daemon holds those bytes, the page never has them. A private-use character nobody types.
 */
const HELD = "\ue000";

export function renderUnlock(s: StateMessage, c: Connection, status: HTMLElement): void {
  conn = c;
  statusEl = status;
  const promptsEl = document.getElementById("prompts")!;
  const keys = new Set(s.prompts.map((p) => p.key));
  for (const [key, form] of forms) {
    if (!keys.has(key)) {
      queued.delete(key);
      clearField(form);
      form.remove();
      forms.delete(key);
      countdowns.delete(key);
    }
  }
  for (const p of s.prompts) {
    const existing = forms.get(p.key);
    if (existing) update(existing, p);
    else {
      const f = build(p);
      forms.set(p.key, f);
      promptsEl.append(f);
    }
  }
  // after an answer the screen says the boot goes on: at switch-root it is the frame foyer leaves up;
  // while a security token is awaited, its wait says what is needed
  const tokenWait = s.messages.some((m) => classifyMessage(m) === "security-token");
  statusEl.textContent = s.notice || (s.prompts.length === 0 && !tokenWait ? t(answered ? "status.starting" : "status.none") : "");
  const active = document.activeElement;
  if (!(active instanceof HTMLInputElement)) forms.values().next().value?.querySelector("input")?.focus();
  tick();
  if (queued.size > 0 && !c.open()) statusEl.textContent = t("status.checking");
  else
    for (const key of [...queued]) {
      const input = forms.get(key)?.querySelector("input");
      if (input) submit(key, input);
    }
}

function update(form: HTMLFormElement, p: PromptView): void {
  const label = form.querySelector(".message") as HTMLLabelElement;
  const sent = form.querySelector(".sent") as HTMLElement;
  const wrong = form.querySelector(".wrong") as HTMLElement;
  const labelKey = LABEL[p.kind];
  // systemd's Message= as sent, in its language; under a translated label when that says more
  label.textContent = labelKey ? t(labelKey) : p.message || t("prompt.default");
  sent.textContent = labelKey ? p.message : "";
  sent.hidden = sent.textContent === "";
  wrong.dataset.i18n = WRONG[p.kind]; // so a language switch keeps "PIN"
  wrong.textContent = t(WRONG[p.kind]);
  wrong.hidden = p.retries === 0;
  form.dataset.retries = String(p.retries);
  form.dataset.kind = p.kind;
  if (p.expiresInMs === undefined) countdowns.delete(p.key);
  else {
    // the daemon sends the time left as of this state: the page's own clock counts from here
    const left = p.expiresInMs / 1000;
    const said = countdowns.get(p.key)?.said ?? Math.min(...ANNOUNCE_AT.filter((a) => a >= left));
    countdowns.set(p.key, { deadline: performance.now() + p.expiresInMs, said });
  }
  (form.querySelector(".time-left") as HTMLElement).hidden = !countdowns.has(p.key);
  describe(form);
  hold(form, p);
}

/** The characters typed into foyer's frame, once: a bullet each in front of what the field has. */
function hold(form: HTMLFormElement, p: PromptView): void {
  const input = form.querySelector("input") as HTMLInputElement;
  if (!p.typed) {
    if (form.dataset.held) input.value = input.value.replaceAll(HELD, "");
    delete form.dataset.held;
    return;
  }
  if (form.dataset.held) return;
  form.dataset.held = String(p.typed);
  input.value = HELD.repeat(p.typed) + input.value;
  input.setSelectionRange(input.value.length, input.value.length);
}

/** The field's description: the sent message under a translated label, and the time left. */
function describe(form: HTMLFormElement): void {
  const ids = [".sent", ".time-left"]
    .map((sel) => form.querySelector(sel) as HTMLElement)
    .filter((el) => !el.hidden)
    .map((el) => el.id);
  const input = form.querySelector("input") as HTMLInputElement;
  if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
  else input.removeAttribute("aria-describedby");
}

const clock = (s: number) => `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;

/** Writes each countdown's time left; runs while any request has a deadline. */
function tick(): void {
  const now = performance.now();
  for (const [key, c] of countdowns) {
    const form = forms.get(key);
    if (!form) continue;
    const s = Math.max(0, Math.ceil((c.deadline - now) / 1000));
    const shown = form.querySelector(".time-left") as HTMLElement;
    const text = t("prompt.timeLeft", { time: clock(s) });
    if (shown.textContent !== text) shown.textContent = text;
    const due = ANNOUNCE_AT.filter((a) => a < c.said && s <= a);
    if (due.length > 0) {
      c.said = Math.min(...due);
      (form.querySelector(".time-announce") as HTMLElement).textContent = t("prompt.secondsLeft", { seconds: s });
    }
  }
  if (countdowns.size > 0) ticker ??= setInterval(tick, 500);
  else if (ticker !== undefined) {
    clearInterval(ticker);
    ticker = undefined;
  }
}

function build(p: PromptView): HTMLFormElement {
  const template = document.getElementById("prompt-template") as HTMLTemplateElement;
  const form = (template.content.firstElementChild as HTMLFormElement).cloneNode(true) as HTMLFormElement;
  const input = form.querySelector("input") as HTMLInputElement;
  const reveal = form.querySelector(".reveal") as HTMLButtonElement;
  const caps = form.querySelector(".caps") as HTMLElement;
  const id = `secret-${p.key}`;
  input.id = id;
  (form.querySelector("label") as HTMLLabelElement).htmlFor = id;
  (form.querySelector(".sent") as HTMLElement).id = `sent-${p.key}`;
  (form.querySelector(".time-left") as HTMLElement).id = `time-${p.key}`;
  form.dataset.key = String(p.key);
  if (p.echo) input.type = "text";
  if (p.silent) {
    input.classList.add("silent");
    reveal.hidden = true;
  }
  if (p.echo) reveal.hidden = true;
  reveal.addEventListener("click", () => {
    const show = input.type === "password";
    input.type = show ? "text" : "password";
    reveal.dataset.i18n = show ? "prompt.hide" : "prompt.show"; // so a language switch keeps the state
    reveal.textContent = t(show ? "prompt.hide" : "prompt.show");
    reveal.setAttribute("aria-pressed", String(show));
    input.focus();
  });
  const capsCheck = (e: KeyboardEvent) => (caps.hidden = !e.getModifierState?.("CapsLock"));
  input.addEventListener("keydown", capsCheck);
  input.addEventListener("keyup", capsCheck);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    submit(p.key, input);
  });
  update(form, p);
  return form;
}

function submit(key: number, input: HTMLInputElement): void {
  if (!conn?.open()) {
    // typed before the socket opened (the page paints first): sent as soon as it is there
    queued.add(key);
    statusEl.textContent = t("status.checking");
    return;
  }
  queued.delete(key);
  // the held characters still in front are kept; the daemon puts their bytes before the rest
  const held = Number(input.form?.dataset.held ?? 0);
  let kept = 0;
  while (kept < held && input.value.startsWith(HELD, kept)) kept++;
  const bytes = new TextEncoder().encode(input.value.slice(kept).replaceAll(HELD, ""));
  input.value = "";
  if (input.form) delete input.form.dataset.held;
  const frame = encodeAnswer(key, bytes, kept);
  conn.sendBinary(frame);
  answered = true;
  bytes.fill(0);
  frame.fill(0);
  statusEl.textContent = t("status.checking");
}

function clearField(form: HTMLFormElement): void {
  const input = form.querySelector("input");
  if (input) input.value = "";
}
