// Accessibility of the real greeter: an axe-core audit (no serious or critical violations) of the
// unlock and recovery screens in every mode, keyboard-only use, visible focus, the high-contrast,
// large-text and reduced-motion modes from the profile and from the greeter's toggles.
// Headless stack: a real foyerd and systemd-ask-password; Debian's chromium via playwright.
import { pageSuite } from "../helpers/greeter-page.js";
import * as assert from "uvu/assert";
import { type Browser, type Page } from "playwright-core";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { audit, serious } from "../helpers/axe.js";
import { Foyerd, askPassword, requirePrivateAskDir, requireTool, withTimeout, top } from "../helpers/index.js";

requireTool("systemd-ask-password", "systemd");
requireTool("chromium", "chromium");
requirePrivateAskDir();

const dir = mkdtempSync(join(tmpdir(), "foyer-a11y-"));
const docs = process.env.FOYER_UPDATE_DOCS ? join(top, "docs") : dir;

function foyerd(name: string, extra: Record<string, unknown> = {}, args: string[] = []): Foyerd {
  const appearance = { inputDevices: join(top, "test/fixtures/input/laptop.txt"), ...(extra.appearance as object | undefined) };
  const p = { schema: 1, display: { stack: "headless" }, log: { kmsg: false }, locale: { conf: "/nonexistent" }, ...extra, appearance };
  writeFileSync(join(dir, `${name}.json`), JSON.stringify(p));
  return new Foyerd(join(dir, `${name}.json`), { extraArgs: args });
}

const A = pageSuite("integration/greeter-a11y");

async function open(
  ctx: { browser?: Browser; foyerd?: Foyerd },
  opts: { reducedMotion?: "reduce" | "no-preference"; contrast?: "more" | "no-preference" } = {},
): Promise<Page> {
  const c = await ctx.browser!.newContext({
    bypassCSP: true,
    viewport: { width: 1024, height: 760 },
    ...(opts.reducedMotion ? { reducedMotion: opts.reducedMotion } : {}),
    ...(opts.contrast ? { contrast: opts.contrast } : {}),
  });
  const page = await c.newPage();
  await page.goto(await ctx.foyerd!.url());
  return page;
}

A("the unlock screen passes axe in English, Arabic, high contrast + large text, and with the on-screen keyboard", async (ctx) => {
  ctx.foyerd = foyerd("modes", { appearance: { osk: "off" } });
  const page = await open(ctx);
  askPassword("Please enter passphrase for disk root:", { id: "cryptsetup:/dev/vda2" });
  await withTimeout(page.getByLabel("Please enter passphrase for disk root:").waitFor(), 10_000, "prompt");
  const report: Record<string, string[]> = {};
  report.english = serious(await audit(page));
  // each mode through the greeter's own controls, as a person would switch it
  await page.locator("#language").selectOption("ar");
  await withTimeout(page.locator("html[dir=rtl]").waitFor({ state: "attached" }), 10_000);
  report.arabic = serious(await audit(page));
  await page.locator("#language").selectOption("en");
  await page.getByRole("button", { name: "High contrast" }).click();
  await page.getByRole("button", { name: "Large text" }).click();
  await withTimeout(page.locator("html.high-contrast.large-text").waitFor({ state: "attached" }), 10_000);
  report.contrast = serious(await audit(page));
  await page.screenshot({ path: join(docs, "greeter-high-contrast.png") });
  await page.getByRole("button", { name: "High contrast" }).click();
  await page.getByRole("button", { name: "Large text" }).click();
  await page.getByRole("button", { name: "On-screen keyboard" }).click();
  await withTimeout(page.locator("#osk:not([hidden])").waitFor(), 10_000);
  report.osk = serious(await audit(page));
  await page.getByRole("button", { name: /^Keyboard:/ }).click();
  await withTimeout(page.locator("#kb-layout option[value=de]").waitFor({ state: "attached" }), 10_000, "layouts listed");
  report.layoutPanel = serious(await audit(page));
  assert.equal(report, { english: [], arabic: [], contrast: [], osk: [], layoutPanel: [] });
  await page.close();
});

A("the recovery screen passes axe", async (ctx) => {
  ctx.foyerd = foyerd("recovery", {}, ["--recovery", "fsck failed on /dev/vda2 (exit code 4)"]);
  const page = await open(ctx);
  await withTimeout(page.locator("#recovery-reason", { hasText: "fsck failed" }).waitFor(), 15_000, "recovery shown");
  assert.equal(serious(await audit(page)), []);
  await page.getByRole("button", { name: "High contrast" }).click();
  await withTimeout(page.locator("html.high-contrast").waitFor({ state: "attached" }), 10_000);
  assert.equal(serious(await audit(page)), []);
  await page.close();
});

A("the audit can fail: a field without a label is reported (guards the audit itself)", async (ctx) => {
  ctx.foyerd = foyerd("guard");
  const page = await open(ctx);
  await withTimeout(page.locator("#status", { hasText: "No password" }).waitFor(), 10_000);
  await page.evaluate(() => document.getElementById("prompts")!.append(Object.assign(document.createElement("input"), { type: "password" })));
  assert.ok(
    serious(await audit(page)).some((v) => v.startsWith("label")),
    "axe missed an unlabelled field",
  );
  await page.close();
});

A("keyboard only: the field has the focus, Tab goes field → Show → Unlock → the layout button; Enter submits", async (ctx) => {
  ctx.foyerd = foyerd("keys");
  const page = await open(ctx);
  const ask = askPassword("Disk:");
  const input = page.getByLabel("Disk:");
  await withTimeout(input.waitFor(), 10_000, "prompt");
  await withTimeout(
    page.waitForFunction(() => document.activeElement?.classList.contains("secret")),
    5_000,
    "focus in the field",
  );
  const focused = () =>
    page.evaluate(() => {
      const a = document.activeElement as HTMLElement;
      return a.getAttribute("aria-label") ?? (a.tagName === "INPUT" ? `input:${a.id}` : a.textContent?.trim());
    });
  const order = [await focused()];
  for (let i = 0; i < 5; i++) {
    await page.keyboard.press("Tab");
    order.push(await focused());
  }
  assert.match(order[0]!, /^input:secret-\d+$/);
  assert.equal(order.slice(1), ["Show", "Unlock", "Keyboard: us", "On-screen keyboard", "High contrast"]);
  // every stop shows where the focus is: a visible outline of at least 2 px
  for (let i = 0; i < 6; i++) {
    const w = await page.evaluate(() => {
      const s = getComputedStyle(document.activeElement!);
      return s.outlineStyle === "none" ? 0 : parseFloat(s.outlineWidth);
    });
    assert.ok(w >= 2, `focus stop ${i} ('${await focused()}') has no visible outline`);
    await page.keyboard.press("Shift+Tab");
  }
  // Space toggles a focused switch; the daemon answers with the new state
  await page.getByRole("button", { name: "High contrast" }).focus();
  await page.keyboard.press("Space");
  await withTimeout(page.locator("html.high-contrast").waitFor({ state: "attached" }), 10_000, "high contrast by keyboard");
  assert.is(await page.getByRole("button", { name: "High contrast" }).getAttribute("aria-pressed"), "true");
  // the layout panel opens with Enter, takes the focus, and Escape gives it back
  await page.getByRole("button", { name: /^Keyboard:/ }).focus();
  await page.keyboard.press("Enter");
  await withTimeout(
    page.waitForFunction(() => document.activeElement?.id === "kb-layout"),
    5_000,
    "focus in the panel",
  );
  await page.keyboard.press("Escape");
  await withTimeout(
    page.waitForFunction(() => document.activeElement?.id === "kb-button"),
    5_000,
    "focus back on the button",
  );
  assert.ok(await page.locator("#kb-panel").isHidden());
  await input.focus();
  await page.keyboard.type("typed with keys");
  await page.keyboard.press("Enter");
  assert.is((await withTimeout(ask.result, 10_000)).out.toString(), "typed with keys\n");
  await page.close();
});

A("profile defaults: high contrast, large text and reduced motion from the start; a new greeter keeps toggles", async (ctx) => {
  ctx.foyerd = foyerd("defaults", { appearance: { highContrast: true, largeText: true, reducedMotion: true } });
  const page = await open(ctx, { reducedMotion: "no-preference" });
  askPassword("Disk:");
  await withTimeout(page.getByLabel("Disk:").waitFor(), 10_000, "prompt");
  assert.ok(await page.locator("html.high-contrast.large-text.reduced-motion").count());
  // large text scales the root: the field's text is bigger than at the default size
  const big = await page.evaluate(() => parseFloat(getComputedStyle(document.querySelector(".secret")!).fontSize));
  // reduced motion from the profile stops the prompt's transition even though the system allows motion
  assert.is(await page.evaluate(() => getComputedStyle(document.querySelector(".prompt")!).transitionDuration), "0s");
  await page.getByRole("button", { name: "Large text" }).click();
  await withTimeout(page.locator("html:not(.large-text)").waitFor({ state: "attached" }), 10_000);
  const normal = await page.evaluate(() => parseFloat(getComputedStyle(document.querySelector(".secret")!).fontSize));
  assert.ok(big >= normal * 1.3, `large text ${big}px vs ${normal}px`);
  // the toggle lives in the daemon: a restarted browser comes back the same way
  await page.close();
  const again = await open(ctx);
  await withTimeout(again.getByLabel("Disk:").waitFor(), 10_000);
  assert.ok(await again.locator("html.high-contrast:not(.large-text)").count());
  await again.close();
});

A("the system's prefers-reduced-motion stops transitions without any profile setting", async (ctx) => {
  ctx.foyerd = foyerd("motion");
  const moving = await open(ctx, { reducedMotion: "no-preference" });
  askPassword("Disk:");
  await withTimeout(moving.getByLabel("Disk:").waitFor(), 10_000);
  assert.is.not(await moving.evaluate(() => getComputedStyle(document.querySelector(".prompt")!).transitionDuration), "0s");
  const still = await open(ctx, { reducedMotion: "reduce" });
  await withTimeout(still.getByLabel("Disk:").waitFor(), 10_000);
  assert.is(await still.evaluate(() => getComputedStyle(document.querySelector(".prompt")!).transitionDuration), "0s");
  await moving.close();
  await still.close();
});

A("a browser that prefers more contrast gets the high-contrast mode without the toggle", async (ctx) => {
  ctx.foyerd = foyerd("prefers");
  const plain = await open(ctx, { contrast: "no-preference" });
  await withTimeout(plain.locator("#status", { hasText: "No password" }).waitFor(), 10_000);
  assert.is(await plain.locator("html.high-contrast").count(), 0);
  const more = await open(ctx, { contrast: "more" });
  await withTimeout(more.locator("#status", { hasText: "No password" }).waitFor(), 10_000);
  assert.is(await more.locator("html.high-contrast").count(), 1);
  await plain.close();
  await more.close();
});

A.run();
