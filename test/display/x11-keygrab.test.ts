// foyerd's own X connection (the browser's keys grabbed on the root window) against an X server
// with access control: its setup carries the cookie from foyerd's memory, and with another cookie
// the server refuses it and the grab gives up with a warning.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { grabBrowserKeys, setupRequest, type KeyGrab } from "../../src/display/x11-keygrab.js";
import { newXCookie, xauthorityFile } from "../../src/display/xauth.js";
import { collectingLogger, requireTool, withTimeout } from "../helpers/index.js";
import { startXvfb, type Xvfb } from "../helpers/xvfb.js";

requireTool("Xvfb", "xvfb");

const G = suite<{ x?: Xvfb; grabs: KeyGrab[] }>("display/x11-keygrab", { grabs: [] });
G.after.each(async (ctx) => {
  for (const g of ctx.grabs) g.close();
  ctx.grabs = [];
  await ctx.x?.stop();
  ctx.x = undefined;
});

G("the setup request: protocol name and cookie after the 12-byte header, each padded to 4 bytes", () => {
  const cookie = newXCookie();
  const r = setupRequest(cookie);
  assert.is(r.length, 12 + 20 + 16);
  assert.is(r.readUInt8(0), 0x6c);
  assert.is(r.readUInt16LE(2), 11);
  assert.is(r.readUInt16LE(6), 18);
  assert.is(r.readUInt16LE(8), 16);
  assert.is(r.subarray(12, 30).toString("latin1"), "MIT-MAGIC-COOKIE-1");
  assert.equal([...r.subarray(30, 32)], [0, 0]);
  assert.ok(r.subarray(32).equals(cookie));
});

G("with the X server's cookie the keys are grabbed; with another the server refuses the connection", async (ctx) => {
  const dir = mkdtempSync(join(tmpdir(), "foyer-keygrab-"));
  const cookie = newXCookie();
  writeFileSync(join(dir, "Xauthority"), xauthorityFile(cookie), { mode: 0o600 });
  const x = (ctx.x = await startXvfb(join(dir, "Xauthority")));
  const lines: string[] = [];
  const good = grabBrowserKeys(x.display, cookie, collectingLogger(lines));
  ctx.grabs.push(good);
  await withTimeout(good.ready, 10_000, "the grabs");
  assert.ok(
    lines.some((l) => l.startsWith("info browser accelerators grabbed")),
    lines.join("\n"),
  );
  const refused: string[] = [];
  const bad = grabBrowserKeys(x.display, newXCookie(), collectingLogger(refused));
  ctx.grabs.push(bad);
  const err = await withTimeout(
    bad.ready.then(
      () => "grabbed",
      (e: Error) => e.message,
    ),
    10_000,
    "the refusal",
  );
  assert.match(err, /X server refused the connection: .*(Invalid MIT-MAGIC-COOKIE-1|Authorization)/);
  assert.match(refused.join("\n"), /warning cannot grab the browser's keys .*, ignoring/);
});

G.run();
