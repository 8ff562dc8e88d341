// Themes: a folder in assets/themes/ chosen by the profile. The daylight theme's colours, logo
// and background apply and pass axe's contrast checks; a theme folder that does not exist leaves
// the built-in colours (style.css) in place rather than an unstyled page.
import { pageSuite } from "../helpers/greeter-page.js";
import * as assert from "uvu/assert";
import { type Browser, type Page } from "playwright-core";
import { createRequire } from "node:module";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Foyerd, askPassword, requirePrivateAskDir, requireTool, withTimeout, top } from "../helpers/index.js";

requireTool("systemd-ask-password", "systemd");
requireTool("chromium", "chromium");
requirePrivateAskDir();

const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
const dir = mkdtempSync(join(tmpdir(), "foyer-theme-"));
const docs = process.env.FOYER_UPDATE_DOCS ? join(top, "docs") : dir;

function foyerd(theme: string): Foyerd {
  const p = {
    schema: 1,
    display: { stack: "headless" },
    log: { kmsg: false },
    locale: { conf: "/nonexistent" },
    appearance: { theme, inputDevices: join(top, "test/fixtures/input/laptop.txt") },
  };
  writeFileSync(join(dir, `${theme}.json`), JSON.stringify(p));
  return new Foyerd(join(dir, `${theme}.json`));
}

const T = pageSuite("integration/greeter-theme");

async function open(ctx: { browser?: Browser; foyerd?: Foyerd }): Promise<Page> {
  const c = await ctx.browser!.newContext({ bypassCSP: true, viewport: { width: 1024, height: 700 } });
  const page = await c.newPage();
  await page.goto(await ctx.foyerd!.url());
  return page;
}

const bg = (page: Page) => page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue("--bg").trim());

T("daylight: its colours, its logo, and no serious axe violations (contrast included)", async (ctx) => {
  ctx.foyerd = foyerd("daylight");
  const page = await open(ctx);
  askPassword("Please enter passphrase for disk root:");
  await withTimeout(page.getByLabel("Please enter passphrase for disk root:").waitFor(), 10_000, "prompt");
  await withTimeout(
    page.waitForFunction(() => getComputedStyle(document.documentElement).getPropertyValue("--bg").trim() === "#eef1f5"),
    10_000,
    "theme applied",
  );
  // the theme's logo replaces the built-in icon
  assert.match(await page.evaluate(() => getComputedStyle(document.querySelector(".brand")!, "::before").backgroundImage), /themes\/daylight\/logo\.svg/);
  assert.is(await page.locator("#unlock-view .logo").isVisible(), false);
  await page.addScriptTag({ path: AXE });
  const bad = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (d: Document, o: object) => Promise<{ violations: { id: string; impact: string }[] }> } }).axe;
    const r = await axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "best-practice"] } });
    return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => v.id);
  });
  assert.equal(bad, []);
  await page.screenshot({ path: join(docs, "greeter-daylight.png") });
  await page.close();
});

T("a theme folder that is not there: the built-in colours stay", async (ctx) => {
  ctx.foyerd = foyerd("nosuch");
  const page = await open(ctx);
  await withTimeout(page.locator("#status", { hasText: "No password" }).waitFor(), 10_000);
  assert.is(await page.locator("#theme-css").getAttribute("href"), "/themes/nosuch/theme.css");
  assert.is(await bg(page), "#1d2330");
  await page.close();
});

T.run();
