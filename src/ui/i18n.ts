// The greeter's message catalogues. The daemon sends a POSIX locale ("de_DE.UTF-8"); the language
// part picks a catalogue, English when none is shipped. Static text in index.html carries
// data-i18n="key" (its text) and data-i18n-<attr>="key" (aria-label, title, placeholder); code
// calls t().
// Prompts from systemd (Message=) are shown as sent: they are already in the asker's language.
import { en, type MessageKey, type Catalogue } from "./locales/en.js";
import { de } from "./locales/de.js";
import { fr } from "./locales/fr.js";
import { ar } from "./locales/ar.js";

export type { MessageKey };
export const catalogues: Record<string, Catalogue> = { en, de, fr, ar };
/** languages written right to left, of those shipped */
const RTL = new Set(["ar", "he", "fa", "ur"]);
/** the locale the language picker sends for each shipped catalogue */
export const LOCALE_OF: Record<string, string> = { en: "C.UTF-8", de: "de_DE.UTF-8", fr: "fr_FR.UTF-8", ar: "ar_EG.UTF-8" };

/** "de_DE.UTF-8" → "de"; "C", "POSIX" and unknown languages → "en". */
export function languageOf(locale: string): string {
  const lang = locale.split(/[_.@-]/)[0]!.toLowerCase();
  return lang in catalogues ? lang : "en";
}

let current: Catalogue = en;
let currentLang = "en";

export function t(key: MessageKey, params: Record<string, string | number> = {}): string {
  return current[key].replace(/\{(\w+)\}/g, (m, k: string) => (k in params ? String(params[k]) : m));
}

export function language(): string {
  return currentLang;
}

/** Switches the catalogue and translates every marked element; true when the language changed. */
export function applyLocale(locale: string, root: ParentNode = document): boolean {
  const lang = languageOf(locale);
  if (lang === currentLang && document.documentElement.lang === lang) return false;
  currentLang = lang;
  current = catalogues[lang]!;
  const html = document.documentElement;
  html.lang = lang;
  // the whole page mirrors: CSS uses logical properties and flex order, so start is the right edge
  html.dir = RTL.has(lang) ? "rtl" : "ltr";
  translate(root);
  return true;
}

/** the attributes data-i18n-<attr> translates: the ones a person reads or a screen reader speaks */
export const TRANSLATED_ATTRS = ["aria-label", "title", "placeholder"] as const;

function translate(root: ParentNode): void {
  for (const el of root.querySelectorAll<HTMLElement>("[data-i18n]")) el.textContent = t(el.dataset.i18n as MessageKey);
  for (const attr of TRANSLATED_ATTRS) {
    const data = `data-i18n-${attr}`;
    for (const el of root.querySelectorAll<HTMLElement>(`[${data}]`)) el.setAttribute(attr, t(el.getAttribute(data) as MessageKey));
  }
  // templates (a prompt's form) are cloned later: translate their content too
  for (const tpl of root.querySelectorAll("template")) translate(tpl.content);
}
