// The boot log's text (pure): what a child prints can neither make a header nor act on a terminal,
// and every section, its escapes undone, is its file byte for byte (tokens redacted).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { bootLogText } from "../../src/state/boot-log.js";
import { escapeControls } from "../../src/base/controls.js";
import { fuzzRandom } from "../helpers/random.js";

const b = (s: string) => Buffer.from(s, "latin1");
const unescape = (s: string) => b(s.replace(/\\x([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))));

/** The sections of a boot log, split at its headers. */
function sections(out: Buffer): { name: string; body: Buffer }[] {
  const parts = out.toString("latin1").split(/^==> (.*) <==\n/m);
  assert.is(parts[0], "", "the log starts with a header");
  return Array.from({ length: (parts.length - 1) / 2 }, (_, i) => ({ name: parts[1 + 2 * i]!, body: unescape(parts[2 + 2 * i]!) }));
}

test("control characters are written \\xHH; \\n, \\t, printable ASCII and UTF-8 stay as they are", () => {
  const cases: [string, string][] = [
    ["plain text\twith a tab\n", "plain text\twith a tab\n"],
    ["\x1b[2K\rgone", "\\x1b[2K\\x0dgone"],
    ["bell\x07 nul\x00 del\x7f", "bell\\x07 nul\\x00 del\\x7f"],
    ["caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91"],
    ["C1 CSI \xc2\x9b, NBSP \xc2\xa0", "C1 CSI \\xc2\\x9b, NBSP \xc2\xa0"],
    ["stray \x9b, overlong \xc0\xaf, surrogate \xed\xa0\x80, cut \xe2\x82", "stray \\x9b, overlong \\xc0\\xaf, surrogate \\xed\\xa0\\x80, cut \\xe2\\x82"],
    ["above 10FFFF \xf4\x90\x80\x80", "above 10FFFF \\xf4\\x90\\x80\\x80"],
  ];
  for (const [input, want] of cases) assert.is(escapeControls(b(input)), want, JSON.stringify(input));
});

test("a line of a section that starts with ==> is no header; foyerd's first, then by name; a last line gets its newline", () => {
  const out = bootLogText([
    { name: "greeter.log", data: b("==> foyerd.log <==\nforged\n  ==> not at the start <==\n==>\n") },
    { name: "display.log", data: b("no newline") },
    { name: "foyerd.log", data: b("started\n") },
  ])!;
  assert.is(
    out.toString("latin1"),
    [
      "==> foyerd.log <==",
      "started",
      "==> display.log <==",
      "no newline",
      "==> greeter.log <==",
      "\\x3d=> foyerd.log <==",
      "forged",
      "  ==> not at the start <==",
      "\\x3d=>",
      "",
    ].join("\n"),
  );
  assert.is(bootLogText([]), null);
});

test("tokens are redacted before anything else", () => {
  const out = bootLogText([{ name: "greeter.log", data: b("GET /?token=abc-DEF_123\x1b[0m&x\n") }])!.toString("latin1");
  assert.is(out, "==> greeter.log <==\nGET /?token=[redacted]\\x1b[0m&x\n");
});

test("random bytes in every section: headers are the files, no control byte but \\n and \\t, each section its file once unescaped", () => {
  const rnd = fuzzRandom("boot-log", 0x5eed10);
  // bytes the children print, with lines that look like headers and the escapes' own backslash left out (a literal \xHH would read as one)
  const pieces = [b("==> foyerd.log <=="), b("\n"), b("\r"), b("\x1b["), b("\xc2\x9b"), b("\xe2\x82\xac"), b("token=")];
  for (let round = 0; round < 2000; round++) {
    const names = ["foyerd.log", "display.log", "greeter.log", "seatd.log"].filter(() => rnd.int(3) > 0);
    const files = names.map((name) => {
      const parts: Buffer[] = [];
      for (let k = rnd.int(12); k > 0; k--) parts.push(rnd.int(2) ? rnd.pick(pieces) : rnd.bytes(rnd.int(20)));
      return { name, data: Buffer.from(Buffer.concat(parts).filter((x) => x !== 0x5c)) };
    });
    const out = bootLogText(files);
    if (files.length === 0) {
      assert.is(out, null);
      continue;
    }
    const bad = [...out!].filter((x) => (x < 0x20 && x !== 0x0a && x !== 0x09) || x === 0x7f);
    assert.equal(bad, [], `round ${round}: control bytes`);
    assert.not.ok(out!.includes(b("\xc2\x9b")), `round ${round}: a C1 control`);
    const got = sections(out!);
    const want = [...files].sort((x, y) => (x.name === "foyerd.log" ? -1 : y.name === "foyerd.log" ? 1 : x.name.localeCompare(y.name)));
    assert.equal(
      got.map((s) => s.name),
      want.map((f) => f.name),
      `round ${round}: headers`,
    );
    for (const [i, f] of want.entries()) {
      let data = b(f.data.toString("latin1").replace(/token=[\w-]+/g, "token=[redacted]"));
      if (data.length && data[data.length - 1] !== 0x0a) data = Buffer.concat([data, b("\n")]);
      assert.ok(got[i]!.body.equals(data), `round ${round}: ${f.name}`);
    }
  }
});

test.run();
