// The daemon's checks of first-boot answers and the catalog they are checked against, read from
// the real xkeyboard-config, glibc and tzdata files of this machine.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { validateAnswers, namesIn, type ValidationContext } from "../../src/agents/firstboot-validate.js";
import {
  parseEvdevXml,
  parseSupported,
  scanZoneinfo,
  parseKbdModelMap,
  consoleKeymapFor,
  normalizeLocale,
  keepInstalled,
} from "../../src/agents/firstboot-catalog.js";
import { isFirstBoot, firstbootDue, mergeVconsole } from "../../src/agents/firstboot-apply.js";
import { problemMessage, type FirstbootAnswers } from "../../src/protocol/firstboot.js";

const layouts = parseEvdevXml(readFileSync("/usr/share/X11/xkb/rules/evdev.xml", "utf8"));
const locales = parseSupported(readFileSync("/usr/share/i18n/SUPPORTED", "utf8"));
const timezones = scanZoneinfo("/usr/share/zoneinfo");

const good: FirstbootAnswers = {
  layout: "de",
  variant: "nodeadkeys",
  locale: "de_DE.UTF-8",
  timezone: "Europe/Berlin",
  hostname: "box",
  fullName: "Ada Lovelace",
  username: "ada",
  rootLocked: true,
};
const ctx: ValidationContext = {
  layouts,
  locales,
  timezones,
  takenUsers: new Set(["root", "daemon"]),
  takenGroups: new Set(["root", "sudo"]),
  hashed: { user: true, root: false },
};

test("evdev.xml: layouts with their variants, descriptions unescaped", () => {
  assert.ok(layouts.length > 50, `${layouts.length} layouts`);
  const us = layouts.find((l) => l.name === "us");
  assert.is(us?.description, "English (US)");
  assert.ok(us!.variants.some((v) => v.name === "intl" && v.description === "English (US, intl., with dead keys)"));
  assert.ok(layouts.find((l) => l.name === "de")?.variants.some((v) => v.name === "nodeadkeys"));
  // no layout twice, no variant carried into a layout of its own
  assert.is(new Set(layouts.map((l) => l.name)).size, layouts.length);
  assert.not.ok(layouts.some((l) => l.name === "intl"));
  assert.not.ok(JSON.stringify(layouts).includes("&lt;"));
});

test("evdev.xml parsing copes with comments, entities and attributes", () => {
  const xml = `<xkbConfigRegistry><modelList><model><configItem><name>pc105</name></configItem></model></modelList><layoutList>
    <layout><configItem popularity="exotic"><name>zz</name><!-- <name>no</name> --><description>Zed &amp; Co &#x263A;</description></configItem>
      <variantList><variant><configItem><name>v1</name><description>Zed (&lt;v1&gt;)</description></configItem></variant></variantList></layout>
    <layout><configItem><name>bad name"</name><description>x</description></configItem></layout></layoutList></xkbConfigRegistry>`;
  assert.equal(parseEvdevXml(xml), [{ name: "zz", description: "Zed & Co ☺", variants: [{ name: "v1", description: "Zed (<v1>)" }] }]);
  assert.equal(parseEvdevXml("not xml"), []);
});

test("SUPPORTED: UTF-8 locales only, C.UTF-8 always", () => {
  assert.ok(locales.includes("de_DE.UTF-8") && locales.includes("en_US.UTF-8") && locales.includes("C.UTF-8"));
  assert.not.ok(locales.includes("de_DE"), "ISO-8859-1 locales are not offered");
  assert.equal(parseSupported("# c\nxx_YY.UTF-8 UTF-8\nxx_YY ISO-8859-1\nbad;name UTF-8\n"), ["C.UTF-8", "xx_YY.UTF-8"]);
});

test("on the running system only installed locales, matched in glibc's spelling (`locale -a`)", () => {
  assert.is(normalizeLocale("de_DE.UTF-8"), "de_DE.utf8");
  assert.is(normalizeLocale("sr_RS.UTF-8@latin"), "sr_RS.utf8@latin");
  assert.is(normalizeLocale("C.UTF-8"), "C.utf8");
  assert.is(normalizeLocale("POSIX"), "POSIX");
  // what Debian's `locale -a` prints with de_DE and sr_RS@latin generated
  const localeA = "C\nC.utf8\nPOSIX\nde_DE.utf8\nsr_RS.utf8@latin\n";
  assert.equal(keepInstalled(["C.UTF-8", "de_DE.UTF-8", "en_US.UTF-8", "sr_RS.UTF-8@latin", "sr_RS.UTF-8"], localeA), [
    "C.UTF-8",
    "de_DE.UTF-8",
    "sr_RS.UTF-8@latin",
  ]);
  assert.equal(keepInstalled(locales, ""), []);
});

test("zoneinfo: TZif files only, no posix/right copies or tables", () => {
  for (const z of ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires"]) assert.ok(timezones.includes(z), z);
  for (const z of ["zone.tab", "iso3166.tab", "tzdata.zi", "posix/Europe/Berlin", "right/UTC", "posixrules", "leap-seconds.list"])
    assert.not.ok(timezones.includes(z), z);
});

test("kbd-model-map gives the console keymap for an exact X layout only", () => {
  const rows = parseKbdModelMap(readFileSync("/usr/share/systemd/kbd-model-map", "utf8"));
  assert.is(consoleKeymapFor(rows, "gb", ""), "uk");
  assert.is(consoleKeymapFor(rows, "ch", "de_nodeadkeys"), "sg");
  assert.is(consoleKeymapFor(rows, "zz", ""), null);
});

test("good answers pass", () => {
  assert.equal(validateAnswers(good, ctx), []);
  assert.equal(validateAnswers({ ...good, variant: "", rootLocked: false }, { ...ctx, hashed: { user: true, root: true } }), []);
});

test("each bad answer is named by its field, in form order", () => {
  const bad = { ...good, layout: "xx", locale: "de_DE", timezone: "../../etc/passwd", hostname: "-bad-", fullName: "a:b", username: "Ada", rootLocked: false };
  const errs = validateAnswers(bad, { ...ctx, hashed: { user: false, root: false } });
  assert.equal(
    errs.map((e) => e.field),
    ["layout", "locale", "timezone", "hostname", "fullName", "username", "userPassword", "rootPassword"],
  );
  // a code for the greeter to translate, the English sentence for everyone else
  assert.equal(
    errs.map((e) => e.code),
    [
      "layout-unknown",
      "locale-unknown",
      "timezone-invalid",
      "hostname-characters",
      "fullname-characters",
      "username-characters",
      "password-empty",
      "root-password-missing",
    ],
  );
  assert.ok(errs.every((e) => e.message === problemMessage(e.code!)));
});

test("variants, time zones and names are checked against the machine", () => {
  const f = (a: Partial<FirstbootAnswers>, c: Partial<ValidationContext> = {}) => validateAnswers({ ...good, ...a }, { ...ctx, ...c }).map((e) => e.field);
  assert.equal(f({ variant: "dvorak-nope" }), ["variant"]);
  assert.equal(f({ timezone: "Europe/Atlantis" }), ["timezone"]);
  assert.equal(f({ timezone: "zone.tab" }), ["timezone"], "a file in zoneinfo that is not a zone");
  assert.equal(f({ username: "daemon" }), ["username"], "an existing system user");
  assert.equal(validateAnswers({ ...good, username: "daemon" }, ctx)[0], {
    field: "username",
    code: "username-taken-user",
    message: "The name 'daemon' is already used by an account on this system.",
  });
  assert.equal(f({ username: "sudo" }), ["username"], "an existing group: useradd would refuse");
  assert.equal(f({ rootLocked: false }), ["rootPassword"], "root not locked and no root password");
  assert.equal(f({}, { hashed: { user: false, root: true } }), ["userPassword"]);
});

test("passwd/group names", () => {
  assert.equal([...namesIn("root:x:0:0::/root:/bin/sh\n# c\n\nada:x:1000:1000::/home/ada:/bin/sh\n")], ["root", "ada"]);
});

test("ConditionFirstBoot: missing or 'uninitialized' machine-id; the stamp always wins", () => {
  assert.ok(isFirstBoot(null));
  assert.ok(isFirstBoot("uninitialized\n"));
  assert.not.ok(isFirstBoot(""), "an empty machine-id is not a first boot (machine-id(5))");
  assert.not.ok(isFirstBoot("0123456789abcdef0123456789abcdef\n"));
  const id = "0123456789abcdef0123456789abcdef\n";
  const due = (e: boolean | "auto", machineId: string | null, stamped = false, hasRoot = true) => firstbootDue(e, { hasRoot, machineId, stamped }).due;
  assert.ok(due("auto", null));
  assert.ok(due("auto", "uninitialized\n"));
  assert.not.ok(due("auto", id));
  assert.ok(due(true, id));
  assert.not.ok(due(true, null, true));
  assert.not.ok(due("auto", null, true));
  assert.not.ok(due(false, null));
  // an empty /sysroot (root not mounted yet) has no machine-id either: not a first boot
  assert.not.ok(due("auto", null, false, false));
  assert.not.ok(due(true, null, false, false));
});

test("vconsole.conf merge keeps other keys and replaces ours", () => {
  assert.is(
    mergeVconsole("FONT=eurlatgr\nKEYMAP=us\nXKBLAYOUT=us\n", { KEYMAP: "de", XKBLAYOUT: "de", XKBVARIANT: "" }),
    "FONT=eurlatgr\nKEYMAP=de\nXKBLAYOUT=de\n",
  );
  assert.is(mergeVconsole("", { KEYMAP: "", XKBLAYOUT: "fr", XKBVARIANT: "bepo" }), "XKBLAYOUT=fr\nXKBVARIANT=bepo\n");
});

test.run();
