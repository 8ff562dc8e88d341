// The types of test/tiers.mjs (plain JavaScript: test/run.mjs runs without tsx).
export declare const top: string;
export declare const TIERS: readonly ["fast", "component", "robust", "vm"];
export type Tier = (typeof TIERS)[number];
export declare const FAST: string[];
export declare const PARALLEL: string[];
export declare function tierOf(rel: string): Tier;
export declare function findSuites(dir?: string): string[];
