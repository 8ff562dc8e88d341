#!/usr/bin/env node
// The fast tier's runner (test/tiers.mjs): the suites given, one after another in this one node
// process, with uvu's own runners (uvu queues a suite at its `test.run()` when UVU_DEFER is set,
// as its CLI does) and test/helpers/loud-hooks.ts. Prints uvu's output and a row per suite, the
// closing `N passed, N failed`, and last a `fast-result {json}` line test/run.mjs sums; exits
// non-zero on any failure. It refuses root: a suite that needs it must fail here, not pass.
//   node --import tsx test/fast.mjs test/unit/imports.test.ts …
import { relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { top } from "./tiers.mjs";

const write = (s) => process.stdout.write(s);
if (process.getuid?.() === 0) {
  process.stderr.write(
    "test/fast.mjs: the fast tier runs without root (a suite that needs it must fail): run it through test/run.mjs, which runs it as nobody\n",
  );
  process.exit(1);
}
// a suite stops being waited for after this long (uvu has no timeout of its own); its leftovers
// end with the process
const SUITE_TIMEOUT_MS = Number(process.env.FOYER_FAST_SUITE_TIMEOUT_MS ?? 120_000);

globalThis.UVU_DEFER = 1; // before uvu's first import: it reads it once
await import("./helpers/loud-hooks.ts");

let current; // the row an uncaught error is charged to
const charge = (what) => (e) => {
  process.stderr.write(`${what} in ${current?.name ?? "the runner"}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  if (current) current.failed += 1;
  else process.exitCode = 1;
};
process.on("uncaughtException", charge("uncaught exception"));
process.on("unhandledRejection", charge("unhandled rejection"));

const rows = [];
for (const [i, file] of process.argv.slice(2).entries()) {
  const name = relative(top, resolve(file));
  const row = (current = { name, passed: 0, failed: 0, skipped: 0, notes: [] });
  rows.push(row);
  write(`\n=== ${name}\n`);
  const t0 = Date.now();
  globalThis.UVU_INDEX = i;
  globalThis.UVU_QUEUE[i] = [];
  try {
    await import(pathToFileURL(resolve(file)).href);
  } catch (e) {
    process.stderr.write(`${name}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    row.failed += 1;
    row.notes.push("CRASHED while loading");
  }
  for (const run of globalThis.UVU_QUEUE[i]) {
    let timer;
    const late = new Promise((r) => (timer = setTimeout(r, SUITE_TIMEOUT_MS, "late")));
    const r = await Promise.race([run(), late]).finally(() => clearTimeout(timer));
    if (r === "late") {
      row.failed += 1;
      row.notes.push(`not finished after ${SUITE_TIMEOUT_MS} ms`);
      break;
    }
    const [errors, ran, skipped, total] = r;
    if (errors !== true) write(`\n${errors}\n`);
    // a before hook that threw: uvu counts nothing as failed (its error is above: loud-hooks.ts)
    if (ran === 0 && total > 0 && errors === true) row.notes.push("no test ran: its before hook threw (the error is above)");
    row.passed += ran;
    row.failed += total - ran;
    row.skipped += skipped;
  }
  if (globalThis.UVU_QUEUE[i].length === 0 && row.failed === 0) {
    row.failed += 1;
    row.notes.push("no test.run()");
  }
  row.seconds = (Date.now() - t0) / 1000;
  current = undefined;
}

const sum = (k) => rows.reduce((n, r) => n + r[k], 0);
const result = { passed: sum("passed"), failed: sum("failed"), skipped: sum("skipped"), rows };
write(`\n${result.passed} passed, ${result.failed} failed${result.skipped ? `, ${result.skipped} skipped` : ""}\n`);
write(`fast-result ${JSON.stringify(result)}\n`);
process.exit(result.failed > 0 || process.exitCode ? 1 : 0);
