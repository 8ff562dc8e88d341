// The catalogues: the type system already demands every key; this checks what it cannot — that
// each translation keeps the English placeholders (a lost {layout} would print nothing), is not
// left empty, that every key index.html names exists, that no visible text of the first-boot form
// is left without a key, that every first-boot problem code has its text, and that locale names
// map to the right catalogue.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { catalogues, languageOf, TRANSLATED_ATTRS } from "../../src/ui/i18n.js";
import { errorText } from "../../src/ui/firstboot.js";
import { en } from "../../src/ui/locales/en.js";
import { PROBLEM_CODES, PROBLEM_MAX } from "../../src/protocol/firstboot.js";

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

interface El {
  tag: string;
  attrs: Map<string, string>;
  /** the element's own text nodes, not its children's */
  text: string;
  children: El[];
}
const VOID = new Set(["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"]);
/** index.html as a tree: enough HTML for our own page (no DOM library in the dependencies) */
function parseHtml(html: string): El {
  const root: El = { tag: "#root", attrs: new Map(), text: "", children: [] };
  const stack = [root];
  for (const m of html.matchAll(/<!--[\s\S]*?-->|<![^>]*>|<(\/?)([a-zA-Z][\w-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>|([^<]+)/g)) {
    const top = stack[stack.length - 1]!;
    if (m[4] !== undefined) top.text += m[4];
    else if (m[2] === undefined)
      continue; // a comment or the doctype
    else if (m[1]) {
      const i = stack.map((e) => e.tag).lastIndexOf(m[2].toLowerCase());
      assert.ok(i > 0, `index.html: </${m[2]}> closes nothing`);
      stack.length = i;
    } else {
      const attrs = new Map([...m[3]!.matchAll(/([\w:-]+)(?:="([^"]*)")?/g)].map((a) => [a[1]!.toLowerCase(), a[2] ?? ""]));
      const el: El = { tag: m[2].toLowerCase(), attrs, text: "", children: [] };
      top.children.push(el);
      if (!VOID.has(el.tag) && !m[3]!.trim().endsWith("/")) stack.push(el);
    }
  }
  assert.is(stack.length, 1, `index.html: <${stack[stack.length - 1]!.tag}> never closed`);
  return root;
}
const all = (e: El): El[] => [e, ...e.children.flatMap(all)];
const html = parseHtml(readFileSync(new URL("../../assets/index.html", import.meta.url), "utf8"));
const byId = (id: string) => all(html).find((e) => e.attrs.get("id") === id)!;
/** every key index.html names, with the element it is on */
const keysOf = (e: El) =>
  all(e).flatMap((el) => [...el.attrs].filter(([a]) => a === "data-i18n" || a.startsWith("data-i18n-")).map(([a, key]) => ({ el, attr: a, key })));

test("every catalogue has every key, non-empty, with the same placeholders as English", () => {
  assert.ok(Object.keys(catalogues).length >= 4);
  for (const [lang, cat] of Object.entries(catalogues)) {
    assert.equal(Object.keys(cat).sort(), Object.keys(en).sort(), lang);
    for (const [k, v] of Object.entries(cat)) {
      assert.ok(v.trim() !== "", `${lang}: '${k}' is empty`);
      assert.equal(placeholders(v), placeholders(en[k as keyof typeof en]), `${lang}: '${k}' placeholders`);
    }
  }
});

test("every key index.html names is in the English catalogue, on an attribute i18n.ts translates", () => {
  const keys = keysOf(html);
  assert.ok(keys.length > 30, `${keys.length} keys found: the parser lost the page`);
  for (const { attr, key } of keys) {
    assert.ok(key in en, `index.html: ${attr}="${key}" is not in src/ui/locales/en.ts`);
    if (attr !== "data-i18n")
      assert.ok((TRANSLATED_ATTRS as readonly string[]).includes(attr.slice("data-i18n-".length)), `index.html: ${attr} is never translated`);
  }
  // the element's text is replaced by the translation: anything inside it would vanish
  for (const { el, attr, key } of keys)
    if (attr === "data-i18n") assert.is(el.children.length, 0, `index.html: data-i18n="${key}" on a <${el.tag}> with elements inside`);
});

test("the first-boot form: every text and every spoken attribute carries a firstboot.* key", () => {
  const view = byId("firstboot-view");
  assert.ok(view, "no #firstboot-view in index.html");
  const visible = all(view).filter((e) => e.text.trim() !== "");
  assert.ok(visible.length >= 15, `${visible.length} texts found`);
  for (const el of visible) assert.ok(el.attrs.has("data-i18n"), `<${el.tag}> "${el.text.trim()}" has no data-i18n key`);
  for (const el of all(view))
    for (const attr of ["aria-label", "title", "placeholder", "alt"])
      if (el.attrs.has(attr)) assert.ok(el.attrs.has(`data-i18n-${attr}`), `<${el.tag} ${attr}="${el.attrs.get(attr)}"> has no data-i18n-${attr} key`);
  for (const { key } of keysOf(view)) assert.ok(key.startsWith("firstboot."), `'${key}' in the first-boot form`);
  // the English in index.html is what a page shows before its first state: the catalogue's own
  for (const el of visible) assert.is(el.text.trim(), en[el.attrs.get("data-i18n") as keyof typeof en], el.attrs.get("data-i18n"));
});

test("every first-boot problem code has its text, the limit and name it speaks of filled in", () => {
  for (const code of PROBLEM_CODES) {
    const key = `firstboot.error.${code}`;
    assert.ok(key in en, `no '${key}' in src/ui/locales/en.ts`);
    const text = errorText({ field: "username", code, message: "" }, "ada");
    assert.not.match(text, /\{\w+\}/, `${code}: '${text}'`);
    if (PROBLEM_MAX[code] !== undefined) assert.ok(text.includes(String(PROBLEM_MAX[code])), `${code}: '${text}' names no limit`);
  }
  assert.is(
    errorText({ field: "username", code: "username-taken-user", message: "" }, "daemon"),
    "The name 'daemon' is already used by an account on this system.",
  );
  // an error from a daemon that sends no code: its sentence, as sent
  assert.is(errorText({ field: "hostname", message: "Some sentence." }, ""), "Some sentence.");
  // no catalogue key for a code that does not exist: a renamed code leaves no dead text behind
  const codes = new Set<string>(PROBLEM_CODES);
  for (const k of Object.keys(en))
    if (k.startsWith("firstboot.error.")) assert.ok(codes.has(k.slice("firstboot.error.".length)), `'${k}' names no problem code`);
});

test("translations are translations: German, French and Arabic differ from English where words are", () => {
  // the same word in both languages, not an untranslated string
  const same: Record<string, string[]> = { de: ["firstboot.root"], fr: [], ar: [] };
  for (const lang of ["de", "fr", "ar"]) {
    assert.is.not(catalogues[lang]!["prompt.submit"], en["prompt.submit"], lang);
    assert.is.not(catalogues[lang]!["status.none"], en["status.none"], lang);
    for (const k of Object.keys(en) as (keyof typeof en)[])
      if (k.startsWith("firstboot.") && !same[lang]!.includes(k)) assert.is.not(catalogues[lang]![k], en[k], `${lang}: '${k}' is English`);
  }
});

test("POSIX locale names pick the catalogue by language; unknown ones and C are English", () => {
  assert.is(languageOf("de_DE.UTF-8"), "de");
  assert.is(languageOf("de_AT.UTF-8@euro"), "de");
  assert.is(languageOf("fr_CA.UTF-8"), "fr");
  assert.is(languageOf("ar_EG.UTF-8"), "ar");
  assert.is(languageOf("C.UTF-8"), "en");
  assert.is(languageOf("POSIX"), "en");
  assert.is(languageOf("ja_JP.UTF-8"), "en");
});

test.run();
