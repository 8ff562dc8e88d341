// Plymouth's wire format: the bytes below are what Debian's plymouth 22.02 client was seen to
// write (recorded with a listening socket), so the parser is checked against the real thing.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import {
  parseRequests,
  encodeRequest,
  encodeAnswer,
  encodeMultipleAnswers,
  parsePercent,
  parseFsckd,
  MAX_REQUEST_BYTES,
} from "../../src/agents/plymouth-protocol.js";

const P = suite("agents/plymouth-protocol");

const seen: [string, string, string | undefined][] = [
  // client command line → bytes written → parsed name
  ["--ping", "P\0", "ping"],
  ["display-message --text hello", "M\x02\x06hello\0", "showMessage"],
  ["update --status=foo", "U\x02\x04foo\0", "update"],
  ["quit --retain-splash", "Q\x02\x02\x01\0", "quit"],
  ["quit", "Q\x02\x01\0", "quit"],
  ["--has-active-vt", "V\0", "hasActiveVt"],
  ["ask-for-password --prompt P", "*\x02\x02P\0", "password"],
  ["system-update --progress=50", "u\x02\x0350\0", "systemUpdate"],
  ["change-mode --updates", "C\x02\x08updates\0", "changeMode"],
  ["update-root-fs --new-root-dir=/sysroot", "R\x02\x09/sysroot\0", "newRoot"],
  ["update-root-fs --read-write", "S\0", "systemInitialized"],
  ["deactivate", "D\0", "deactivate"],
  ["reactivate", "r\0", "reactivate"],
  ["watch-keystroke --keys=yY", "K\x02\x03yY\0", "keystroke"],
  ["ignore-keystroke --keys=yY", "L\x02\x03yY\0", "keystrokeRemove"],
  ["ask-question --prompt Q?", "W\x02\x03Q?\0", "question"],
  ["(password caching)", "c\0", "cachedPassword"],
  ["(before a prompt)", "A\0", "progressPause"],
  ["(after a prompt)", "a\0", "progressUnpause"],
  ["show-splash", "$\0", "showSplash"],
  ["hide-splash", "H\0", "hideSplash"],
  ["hide-message --text hi", "m\x02\x03hi\0", "hideMessage"],
];

P("every request the real client writes parses to its command", () => {
  for (const [cmd, bytes, name] of seen) {
    const r = parseRequests(Buffer.from(bytes, "latin1"));
    assert.ok(r.ok, cmd);
    if (!r.ok) continue;
    assert.is(r.requests.length, 1, cmd);
    assert.is(r.requests[0]!.name, name, cmd);
    assert.is(r.rest.length, 0, cmd);
  }
});

P("encodeRequest writes the client's bytes", () => {
  assert.equal(encodeRequest("M", "hello"), Buffer.from("M\x02\x06hello\0", "latin1"));
  assert.equal(encodeRequest("P"), Buffer.from("P\0", "latin1"));
  assert.equal(encodeRequest("Q", Buffer.from([1])), Buffer.from("Q\x02\x02\x01\0", "latin1"));
});

P("arguments stop at their NUL; quit's retain flag is the first byte", () => {
  const r = parseRequests(Buffer.from("Q\x02\x02\x01\0Q\x02\x01\0M\x02\x06hel\0lo", "latin1"));
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(
    r.requests.map((x) => [...(x.argument ?? [])]),
    [[1], [], [...Buffer.from("hel")]],
  );
});

P("pipelined requests split; an incomplete tail is kept, at any cut", () => {
  const all = Buffer.concat([encodeRequest("A"), encodeRequest("*", "Passphrase for disk:"), encodeRequest("a")]);
  for (let cut = 0; cut <= all.length; cut++) {
    const a = parseRequests(all.subarray(0, cut));
    assert.ok(a.ok);
    if (!a.ok) return;
    const b = parseRequests(Buffer.concat([a.rest, all.subarray(cut)]));
    assert.ok(b.ok);
    if (!b.ok) return;
    assert.equal(
      [...a.requests, ...b.requests].map((x) => x.name),
      ["progressPause", "password", "progressUnpause"],
      `cut at ${cut}`,
    );
    assert.is(b.rest.length, 0);
    assert.ok(a.rest.length < MAX_REQUEST_BYTES);
  }
});

P("a length byte of 0 (the client's 255-byte overflow) is an empty argument, not a crash", () => {
  const r = parseRequests(Buffer.from("M\x02\x00P\0", "latin1"));
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.equal(
    r.requests.map((x) => [x.name, x.argument?.length]),
    [
      ["showMessage", 0],
      ["ping", undefined],
    ],
  );
});

P("unknown command bytes parse (they get a NAK); a bad mark is an error", () => {
  const r = parseRequests(Buffer.from("z\0", "latin1"));
  assert.ok(r.ok && r.requests[0]!.name === undefined && r.requests[0]!.byte === 0x7a);
  const bad = parseRequests(Buffer.from("P\x07", "latin1"));
  assert.not.ok(bad.ok);
});

P("the longest request is 258 bytes; its tail never exceeds that", () => {
  const big = Buffer.concat([Buffer.from([0x4d, 2, 255]), Buffer.alloc(254, 0x41), Buffer.from([0])]);
  assert.is(big.length, MAX_REQUEST_BYTES);
  const r = parseRequests(big.subarray(0, 257));
  assert.ok(r.ok && r.requests.length === 0 && r.rest.length === 257);
  const full = parseRequests(big);
  assert.ok(full.ok && full.requests[0]!.argument!.length === 254);
});

P("answers: 0x02, little-endian size, bytes; several answers each end in NUL", () => {
  assert.equal([...encodeAnswer(Buffer.from("pw"))], [2, 2, 0, 0, 0, 0x70, 0x77]);
  assert.equal([...encodeAnswer(Buffer.alloc(0))], [2, 0, 0, 0, 0]);
  assert.equal([...encodeMultipleAnswers([Buffer.from("a"), Buffer.from("bc")])], [9, 5, 0, 0, 0, 0x61, 0, 0x62, 0x63, 0]);
  const long = encodeAnswer(Buffer.alloc(300, 1));
  assert.is(long.readUInt32LE(1), 300);
});

P("system-update's percentage, as plymouthd reads it", () => {
  assert.is(parsePercent("50"), 50);
  assert.is(parsePercent("100"), 100);
  assert.is(parsePercent("101"), 0);
  assert.is(parsePercent("-1"), 0);
  assert.is(parsePercent("5x"), 0);
  assert.is(parsePercent(""), 0);
});

P("fsckd's progress: disks and percentage from its update; anything else is a status", () => {
  assert.equal(parseFsckd("fsckd:1:42.5:Checking in progress on 1 disk (42.5% complete)"), { devices: 1, percent: 42.5 });
  assert.equal(parseFsckd("fsckd:0:100.0:"), { devices: 0, percent: 100 });
  for (const s of ["fsckd:1:100.1:x", "fsckd:1:42.5", "fsckd:a:1:x", "fsckd:-1:5:x", "fsckd:1: 7.0:x", "systemd-fsck-root.service", "fsckd-cancel-msg:x", ""])
    assert.is(parseFsckd(s), undefined, s);
});

P.run();
