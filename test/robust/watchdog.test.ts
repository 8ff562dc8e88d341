// Reliability check 11, the supervisor's part: foyerd itself hung (SIGSTOP), or killed (SIGKILL),
// must not leave a person at a greeter that no longer answers. Against a real systemd 252 as PID 1
// (systemd-nspawn, test/helpers/nspawn.ts) running the shipped foyer.service — its Restart=,
// WatchdogSec=, NotifyAccess= and ExecStopPost= — with a drop-in that only points ExecStart at the
// checkout's bundle and shortens the watchdog to 3 s. The greeter is cage + chromium as a transient
// unit (launch "systemd", as in a dracut initrd), and a real systemd-ask-password waits throughout:
// after each death the new foyerd's greeter asks it again and the answer reaches the asker.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { SystemdContainer } from "../helpers/nspawn.js";
import { connectGreeter, pollUntil, requireTool, top, withTimeout } from "../helpers/index.js";

requireTool("cage", "cage");
requireTool("chromium", "chromium");
requireTool("systemd-ask-password", "systemd");

const WATCHDOG_S = 3;
const DEBUG_PORT = 9347;
const c = new SystemdContainer({ binds: ["/etc/passwd", "/etc/group", "/etc/chromium.d", "/etc/fonts"] });
const rt = () => join(c.dir, "rt");
const log = () => c.exec(["cat", join(rt(), "state", "log", "foyerd.log")]).stdout;
const count = (re: RegExp) => (log().match(new RegExp(re.source, "g")) ?? []).length;
const show = (p: string) => c.exec(["systemctl", "show", "-p", p, "--value", "foyer.service"]).stdout.trim();
const journal = () => c.exec(["journalctl", "-u", "foyer.service", "--no-pager", "-o", "cat"]).stdout;
// a stopped greeter unit may stay listed as failed (cage killed): only one with processes counts
const greeterUnits = () =>
  c
    .units("foyer-greeter-*")
    .filter((f) => f[2] !== "inactive" && f[2] !== "failed")
    .map((f) => f[0]!);
const tail = () => `\n--- foyerd.log ---\n${log().split("\n").slice(-12).join("\n")}\n--- journal ---\n${journal().split("\n").slice(-12).join("\n")}`;

/** The shipped unit with its ExecStart pointed at the checkout: the flags stay the shipped ones. */
function installShippedUnit(profile: string): void {
  const unit = readFileSync(join(top, "packaging/systemd/initrd/foyer.service"), "utf8");
  const exec = /^ExecStart=(.*)$/m.exec(unit)?.[1];
  assert.ok(exec?.includes("/usr/bin/node ") && exec.includes(" /usr/lib/foyer/foyerd.mjs --profile "), `foyer.service's ExecStart changed shape: ${exec}`);
  const ours = exec!
    .replace("/usr/bin/node ", `${process.execPath} `)
    .replace("/usr/lib/foyer/foyerd.mjs", join(top, "dist/foyerd.mjs"))
    .replace(/--profile \S+/, `--profile ${profile}`);
  const dir = join(c.root, "run/systemd/system");
  mkdirSync(join(dir, "foyer.service.d"), { recursive: true });
  writeFileSync(join(dir, "foyer.service"), unit);
  writeFileSync(
    join(dir, "foyer.service.d", "test.conf"),
    // the container is no initrd; its /etc/initrd-release does not exist
    `[Unit]\nConditionPathExists=\n\n[Service]\nEnvironment=NODE_EXTRA_CA_CERTS=\n# greeter.debugPort is a test-only key\nEnvironment=FOYER_TEST_KEYS=1\nExecStart=\nExecStart=${ours} --runtime-dir ${rt()} --cmdline /dev/null --bus none\nWatchdogSec=${WATCHDOG_S}s\n`,
  );
  const r = c.exec(["systemctl", "daemon-reload"]);
  assert.is(r.code, 0, r.stderr);
}

/** Types `pass` into the greeter's field labelled `label`, in whichever chromium runs now. */
async function answer(label: string, pass: string): Promise<void> {
  const g = await connectGreeter(DEBUG_PORT, 120_000);
  try {
    const input = g.page.getByLabel(label);
    await withTimeout(input.waitFor(), 60_000, `the prompt '${label}' in the new greeter`);
    await input.fill(pass);
    await input.press("Enter");
  } finally {
    await g.close();
  }
}

function ask(label: string) {
  return c.execAsync(["systemd-ask-password", "--no-tty", "--timeout=600", label], 600_000);
}

/** Waits for foyer.service's next run (NRestarts past `n`) to have its greeter interactive. */
async function nextRun(n: number, since: number, what: string): Promise<number> {
  await pollUntil(() => Number(show("NRestarts")) > n, 60_000, `foyer.service restarted after ${what}`).catch((e) => {
    throw new Error(`${e.message}${tail()}`);
  });
  const interactive = () => count(/greeter interactive(?! again)/);
  await pollUntil(() => interactive() > n + 1, 120_000, `the new foyerd's greeter interactive after ${what}`).catch((e) => {
    throw new Error(`${e.message}${tail()}`);
  });
  return performance.now() - since;
}

test.before(async () => {
  await c.start();
  const profile = join(c.dir, "greeter.json");
  writeFileSync(
    profile,
    JSON.stringify({
      schema: 1,
      display: { stack: "headless-wayland", browser: "chromium", renderer: "pixman" },
      log: { kmsg: false },
      launch: "systemd",
      greeter: { readyTimeoutMs: 120_000, debugPort: DEBUG_PORT },
    }),
  );
  installShippedUnit(profile);
  const r = c.exec(["systemctl", "start", "foyer.service"]);
  assert.is(r.code, 0, r.stderr);
  await pollUntil(() => log().includes("greeter interactive"), 120_000, "the greeter connecting").catch((e) => {
    throw new Error(`${e.message}${tail()}`);
  });
});

test.after(async () => {
  await c.stop();
});

test(`a foyerd that answers is left alone: its pings reach systemd, no restart past ${WATCHDOG_S} s`, async () => {
  assert.match(log(), "pinging the service manager's watchdog");
  const first = Number(show("WatchdogTimestampMonotonic"));
  await new Promise((r) => setTimeout(r, WATCHDOG_S * 1000 + 500));
  const later = Number(show("WatchdogTimestampMonotonic"));
  assert.ok(first > 0 && later > first, `the last ping did not move: ${first} → ${later}`);
  assert.is(show("NRestarts"), "0");
  assert.is(show("ActiveState"), "active");
});

test("foyerd stopped (SIGSTOP): the watchdog kills it without a core, it starts again and the waiting request is answered", async () => {
  const asker = ask("Passphrase for disk one:");
  await pollUntil(() => log().includes("password request pending"), 30_000, "foyerd seeing the request");
  const pid = show("MainPID");
  const oldUnits = greeterUnits();
  assert.is(oldUnits.length, 1, JSON.stringify(oldUnits));
  const t0 = performance.now();
  assert.is(c.exec(["kill", "-STOP", pid]).code, 0);
  const ms = await nextRun(0, t0, "SIGSTOP");
  assert.not.equal(show("MainPID"), pid);
  assert.match(journal(), /[Ww]atchdog timeout/);
  assert.match(journal(), "status=6/ABRT");
  assert.not.match(journal(), "dumped core");
  // the old greeter's unit was stopped (ExecStopPost, then the new foyerd's sweep); one runs now
  const units = greeterUnits();
  assert.is(units.length, 1, JSON.stringify(units));
  assert.not.equal(units[0], oldUnits[0]);
  // the state tmpfs was kept: the first foyerd's log is still there, with the second's after it
  assert.is(count(/profile loaded/), 2);
  await answer("Passphrase for disk one:", "wätchdög pass");
  const r = await withTimeout(asker, 30_000, "the asker's answer");
  assert.is(r.stdout, "wätchdög pass\n", r.stderr);
  console.log(`  SIGSTOP → the new foyerd's greeter interactive: ${(ms / 1000).toFixed(1)} s (watchdog ${WATCHDOG_S} s)`);
});

test("foyerd killed (SIGKILL): started again at once, and the waiting request is answered", async () => {
  const seen = count(/password request pending/);
  const asker = ask("Passphrase for disk two:");
  await pollUntil(() => count(/password request pending/) > seen, 30_000, "foyerd seeing the request");
  const pid = show("MainPID");
  const t0 = performance.now();
  assert.is(c.exec(["kill", "-KILL", pid]).code, 0);
  const ms = await nextRun(1, t0, "SIGKILL");
  assert.is(greeterUnits().length, 1, JSON.stringify(greeterUnits()));
  await answer("Passphrase for disk two:", "kïlled pass");
  const r = await withTimeout(asker, 30_000, "the asker's answer");
  assert.is(r.stdout, "kïlled pass\n", r.stderr);
  console.log(`  SIGKILL → the new foyerd's greeter interactive: ${(ms / 1000).toFixed(1)} s`);
});

test("a foyerd that is not started again takes its greeter unit with it (ExecStopPost), so the console is free", async () => {
  // what the start limit does after five failures, here at once: no restart
  writeFileSync(join(c.root, "run/systemd/system/foyer.service.d", "no-restart.conf"), "[Service]\nRestart=no\n");
  assert.is(c.exec(["systemctl", "daemon-reload"]).code, 0);
  assert.is(greeterUnits().length, 1);
  assert.is(c.exec(["kill", "-KILL", show("MainPID")]).code, 0);
  await pollUntil(() => show("ActiveState") === "failed", 30_000, "foyer.service failed");
  await pollUntil(() => greeterUnits().length === 0, 30_000, "no greeter unit left").catch((e) => {
    throw new Error(`${e.message}: ${JSON.stringify(greeterUnits())}${tail()}`);
  });
});

test.run();
