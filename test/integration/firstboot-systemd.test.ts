// The first boot of a real root as foyer-firstboot.service runs it: a real systemd 252 as PID 1
// (systemd-nspawn, test/helpers/nspawn.ts) boots with the shipped unit enabled — its files bound at
// /etc/systemd/system, with a drop-in that only points ExecStart at the checkout's bundle and gives
// it the headless profile. nspawn hands the container a machine id, so the boot is made a first one
// with systemd's own switch (systemd.condition-first-boot=true). The boot waits on the unit;
// Debian's chromium, driven by playwright-core from outside, fills the form; foyerd applies it
// with the container's own tools (useradd, chpasswd, systemd-firstboot) and exits, the unit ends
// with success and the boot completes. A second start is skipped (first-boot-complete.target has
// been reached), and `foyerd --firstboot` on a root that is done starts nothing.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { chromium } from "playwright-core";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdirSync, existsSync, copyFileSync, mkdtempSync, rmSync, symlinkSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { SystemdContainer } from "../helpers/nspawn.js";
import { Foyerd, pollUntil, requireTool, top, withTimeout, CHROMIUM_ARGS } from "../helpers/index.js";
import { makeScratchRoot, removeScratchRoot, rehash } from "../helpers/scratch-root.js";

for (const [t, p] of [
  ["chromium", "chromium"],
  ["openssl", "openssl"],
  ["useradd", "passwd"],
  ["chpasswd", "passwd"],
  ["systemd-firstboot", "systemd"],
])
  requireTool(t!, p!);

const UNIT = "foyer-firstboot.service";

/** The shipped unit, enabled as its [Install] says, its ExecStart pointed at the checkout's bundle with the headless profile; every other line as shipped. */
function unitDir(): string {
  const unit = readFileSync(join(top, "packaging/systemd/root", UNIT), "utf8");
  const exec = /^ExecStart=(.*)$/m.exec(unit)?.[1];
  assert.ok(exec?.startsWith("/usr/bin/node /usr/lib/foyer/foyerd.mjs --firstboot "), `${UNIT}'s ExecStart changed shape: ${exec}`);
  assert.match(unit, /^WantedBy=multi-user\.target$/m);
  const ours = exec!.replace("/usr/bin/node ", `${process.execPath} `).replace("/usr/lib/foyer/foyerd.mjs", join(top, "dist/foyerd.mjs"));
  const dir = mkdtempSync(join(tmpdir(), "foyer-fb-units-"));
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, UNIT), unit);
  mkdirSync(join(dir, `${UNIT}.d`));
  writeFileSync(
    join(dir, `${UNIT}.d`, "test.conf"),
    `[Service]\nEnvironment=NODE_EXTRA_CA_CERTS=\nExecStart=\nExecStart=${ours} --profile headless --cmdline /dev/null\n`,
  );
  mkdirSync(join(dir, "multi-user.target.wants"));
  symlinkSync(`../${UNIT}`, join(dir, "multi-user.target.wants", UNIT));
  return dir;
}
const units = unitDir();
const c = new SystemdContainer({ binds: [`${units}:/etc/systemd/system`], initArgs: ["systemd.condition-first-boot=true"] });
const show = (p: string) => c.exec(["systemctl", "show", "-p", p, "--value", UNIT]).stdout.trim();
const journal = () => c.exec(["journalctl", "-u", UNIT, "--no-pager", "-o", "cat"]).stdout;
const tail = () => `\n--- journal ---\n${journal().split("\n").slice(-15).join("\n")}`;

test.before(async () => {
  // the boot cannot complete before the form is done: wait only for systemd itself
  await c.start({ untilBooted: false });
});

test.after(async () => {
  await c.stop();
  rmSync(units, { recursive: true, force: true });
});

test("a first boot: the boot starts the unit, which shows the form, applies it with the root's tools and ends with success", async () => {
  const urlFile = join(c.root, "run/foyer-firstboot/greeter-url");
  await pollUntil(() => existsSync(urlFile), 90_000, "the greeter's URL").catch((e) => {
    throw new Error(`${e.message}${tail()}`);
  });
  assert.is(show("ActiveState"), "activating", "a oneshot unit stays activating while the form is open");
  assert.is(c.exec(["systemctl", "is-system-running"]).stdout.trim(), "starting", "the boot waits for the form");
  // useradd reads login.defs, as on any Debian (the container's /etc began empty)
  copyFileSync("/etc/login.defs", join(c.root, "etc/login.defs"));
  const browser = await withTimeout(chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS }), 30_000, "chromium launch");
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(readFileSync(urlFile, "utf8").trim());
    await withTimeout(page.locator("#firstboot-view").waitFor(), 20_000, "the first-boot form");
    await withTimeout(page.locator("#fb-layout option[value='de']").waitFor({ state: "attached" }), 10_000, "layouts listed");
    await page.getByLabel("Keyboard layout").selectOption("de");
    // on the running system the form offers the installed locales only (systemd-firstboot takes no other there)
    const offered = await page.locator("#fb-locale option").evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    const installed = spawnSync("locale", ["-a"], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
    assert.ok(offered.length > 0 && offered.length <= installed.length, `offered ${offered.join(" ")} with ${installed.join(" ")} installed`);
    assert.ok(offered.includes("C.UTF-8"));
    await page.getByLabel("Language").selectOption("C.UTF-8");
    await page.getByLabel("Time zone").selectOption("Europe/Berlin");
    await page.getByLabel("Computer name").fill("erststart");
    await page.getByLabel("Full name").fill("Grace Hopper");
    await page.getByLabel("Login name").fill("grace");
    await page.getByLabel("Password", { exact: true }).fill("Erster Start 1");
    await page.getByLabel("Confirm password", { exact: true }).fill("Erster Start 1");
    await page.getByLabel("Lock the root account").check();
    await page.getByRole("button", { name: "Set up" }).click();
    // the event: systemd says the oneshot is over (foyerd exited)
    await pollUntil(() => show("ActiveState") !== "activating", 60_000, `${UNIT} ending`).catch((e) => {
      throw new Error(`${e.message}${tail()}`);
    });
  } finally {
    await browser.close();
  }
  await c.booted();
  assert.is(show("Result"), "success", tail());
  assert.is(show("ExecMainStatus"), "0", tail());
  assert.match(journal(), "first-boot setup applied, stopping");

  const etc = (f: string) => c.exec(["cat", `/etc/${f}`]).stdout;
  assert.is(etc("hostname"), "erststart\n");
  const pw = etc("passwd")
    .split("\n")
    .find((l) => l.startsWith("grace:"))
    ?.split(":");
  assert.ok(pw, "no account 'grace' in the container's /etc/passwd");
  assert.is(pw![4], "Grace Hopper");
  const hash = etc("shadow")
    .split("\n")
    .find((l) => l.startsWith("grace:"))!
    .split(":")[1]!;
  assert.is(rehash("Erster Start 1", hash), hash);
  assert.match(etc("vconsole.conf"), /^XKBLAYOUT=de$/m);
  assert.is(c.exec(["test", "-e", "/var/lib/foyer/firstboot.done"]).code, 0, "no stamp");
  assert.not.ok(journal().includes("Erster Start"), "the password in the unit's journal");
});

test("the next start is skipped, and foyerd --firstboot on a root that is done starts nothing", () => {
  assert.is(c.exec(["systemctl", "start", UNIT]).code, 0);
  assert.is(show("ConditionResult"), "no");
  assert.not.match(c.exec(["journalctl", "-b", "--no-pager", "-o", "cat"]).stdout, "ordering cycle");

  const root = mkdtempSync(join(tmpdir(), "foyer-fb-done-"));
  try {
    mkdirSync(join(root, "etc"));
    writeFileSync(join(root, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    mkdirSync(join(root, "var/lib/foyer"), { recursive: true });
    writeFileSync(join(root, "var/lib/foyer/firstboot.done"), "");
    const rt = join(root, "rt");
    const foyerd = (args: string[]) =>
      spawnSync(process.execPath, [join(top, "dist/foyerd.mjs"), ...args], {
        encoding: "utf8",
        env: { ...process.env, FOYER_MAIN: "foyerd" },
        timeout: 30_000,
      });
    const r = foyerd(["--firstboot", "--firstboot-root", root, "--runtime-dir", rt, "--profile", "headless", "--cmdline", "/dev/null", "--bus", "none"]);
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stderr, "no first-boot setup on");
    assert.match(r.stderr, "already done");
    assert.not.ok(existsSync(rt), "a runtime dir for a run that had nothing to do");
    const both = foyerd(["--firstboot", "--recovery", "x", "--runtime-dir", rt]);
    assert.is(both.status, 2);
    assert.match(both.stderr, "--firstboot and --recovery do not go together");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("foyerd --firstboot shows the form even where the profile's own flow is recovery", async () => {
  const root = makeScratchRoot();
  const profile = join(root, "recovery-profile.json");
  writeFileSync(profile, JSON.stringify({ schema: 1, display: { stack: "headless" }, log: { kmsg: false }, flow: "recovery" }));
  const f = new Foyerd(profile, { extraArgs: ["--firstboot", "--firstboot-root", root], bundle: true });
  try {
    await f.until((l) => l.includes("first-boot setup starts"), 30_000, "the first-boot flow");
    await f.until((l) => l.includes("greeter server listening"), 30_000, "the server");
    assert.not.ok(f.log.includes("recovery requested by the profile"), "a first-boot-only run entered recovery");
  } finally {
    await f.stop();
    f.cleanup();
    removeScratchRoot(root);
  }
});

test.run();
