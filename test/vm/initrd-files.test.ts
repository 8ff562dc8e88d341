// The appliance's initramfs, unpacked and entered with chroot: foyerd, node, cage, cog and
// systemd-ask-password run from the image's own files only, so a library or data file the dracut
// module forgot fails here in seconds instead of minutes into an emulated boot. cage runs headless
// (no DRM here); cog must load the greeter and connect, a request from the image's own
// systemd-ask-password must be answered through the greeter, and a root Plymouth client must be
// served (foyerd refuses every client when the image lacks its credentials addon). In a private
// network namespace: the image's foyerd binds Plymouth's abstract names (test/helpers/netns.ts).
import { runInPrivateNetns } from "../helpers/netns.js";
runInPrivateNetns(import.meta.url);

import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, chmodSync, mkdirSync, writeFileSync, readFileSync, existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { chromium } from "playwright-core";
import { requireTool, pollUntil, withTimeout, CHROMIUM_ARGS } from "../helpers/index.js";
import { buildAppliance, unpackInitrd } from "./appliance.js";

const say = (s: string) => process.stdout.write(`• ${s}\n`);
const root = mkdtempSync(join(tmpdir(), "foyer-initrd-"));
chmodSync(root, 0o755); // the image's root: the greeter user must traverse it

function sh(cmd: string): void {
  const r = spawnSync("sh", ["-c", cmd], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
}

test.before(() => {
  for (const [t, p] of [
    ["dracut", "dracut"],
    ["zstd", "zstd"],
    ["cpio", "cpio"],
    ["chromium", "chromium"],
    ["plymouth", "plymouth"],
  ] as const)
    requireTool(t, p);
  const a = buildAppliance(say);
  unpackInitrd(a.initrd, root);
  // the suite runs in its own mount namespace (test/run.mjs): these mounts die with it
  // a /dev of its own (never a bind of the host's: removing the tree must not reach real nodes)
  sh(
    `mount -t proc proc '${root}/proc' && mount -t sysfs sys '${root}/sys' && mount -t tmpfs -o mode=0755 dev '${root}/dev' && mount -t tmpfs run '${root}/run'`,
  );
  for (const [n, major, minor] of [
    ["null", 1, 3],
    ["zero", 1, 5],
    ["full", 1, 7],
    ["random", 1, 8],
    ["urandom", 1, 9],
    ["tty", 5, 0],
  ] as const)
    sh(`mknod -m 666 '${root}/dev/${n}' c ${major} ${minor}`);
  sh(`mkdir -p '${root}/dev/shm' && mount -t tmpfs -o mode=1777 shm '${root}/dev/shm'`);
  mkdirSync(join(root, "etc/foyer/profiles"), { recursive: true });
  writeFileSync(
    join(root, "etc/foyer/profiles/chroot.json"),
    JSON.stringify({
      schema: 1,
      description: "the image's wayland profile, on cage's headless backend",
      display: { stack: "headless-wayland", browser: "cog", renderer: "pixman" },
      greeter: { readyTimeoutMs: 120_000 },
    }),
  );
});

test.after(() => {
  const mounted = ["dev/shm", "dev", "run", "sys", "proc"].filter(
    (m) => spawnSync("umount", ["-l", join(root, m)]).status !== 0 && spawnSync("mountpoint", ["-q", join(root, m)]).status === 0,
  );
  // only an unmounted tree is removed; a mount left behind dies with the suite's namespace
  if (mounted.length === 0) rmSync(root, { recursive: true, force: true });
  else say(`left ${root} in place: ${mounted.join(", ")} still mounted`);
});

test("foyerd from the image: cog connects, and the image's systemd-ask-password is answered through the greeter", async () => {
  let out = "";
  const foyerd = spawn("chroot", [root, "/usr/bin/node", "/usr/lib/foyer/foyerd.mjs", "--profile", "chroot", "--bus", "none"], {
    env: { PATH: "/usr/bin:/usr/sbin:/bin:/sbin", FOYER_MAIN: "foyerd" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  foyerd.stdout.on("data", (d) => (out += d));
  foyerd.stderr.on("data", (d) => (out += d));
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROMIUM_ARGS });
  try {
    await pollUntil(
      () => /greeter interactive|phase fallback/.test(out) || foyerd.exitCode !== null,
      150_000,
      `cog connecting to the greeter (foyerd said:\n${out})`,
    );
    assert.ok(foyerd.exitCode === null, `foyerd exited: ${out}`);
    assert.not.match(out, /greeter exited/, "the greeter (cage + cog) died on its way up");
    say(/greeter interactive ms=\d+/.exec(out)![0]);

    // the host's plymouth client, as root, against the image's foyerd: served only when the
    // image carries dist/sockets.node beside the bundle (else: NAK, exit 1)
    await pollUntil(
      () => out.includes("serving plymouth's protocol on '@/ply-boot-protocol'"),
      10_000,
      `foyerd serving Plymouth's protocol (foyerd said:\n${out})`,
    );
    const ping = spawnSync("plymouth", ["--ping"], { encoding: "utf8", timeout: 10_000 });
    assert.is(ping.status, 0, `root's plymouth --ping was not served; foyerd said:\n${out}`);
    assert.not.match(out, /cannot read plymouth clients' credentials/);

    // the image's own systemd-ask-password, as systemd-cryptsetup would run it
    const ask = spawn(
      "chroot",
      [root, "/usr/bin/systemd-ask-password", "--no-tty", "--timeout=120", "--id=cryptsetup:/dev/vda2", "Please enter passphrase for disk root:"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let answer = "";
    ask.stdout.on("data", (d) => (answer += d));
    // listened for from the start: the asker may exit while the Enter press is still being acknowledged
    const exited = new Promise<number | null>((r) => ask.on("exit", r));
    const urlFile = join(root, "run/foyer/greeter-url");
    await pollUntil(() => existsSync(urlFile), 10_000, "greeter-url");
    const page = await browser.newPage();
    await page.goto(readFileSync(urlFile, "utf8").trim());
    const input = page.getByLabel("Please enter passphrase for disk root:");
    await withTimeout(input.waitFor(), 30_000, "the prompt in the greeter");
    await input.fill("from the image");
    await input.press("Enter");
    const code = await withTimeout(exited, 30_000, "systemd-ask-password's exit").catch((e: Error) => {
      throw new Error(`${e.message}; foyerd said:\n${out.split("\n").slice(-25).join("\n")}`);
    });
    assert.is(code, 0);
    assert.is(answer, "from the image\n");
  } finally {
    await browser.close();
    foyerd.kill("SIGTERM");
    await withTimeout(new Promise((r) => (foyerd.exitCode !== null ? r(0) : foyerd.on("exit", r))), 20_000, "foyerd's exit").catch(() =>
      foyerd.kill("SIGKILL"),
    );
  }
});

test.run();
