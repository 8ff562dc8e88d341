// Recovery with real components: an ext4 image corrupted on purpose (fsck.ext4 -n fails), shown
// in the greeter with fsck's output and exit code; the repair asks for the root password in the
// terminal (the real sulogin, whose shell is then foyer-repair), shows fsck's moving progress
// there and fixes it; the root terminal runs the real sulogin on a pty (through the broker) and
// refuses a wrong root password; closing the greeter closes the pty; an emergency shell's
// `plymouth quit` does not take the recovery screen away.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, mkdirSync, readFileSync, existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { chromium, type Browser } from "playwright-core";
import { Foyerd, requireTool, requirePrivateAskDir, withTimeout, top, CHROMIUM_ARGS } from "../helpers/index.js";

for (const [t, pkg] of [
  ["mkfs.ext4", "e2fsprogs"],
  ["debugfs", "e2fsprogs"],
  ["fsck.ext4", "e2fsprogs"],
  ["sulogin", "util-linux"],
  ["openssl", "openssl"],
  ["chromium", "chromium"],
])
  requireTool(t!, pkg!);
requirePrivateAskDir();

const dir = mkdtempSync(join(tmpdir(), "foyer-recovery-"));
const img = join(dir, "root.ext4");
const R = suite<{ foyerd?: Foyerd; browser?: Browser }>("integration/recovery", {});

function run(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return { status: r.status, out: r.stdout + r.stderr };
}

R.before(async (ctx) => {
  // a file system with enough in it for fsck to take a visible while
  const tree = join(dir, "tree");
  for (let d = 0; d < 40; d++) {
    mkdirSync(join(tree, `d${d}`), { recursive: true });
    for (let f = 0; f < 100; f++) writeFileSync(join(tree, `d${d}`, `f${f}`), `file ${d}/${f}\n`.repeat(20));
  }
  // a million inodes with their tables written out: e2fsck walks them all, which takes long
  // enough (a second or two) for its progress to be seen moving
  assert.is(run("mkfs.ext4", ["-q", "-F", "-O", "^metadata_csum,^uninit_bg", "-E", "lazy_itable_init=0", "-N", "2000000", "-d", tree, img, "2G"]).status, 0);
  // corrupt it: an inode cleared under its directory entry, and blocks in use marked free
  assert.is(run("debugfs", ["-w", "-R", "clri /d3/f7", img]).status, 0);
  assert.is(run("debugfs", ["-w", "-R", "freeb 2000 64", img]).status, 0);
  assert.is.not(run("fsck.ext4", ["-n", "-f", img]).status, 0, "the corrupted image must fail fsck -n");
  // a known root password, in this suite's private mount namespace only
  const hash = run("openssl", ["passwd", "-6", "-salt", "foyertest", "recovery-pw"]).out.trim();
  writeFileSync(join(dir, "shadow"), readFileSync("/etc/shadow", "utf8").replace(/^root:[^:]*:/m, `root:${hash}:`), { mode: 0o600 });
  assert.is(run("mount", ["--bind", join(dir, "shadow"), "/etc/shadow"]).status, 0);
  const prof = { schema: 1, display: { stack: "headless" }, log: { kmsg: false }, recovery: { rebootCommand: ["touch", join(dir, "rebooted")] } };
  writeFileSync(join(dir, "p.json"), JSON.stringify(prof));
  ctx.foyerd = new Foyerd(join(dir, "p.json"), { extraArgs: ["--recovery", "fsck failed on /dev/vda2 (exit code 4)", "--fsck-device", img] });
  ctx.browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
});
R.after(async (ctx) => {
  await ctx.browser?.close();
  await ctx.foyerd?.stop();
  ctx.foyerd?.cleanup();
  spawnSync("umount", ["/etc/shadow"]);
  rmSync(dir, { recursive: true, force: true });
});

R("the failure is shown with fsck's output and exit code; the repair asks for the root password, shows fsck's progress and fixes it", async (ctx) => {
  const url = new URL(await ctx.foyerd!.url());
  const page = await ctx.browser!.newPage({ viewport: { width: 1280, height: 900 } });
  // the terminal's bytes as the page receives them: fsck's progress bar is drawn there
  let terminal = "";
  page.on("websocket", (ws) =>
    ws.on("framereceived", (f) => typeof f.payload !== "string" && f.payload[0] === 0x02 && (terminal += f.payload.subarray(1).toString("latin1"))),
  );
  await page.goto(url.href);
  await withTimeout(page.locator("#recovery-reason", { hasText: "fsck failed on /dev/vda2" }).waitFor(), 15_000, "reason shown");
  await withTimeout(page.locator("#fsck-status", { hasText: "exit code 4" }).waitFor(), 30_000, "read-only check finished");
  const output = await page.locator("#fsck-output").textContent();
  assert.match(output ?? "", /Fix\? no/);
  assert.match((await page.locator("#journal").textContent()) ?? "", /recovery: fsck failed/);
  writeFileSync(join(tmpdir(), "foyer-recovery.png"), await page.screenshot());
  if (process.env.FOYER_UPDATE_DOCS) writeFileSync(join(top, "docs/recovery.png"), await page.screenshot());

  // the button says what it asks for; the repair is sulogin's terminal
  try {
    await page.getByRole("button", { name: "Repair file system (asks for the root password)" }).click();
    const rows = page.locator("#terminal .xterm-rows");
    await withTimeout(rows.filter({ hasText: "Give root password for maintenance" }).waitFor(), 30_000, "sulogin's prompt for the repair");
    await withTimeout(
      page.locator("#fsck-status", { hasText: "enter the root password in the terminal below to repair" }).waitFor(),
      10_000,
      "the status says what is asked",
    );
    assert.is.not(run("fsck.ext4", ["-n", "-f", img]).status, 0, "the image changed before the password");
    await page.locator("#terminal .xterm-helper-textarea").focus();
    await page.keyboard.type("recovery-pw\n");
    await withTimeout(rows.filter({ hasText: "fsck exited with code 1." }).waitFor(), 60_000, "the repair ran in the terminal");
    // e2fsck's bar, "<device>: |=====     | 51.9%", drawn at most 8 times a second: how often it
    // is drawn depends on how fast the check runs (the image is in the page cache by now)
    const percents = [...terminal.matchAll(/\|\s*(\d{1,3}\.\d)%/g)].map((m) => Number(m[1])).filter((p, i, a) => i === 0 || p !== a[i - 1]);
    console.log(`the repair's progress in the terminal: ${percents.join(", ")}`);
    assert.ok(percents.length >= 2 && percents[percents.length - 1] === 100, `progress shown up to 100 %: ${percents.join(", ")}`);
    assert.ok(
      percents.every((p, i) => i === 0 || p >= percents[i - 1]!),
      `progress never goes back: ${percents.join(", ")}`,
    );
    await page.keyboard.type("\n"); // "Press Enter to close this terminal."
    // fsck's 1 (errors corrected): foyer checks again, read-only, and the screen says it is clean now
    await withTimeout(page.locator("#fsck-status", { hasText: /exit code 0 \(clean\)/ }).waitFor(), 30_000, "the check after the repair shown clean");
    assert.match((await page.locator("#fsck-output").textContent()) ?? "", /Pass 5/);
    assert.match(ctx.foyerd!.log, /fsck repair of '[^']+' exited 1/);
    await withTimeout(page.locator("#terminal").waitFor({ state: "hidden" }), 10_000, "the terminal closed");
    assert.is(run("fsck.ext4", ["-n", "-f", img]).status, 0, "the image is clean after the repair");
  } finally {
    await page.close(); // a repair left open would hold the terminal for the tests after this one
  }
});

R("the terminal runs sulogin: a wrong root password is refused, the right one gives a shell", async (ctx) => {
  const page = await ctx.browser!.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(await ctx.foyerd!.url());
  await page.getByRole("button", { name: "Open root terminal" }).click();
  const rows = page.locator("#terminal .xterm-rows");
  await withTimeout(rows.filter({ hasText: "Give root password for maintenance" }).waitFor(), 30_000, "sulogin's prompt").catch(async (e: Error) => {
    // say what the terminal and the daemon showed instead: a timeout alone tells nothing
    const shown = await rows.textContent().catch(() => "(no terminal)");
    throw new Error(`${e.message}; the terminal showed: ${JSON.stringify(shown)}; foyerd said:\n${ctx.foyerd!.log.split("\n").slice(-15).join("\n")}`);
  });
  // sulogin asks plymouthd to quit (util-linux's plymouth-ctrl, on the exact name foyer serves):
  // from foyer's own terminal that is no hand-over, and foyer goes on
  await ctx.foyerd!.until((l) => l.includes("the quit came from foyer's own recovery terminal (sulogin), ignoring"), 10_000, "sulogin's plymouth quit ignored");
  await page.locator("#terminal .xterm-helper-textarea").focus();
  await page.keyboard.type("not-the-password\n");
  await withTimeout(rows.filter({ hasText: "Login incorrect" }).waitFor(), 15_000, "wrong password refused");
  assert.not.match((await rows.textContent()) ?? "", /not-the-password/);
  await withTimeout(rows.filter({ hasText: /Give root password[\s\S]*Give root password/ }).waitFor(), 15_000, "asked again");
  await page.keyboard.type("recovery-pw\n");
  await page.keyboard.type("echo FOYER-$((6*7))\n");
  await withTimeout(rows.filter({ hasText: "FOYER-42" }).waitFor(), 15_000, "a root shell");
  assert.ok(spawnSync("pgrep", ["-f", "pty-broker|foyer-pty"]).status === 0, "the broker runs");
  // the pty lives in the broker: foyerd itself holds no pty, so nothing it spawns can inherit one
  const fds = spawnSync("ls", ["-l", `/proc/${ctx.foyerd!.proc.pid}/fd`], { encoding: "utf8" }).stdout;
  assert.not.match(fds, /ptmx|\/dev\/pts\//, "foyerd holds a pty fd");
  // a flood must neither freeze the greeter nor grow foyerd's memory without bound
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${ctx.foyerd!.proc.pid}/status`, "utf8"))![1]);
  const before = rss();
  await page.keyboard.type("timeout 4 yes FLOODFLOODFLOOD; echo FLOOD-$((40+2))\n");
  let peak = before;
  const t0 = Date.now();
  while (Date.now() - t0 < 4_000) {
    peak = Math.max(peak, rss());
    // the page still answers while the flood runs
    assert.is(
      await withTimeout(
        page.evaluate(() => 1 + 1),
        3_000,
        "greeter responsive during the flood",
      ),
      2,
    );
    await new Promise((r) => setTimeout(r, 250));
  }
  await withTimeout(rows.filter({ hasText: "FLOOD-42" }).waitFor(), 60_000, "flood finished");
  console.log(`foyerd RSS during a 4 s 'yes' flood: ${(before / 1024).toFixed(1)} MB → peak ${(peak / 1024).toFixed(1)} MB`);
  assert.ok(peak - before < 64 * 1024, `foyerd grew by ${((peak - before) / 1024).toFixed(1)} MB during the flood`);
  assert.not.ok(ctx.foyerd!.log.includes("recovery-pw"), "the root password reached a log");
  await page.close(); // the greeter disconnects: the pty closes with it
  await ctx.foyerd!.until((l) => l.includes("recovery terminal closed"), 10_000, "terminal closed on disconnect");
  assert.is(spawnSync("pgrep", ["-x", "sulogin"]).status, 1, "sulogin still running");
});

R("the terminal button works on the first click, however slowly its code loads", async (ctx) => {
  // the recovery view's code (xterm) is a lazily loaded chunk: it used to show its buttons before
  // they were wired, and a click then did nothing (CI, under load: "sulogin's prompt timed out")
  const page = await ctx.browser!.newPage();
  await page.route("**/chunk-*.js", async (route) => {
    await new Promise((r) => setTimeout(r, 3000));
    await route.continue();
  });
  const closedBefore = ctx.foyerd!.count(/recovery terminal closed/);
  await page.goto(await ctx.foyerd!.url());
  await page.getByRole("button", { name: "Open root terminal" }).click();
  await withTimeout(
    page.locator("#terminal .xterm-rows").filter({ hasText: "Give root password for maintenance" }).waitFor(),
    30_000,
    "sulogin's prompt after the first click",
  );
  await page.close();
  await ctx.foyerd!.untilCount(/recovery terminal closed/, closedBefore + 1, 10_000);
});

R("an emergency shell's `plymouth quit` (dracut's) while the recovery screen is up: ACKed, foyer stays", async (ctx) => {
  // dracut-emergency runs `plymouth quit` for the text console: foyer would leave a black screen
  const q = spawnSync("plymouth", ["quit"], { encoding: "utf8", timeout: 10_000 });
  assert.is(q.status, 0, `the quit was not ACKed: ${q.stderr}`);
  await ctx.foyerd!.until(
    (l) => l.includes("the recovery screen is up (an emergency shell asks for the console), ignoring the quit"),
    10_000,
    "the quit ignored",
  );
  assert.is(ctx.foyerd!.proc.exitCode, null, "foyerd ended");
  assert.not.match(ctx.foyerd!.log, /phase stopping/);
  const page = await ctx.browser!.newPage();
  await page.goto(await ctx.foyerd!.url());
  await withTimeout(page.locator("#recovery-reason").waitFor(), 15_000, "the recovery screen still served");
  await page.close();
});

R("actions run their commands", async (ctx) => {
  const page = await ctx.browser!.newPage();
  await page.goto(await ctx.foyerd!.url());
  await page.getByRole("button", { name: "Reboot" }).click();
  await ctx.foyerd!.until((l) => l.includes("recovery action 'reboot' ran"), 10_000);
  assert.ok(existsSync(join(dir, "rebooted")));
  await page.close();
});

R.run();
