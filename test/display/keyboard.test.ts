import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { parseVconsole, xkbEnv, isUsKeymap, US_KEYCODES } from "../../src/display/keyboard.js";

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

// KDGKBENT's plain entries as the kernel's default keymap gives them: letters as KT_LETTER
// (0x0b), the rest as KT_LATIN (0x00)
const US_CHARS = "-=qwertyuiop[]asdfghjkl;'`\\zxcvbnm,./";
const usEntries = () => [...US_CHARS].map((c) => (/[a-z]/.test(c) ? 0x0b00 : 0) | c.charCodeAt(0));

test("the kernel's default keymap is told from a loaded one by its entries", () => {
  assert.is(US_KEYCODES.length, US_CHARS.length);
  assert.ok(isUsKeymap(usEntries()), "the default US map");
  assert.ok(isUsKeymap(usEntries().map((v) => 0xf000 | (v & 0xff))), "the same characters as Unicode entries");
  // de-latin1: Y and Z change places, ß on the minus key
  const de = usEntries();
  de[US_KEYCODES.indexOf(21)] = 0x0b7a;
  de[US_KEYCODES.indexOf(44)] = 0x0b79;
  de[US_KEYCODES.indexOf(12)] = 0xf0df;
  assert.not.ok(isUsKeymap(de), "de-latin1");
  const gb = usEntries();
  gb[US_KEYCODES.indexOf(43)] = 0x23; // '#' where the US map has '\\'
  assert.not.ok(isUsKeymap(gb), "one key different");
  assert.not.ok(isUsKeymap(usEntries().slice(1)), "entries missing");
  assert.not.ok(isUsKeymap(usEntries().map((v) => 0x0200 | (v & 0xff))), "another key type (KT_FN)");
});

test.run();
