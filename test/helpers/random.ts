// The fuzz tests' pseudo-random source: seeded, so a run is replayed exactly, and the seed in use
// is printed with every fuzz run (FOYER_FUZZ_SEED=N picks another).
//
// mulberry32: 32 bits of state, every output bit mixed. The suites used an LCG computed in
// floating point before (`seed * 1103515245` passes 2^53, so its low bits were lost): 10,000 draws
// of a byte gave 18 distinct values, and most of the "random" WebSocket frames were one kind.
// test/unit/random.test.ts holds this source to a spread such a generator cannot reach.

export interface Random {
  readonly seed: number;
  /** an integer in [0, n) */
  int(n: number): number;
  /** n random bytes */
  bytes(n: number): Buffer;
  /** one of `xs` */
  pick<T>(xs: readonly T[]): T;
}

export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const int = (n: number) => Math.floor((next() / 2 ** 32) * n);
  return {
    seed,
    int,
    bytes: (n) => Buffer.from(Array.from({ length: n }, () => int(256))),
    pick: (xs) => xs[int(xs.length)]!,
  };
}

/** The seed of a fuzz run: FOYER_FUZZ_SEED when set (decimal or 0x…), else the suite's own. */
export function fuzzSeed(fallback: number, env = process.env.FOYER_FUZZ_SEED): number {
  if (env === undefined || env === "") return fallback;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`FOYER_FUZZ_SEED must be an integer from 0 to 2^32-1, not '${env}'`);
  return n;
}

/** A suite's random source, its seed said on stdout so that a failure can be replayed. */
export function fuzzRandom(suite: string, fallback: number): Random {
  const r = seededRandom(fuzzSeed(fallback));
  console.log(`${suite}: FOYER_FUZZ_SEED=${r.seed}`);
  return r;
}
