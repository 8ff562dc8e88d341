import { test } from "uvu";
import * as assert from "uvu/assert";
import { inspect, format } from "node:util";
import { Secret } from "../../src/base/secret.js";
import { formatLine } from "../../src/base/log.js";

test("a Secret never prints its bytes", () => {
  const s = Secret.copyOf(Buffer.from("hunter2"));
  for (const out of [String(s), `${s}`, JSON.stringify({ s }), inspect(s), format("%s %o %O %j", s, s, s, s), formatLine({ level: "info", message: "m", s })]) {
    assert.not.ok(out.includes("hunter2"), out);
  }
});

test("copyOf copies into a fresh buffer; wipe zeroes it", () => {
  const src = Buffer.from("abc");
  const s = Secret.copyOf(src, 1);
  src.fill(0);
  const view = s.reveal();
  assert.is(view.toString(), "bc");
  s.wipe();
  assert.ok(view.every((b) => b === 0));
  assert.is(s.length, 0);
  assert.throws(() => s.reveal());
});

test.run();
