#!/usr/bin/env node
// The test command: runs the suites (test/**/*.test.ts) tier by tier (test/tiers.mjs).
// The fast tier runs as nobody, its suites in one node process per job (test/fast.mjs; when run
// as root, in a private mount and PID namespace where the checkout is bind-mounted into a folder
// nobody can reach, since a CI's clone may sit in one only root can enter). Every other suite is
// its own process, each in a private mount namespace with its own tmpfs on
// /run/systemd/ask-password (the real systemd-ask-password always writes there, and the host's
// agents must not see our requests), its own PID namespace (a suite's process sweeps and pkills
// see only its own processes, and whatever a crashed suite left running dies with it), and a
// private /etc/chromium (foyerd writes chromium's policy). Prints each suite's result and one
// closing line `N passed, N failed, N skipped` summed over all suites; exits non-zero on any
// failure or on a suite that ended without uvu's summary (a crash).
//   node test/run.mjs [--tier fast,component,robust,vm] [--jobs N] [FILTER…]
//     FILTER      runs only suites whose path contains one
//     --jobs N    N fast-tier processes, and the component suites test/tiers.mjs lists in PARALLEL
//                 N at a time (the others alone; the VM tier always one at a time)
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { TIERS, PARALLEL, findSuites, tierOf, top } from "./tiers.mjs";

// every suite's before/after hooks print their errors (uvu would lose them): test/helpers/loud-hooks.ts
const LOUD_HOOKS = join(top, "test/helpers/loud-hooks.ts");
// a hang guard; a VM suite also builds its images on a cold cache (the hand-over's four display
// manager roots took 20 min of its time on a fresh machine), so it gets longer
const SUITE_TIMEOUT_MS = Number(process.env.FOYER_SUITE_TIMEOUT_MS ?? 20 * 60_000);
const VM_SUITE_TIMEOUT_MS = Number(process.env.FOYER_SUITE_TIMEOUT_MS ?? 45 * 60_000);
// FOYER_TEST_KEYS: the test profiles' DevTools port is honoured (src/profile/load.ts)
const ENV = { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1", FOYER_TEST_KEYS: "1" };

function usage(why) {
  process.stderr.write(`test/run.mjs: ${why}\nusage: node test/run.mjs [--tier ${TIERS.join(",")}] [--jobs N] [FILTER…]\n`);
  process.exit(2);
}
let tiers = TIERS,
  jobs = 1;
const filters = [];
for (let a = process.argv.slice(2); a.length;) {
  const x = a.shift();
  if (x === "--tier") {
    tiers = (a.shift() ?? "").split(",");
    const bad = tiers.filter((t) => !TIERS.includes(t));
    if (bad.length || tiers.length === 0) usage(`no tier '${bad.join(",")}'`);
  } else if (x === "--jobs") {
    jobs = Number(a.shift());
    if (!Number.isInteger(jobs) || jobs < 1) usage("--jobs takes a whole number, 1 or more");
  } else filters.push(x.replace(/^\.\//, "").replace(/^test\//, ""));
}
const suites = findSuites().filter((s) => tiers.includes(tierOf(s)) && (filters.length === 0 || filters.some((f) => `test/${s}`.includes(f) || s.includes(f))));

// /etc/chromium gets a tmpfs too (with the host's files copied in): foyerd writes chromium's
// machine-wide kiosk policy there (profile greeter.chromiumPolicyDir), which must never reach the
// host's own chromium
const CHROMIUM_ETC =
  'if [ -d /etc/chromium ]; then k=$(tar -C /etc/chromium -cf - . | base64 -w0) && mount -t tmpfs -o mode=0755,size=4m foyer-test /etc/chromium && printf %s "$k" | base64 -d | tar -C /etc/chromium -xf -; fi';
const NS = `mkdir -p /run/systemd/ask-password && mount -t tmpfs -o mode=0755,size=4m foyer-test /run/systemd/ask-password && ${CHROMIUM_ETC} && "$@"`;
const PRIVATE = ["--mount", "--propagation", "private", "--pid", "--fork", "--mount-proc", "--kill-child", "--"];

/** Runs argv; its output streams (`live`) or is kept and printed whole at its end (beside others). */
function run(name, argv, opts, live, timeoutMs = SUITE_TIMEOUT_MS) {
  return new Promise((resolve) => {
    const head = `\n=== ${name}\n`;
    if (live) process.stdout.write(head);
    const p = spawn(argv[0], argv.slice(1), { cwd: top, env: ENV, stdio: ["ignore", "pipe", "pipe"], ...opts });
    let out = "",
      all = head;
    p.stdout.on("data", (d) => {
      out += d;
      if (live) process.stdout.write(d);
      else all += d;
    });
    p.stderr.on("data", (d) => (live ? process.stderr.write(d) : (all += d)));
    const timer = setTimeout(() => {
      process.stderr.write(`\n${name}: killed after ${timeoutMs} ms\n`);
      p.kill("SIGKILL");
    }, timeoutMs);
    const end = (code) => {
      clearTimeout(timer);
      if (!live) process.stdout.write(all);
      resolve({ code, out });
    };
    p.on("error", (e) => {
      process.stderr.write(`cannot run ${argv[0]}: ${e.message}\n`);
      end(1);
    });
    p.on("exit", (code, signal) => end(code ?? (signal ? 128 : 1)));
  });
}

let passed = 0,
  failed = 0,
  skipped = 0;
const rows = [];
const row = (name, p, f, s, seconds, note = "") => {
  passed += p;
  failed += f;
  skipped += s;
  rows.push(`${name}: ${p} passed, ${f} failed${s ? `, ${s} skipped` : ""} (${seconds.toFixed(1)} s)${note}`);
};

/** One suite in its own namespaces, counted from uvu's summary. */
async function runSuite(rel, live) {
  const name = `test/${rel}`,
    t0 = Date.now();
  const { code, out } = await run(
    name,
    ["unshare", ...PRIVATE, "sh", "-c", NS, "sh", process.execPath, "--import", "tsx", "--import", LOUD_HOOKS, join(top, name)],
    {},
    live,
    tierOf(rel) === "vm" ? VM_SUITE_TIMEOUT_MS : SUITE_TIMEOUT_MS,
  );
  const total = /Total:\s+(\d+)/.exec(out),
    ok = /Passed:\s+(\d+)/.exec(out),
    sk = /Skipped:\s+(\d+)/.exec(out);
  if (!total || !ok) {
    failed += 1; // crashed before its summary: one failure, whatever it had run
    rows.push(`${name}: CRASHED (exit ${code}, no summary)`);
    return;
  }
  // uvu's Total counts the tests that ran; skipped ones are not in it
  const t = Number(total[1]),
    p = Number(ok[1]),
    s = sk ? Number(sk[1]) : 0;
  const f = Math.max(0, t - p) + (code !== 0 && t - p === 0 ? 1 : 0);
  // what a before hook that threw looks like in uvu's count (its error is printed above: loud-hooks.ts)
  const hook = p === 0 && t > 0 && !/FAIL/.test(out) ? " — no test ran: its before hook threw (the error is above)" : "";
  row(name, p, f, s, (Date.now() - t0) / 1000, hook);
}

/** nobody's uid and gid, for the fast tier when we are root. */
function nobody() {
  const id = (flag) => spawnSync("id", [flag, "nobody"], { encoding: "utf8" });
  const u = id("-u"),
    g = id("-g");
  if (u.status !== 0 || g.status !== 0) throw new Error("the fast tier runs as 'nobody', and this machine has no such user");
  return [u.stdout.trim(), g.stdout.trim()];
}

/** The fast tier: its suites in `n` node processes (the two slow ones apart), as nobody. */
async function runFast(list, n) {
  const SLOW = ["unit/typecheck.test.ts", "unit/lint.test.ts"]; // tsc and eslint: ~15 s each on 2 cores
  const groups = Array.from({ length: Math.min(n, list.length) }, () => ({ files: [], weight: 0 }));
  for (const s of [...list.filter((x) => SLOW.includes(x)), ...list.filter((x) => !SLOW.includes(x))]) {
    const g = groups.reduce((a, b) => (b.weight < a.weight ? b : a));
    g.files.push(s);
    g.weight += SLOW.includes(s) ? 15 : 1;
  }
  const root = process.getuid() === 0;
  const view = root ? mkdtempSync(join(tmpdir(), "foyer-fast-")) : top;
  if (root) chmodSync(view, 0o755);
  try {
    await Promise.all(
      groups.map(async (g, i) => {
        const node = [process.execPath, "--import", "tsx", "test/fast.mjs", ...g.files.map((f) => `test/${f}`)];
        const [uid, gid] = root ? nobody() : [];
        const asNobody = `mount --bind "$1" "$2" && cd "$2" && shift 2 && if setpriv --reuid=${uid} --regid=${gid} --clear-groups -- test -r test/fast.mjs; then exec setpriv --reuid=${uid} --regid=${gid} --clear-groups --inh-caps=-all --bounding-set=-all -- "$@"; else echo "the fast tier runs as nobody, who cannot read '$1': make the checkout readable by others (chmod o+rX)" >&2; exit 1; fi`;
        const argv = root ? ["unshare", ...PRIVATE, "sh", "-c", asNobody, "sh", top, view, ...node] : node;
        const name = `fast tier${groups.length > 1 ? ` ${i + 1}/${groups.length}` : ""}: ${g.files.length} suites in one process${root ? ", as nobody" : ""}`;
        const { code, out } = await run(name, argv, {}, groups.length === 1);
        const m = /^fast-result (.*)$/m.exec(out);
        if (!m) {
          failed += 1;
          rows.push(`${name}: CRASHED (exit ${code}, no result)`);
          return;
        }
        for (const r of JSON.parse(m[1]).rows) row(r.name, r.passed, r.failed, r.skipped, r.seconds ?? 0, r.notes.length ? ` — ${r.notes.join("; ")}` : "");
      }),
    );
  } finally {
    if (root) rmdirSync(view);
  }
}

/** The other tiers: one suite at a time, except PARALLEL's, `n` at a time beside each other. */
async function runEach(list, n) {
  const running = new Set();
  const start = (s, live) => {
    const p = runSuite(s, live).then(() => running.delete(p));
    running.add(p);
  };
  for (const s of list) {
    const beside = n > 1 && PARALLEL.includes(s);
    while (running.size >= (beside ? n : 1)) await Promise.race(running);
    start(s, !beside);
    if (!beside) await Promise.all(running);
  }
  await Promise.all(running);
}

const t0 = Date.now();
for (const tier of TIERS) {
  const list = suites.filter((s) => tierOf(s) === tier);
  if (list.length === 0) continue;
  process.stdout.write(`\n##### ${tier} tier: ${list.length} suites\n`);
  if (tier === "fast") await runFast(list, jobs);
  else await runEach(list, tier === "vm" ? 1 : jobs);
}
process.stdout.write(`\n--- summary (${((Date.now() - t0) / 1000).toFixed(0)} s)\n${rows.join("\n")}\n\n`);
process.stdout.write(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}\n`);
process.exit(failed > 0 || suites.length === 0 ? 1 : 0);
