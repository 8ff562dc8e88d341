// The X server's cookie file: libXau's format as xauth reads it back, and a real Xvfb started with
// it (-auth, as foyerd starts one) lets in a client holding the file and refuses one without it or
// with another cookie, whatever display -displayfd picked.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { newXCookie, xauthorityFile } from "../../src/display/xauth.js";
import { requireTool } from "../helpers/index.js";
import { startXvfb, type Xvfb } from "../helpers/xvfb.js";

requireTool("xauth", "xauth");
requireTool("Xvfb", "xvfb");
requireTool("xwininfo", "x11-utils");

const A = suite<{ x?: Xvfb }>("display/xauth", {});
A.after.each(async (ctx) => {
  await ctx.x?.stop();
  ctx.x = undefined;
});

const dir = mkdtempSync(join(tmpdir(), "foyer-xauth-"));
function file(name: string, cookie: Buffer): string {
  writeFileSync(join(dir, name), xauthorityFile(cookie), { mode: 0o600 });
  return join(dir, name);
}

A("one MIT-MAGIC-COOKIE-1 for any host (FamilyWild) and any display (no number), as xauth reads it", () => {
  const cookie = newXCookie();
  assert.is(cookie.length, 16);
  assert.is.not(cookie.toString("hex"), newXCookie().toString("hex"));
  const list = spawnSync("xauth", ["-f", file("one", cookie), "nlist"], { encoding: "utf8" });
  assert.is(list.status, 0, list.stderr);
  // family, address, number, name, data: each length-prefixed, in hex
  assert.is(list.stdout, `ffff 0000  0000  0012 ${Buffer.from("MIT-MAGIC-COOKIE-1").toString("hex")} 0010 ${cookie.toString("hex")}\n`);
  assert.match(spawnSync("xauth", ["-f", join(dir, "one"), "list"], { encoding: "utf8" }).stdout, `MIT-MAGIC-COOKIE-1  ${cookie.toString("hex")}`);
});

A("an X server started with -auth: a client with the file gets in, one without it or with another cookie is refused", async (ctx) => {
  const auth = file("server", newXCookie());
  const x = (ctx.x = await startXvfb(auth));
  const root = (xauthority: string) =>
    spawnSync("xwininfo", ["-root", "-display", x.display], { encoding: "utf8", env: { ...process.env, XAUTHORITY: xauthority } });
  const ok = root(auth);
  assert.is(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /the root window/);
  const none = root(join(dir, "missing"));
  assert.is.not(none.status, 0);
  assert.match(none.stderr, /Authorization required/);
  const other = root(file("other", newXCookie()));
  assert.is.not(other.status, 0);
  assert.match(other.stderr, /Invalid MIT-MAGIC-COOKIE-1 key/);
});

A.run();
