// The greeter's last frame, taken from its compositor with grim as the greeter user (what the
// hand-over leaves on the screen): a real cage (headless, pixman) with cog. The compositor is the
// greeter's and says how large its output is, so foyerd reads no more than it was told to expect.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { mkdtempSync, mkdirSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { displayStack } from "../../src/display/stacks.js";
import { ProfileSchema, StateSchema } from "../../src/profile/schema.js";
import { US } from "../../src/display/keyboard.js";
import { lookupUser } from "../../src/display/users.js";
import { DirectLauncher, type Launched } from "../../src/launch/direct.js";
import { makeGreeterFolders } from "../../src/state/greeter-folders.js";
import { createLogger } from "../../src/base/log.js";
import { pollUntil, requireTool, withTimeout } from "../helpers/index.js";

requireTool("cage", "cage");
requireTool("cog", "cog");
requireTool("grim", "grim");

const G = suite<{ greeter?: Launched; close?: () => void }>("display/grab-frame", {});
G.after.each(async (ctx) => {
  await ctx.greeter?.stop(3000);
  ctx.close?.();
});

/** a page that changes every frame: cage's headless output renders for screencopy only on damage */
async function animated(): Promise<{ origin: string; close: () => void }> {
  const srv = createServer((_q, r) =>
    r
      .setHeader("Content-Type", "text/html")
      .end(
        "<body style='margin:0'><div id=d style='width:50px;height:50px;background:red'></div><script>let i=0;setInterval(()=>{d.style.marginLeft=(i++%300)+'px'},30)</script>",
      ),
  );
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const { port } = srv.address() as { port: number };
  return { origin: `http://127.0.0.1:${port}`, close: () => srv.close() };
}

G("a frame within the bound is a PPM of the output; past the bound grim is stopped and nothing is kept", async (ctx) => {
  const runtimeDir = mkdtempSync(join(tmpdir(), "foyer-frame-"));
  chmodSync(runtimeDir, 0o755);
  mkdirSync(join(runtimeDir, "state"), { mode: 0o755 });
  const log = createLogger({ level: "error", kmsg: false });
  const user = lookupUser("foyer-greeter");
  const page = await animated();
  ctx.close = page.close;
  const stack = displayStack({
    profile: ProfileSchema.parse({ schema: 1, display: { stack: "headless-wayland", browser: "cog", renderer: "pixman", rotate: 2 } }),
    runtimeDir,
    folders: await makeGreeterFolders(join(runtimeDir, "state"), user, StateSchema.parse({})),
    logDir: join(runtimeDir, "log"),
    user,
    keyboard: US,
    launcher: new DirectLauncher(log),
    log,
    url: () => `${page.origin}/`,
    origin: () => page.origin,
  });
  stack.prepareTmp();
  ctx.greeter = stack.startGreeter();
  // the compositor is up once its socket is there
  let frame: Buffer | undefined;
  await pollUntil(async () => (frame = await stack.grabFrame(5000, 64 << 20).catch(() => undefined)) !== undefined, 30_000, "a frame from cage");
  const head = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(frame!.subarray(0, 32).toString("latin1"));
  assert.ok(head, "not a binary PPM");
  assert.is(frame!.length, head[0].length + 3 * Number(head[1]) * Number(head[2]));
  const small = await withTimeout(
    stack.grabFrame(5000, 100_000).then(
      () => "taken",
      (e: Error) => e.message,
    ),
    10_000,
    "the bounded grab",
  );
  assert.match(small, /the greeter's frame is larger than 100000 bytes/);
});

G.run();
