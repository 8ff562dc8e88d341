import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseCmdline } from "../../src/profile/cmdline.js";

test("rd.foyer.lang and foyer.lang set the greeter's language", () => {
  assert.is(parseCmdline("quiet rd.foyer.lang=de_DE.UTF-8").lang, "de_DE.UTF-8");
  assert.is(parseCmdline("foyer.lang=ar_EG.UTF-8").lang, "ar_EG.UTF-8");
  assert.is(parseCmdline("quiet").lang, undefined);
});

test("systemd's locale.LANG= is honoured; rd.foyer.lang wins over it in any order", () => {
  assert.is(parseCmdline("locale.LANG=fr_FR.UTF-8").lang, "fr_FR.UTF-8");
  assert.is(parseCmdline("rd.foyer.lang=de_DE.UTF-8 locale.LANG=fr_FR.UTF-8").lang, "de_DE.UTF-8");
  assert.is(parseCmdline("locale.LANG=fr_FR.UTF-8 rd.foyer.lang=de_DE.UTF-8").lang, "de_DE.UTF-8");
  assert.equal(parseCmdline("locale.LANG=fr_FR.UTF-8").warnings, []);
});

test("a malformed language is a warning, not a value", () => {
  const s = parseCmdline("rd.foyer.lang=$(id) locale.LANG=../x");
  assert.is(s.lang, undefined);
  assert.is(s.warnings.length, 1);
  assert.match(s.warnings[0]!, /expected a locale name/);
});

test.run();
