#!/usr/bin/env node
// Runs the bundled control tool (dist/, built by `npm ci` through the prepare script).
process.env.FOYER_MAIN = "foyerctl";
await import("../dist/foyerctl.mjs");
