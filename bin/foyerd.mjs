#!/usr/bin/env node
// Runs the bundled daemon (dist/, built by `npm ci` through the prepare script).
process.env.FOYER_MAIN = "foyerd";
await import("../dist/foyerd.mjs");
