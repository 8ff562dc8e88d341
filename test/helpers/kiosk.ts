// The kiosk escape checks shared by the x11 and cage suites: a hostile page script played over the
// test profile's debug port (window.open, file:, chrome:, view-source:, devtools:, javascript:,
// data:, another origin), each with a user gesture, as a script would have one after any
// keystroke in the greeter.
import * as assert from "uvu/assert";
import { readFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { askPassword, connectGreeter, withTimeout, top, type Foyerd } from "./index.js";

export const POLICY_DIR = "/etc/chromium/policies/managed";

/** Chromium's policy directory must be this suite's own (test/run.mjs mounts a tmpfs on /etc/chromium). */
export function requirePrivateChromiumEtc(): void {
  if (
    !readFileSync("/proc/self/mounts", "utf8")
      .split("\n")
      .some((l) => l.split(" ")[1] === "/etc/chromium")
  ) {
    throw new Error("/etc/chromium is not a private mount: run this suite through test/run.mjs");
  }
}

/** A shipped test profile with the kiosk policy written, and `greeter`/`restart` overrides. */
export function kioskProfile(base: string, greeter: Record<string, unknown>, restart: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "foyer-kiosk-"));
  const p = JSON.parse(readFileSync(join(top, "profiles", `${base}.json`), "utf8"));
  p.greeter = { ...p.greeter, chromiumPolicyDir: POLICY_DIR, ...greeter };
  p.restart = restart;
  writeFileSync(join(dir, "p.json"), JSON.stringify(p));
  return join(dir, "p.json");
}

/**
 * The pages of the debug port, without attaching. A popup chromium blocked is kept as a page
 * with no URL that never loads and is never shown: not counted.
 */
export async function pages(port: number): Promise<string[]> {
  const r = await fetch(`http://127.0.0.1:${port}/json/list`);
  const list = (await r.json()) as { type: string; url: string }[];
  return list.filter((t) => t.type === "page" && t.url !== "").map((t) => t.url);
}

/**
 * Plays the hostile script against the greeter of `f` (started with debug port `port`); `extra`
 * runs after each attempt (the x11 suite compares the X windows). Returns the other origin's
 * server, which must have been asked for nothing.
 */
export async function hostileScript(f: Foyerd, port: number, extra: (what: string) => void = () => {}): Promise<Server> {
  let hits = 0;
  const other = createServer((_q, r) => (hits++, r.end("<title>elsewhere</title>other")));
  await new Promise<void>((r) => other.listen(0, "127.0.0.1", r));
  const otherPort = (other.address() as { port: number }).port;
  const origin = new URL((await pages(port))[0]!).origin;
  let g = await connectGreeter(port);
  const s = await g.page.context().newCDPSession(g.page);
  const run = (expression: string) => s.send("Runtime.evaluate", { expression, userGesture: true }).catch(() => undefined);
  const stays = async (what: string, expression: string) => {
    await run(expression);
    // a round trip through the page: navigations it started have been decided by then
    await s.send("Runtime.evaluate", { expression: "1" }).catch(() => undefined);
    const list = await pages(port);
    assert.equal(list.length, 1, `${what}: pages ${JSON.stringify(list)}`);
    assert.is(new URL(list[0]!).origin, origin, `${what}: left for ${list[0]}`);
    assert.is(await g.page.evaluate(() => document.querySelector("#unlock-view") !== null), true, `${what}: the greeter's document is gone`);
    extra(what);
  };
  await stays("file:", `location.href = "file:///etc/shadow"`);
  await stays("chrome:", `location.href = "chrome://settings"`);
  await stays("view-source:", `location.href = "view-source:${origin}/"`);
  await stays("devtools:", `location.href = "devtools://devtools/bundled/inspector.html"`);
  await stays("javascript:", `location.href = "javascript:document.body.innerHTML='pwned'"`);
  assert.not.ok((await g.page.evaluate(() => document.body.innerHTML)).includes("pwned"), "a javascript: URL ran");
  await stays("data:", `location.href = "data:text/html,<h1>data</h1>"`);
  await stays("window.open (same origin)", `window.open("${origin}/")`);
  await stays("window.open (another origin)", `window.open("http://127.0.0.1:${otherPort}/")`);
  await stays("window.open (file:)", `window.open("file:///etc/passwd")`);
  await stays("<a target=_blank>", `Object.assign(document.createElement("a"), { href: "${origin}/", target: "_blank" }).click()`);
  assert.is(hits, 0, "the other origin was asked");

  // another http origin: chromium's policy blocks it, and its "blocked" page replaces the greeter,
  // whose page connection closes; foyerd restarts the greeter (greeter.lostTimeoutMs)
  const ask = askPassword("After the escape:", { id: "kiosk:hostile" });
  await run(`location.href = "http://127.0.0.1:${otherPort}/"`);
  await f.until((l) => l.includes("greeter page disconnected"), 10_000, "page lost");
  await f.until((l) => l.includes("greeter interactive again"), 60_000, "greeter back");
  assert.is(hits, 0, "the other origin was asked");
  assert.equal(
    (await pages(port)).map((u) => new URL(u).origin),
    [origin],
  );
  await g.close();
  g = await connectGreeter(port);
  await withTimeout(g.page.getByLabel("After the escape:").waitFor(), 15_000, "prompt");
  await g.page.getByLabel("After the escape:").fill("back home");
  await g.page.getByLabel("After the escape:").press("Enter");
  assert.is((await withTimeout(ask.result, 10_000)).out.toString(), "back home\n");
  await g.close();
  return other;
}

/**
 * A tab opened over the greeter, as a browser shortcut pressed before the page had the focus can
 * open one (chromium's help on F1 did, in test/robust/kiosk-x11). The hidden greeter lets go of its
 * socket (src/ui/connection.ts) and foyerd restarts the browser (greeter.lostTimeoutMs): the
 * prompt is on the screen again and still unlocks. Before that rule, the greeter stayed connected
 * behind the tab and foyerd saw nothing wrong.
 */
export async function tabOverGreeter(f: Foyerd, port: number): Promise<void> {
  const ask = askPassword("Behind a tab:", { id: "kiosk:tab" });
  await f.until((l) => l.includes("password request pending"), 10_000, "the request");
  const again = f.count(/greeter interactive again/);
  const lost = f.count(/greeter page disconnected/);
  let g = await connectGreeter(port);
  const browser = await g.page.context().browser()!.newBrowserCDPSession();
  await browser.send("Target.createTarget", { url: "about:blank" });
  assert.is((await pages(port)).length, 2, "a second tab is open");
  await g.close();
  await f.untilCount(/greeter page disconnected/, lost + 1, 10_000);
  await f.untilCount(/greeter interactive again/, again + 1, 60_000);
  const list = await pages(port);
  assert.is(list.length, 1, `after the restart: pages ${JSON.stringify(list)}`);
  g = await connectGreeter(port);
  assert.is(await g.page.evaluate(() => document.visibilityState), "visible");
  const field = g.page.getByLabel("Behind a tab:");
  await withTimeout(field.waitFor(), 15_000, "the prompt after the restart");
  await field.fill("still here");
  await field.press("Enter");
  assert.is((await withTimeout(ask.result, 10_000)).out.toString(), "still here\n");
  await g.close();
}
