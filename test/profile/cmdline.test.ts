import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseCmdline, splitCmdline } from "../../src/profile/cmdline.js";

test("no switches: enabled, no profile, no debug", () => {
  assert.equal(parseCmdline("BOOT_IMAGE=/vmlinuz root=/dev/vda quiet\n"), { enabled: true, debug: false, nomodeset: false, warnings: [] });
});

test("the kernel's nomodeset is read, only as the bare word", () => {
  assert.is(parseCmdline("quiet nomodeset splash").nomodeset, true);
  assert.is(parseCmdline("nomodeset=0 xnomodeset").nomodeset, false);
  assert.equal(parseCmdline("nomodeset").warnings, []);
});

test("rd.foyer=0 disables; rd.foyer.profile and rd.foyer.debug", () => {
  assert.is(parseCmdline("rd.foyer=0").enabled, false);
  assert.is(parseCmdline("rd.foyer=no").enabled, false);
  const s = parseCmdline("quiet rd.foyer.profile=x11 rd.foyer.debug");
  assert.is(s.profile, "x11");
  assert.is(s.debug, true);
});

test("the foyer.* spelling works too", () => {
  assert.is(parseCmdline("foyer.profile=headless").profile, "headless");
});

test("rd.foyer.payload= is the payload script's switch: known, not a warning", () => {
  assert.equal(parseCmdline("rd.foyer.payload=/dev/disk/by-id/virtio-foyer-payload").warnings, []);
});

test("quotes group words", () => {
  assert.equal(splitCmdline('a "b c" d="e f"'), ["a", "b c", "d=e f"]);
});

test("malformed switches are warnings, not failures", () => {
  const s = parseCmdline("rd.foyer=banana rd.foyer.profile=../../etc/x rd.foyer.debug=perhaps rd.foyer.colour=1 rd.foyer.profile=");
  assert.is(s.enabled, true);
  assert.is(s.profile, undefined);
  assert.is(s.debug, false);
  assert.is(s.warnings.length, 5);
  assert.ok(s.warnings.every((w) => w.startsWith("ignoring ")));
});

test("control bytes in a switch are not echoed raw", () => {
  const s = parseCmdline("rd.foyer=\x1b[31m");
  assert.not.ok(s.warnings.join("").includes("\x1b"));
});

test.run();
