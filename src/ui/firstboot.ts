// The first-boot view: keyboard, language, time zone, computer name, the first account and root.
// The choices arrive once per connection (firstboot_options); the daemon's state carries the
// defaults, the errors and the phase, so a restarted greeter shows the same form. Each field is
// checked here first with the daemon's own rules (src/protocol/firstboot.ts) for instant inline
// errors; the daemon checks everything again. Passwords leave only as binary frames, never JSON.
// Every text built here comes from the catalogue (i18n.ts); errors arrive as codes, from the
// shared checks and from the daemon alike, so they read in the greeter's language.
import {
  encodePassword,
  hostnameProblem,
  usernameProblem,
  fullNameProblem,
  passwordProblem,
  PASSWORD_FIELD,
  PROBLEM_MAX,
  type FirstbootAnswers,
  type FirstbootError,
  type FirstbootField,
  type FirstbootOptionsMessage,
  type FirstbootView,
  type ProblemCode,
} from "../protocol/firstboot.js";
import type { StateMessage } from "../protocol/greeter.js";
import type { Connection } from "./connection.js";
import { t, language } from "./i18n.js";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
let options: FirstbootOptionsMessage | undefined;
let conn: Connection | undefined;
let view: FirstbootView | undefined;
let wired = false;
let filled = false;
let optionsAsked = false;
/** set on submit: the next state that is not "applying" is the daemon's verdict on it */
let awaitingVerdict = false;
/** the language the built text (the choices' labels, the errors) is in: a switch rewrites it */
let writtenIn = "";
/** the errors under their fields, kept so a language switch can write them again */
const shown = new Map<FirstbootField, FirstbootError>();

const FIELD_IDS: Record<Exclude<FirstbootField, "form">, string> = {
  layout: "fb-layout",
  variant: "fb-variant",
  locale: "fb-locale",
  timezone: "fb-timezone",
  hostname: "fb-hostname",
  fullName: "fb-fullName",
  username: "fb-username",
  userPassword: "fb-userPassword",
  rootPassword: "fb-rootPassword",
};

/** The choices, once per connection. */
export function firstbootOptions(m: FirstbootOptionsMessage): void {
  options = m;
  fillSelects();
  if (view) fillValues(view);
}

/** A fresh connection asks for the choices again (the daemon may have restarted). */
export function firstbootDisconnected(): void {
  optionsAsked = false;
}

export function renderFirstboot(s: StateMessage, c: Connection): void {
  conn = c;
  if (!wired) wire();
  view = s.firstboot;
  if (!view) return;
  if (!optionsAsked && c.open()) {
    optionsAsked = true;
    c.send({ type: "firstboot_options" });
  }
  if (!filled && options) fillValues(view);
  if (writtenIn !== language()) retranslate();
  const applying = view.phase === "applying";
  $<HTMLFieldSetElement>("fb-fields").disabled = applying;
  $<HTMLButtonElement>("fb-submit").disabled = applying || !options;
  $("fb-status").textContent = applying ? t("firstboot.applying") : options ? "" : t("firstboot.loading");
  const formError = $("fb-form-error");
  // the cause is the tool's own words and stays as it is; the sentence around it is translated
  formError.textContent = view.phase !== "failed" ? "" : view.detail !== undefined ? t("firstboot.failed", { detail: view.detail }) : view.message;
  formError.hidden = view.phase !== "failed";
  if (!applying && awaitingVerdict) {
    awaitingVerdict = false;
    showErrors(view.errors, true);
  } else if (!applying && view.errors.length > 0 && !document.querySelector(".fb-field.invalid")) {
    showErrors(view.errors, false); // a reconnecting greeter shows the errors the daemon holds
  }
}

/** Leaving the flow (applied, or recovery took over): no password stays in a field. */
export function leaveFirstboot(): void {
  if (!wired) return;
  for (const id of ["fb-userPassword", "fb-userConfirm", "fb-rootPassword", "fb-rootConfirm"]) $<HTMLInputElement>(id).value = "";
}

function wire(): void {
  wired = true;
  const form = $<HTMLFormElement>("fb-form");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    submit();
  });
  const rootFields = $("fb-root-fields");
  const syncRoot = () => {
    rootFields.hidden = $<HTMLInputElement>("fb-root-locked").checked;
    if (rootFields.hidden) clearError("rootPassword");
  };
  for (const id of ["fb-root-locked", "fb-root-set"]) $(id).addEventListener("change", syncRoot);
  $("fb-layout").addEventListener("change", () => {
    fillVariants($<HTMLSelectElement>("fb-layout").value, "");
    sendKeyboard();
  });
  $("fb-variant").addEventListener("change", sendKeyboard);
  // an error goes away as soon as the person edits that field
  for (const [field, id] of Object.entries(FIELD_IDS)) $(id).addEventListener("input", () => clearError(field as FirstbootField));
  $("fb-userConfirm").addEventListener("input", () => clearError("userPassword"));
  $("fb-rootConfirm").addEventListener("input", () => clearError("rootPassword"));
}

/** The chosen layout applies at once: the passwords below are typed with it. */
function sendKeyboard(): void {
  conn?.send({ type: "firstboot_keyboard", layout: $<HTMLSelectElement>("fb-layout").value, variant: $<HTMLSelectElement>("fb-variant").value });
}

function option(value: string, label: string): HTMLOptionElement {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = label;
  return o;
}

let languageNames: { lang: string; names: Intl.DisplayNames } | undefined;
/**
 * "German (Germany) — de_DE.UTF-8", and "Deutsch (Deutschland)" on a German screen: a person knows
 * their language's name better than its code.
 */
function localeLabel(code: string): string {
  const base = code.split(/[.@]/)[0]!;
  if (base === "C") return `${t("firstboot.localeNone")} — ${code}`;
  try {
    if (languageNames?.lang !== language()) languageNames = { lang: language(), names: new Intl.DisplayNames([language()], { type: "language" }) };
    const name = languageNames.names.of(base.replace("_", "-"));
    if (name && name !== base.replace("_", "-")) return `${name} — ${code}`;
  } catch {
    /* not a BCP 47 tag (e.g. "tt_RU@iqtelif"): the code alone */
  }
  return code;
}

function fillSelects(): void {
  if (!options) return;
  writtenIn = language();
  $<HTMLSelectElement>("fb-layout").replaceChildren(...options.layouts.map((l) => option(l.name, l.description)));
  fillLocales(options.locales);
  fillTimezones(options.timezones);
}

/** sorted by their names in the greeter's language, as a person looks for them */
function fillLocales(codes: string[]): void {
  const locales = codes.map((l) => [l, localeLabel(l)] as const).sort((a, b) => a[1].localeCompare(b[1], language()));
  $<HTMLSelectElement>("fb-locale").replaceChildren(...locales.map(([v, label]) => option(v, label)));
}

function fillTimezones(zones: string[]): void {
  // grouped by region, as tzdata names them; single names (UTC, EST…) under "Other"
  const other = t("firstboot.timezoneOther");
  const groups = new Map<string, HTMLOptionElement[]>();
  for (const tz of zones) {
    const slash = tz.indexOf("/");
    const region = slash > 0 ? tz.slice(0, slash) : other;
    // the whole name: a closed select shows only the option, and "Berlin" alone hides its region
    const label = tz.replaceAll("_", " ").replaceAll("/", " / ");
    if (!groups.has(region)) groups.set(region, []);
    groups.get(region)!.push(option(tz, label));
  }
  const tzSelect = $<HTMLSelectElement>("fb-timezone");
  tzSelect.replaceChildren(
    ...[...groups.entries()].map(([region, opts]) => {
      const g = document.createElement("optgroup");
      g.label = region;
      g.append(...opts);
      return g;
    }),
  );
}

function fillVariants(layout: string, variant: string): void {
  const l = options?.layouts.find((x) => x.name === layout);
  const sel = $<HTMLSelectElement>("fb-variant");
  sel.replaceChildren(option("", t("keyboard.default")), ...(l?.variants ?? []).map((v) => option(v.name, v.description)));
  sel.value = variant;
  if (sel.value !== variant) sel.value = "";
}

/** The daemon's values into the form, once per page: later states must not undo the person's typing. */
function fillValues(v: FirstbootView): void {
  filled = true;
  const a = v.values;
  $<HTMLSelectElement>("fb-layout").value = a.layout;
  fillVariants(a.layout, a.variant);
  $<HTMLSelectElement>("fb-locale").value = a.locale;
  $<HTMLSelectElement>("fb-timezone").value = a.timezone;
  $<HTMLInputElement>("fb-hostname").value = a.hostname;
  $<HTMLInputElement>("fb-fullName").value = a.fullName;
  $<HTMLInputElement>("fb-username").value = a.username;
  $<HTMLInputElement>(a.rootLocked ? "fb-root-locked" : "fb-root-set").checked = true;
  $("fb-root-fields").hidden = a.rootLocked;
  $<HTMLButtonElement>("fb-submit").disabled = false;
  $("fb-status").textContent = "";
  // the keyboard first: everything below is typed with it
  if (!(document.activeElement instanceof HTMLInputElement || document.activeElement instanceof HTMLSelectElement)) $("fb-layout").focus();
}

function answers(): FirstbootAnswers {
  return {
    layout: $<HTMLSelectElement>("fb-layout").value,
    variant: $<HTMLSelectElement>("fb-variant").value,
    locale: $<HTMLSelectElement>("fb-locale").value,
    timezone: $<HTMLSelectElement>("fb-timezone").value,
    hostname: $<HTMLInputElement>("fb-hostname").value.trim(),
    fullName: $<HTMLInputElement>("fb-fullName").value.trim(),
    username: $<HTMLInputElement>("fb-username").value.trim(),
    rootLocked: $<HTMLInputElement>("fb-root-locked").checked,
  };
}

function localErrors(a: FirstbootAnswers): FirstbootError[] {
  const out: FirstbootError[] = [];
  // no English sentence rides along: the page writes its own errors from their codes alone
  const add = (field: FirstbootField, code: ProblemCode | null) => code && out.push({ field, code, message: "" });
  if (!a.layout) add("layout", "layout-missing");
  if (!a.locale) add("locale", "locale-missing");
  if (!a.timezone) add("timezone", "timezone-missing");
  add("hostname", hostnameProblem(a.hostname));
  add("fullName", fullNameProblem(a.fullName));
  add("username", usernameProblem(a.username));
  add("userPassword", passwordProblem($<HTMLInputElement>("fb-userPassword").value, $<HTMLInputElement>("fb-userConfirm").value));
  if (!a.rootLocked) add("rootPassword", passwordProblem($<HTMLInputElement>("fb-rootPassword").value, $<HTMLInputElement>("fb-rootConfirm").value));
  return out;
}

function submit(): void {
  if (!conn?.open()) {
    $("fb-status").textContent = t("status.notConnected");
    return;
  }
  const a = answers();
  const errors = localErrors(a);
  showErrors(errors, true);
  if (errors.length > 0) return;
  // the frames first: the daemon hashes them in order and awaits them before it checks the form
  const send = (field: number, id: string) => {
    const bytes = new TextEncoder().encode($<HTMLInputElement>(id).value);
    const frame = encodePassword(field, bytes);
    conn!.sendBinary(frame);
    bytes.fill(0);
    frame.fill(0);
  };
  send(PASSWORD_FIELD.user, "fb-userPassword");
  if (!a.rootLocked) send(PASSWORD_FIELD.root, "fb-rootPassword");
  awaitingVerdict = true;
  conn.send({ type: "firstboot_submit", answers: a });
  $("fb-status").textContent = t("status.checking");
}

function clearError(field: FirstbootField): void {
  if (field === "form") return;
  shown.delete(field);
  const input = $(FIELD_IDS[field]);
  const box = input.closest(".fb-field");
  const p = box?.querySelector(".field-error") as HTMLElement | null;
  box?.classList.remove("invalid");
  input.removeAttribute("aria-invalid");
  input.removeAttribute("aria-describedby");
  if (p) {
    p.textContent = "";
    p.hidden = true;
  }
}

/** Each error under its field; the first one gets the focus, so a keyboard user lands on it. */
function showErrors(errors: FirstbootError[], focus: boolean): void {
  for (const f of Object.keys(FIELD_IDS)) clearError(f as FirstbootField);
  let first: HTMLElement | undefined;
  for (const e of errors) {
    if (e.field === "form") {
      $("fb-form-error").textContent = errorText(e, view?.values.username ?? "");
      $("fb-form-error").hidden = false;
      continue;
    }
    const input = $(FIELD_IDS[e.field]);
    const box = input.closest(".fb-field");
    const p = box?.querySelector(".field-error") as HTMLElement | null;
    if (!box || !p) continue;
    if (e.field === "rootPassword") $("fb-root-fields").hidden = false;
    box.classList.add("invalid");
    p.id = `${input.id}-error`;
    p.textContent = errorText(e, view?.values.username ?? "");
    shown.set(e.field, e);
    p.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", p.id);
    first ??= input;
  }
  if (focus && first) first.focus();
}

/**
 * An error in the greeter's language: its code through the catalogue, with the limit it names and
 * the login name it is about (the daemon's one is the answer it was sent, view.values); an error
 * without a code (a daemon from before codes) keeps the daemon's sentence.
 */
export function errorText(e: FirstbootError, name: string): string {
  if (!e.code) return e.message;
  return t(`firstboot.error.${e.code}`, { max: PROBLEM_MAX[e.code] ?? "", name });
}

/** The language changed: the choices' labels and order, and the errors shown, written again in it. */
function retranslate(): void {
  writtenIn = language();
  if (options) {
    const picked = (id: string) => $<HTMLSelectElement>(id).value;
    const [layout, variant, locale, timezone] = [picked("fb-layout"), picked("fb-variant"), picked("fb-locale"), picked("fb-timezone")];
    fillLocales(options.locales);
    fillTimezones(options.timezones);
    fillVariants(layout, variant);
    $<HTMLSelectElement>("fb-locale").value = locale;
    $<HTMLSelectElement>("fb-timezone").value = timezone;
  }
  for (const [field, e] of shown) {
    if (field === "form") continue;
    const p = $(FIELD_IDS[field]).closest(".fb-field")?.querySelector(".field-error");
    if (p) p.textContent = errorText(e, view?.values.username ?? "");
  }
}
