// The VM appliance: the host's own kernel (Debian's linux-image), a dracut initramfs with foyer,
// and a LUKS2-encrypted root disk, built from Debian packages only and cached outside the repo
// (${FOYER_VM_CACHE:-/var/cache/foyer-vm}). Each part is rebuilt only when its inputs changed.
//   node --import tsx test/vm/appliance.ts build     builds (or reuses) and prints the paths
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  writeFileSync,
  rmSync,
  cpSync,
  copyFileSync,
  chmodSync,
  symlinkSync,
  appendFileSync,
} from "node:fs";
import { join, dirname, relative } from "node:path";
import { fileURLToPath } from "node:url";

export const top = join(dirname(fileURLToPath(import.meta.url)), "../..");
export const cacheDir = process.env.FOYER_VM_CACHE ?? "/var/cache/foyer-vm";
/** The passphrase of the appliance's root disk: a test fixture, typed through QMP. */
export const VM_PASSPHRASE = "foyer-vm";
/**
 * The appliance's machine is set up German, as a console keymap only (no XKBLAYOUT): foyer must
 * turn it into an X layout and apply it, and the test types on the German key positions.
 */
export const VM_VCONSOLE = "KEYMAP=de-latin1\n";

export interface Appliance {
  kernel: string;
  initrd: string;
  initrdPlain: string;
  rootImage: string;
  luksUuid: string;
}

export function sh(cmd: string, args: string[], opts: { input?: Buffer; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, args, { input: opts.input, env: opts.env ?? process.env, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`'${cmd}' is missing (${(r.error as NodeJS.ErrnoException).code}): run packaging/dev/setup.sh`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}):\n${r.stderr.slice(-3000)}`);
  return r.stdout;
}

export function hashTree(paths: string[]): string {
  const h = createHash("sha256");
  const walk = (p: string) => {
    if (!existsSync(p)) return;
    const st = statSync(p);
    if (st.isDirectory()) for (const e of readdirSync(p).sort()) walk(join(p, e));
    else h.update(relative(top, p)).update(readFileSync(p)); // the checkout's own path is no input: a fresh clone finds the cache
  };
  paths.forEach(walk);
  return h.digest("hex").slice(0, 16);
}

export const stampOf = (name: string) => join(cacheDir, `${name}.stamp`);
/** Whether `file` was built from the inputs `key` stands for (its stamp, written after the build, says so). */
export function fresh(name: string, key: string, file: string): boolean {
  return existsSync(file) && existsSync(stampOf(name)) && readFileSync(stampOf(name), "utf8") === key;
}
export const stamp = (name: string, key: string) => writeFileSync(stampOf(name), key);
/** The inputs key of an image that was built (and stamped) before. */
export const keyOf = (name: string) => readFileSync(stampOf(name), "utf8");

/** Unpacks an initramfs made by dracut (an early cpio, maybe empty, then the zstd main part) into `dir`. */
export function unpackInitrd(img: string, dir: string): void {
  sh("sh", ["-c", `/usr/lib/dracut/skipcpio '${img}' | zstd -dc | (cd '${dir}' && cpio -id --quiet)`]);
}

/**
 * `initrd` with the files under `dir` appended as a second cpio archive, written to `out`: the
 * kernel unpacks both (a later file wins), so a test can add its own PID 1 (`rdinit=`) or tools.
 */
export function withExtraCpio(initrd: string, dir: string, out: string): void {
  const cpio = spawnSync("sh", ["-c", 'cd "$1" && find . | cpio -o -H newc -R 0:0 --quiet', "sh", dir], { maxBuffer: 1 << 30 });
  if (cpio.error || cpio.status !== 0) throw new Error(`cpio of ${dir} failed (${cpio.status ?? String(cpio.error)}): ${cpio.stderr}`);
  copyFileSync(initrd, out);
  // archives start aligned; the kernel skips the NULs between them
  appendFileSync(out, Buffer.alloc((512 - (statSync(out).size % 512)) % 512));
  appendFileSync(out, cpio.stdout);
}

/**
 * Encrypts a finished file system image in place, offline (LUKS2, its header in 32 MiB added at the
 * end), with the appliance's passphrase (or `passphrase`) on stdin only; returns the LUKS UUID.
 */
export function encryptOffline(img: string, passphrase = VM_PASSPHRASE): string {
  sh("truncate", ["-s", "+32M", img]);
  sh(
    "cryptsetup",
    [
      "reencrypt",
      "--batch-mode",
      "--encrypt",
      "--type",
      "luks2",
      "--reduce-device-size",
      "32M",
      "--pbkdf",
      "pbkdf2",
      "--pbkdf-force-iterations",
      "1000",
      "--key-file=-",
      img,
    ],
    { input: Buffer.from(passphrase) },
  );
  return sh("cryptsetup", ["luksUUID", img]).trim();
}

export function hostKernel(): { version: string; vmlinuz: string } {
  const k = readdirSync("/boot")
    .filter((f) => f.startsWith("vmlinuz-"))
    .sort()
    .pop();
  if (!k) throw new Error("no kernel in /boot: install linux-image-amd64 (packaging/dev/setup.sh does)");
  return { version: k.slice("vmlinuz-".length), vmlinuz: join("/boot", k) };
}

/** A private dracut tree with foyer's module in it: the host's /usr/lib/dracut stays untouched. */
function dracutBase(): string {
  const base = join(cacheDir, "dracut");
  rmSync(base, { recursive: true, force: true });
  cpSync("/usr/lib/dracut", base, { recursive: true, verbatimSymlinks: true });
  const mod = join(base, "modules.d", "91foyer");
  mkdirSync(mod, { recursive: true });
  copyFileSync(join(top, "packaging/dracut/91foyer/module-setup.sh"), join(mod, "module-setup.sh"));
  chmodSync(join(mod, "module-setup.sh"), 0o755);
  copyFileSync(join(top, "packaging/systemd/initrd/foyer.service"), join(mod, "foyer.service"));
  copyFileSync(join(top, "packaging/dracut/91foyer/foyer-payload-mount.sh"), join(mod, "foyer-payload-mount.sh"));
  copyFileSync(join(top, "packaging/foyer-image.sh"), join(mod, "foyer-image.sh"));
  // foyer-recovery@.service and the OnFailure=/emergency drop-ins, under systemd/ in the module
  cpSync(join(top, "packaging/systemd/initrd"), join(mod, "systemd"), { recursive: true });
  return base;
}

/**
 * The appliance's own profile, installed as /etc/foyer/profiles/vm.json and chosen with
 * rd.foyer.profile=vm: the shipped wayland profile with deadlines sized for TCG, where cog
 * takes minutes, not seconds, to draw its first page.
 */
export const VM_PROFILE = {
  schema: 1,
  description: "the VM appliance: cage + cog on virtio-gpu, deadlines for an emulated CPU",
  // as the shipped profile: the greeter as transient units of the initrd's systemd
  launch: "auto",
  plymouth: { pidFile: "/run/plymouth/pid" },
  display: { stack: "wayland", browser: "cog", renderer: "pixman", seatd: true },
  greeter: { readyTimeoutMs: 480_000 },
  // single sign-on on: the passphrase that opened the root is left in root's keyring (test/vm/handoff)
  keyring: { enabled: true },
};

/**
 * The initramfs-tools image's profile for a greeter that cannot start (chromium is not in the
 * image): the breaker trips and foyer's own frame asks on the screen's console, tty1 (the
 * kernel's console is the serial line): rd.foyer.profile=vm-nobrowser.
 */
export const VM_NOBROWSER_PROFILE = {
  ...VM_PROFILE,
  description: "the VM appliance with a browser the image lacks: foyer's frame asks",
  display: { ...VM_PROFILE.display, browser: "chromium" },
  fallback: { mode: "builtin", console: "/dev/tty1" },
};

/**
 * The same with the display stack as systemd units (launch: auto finds systemd as PID 1 in the
 * initrd): rd.foyer.profile=vm-systemd. docs/launch.md says what to look for.
 */
export const VM_SYSTEMD_PROFILE = { ...VM_PROFILE, description: "the VM appliance, greeter as transient systemd units", launch: "auto" };

/**
 * The appliance for a repair: the recovery terminal's sulogin runs with --force, as dracut's own
 * emergency shell does (`sulogin -e`), since the initrd's root has no password: rd.foyer.profile=vm-recovery.
 */
export const VM_RECOVERY_PROFILE = {
  ...VM_PROFILE,
  description: "the VM appliance, repair as dracut's emergency shell allows it",
  recovery: { suloginForce: true },
};

/**
 * The x11 image's profile (rd.foyer.profile=vm-x11): the shipped profiles/x11.json (Xorg with the
 * modesetting driver on virtio-gpu, chromium in kiosk mode, its policy written) with a deadline
 * sized for TCG, where chromium takes minutes to draw its first page.
 */
const SHIPPED_X11 = JSON.parse(readFileSync(join(top, "profiles/x11.json"), "utf8")) as { display: object; greeter: object };
export const VM_X11_PROFILE = {
  ...SHIPPED_X11,
  description: "the VM appliance's x11 image: Xorg + chromium on virtio-gpu, deadlines for an emulated CPU",
  greeter: { ...SHIPPED_X11.greeter, readyTimeoutMs: 480_000 },
};

/**
 * Test only, in the foyer image: with foyer-test.ctl on the kernel command line, a unit drives
 * foyerctl over the initrd's bus once the prompt is up (status, restart-greeter) and then kills the
 * greeter's unit, printing FOYER-TEST lines on the console after each step. Its folder is
 * included as /etc/systemd/system.
 */
function testControlUnit(): string {
  const dir = join(cacheDir, "vm-test-units");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "sysinit.target.wants"), { recursive: true });
  writeFileSync(
    join(dir, "foyer-test-ctl.sh"),
    [
      "#!/bin/bash",
      'ctl() { FOYER_MAIN=foyerctl /usr/bin/node /usr/lib/foyer/foyerctl.mjs "$@"; }',
      'say() { echo "FOYER-TEST $*" > /dev/console; }',
      "# until foyerctl says the greeter runs, restarted at least N times, with the prompt pending",
      "until_up() {",
      "    local s",
      "    for ((i = 0; i < 300; i++)); do",
      "        s=$(ctl status 2>/dev/null)",
      "        if [[ $s =~ Greeter:\\ running\\ \\(([0-9]+)\\ restarts\\) ]] && (( BASH_REMATCH[1] >= $1 )) && [[ $s == *'Prompts: 1'* ]]; then return 0; fi",
      "        sleep 2",
      "    done",
      '    say "greeter not back after $1 restarts"; exit 1',
      "}",
      "until_up 0",
      'while IFS= read -r l; do say "status| $l"; done <<< "$(ctl status)"',
      "ctl restart-greeter",
      'say "restart-greeter exit $?"',
      "until_up 1",
      'say "greeter back after restart-greeter"',
      "greeter_unit() { local u; u=$(systemctl list-units --plain --no-legend --state=running 'foyer-greeter-*.service'); echo \"${u%% *}\"; }",
      "unit=$(greeter_unit)",
      'say "killing $unit"',
      'systemctl kill --signal=SIGKILL "$unit"',
      "until_up 2",
      'say "greeter back after the kill: $(greeter_unit)"',
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  writeFileSync(
    join(dir, "foyer-test-ctl.service"),
    [
      "[Unit]",
      "Description=foyer test: foyerctl at the prompt",
      "DefaultDependencies=no",
      "ConditionKernelCommandLine=foyer-test.ctl",
      "After=foyer.service dbus.socket",
      "Conflicts=initrd-switch-root.target shutdown.target",
      "[Service]",
      "ExecStart=/etc/systemd/system/foyer-test-ctl.sh",
      "StandardOutput=journal+console",
      "StandardError=journal+console",
      "",
    ].join("\n"),
  );
  symlinkSync("../foyer-test-ctl.service", join(dir, "sysinit.target.wants/foyer-test-ctl.service"));
  return dir;
}

/** How dracut is run, for the keys of the images it makes: a change rebuilds them. */
const dracutRecipe = () =>
  createHash("sha256")
    .update(dracutBase.toString() + buildInitrd.toString())
    .digest("hex")
    .slice(0, 8);

function buildInitrd(kver: string, withFoyer: boolean, out: string, plymouthTheme?: string, stacks?: string): void {
  const base = dracutBase();
  const profDir = join(cacheDir, "vm-profiles");
  mkdirSync(profDir, { recursive: true });
  writeFileSync(join(profDir, "vm.json"), JSON.stringify(VM_PROFILE, null, 2) + "\n");
  // the same with a short deadline: a greeter that does not come up says why on the console soon
  writeFileSync(join(profDir, "vm-debug.json"), JSON.stringify({ ...VM_PROFILE, greeter: { readyTimeoutMs: 100_000 } }, null, 2) + "\n");
  writeFileSync(join(profDir, "vm-systemd.json"), JSON.stringify(VM_SYSTEMD_PROFILE, null, 2) + "\n");
  writeFileSync(join(profDir, "vm-recovery.json"), JSON.stringify(VM_RECOVERY_PROFILE, null, 2) + "\n");
  writeFileSync(join(profDir, "vm-x11.json"), JSON.stringify(VM_X11_PROFILE, null, 2) + "\n");
  writeFileSync(join(cacheDir, "vm-vconsole.conf"), VM_VCONSOLE);
  const units = testControlUnit();
  const args = [
    "--force",
    "--quiet",
    "--no-hostonly",
    "--no-hostonly-cmdline",
    "--no-early-microcode",
    // zstd's default level here, not dracut's -15: a third of the build's time, for a few MB more
    "--compress",
    "zstd -3 -q -T0",
    "--kver",
    kver,
    // tpm2-tss: what dracut adds on its own for a crypttab with tpm2-device= (host-only images)
    ...(plymouthTheme ? ["--add", "systemd crypt plymouth"] : ["--add", withFoyer ? "systemd crypt tpm2-tss foyer" : "systemd crypt", "--omit", "plymouth"]),
    "--add-drivers",
    "virtio_blk virtio_pci virtio_gpu virtio_rng virtio_input virtio_console dm_crypt",
    ...(withFoyer ? ["--include", profDir, "/etc/foyer/profiles", "--include", units, "/etc/systemd/system"] : []),
    "--include",
    join(cacheDir, "vm-vconsole.conf"),
    "/etc/vconsole.conf",
    out,
  ];
  sh("dracut", args, {
    env: {
      ...process.env,
      dracutbasedir: base,
      FOYER_SRC: top,
      ...(plymouthTheme && { PLYMOUTH_THEME_NAME: plymouthTheme }),
      FOYER_STACKS: stacks ?? "wayland",
    },
  });
}

/**
 * The appliance's image with the x11 stack only (FOYER_STACKS=x11: Xorg + chromium, no cage, cog,
 * WPE or Mesa's drivers), for profiles/x11.json in a real boot (test/vm/x11.test.ts): rd.foyer.profile=vm-x11.
 */
export function buildX11Initrd(log: (s: string) => void = () => {}): string {
  const out = join(cacheDir, "initrd-x11.img");
  const key = [
    keyOf("initrd-foyer"),
    createHash("sha256")
      .update(JSON.stringify(VM_X11_PROFILE) + buildX11Initrd.toString())
      .digest("hex")
      .slice(0, 8),
  ].join(":");
  if (fresh("initrd-x11", key, out)) return out;
  log("building the initramfs with foyer's x11 stack (dracut, FOYER_STACKS=x11)…");
  buildInitrd(hostKernel().version, true, out, undefined, "x11");
  stamp("initrd-x11", key);
  return out;
}

/** The graphical splash foyer is measured against: the same image with Plymouth (no foyer), `theme`. */
export const PLYMOUTH_THEME = "spinner";
export function buildPlymouthInitrd(log: (s: string) => void = () => {}): string {
  const out = join(cacheDir, "initrd-plymouth.img");
  const key = `${hostKernel().version}:${PLYMOUTH_THEME}:${VM_VCONSOLE.trim()}:${dracutRecipe()}`;
  if (fresh("initrd-plymouth", key, out)) return out;
  if (!existsSync(`/usr/share/plymouth/themes/${PLYMOUTH_THEME}`))
    throw new Error(`Plymouth's '${PLYMOUTH_THEME}' theme is missing: install plymouth-themes (packaging/dev/setup.sh does)`);
  log(`building the initramfs with Plymouth (${PLYMOUTH_THEME}) and without foyer (dracut)…`);
  buildInitrd(hostKernel().version, false, out, PLYMOUTH_THEME);
  stamp("initrd-plymouth", key);
  return out;
}

/**
 * A minimal real root: busybox, an init that prints a marker on the console and powers off. With
 * `fsckFails`, one file's directory entry is removed behind its inode and the file system marked
 * unclean: `fsck -a` stops at the unattached inode ("UNEXPECTED INCONSISTENCY", exit 4), as a
 * disk after a crash would make systemd-fsck-root.service fail.
 */
function buildRootImage(out: string, fsckFails = false): string {
  const work = join(cacheDir, "root-tree");
  rmSync(work, { recursive: true, force: true });
  for (const d of ["bin", "sbin", "etc", "dev", "proc", "sys", "run", "tmp", "lib64", "lib/x86_64-linux-gnu", "var/log"])
    mkdirSync(join(work, d), { recursive: true });
  copyFileSync("/bin/busybox", join(work, "bin/busybox"));
  chmodSync(join(work, "bin/busybox"), 0o755);
  for (const line of sh("ldd", ["/bin/busybox"]).split("\n")) {
    const m = /(\/\S+\.so[^\s]*)/.exec(line);
    if (m) copyFileSync(m[1]!, join(work, m[1]!.replace(/^\//, "")));
  }
  symlinkSync("busybox", join(work, "bin/sh"));
  writeFileSync(join(work, "etc/os-release"), 'NAME="foyer appliance"\nID=foyer-appliance\n');
  // the file whose directory entry the broken root loses (not os-release: switch-root needs it)
  writeFileSync(join(work, "var/log/crash.log"), "written just before the power went\n");
  writeFileSync(
    join(work, "sbin/init"),
    [
      "#!/bin/sh",
      "# the real root: proves that the disk was unlocked and switch-root happened, then powers off",
      "/bin/busybox mount -t proc proc /proc 2>/dev/null",
      'echo "FOYER-ROOT-OK $(/bin/busybox cat /proc/uptime)" > /dev/console',
      "# every other disk the initrd opened (test/vm/disks): mounted read-only, its marker file shown",
      "for m in /dev/mapper/luks-*; do",
      '  [ -b "$m" ] && ! /bin/busybox grep -q "^$m / " /proc/mounts || continue',
      '  /bin/busybox mkdir -p /tmp/d && /bin/busybox mount -o ro "$m" /tmp/d && echo "FOYER-MOUNTED ${m##*/} $(/bin/busybox cat /tmp/d/marker)" > /dev/console',
      "  /bin/busybox umount /tmp/d 2>/dev/null",
      "done",
      'echo "FOYER-PS $(/bin/busybox ps -o comm | /bin/busybox tr "\\n" " ")" > /dev/console',
      "/bin/busybox sync",
      "/bin/busybox poweroff -f",
      "",
    ].join("\n"),
  );
  chmodSync(join(work, "sbin/init"), 0o755);
  rmSync(out, { force: true });
  sh("truncate", ["-s", "64M", out]);
  sh("mkfs.ext4", ["-q", "-F", "-d", work, out]);
  if (fsckFails) {
    sh("debugfs", ["-w", "-R", "unlink /var/log/crash.log", out]);
    sh("debugfs", ["-w", "-R", "ssv state 0", out]);
  }
  return encryptOffline(out);
}

export function buildAppliance(log: (s: string) => void = () => {}): Appliance {
  mkdirSync(cacheDir, { recursive: true });
  const k = hostKernel();
  const foyerInputs =
    createHash("sha256")
      .update(JSON.stringify([VM_PROFILE, VM_SYSTEMD_PROFILE, VM_RECOVERY_PROFILE]) + "debug100" + VM_VCONSOLE + testControlUnit.toString())
      .digest("hex")
      .slice(0, 8) +
    hashTree([
      join(top, "packaging/dracut"),
      join(top, "packaging/foyer-image.sh"),
      join(top, "packaging/libexec"),
      join(top, "packaging/systemd/initrd"),
      join(top, "dist"),
      join(top, "assets"),
      join(top, "profiles"),
      join(top, "package-lock.json"),
    ]);

  const initrd = join(cacheDir, "initrd-foyer.img");
  const keyFoyer = `${k.version}:${foyerInputs}:${dracutRecipe()}`;
  if (!fresh("initrd-foyer", keyFoyer, initrd)) {
    log("building the initramfs with foyer (dracut)…");
    buildInitrd(k.version, true, initrd);
    stamp("initrd-foyer", keyFoyer);
  }
  const initrdPlain = join(cacheDir, "initrd-plain.img");
  const keyPlain = `${k.version}:${VM_VCONSOLE.trim()}:${dracutRecipe()}`;
  if (!fresh("initrd-plain", keyPlain, initrdPlain)) {
    log("building the initramfs without foyer (dracut)…");
    buildInitrd(k.version, false, initrdPlain);
    stamp("initrd-plain", keyPlain);
  }
  const rootImage = join(cacheDir, "root.img");
  const rootKey = createHash("sha256").update(buildRootImage.toString()).digest("hex").slice(0, 16);
  let luksUuid = existsSync(join(cacheDir, "root.uuid")) ? readFileSync(join(cacheDir, "root.uuid"), "utf8").trim() : "";
  if (!fresh("root", rootKey, rootImage) || !luksUuid) {
    log("building the LUKS2 root disk…");
    luksUuid = buildRootImage(rootImage);
    writeFileSync(join(cacheDir, "root.uuid"), luksUuid);
    stamp("root", rootKey);
  }
  return { kernel: k.vmlinuz, initrd, initrdPlain, rootImage, luksUuid };
}

/**
 * The appliance's initramfs split by packaging/erofs/foyer-split-initrd: a small zstd cpio part and
 * foyer's heavy part as an lz4hc erofs image, booted with the image as a read-only disk.
 */
export function buildSplit(a: Appliance, log: (s: string) => void = () => {}): { initrd: string; payload: string; moved: string } {
  const dir = join(cacheDir, "split");
  const key = [keyOf("initrd-foyer"), keyOf("initrd-plain"), hashTree([join(top, "packaging/erofs")])].join(":");
  const initrd = join(dir, "initrd.img");
  const payload = join(dir, "foyer-payload.erofs");
  if (!(fresh("split", key, initrd) && existsSync(payload))) {
    log("splitting the initramfs into a cpio part and an erofs payload…");
    writeFileSync(join(cacheDir, "split.out"), sh(join(top, "packaging/erofs/foyer-split-initrd"), [a.initrd, a.initrdPlain, dir]));
    stamp("split", key);
  }
  return { initrd, payload, moved: readFileSync(join(cacheDir, "split.out"), "utf8").trim() };
}

/**
 * The same appliance made by initramfs-tools (mkinitramfs) instead of dracut, with foyer's hook and
 * scripts (packaging/initramfs-tools) and Debian's cryptsetup-initramfs: no systemd in the image,
 * cryptsetup's askpass reaches foyer through Plymouth's protocol. The crypttab entry for the root
 * disk and foyer's VM profiles come from a hook of the appliance's own.
 */
export function buildInitramfsTools(a: Appliance, log: (s: string) => void = () => {}, opts: { keyctlWith?: string } = {}): string {
  // keyctlWith: a second volume's LUKS UUID, both volumes opened with Debian's keyscript
  // decrypt_keyctl, which asks once and keeps the passphrase in the keyring for the other
  const name = opts.keyctlWith ? "initrd-itools-keyctl" : "initrd-itools";
  const out = join(cacheDir, `${name}.img`);
  const conf = join(cacheDir, "initramfs-tools");
  const key = [
    a.luksUuid,
    opts.keyctlWith ?? "",
    hostKernel().version,
    keyOf("initrd-foyer"),
    hashTree([join(top, "packaging/initramfs-tools"), join(top, "packaging/foyer-image.sh"), join(top, "packaging/libexec")]),
    createHash("sha256").update(buildInitramfsTools.toString()).digest("hex").slice(0, 8),
  ].join(":");
  if (fresh(name, key, out)) return out;
  log(`building the initramfs with foyer (initramfs-tools${opts.keyctlWith ? ", decrypt_keyctl" : ""})…`);
  rmSync(conf, { recursive: true, force: true });
  mkdirSync(join(conf, "conf.d"), { recursive: true });
  cpSync(join(top, "packaging/initramfs-tools/scripts"), join(conf, "scripts"), { recursive: true });
  cpSync(join(top, "packaging/initramfs-tools/hooks"), join(conf, "hooks"), { recursive: true });
  writeFileSync(join(conf, "initramfs.conf"), "MODULES=list\nBUSYBOX=y\nKEYMAP=n\nCOMPRESS=zstd\nCOMPRESSLEVEL=9\nRUNSIZE=10%\nFSTYPE=auto\n");
  writeFileSync(join(conf, "modules"), ["virtio_pci", "virtio_blk", "virtio_gpu", "virtio_input", "virtio_rng", "ext4", "dm_crypt"].join("\n") + "\n");
  const profDir = join(cacheDir, "vm-profiles");
  // this image's own test profile: a browser the image does not carry, so the greeter never starts
  const itoolsProfiles = join(cacheDir, "vm-itools-profiles");
  rmSync(itoolsProfiles, { recursive: true, force: true });
  mkdirSync(itoolsProfiles, { recursive: true });
  writeFileSync(join(itoolsProfiles, "vm-nobrowser.json"), JSON.stringify(VM_NOBROWSER_PROFILE, null, 2) + "\n");
  // test only: with foyer-test.kill-foyerd, foyerd is killed once its greeter is interactive
  writeFileSync(
    join(conf, "scripts/init-premount/zz-test-kill"),
    [
      "#!/bin/sh",
      'PREREQ="foyer"',
      'case $1 in prereqs) echo "$PREREQ"; exit 0 ;; esac',
      "grep -qw foyer-test.kill-foyerd /proc/cmdline || exit 0",
      "(",
      "    while ! grep -q 'greeter interactive' /run/foyer/state/log/foyerd.log 2>/dev/null; do sleep 1; done",
      "    pid=$(cat /run/foyer/foyerd.pid)",
      '    echo "FOYER-TEST killing foyerd $pid" > /dev/console',
      '    kill -KILL "$pid"',
      ") &",
      "exit 0",
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  const hook = join(conf, "hooks", "zz-appliance");
  writeFileSync(
    hook,
    [
      "#!/bin/sh",
      'case $1 in prereqs) echo ""; exit 0 ;; esac',
      "# the appliance's root disk for cryptsetup-initramfs, its profiles and its console keymap",
      'mkdir -p "$DESTDIR/cryptroot" "$DESTDIR/etc/foyer/profiles"',
      ...(opts.keyctlWith
        ? [
            ". /usr/share/initramfs-tools/hook-functions",
            "copy_exec /lib/cryptsetup/scripts/decrypt_keyctl",
            "copy_exec /usr/bin/keyctl",
            ...[a.luksUuid, opts.keyctlWith].map(
              (u) => `echo "luks-${u} UUID=${u} none luks,keyscript=/lib/cryptsetup/scripts/decrypt_keyctl" >> "$DESTDIR/cryptroot/crypttab"`,
            ),
          ]
        : [`echo "luks-${a.luksUuid} UUID=${a.luksUuid} none luks" >> "$DESTDIR/cryptroot/crypttab"`]),
      `cp '${profDir}'/*.json '${itoolsProfiles}'/*.json "$DESTDIR/etc/foyer/profiles/"`,
      `printf '%s' '${VM_VCONSOLE.trim()}' > "$DESTDIR/etc/vconsole.conf"`,
      "",
    ].join("\n"),
  );
  chmodSync(hook, 0o755);
  sh("mkinitramfs", ["-d", conf, "-o", out, hostKernel().version], { env: { ...process.env, FOYER_SRC: top } });
  stamp(name, key);
  return out;
}

/**
 * A real root that runs systemd, as a distribution's would: the foyer image's own tree (systemd 252,
 * node, foyer) without what makes it an initrd, with foyer-flush.service enabled as shipped
 * (packaging/systemd/root) and a report unit that prints on the console what the flush left in /var
 * and whether the state tmpfs is gone, then powers off. Encrypted like the other root disks.
 */
/**
 * The foyer initrd's own tree made a root that boots systemd (node, cage, cog and foyer are in it),
 * with foyer-flush.service enabled as shipped; returns the tree and its unit folder.
 */
function systemdRootTree(a: Appliance, name: string): { tree: string; units: string } {
  const tree = join(cacheDir, `${name}-tree`);
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(tree);
  unpackInitrd(a.initrd, tree);
  // no longer an initrd: systemd runs the main system's boot, and the image's initrd units skip
  for (const f of ["etc/initrd-release", "usr/lib/initrd-release", "init", "etc/os-release"]) rmSync(join(tree, f), { force: true });
  writeFileSync(join(tree, "etc/os-release"), 'NAME="foyer appliance (systemd root)"\nID=foyer-appliance\n');
  rmSync(join(tree, "usr/sbin/init"), { force: true });
  symlinkSync("../lib/systemd/systemd", join(tree, "usr/sbin/init"));
  const units = join(tree, "usr/lib/systemd/system");
  copyFileSync(join(top, "packaging/systemd/root/foyer-flush.service"), join(units, "foyer-flush.service"));
  mkdirSync(join(units, "sysinit.target.wants"), { recursive: true });
  symlinkSync("../foyer-flush.service", join(units, "sysinit.target.wants/foyer-flush.service"));
  return { tree, units };
}

/**
 * The appliance's report unit: `script` to the console once `after` ran, then power off;
 * default.target is foyer-appliance.target, which wants it and `wants`.
 */
function applianceTarget(tree: string, units: string, script: string, after: string[], wants: string[] = []): void {
  writeFileSync(join(tree, "usr/lib/foyer/appliance-report.sh"), script, { mode: 0o755 });
  writeFileSync(
    join(units, "foyer-appliance-report.service"),
    [
      "[Unit]",
      "Description=the appliance: report what foyer left, then power off",
      "DefaultDependencies=no",
      `After=${after.join(" ")} sysinit.target`,
      "SuccessAction=poweroff-force",
      "FailureAction=poweroff-force",
      "[Service]",
      "Type=oneshot",
      "ExecStart=/bin/sh -c '/usr/lib/foyer/appliance-report.sh > /dev/console 2>&1'",
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(units, "foyer-appliance.target"),
    `[Unit]\nDescription=the appliance's real root (sysinit.target, as a distribution's default target pulls it in through basic.target)\nRequires=sysinit.target\nAfter=sysinit.target\nWants=${["foyer-appliance-report.service", ...wants].join(" ")}\nAfter=foyer-appliance-report.service\n`,
  );
  rmSync(join(units, "default.target"), { force: true });
  symlinkSync("foyer-appliance.target", join(units, "default.target"));
  rmSync(join(tree, "etc/systemd/system/default.target"), { force: true });
}

export function buildSystemdRoot(a: Appliance, log: (s: string) => void = () => {}): { rootImage: string; luksUuid: string } {
  const rootImage = join(cacheDir, "root-systemd.img");
  const uuidFile = join(cacheDir, "root-systemd.uuid");
  const key = [
    keyOf("initrd-foyer"),
    hashTree([join(top, "packaging/systemd/root")]),
    createHash("sha256")
      .update(buildSystemdRoot.toString() + systemdRootTree.toString() + applianceTarget.toString())
      .digest("hex")
      .slice(0, 8),
  ].join(":");
  if (fresh("root-systemd", key, rootImage) && existsSync(uuidFile)) {
    return { rootImage, luksUuid: readFileSync(uuidFile, "utf8").trim() };
  }
  log("building the LUKS2 root disk that runs systemd…");
  const { tree, units } = systemdRootTree(a, "root-systemd");
  const report = [
    "#!/bin/sh",
    "# what the flush left: one line per fact, for the test reading the serial console",
    'echo "FOYER-SYSTEMD-ROOT flush=$(systemctl is-active foyer-flush.service) uptime=$(cat /proc/uptime)"',
    "state=gone",
    'while read -r _ mp _; do [ "$mp" = /run/foyer/state ] && state=mounted; done < /proc/self/mounts',
    '[ -d /run/foyer/state ] && [ "$state" = gone ] && state=folder-left',
    'echo "FOYER-STATE $state"',
    "for f in /var/log/foyer/boot-*.log; do",
    '  [ -f "$f" ] || { echo "FOYER-FLUSH-LOG none"; continue; }',
    "  n=0 answered=no secret=absent",
    '  while IFS= read -r l; do n=$((n + 1)); case $l in *"password request answered"*) answered=yes ;; esac; case $l in *' +
      VM_PASSPHRASE +
      '*) secret=present ;; esac; done < "$f"',
    '  echo "FOYER-FLUSH-LOG ${f##*/} lines=$n answered=$answered secret=$secret"',
    "done",
    'for f in /var/lib/foyer/flush-manifest.json /var/lib/foyer/timeline.json; do [ -s "$f" ] && echo "FOYER-KEPT $f"; done',
    'echo "FOYER-FLUSH-TIME $(systemctl show -P ExecMainStartTimestampMonotonic foyer-flush.service) $(systemctl show -P ExecMainExitTimestampMonotonic foyer-flush.service)"',
    "echo FOYER-REPORT-END",
    "",
  ].join("\n");
  applianceTarget(tree, units, report, ["foyer-flush.service"]);
  return rootDisk(tree, "root-systemd", key);
}

/** Copies executables into `tree` at their paths, with every library ldd names (dracut's inst_multiple, by hand). */
function instBinaries(tree: string, paths: string[]): void {
  const copy = (f: string) => {
    const to = join(tree, f);
    if (existsSync(to)) return;
    mkdirSync(dirname(to), { recursive: true });
    cpSync(f, to, { dereference: true });
  };
  for (const p of paths) {
    copy(p);
    for (const m of sh("ldd", [p]).matchAll(/(?:=> )?(\/\S+) \(0x/g)) copy(m[1]!);
  }
}

/**
 * The systemd root on its first boot, with foyer-firstboot.service enabled as shipped: no
 * /etc/machine-id, the account files, and what the form's tools and lists need from a Debian root
 * (useradd, chpasswd, usermod, systemd-firstboot, openssl, locale; login.defs, zoneinfo, glibc's
 * SUPPORTED list and its built-in C.utf8). Its report says what the setup left.
 */
export function buildFirstbootRoot(a: Appliance, log: (s: string) => void = () => {}): { rootImage: string; luksUuid: string } {
  const rootImage = join(cacheDir, "root-firstboot.img");
  const uuidFile = join(cacheDir, "root-firstboot.uuid");
  const key = [
    keyOf("initrd-foyer"),
    hashTree([join(top, "packaging/systemd/root")]),
    createHash("sha256")
      .update(buildFirstbootRoot.toString() + systemdRootTree.toString() + applianceTarget.toString())
      .digest("hex")
      .slice(0, 8),
  ].join(":");
  if (fresh("root-firstboot", key, rootImage) && existsSync(uuidFile)) {
    return { rootImage, luksUuid: readFileSync(uuidFile, "utf8").trim() };
  }
  log("building the LUKS2 root disk for a first boot…");
  const { tree, units } = systemdRootTree(a, "root-firstboot");
  rmSync(join(tree, "etc/machine-id"), { force: true });
  copyFileSync(join(top, "packaging/systemd/root/foyer-firstboot.service"), join(units, "foyer-firstboot.service"));
  instBinaries(tree, ["/usr/sbin/useradd", "/usr/sbin/chpasswd", "/usr/sbin/usermod", "/usr/bin/systemd-firstboot", "/usr/bin/openssl", "/usr/bin/locale"]);
  copyFileSync("/etc/login.defs", join(tree, "etc/login.defs"));
  // shadow files for the image's accounts, locked, as a Debian root has them
  const names = (f: string) =>
    readFileSync(join(tree, "etc", f), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split(":")[0]!);
  writeFileSync(
    join(tree, "etc/shadow"),
    names("passwd")
      .map((n) => `${n}:!*:19700:0:99999:7:::\n`)
      .join(""),
    { mode: 0o640 },
  );
  writeFileSync(
    join(tree, "etc/gshadow"),
    names("group")
      .map((n) => `${n}:!::\n`)
      .join(""),
    { mode: 0o640 },
  );
  for (const d of ["/usr/share/zoneinfo", "/usr/lib/locale/C.utf8"]) cpSync(d, join(tree, d), { recursive: true });
  mkdirSync(join(tree, "usr/share/i18n"), { recursive: true });
  copyFileSync("/usr/share/i18n/SUPPORTED", join(tree, "usr/share/i18n/SUPPORTED"));
  const report = [
    "#!/bin/sh",
    "# what the first-boot setup left: one line per fact, for the test reading the serial console",
    'echo "FOYER-FIRSTBOOT unit=$(systemctl show -P Result foyer-firstboot.service) status=$(systemctl show -P ExecMainStatus foyer-firstboot.service)"',
    'echo "FOYER-FIRSTBOOT-HOST $(cat /etc/hostname 2>/dev/null)"',
    'while IFS=: read -r n _ uid _ gecos home _; do [ "$uid" -ge 1000 ] 2>/dev/null && [ "$n" != nobody ] && echo "FOYER-FIRSTBOOT-USER $n $uid $home"; done < /etc/passwd',
    'while IFS=: read -r n h _; do case $h in "!"*) l=locked;; "\\$6\\$"*) l=sha512;; *) l=other;; esac; echo "FOYER-FIRSTBOOT-SHADOW $n $l"; done < /etc/shadow',
    '[ -e /var/lib/foyer/firstboot.done ] && echo "FOYER-FIRSTBOOT-STAMP yes"',
    "echo FOYER-REPORT-END",
    "",
  ].join("\n");
  // the appliance's target stands for multi-user.target, which the unit's [Install] names
  applianceTarget(tree, units, report, ["foyer-firstboot.service", "foyer-flush.service"], ["foyer-firstboot.service"]);
  return rootDisk(tree, "root-firstboot", key);
}

/**
 * A root tree made into the appliance's disk `<name>.img` (ext4 with room to spare, LUKS2 with the
 * appliance's passphrase), stamped with `key`; the tree is removed.
 */
export function rootDisk(tree: string, name: string, key: string): { rootImage: string; luksUuid: string } {
  const rootImage = join(cacheDir, `${name}.img`);
  const mb = Math.ceil(Number(sh("du", ["-sm", tree]).split("\t")[0]) * 1.3) + 64;
  rmSync(rootImage, { force: true });
  sh("truncate", ["-s", `${mb}M`, rootImage]);
  sh("mkfs.ext4", ["-q", "-F", "-d", tree, rootImage]);
  rmSync(tree, { recursive: true, force: true });
  const luksUuid = encryptOffline(rootImage);
  writeFileSync(join(cacheDir, `${name}.uuid`), luksUuid);
  stamp(name, key);
  return { rootImage, luksUuid };
}

/**
 * A second disk as people have one for /home: ext4 holding a file `marker` that says `name`, in
 * LUKS2 with `passphrase`; cached as `disk-<name>.img`. The real root mounts it read-only and
 * prints the marker (FOYER-MOUNTED).
 */
export function buildDataDisk(name: string, passphrase: string, log: (s: string) => void = () => {}): { image: string; luksUuid: string } {
  const image = join(cacheDir, `disk-${name}.img`);
  const uuidFile = join(cacheDir, `disk-${name}.uuid`);
  const key = createHash("sha256")
    .update(buildDataDisk.toString() + encryptOffline.toString() + name + passphrase)
    .digest("hex")
    .slice(0, 16);
  if (!(fresh(`disk-${name}`, key, image) && existsSync(uuidFile))) {
    log(`building the LUKS2 disk '${name}'…`);
    const tree = join(cacheDir, `disk-${name}-tree`);
    rmSync(tree, { recursive: true, force: true });
    mkdirSync(tree, { recursive: true });
    writeFileSync(join(tree, "marker"), `disk-${name}`);
    rmSync(image, { force: true });
    sh("truncate", ["-s", "16M", image]);
    sh("mkfs.ext4", ["-q", "-F", "-d", tree, image]);
    rmSync(tree, { recursive: true, force: true });
    writeFileSync(uuidFile, encryptOffline(image, passphrase));
    stamp(`disk-${name}`, key);
  }
  return { image, luksUuid: readFileSync(uuidFile, "utf8").trim() };
}

/** The TPM2 PIN of the token root (buildTokenRoot): digits, the same keys on a German keyboard. */
export const VM_TPM_PIN = "246810";

/**
 * The appliance's root disk enrolled the ways people add to a passphrase: a TPM2 key sealed with
 * a PIN (systemd-cryptenroll --tpm2-with-pin, no PCR policy) against a software TPM whose state
 * folder is returned with it, and a keyfile kept on a USB stick (`stick`, an ext4 image whose
 * file system UUID is `stickUuid`, the key at /foyer.key). The passphrase slot stays.
 */
export function buildTokenRoot(
  a: Appliance,
  log: (s: string) => void = () => {},
): { rootImage: string; luksUuid: string; tpmState: string; stick: string; stickUuid: string } {
  const rootImage = join(cacheDir, "root-tokens.img");
  const tpmState = join(cacheDir, "tpm-state");
  const stick = join(cacheDir, "disk-keystick.img");
  const uuidFile = join(cacheDir, "disk-keystick.uuid");
  const key = [
    keyOf("root"),
    createHash("sha256")
      .update(buildTokenRoot.toString() + VM_TPM_PIN)
      .digest("hex")
      .slice(0, 16),
  ].join(":");
  if (!(fresh("root-tokens", key, rootImage) && existsSync(uuidFile) && existsSync(stick))) {
    log("enrolling a TPM2 PIN (swtpm) and a USB keyfile into a copy of the root disk…");
    copyFileSync(a.rootImage, rootImage);
    rmSync(tpmState, { recursive: true, force: true });
    mkdirSync(tpmState);
    // systemd-cryptenroll reaches swtpm over TCP (its swtpm TCTI) once swtpm listens (10 s at most);
    // QEMU later takes the same state through a socket
    const port = 20000 + Math.floor(Math.random() * 20000);
    const tpm = spawnSync(
      "sh",
      [
        "-c",
        'swtpm socket --tpm2 --tpmstate dir="$1" --server type=tcp,port=$2,bindaddr=127.0.0.1 --ctrl type=tcp,port=$(($2+1)),bindaddr=127.0.0.1 --flags not-need-init,startup-clear & p=$!; i=0; until ss -Hltn "sport = :$2" | grep -q . || [ $i -ge 100 ]; do i=$((i+1)); sleep 0.1; done; systemd-cryptenroll --tpm2-device=swtpm:host=127.0.0.1,port=$2 --tpm2-with-pin=yes --tpm2-pcrs= "$3"; r=$?; kill $p; wait $p; exit $r',
        "sh",
        tpmState,
        String(port),
        rootImage,
      ],
      { env: { ...process.env, PASSWORD: VM_PASSPHRASE, NEWPIN: VM_TPM_PIN }, encoding: "utf8" },
    );
    if (tpm.status !== 0)
      throw new Error(
        `enrolling the TPM2 PIN failed (${tpm.status}): ${tpm.stderr}${tpm.error ?? ""} — swtpm (swtpm), systemd-cryptenroll (systemd) and libtss2-tcti-swtpm0 are needed: run packaging/dev/setup.sh`,
      );
    const tree = join(cacheDir, "disk-keystick-tree");
    rmSync(tree, { recursive: true, force: true });
    mkdirSync(tree);
    writeFileSync(join(tree, "foyer.key"), randomBytes(64), { mode: 0o400 });
    sh(
      "cryptsetup",
      ["luksAddKey", "--batch-mode", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--key-file=-", rootImage, join(tree, "foyer.key")],
      { input: Buffer.from(VM_PASSPHRASE) },
    );
    rmSync(stick, { force: true });
    sh("truncate", ["-s", "8M", stick]);
    sh("mkfs.ext4", ["-q", "-F", "-d", tree, stick]);
    rmSync(tree, { recursive: true, force: true });
    writeFileSync(uuidFile, sh("blkid", ["-s", "UUID", "-o", "value", stick]).trim());
    stamp("root-tokens", key);
  }
  return { rootImage, luksUuid: a.luksUuid, tpmState, stick, stickUuid: readFileSync(uuidFile, "utf8").trim() };
}

/** The appliance's root disk with a file system fsck cannot preen (see buildRootImage). */
export function buildBrokenRoot(log: (s: string) => void = () => {}): { rootImage: string; luksUuid: string } {
  const rootImage = join(cacheDir, "root-fsck-fails.img");
  const key = createHash("sha256")
    .update(buildRootImage.toString() + "fsck-fails")
    .digest("hex")
    .slice(0, 16);
  const uuidFile = join(cacheDir, "root-fsck-fails.uuid");
  if (!(fresh("root-fsck-fails", key, rootImage) && existsSync(uuidFile))) {
    log("building the LUKS2 root disk whose fsck fails…");
    writeFileSync(uuidFile, buildRootImage(rootImage, true));
    stamp("root-fsck-fails", key);
  }
  return { rootImage, luksUuid: readFileSync(uuidFile, "utf8").trim() };
}

if (process.argv[2] === "build") {
  const a = buildAppliance((s) => process.stderr.write(s + "\n"));
  const size = (p: string) => `${(statSync(p).size / 1048576).toFixed(1)} MiB`;
  process.stdout.write(
    `kernel   ${a.kernel}\ninitrd   ${a.initrd} (${size(a.initrd)}; without foyer ${size(a.initrdPlain)})\nroot     ${a.rootImage} (LUKS2 ${a.luksUuid})\n`,
  );
}

// `boot [SECONDS] [-- APPEND…]`: boots the appliance and takes a screendump every 20 s into
// $FOYER_VM_SHOTS (default /tmp/foyer-vm-shots), printing the serial console: for looking at it.
if (process.argv[2] === "boot") {
  const { Vm } = await import("./qemu.js");
  const secs = Number(process.argv[3] ?? 240);
  const dd = process.argv.indexOf("--");
  const append = dd > 0 ? process.argv.slice(dd + 1).join(" ") : "rd.foyer.profile=vm";
  const shots = process.env.FOYER_VM_SHOTS ?? "/tmp/foyer-vm-shots";
  mkdirSync(shots, { recursive: true });
  const vm = new Vm(
    buildAppliance((s) => process.stderr.write(s + "\n")),
    { append },
  );
  await vm.attach();
  let printed = 0;
  const timer = setInterval(() => {
    process.stdout.write(vm.serial.slice(printed));
    printed = vm.serial.length;
  }, 1000);
  for (let t = 20; t <= secs && vm.proc.exitCode === null; t += 20) {
    await new Promise((r) => setTimeout(r, 20_000));
    await vm.screen(join(shots, `t${String(t).padStart(3, "0")}.png`)).catch((e) => process.stderr.write(`screendump: ${e}\n`));
  }
  clearInterval(timer);
  process.stdout.write(vm.serial.slice(printed));
  await vm.stop();
}
