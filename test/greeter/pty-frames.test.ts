// The frames between foyerd and the pty broker (src/greeter/pty-frames.ts): cut at any chunk
// boundary, a broken length refused, and the reader's buffer zeroed behind each frame.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { encodeFrame, FrameReader } from "../../src/greeter/pty-frames.js";

test("frames come out whole however the stream is cut", () => {
  const stream = Buffer.concat([
    encodeFrame("d", Buffer.from("root-pw\r")),
    encodeFrame("r", Buffer.from([0, 80, 0, 24])),
    encodeFrame("k"),
    encodeFrame("d", Buffer.alloc(3000, 0x61)),
  ]);
  for (const size of [1, 2, 5, 7, 64, stream.length]) {
    const got: string[] = [];
    const r = new FrameReader(1 << 20, (type, p) => got.push(`${type}:${p.length}:${p.subarray(0, 8).toString("latin1")}`));
    for (let at = 0; at < stream.length; at += size) assert.ok(r.push(stream.subarray(at, at + size)));
    assert.equal(got, ["d:8:root-pw\r", "r:4:\0P\0\x18", "k:0:", "d:3000:aaaaaaaa"], `chunks of ${size}`);
  }
});

test("a frame longer than the bound breaks the stream", () => {
  const r = new FrameReader(16, () => assert.unreachable("a frame was handed on"));
  assert.not.ok(r.push(encodeFrame("d", Buffer.alloc(17))));
});

test("what a callee saw is zeroed once it returns; a frame cut short, by wipe()", () => {
  const seen: Buffer[] = [];
  const r = new FrameReader(1 << 20, (_, p) => seen.push(p));
  const f = encodeFrame("d", Buffer.from("root-pw"));
  r.push(f);
  assert.is(seen.length, 1);
  assert.ok(
    seen[0]!.every((b) => b === 0),
    "the payload is zeroed after the callback",
  );
  // the start of the next frame lands in the same buffer (seen[0] looks at bytes 5..11 of it)
  r.push(f.subarray(0, 9));
  assert.is(seen[0]!.subarray(0, 4).toString(), "root");
  r.wipe();
  assert.ok(
    seen[0]!.every((b) => b === 0),
    "the cut frame is zeroed by wipe()",
  );
  r.push(f.subarray(9));
  assert.is(seen.length, 1, "the rest of a wiped frame is not a frame");
});

test.run();
