// The appliance's initramfs made by Arch's mkinitcpio (v41, kept at ../shared/tools/mkinitcpio
// because Debian has no package of it) with foyer's hooks (packaging/mkinitcpio): `sd-foyer` in a
// systemd image that unlocks with sd-encrypt, `foyer` in a busybox image that unlocks with encrypt.
// mkinitcpio runs from a copy whose install-time placeholders are filled with Debian's paths.
import { existsSync, mkdirSync, rmSync, cpSync, readdirSync, readFileSync, writeFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { cacheDir, fresh, hashTree, hostKernel, keyOf, sh, stamp, top, VM_VCONSOLE, type Appliance } from "./appliance.js";

export const MKINITCPIO_SRC = join(top, "../shared/tools/mkinitcpio");

/**
 * What an Arch install of mkinitcpio substitutes at build time (meson), mapped to Debian 12:
 * sbin on the PATH (Debian's modinfo and fsck live there), systemd's and BusyBox's own paths.
 */
const PLACEHOLDERS: [string, (lib: string) => string][] = [
  ["@VERSION@", () => "41"],
  ["@INITCPIO_LIBDIR@", (lib) => lib],
  ["@INITCPIO_SYSCONFDIR@", (lib) => join(lib, "etc")],
  ["@SYSCONFDIR@", (lib) => join(lib, "etc")],
  ['"@BINDIR@:/bin"', () => '"/usr/sbin:/usr/bin:/sbin:/bin"'],
  ["@TMPFILES_PATH@", () => "/usr/bin/systemd-tmpfiles"],
  ["@UDEVD_PATH@", () => "/usr/lib/systemd/systemd-udevd"],
  ["@VCONSOLE_CONF@", () => "/etc/vconsole.conf"],
  // Arch ships a static BusyBox for initramfs images; Debian's own is dynamic, and add_binary
  // brings its libraries
  ["/usr/lib/initcpio/busybox", () => "/bin/busybox"],
];

/**
 * Where mkinitcpio's own hooks name Arch's files: Debian's place for the same file (sbin,
 * multiarch), or nothing where the file belongs to a newer systemd than Debian 12's 252
 * (systemd-executor 255, validatefs 258, the stub's tmpfiles 254) or Debian keeps one copy
 * (hwdb.bin only under /usr/lib/udev). With these the build reports no error, and finds the
 * udev rules it does not report.
 */
const ARCH_PATHS: [string, string][] = [
  ["/usr/bin/sulogin", "/usr/sbin/sulogin"],
  ["/usr/bin/swapon", "/usr/sbin/swapon"],
  ["/usr/bin/swapoff", "/usr/sbin/swapoff"],
  ["        /usr/lib/systemd/systemd-executor \\\n", ""],
  ["        /usr/lib/systemd/systemd-validatefs \\\n", ""],
  ['    add_file "/usr/lib/tmpfiles.d/20-systemd-stub.conf"\n', ""],
  ["        /usr/lib/udev/hwdb.bin \\\n        /etc/udev/hwdb.bin", "        /usr/lib/udev/hwdb.bin"],
  ["'/usr/lib/cryptsetup/libcryptsetup-token-", "'/usr/lib/x86_64-linux-gnu/cryptsetup/libcryptsetup-token-"],
  // device-mapper's udev rules under Debian's names (without them no /dev/mapper link appears and
  // systemd waits for the unlocked root forever); mkinitcpio skips a rule it cannot find silently
  ["'10-dm.rules'", "'55-dm.rules'"],
  ["'13-dm-disk.rules'", "'60-persistent-storage-dm.rules'"],
  ["'/usr/lib/libkmod.so.2'", "'/usr/lib/x86_64-linux-gnu/libkmod.so.2'"],
  ["'/usr/lib/libgcc_s.so.1'", "'/usr/lib/x86_64-linux-gnu/libgcc_s.so.1'"],
  ["'/usr/lib/ossl-modules/legacy.so'", "'/usr/lib/x86_64-linux-gnu/ossl-modules/legacy.so'"],
];

/** mkinitcpio's tree under the cache with the placeholders filled in; returns its folder. */
function mkinitcpioTree(): string {
  if (!existsSync(join(MKINITCPIO_SRC, "mkinitcpio"))) {
    throw new Error(`mkinitcpio v41 is missing at ${MKINITCPIO_SRC} (see its FOYER-README.md)`);
  }
  const lib = join(cacheDir, "mkinitcpio-lib");
  rmSync(lib, { recursive: true, force: true });
  cpSync(MKINITCPIO_SRC, lib, { recursive: true });
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const s = readFileSync(p, "utf8");
        const filled = PLACEHOLDERS.reduce((acc, [from, to]) => acc.split(from).join(to(lib)), s);
        const t = ARCH_PATHS.reduce((acc, [from, to]) => acc.split(from).join(to), filled);
        if (t !== s) writeFileSync(p, t);
      }
    }
  };
  walk(lib);
  return lib;
}

export type MkinitcpioFlavour = "systemd" | "busybox";

/**
 * The HOOKS line an Arch user would write for each, with foyer's hook in its documented place
 * (packaging/mkinitcpio/README.md) and the appliance's own hook last. Without `sd-vconsole` and
 * `keymap`: Debian 12 has neither systemd-vconsole-setup nor kbd's keymaps; foyer takes the
 * layout from the image's /etc/vconsole.conf, which the appliance's hook adds.
 */
export const MKINITCPIO_HOOKS: Record<MkinitcpioFlavour, string> = {
  systemd: "base systemd modconf kms keyboard block sd-foyer sd-encrypt filesystems fsck foyer-appliance",
  busybox: "base udev modconf kms keyboard block foyer encrypt filesystems fsck foyer-appliance",
};

/**
 * The appliance's initramfs made by mkinitcpio, `flavour` as above: foyer from this checkout
 * (FOYER_SRC), the appliance's profiles and console keymap from a hook of its own. Cached like
 * the other images; returns the image and the build's log.
 */
export function buildMkinitcpio(a: Appliance, flavour: MkinitcpioFlavour, log: (s: string) => void = () => {}): { initrd: string; buildLog: string } {
  const out = join(cacheDir, `initrd-mkinitcpio-${flavour}.img`);
  const logFile = join(cacheDir, `initrd-mkinitcpio-${flavour}.log`);
  const key = [
    hostKernel().version,
    keyOf("initrd-foyer"),
    MKINITCPIO_HOOKS[flavour],
    VM_VCONSOLE.trim(),
    hashTree([
      join(top, "packaging/mkinitcpio"),
      join(top, "packaging/foyer-image.sh"),
      join(top, "packaging/libexec"),
      join(top, "packaging/systemd/initrd"),
      MKINITCPIO_SRC,
    ]),
    createHash("sha256")
      .update(buildMkinitcpio.toString() + mkinitcpioTree.toString() + JSON.stringify([PLACEHOLDERS.map(([f, t]) => [f, t("L")]), ARCH_PATHS]))
      .digest("hex")
      .slice(0, 8),
  ].join(":");
  if (fresh(`initrd-mkinitcpio-${flavour}`, key, out) && existsSync(logFile)) return { initrd: out, buildLog: readFileSync(logFile, "utf8") };
  log(`building the initramfs with foyer (mkinitcpio, ${flavour})…`);
  const lib = mkinitcpioTree();
  const extra = join(cacheDir, `mkinitcpio-${flavour}-hooks`);
  rmSync(extra, { recursive: true, force: true });
  mkdirSync(join(extra, "install"), { recursive: true });
  mkdirSync(join(extra, "hooks"), { recursive: true });
  // the appliance's own: foyer's VM profiles (made with the dracut image) and its console keymap
  writeFileSync(
    join(extra, "install/foyer-appliance"),
    [
      "#!/bin/bash",
      "build() {",
      `    local f; for f in '${join(cacheDir, "vm-profiles")}'/*.json; do add_file "$f" "/etc/foyer/profiles/\${f##*/}"; done`,
      `    add_file '${join(cacheDir, "vm-vconsole.conf")}' /etc/vconsole.conf`,
      "}",
      "",
    ].join("\n"),
  );
  const conf = join(extra, "mkinitcpio.conf");
  writeFileSync(
    conf,
    [
      "MODULES=(virtio_pci virtio_blk virtio_gpu virtio_input virtio_rng virtio_console ext4 dm_crypt)",
      "BINARIES=()",
      "FILES=()",
      `HOOKS=(${MKINITCPIO_HOOKS[flavour]})`,
      "COMPRESSION=zstd",
      "",
    ].join("\n"),
  );
  const r = sh("bash", ["-c", `'${lib}/mkinitcpio' -k '${hostKernel().version}' -c '${conf}' -g '${out}' 2>&1; echo "exit=$?"`], {
    env: {
      ...process.env,
      FOYER_SRC: top,
      MKINITCPIO_LIBRARY: lib,
      MKINITCPIO_HOOKS: [join(extra, "hooks"), join(top, "packaging/mkinitcpio/hooks"), join(lib, "hooks")].join(":"),
      MKINITCPIO_INSTALL: [join(extra, "install"), join(top, "packaging/mkinitcpio/install"), join(lib, "install")].join(":"),
    },
  });
  writeFileSync(logFile, r);
  if (!/exit=0\s*$/.test(r) || !existsSync(out)) throw new Error(`mkinitcpio (${flavour}) failed:\n${r.slice(-4000)}`);
  log(`mkinitcpio (${flavour}): ${(statSync(out).size / 1048576).toFixed(1)} MiB`);
  stamp(`initrd-mkinitcpio-${flavour}`, key);
  return { initrd: out, buildLog: r };
}
