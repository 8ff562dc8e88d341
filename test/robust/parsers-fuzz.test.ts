// Every parser of outside input, in process, under 10,000 mutated inputs each (checks 14 and 15 at
// the parsers themselves; ask-fuzz and greeter-fuzz throw the same kinds of input at the running
// agent and daemon): none throws, and what each promises of its result holds — an ask request's
// message has no control characters, a Plymouth reader's kept tail stays bounded, a kernel
// command line's warnings are printable, a percentage is a number from 0 to 100.
// Mutations of real samples: bytes flipped, tokens the formats care about inserted, slices
// repeated thousands of times, truncations. FOYER_FUZZ_SEED replays another run.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { top } from "../helpers/index.js";
import { fuzzRandom } from "../helpers/random.js";
import { parseAskFile } from "../../src/agents/ask-file.js";
import { parseRequests, parsePercent, MAX_REQUEST_BYTES } from "../../src/agents/plymouth-protocol.js";
import { parseCmdline } from "../../src/profile/cmdline.js";
import { parseProfile } from "../../src/profile/load.js";
import { decodeFrame, MAX_PASSPHRASE_BYTES } from "../../src/protocol/greeter.js";
import { progressPercent } from "../../src/agents/fsck.js";
import { parseInputDevices } from "../../src/display/input-devices.js";
import { parseLocaleConf } from "../../src/display/locale.js";
import { parseVconsole, keymapToXkb } from "../../src/display/keyboard.js";
import { parseSupported, parseKbdModelMap, parseEvdevXml } from "../../src/agents/firstboot-catalog.js";
import { hostnameProblem, usernameProblem, fullNameProblem, timezoneSyntaxProblem, passwordProblem } from "../../src/protocol/firstboot.js";
import { namesIn } from "../../src/agents/firstboot-validate.js";
import { cryptsetupDevice } from "../../src/agents/keyring.js";

const N = 10_000;
const random = fuzzRandom("parsers-fuzz", 0xf0e1);
const { int } = random;

const TOKENS = [
  "=",
  "\n",
  "\r\n",
  "\r",
  "[Ask]",
  "[",
  "]",
  "\0",
  "\\",
  '"',
  "'",
  "#",
  ";",
  " ",
  "\t",
  "é",
  "\u{1F511}",
  "\uFFFD",
  "%",
  "-1",
  "99999999999999999999",
  "1e400",
  "NaN",
  "{",
  "}",
  ":",
  ",",
  "null",
  "true",
  "__proto__",
  "constructor",
  "rd.foyer.",
  "foyer.",
  "UUID=",
  "/",
  "..",
  "\x1b[2J",
  "\u0085",
  "\u2028",
  "<",
  ">",
  "&amp;",
  "<!--",
];

function mutate(sample: Buffer): Buffer {
  let b = sample;
  const at = () => int(b.length + 1);
  for (let k = 0, n = 1 + int(6); k < n; k++) {
    const i = at();
    switch (int(7)) {
      case 0: // a byte changed
        if (b.length) (b = Buffer.from(b))[int(b.length)] = int(256);
        break;
      case 1: // a token the formats care about
        b = Buffer.concat([b.subarray(0, i), Buffer.from(random.pick(TOKENS)), b.subarray(i)]);
        break;
      case 2: // cut short
        b = b.subarray(0, i);
        break;
      case 3: {
        // a slice repeated, a few or thousands of times
        const s = b.subarray(i, i + 1 + int(64));
        b = Buffer.concat([b.subarray(0, i), ...Array<Buffer>(1 + (int(2) ? int(8) : int(3000))).fill(s), b.subarray(i)]);
        break;
      }
      case 4: // a piece removed
        b = Buffer.concat([b.subarray(0, i), b.subarray(i + int(32))]);
        break;
      case 5: // random bytes
        b = Buffer.concat([b.subarray(0, i), random.bytes(int(16)), b.subarray(i)]);
        break;
      case 6: // a token thousands of times
        b = Buffer.concat([b.subarray(0, i), Buffer.from(random.pick(TOKENS).repeat(1 + int(4000))), b.subarray(i)]);
        break;
    }
    b = b.subarray(0, 256 * 1024);
  }
  return b;
}

/** `check` on N mutations of the samples; the first input that throws is shown (escaped, cut). */
function fuzz(samples: (string | Buffer)[], check: (input: Buffer) => void): void {
  const bufs = samples.map((s) => (typeof s === "string" ? Buffer.from(s) : s));
  for (let i = 0; i < N; i++) {
    const input = mutate(random.pick(bufs));
    try {
      check(input);
    } catch (e) {
      throw new Error(
        `input ${i} (${input.length} bytes, FOYER_FUZZ_SEED=${random.seed}): ${(e as Error).message}\n${JSON.stringify(input.toString("latin1").slice(0, 400))}`,
        { cause: e },
      );
    }
  }
}
const text = (b: Buffer) => b.toString("utf8");
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

test("ask files: a request's strings carry no control characters and stay bounded", () => {
  fuzz(
    [
      "[Ask]\nPID=123\nSocket=/run/systemd/ask-password/sck.1\nAcceptCached=1\nEcho=0\nNotAfter=123456789\nMessage=Please enter passphrase for disk X\nIcon=drive-harddisk\nId=cryptsetup:/dev/vda2\nSilent=0\n",
    ],
    (b) => {
      const r = parseAskFile("ask.fuzz", b);
      if (!r.ok) return assert.ok(r.reason.length > 0, "a refusal says why");
      const q = r.request;
      assert.ok(q.socket.startsWith("/") && q.socket.length <= 107 && !CONTROL.test(q.socket), `socket ${JSON.stringify(q.socket)}`);
      assert.ok(!CONTROL.test(q.message) && q.message.length <= 2048, "message");
      for (const s of [q.icon, q.id]) assert.ok(s === undefined || !CONTROL.test(s), "icon or id");
      assert.ok(q.pid === undefined || (Number.isInteger(q.pid) && q.pid > 0), `pid ${q.pid}`);
    },
  );
});

test("Plymouth's socket: requests parsed, the kept tail shorter than one request", () => {
  fuzz([Buffer.from("J\x02\x0bPassphrase\0"), Buffer.from("Q\0K\0U\x02\x05\x31\x32\x33\x34\0"), Buffer.from("u\x02\x03\x35\x30\0$\0")], (b) => {
    const r = parseRequests(b);
    if (!r.ok) return assert.ok(r.reason.length > 0);
    assert.ok(r.rest.length < MAX_REQUEST_BYTES, `kept ${r.rest.length} bytes`);
    for (const q of r.requests) assert.ok(q.argument === undefined || q.argument.length <= 255);
    const p = parsePercent(text(b));
    assert.ok(Number.isInteger(p) && p >= 0 && p <= 100, `percent ${p}`);
  });
});

test("greeter binary frames: a passphrase's start inside the frame, never past its limit", () => {
  fuzz([Buffer.from([1, 0, 0, 0, 7, 65, 66]), Buffer.from([3, 1, 65]), Buffer.from([2]), Buffer.from([1, 0, 0, 0, 0])], (b) => {
    const r = decodeFrame(b);
    if (!r.ok) return assert.ok(r.reason.length > 0);
    assert.ok(r.start <= b.length);
    if (r.kind === "answer") assert.ok(r.key >= 1 && b.length - r.start <= MAX_PASSPHRASE_BYTES);
  });
});

test("kernel command lines: settings or warnings, and a warning is printable", () => {
  fuzz(
    [
      'BOOT_IMAGE=/vmlinuz root=UUID=abc ro quiet splash rd.luks.uuid=1234 rd.foyer.profile=wayland foyer.debug=1 rd.foyer.lang=de_DE.UTF-8 locale.LANG=fr_FR.UTF-8 rd.foyer=0 "quoted arg=1" console=ttyS0,115200 nomodeset',
    ],
    (b) => {
      const s = parseCmdline(text(b));
      for (const w of s.warnings) assert.ok(/^[\x20-\x7e]*$/.test(w) && w.length < 200, `warning ${JSON.stringify(w)}`);
      assert.ok(s.profile === undefined || !CONTROL.test(s.profile), "profile name");
    },
  );
});

test("profiles: a profile or its problems, never an exception", () => {
  const shipped = readdirSync(join(top, "profiles")).map((f) => readFileSync(join(top, "profiles", f)));
  fuzz(shipped, (b) => {
    const r = parseProfile(text(b));
    if (!r.ok) assert.ok(r.problems.length > 0 && r.problems.every((p) => typeof p === "string" && p.length > 0));
  });
});

test("fsck's progress lines: undefined, or a percentage from 0 to 100", () => {
  // numbers past a double's range (Infinity / Infinity was NaN once)
  fuzz(["1 120 3000 /dev/vda1", "2 50 100 /dev/sda2\n", "5 9 9 /dev/x", `1 ${"9".repeat(400)} ${"9".repeat(400)} /dev/y`], (b) => {
    const p = progressPercent(text(b));
    assert.ok(p === undefined || (Number.isFinite(p) && p >= 0 && p <= 100), `percent ${p}`);
  });
});

test("the machine's own files: input devices, vconsole.conf, locale.conf, the keyboard catalogues", () => {
  const inputs = readdirSync(join(top, "test/fixtures/input")).map((f) => readFileSync(join(top, "test/fixtures/input", f)));
  const modelMap = "# comment\nde-latin1\tde\tpc105\tnodeadkeys\tterminate:ctrl_alt_bksp\nus\tus\tpc105\t-\tterminate:ctrl_alt_bksp\n";
  fuzz(inputs, (b) => void parseInputDevices(text(b)));
  fuzz(['KEYMAP=de-latin1\nFONT=eurlatgr\nXKBLAYOUT=de\nXKBVARIANT=nodeadkeys\nXKBMODEL="pc105"\n'], (b) => void parseVconsole(text(b), modelMap));
  fuzz(["de-latin1", "us"], (b) => void keymapToXkb(text(b), modelMap));
  fuzz([modelMap], (b) => void parseKbdModelMap(text(b)));
  fuzz(['LANG="de_DE.UTF-8"\nLC_TIME=en_GB.UTF-8\n# c\n'], (b) => void parseLocaleConf(text(b)));
  fuzz(["de_DE.UTF-8 UTF-8\nen_US.UTF-8 UTF-8\nja_JP.EUC-JP EUC-JP\n"], (b) => void parseSupported(text(b)));
  fuzz(
    [
      '<?xml version="1.0"?><xkbConfigRegistry><layoutList><layout><configItem><name>de</name><description>German</description></configItem><variantList><variant><configItem><name>nodeadkeys</name><description>German (no dead keys)</description></configItem></variant></variantList></layout></layoutList></xkbConfigRegistry>',
    ],
    (b) => void parseEvdevXml(text(b)),
  );
  fuzz(["root:x:0:0:root:/root:/bin/bash\nfoyer:x:1000:1000::/home/foyer:/bin/sh\n"], (b) => void namesIn(text(b)));
});

test("first-boot answers and a cryptsetup request's id: a problem string or null", () => {
  fuzz(["my-host.example", "Europe/Berlin", "Jane Doe", "jane", "correct horse"], (b) => {
    const s = text(b);
    for (const p of [hostnameProblem(s), usernameProblem(s), fullNameProblem(s), timezoneSyntaxProblem(s), passwordProblem(s, s)])
      assert.ok(p === null || (typeof p === "string" && p.length > 0));
  });
  fuzz(["cryptsetup:/dev/vda2", "cryptsetup:luks-1234", "cryptsetup:UUID=abcd"], (b) => void cryptsetupDevice(text(b)));
});

test.run();
