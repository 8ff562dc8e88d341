// A real foyerd (headless profile) answering Debian's real `plymouth` client, with the greeter
// driven by Debian's chromium through playwright-core, in a private network namespace (the
// client only knows the abstract socket name: see test/helpers/netns.ts). systemd's
// systemd-ask-password goes on working beside it.
import { runInPrivateNetns } from "../helpers/netns.js";
runInPrivateNetns(import.meta.url);

import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { chromium, type Browser } from "playwright-core";
import { spawnSync } from "node:child_process";
import { Foyerd, askPassword, killAskers, requirePrivateAskDir, requireTool, withTimeout, CHROMIUM_ARGS } from "../helpers/index.js";
import { ply, killClients } from "../helpers/plymouth.js";

requireTool("plymouth", "plymouth");
requireTool("systemd-ask-password", "systemd");
requireTool("chromium", "chromium");
requirePrivateAskDir();

interface Ctx {
  foyerd?: Foyerd;
  browser?: Browser;
}
const F = suite<Ctx>("agents/plymouth-foyerd", {});

F.before(async (ctx) => {
  ctx.browser = await withTimeout(chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS }), 30_000, "chromium launch");
});
F.before.each(async (ctx) => {
  ctx.foyerd = new Foyerd("headless");
  await ctx.foyerd.until((l) => /serving plymouth's protocol on '@\/ply-boot-protocol'/.test(l), 20_000, "plymouth server up");
});
F.after.each(async (ctx) => {
  killClients();
  killAskers();
  await ctx.foyerd?.stop();
  ctx.foyerd?.cleanup();
  ctx.foyerd = undefined;
});
F.after(async (ctx) => {
  await ctx.browser?.close();
});

F("plymouth --ping: 0 against foyerd; after foyerd stops, non-zero", async (ctx) => {
  assert.is((await withTimeout(ply(["--ping"]).result, 10_000)).code, 0);
  await ctx.foyerd!.stop();
  assert.is.not((await withTimeout(ply(["--ping"]).result, 10_000)).code, 0);
});

F("ask-for-password is answered through the greeter; the client prints exactly the typed bytes", async (ctx) => {
  const page = await ctx.browser!.newPage();
  await page.goto(await ctx.foyerd!.url());
  const c = ply(["ask-for-password", "--prompt", "Please enter passphrase for disk cryptroot:"]);
  const input = page.getByLabel("Please enter passphrase for disk cryptroot:");
  await withTimeout(input.waitFor(), 10_000, "plymouth prompt shown");
  assert.is(await input.getAttribute("type"), "password");
  await input.fill("pässphrase with spaces");
  await input.press("Enter");
  const r = await withTimeout(c.result, 10_000);
  assert.is(r.code, 0);
  assert.equal(r.out, Buffer.from("pässphrase with spaces"));
  await withTimeout(input.waitFor({ state: "detached" }), 10_000, "prompt gone");
  assert.not.ok(ctx.foyerd!.log.includes("pässphrase"), "the passphrase reached a log");
  await page.close();
});

F("a systemd-ask-password request and a plymouth prompt side by side; each answer goes to its asker", async (ctx) => {
  const page = await ctx.browser!.newPage();
  await page.goto(await ctx.foyerd!.url());
  const sd = askPassword("systemd asks:", { id: "cryptsetup:/dev/vda3" });
  const pl = ply(["ask-for-password", "--prompt", "plymouth asks:"]);
  await withTimeout(page.getByLabel("systemd asks:").waitFor(), 10_000, "systemd prompt");
  await withTimeout(page.getByLabel("plymouth asks:").waitFor(), 10_000, "plymouth prompt");
  await page.getByLabel("plymouth asks:").fill("to plymouth");
  await page.getByLabel("plymouth asks:").press("Enter");
  await page.getByLabel("systemd asks:").fill("to systemd");
  await page.getByLabel("systemd asks:").press("Enter");
  assert.equal((await withTimeout(pl.result, 10_000)).out, Buffer.from("to plymouth"));
  assert.is((await withTimeout(sd.result, 10_000)).out.toString(), "to systemd\n");
  await page.close();
});

F("display-message is shown in the greeter; hide-message takes it away", async (ctx) => {
  const page = await ctx.browser!.newPage();
  await page.goto(await ctx.foyerd!.url());
  assert.is((await withTimeout(ply(["display-message", "--text", "Please touch the security key"]).result, 10_000)).code, 0);
  const shown = page.locator("#messages p", { hasText: "Please touch the security key" });
  await withTimeout(shown.waitFor(), 10_000, "message shown");
  assert.is((await withTimeout(ply(["hide-message", "--text", "Please touch the security key"]).result, 10_000)).code, 0);
  await withTimeout(shown.waitFor({ state: "detached" }), 10_000, "message hidden");
  await page.close();
});

F("systemd-fsckd's progress updates show as a bar in the greeter's language; none once no disk is checked; its cancel offer is not shown", async (ctx) => {
  const page = await ctx.browser!.newPage();
  await page.goto(await ctx.foyerd!.url());
  const box = page.locator("#disk-check");
  // what systemd-fsckd sends: "fsckd:<disks>:<percent>:<its English text>" as an update
  assert.is((await withTimeout(ply(["update", "--status=fsckd:2:42.4:Checking in progress on 2 disks (42.4% complete)"]).result, 10_000)).code, 0);
  await withTimeout(box.waitFor({ state: "visible" }), 10_000, "disk check shown");
  assert.is(await page.locator("#disk-check-text").textContent(), "Checking file systems (2 disk(s)): 42 %");
  assert.is(await page.locator("#disk-check-progress").evaluate((e) => (e as HTMLProgressElement).value), 42.4);
  await ctx.foyerd!.until((l) => l.includes("file system check: 42.4 % on 2 disk(s)"), 5_000, "progress logged");
  assert.not.match(ctx.foyerd!.log, /plymouth status 'fsckd:/, "fsckd's progress taken for a unit's status");
  assert.is(
    (await withTimeout(ply(["display-message", "--text", "fsckd-cancel-msg:Press Ctrl+C to cancel all filesystem checks in progress"]).result, 10_000)).code,
    0,
  );
  assert.is((await withTimeout(ply(["display-message", "--text", ""]).result, 10_000)).code, 0);
  assert.is((await withTimeout(ply(["update", "--status=fsckd:1:97.0:Checking in progress on 1 disk (97.0% complete)"]).result, 10_000)).code, 0);
  await withTimeout(page.locator("#disk-check-text", { hasText: "(1 disk(s)): 97 %" }).waitFor(), 10_000, "progress updated");
  assert.is(await page.locator("#messages p").count(), 0, "fsckd's cancel offer (or its empty message) is shown, and foyer cannot cancel");
  assert.is((await withTimeout(ply(["update", "--status=fsckd:0:100.0:Checking in progress on 0 disks (100.0% complete)"]).result, 10_000)).code, 0);
  await withTimeout(box.waitFor({ state: "hidden" }), 10_000, "disk check gone");
  await page.close();
});

F("update, has-active-vt, deactivate, reactivate: what the client is told, what foyerd records", async (ctx) => {
  const f = ctx.foyerd!;
  assert.is((await withTimeout(ply(["update", "--status=foyer-test-status"]).result, 10_000)).code, 0);
  await f.until((l) => l.includes("plymouth status 'foyer-test-status'"), 5_000, "status logged");
  // plymouthd without a VT answers NAK: the client exits 1
  assert.is((await withTimeout(ply(["--has-active-vt"]).result, 10_000)).code, 1);
  assert.is((await withTimeout(ply(["deactivate"]).result, 10_000)).code, 0);
  await f.until((l) => l.includes("plymouth: deactivate"), 5_000, "deactivate logged");
  assert.is((await withTimeout(ply(["reactivate"]).result, 10_000)).code, 0);
  await f.until((l) => l.includes("plymouth: reactivate"), 5_000, "reactivate logged");
  assert.is(f.proc.exitCode, null, "deactivate does not end foyerd");
});

F("quit --retain-splash ends foyerd cleanly: the client gets its ACK, exit 0, no process left", async (ctx) => {
  const f = ctx.foyerd!;
  const exited = new Promise<number | null>((r) => f.proc.once("exit", (c) => r(c)));
  const q = await withTimeout(ply(["quit", "--retain-splash"]).result, 20_000, "plymouth quit");
  assert.is(q.code, 0);
  assert.is(await withTimeout(exited, 20_000, "foyerd exit"), 0);
  assert.match(f.log, /plymouth: quit --retain-splash/);
  // nothing foyerd started survives it: no process mentions its runtime directory
  const ps = spawnSync("ps", ["-eo", "pid=,args="], { encoding: "utf8" }).stdout;
  assert.not.ok(
    ps.split("\n").some((l) => l.includes(f.runtimeDir)),
    ps,
  );
  assert.is((await withTimeout(ply(["--ping"]).result, 10_000)).code, 1, "nobody answers after the quit");
});

F("plain quit ends foyerd too", async (ctx) => {
  const f = ctx.foyerd!;
  const exited = new Promise<number | null>((r) => f.proc.once("exit", (c) => r(c)));
  assert.is((await withTimeout(ply(["quit"]).result, 20_000)).code, 0);
  assert.is(await withTimeout(exited, 20_000, "foyerd exit"), 0);
  assert.match(f.log, /plymouth: quit\b(?! --retain)/);
});

F("socket activation: systemd binds the exact-length name; clients that know only it (systemd's own senders) reach foyerd", async (ctx) => {
  await ctx.foyerd!.stop();
  ctx.foyerd!.cleanup();
  // what a foyer-plymouth.socket unit (ListenStream=@/org/freedesktop/plymouthd,
  // FileDescriptorName=plymouth) does, without systemd as PID 1
  const f = (ctx.foyerd = new Foyerd("headless", { wrap: ["systemd-socket-activate", "-l", "@/org/freedesktop/plymouthd", "--fdname=plymouth"] }));
  await f.until((l) => l.includes("Listening on @/org/freedesktop/plymouthd as 3."), 10_000, "socket bound");
  // systemd-socket-activate starts foyerd at the first connection: this ping is that one
  assert.is((await withTimeout(ply(["--ping"]).result, 30_000, "ping through activation")).code, 0);
  await f.until((l) => l.includes("serving plymouth's protocol on fd 3 (socket activation)"), 10_000, "activated");
  // systemd's plymouth_send_raw connects with the exact length and sends one request; python's
  // socket module connects the same way (Node 20 could not)
  const py = spawnSync(
    "python3",
    [
      "-c",
      "import socket\ns=socket.socket(socket.AF_UNIX)\ns.connect('\\0/org/freedesktop/plymouthd')\ns.sendall(b'M\\x02\\x18Touch your security key\\x00')\nprint(s.recv(1).hex())",
    ],
    { encoding: "utf8", timeout: 10_000 },
  );
  assert.is(py.stdout.trim(), "06", py.stderr);
  await f.until((l) => l.includes("plymouth message 'Touch your security key'"), 5_000, "message logged");
  // the padded legacy name, which systemd cannot bind, foyerd binds itself: an old client's way in
  await f.until((l) => l.includes("serving plymouth's protocol on '@/ply-boot-protocol'"), 5_000, "the legacy name bound by foyerd");
  const legacy = spawnSync(
    "python3",
    [
      "-c",
      "import socket\ns=socket.socket(socket.AF_UNIX)\ns.connect(b'\\0/ply-boot-protocol'.ljust(108, b'\\0'))\ns.sendall(b'P\\x00')\nprint(s.recv(1).hex())",
    ],
    { encoding: "utf8", timeout: 10_000 },
  );
  assert.is(legacy.stdout.trim(), "06", legacy.stderr);
});

F.run();
