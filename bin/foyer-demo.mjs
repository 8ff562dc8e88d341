#!/usr/bin/env node
process.env.FOYER_MAIN = "foyer-demo";
await import("../dist/foyer-demo.mjs");
