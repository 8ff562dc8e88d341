// The unlock view: one form per pending password request, its Message as the label of a
// password field. Passphrases leave as binary frames of bytes (never JSON), and the field and the
// byte copies are cleared at once.
import { encodeAnswer, type StateMessage, type PromptView } from "../protocol/greeter.js";
import type { Connection } from "./connection.js";
import { t } from "./i18n.js";

const forms = new Map<number, HTMLFormElement>();
let conn: Connection | undefined;
let statusEl: HTMLElement;
/** a passphrase went out from this page: with nothing left to ask, the boot goes on */
let answered = false;

export function renderUnlock(s: StateMessage, c: Connection, status: HTMLElement): void {
  conn = c;
  statusEl = status;
  const promptsEl = document.getElementById("prompts")!;
  const keys = new Set(s.prompts.map((p) => p.key));
  for (const [key, form] of forms) {
    if (!keys.has(key)) {
      clearField(form);
      form.remove();
      forms.delete(key);
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
  // after an answer the screen says the boot goes on: at switch-root it is the frame foyer leaves up
  statusEl.textContent = s.notice || (s.prompts.length === 0 ? t(answered ? "status.starting" : "status.none") : "");
  const active = document.activeElement;
  if (!(active instanceof HTMLInputElement)) forms.values().next().value?.querySelector("input")?.focus();
}

function update(form: HTMLFormElement, p: PromptView): void {
  const label = form.querySelector(".message") as HTMLLabelElement;
  label.textContent = p.message || t("prompt.default"); // systemd's Message= as sent, in its language
  (form.querySelector(".wrong") as HTMLElement).hidden = p.retries === 0;
  form.dataset.retries = String(p.retries);
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
    statusEl.textContent = t("status.notConnected");
    return;
  }
  const bytes = new TextEncoder().encode(input.value);
  input.value = "";
  const frame = encodeAnswer(key, bytes);
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

