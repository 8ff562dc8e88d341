// Unlock through the real greeter UI, headless stack: a real foyerd, a real systemd-ask-password,
// Debian's chromium driven by playwright-core typing into the password field.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { chromium, type Browser } from "playwright-core";
import WebSocket from "ws";
import { get } from "node:http";
import { Foyerd, askPassword, killAskers, requirePrivateAskDir, requireTool, withTimeout, CHROMIUM_ARGS } from "../helpers/index.js";

requireTool("systemd-ask-password", "systemd");
requireTool("chromium", "chromium");
requirePrivateAskDir();

interface Ctx {
  foyerd?: Foyerd;
  browser?: Browser;
}
const U = suite<Ctx>("integration/unlock-headless", {});

U.before(async (ctx) => {
  ctx.foyerd = new Foyerd("headless");
  ctx.browser = await withTimeout(chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS }), 30_000, "chromium launch");
});
U.after(async (ctx) => {
  killAskers();
  await ctx.browser?.close();
  await ctx.foyerd?.stop();
  ctx.foyerd?.cleanup();
});

U("the prompt's Message labels a password field; Enter sends the exact bytes", async (ctx) => {
  const url = await ctx.foyerd!.url();
  const page = await ctx.browser!.newPage();
  await page.goto(url);
  const ask = askPassword("Please enter passphrase for disk root:", { id: "cryptsetup:/dev/vda2" });
  const input = page.getByLabel("Please enter passphrase for disk root:");
  await withTimeout(input.waitFor(), 10_000, "prompt shown");
  assert.is(await input.getAttribute("type"), "password");
  await input.fill("wröng passphrase");
  await input.press("Enter");
  assert.is((await withTimeout(ask.result, 10_000)).out.toString(), "wröng passphrase\n");
  // the same Id asking again means the last answer was wrong: the greeter says so
  const again = askPassword("Please enter passphrase for disk root:", { id: "cryptsetup:/dev/vda2" });
  await withTimeout(page.locator(".wrong:not([hidden])").waitFor(), 10_000, "wrong-passphrase feedback");
  await page.getByLabel("Please enter passphrase for disk root:").fill("right one");
  await page.getByRole("button", { name: "Unlock" }).click();
  assert.is((await withTimeout(again.result, 10_000)).out.toString(), "right one\n");
  // nothing left to ask after an answer: the boot goes on (what stays on screen at switch-root)
  await withTimeout(page.locator("#status", { hasText: "Starting the system…" }).waitFor(), 10_000, "'Starting the system…' after the last answer");
  await page.close();
});

U("painted before connected: the prompt comes with the page, and what is typed before its socket opens is sent, Enter included", async (ctx) => {
  const ask = askPassword("Before the socket:");
  await ctx.foyerd!.until((l) => /password request pending/.test(l), 10_000, "the request pending");
  const page = await ctx.browser!.newPage();
  // the page's socket is held until the passphrase is typed: the paint can only come from POST /session
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  let dialled = 0;
  await page.routeWebSocket(/\/ws\?token=/, async (ws) => {
    dialled++;
    await held;
    ws.connectToServer();
  });
  await page.goto(await ctx.foyerd!.url());
  const input = page.getByLabel("Before the socket:");
  await withTimeout(input.waitFor(), 10_000, "the prompt painted with the socket held");
  assert.is(dialled, 1, "the page did not dial its socket");
  let answered = false;
  void ask.result.then(() => (answered = true));
  await input.pressSequentially("pässe 字 !");
  await input.press("Enter");
  await withTimeout(page.locator("#status", { hasText: "Checking" }).waitFor(), 10_000, "'Checking…' while the socket is held");
  assert.not.ok(answered, "answered without a socket");
  assert.is(await input.inputValue(), "pässe 字 !", "the field let go of what was typed before it was sent");
  release();
  assert.is((await withTimeout(ask.result, 10_000, "the answer")).out.toString(), "pässe 字 !\n");
  // answered: its form (the field cleared first, unlock.ts) leaves the page
  await withTimeout(input.waitFor({ state: "detached" }), 10_000, "the answered prompt gone");
  await page.close();
});

U("two prompts answered before the socket opens: each answer reaches its own asker", async (ctx) => {
  const a = askPassword("First disk:");
  const b = askPassword("Second disk:");
  const page = await ctx.browser!.newPage();
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  await page.routeWebSocket(/\/ws\?token=/, async (ws) => {
    await held;
    ws.connectToServer();
  });
  await page.goto(await ctx.foyerd!.url());
  await withTimeout(page.locator("form.prompt").nth(1).waitFor(), 10_000, "both prompts painted with the socket held");
  await page.getByLabel("First disk:").fill("one");
  await page.getByLabel("First disk:").press("Enter");
  await page.getByLabel("Second disk:").fill("two");
  await page.getByLabel("Second disk:").press("Enter");
  release();
  assert.is((await withTimeout(a.result, 10_000, "the first answer")).out.toString(), "one\n");
  assert.is((await withTimeout(b.result, 10_000, "the second answer")).out.toString(), "two\n");
  await page.close();
});

U("a reconnecting greeter receives the full state: the same prompts", async (ctx) => {
  const url = await ctx.foyerd!.url();
  const a = askPassword("Disk A:");
  const b = askPassword("Disk B:");
  const p1 = await ctx.browser!.newPage();
  await p1.goto(url);
  await withTimeout(p1.locator("form.prompt").nth(1).waitFor(), 10_000, "two prompts");
  const labels1 = await p1.locator("label.message").allTextContents();
  await p1.close(); // the greeter dies
  const p2 = await ctx.browser!.newPage();
  await p2.goto(url);
  await withTimeout(p2.locator("form.prompt").nth(1).waitFor(), 10_000, "two prompts again");
  assert.equal((await p2.locator("label.message").allTextContents()).sort(), labels1.sort());
  await p2.getByLabel("Disk B:").fill("bee");
  await p2.getByLabel("Disk B:").press("Enter");
  await p2.getByLabel("Disk A:").fill("ay");
  await p2.getByLabel("Disk A:").press("Enter");
  assert.is((await withTimeout(a.result, 10_000)).out.toString(), "ay\n");
  assert.is((await withTimeout(b.result, 10_000)).out.toString(), "bee\n");
  await p2.close();
});

U("caps lock warning and show/hide", async (ctx) => {
  const page = await ctx.browser!.newPage();
  await page.goto(await ctx.foyerd!.url());
  const ask = askPassword("Caps:");
  const input = page.getByLabel("Caps:");
  await withTimeout(input.waitFor(), 10_000);
  // CDP's synthetic keys carry no lock state: dispatch a keydown that reports Caps Lock on
  await input.evaluate((el) => el.dispatchEvent(new KeyboardEvent("keydown", { key: "A", modifierCapsLock: true } as KeyboardEventInit)));
  await withTimeout(page.locator(".caps:not([hidden])").waitFor(), 5_000, "caps lock warning");
  await input.evaluate((el) => el.dispatchEvent(new KeyboardEvent("keyup", { key: "a" })));
  await withTimeout(page.locator(".caps[hidden]").waitFor({ state: "attached" }), 5_000, "caps lock warning gone");
  await page.getByRole("button", { name: "Show" }).click();
  assert.is(await input.getAttribute("type"), "text");
  await page.getByRole("button", { name: "Hide" }).click();
  assert.is(await input.getAttribute("type"), "password");
  ask.proc.kill();
  await page.close();
});

function wsOpen(url: string, headers: Record<string, string>): Promise<number | "open"> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.on("open", () => {
      ws.close();
      resolve("open");
    });
    ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
    ws.on("error", () => resolve(0));
  });
}

U("bad tokens, foreign origins and wrong hosts are refused with 403", async (ctx) => {
  const url = new URL(await ctx.foyerd!.url());
  const token = new URLSearchParams(url.hash.slice(1)).get("token")!;
  const ws = `ws://${url.host}/ws?token=`;
  const origin = `http://${url.host}`;
  assert.is(await wsOpen(ws + token, { Origin: origin }), "open");
  // one character changed: the first one, to another (a fixed "x" is the token itself when it starts with x)
  assert.is(await wsOpen(ws + (token[0] === "x" ? "y" : "x") + token.slice(1), { Origin: origin }), 403);
  assert.is(await wsOpen(ws, { Origin: origin }), 403);
  assert.is(await wsOpen(ws + token, { Origin: "http://evil.example" }), 403);
  assert.is(await wsOpen(ws + token, {}), 403);
  // DNS rebinding: a page served under another name that resolves to 127.0.0.1
  const status = await new Promise<number>((resolve) =>
    get({ host: "127.0.0.1", port: Number(url.port), path: "/", headers: { Host: `evil.example:${url.port}` } }, (res) => resolve(res.statusCode ?? 0)).on(
      "error",
      () => resolve(0),
    ),
  );
  assert.is(status, 403);
});

U("malformed frames get an error, the connection and the daemon go on", async (ctx) => {
  const url = new URL(await ctx.foyerd!.url());
  const token = new URLSearchParams(url.hash.slice(1)).get("token")!;
  const ws = new WebSocket(`ws://${url.host}/ws?token=${token}`, { headers: { Origin: `http://${url.host}` } });
  const msgs: { type: string; code?: string }[] = [];
  ws.on("message", (d) => msgs.push(JSON.parse(d.toString())));
  await withTimeout(new Promise((r) => ws.on("open", r)), 5_000);
  const frames: (string | Buffer)[] = [
    "{",
    "[]",
    '{"type":"answer","passphrase":"x"}',
    '{"type":"cancel","key":"1"}',
    Buffer.from([9, 9]),
    Buffer.from([1, 0, 0]),
    Buffer.from([1, 0, 0, 0, 99, 65]),
  ];
  for (const f of frames) ws.send(f, { binary: Buffer.isBuffer(f) });
  await withTimeout(
    (async () => {
      while (msgs.filter((m) => m.type === "error").length < frames.length) await new Promise((r) => setTimeout(r, 20));
    })(),
    5_000,
    "error replies",
  );
  assert.ok(msgs.filter((m) => m.type === "error").every((m) => m.code === "protocol-error" || m.code === "not-found"));
  // an oversized frame closes that connection only
  const closed = new Promise<number>((r) => ws.on("close", (c) => r(c)));
  ws.send(Buffer.alloc(70 * 1024));
  assert.is(await withTimeout(closed, 5_000), 1009);
  // the daemon still answers
  const ask = askPassword("Still alive?");
  const page = await ctx.browser!.newPage();
  await page.goto(url.href);
  await page.getByLabel("Still alive?").fill("yes");
  await page.getByLabel("Still alive?").press("Enter");
  assert.is((await withTimeout(ask.result, 10_000)).out.toString(), "yes\n");
  assert.is(ctx.foyerd!.proc.exitCode, null);
  assert.not.ok(ctx.foyerd!.log.includes("yes\n"), "the passphrase reached a log");
  await page.close();
});

U.run();
