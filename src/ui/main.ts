// The greeter UI (browser). It holds no state of its own: the daemon sends the full state on
// every (re)connect, so a restarted browser shows exactly what the dead one showed. Passphrases
// leave as binary frames of bytes (never JSON), and the field and byte copies are cleared at once.
import { ServerMessage, encodeAnswer, PROTOCOL_VERSION, type StateMessage, type PromptView } from "../protocol/greeter.js";

const token = new URLSearchParams(location.hash.slice(1)).get("token") ?? "";
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const promptsEl = $("prompts");
const statusEl = $("status");
const keyboardEl = $("keyboard");
const template = document.getElementById("prompt-template") as HTMLTemplateElement;

let ws: WebSocket | undefined;
let retryMs = 250;
let readySent = false;
const forms = new Map<number, HTMLFormElement>();

function connect(): void {
  const sock = new WebSocket(`ws://${location.host}/ws?token=${encodeURIComponent(token)}`);
  sock.binaryType = "arraybuffer";
  ws = sock;
  readySent = false;
  sock.onopen = () => {
    retryMs = 250;
    sock.send(JSON.stringify({ type: "hello", version: PROTOCOL_VERSION }));
  };
  sock.onmessage = (ev) => {
    if (typeof ev.data !== "string") return;
    let raw: unknown;
    try {
      raw = JSON.parse(ev.data);
    } catch {
      return;
    }
    const m = ServerMessage.safeParse(raw);
    if (!m.success) return;
    if (m.data.type === "state") render(m.data);
    else statusEl.textContent = m.data.message;
  };
  sock.onclose = () => {
    if (ws !== sock) return;
    statusEl.textContent = "Reconnecting…";
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 2000);
  };
}

function render(s: StateMessage): void {
  keyboardEl.textContent = s.keyboard.variant ? `${s.keyboard.layout} (${s.keyboard.variant})` : s.keyboard.layout;
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
  statusEl.textContent = s.notice || (s.prompts.length === 0 ? "No password is needed right now." : "");
  const active = document.activeElement;
  if (!(active instanceof HTMLInputElement)) forms.values().next().value?.querySelector("input")?.focus();
  if (!readySent && ws?.readyState === WebSocket.OPEN) {
    readySent = true;
    // after the browser painted this state: that is when a person can type
    requestAnimationFrame(() => ws?.send(JSON.stringify({ type: "ready" })));
  }
}

function update(form: HTMLFormElement, p: PromptView): void {
  const label = form.querySelector(".message") as HTMLLabelElement;
  label.textContent = p.message || "Password:";
  (form.querySelector(".wrong") as HTMLElement).hidden = p.retries === 0;
  form.dataset.retries = String(p.retries);
}

function build(p: PromptView): HTMLFormElement {
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
    reveal.textContent = show ? "Hide" : "Show";
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
  if (!ws || ws.readyState !== WebSocket.OPEN) {
    statusEl.textContent = "Not connected; try again in a moment.";
    return;
  }
  const bytes = new TextEncoder().encode(input.value);
  input.value = "";
  const frame = encodeAnswer(key, bytes);
  ws.send(frame);
  bytes.fill(0);
  frame.fill(0);
  statusEl.textContent = "Checking…";
}

function clearField(form: HTMLFormElement): void {
  const input = form.querySelector("input");
  if (input) input.value = "";
}

connect();
