// foyerd's wait for a split image's payload (src/launch/payload.ts): at once where the image is
// whole, and in a split one until the mount script's last file says how the mount went. Files in a
// temp folder of the test's own, made by the test as the script makes them.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { firstOf, waitForPayload, type PayloadPaths } from "../../src/launch/payload.js";
import { withTimeout } from "../helpers/index.js";

const dirs: string[] = [];
function paths(split: boolean): PayloadPaths {
  const d = mkdtempSync(join(tmpdir(), "foyer-payload-"));
  dirs.push(d);
  if (split) writeFileSync(join(d, "payload-verity"), "");
  return { record: join(d, "payload-verity"), mounted: join(d, "foyer-payload.mounted"), failed: join(d, "foyer-payload.failed") };
}
test.after.each(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

test("a whole image has no payload to wait for", async () => {
  assert.is(await withTimeout(waitForPayload(60_000, paths(false)), 1000, "wait"), "none");
});

test("a split image waits for the mount script's last file, whichever it makes", async () => {
  for (const [file, state] of [
    ["mounted", "mounted"],
    ["failed", "failed"],
  ] as const) {
    const p = paths(true);
    let settled = false;
    const wait = waitForPayload(60_000, p).finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.not.ok(settled, "resolved before the script said anything");
    writeFileSync(p[file], "");
    assert.is(await withTimeout(wait, 5000, `the ${file} file seen`), state);
  }
});

test("a file made before the wait is seen at once; nothing within the time is a timeout", async () => {
  const p = paths(true);
  writeFileSync(p.mounted, "");
  assert.is(await withTimeout(waitForPayload(60_000, p), 1000, "wait"), "mounted");
  assert.is(await withTimeout(waitForPayload(100, paths(true)), 5000, "wait"), "timeout");
});

test("firstOf ignores other files in the folder and gives the one made", async () => {
  const p = paths(true);
  const wait = firstOf([p.mounted, p.failed], 60_000);
  writeFileSync(p.mounted + ".other", "");
  writeFileSync(p.failed, "");
  assert.is(await withTimeout(wait, 5000, "firstOf"), p.failed);
});

test.run();
