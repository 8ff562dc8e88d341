// The split initramfs (packaging/erofs): the appliance's image cut into a small zstd cpio part and
// an lz4hc erofs payload. On this machine with real mounts: the payload script checks the image
// and lays it over the small part's /usr, node runs from it, a wrong or missing payload is refused
// with a line saying why and nothing mounted. Then in a real boot: the payload as a read-only disk,
// the greeter from it, and the unlock journey to the real root.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, existsSync, rmSync, statSync, copyFileSync, openSync, writeSync, closeSync, truncateSync, readFileSync, chmodSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { requireTool } from "../helpers/index.js";
import { buildAppliance, buildSplit, top, unpackInitrd, type Appliance } from "./appliance.js";
import { waitForPrompt } from "./qemu.js";
import { inVm, unlockToRoot } from "./journey.js";

const say = (s: string) => process.stdout.write(`• ${s}\n`);
const script = join(top, "packaging/dracut/91foyer/foyer-payload-mount.sh");
const dir = mkdtempSync(join(tmpdir(), "foyer-payload-"));
const root = join(dir, "root");
let appliance: Appliance;
let split: { initrd: string; payload: string; moved: string };

function sh(cmd: string): string {
  const r = spawnSync("sh", ["-c", cmd], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout;
}
const mounts = () => readFileSync("/proc/self/mounts", "utf8").split("\n").filter((l) => l.includes(root));
const mib = (p: string) => (statSync(p).size / 1048576).toFixed(1);

/** Runs the payload script against the scratch root with a command line of its own. */
function mountPayload(cmdline: string, args: string[] = []): { status: number | null; err: string } {
  writeFileSync(join(dir, "cmdline"), cmdline + "\n");
  const r = spawnSync("sh", [script, ...args], {
    encoding: "utf8",
    env: { PATH: process.env.PATH, FOYER_PAYLOAD_ROOT: root, FOYER_CMDLINE: join(dir, "cmdline"), FOYER_PAYLOAD_WAIT: "2" },
  });
  return { status: r.status, err: r.stderr };
}

test.before(() => {
  for (const [t, p] of [["dracut", "dracut"], ["zstd", "zstd"], ["cpio", "cpio"], ["mkfs.erofs", "erofs-utils"], ["qemu-system-x86_64", "qemu-system-x86"]] as const) requireTool(t, p);
  appliance = buildAppliance(say);
  split = buildSplit(appliance, say);
  say(`${split.moved}`);
  say(`initramfs: with foyer ${mib(appliance.initrd)} MiB; split: cpio part ${mib(split.initrd)} MiB + erofs payload ${mib(split.payload)} MiB (lz4hc, read on demand); without foyer ${mib(appliance.initrdPlain)} MiB`);
  mkdirSync(root);
  chmodSync(root, 0o755);
  unpackInitrd(split.initrd, root);
});

test.after(() => {
  spawnSync("sh", [script, "--unmount"], { env: { PATH: process.env.PATH, FOYER_PAYLOAD_ROOT: root } });
  if (mounts().length === 0) rmSync(dir, { recursive: true, force: true });
  else say(`left ${dir} in place: still mounted:\n${mounts().join("\n")}`);
});

test("the cpio part carries no node, cage or cog, only the payload's checksum; the payload carries them", () => {
  for (const f of ["usr/bin/node", "usr/bin/cage", "usr/bin/cog", "usr/lib/foyer/foyerd.mjs"]) assert.not.ok(existsSync(join(root, f)), `${f} is in the cpio part`);
  for (const f of ["usr/lib/foyer/payload-mount", "usr/lib/systemd/system/foyer-payload.service", "usr/lib/systemd/system/foyer.service", "usr/bin/sha256sum", "usr/sbin/blockdev"]) assert.ok(existsSync(join(root, f)), `${f} is missing from the cpio part`);
  // the payload's unit is wanted in the split image only (in a whole one it would hold foyer back)
  assert.is(readlinkSync(join(root, "etc/systemd/system/sysinit.target.wants/foyer-payload.service")), "/usr/lib/systemd/system/foyer-payload.service");
  const whole = sh(`/usr/lib/dracut/skipcpio '${appliance.initrd}' | zstd -dc | cpio -t --quiet 2>/dev/null`).split("\n");
  assert.ok(whole.includes("usr/lib/systemd/system/foyer-payload.service"), "the whole image lacks the payload's unit");
  assert.not.ok(whole.some((f) => f.endsWith(".wants/foyer-payload.service")), "the whole image pulls in the payload's unit");
  const [sum, size] = readFileSync(join(root, "usr/lib/foyer/payload-sha256"), "utf8").trim().split(" ");
  assert.is(Number(size), statSync(split.payload).size);
  assert.is(sum, sh(`sha256sum '${split.payload}'`).split(" ")[0]);
  // what is in the payload is what dracut put in for foyer: node and the browser among it
  const listing = sh(`mkdir -p '${dir}/look' && mount -t erofs -o ro,loop '${split.payload}' '${dir}/look' && ls '${dir}/look/usr/bin' && umount '${dir}/look'`);
  for (const b of ["node", "cage", "cog"]) assert.ok(listing.split("\n").includes(b), `${b} is not in the payload: ${listing}`);
});

test("a payload that does not match is refused with a reason, and nothing is mounted", () => {
  const cases: [string, string, RegExp][] = [];
  const flipped = join(dir, "flipped.erofs");
  copyFileSync(split.payload, flipped);
  const fd = openSync(flipped, "r+");
  writeSync(fd, Buffer.from([0x5a]), 0, 1, Math.floor(statSync(flipped).size / 2));
  closeSync(fd);
  const short = join(dir, "short.erofs");
  copyFileSync(split.payload, short);
  truncateSync(short, 4096 * 10);
  cases.push(["one byte changed", `quiet rd.foyer.payload=${flipped}`, /does not match this initramfs \(sha256 [0-9a-f]{64}, expected [0-9a-f]{64}\): not mounted/]);
  cases.push(["a truncated image", `rd.foyer.payload=${short}`, /holds 40960 bytes, the payload is \d+: truncated/]);
  cases.push(["no rd.foyer.payload=", "quiet splash", /no rd\.foyer\.payload= on the kernel command line/]);
  cases.push(["a device that never appears", "rd.foyer.payload=/dev/disk/by-id/virtio-nothing-here", /virtio-nothing-here did not appear within 2 s/]);
  for (const [what, cmdline, reason] of cases) {
    const r = mountPayload(cmdline);
    assert.is.not(r.status, 0, `${what}: accepted`);
    assert.match(r.err, reason, `${what}: ${r.err}`);
    assert.equal(mounts(), [], `${what}: something was mounted`);
  }
  const sumFile = join(root, "usr/lib/foyer/payload-sha256");
  const good = readFileSync(sumFile, "utf8");
  try {
    writeFileSync(sumFile, "not a checksum\n");
    const r = mountPayload(`rd.foyer.payload=${split.payload}`);
    assert.is.not(r.status, 0);
    assert.match(r.err, /payload-sha256: expected '<sha256> <bytes>'/);
  } finally {
    writeFileSync(sumFile, good);
  }
  assert.equal(mounts(), []);
});

test("the right payload mounts over /usr: node runs from it, writes land on tmpfs, --unmount leaves no mount", () => {
  const r = mountPayload(`console=ttyS0 rd.foyer.payload=${split.payload}`);
  assert.is(r.status, 0, r.err);
  assert.match(r.err, /mounted .* under a tmpfs overlay on \/usr/);
  const m = mounts();
  assert.ok(m.some((l) => / erofs ro/.test(l)) && m.some((l) => /^foyer-payload .*\/usr overlay/.test(l)), m.join("\n"));
  // node, from the payload, inside the small part's root: its libraries resolve there
  const node = spawnSync("chroot", [root, "/usr/bin/node", "-e", "process.stdout.write(process.version)"], { encoding: "utf8" });
  assert.is(node.status, 0, node.stderr);
  assert.match(node.stdout, /^v\d+\./);
  // the small part's own files are still there beside the payload's
  assert.ok(existsSync(join(root, "usr/lib/foyer/payload-mount")) && existsSync(join(root, "usr/lib/foyer/foyerd.mjs")));
  writeFileSync(join(root, "usr/lib/foyer/written-at-boot"), "x");
  assert.ok(existsSync(join(root, ".foyer-payload/rw/upper/lib/foyer/written-at-boot")), "a write did not land in the tmpfs upper layer");
  // a second start must not stack another layer
  const again = mountPayload(`rd.foyer.payload=${split.payload}`);
  assert.is.not(again.status, 0);
  assert.match(again.err, /is a mount point already/);
  assert.is(mounts().length, m.length, "the refused second start left a mount behind");
  const u = mountPayload("", ["--unmount"]);
  assert.is(u.status, 0, u.err);
  assert.equal(mounts(), []);
  assert.not.ok(existsSync(join(root, "usr/bin/node")), "node still visible after --unmount");
});

test("a real boot from the split image: the payload disk is checked and mounted, the greeter comes from it, the disk unlocks", async () => {
  await inVm(appliance, { initrd: split.initrd, payload: split.payload, append: "rd.foyer.profile=vm" }, "split", async (vm) => {
    const [mounted] = await vm.waitSerial(/foyer-payload: mounted [^\n]*/, 300_000, "the payload mounted");
    const mountedAt = vm.seconds;
    const [, ms] = await vm.waitSerial(/greeter interactive ms=(\d+)/, 480_000, "foyer's greeter interactive");
    const shown = await waitForPrompt(vm, 240_000, join(tmpdir(), "foyer-vm-split-prompt.png"));
    say(`${mounted.trim()} at ${mountedAt.toFixed(0)} s; greeter interactive ${(Number(ms) / 1000).toFixed(1)} s after foyerd started; prompt drawn ${shown.toFixed(0)} s after qemu started (TCG)`);
    const mem = /memory at the prompt supervisorMb=([\d.]+) greeterMb=([\d.]+) systemUsedMb=([\d.]+)/.exec(vm.serial);
    if (mem) say(`memory at the prompt: foyerd ${mem[1]} MB, greeter stack ${mem[2]} MB, whole VM ${mem[3]} MB used`);
    say(await unlockToRoot(vm));
  });
});

test.run();
