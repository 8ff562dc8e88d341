// The on-screen keyboard in the real greeter: shown by itself on a tablet (touch screen, no
// keyboard, from a recorded /proc/bus/input/devices), hidden on a laptop; it follows the layout;
// clicking its keys types a passphrase that systemd-ask-password receives byte for byte.
import { pageSuite } from "../helpers/greeter-page.js";
import * as assert from "uvu/assert";
import { type Browser, type Page } from "playwright-core";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Foyerd, askPassword, requirePrivateAskDir, requireTool, withTimeout, top } from "../helpers/index.js";
import { makeScratchRoot, removeScratchRoot } from "../helpers/scratch-root.js";

requireTool("systemd-ask-password", "systemd");
requireTool("chromium", "chromium");
requirePrivateAskDir();

const dir = mkdtempSync(join(tmpdir(), "foyer-osk-"));
const docs = process.env.FOYER_UPDATE_DOCS ? join(top, "docs") : dir;

function foyerd(name: string, devices: string, layout = "us", appearance: Record<string, unknown> = {}, args: string[] = []): Foyerd {
  writeFileSync(join(dir, `${name}.vconsole.conf`), `XKBLAYOUT=${layout}\n`);
  const p = {
    schema: 1,
    display: { stack: "headless" },
    log: { kmsg: false },
    locale: { conf: "/nonexistent" },
    keyboard: { vconsole: join(dir, `${name}.vconsole.conf`) },
    appearance: { inputDevices: join(top, "test/fixtures/input", devices), ...appearance },
  };
  writeFileSync(join(dir, `${name}.json`), JSON.stringify(p));
  return new Foyerd(join(dir, `${name}.json`), { extraArgs: args });
}

const O = pageSuite("integration/greeter-osk");

async function open(ctx: { browser?: Browser; foyerd?: Foyerd }): Promise<Page> {
  // a tablet-sized touch viewport: what the OSK is for
  const c = await ctx.browser!.newContext({ viewport: { width: 1024, height: 768 }, hasTouch: true });
  const page = await c.newPage();
  await page.goto(await ctx.foyerd!.url());
  return page;
}

const key = (page: Page, label: string) => page.locator("#osk").getByRole("button", { name: label, exact: true });

/**
 * Types `text` by clicking the OSK's keys as a person would: the key showing the character, else
 * Shift then that key, else AltGr then that key. It knows nothing of the key maps, so a key that
 * shows one character and types another fails the byte comparison.
 */
async function typeOnOsk(page: Page, text: string): Promise<void> {
  const names: Record<string, string> = { " ": "Space" };
  for (const ch of text) {
    const label = names[ch] ?? ch;
    if ((await key(page, label).count()) === 1) {
      await key(page, label).click();
      continue;
    }
    let found = false;
    for (const mod of ["Shift", "AltGr"]) {
      if ((await key(page, mod).count()) === 0) continue;
      await key(page, mod).click();
      if ((await key(page, label).count()) === 1) {
        await key(page, label).click();
        found = true;
        break;
      }
      await key(page, mod).click(); // not on this layer: back
    }
    assert.ok(found, `no key for '${ch}'`);
  }
}

O("auto: a tablet (touch screen, no keyboard) gets the OSK; a laptop and a tablet with its keyboard cover do not", async (ctx) => {
  for (const [devices, shown] of [
    ["tablet.txt", true],
    ["laptop.txt", false],
    ["tablet-with-keyboard.txt", false],
  ] as const) {
    ctx.foyerd = foyerd(devices, devices);
    const page = await open(ctx);
    await withTimeout(page.locator("#status", { hasText: "No password" }).waitFor(), 10_000);
    assert.is(await page.locator("#osk").isVisible(), shown, devices);
    assert.is(await page.getByRole("button", { name: "On-screen keyboard" }).getAttribute("aria-pressed"), String(shown));
    await page.close();
    await ctx.foyerd.stop();
    ctx.foyerd.cleanup();
    ctx.foyerd = undefined;
  }
});

O("German layout: the OSK shows QWERTZ, and clicking keys types a passphrase the asker receives byte-exact", async (ctx) => {
  ctx.foyerd = foyerd("de", "tablet.txt", "de");
  const page = await open(ctx);
  const ask = askPassword("Please enter passphrase for disk root:");
  const input = page.getByLabel("Please enter passphrase for disk root:");
  await withTimeout(input.waitFor(), 10_000, "prompt");
  assert.is(await page.locator("#osk").getAttribute("data-layout"), "de");
  assert.is((await page.locator("#osk .osk-row").nth(1).innerText()).replace(/\s+/g, ""), "qwertzuiopü+");
  const secret = "Zürich-Straße 7 @€\\ÄÖ";
  await typeOnOsk(page, secret.slice(0, 10));
  await page.screenshot({ path: join(docs, "greeter-osk.png") });
  await typeOnOsk(page, secret.slice(10) + "x");
  await key(page, "Backspace").click(); // takes back the x
  // the keys never took the focus: the caret stayed in the field
  assert.ok(await input.evaluate((el) => el === document.activeElement));
  await key(page, "Enter").click();
  assert.equal((await withTimeout(ask.result, 10_000)).out, Buffer.from(secret + "\n", "utf8"));
  await page.close();
});

O("the OSK follows a layout switch (us → fr), and the toggle hides it; a profile can force it on", async (ctx) => {
  ctx.foyerd = foyerd("on", "laptop.txt", "us", { osk: "on" });
  const page = await open(ctx);
  const ask = askPassword("Disk:");
  await withTimeout(page.getByLabel("Disk:").waitFor(), 10_000, "prompt");
  assert.ok(await page.locator("#osk").isVisible(), "profile osk=on shows it despite the keyboard");
  assert.is((await page.locator("#osk .osk-row").nth(1).innerText()).replace(/\s+/g, ""), "qwertyuiop[]\\");
  await page.getByRole("button", { name: /^Keyboard:/ }).click();
  await withTimeout(page.locator('#kb-layout option[value="fr"]').waitFor({ state: "attached" }), 10_000);
  await page.locator("#kb-layout").selectOption("fr");
  await page.getByRole("button", { name: "Use this layout" }).click();
  await withTimeout(page.locator('#osk[data-layout="fr"]').waitFor(), 10_000, "AZERTY");
  assert.is((await page.locator("#osk .osk-row").nth(1).innerText()).replace(/\s+/g, ""), "azertyuiop^$");
  await page.getByLabel("Disk:").focus();
  await typeOnOsk(page, "é@ù%");
  await key(page, "Enter").click();
  assert.equal((await withTimeout(ask.result, 10_000)).out, Buffer.from("é@ù%\n", "utf8"));
  await page.getByRole("button", { name: "On-screen keyboard" }).click();
  await withTimeout(page.locator("#osk").waitFor({ state: "hidden" }), 10_000, "OSK hidden by the toggle");
  await page.close();
});

O("the first-boot form: OSK keys type into the focused field (text and password); the layout button leads to the form's own field", async (ctx) => {
  const root = makeScratchRoot();
  try {
    ctx.foyerd = foyerd("fb", "tablet.txt", "us", {}, ["--firstboot-root", root]);
    const page = await open(ctx);
    await withTimeout(page.locator("#firstboot-view").waitFor(), 10_000, "first-boot form");
    assert.ok(await page.locator("#osk").isVisible());
    await page.getByLabel("Login name").focus();
    await typeOnOsk(page, "ada");
    await page.getByLabel("Password", { exact: true }).focus();
    await typeOnOsk(page, "Pferd 1!");
    assert.is(await page.getByLabel("Login name").inputValue(), "ada");
    assert.is(await page.getByLabel("Password", { exact: true }).inputValue(), "Pferd 1!");
    // the footer's layout button leads to the form's own layout field (no cage restart mid-form)
    await page.getByRole("button", { name: /^Keyboard:/ }).click();
    assert.ok(await page.locator("#fb-layout").evaluate((el) => el === document.activeElement));
    assert.ok(await page.locator("#kb-panel").isHidden());
    await page.close();
  } finally {
    removeScratchRoot(root);
  }
});

O.run();
