// Draws docs/timeline.svg from a real run: foyerd (bundle) with cage's headless backend + chromium,
// a real systemd-ask-password request answered through the greeter, foyerd stopped, then
// `foyerd flush --state` into a scratch root and `foyerctl timeline --svg` on the kept copy.
//   unshare -m sh -c 'mkdir -p /run/systemd/ask-password && mount -t tmpfs t /run/systemd/ask-password && node --import tsx test/bench/timeline-demo.ts OUT.svg'
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Foyerd, askPassword, connectGreeter, top } from "../helpers/index.js";

const out = process.argv[2] ?? join(top, "docs/timeline.svg");
const dir = mkdtempSync(join(tmpdir(), "foyer-tl-demo-"));
chmodSync(dir, 0o755); // the greeter user reaches its runtime folder inside
const prof = JSON.parse(readFileSync(join(top, "profiles/headless-wayland.json"), "utf8"));
writeFileSync(join(dir, "p.json"), JSON.stringify(prof));
const f = new Foyerd(join(dir, "p.json"), { bundle: true, runtimeDir: join(dir, "run"), extraArgs: ["--bus", "none"] });
await f.until((l) => l.includes("greeter interactive"), 90_000);
const ask = askPassword("Passphrase for the demo disk:", { id: "cryptsetup:/dev/demo" });
const g = await connectGreeter(prof.greeter.debugPort);
const field = g.page.getByLabel("Passphrase for the demo disk:");
await field.waitFor({ timeout: 30_000 });
await field.fill("demo passphrase");
await g.page.keyboard.press("Enter");
await ask.result;
await g.close();
await f.stop();
const root = join(dir, "root");
const bundle = (n: string) => join(top, "dist", n);
const r = spawnSync(process.execPath, [bundle("foyerd.mjs"), "flush", "--state", join(dir, "run/state"), "--root", root, "--unmount"], { encoding: "utf8" });
if (r.status !== 0) throw new Error(r.stderr);
const t = spawnSync(process.execPath, [bundle("foyerctl.mjs"), "timeline", "--timeline", join(root, "var/lib/foyer/timeline.json"), "--svg", out], {
  encoding: "utf8",
  env: { ...process.env, FOYER_MAIN: "foyerctl" },
});
if (t.status !== 0) throw new Error(t.stderr);
process.stdout.write(
  spawnSync(process.execPath, [bundle("foyerctl.mjs"), "timeline", "--timeline", join(root, "var/lib/foyer/timeline.json")], {
    encoding: "utf8",
    env: { ...process.env, FOYER_MAIN: "foyerctl" },
  }).stdout,
);
process.stdout.write(`wrote ${out}\n`);
process.exit(0);
