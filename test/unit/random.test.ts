// The fuzz tests' random source (test/helpers/random.ts) spreads its draws: a generator that
// loses its low bits, as the float LCG the fuzzers used before did, fails each of these.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { seededRandom, fuzzSeed } from "../helpers/random.js";

const DRAWS = 10_000;

test("a byte takes every one of its 256 values, each near its share", () => {
  const r = seededRandom(42);
  const counts = new Array<number>(256).fill(0);
  for (const b of r.bytes(DRAWS * 10)) counts[b]!++;
  // 100,000 draws: 390.6 each on average; a fair source stays within ±25% (over 7 standard deviations)
  for (const [v, c] of counts.entries()) assert.ok(c > 290 && c < 490, `byte ${v} drawn ${c} times in ${DRAWS * 10}`);
});

test("small ranges: each of six kinds near a sixth; a length below 2048 takes nearly every value", () => {
  const r = seededRandom(0x5eed);
  const kinds = new Array<number>(6).fill(0);
  const lengths = new Set<number>();
  for (let i = 0; i < DRAWS; i++) {
    kinds[r.int(6)]!++;
    lengths.add(r.int(2048));
  }
  for (const [k, c] of kinds.entries()) assert.ok(c > 1400 && c < 1950, `kind ${k} drawn ${c} times of ${DRAWS}`);
  // 10,000 draws from 2,048 values leave ~15 unseen (2048·e^(-10000/2048))
  assert.ok(lengths.size > 1950, `${lengths.size} distinct lengths of 2048`);
  assert.ok([...lengths].every((n) => Number.isInteger(n) && n >= 0 && n < 2048));
});

test("the same seed replays the same draws; another seed does not", () => {
  const a = seededRandom(7),
    b = seededRandom(7),
    c = seededRandom(8);
  const xa = Array.from({ length: 100 }, () => a.int(1000));
  assert.equal(
    Array.from({ length: 100 }, () => b.int(1000)),
    xa,
  );
  assert.not.equal(
    Array.from({ length: 100 }, () => c.int(1000)),
    xa,
  );
});

test("FOYER_FUZZ_SEED: decimal or hex; anything else is refused by name", () => {
  assert.is(fuzzSeed(42, undefined), 42);
  assert.is(fuzzSeed(42, ""), 42);
  assert.is(fuzzSeed(42, "1234"), 1234);
  assert.is(fuzzSeed(42, "0x5eed"), 0x5eed);
  for (const bad of ["abc", "-1", "1.5", "4294967296"])
    assert.throws(
      () => fuzzSeed(42, bad),
      (e: Error) => e.message.includes("FOYER_FUZZ_SEED") && e.message.includes(`'${bad}'`),
    );
});

test.run();
