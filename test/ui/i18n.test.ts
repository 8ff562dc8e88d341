// The catalogues: the type system already demands every key; this checks what it cannot — that
// each translation keeps the English placeholders (a lost {layout} would print nothing), is not
// left empty, and that locale names map to the right catalogue.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { catalogues, languageOf } from "../../src/ui/i18n.js";
import { en } from "../../src/ui/locales/en.js";

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

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

test("translations are translations: German, French and Arabic differ from English where words are", () => {
  for (const lang of ["de", "fr", "ar"]) {
    assert.is.not(catalogues[lang]!["prompt.submit"], en["prompt.submit"], lang);
    assert.is.not(catalogues[lang]!["status.none"], en["status.none"], lang);
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
