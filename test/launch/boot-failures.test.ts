// A failed root or /usr check whose unit names no device (systemd-fsck-root.service without an
// argument): the device from the kernel command line and the fstab, as systemd-fstab-generator
// decides it, as udev's /dev/disk/by-… symlink; and the watch that reads the two files for it.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { EventEmitter } from "node:events";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileSystemSpec, udevNode, configuredFsckDevice, parseFstab, fsckFileSystem, BootFailureWatch } from "../../src/launch/boot-failures.js";
import type { SystemdLink } from "../../src/launch/systemd.js";
import { collectingLogger, withTimeout } from "../helpers/index.js";

const root = (cmdline: string, fstab = "") => configuredFsckDevice("root", cmdline, fstab);
const usr = (cmdline: string, fstab = "") => configuredFsckDevice("usr", cmdline, fstab);

test("which checks may name no device: the root's and /usr's", () => {
  assert.is(fsckFileSystem("systemd-fsck-root.service"), "root");
  assert.is(fsckFileSystem("systemd-fsck-usr.service"), "usr");
  for (const u of ["systemd-fsck@dev-vda2.service", "emergency.target", "systemd-fsck-root.socket", "systemd-fsckd.service"])
    assert.is(fsckFileSystem(u), undefined, u);
});

test("each spec form as udev's symlink; the UUID's case as written, as systemd keeps it", () => {
  assert.is(root("quiet root=UUID=037b9d94-148e-4ee4-8d38-67bfe15bb535 ro"), "/dev/disk/by-uuid/037b9d94-148e-4ee4-8d38-67bfe15bb535");
  // a vfat volume's serial: udev's link is upper case, so lower-casing would name no device
  assert.is(root("root=UUID=4E2C-91AB"), "/dev/disk/by-uuid/4E2C-91AB");
  assert.is(root("root=LABEL=fedora_root"), "/dev/disk/by-label/fedora_root");
  assert.is(root("root=PARTUUID=5d75bd2d-6c59-4f73-9762-f4025ca97033"), "/dev/disk/by-partuuid/5d75bd2d-6c59-4f73-9762-f4025ca97033");
  assert.is(root("root=PARTUUID=9bdf2dc6-02"), "/dev/disk/by-partuuid/9bdf2dc6-02");
  assert.is(root("root=PARTLABEL=root-x86-64"), "/dev/disk/by-partlabel/root-x86-64");
  assert.is(root("root=/dev/mapper/luks-1f2e"), "/dev/mapper/luks-1f2e");
  assert.is(root("root=/dev/vda2"), "/dev/vda2");
  // the spec is what the configuration says, the node what fsck opens
  assert.is(fileSystemSpec("root", "root=LABEL=fedora_root", ""), "LABEL=fedora_root");
});

test("udev's escaping of a tag's value (systemd's own cases): '/', spaces, backslashes as \\xNN, UTF-8 kept", () => {
  assert.is(udevNode("LABEL=applé/jack"), "/dev/disk/by-label/applé\\x2fjack");
  assert.is(udevNode("PARTLABEL=pinkié pie"), "/dev/disk/by-partlabel/pinkié\\x20pie");
  assert.is(udevNode("LABEL=a\\b"), "/dev/disk/by-label/a\\x5cb");
  assert.is(udevNode("LABEL=#+-.:=@_"), "/dev/disk/by-label/#+-.:=@_");
  assert.is(udevNode("LABEL=x*y$z"), "/dev/disk/by-label/x\\x2ay\\x24z");
  assert.is(udevNode("LABEL=\ufdd0"), "/dev/disk/by-label/\\xef\\xb7\\x90");
  // one pair of outer quotes is dropped (systemd's unquote), inner ones are escaped
  assert.is(udevNode(`LABEL="my root"`), "/dev/disk/by-label/my\\x20root");
  assert.is(udevNode("LABEL='root'"), "/dev/disk/by-label/root");
  assert.is(udevNode(`LABEL=a"b`), "/dev/disk/by-label/a\\x22b");
  // nothing that is not a device node under /dev
  for (const bad of [
    "UUID=",
    `LABEL=""`,
    "LABEL=..",
    "LABEL=.",
    "/dev/",
    "/dev/nfs",
    "/dev//nfs",
    "/dev/../etc/shadow",
    "rootfs",
    "zfs:rpool/ROOT",
    "/srv/nfsroot",
    "/dev/a\0b",
    "/dev/" + "x".repeat(4100),
  ]) {
    assert.is(udevNode(bad), undefined, bad);
  }
});

test("the last root= wins; one without a value is ignored, an empty one unsets it", () => {
  assert.is(root("root=/dev/sda1 ro root=LABEL=second"), "/dev/disk/by-label/second");
  assert.is(root("root=LABEL=second root"), "/dev/disk/by-label/second");
  assert.is(root("root=/dev/sda1 root=", "/dev/vdb1 /sysroot ext4 defaults 0 1\n"), "/dev/vdb1");
  // rd.root= and other keys ending in root are not root=
  assert.is(root("rd.root=/dev/sda1 myroot=/dev/sda2 mount.usr=/dev/sda3"), undefined);
});

test("quoting as the kernel splits the command line: double quotes group and are dropped", () => {
  assert.is(root(`quiet "root=LABEL=my root" ro`), "/dev/disk/by-label/my\\x20root");
  assert.is(root(`root="LABEL=my root" ro`), "/dev/disk/by-label/my\\x20root");
  assert.is(root(`root=LABEL="my root"`), "/dev/disk/by-label/my\\x20root");
  // without quotes the space ends the switch
  assert.is(root("root=LABEL=my root"), "/dev/disk/by-label/my");
});

test("a root that is no block device (gpt-auto, tmpfs, NFS, …): none, and the fstab is not asked", () => {
  const fstab = "/dev/vdb1 /sysroot ext4 defaults 0 1\n";
  assert.is(root("", fstab), "/dev/vdb1", "the fstab alone names it");
  for (const r of [
    "gpt-auto",
    "tmpfs",
    "/dev/nfs",
    "nfs:10.0.0.1:/srv/root",
    "nfs4:server:/root",
    "dhcp",
    "dhcp6",
    "10.0.0.1:/srv/root",
    "[2001:db8::1]:/srv/root",
    "/srv/nfsroot",
    "cifs://server/root",
    "iscsi:10.0.0.1::::iqn.2009-06.test:root",
    "live:CDLABEL=Fedora",
    "zfs:AUTO",
  ]) {
    assert.is(root(`root=${r}`, fstab), undefined, r);
    assert.is(fileSystemSpec("root", `root=${r}`, fstab), undefined, r);
  }
  // a later root= that is a device wins over an earlier gpt-auto
  assert.is(root("root=gpt-auto root=/dev/vda3", fstab), "/dev/vda3");
});

test("the fstab: the /sysroot entry (the first), else /; comments, blank lines, tabs", () => {
  const fstab = [
    "# /etc/fstab in the initrd",
    "",
    "   # an indented comment",
    "\t",
    "UUID=aaaa-swap\tnone\tswap\tsw\t0 0",
    "LABEL=data  /sysroot/srv  ext4  defaults  0 2",
    "UUID=11111111-2222-3333-4444-555555555555\t/\text4\tdefaults\t0 1",
    "  PARTUUID=0f0f0f0f-01   /sysroot/   ext4   ro   0 1   ",
    "/dev/vdc1 /sysroot ext4 defaults 0 1",
  ].join("\n");
  assert.is(fileSystemSpec("root", "quiet splash", fstab), "PARTUUID=0f0f0f0f-01");
  assert.is(root("quiet splash", fstab), "/dev/disk/by-partuuid/0f0f0f0f-01");
  // no /sysroot entry: the real root's fstab names /
  assert.is(
    root("", "UUID=11111111-2222-3333-4444-555555555555 / ext4 defaults 0 1\n#/dev/vda1 /sysroot ext4 defaults 0 1"),
    "/dev/disk/by-uuid/11111111-2222-3333-4444-555555555555",
  );
  // root=fstab says: the fstab's; fstab=0 / rd.fstab=no: none
  assert.is(root("root=fstab", fstab), "/dev/disk/by-partuuid/0f0f0f0f-01");
  assert.is(root("rd.fstab=no", fstab), undefined);
  assert.is(root("fstab=0", fstab), undefined);
  assert.is(root("fstab=0 fstab", fstab), "/dev/disk/by-partuuid/0f0f0f0f-01");
  // a /sysroot entry that is no device is the answer too: / is not asked then
  assert.is(root("", "tmpfs /sysroot tmpfs defaults 0 0\n/dev/vda1 / ext4 defaults 0 1"), undefined);
  assert.is(root("", "# nothing\n\n"), undefined);
  assert.is(root("", ""), undefined);
});

test("fstab escapes as getmntent undoes them: a LABEL with spaces (\\040) and '/' as udev names its link", () => {
  const fstab = "LABEL=my\\040root/disk /sysroot ext4 defaults 0 1\n";
  assert.is(fileSystemSpec("root", "", fstab), "LABEL=my root/disk");
  assert.is(root("", fstab), "/dev/disk/by-label/my\\x20root\\x2fdisk");
  assert.equal(parseFstab("LABEL=a\\011b\\134c\\\\d\\012e /mnt\\040point ext4 defaults 0 2\n"), [{ spec: "LABEL=a\tb\\c\\d\ne", file: "/mnt point" }]);
  // only these four: another octal escape stays as written (glibc's decode_name)
  assert.equal(parseFstab("LABEL=a\\041b /x ext4"), [{ spec: "LABEL=a\\041b", file: "/x" }]);
  // a mount point spelled with \040 is not /sysroot
  assert.is(root("", "/dev/vda1 /sysroot\\040old ext4 defaults 0 1\n"), undefined);
});

test("/usr: mount.usr=, else the root's device when only mount.usrfstype=/mount.usrflags= say /usr is apart, else the fstab's /sysroot/usr or /usr", () => {
  assert.is(usr("root=/dev/vda2 mount.usr=PARTLABEL=usr-x86-64"), "/dev/disk/by-partlabel/usr-x86-64");
  assert.is(usr("mount.usr=/dev/vda3 mount.usr=UUID=abcd"), "/dev/disk/by-uuid/abcd");
  assert.is(usr("root=/dev/vda2 mount.usrflags=subvol=usr"), "/dev/vda2");
  assert.is(usr("root=/dev/vda2 mount.usrfstype=btrfs"), "/dev/vda2");
  // root= alone says nothing of /usr: it is on the root
  assert.is(usr("root=/dev/vda2"), undefined);
  assert.is(usr("mount.usr=gpt-auto", "/dev/vdb1 /sysroot/usr ext4 defaults 0 1"), undefined);
  assert.is(usr("mount.usr=/dev/nfs"), undefined);
  assert.is(usr("root=/dev/vda2", "/dev/vdb1 /sysroot/usr ext4 defaults 0 1\n/dev/vdb2 /usr ext4 defaults 0 1"), "/dev/vdb1");
  assert.is(usr("mount.usr=fstab", "LABEL=usr /usr ext4 defaults 0 1"), "/dev/disk/by-label/usr");
  // mount.usr= never names the root
  assert.is(root("mount.usr=/dev/vda3", "/dev/vdb2 /usr ext4 defaults 0 1"), undefined);
});

/** A link whose ListUnitsByPatterns reports `unit` failed and whose ExecStart is `argv`. */
function failedLink(unit: string, argv: string[]) {
  const link = new EventEmitter() as EventEmitter & { subscribed(): Promise<unknown> };
  const bus = {
    call: async (c: { member: string }) => (c.member === "ListUnitsByPatterns" ? [[[unit, "", "loaded", "failed", "failed"]]] : []),
    get: async (_p: string, _i: string, prop: string) => (prop === "ExecStart" ? [[argv[0], argv, false, 0n, 0n, 0n, 0n, 0, 0, 0]] : "inactive"),
  };
  link.subscribed = async () => bus;
  return link as unknown as SystemdLink;
}

async function failures(unit: string, argv: string[], files: { cmdline?: string; fstab?: string }, lines: string[] = []) {
  const w = new BootFailureWatch(failedLink(unit, argv), collectingLogger(lines), files);
  const seen: [string, string, string | undefined][] = [];
  w.on("failure", (reason: string, u: string, device: string | undefined) => seen.push([reason, u, device]));
  await withTimeout(w.start(), 5000, "BootFailureWatch.start");
  w.stop();
  return seen;
}

const dir = mkdtempSync(join(tmpdir(), "foyer-boot-failures-"));
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};
const SYSTEMD_FSCK = "/usr/lib/systemd/systemd-fsck";

test("the watch: a root check without a device argument → the device from the kernel command line", async () => {
  const cmdline = file("cmdline", "BOOT_IMAGE=/vmlinuz root=UUID=037b9d94-148e-4ee4-8d38-67bfe15bb535 ro quiet\n");
  const lines: string[] = [];
  const seen = await failures("systemd-fsck-root.service", [SYSTEMD_FSCK], { cmdline, fstab: join(dir, "no-fstab") }, lines);
  assert.equal(seen, [
    ["file system check failed: 'systemd-fsck-root.service'", "systemd-fsck-root.service", "/dev/disk/by-uuid/037b9d94-148e-4ee4-8d38-67bfe15bb535"],
  ]);
  // a missing fstab is common in an initrd: not a warning
  assert.not.ok(
    lines.some((l) => l.startsWith("warning")),
    lines.join("\n"),
  );
});

test("the watch: the unit's own device wins, a systemd-fsck@ instance's too; -usr from mount.usr=", async () => {
  const files = { cmdline: file("cmdline-other", "root=/dev/sdz9 mount.usr=/dev/sdz8\n"), fstab: join(dir, "no-fstab") };
  assert.equal((await failures("systemd-fsck-root.service", [SYSTEMD_FSCK, "/dev/mapper/luks-1f2e"], files))[0]![2], "/dev/mapper/luks-1f2e");
  assert.equal((await failures("systemd-fsck@dev-vda2.service", ["/bin/sh", "-c", "exit 4"], files))[0]![2], "/dev/vda2");
  assert.equal((await failures("systemd-fsck@dev-vda2.service", [SYSTEMD_FSCK], files))[0]![2], "/dev/vda2");
  assert.equal((await failures("systemd-fsck-usr.service", [SYSTEMD_FSCK], files))[0]![2], "/dev/sdz8");
});

test("the watch: the fstab when the command line names no root; unreadable or oversized files are warnings and ignored", async () => {
  const fstab = file("fstab", "# initrd\nLABEL=my\\040root /sysroot ext4 defaults 0 1\nLABEL=usr /sysroot/usr ext4 defaults 0 1\n");
  const quiet = file("cmdline-quiet", "quiet splash\n");
  assert.equal((await failures("systemd-fsck-root.service", [SYSTEMD_FSCK], { cmdline: quiet, fstab }))[0]![2], "/dev/disk/by-label/my\\x20root");
  assert.equal((await failures("systemd-fsck-usr.service", [SYSTEMD_FSCK], { cmdline: quiet, fstab }))[0]![2], "/dev/disk/by-label/usr");

  // a command line over 64 KiB is not read (its root= is not taken); the fstab still is
  const big = file("cmdline-big", `root=/dev/vda9 ${"x".repeat(64 * 1024)}`);
  let lines: string[] = [];
  assert.equal((await failures("systemd-fsck-root.service", [SYSTEMD_FSCK], { cmdline: big, fstab }, lines))[0]![2], "/dev/disk/by-label/my\\x20root");
  assert.ok(
    lines.some((l) => l.startsWith(`warning cannot read ${big}, ignoring`) && l.includes("larger than 65536 bytes")),
    lines.join("\n"),
  );

  // an fstab that is a folder: a warning, and the command line alone decides
  const folder = join(dir, "fstab-folder");
  mkdirSync(folder);
  lines = [];
  assert.equal((await failures("systemd-fsck-root.service", [SYSTEMD_FSCK], { cmdline: quiet, fstab: folder }, lines))[0]![2], undefined);
  assert.ok(
    lines.some((l) => l.startsWith(`warning cannot read ${folder}, ignoring`)),
    lines.join("\n"),
  );
});

test.run();
