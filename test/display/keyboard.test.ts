import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { parseVconsole, xkbEnv } from "../../src/display/keyboard.js";

test("reads XKB settings from vconsole.conf, quoted or not", () => {
  const k = parseVconsole('# comment\nKEYMAP=de-latin1\nXKBLAYOUT="de,us"\nXKBVARIANT=nodeadkeys\nXKBMODEL=pc105\nXKBOPTIONS=grp:alt_shift_toggle\n');
  assert.equal(k, { layout: "de,us", variant: "nodeadkeys", model: "pc105", options: "grp:alt_shift_toggle" });
  assert.equal(xkbEnv(k), {
    XKB_DEFAULT_LAYOUT: "de,us",
    XKB_DEFAULT_VARIANT: "nodeadkeys",
    XKB_DEFAULT_MODEL: "pc105",
    XKB_DEFAULT_OPTIONS: "grp:alt_shift_toggle",
  });
});

test("missing or unsafe values fall back to us", () => {
  assert.is(parseVconsole("").layout, "us");
  assert.is(parseVconsole("XKBLAYOUT=$(reboot)\n").layout, "us");
  assert.is(parseVconsole("XKBLAYOUT=de\nXKBVARIANT=a b\n").variant, "");
});

test("without XKBLAYOUT, the console KEYMAP is converted as localectl does (kbd-model-map)", () => {
  const map = readFileSync("/usr/share/systemd/kbd-model-map", "utf8");
  assert.equal(parseVconsole("KEYMAP=uk\n", map), { layout: "gb", variant: "", model: "", options: "" });
  assert.equal(parseVconsole("KEYMAP=sg\n", map).variant, "de_nodeadkeys");
  assert.is(parseVconsole("KEYMAP=fr-latin9\n", map).layout, "fr");
  assert.is(parseVconsole("KEYMAP=de-latin1\n", "").layout, "de"); // no table: named after the layout
  assert.is(parseVconsole("KEYMAP=uk\nXKBLAYOUT=us\n", map).layout, "us"); // XKBLAYOUT wins
  assert.is(parseVconsole("KEYMAP=$(reboot)\n", map).layout, "us");
});

test.run();
