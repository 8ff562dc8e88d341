#!/usr/bin/env node
// The test command: runs every uvu suite (test/**/*.test.ts) as its own process, each in a private
// mount namespace with its own tmpfs on /run/systemd/ask-password (the real systemd-ask-password
// always writes there, and the host's agents must not see our requests) and its own PID namespace
// (a suite's process sweeps and pkills see only its own processes, and whatever a crashed suite
// left running dies with it), and a private /etc/chromium (foyerd writes chromium's policy). Prints each suite's
// result and one closing line `N passed, N failed, N skipped` summed over all suites; exits
// non-zero on any failure or on a suite that ended without uvu's summary (a crash).
//   node test/run.mjs [FILTER…]   runs only suites whose path contains a FILTER
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const top = join(dirname(fileURLToPath(import.meta.url)), "..");
// every suite's before/after hooks print their errors (uvu would lose them): test/helpers/loud-hooks.ts
const LOUD_HOOKS = join(top, "test/helpers/loud-hooks.ts");
const SUITE_TIMEOUT_MS = Number(process.env.FOYER_SUITE_TIMEOUT_MS ?? 20 * 60_000);
// cheap suites first, so a broken parser fails in seconds; the VM last
const ORDER = ["unit", "base", "profile", "protocol", "display", "agents", "supervisor", "security", "integration", "dbus", "vm"];

function find(dir) {
  const out = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (e.endsWith(".test.ts")) out.push(p);
  }
  return out;
}
const rank = (f) => {
  const part = relative(join(top, "test"), f).split("/")[0];
  const i = ORDER.indexOf(part);
  return i < 0 ? ORDER.length - 2 : i;
};
const filters = process.argv.slice(2);
const suites = find(join(top, "test"))
  .filter((f) => filters.length === 0 || filters.some((x) => relative(top, f).includes(x.replace(/^\.\//, ""))))
  .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));

// /etc/chromium gets a tmpfs too (with the host's files copied in): foyerd writes chromium's
// machine-wide kiosk policy there (profile greeter.chromiumPolicyDir), which must never reach the
// host's own chromium
const CHROMIUM_ETC = 'if [ -d /etc/chromium ]; then k=$(tar -C /etc/chromium -cf - . | base64 -w0) && mount -t tmpfs -o mode=0755,size=4m foyer-test /etc/chromium && printf %s "$k" | base64 -d | tar -C /etc/chromium -xf -; fi';
const NS = `mkdir -p /run/systemd/ask-password && mount -t tmpfs -o mode=0755,size=4m foyer-test /run/systemd/ask-password && ${CHROMIUM_ETC} && "$@"`;

function runSuite(file) {
  return new Promise((resolve) => {
    const args = ["--mount", "--propagation", "private", "--pid", "--fork", "--mount-proc", "--kill-child", "--", "sh", "-c", NS, "sh", process.execPath, "--import", "tsx", "--import", LOUD_HOOKS, file];
    // FOYER_TEST_KEYS: the test profiles' DevTools port is honoured (src/profile/load.ts)
    const p = spawn("unshare", args, { cwd: top, env: { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1", FOYER_TEST_KEYS: "1" }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout.on("data", (d) => {
      out += d;
      process.stdout.write(d);
    });
    p.stderr.on("data", (d) => process.stderr.write(d));
    const timer = setTimeout(() => {
      process.stderr.write(`\n${relative(top, file)}: killed after ${SUITE_TIMEOUT_MS} ms\n`);
      p.kill("SIGKILL");
    }, SUITE_TIMEOUT_MS);
    p.on("error", (e) => {
      clearTimeout(timer);
      process.stderr.write(`cannot run unshare (util-linux): ${e.message}\n`);
      resolve({ code: 1, out });
    });
    p.on("exit", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), out });
    });
  });
}

let passed = 0, failed = 0, skipped = 0;
const rows = [];
for (const file of suites) {
  const name = relative(top, file);
  process.stdout.write(`\n=== ${name}\n`);
  const t0 = Date.now();
  const { code, out } = await runSuite(file);
  const total = /Total:\s+(\d+)/.exec(out);
  const ok = /Passed:\s+(\d+)/.exec(out);
  const sk = /Skipped:\s+(\d+)/.exec(out);
  let row;
  if (!total || !ok) {
    failed += 1; // crashed before its summary: one failure, whatever it had run
    row = `${name}: CRASHED (exit ${code}, no summary)`;
  } else {
    // uvu's Total counts the tests that ran; skipped ones are not in it
    const t = Number(total[1]), p = Number(ok[1]), s = sk ? Number(sk[1]) : 0;
    const f = Math.max(0, t - p) + (code !== 0 && t - p === 0 ? 1 : 0);
    passed += p; skipped += s; failed += f;
    // what a before hook that threw looks like in uvu's count (its error is printed above: loud-hooks.ts)
    const hook = p === 0 && t > 0 && !/FAIL/.test(out) ? " — no test ran: its before hook threw (the error is above)" : "";
    row = `${name}: ${p} passed, ${f} failed${s ? `, ${s} skipped` : ""} (${((Date.now() - t0) / 1000).toFixed(1)} s)${hook}`;
  }
  rows.push(row);
}
process.stdout.write(`\n--- summary\n${rows.join("\n")}\n\n`);
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}\n`);
process.exit(failed > 0 || suites.length === 0 ? 1 : 0);
