import { test } from "uvu";
import * as assert from "uvu/assert";
import { encodeAnswer, decodeFrame, ClientMessage, ServerMessage, MAX_PASSPHRASE_BYTES } from "../../src/protocol/greeter.js";

test("answer frames round-trip the key and the exact bytes", () => {
  const pass = new TextEncoder().encode("pässwörd 🙂 with spaces ");
  const f = encodeAnswer(258, pass);
  const d = decodeFrame(f);
  assert.ok(d.ok && d.kind === "answer");
  if (d.ok && d.kind === "answer") {
    assert.is(d.key, 258);
    assert.equal(Array.from(f.subarray(d.start)), Array.from(pass));
  }
});

test("malformed binary frames are rejected with a reason", () => {
  assert.equal(decodeFrame(new Uint8Array([])), { ok: false, reason: "empty binary frame" });
  assert.equal(decodeFrame(new Uint8Array([9, 0, 0, 0, 1])), { ok: false, reason: "unknown binary frame kind" });
  assert.equal(decodeFrame(new Uint8Array([1, 0, 0])), { ok: false, reason: "short answer frame" });
  assert.equal(decodeFrame(new Uint8Array([1, 0, 0, 0, 0])), { ok: false, reason: "answer frame for prompt 0" });
  assert.equal(decodeFrame(encodeAnswer(1, new Uint8Array(MAX_PASSPHRASE_BYTES + 1))), { ok: false, reason: "passphrase too long" });
  // an answer going on from characters typed into foyer's frame: how many it keeps
  assert.equal(decodeFrame(encodeAnswer(258, new Uint8Array([0x78]), 3)), { ok: true, kind: "answer", key: 258, start: 7, kept: 3 });
  assert.equal(decodeFrame(new Uint8Array([4, 0, 0, 0, 1, 0])), { ok: false, reason: "short answer frame" });
  assert.equal(decodeFrame(new Uint8Array([4, 0, 0, 0, 1, 0, 0])), {
    ok: false,
    reason: "an answer after typed characters keeps none, or more than a passphrase holds",
  });
  assert.equal(decodeFrame(new Uint8Array([4, 0, 0, 0, 1, 0xff, 0xff])), {
    ok: false,
    reason: "an answer after typed characters keeps none, or more than a passphrase holds",
  });
});

test("client messages are strict", () => {
  assert.ok(ClientMessage.safeParse({ type: "ready" }).success);
  assert.not.ok(ClientMessage.safeParse({ type: "ready", extra: 1 }).success);
  assert.not.ok(ClientMessage.safeParse({ type: "answer", passphrase: "x" }).success);
  assert.not.ok(ClientMessage.safeParse({ type: "cancel", key: -1 }).success);
});

test("server state messages validate", () => {
  const m = {
    type: "state",
    flow: "unlock",
    phase: "running",
    prompts: [{ key: 1, message: "m", echo: false, silent: false, retries: 0 }],
    keyboard: { layout: "de", variant: "" },
    notice: "",
  };
  assert.ok(ServerMessage.safeParse(m).success);
});

test.run();
