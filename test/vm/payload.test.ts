// The split initramfs (packaging/erofs): the appliance's image cut into a small zstd cpio part and
// an lz4hc erofs payload followed by its dm-verity hash tree; the small part carries the root hash.
// On this machine: the record matches the payload (veritysetup's own check, in userspace: this
// host's kernel has no device-mapper), and a payload that cannot be the one — truncated, missing,
// a malformed record — is refused with a line saying why and nothing mounted. In a boot with a
// PID 1 of the test's own and the payloads as disks: the right one mounts over /usr and node runs
// from it; one byte changed in the data mounts, and the block holding it is refused when it is read
// (an I/O error, never the changed bytes); one changed in the superblock, or a record with another
// root hash, is not mounted. Then a real boot: the payload as a read-only disk, the greeter from
// it, and the unlock journey.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import {
  mkdtempSync,
  mkdirSync,
  writeFileSync,
  existsSync,
  rmSync,
  statSync,
  copyFileSync,
  openSync,
  readSync,
  writeSync,
  closeSync,
  truncateSync,
  readFileSync,
  chmodSync,
  readlinkSync,
} from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { requireTool } from "../helpers/index.js";
import { buildAppliance, buildSplit, top, unpackInitrd, withExtraCpio, type Appliance } from "./appliance.js";
import { Vm, waitForPrompt } from "./qemu.js";
import { inVm, unlockToRoot } from "./journey.js";

const say = (s: string) => process.stdout.write(`• ${s}\n`);
const script = join(top, "packaging/dracut/91foyer/foyer-payload-mount.sh");
const dir = mkdtempSync(join(tmpdir(), "foyer-payload-"));
const root = join(dir, "root");
let appliance: Appliance;
let split: { initrd: string; payload: string; moved: string };
let record = { roothash: "", salt: "", size: 0 };

function sh(cmd: string): string {
  const r = spawnSync("sh", ["-c", cmd], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout;
}
const mounts = () =>
  readFileSync("/proc/self/mounts", "utf8")
    .split("\n")
    .filter((l) => l.includes(root));
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

/** A copy of the payload with the byte at `offset` changed. */
function flipped(name: string, offset: number): string {
  const f = join(dir, name);
  copyFileSync(split.payload, f);
  flipAt(f, offset);
  return f;
}

function flipAt(f: string, offset: number): void {
  const fd = openSync(f, "r+");
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, offset);
    writeSync(fd, Buffer.from([b[0]! ^ 0x5a]), 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

/** veritysetup's userspace check of a payload file against the record (no device-mapper needed). */
function verify(file: string): { status: number | null; out: string } {
  const r = spawnSync(
    "veritysetup",
    [
      "verify",
      "--no-superblock",
      "--hash=sha256",
      "--data-block-size=4096",
      "--hash-block-size=4096",
      `--data-blocks=${record.size / 4096}`,
      `--hash-offset=${record.size}`,
      `--salt=${record.salt}`,
      file,
      file,
      record.roothash,
    ],
    { encoding: "utf8" },
  );
  return { status: r.status, out: r.stdout + r.stderr };
}

test.before(() => {
  for (const [t, p] of [
    ["dracut", "dracut"],
    ["zstd", "zstd"],
    ["cpio", "cpio"],
    ["mkfs.erofs", "erofs-utils"],
    ["veritysetup", "cryptsetup-bin"],
    ["busybox", "busybox"],
    ["qemu-system-x86_64", "qemu-system-x86"],
  ] as const)
    requireTool(t, p);
  appliance = buildAppliance(say);
  split = buildSplit(appliance, say);
  say(`${split.moved}`);
  say(
    `initramfs: with foyer ${mib(appliance.initrd)} MiB; split: cpio part ${mib(split.initrd)} MiB + erofs payload with its hash tree ${mib(split.payload)} MiB (lz4hc, read on demand); without foyer ${mib(appliance.initrdPlain)} MiB`,
  );
  mkdirSync(root);
  chmodSync(root, 0o755);
  unpackInitrd(split.initrd, root);
  const [roothash, salt, size] = readFileSync(join(root, "usr/lib/foyer/payload-verity"), "utf8").trim().split(" ");
  record = { roothash: roothash!, salt: salt!, size: Number(size) };
});

test.after(() => {
  spawnSync("sh", [script, "--unmount"], { env: { PATH: process.env.PATH, FOYER_PAYLOAD_ROOT: root } });
  if (mounts().length === 0) rmSync(dir, { recursive: true, force: true });
  else say(`left ${dir} in place: still mounted:\n${mounts().join("\n")}`);
});

test("the cpio part carries foyerd (node, foyer, the splash) but no cage or cog, and the payload's root hash; the payload carries the display stack, and its hash tree", () => {
  for (const f of ["usr/bin/cage", "usr/bin/cog", "usr/sbin/seatd"]) assert.not.ok(existsSync(join(root, f)), `${f} is in the cpio part`);
  // foyerd starts beside the payload's mount and draws its first frame meanwhile
  for (const f of ["usr/bin/node", "usr/bin/setpriv", "usr/lib/foyer/foyerd.mjs", "usr/lib/foyer/sockets.node", "usr/lib/foyer/foyer-splash"])
    assert.ok(existsSync(join(root, f)), `${f} is not in the cpio part`);
  // with the libraries they load: node's own, and the splash's libwayland-client
  for (const bin of ["usr/bin/node", "usr/lib/foyer/foyer-splash"]) {
    const libs = sh(`ldd '${join(root, bin)}' | awk '/=> \\// {print $3}'`)
      .split("\n")
      .filter(Boolean);
    assert.ok(libs.length > 0, `ldd named no library of ${bin}`);
    for (const l of libs) assert.ok(existsSync(join(root, "usr", l.replace(/^\/usr/, ""))), `${bin}'s ${l} is not in the cpio part`);
  }
  for (const f of [
    "usr/lib/foyer/payload-mount",
    "usr/lib/systemd/system/foyer-payload.service",
    "usr/lib/systemd/system/foyer.service",
    "usr/sbin/veritysetup",
    "usr/sbin/blockdev",
  ])
    assert.ok(existsSync(join(root, f)), `${f} is missing from the cpio part`);
  assert.ok(sh(`find '${root}/usr/lib/modules' -name 'dm-verity.ko*'`).trim(), "dm-verity's module is missing from the cpio part");
  // the payload's unit is wanted in the split image only (in a whole one it would hold foyer back)
  assert.is(readlinkSync(join(root, "etc/systemd/system/sysinit.target.wants/foyer-payload.service")), "/usr/lib/systemd/system/foyer-payload.service");
  const whole = sh(`/usr/lib/dracut/skipcpio '${appliance.initrd}' | zstd -dc | cpio -t --quiet 2>/dev/null`).split("\n");
  assert.ok(whole.includes("usr/lib/systemd/system/foyer-payload.service"), "the whole image lacks the payload's unit");
  assert.not.ok(
    whole.some((f) => f.endsWith(".wants/foyer-payload.service")),
    "the whole image pulls in the payload's unit",
  );
  // the record: the root hash, the salt (the data's sha256), the data's size; the tree after the data
  assert.match(record.roothash, /^[0-9a-f]{64}$/);
  assert.is(record.salt, sh(`head -c ${record.size} '${split.payload}' | sha256sum`).split(" ")[0]);
  assert.ok(record.size % 4096 === 0 && statSync(split.payload).size > record.size, `data ${record.size} bytes, file ${statSync(split.payload).size}`);
  const ok = verify(split.payload);
  assert.is(ok.status, 0, ok.out);
  // what is in the payload is what dracut put in for foyer's display stack
  sh(`head -c ${record.size} '${split.payload}' > '${dir}/data.erofs'`);
  const listing = sh(
    `mkdir -p '${dir}/look' && mount -t erofs -o ro,loop '${dir}/data.erofs' '${dir}/look' && ls '${dir}/look/usr/bin' && umount '${dir}/look'`,
  );
  rmSync(join(dir, "data.erofs"));
  for (const b of ["cage", "cog"]) assert.ok(listing.split("\n").includes(b), `${b} is not in the payload: ${listing}`);
  assert.not.ok(listing.split("\n").includes("node"), "node is in the payload as well");
});

test("one byte changed anywhere in the data fails the hash tree's check", () => {
  for (const at of [0, Math.floor(record.size / 2), record.size - 1]) {
    const f = flipped("flipped.erofs", at);
    const r = verify(f);
    assert.is.not(r.status, 0, `a byte changed at ${at} passed veritysetup verify`);
    rmSync(f);
  }
});

test("a payload that cannot be the one is refused with a reason before anything is opened, and nothing is mounted", () => {
  const short = join(dir, "short.erofs");
  copyFileSync(split.payload, short);
  truncateSync(short, record.size);
  const cases: [string, string, RegExp][] = [
    [
      "the data without its hash tree",
      `rd.foyer.payload=${short}`,
      new RegExp(`holds ${record.size} bytes, the payload's data alone is ${record.size}: truncated`),
    ],
    ["no rd.foyer.payload=", "quiet splash", /no rd\.foyer\.payload= on the kernel command line/],
    ["a device that never appears", "rd.foyer.payload=/dev/disk/by-id/virtio-nothing-here", /virtio-nothing-here did not appear within 2 s/],
  ];
  for (const [what, cmdline, reason] of cases) {
    const r = mountPayload(cmdline);
    assert.is.not(r.status, 0, `${what}: accepted`);
    assert.match(r.err, reason, `${what}: ${r.err}`);
    assert.equal(mounts(), [], `${what}: something was mounted`);
  }
  rmSync(short);
  const recordFile = join(root, "usr/lib/foyer/payload-verity");
  const good = readFileSync(recordFile, "utf8");
  try {
    for (const bad of [
      "not a record\n",
      `${record.roothash} ${record.salt}\n`,
      `${record.roothash} ${record.salt} 4097\n`,
      `${record.roothash.slice(1)} ${record.salt} ${record.size}\n`,
      `${record.roothash} ${record.salt} -4096\n`,
    ]) {
      writeFileSync(recordFile, bad);
      const r = mountPayload(`rd.foyer.payload=${split.payload}`);
      assert.is.not(r.status, 0, `record ${JSON.stringify(bad)}: accepted`);
      assert.match(r.err, /payload-verity(: expected '<root hash> <salt> <data bytes>'| is missing or malformed)/, r.err);
    }
  } finally {
    writeFileSync(recordFile, good);
  }
  assert.equal(mounts(), []);
});

/** PID 1 of the device-mapper boot: the payload script on each disk, against the initramfs' own /usr. */
const PID1 = `#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
mkdir -p /run /tmp; mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /tmp
# the image has no grep or find: busybox's, brought along
grep() { /foyer-bb/busybox grep "$@"; }
find() { /foyer-bb/busybox find "$@"; }
for m in virtio_pci virtio_blk; do modprobe $m; done
disk() { for b in /sys/block/vd*; do [ "$(cat "$b/serial" 2>/dev/null)" = "$1" ] && { echo /dev/\${b##*/}; return; }; done; }
i=0; while [ -z "$(disk payload-superblock)" ]; do i=$((i + 1)); [ $i -gt 600 ] && break; sleep 0.1; done
run() { # case, device
  echo "rd.foyer.payload=$2" > /tmp/cmdline
  FOYER_CMDLINE=/tmp/cmdline FOYER_PAYLOAD_WAIT=5 sh /usr/lib/foyer/payload-mount > /tmp/out 2>&1
  echo "FOYER-CASE $1 rc=$? $(tr '\\n' ' ' < /tmp/out)"
}
mounts() { n=0; while read -r _ mp fs _; do case "$mp $fs" in "/usr overlay" | *" erofs") n=$((n + 1)) ;; esac; done < /proc/self/mounts; echo $n; }
run good "$(disk payload-good)"
echo "FOYER-CASE good-mark $(ls /run/foyer-payload.* 2>&1)"
echo "FOYER-CASE good-cage $(/usr/bin/cage -h 2>&1 | { read -r l; echo "$l"; })"
echo x > /usr/lib/foyer/written-at-boot && echo "FOYER-CASE good-write $(ls /.foyer-payload/rw/upper/lib/foyer/)"
run again "$(disk payload-good)"
echo "FOYER-CASE again-mark $(ls /run/foyer-payload.* 2>&1)"
sh /usr/lib/foyer/payload-mount --unmount; sleep 1
echo "FOYER-CASE good-unmounted mounts=$(mounts) cage=$(ls /usr/bin/cage 2>&1 | tr ' ' _) dm=$(ls /dev/mapper/) marks=$(set -- /run/foyer-payload.*; [ -e "$1" ] && echo $# || echo 0)"
run data "$(disk payload-data)"
# every file read through: the one holding the changed block must fail, and nothing read may differ
find /.foyer-payload/lower -type f -exec cat {} + > /dev/null 2> /tmp/read
echo "FOYER-CASE data-read rc=$? $(grep -c 'Input/output error' /tmp/read)"
sh /usr/lib/foyer/payload-mount --unmount; sleep 1
run superblock "$(disk payload-superblock)"
echo "FOYER-CASE superblock-after mounts=$(mounts) dm=$(ls /dev/mapper/)"
read -r h s n < /usr/lib/foyer/payload-verity
echo "0000000000000000000000000000000000000000000000000000000000000000 $s $n" > /usr/lib/foyer/payload-verity
run roothash "$(disk payload-good)"
echo "FOYER-CASE roothash-after mounts=$(mounts) dm=$(ls /dev/mapper/)"
echo FOYER-CASES-END; echo o > /proc/sysrq-trigger; sleep 60
`;

test("under device-mapper in a boot: the right payload mounts and node runs from it; a changed block is refused when read; a changed superblock or another root hash is not mounted", async () => {
  const extra = join(dir, "extra");
  mkdirSync(extra);
  writeFileSync(join(extra, "foyer-payload-cases"), PID1, { mode: 0o755 });
  mkdirSync(join(extra, "foyer-bb"));
  copyFileSync("/usr/bin/busybox", join(extra, "foyer-bb/busybox"));
  const initrd = join(dir, "cases.img");
  withExtraCpio(split.initrd, extra, initrd);
  // the changed data bytes: at a quarter, a half and three quarters of the image, inside the
  // compressed blocks of whichever files lie there (erofs packs them densely)
  const changedAt = [Math.floor(record.size / 4), Math.floor(record.size / 2), Math.floor((record.size * 3) / 4)];
  const data = flipped("data.erofs", changedAt[0]!);
  for (const at of changedAt.slice(1)) flipAt(data, at);
  const superblock = flipped("superblock.erofs", 1024 + 8); // erofs' superblock starts at 1024
  const vm = new Vm(appliance, {
    initrd,
    append: "rdinit=/foyer-payload-cases",
    memMb: 1024,
    disks: [
      { file: split.payload, serial: "payload-good", readonly: true },
      { file: data, serial: "payload-data", readonly: true },
      { file: superblock, serial: "payload-superblock", readonly: true },
    ],
  });
  try {
    await vm.attach();
    await vm.waitSerial(/FOYER-CASES-END/, 600_000, "the payload cases");
  } finally {
    await vm.stop("payload-cases");
  }
  const cases = new Map([...vm.serial.matchAll(/FOYER-CASE (\S+) ([^\r\n]*)/g)].map((m) => [m[1]!, m[2]!]));
  const c = (k: string): string => {
    const v = cases.get(k);
    if (v === undefined) assert.unreachable(`no '${k}' case on the console:\n${vm.tail(40)}`);
    return v!;
  };
  assert.match(c("good"), /^rc=0 foyer-payload: mounted \/dev\/vd\w+ \(\d+ bytes, dm-verity root hash [0-9a-f]{12}…\) under a tmpfs overlay on \/usr/);
  assert.is(c("good-mark"), "/run/foyer-payload.mounted", "the mount script's last file for foyerd");
  assert.match(c("good-cage"), /^Usage: \S*cage /, "cage did not run from the payload");
  assert.match(c("good-write"), /written-at-boot/, "a write did not land in the tmpfs upper layer");
  assert.match(c("again"), /^rc=1 .*is a mount point already/);
  assert.is(c("again-mark"), "/run/foyer-payload.failed", "a refused mount says so to foyerd");
  assert.match(c("good-unmounted"), /^mounts=0 cage=ls:.*No_such_file.* marks=0$/, c("good-unmounted"));
  // one byte changed: the mount works (the superblock is intact), the changed block does not read
  assert.match(c("data"), /^rc=0 /);
  const [, rc, eio] = /^rc=(\d+) (\d+)/.exec(c("data-read")) ?? [];
  assert.ok(rc !== "0" && Number(eio) >= 1, `reading the changed payload: ${c("data-read")} (cat's status, its I/O errors)`);
  // the kernel says which block (an error line: on the console at loglevel 4): one of those changed
  const blocks = [...vm.serial.matchAll(/device-mapper: verity: [\d:]+: data block (\d+) is corrupted/g)].map((m) => Number(m[1]));
  assert.ok(
    blocks.some((b) => changedAt.some((at) => Math.floor(at / 4096) === b)),
    `dm-verity named blocks ${blocks.join(", ")}; the changed ones are ${changedAt.map((at) => Math.floor(at / 4096)).join(", ")}`,
  );
  assert.match(c("superblock"), /^rc=1 foyer-payload: \/dev\/vd\w+ does not match this initramfs \(root hash [0-9a-f]{12}…\): not mounted/);
  assert.match(c("superblock-after"), /^mounts=0 dm=control$/, "a refused payload left a mount or its verity device behind");
  assert.match(c("roothash"), /^rc=1 foyer-payload: \/dev\/vd\w+ does not match this initramfs/);
  assert.match(c("roothash-after"), /^mounts=0 dm=control$/);
  say(`device-mapper boot: ${[...cases].map(([k, v]) => `${k}: ${v.slice(0, 60)}`).join("; ")}`);
});

test("a real boot from the split image: foyerd from the small part, its first frame, the display stack from the payload once mounted, the disk unlocks", async () => {
  await inVm(appliance, { initrd: split.initrd, payload: split.payload, append: "rd.foyer.profile=vm" }, "split", async (vm) => {
    const [mounted] = await vm.waitSerial(/foyer-payload: mounted [^\n]*\n/, 300_000, "the payload mounted");
    const mountedAt = vm.seconds;
    // foyerd (node and foyer from the small part) starts beside the mount, draws its frame on the
    // card, and starts the display stack once the mount script's last file says it is mounted
    const [, frameAt] = await vm.waitSerial(/\[\s*([\d.]+)\] node\[\d+\]: display: first frame framebuffer=true splash=true/, 300_000, "foyer's first frame");
    const [, stackAt] = await vm.waitSerial(
      /\[\s*([\d.]+)\] node\[\d+\]: the payload is mounted: starting the display stack/,
      300_000,
      "the display stack's start",
    );
    const [, payloadAt] = /\[\s*([\d.]+)\] [^\n]*foyer-payload: mounted/.exec(vm.serial) ?? [];
    const [, foyerdAt] = /\[\s*([\d.]+)\] node\[\d+\]: /.exec(vm.serial) ?? [];
    say(
      `kernel clock: foyerd's first line ${foyerdAt} s, the payload mounted ${payloadAt ?? "?"} s, the display stack started ${stackAt} s, foyer's first frame ${frameAt} s`,
    );
    const [, ms] = await vm.waitSerial(/greeter interactive ms=(\d+)/, 480_000, "foyer's greeter interactive");
    const shown = await waitForPrompt(vm, 240_000, join(tmpdir(), "foyer-vm-split-prompt.png"));
    say(
      `${mounted.trim()} at ${mountedAt.toFixed(0)} s; greeter interactive ${(Number(ms) / 1000).toFixed(1)} s after foyerd started; prompt drawn ${shown.toFixed(0)} s after qemu started (TCG)`,
    );
    const mem = /memory at the prompt supervisorMb=([\d.]+) greeterMb=([\d.]+) systemUsedMb=([\d.]+)/.exec(vm.serial);
    if (mem) say(`memory at the prompt: foyerd ${mem[1]} MB, greeter stack ${mem[2]} MB, whole VM ${mem[3]} MB used`);
    say(await unlockToRoot(vm));
  });
});

test.run();
