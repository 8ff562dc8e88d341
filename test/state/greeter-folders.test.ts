// The greeter's folders with a real tmpfs (test/run.mjs gives the suite its own mount namespace):
// the X server's Xauthority file is put in its XDG_RUNTIME_DIR by root before the hand-over,
// the greeter's and readable by it alone; without an X server there is none.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { mkdtempSync, mkdirSync, readFileSync, lstatSync, existsSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { makeGreeterFolders, greeterPaths } from "../../src/state/greeter-folders.js";
import { StateSchema } from "../../src/profile/schema.js";
import { newXCookie, xauthorityFile } from "../../src/display/xauth.js";
import { account, unmountUnder } from "../helpers/index.js";

const F = suite<{ dirs: string[] }>("state/greeter-folders", { dirs: [] });
F.after.each((ctx) => {
  for (const d of ctx.dirs) unmountUnder(d);
  ctx.dirs = [];
});

function state(ctx: { dirs: string[] }): string {
  const d = mkdtempSync(join(tmpdir(), "foyer-gf-"));
  chmodSync(d, 0o755);
  ctx.dirs.push(d);
  mkdirSync(join(d, "state"), { mode: 0o755 });
  return join(d, "state");
}

const greeter = account("foyer-greeter");

F("an X server's cookie: <xdg>/Xauthority, the greeter's, 0600, the bytes given", async (ctx) => {
  const bytes = xauthorityFile(newXCookie());
  const f = await makeGreeterFolders(state(ctx), greeter, StateSchema.parse({}), { xauthority: bytes });
  assert.is(f.xauthority, join(f.xdgRuntime, "Xauthority"));
  const st = lstatSync(f.xauthority);
  assert.ok(st.isFile());
  assert.equal([st.uid, st.gid, (st.mode & 0o7777).toString(8)], [greeter.uid, greeter.gid, "600"]);
  assert.ok(readFileSync(f.xauthority).equals(bytes));
  const xdg = lstatSync(f.xdgRuntime);
  assert.equal([xdg.uid, (xdg.mode & 0o7777).toString(8)], [greeter.uid, "700"]);
});

F("no X server: no Xauthority file; its path is still the layout's", async (ctx) => {
  const dir = state(ctx);
  const f = await makeGreeterFolders(dir, greeter, StateSchema.parse({}));
  assert.is(f.xauthority, greeterPaths(dir).xauthority);
  assert.not.ok(existsSync(f.xauthority));
});

F.run();
