// The greeter's own controls, under every flow: the keyboard layout (always shown, switchable from
// xkeyboard-config's list), the on-screen keyboard, high contrast, large text and the language.
// Each change goes to the daemon, which holds it and sends it back in the state: the page only
// mirrors that state, so a restarted browser (and every other greeter) looks the same.
import type { StateMessage, KeyboardLayoutsMessage } from "../protocol/greeter.js";
import type { Connection } from "./connection.js";
import { t, catalogues, language, LOCALE_OF, type MessageKey } from "./i18n.js";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
let conn: Connection | undefined;
let state: StateMessage | undefined;
let layouts: KeyboardLayoutsMessage["layouts"] | undefined;
let layoutsAsked = false;
let wired = false;

function option(value: string, label: string): HTMLOptionElement {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = label;
  return o;
}

function wire(): void {
  wired = true;
  const toggle = (id: string, key: "highContrast" | "largeText" | "osk") =>
    $(id).addEventListener("click", () => state?.appearance && conn?.send({ type: "appearance_set", [key]: !state.appearance[key] }));
  toggle("toggle-contrast", "highContrast");
  toggle("toggle-large", "largeText");
  toggle("toggle-osk", "osk");
  $("kb-button").addEventListener("click", () => {
    // during first boot the form's own layout field is the switcher: it applies live without
    // restarting cage, which would lose what the person has typed into the form
    if (state?.flow === "firstboot") return document.getElementById("fb-layout")?.focus();
    if (panelOpen()) closePanel(true);
    else openPanel();
  });
  $("kb-panel").addEventListener("keydown", (e) => {
    if (e.key === "Escape") closePanel(true);
  });
}

/** An element with translated text that follows later language switches (data-i18n). */
function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, key?: MessageKey): HTMLElementTagNameMap[K] {
  const e = Object.assign(document.createElement(tag), props);
  if (key) {
    (e as HTMLElement).dataset.i18n = key;
    e.textContent = t(key);
  }
  return e;
}

/**
 * The layout panel is built on first use, not shipped in the page: until a person opens it there
 * is nothing for a screen reader to list twice next to the first-boot form's own layout fields.
 */
function buildPanel(): void {
  const panel = $("kb-panel");
  if (panel.childElementCount > 0) return;
  panel.setAttribute("role", "group");
  panel.setAttribute("aria-labelledby", "kb-panel-title");
  const fields = el("div", { className: "kb-fields" });
  fields.append(
    el("label", { htmlFor: "kb-layout" }, "keyboard.layout"),
    el("select", { id: "kb-layout" }),
    el("label", { htmlFor: "kb-variant" }, "keyboard.variant"),
    el("select", { id: "kb-variant" }),
  );
  const actions = el("div", { className: "actions kb-actions" });
  const cancel = el("button", { id: "kb-cancel", type: "button" }, "keyboard.cancel");
  const apply = el("button", { id: "kb-apply", type: "button", className: "submit" }, "keyboard.apply");
  actions.append(cancel, apply);
  panel.append(el("h2", { id: "kb-panel-title" }, "keyboard.title"), fields, actions);
  cancel.addEventListener("click", () => closePanel(true));
  $("kb-layout").addEventListener("change", () => fillVariants($<HTMLSelectElement>("kb-layout").value, ""));
  // applied on the button, not on change: arrowing through a select fires change per option, and
  // under cage each change restarts the greeter
  apply.addEventListener("click", () => {
    const layout = $<HTMLSelectElement>("kb-layout").value;
    if (!layout) return;
    conn?.send({ type: "keyboard_set", layout, variant: $<HTMLSelectElement>("kb-variant").value });
    closePanel(true);
  });
}

/**
 * The greeter's language picker, outside the first-boot flow only: there the form's own Language
 * field is the one that matters, and two controls named Language would be one too many.
 */
function languagePicker(show: boolean): void {
  const existing = document.querySelector(".lang-pick");
  if (!show) return existing?.remove();
  if (existing) return;
  const select = el("select", { id: "language" });
  select.replaceChildren(...Object.entries(catalogues).map(([code, c]) => Object.assign(option(code, c["lang.name"]), { lang: code })));
  select.addEventListener("change", () => conn?.send({ type: "appearance_set", locale: LOCALE_OF[select.value] ?? "C.UTF-8" }));
  const wrap = el("span", { className: "lang-pick" });
  wrap.append(el("label", { htmlFor: "language" }, "settings.language"), " ", select);
  $("settings").append(wrap);
}

const panelOpen = () => !$("kb-panel").hidden;

function openPanel(): void {
  buildPanel();
  $("kb-panel").hidden = false;
  $("kb-button").setAttribute("aria-expanded", "true");
  if (!layoutsAsked && conn?.open()) {
    layoutsAsked = true;
    conn.send({ type: "keyboard_layouts" });
  }
  fillLayouts();
  $("kb-layout").focus();
}

function closePanel(refocus: boolean): void {
  $("kb-panel").hidden = true;
  $("kb-button").setAttribute("aria-expanded", "false");
  if (refocus) $("kb-button").focus();
}

function fillLayouts(): void {
  const sel = $<HTMLSelectElement>("kb-layout");
  if (!layouts) {
    sel.replaceChildren(option("", t("keyboard.loading")));
    return;
  }
  // "English (US) — us": the description is what people recognise, the code what the footer shows
  sel.replaceChildren(...layouts.map((l) => option(l.name, `${l.description} — ${l.name}`)));
  const k = state?.keyboard;
  sel.value = k?.layout ?? "us";
  fillVariants(sel.value, k?.variant ?? "");
}

function fillVariants(layout: string, variant: string): void {
  const l = layouts?.find((x) => x.name === layout);
  const sel = $<HTMLSelectElement>("kb-variant");
  sel.replaceChildren(option("", t("keyboard.default")), ...(l?.variants ?? []).map((v) => option(v.name, v.description)));
  sel.value = variant;
  if (sel.value !== variant) sel.value = "";
  sel.disabled = (l?.variants.length ?? 0) === 0;
}

export function keyboardLayouts(m: KeyboardLayoutsMessage): void {
  layouts = m.layouts;
  if (panelOpen()) fillLayouts();
}

/** A fresh connection: ask for the layouts again when the panel opens. */
export function settingsDisconnected(): void {
  layoutsAsked = false;
}

export function layoutName(s: StateMessage): string {
  return s.keyboard.variant ? `${s.keyboard.layout} (${s.keyboard.variant})` : s.keyboard.layout;
}

export function renderSettings(s: StateMessage, c: Connection): void {
  conn = c;
  state = s;
  if (!wired) wire();
  const a = s.appearance;
  const html = document.documentElement;
  // the system's own wish counts too (a kiosk rarely has one, a browser on another machine may)
  html.classList.toggle("high-contrast", (a?.highContrast ?? false) || matchMedia("(prefers-contrast: more)").matches);
  html.classList.toggle("large-text", a?.largeText ?? false);
  html.classList.toggle("reduced-motion", a?.reducedMotion ?? false);
  const theme = $<HTMLLinkElement>("theme-css");
  const href = `/themes/${a?.theme ?? "default"}/theme.css`;
  if (theme.getAttribute("href") !== href) theme.setAttribute("href", href);
  $("toggle-contrast").setAttribute("aria-pressed", String(a?.highContrast ?? false));
  $("toggle-large").setAttribute("aria-pressed", String(a?.largeText ?? false));
  $("toggle-osk").setAttribute("aria-pressed", String(a?.osk ?? false));
  const name = layoutName(s);
  $("keyboard").textContent = name;
  $("kb-button").setAttribute("aria-label", t("keyboard.button", { layout: name }));
  languagePicker(s.flow !== "firstboot");
  if (s.flow === "firstboot" && panelOpen()) closePanel(false);
  const lang = document.getElementById("language") as HTMLSelectElement | null;
  if (lang) lang.value = language();
}
