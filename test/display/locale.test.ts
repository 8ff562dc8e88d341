import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { parseLocaleConf, resolveLocale } from "../../src/display/locale.js";

test("LANG from locale.conf, quoted or not; other keys ignored", () => {
  assert.is(parseLocaleConf('LC_TIME=en_GB.UTF-8\nLANG="de_DE.UTF-8"\n'), "de_DE.UTF-8");
  assert.is(parseLocaleConf("# comment\nLANG=fr_FR.UTF-8"), "fr_FR.UTF-8");
  assert.is(parseLocaleConf("LANGUAGE=de:en\n"), null);
});

test("an unsafe LANG value is not used", () => {
  assert.is(parseLocaleConf("LANG=$(reboot)\n"), null);
  assert.is(parseLocaleConf("LANG=../../etc\n"), null);
});

test("resolution: explicit choice, else the file, else C.UTF-8", () => {
  const d = mkdtempSync(join(tmpdir(), "foyer-locale-"));
  writeFileSync(join(d, "locale.conf"), "LANG=ar_EG.UTF-8\n");
  assert.is(resolveLocale(null, join(d, "locale.conf")), "ar_EG.UTF-8");
  assert.is(resolveLocale("fr_FR.UTF-8", join(d, "locale.conf")), "fr_FR.UTF-8");
  assert.is(resolveLocale(null, join(d, "missing")), "C.UTF-8");
});

test.run();
