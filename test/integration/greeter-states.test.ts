// Disks as people set them up, through the real greeter: systemd-cryptsetup's TPM2 PIN request
// (asked by the real systemd-ask-password, with a deadline) labelled as a PIN and counted down, a
// wrong PIN said to be wrong, a recovery key labelled as one, and a security token's Plymouth
// message shown as a wait; axe finds nothing in any of them. Headless stack: a real foyerd,
// Debian's plymouth client and chromium via playwright, in a private network namespace (the
// plymouth client only knows the abstract socket name: test/helpers/netns.ts).
import { runInPrivateNetns } from "../helpers/netns.js";
runInPrivateNetns(import.meta.url);

import { pageSuite, type PageCtx } from "../helpers/greeter-page.js";
import * as assert from "uvu/assert";
import { type Page, type Locator } from "playwright-core";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { audit, serious } from "../helpers/axe.js";
import { ply, killClients } from "../helpers/plymouth.js";
import { Foyerd, askPassword, requirePrivateAskDir, requireTool, withTimeout, top } from "../helpers/index.js";

requireTool("systemd-ask-password", "systemd");
requireTool("plymouth", "plymouth");
requireTool("chromium", "chromium");
requireTool("unshare", "util-linux");
requirePrivateAskDir();

const dir = mkdtempSync(join(tmpdir(), "foyer-states-"));
const docs = process.env.FOYER_UPDATE_DOCS ? join(top, "docs") : dir;
const PIN_LABEL = "Enter the PIN to unlock this disk";

type Ctx = PageCtx;
const S = pageSuite("integration/greeter-states", killClients);
S.before.each(async (ctx) => {
  const p = {
    schema: 1,
    display: { stack: "headless" },
    log: { kmsg: false },
    locale: { conf: "/nonexistent" },
    appearance: { inputDevices: join(top, "test/fixtures/input/laptop.txt") },
  };
  writeFileSync(join(dir, "profile.json"), JSON.stringify(p));
  ctx.foyerd = new Foyerd(join(dir, "profile.json"));
  await ctx.foyerd.until((l) => /serving plymouth's protocol on '@\/ply-boot-protocol'/.test(l), 20_000, "plymouth server up");
});

async function open(ctx: Ctx): Promise<Page> {
  // CSP bypassed for axe's script only (helpers/axe.ts)
  const page = await ctx.browser!.newPage({ bypassCSP: true, viewport: { width: 1024, height: 700 } });
  await page.goto(await ctx.foyerd!.url());
  return page;
}

/** The time the countdown shows, in seconds ("1:05 left" → 65). */
async function shownSeconds(timer: Locator, pattern: RegExp): Promise<number> {
  const m = pattern.exec((await timer.textContent()) ?? "");
  assert.ok(m, `countdown reads '${await timer.textContent()}'`);
  return Number(m![1]) * 60 + Number(m![2]);
}

/** What a screen reader reads as the field's description (its aria-describedby, in order). */
const description = (field: Locator) =>
  field.evaluate((el) =>
    (el.getAttribute("aria-describedby") ?? "")
      .split(" ")
      .filter(Boolean)
      .map((id) => document.getElementById(id)?.textContent ?? `(no #${id})`),
  );

S("a TPM2 PIN request: a PIN's label, systemd's words and a countdown under it; a wrong PIN is said to be one", async (ctx) => {
  const page = await open(ctx);
  // systemd-cryptsetup's PIN loop asks from one process: samePid gives both asks one PID
  const first = askPassword("Please enter TPM2 PIN:", { samePid: true, timeout: 300 });
  const field = page.getByLabel(PIN_LABEL);
  await withTimeout(field.waitFor(), 10_000, "PIN prompt");
  const form = page.locator("form.prompt");
  assert.is(await form.locator(".sent").textContent(), "Please enter TPM2 PIN:");
  // a TPM2 PIN may hold any characters: no numeric keyboard, a password field like a passphrase's
  assert.is(await field.getAttribute("inputmode"), null);
  assert.is(await field.getAttribute("type"), "password");
  const timer = form.locator(".time-left");
  await withTimeout(timer.filter({ hasText: /^\d+:\d\d left$/ }).waitFor(), 10_000, "countdown shown");
  const LEFT = /^(\d+):(\d\d) left$/;
  const before = await shownSeconds(timer, LEFT);
  assert.ok(before > 0 && before <= 300, `countdown starts at ${before} s for a 300 s timeout`);
  await withTimeout(
    page.waitForFunction((t) => document.querySelector(".time-left")?.textContent !== t, await timer.textContent()),
    10_000,
    "countdown moves",
  );
  assert.ok((await shownSeconds(timer, LEFT)) < before, "the countdown went up");
  const desc = await description(field);
  assert.is(desc[0], "Please enter TPM2 PIN:");
  assert.match(desc[1]!, LEFT);

  // a wrong PIN: the asker gets exactly the bytes typed, then asks again from the same PID
  await field.fill("12 34 ü");
  await field.press("Enter");
  assert.equal((await withTimeout(first.result, 10_000, "first asker")).out, Buffer.from("12 34 ü\n"));
  const again = askPassword("Please enter TPM2 PIN:", { samePid: true, timeout: 300 });
  const wrong = page.locator(".wrong:not([hidden])");
  await withTimeout(wrong.waitFor(), 10_000, "wrong-PIN text");
  assert.is(await wrong.textContent(), "That PIN did not work. Try again.");
  assert.not.match(await page.locator("main").innerText(), /passphrase/i);
  await withTimeout(timer.filter({ hasText: LEFT }).waitFor(), 10_000, "countdown on the new request");
  assert.equal(serious(await audit(page)), []);
  await page.screenshot({ path: join(docs, "greeter-pin.png") });

  // in German the same words, and a language switch keeps "PIN" in the wrong-PIN text
  await page.locator("#language").selectOption("de");
  const de = page.getByLabel("Geben Sie die PIN ein, um diesen Datenträger zu entsperren");
  await withTimeout(de.waitFor(), 10_000, "German PIN label");
  assert.is(await wrong.textContent(), "Diese PIN hat nicht funktioniert. Bitte erneut versuchen.");
  await withTimeout(timer.filter({ hasText: /^Noch \d+:\d\d$/ }).waitFor(), 10_000, "German countdown");
  await page.locator("#language").selectOption("en");

  await page.getByLabel(PIN_LABEL).fill("4321");
  await page.getByLabel(PIN_LABEL).press("Enter");
  assert.equal((await withTimeout(again.result, 10_000, "second asker")).out, Buffer.from("4321\n"));
  await withTimeout(form.waitFor({ state: "detached" }), 10_000, "prompt gone");
  assert.not.ok(ctx.foyerd!.log.includes("4321") || ctx.foyerd!.log.includes("12 34"), "a PIN reached foyerd's log");
  await page.close();
});

S("the countdown is told to screen readers at 10 s, not each second; at the end the request goes", async (ctx) => {
  const page = await open(ctx);
  const ask = askPassword("Please enter TPM2 PIN:", { timeout: 12 });
  const form = page.locator("form.prompt");
  const told = form.locator(".time-announce");
  await withTimeout(told.filter({ hasText: /^\d+ seconds left to answer$/ }).waitFor(), 15_000, "10 s announced");
  const said = await told.textContent();
  assert.ok(Number(said!.split(" ")[0]) <= 10, `announced '${said}' before 10 s were left`);
  // the visible countdown moves on twice; what a screen reader was told stays
  const timer = form.locator(".time-left");
  for (let i = 0; i < 2; i++)
    await withTimeout(
      page.waitForFunction((t) => document.querySelector(".time-left")?.textContent !== t, await timer.textContent()),
      5_000,
      "countdown moves",
    );
  assert.is(await told.textContent(), said);
  assert.is(await timer.getAttribute("aria-live"), "off");
  await withTimeout(form.waitFor({ state: "detached" }), 20_000, "expired request gone");
  assert.is.not((await withTimeout(ask.result, 10_000)).code, 0);
  await page.close();
});

S("a recovery key is labelled as one; a passphrase keeps systemd's words and has no countdown without NotAfter=", async (ctx) => {
  const page = await open(ctx);
  askPassword("Please enter recovery key for disk root (luks-0f1e):", { id: "cryptsetup:/dev/vda2" });
  askPassword("Please enter passphrase for disk home:", { id: "cryptsetup:/dev/vda3", timeout: 0 });
  const key = page.getByLabel("Enter the recovery key to unlock this disk");
  await withTimeout(key.waitFor(), 10_000, "recovery key prompt");
  assert.is((await description(key))[0], "Please enter recovery key for disk root (luks-0f1e):");
  const pass = page.getByLabel("Please enter passphrase for disk home:");
  await withTimeout(pass.waitFor(), 10_000, "passphrase prompt");
  assert.ok(await page.locator("form.prompt", { has: pass }).locator(".time-left").isHidden(), "a countdown with no deadline");
  assert.ok(await page.locator("form.prompt", { has: pass }).locator(".sent").isHidden());
  await page.close();
});

S("a security token's Plymouth message is a waiting state; other messages stay as sent; an empty message ends it", async (ctx) => {
  const page = await open(ctx);
  const touch = "Please confirm presence on security token to unlock.";
  assert.is((await withTimeout(ply(["display-message", "--text", "Checking the file system on /dev/vda2"]).result, 10_000)).code, 0);
  assert.is((await withTimeout(ply(["display-message", "--text", touch]).result, 10_000)).code, 0);
  const wait = page.getByRole("status").filter({ has: page.getByRole("heading", { name: "Waiting for your security key" }) });
  await withTimeout(wait.waitFor(), 10_000, "waiting state");
  assert.is(await wait.locator("p").textContent(), touch);
  const plain = page.locator("#messages > p");
  assert.equal(await plain.allTextContents(), ["Checking the file system on /dev/vda2"]);
  assert.is(await page.locator("#status").textContent(), "", "'no password needed' beside a wait for a key");
  assert.equal(serious(await audit(page)), []);
  await page.screenshot({ path: join(docs, "greeter-token.png") });
  await page.locator("#language").selectOption("fr");
  await withTimeout(page.getByRole("heading", { name: "En attente de votre clé de sécurité" }).waitFor(), 10_000, "French heading");
  // systemd ends the wait with an empty message, which blanks Plymouth's
  assert.is((await withTimeout(ply(["display-message", "--text", ""]).result, 10_000)).code, 0);
  await withTimeout(page.locator("#messages .token-wait").waitFor({ state: "detached" }), 10_000, "waiting state gone");
  await page.close();
});

S.run();
