// The layout switcher against real display servers. On X (Xvfb), switching to German from the
// greeter's own control makes a real key event — xdotool pressing the physical Y key (keycode 29)
// — type 'z' into the password field, and the asker receives it. Under cage (headless wlroots
// backend) the switch restarts the greeter with XKB_DEFAULT_LAYOUT=de and the prompt survives.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import type { Page } from "playwright-core";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Foyerd, askPassword, killAskers, pollUntil, requirePrivateAskDir, requireTool, withTimeout, top, connectGreeter } from "../helpers/index.js";

requireTool("Xvfb", "xvfb");
requireTool("setxkbmap", "x11-xkb-utils");
requireTool("xdotool", "xdotool");
requireTool("cage", "cage");
requireTool("chromium", "chromium");
requireTool("systemd-ask-password", "systemd");
requirePrivateAskDir();

const dir = mkdtempSync(join(tmpdir(), "foyer-kbd-"));
// ports of their own: other suites' greeters (9333, 9334) may be running at the same time
const X_PORT = 9344;
const W_PORT = 9343;

function foyerd(name: string, base: string, port: number, o: { vconsole?: string; inputDevices?: string } = {}): Foyerd {
  writeFileSync(join(dir, "vconsole.conf"), o.vconsole ?? "KEYMAP=us\nXKBLAYOUT=us\n");
  const p = JSON.parse(readFileSync(join(top, "profiles", base), "utf8"));
  p.greeter = { ...p.greeter, debugPort: port };
  p.keyboard = { vconsole: join(dir, "vconsole.conf") };
  p.locale = { conf: "/nonexistent" };
  p.appearance = { inputDevices: o.inputDevices ?? join(top, "test/fixtures/input/laptop.txt") };
  writeFileSync(join(dir, `${name}.json`), JSON.stringify(p));
  return new Foyerd(join(dir, `${name}.json`));
}

/**
 * Picks a layout in the greeter's panel, as a person would. Under cage the click kills the very
 * browser it runs in (the greeter restarts with the new layout), so playwright may see the page
 * close before its click returns: that, and only that, is expected there.
 */
async function switchLayout(page: Page, layout: string, restarts = false): Promise<void> {
  await page.getByRole("button", { name: /^Keyboard:/ }).click();
  await withTimeout(page.locator(`#kb-layout option[value="${layout}"]`).waitFor({ state: "attached" }), 10_000, "layouts listed");
  await page.locator("#kb-layout").selectOption(layout);
  await page
    .getByRole("button", { name: "Use this layout" })
    .click()
    .catch((e: Error) => {
      if (!restarts || !/closed/.test(e.message)) throw e;
    });
}

const K = suite<{ foyerd?: Foyerd }>("integration/greeter-keyboard", {});
K.after.each(async (ctx) => {
  killAskers();
  await ctx.foyerd?.stop();
  ctx.foyerd?.cleanup();
  ctx.foyerd = undefined;
  spawnSync("pkill", ["-KILL", "-u", "foyer-greeter"]);
});

K("X: switching to de from the greeter makes the physical Y key type 'z' (xdotool, keycode 29)", async (ctx) => {
  const f = (ctx.foyerd = foyerd("x11", "xvfb.json", X_PORT));
  await f.until((l) => l.includes("greeter interactive"), 60_000, "greeter interactive");
  const display = /X server ready display=(:\d+)/.exec(f.log)![1]!;
  const env = { ...process.env, DISPLAY: display, XAUTHORITY: f.xauthority };
  const xdo = (...args: string[]) => {
    const r = spawnSync("xdotool", args, { env, encoding: "utf8" });
    assert.is(r.status, 0, `xdotool ${args.join(" ")}: ${r.stderr}`);
  };
  const ask = askPassword("Disk:");
  const g = await connectGreeter(X_PORT);
  const input = g.page.getByLabel("Disk:");
  await withTimeout(input.waitFor(), 15_000, "prompt");
  // X delivers keys to the window under the pointer (no window manager: focus is PointerRoot)
  xdo("mousemove", "640", "300");
  await input.focus();
  // keycodes are physical positions (evdev + 8): 29 is the key labelled Y on a US board, Z on a German one
  xdo("key", "29", "52");
  await withTimeout(
    g.page.waitForFunction(() => (document.querySelector(".secret") as HTMLInputElement).value.length === 2),
    5_000,
    "two keys typed",
  );
  assert.is(await input.inputValue(), "yz", "us layout: keycodes 29, 52 are y, z");
  await input.fill("");
  await switchLayout(g.page, "de");
  await f.until((l) => l.includes("keyboard layout 'de' applied"), 10_000, "setxkbmap done");
  assert.is(await g.page.locator("#keyboard").textContent(), "de");
  assert.match(spawnSync("setxkbmap", ["-display", display, "-query"], { encoding: "utf8", env }).stdout, /layout:\s+de\n/);
  // setxkbmap returns when the X server has the new map; chromium reads it when the MappingNotify
  // reaches it, a moment later (a CI run lost both keys typed at once: the asker got only the
  // Return). A person clicks and then types; the test waits, as they would, until the Y key types
  // something — and then it must be 'z'
  await input.focus();
  for (let i = 0; ; i++) {
    xdo("key", "29");
    const typed = await g.page
      .waitForFunction(() => (document.querySelector(".secret") as HTMLInputElement).value.length > 0, undefined, { timeout: 500 })
      .then(
        () => true,
        () => false,
      );
    if (typed) break;
    assert.ok(i < 20, "the Y key typed nothing for 10 s after the switch to de");
  }
  assert.is(await input.inputValue(), "z", "de layout: keycode 29 is z");
  await input.fill("");
  await input.focus();
  xdo("key", "29", "52", "Return");
  // the asker gets what the German layout made of the two keys: swapped
  assert.is((await withTimeout(ask.result, 10_000)).out.toString(), "zy\n");
  assert.not.match(f.log, /display server exited|greeter exited/); // X took it live: nothing restarted
  await g.close();
});

K("X: input devices plugged in while the greeter shows get the layout set again (Xorg gives a new keyboard its default keymap)", async (ctx) => {
  // Xvfb cannot plug a device in: the stand-ins are the server's keymap set back to us behind
  // foyer's back (what a new Xorg keyboard brings) and a keyboard appended to the list foyerd reads
  const devices = join(dir, "devices");
  writeFileSync(devices, readFileSync(join(top, "test/fixtures/input/laptop.txt"), "utf8"));
  const f = (ctx.foyerd = foyerd("x11-plug", "xvfb.json", X_PORT, { vconsole: "KEYMAP=de\nXKBLAYOUT=de\n", inputDevices: devices }));
  await f.until((l) => l.includes("greeter interactive"), 60_000, "greeter interactive");
  const display = /X server ready display=(:\d+)/.exec(f.log)![1]!;
  const env = { ...process.env, XAUTHORITY: f.xauthority };
  const layout = () => /layout:\s+(\S+)/.exec(spawnSync("setxkbmap", ["-display", display, "-query"], { encoding: "utf8", env }).stdout)?.[1];
  await pollUntil(() => layout() === "de", 10_000, "the vconsole's de on the X server");
  assert.is(spawnSync("setxkbmap", ["-display", display, "-layout", "us"], { env }).status, 0);
  assert.is(layout(), "us");
  const usbKeyboard = readFileSync(join(top, "test/fixtures/input/qemu-pc-usb.txt"), "utf8")
    .split(/\n\s*\n/)
    .find((b) => b.includes("USB Keyboard"))!;
  writeFileSync(devices, readFileSync(devices, "utf8") + usbKeyboard + "\n\n");
  await pollUntil(() => layout() === "de", 10_000, "the layout set again after a keyboard was plugged in");
  await f.until((l) => l.includes("keyboard layout set again for the input devices plugged in"), 5_000, "foyerd's line");
  // an unchanged list: nothing is set again
  spawnSync("setxkbmap", ["-display", display, "-layout", "us"], { env });
  await new Promise((r) => setTimeout(r, 2500));
  assert.is(layout(), "us", "foyerd set the layout again with no device plugged in");
});

K("cage: switching restarts the greeter with XKB_DEFAULT_LAYOUT=de; the prompt is still there and answered", async (ctx) => {
  const f = (ctx.foyerd = foyerd("wl", "headless-wayland.json", W_PORT));
  await f.until((l) => l.includes("greeter interactive"), 60_000, "greeter interactive");
  const ask = askPassword("Disk:");
  let g = await connectGreeter(W_PORT);
  await withTimeout(g.page.getByLabel("Disk:").waitFor(), 15_000, "prompt");
  const cageBefore = spawnSync("pgrep", ["-u", "foyer-greeter", "-x", "cage"], { encoding: "utf8" }).stdout.trim();
  await switchLayout(g.page, "de", true);
  await f.until((l) => l.includes("greeter interactive again"), 60_000, "greeter restarted");
  await g.close().catch(() => {});
  const cage = spawnSync("pgrep", ["-u", "foyer-greeter", "-x", "cage"], { encoding: "utf8" }).stdout.trim();
  assert.ok(cage && cage !== cageBefore, "a new cage");
  const env = readFileSync(`/proc/${cage}/environ`, "utf8").split("\0");
  assert.ok(env.includes("XKB_DEFAULT_LAYOUT=de"), env.filter((e) => e.startsWith("XKB")).join(" "));
  assert.not.match(f.log, /crash-loop breaker/);
  g = await connectGreeter(W_PORT);
  await withTimeout(g.page.getByLabel("Disk:").waitFor(), 15_000, "prompt after the restart");
  assert.is(await g.page.locator("#keyboard").textContent(), "de");
  await g.page.getByLabel("Disk:").fill("nach dem Neustart");
  await g.page.getByLabel("Disk:").press("Enter");
  assert.is((await withTimeout(ask.result, 10_000)).out.toString(), "nach dem Neustart\n");
  await g.close();
});

K.run();
