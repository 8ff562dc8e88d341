// Messages from other boot components (Plymouth's display-message), shown as sent. A security
// token's ("Please confirm presence on security token to unlock.") is a wait the person must act
// on: it gets a heading of its own in the greeter's language, the sent text under it.
import { classifyMessage } from "../protocol/classify.js";
import { t, language } from "./i18n.js";

let shown = "";

export function renderMessages(messages: string[]): void {
  // built again only when they change: a status region rebuilt would be read out again
  const sig = JSON.stringify([language(), messages]);
  if (sig === shown) return;
  shown = sig;
  document.getElementById("messages")!.replaceChildren(...messages.map((m) => (classifyMessage(m) === "security-token" ? tokenWait(m) : text(m))));
}

const text = (m: string) => Object.assign(document.createElement("p"), { textContent: m, dir: "auto" });

function tokenWait(m: string): HTMLElement {
  const box = document.createElement("section");
  box.className = "token-wait";
  box.setAttribute("role", "status");
  const h = document.createElement("h2");
  h.dataset.i18n = "token.waiting";
  h.textContent = t("token.waiting");
  box.append(h, text(m));
  return box;
}
