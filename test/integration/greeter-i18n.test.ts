// Translations through the real greeter: the language comes from locale.conf, the profile or the
// kernel command line; Arabic lays the page out right to left; systemd's prompt stays as sent.
// Headless stack: a real foyerd, a real systemd-ask-password, Debian's chromium via playwright.
import { pageSuite } from "../helpers/greeter-page.js";
import * as assert from "uvu/assert";
import { type Browser, type Page } from "playwright-core";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Foyerd, askPassword, requirePrivateAskDir, requireTool, withTimeout, top } from "../helpers/index.js";

requireTool("systemd-ask-password", "systemd");
requireTool("chromium", "chromium");
requirePrivateAskDir();

const dir = mkdtempSync(join(tmpdir(), "foyer-i18n-"));
const docs = process.env.FOYER_UPDATE_DOCS ? join(top, "docs") : dir;

/** A headless foyerd whose initrd says LANG=`lang` in locale.conf; `profile` merged on top. */
function foyerd(name: string, lang: string | null, extra: Record<string, unknown> = {}, args: string[] = []): Foyerd {
  const conf = join(dir, `${name}.locale.conf`);
  writeFileSync(conf, lang ? `LANG=${lang}\n` : "");
  const p = {
    schema: 1,
    display: { stack: "headless" },
    log: { kmsg: false },
    locale: { conf },
    appearance: { inputDevices: join(top, "test/fixtures/input/laptop.txt") },
    ...extra,
  };
  writeFileSync(join(dir, `${name}.json`), JSON.stringify(p));
  return new Foyerd(join(dir, `${name}.json`), { extraArgs: args });
}

const I = pageSuite("integration/greeter-i18n");

async function open(ctx: { browser?: Browser; foyerd?: Foyerd }): Promise<Page> {
  const page = await ctx.browser!.newPage({ viewport: { width: 1024, height: 700 } });
  await page.goto(await ctx.foyerd!.url());
  return page;
}

I("LANG=de_DE.UTF-8 in locale.conf: German screen, html lang=de; the prompt stays as systemd sent it", async (ctx) => {
  ctx.foyerd = foyerd("de", "de_DE.UTF-8");
  const page = await open(ctx);
  const ask = askPassword("Please enter passphrase for disk root:", { id: "cryptsetup:/dev/vda2" });
  const input = page.getByLabel("Please enter passphrase for disk root:");
  await withTimeout(input.waitFor(), 10_000, "prompt shown");
  assert.is(await page.locator("html").getAttribute("lang"), "de");
  assert.is(await page.locator("html").getAttribute("dir"), "ltr");
  assert.is(await page.locator("h1#title").textContent(), "Entsperren");
  await page.getByRole("button", { name: "Zeigen" }).waitFor();
  assert.is(await page.getByRole("button", { name: "Entsperren" }).count(), 1);
  assert.is(await page.getByRole("button", { name: "Hoher Kontrast" }).count(), 1);
  assert.is(await page.getByRole("button", { name: "Tastatur: us" }).count(), 1);
  // no English left in what a person reads (the prompt is systemd's and stays English)
  const text = (await page.locator("main").innerText()).replace("Please enter passphrase for disk root:", "");
  for (const english of ["Unlock", "Show", "High contrast", "Large text", "Language", "Keyboard"])
    assert.not.ok(text.includes(english), `'${english}' left untranslated`);
  await page.screenshot({ path: join(docs, "greeter-de.png") });
  await input.fill("geheim");
  await input.press("Enter");
  assert.is((await withTimeout(ask.result, 10_000)).out.toString(), "geheim\n");
  // the same Id asking again: the wrong-passphrase feedback, in German too
  const again = askPassword("Please enter passphrase for disk root:", { id: "cryptsetup:/dev/vda2" });
  await withTimeout(page.locator(".wrong:not([hidden])").waitFor(), 10_000, "wrong-passphrase feedback");
  assert.is(await page.locator(".wrong").textContent(), "Diese Passphrase hat nicht funktioniert. Bitte erneut versuchen.");
  again.proc.kill();
  await page.close();
});

I("rd.foyer.lang=ar_EG.UTF-8 on the kernel command line wins over locale.conf: Arabic, right to left, mirrored", async (ctx) => {
  const cmdline = join(dir, "cmdline");
  writeFileSync(cmdline, "quiet rd.foyer.lang=ar_EG.UTF-8\n");
  ctx.foyerd = foyerd("ar", "de_DE.UTF-8", {}, ["--cmdline", cmdline]);
  const page = await open(ctx);
  const ask = askPassword("Please enter passphrase for disk root:");
  const input = page.getByLabel("Please enter passphrase for disk root:");
  await withTimeout(input.waitFor(), 10_000, "prompt shown");
  assert.is(await page.locator("html").getAttribute("dir"), "rtl");
  assert.is(await page.locator("html").getAttribute("lang"), "ar");
  const submit = page.getByRole("button", { name: "فتح القفل" });
  const show = page.getByRole("button", { name: "إظهار" });
  // mirrored: the reveal button sits left of the field, the submit button at the left edge
  const [fieldBox, showBox, submitBox, formBox] = await Promise.all([
    input.boundingBox(),
    show.boundingBox(),
    submit.boundingBox(),
    page.locator("form.prompt").boundingBox(),
  ]);
  assert.ok(showBox!.x + showBox!.width <= fieldBox!.x, "Show is left of the field");
  assert.ok(submitBox!.x - formBox!.x < formBox!.x + formBox!.width - (submitBox!.x + submitBox!.width), "Unlock is on the left side");
  await page.screenshot({ path: join(docs, "greeter-rtl.png") });
  await input.fill("سر");
  await input.press("Enter");
  // Arabic passphrases arrive as their UTF-8 bytes
  assert.equal((await withTimeout(ask.result, 10_000)).out, Buffer.from("سر\n", "utf8"));
  await page.close();
});

I("the profile's locale.lang beats locale.conf; the language picker switches every greeter", async (ctx) => {
  ctx.foyerd = foyerd("fr", "de_DE.UTF-8", { locale: { lang: "fr_FR.UTF-8", conf: join(dir, "fr.locale.conf") } });
  const page = await open(ctx);
  await withTimeout(page.locator("#status", { hasText: "Aucun mot de passe" }).waitFor(), 10_000, "French status");
  assert.is(await page.locator("html").getAttribute("lang"), "fr");
  const other = await open(ctx);
  await withTimeout(other.locator("html[lang=fr]").waitFor({ state: "attached" }), 10_000);
  // by role: the hidden first-boot form has a field named Langue too, which getByLabel would also find
  await page.getByRole("combobox", { name: "Langue" }).selectOption("ar");
  // the daemon holds the choice: both pages (and a restarted browser) follow it
  await withTimeout(other.locator("html[dir=rtl][lang=ar]").waitFor({ state: "attached" }), 10_000, "the other page in Arabic");
  assert.is(await other.locator("#status").textContent(), "لا حاجة إلى كلمة مرور الآن.");
  await page.getByRole("combobox", { name: "اللغة" }).selectOption("en");
  await withTimeout(other.locator("html[dir=ltr][lang=en]").waitFor({ state: "attached" }), 10_000, "back to English");
  assert.is(await other.locator("#status").textContent(), "No password is needed right now.");
  await page.close();
  await other.close();
});

I("recovery in Arabic: headings and actions translated; machine output (boot log) stays left to right", async (ctx) => {
  const cmdline = join(dir, "cmdline-recovery");
  writeFileSync(cmdline, "rd.foyer.lang=ar_EG.UTF-8\n");
  ctx.foyerd = foyerd("ar-recovery", null, {}, ["--cmdline", cmdline, "--recovery", "fsck failed on /dev/vda2 (exit code 4)"]);
  const page = await open(ctx);
  await withTimeout(page.locator("#recovery-reason", { hasText: "fsck failed" }).waitFor(), 15_000, "recovery shown");
  assert.is(await page.locator("#recovery-view h1").textContent(), "الاسترداد");
  assert.is(await page.getByRole("button", { name: "إعادة التشغيل" }).count(), 1);
  assert.is(await page.locator("#journal").evaluate((el) => getComputedStyle(el).direction), "ltr");
  assert.is(await page.locator("#recovery-view h2#journal-title").evaluate((el) => getComputedStyle(el).direction), "rtl");
  await page.close();
});

I("a locale without a catalogue (ja_JP.UTF-8) shows English, still marked lang=en", async (ctx) => {
  ctx.foyerd = foyerd("ja", "ja_JP.UTF-8");
  const page = await open(ctx);
  await withTimeout(page.locator("#status", { hasText: "No password is needed right now." }).waitFor(), 10_000);
  assert.is(await page.locator("html").getAttribute("lang"), "en");
  await page.close();
});

I.run();
