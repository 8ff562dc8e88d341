// A real root with a real display manager: Debian 12 (mmdebstrap from Debian's archive) with
// systemd and one display manager as a distribution installs it — GDM (gnome-shell on Wayland),
// LightDM and its GTK greeter on Xorg, SDDM's greeter on Xorg, or greetd with agreety in foot in
// cage on Wayland (bookworm packages no graphical greetd greeter; cage is how greetd's own
// documentation runs one) — plus foyer's real-root units as shipped (foyer-flush.service,
// foyer-console.service) and node with foyer's bundles taken from the foyer initramfs. Each
// greeter's background is one flat colour (its `background`) so a screendump tells it apart. A
// report unit prints on the console, once the greeter runs, the processes, what the flush kept and
// the console's state; the machine stays up. In the GDM root two more report on root's single
// sign-on key: early, what it holds and whether GDM's pam_gdm hands it to a PAM checker; later,
// when it is gone.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, cpSync, symlinkSync, copyFileSync } from "node:fs";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { cacheDir, fresh, hashTree, keyOf, rootDisk, sh, stamp, top, unpackInitrd, VM_PASSPHRASE, type Appliance } from "./appliance.js";

/** The greeter background set where the display manager lets one set it (LightDM, SDDM, greetd's foot). */
const DM_BACKGROUND: [number, number, number] = [0x2e, 0x7d, 0x32];
const BASE = ["systemd-sysv", "dbus", "udev", "libpam-systemd", "procps", "kmod", "libstdc++6", "keyutils"];
const HEX = "#" + DM_BACKGROUND.map((c) => c.toString(16).padStart(2, "0")).join("");

export type Dm = "lightdm" | "greetd" | "gdm" | "sddm";
/**
 * Each display manager: its packages, its greeter's process name (pgrep), its greeter's background
 * colour, how it is set up, and whether its root carries the single sign-on checks (pam_gdm and the
 * key's reports).
 */
export const DMS: Record<Dm, { packages: string[]; greeter: string; background: [number, number, number]; configure: (tree: string) => void; sso: boolean }> = {
  gdm: {
    // gdm3 without its Recommends: gnome-shell as the greeter, on Wayland; Mesa's software renderer
    // for mutter, as the VM has no GPU. The greeter's background is the shell theme's own grey
    packages: ["gdm3", "libgl1-mesa-dri", "xwayland", "fonts-cantarell", "polkitd", "pamtester"],
    greeter: "gnome-shell",
    background: [0x23, 0x23, 0x23],
    sso: true,
    configure: (tree) => aliasDm(tree, "gdm.service"),
  },
  lightdm: {
    packages: ["lightdm", "lightdm-gtk-greeter", "xserver-xorg-core", "xserver-xorg-input-libinput"],
    greeter: "lightdm-gtk-gre",
    background: DM_BACKGROUND,
    sso: false,
    configure: (tree) => {
      // what the integrator sets for a seamless hand-over (packaging/systemd/README.md): X starts on
      // what is on the screen (the frame foyer kept) instead of a black root window
      mkdirSync(join(tree, "etc/lightdm/lightdm.conf.d"), { recursive: true });
      writeFileSync(join(tree, "etc/lightdm/lightdm.conf.d/50-foyer.conf"), "[Seat:*]\nxserver-command=X -background none\n");
      writeFileSync(join(tree, "etc/lightdm/lightdm-gtk-greeter.conf"), `[greeter]\nbackground=${HEX}\nuser-background=false\n`);
      aliasDm(tree, "lightdm.service");
    },
  },
  greetd: {
    packages: ["greetd", "cage", "xwayland", "foot", "fonts-dejavu-core", "polkitd"],
    greeter: "agreety",
    background: DM_BACKGROUND,
    sso: false,
    configure: (tree) => {
      // Debian's config (VT 7, the _greetd user) with a graphical greeter: greetd's own agreety in
      // foot, in cage; pixman, as the VM has no GPU to render with. polkit, as a desktop has it:
      // without it logind lets no one but root activate a session (libseat does, for cage);
      // Xwayland: Debian's cage is built with it and will not start without it, yet does not depend on it
      writeFileSync(
        join(tree, "etc/greetd/config.toml"),
        [
          "[terminal]",
          "vt = 7",
          "[default_session]",
          'command = "env LANG=C.UTF-8 WLR_RENDERER=pixman cage -s -- foot /usr/sbin/agreety --cmd /bin/sh"',
          'user = "_greetd"',
          "",
        ].join("\n"),
      );
      mkdirSync(join(tree, "etc/xdg/foot"), { recursive: true });
      writeFileSync(join(tree, "etc/xdg/foot/foot.ini"), `[main]\nfont=monospace:size=14\n[colors]\nbackground=${HEX.slice(1)}\n`);
      aliasDm(tree, "greetd.service");
    },
  },
  sddm: {
    // SDDM on Xorg as Debian installs it, with the Maldives theme; its background is a small image
    // of DM_BACKGROUND, which the theme stretches over the screen
    packages: ["sddm", "sddm-theme-maldives", "xserver-xorg-core", "xserver-xorg-input-libinput"],
    greeter: "sddm-greeter",
    background: DM_BACKGROUND,
    sso: false,
    configure: (tree) => {
      mkdirSync(join(tree, "etc/sddm.conf.d"), { recursive: true });
      // (SDDM starts X with -background none itself)
      writeFileSync(join(tree, "etc/sddm.conf.d/50-foyer.conf"), "[Theme]\nCurrent=maldives\n");
      // (64 × 64: the theme's crop fill shows a 1 × 1 image as nothing, leaving the screen white)
      const px = Buffer.alloc(64 * 64 * 3).map((_, i) => DM_BACKGROUND[i % 3]!);
      writeFileSync(join(tree, "usr/share/sddm/themes/maldives/dm-background.ppm"), Buffer.concat([Buffer.from("P6\n64 64\n255\n"), px]));
      writeFileSync(join(tree, "usr/share/sddm/themes/maldives/theme.conf.user"), "[General]\nbackground=dm-background.ppm\n");
      aliasDm(tree, "sddm.service");
    },
  },
};

/** display-manager.service is `unit`, as the package's postinst leaves it (set again: two DMs' postinsts race). */
function aliasDm(tree: string, unit: string): void {
  const alias = join(tree, "etc/systemd/system/display-manager.service");
  rmSync(alias, { force: true });
  symlinkSync(`/lib/systemd/system/${unit}`, alias);
}

const REPORT = (greeter: string) =>
  [
    "#!/bin/sh",
    "# the hand-over as the real root sees it, once the display manager's greeter runs: one line per fact",
    "n=0",
    "# (not when there is no display manager: a masked one, say)",
    `until pgrep -x ${greeter} >/dev/null || [ $n -ge 600 ] || [ "$(systemctl show -P LoadState display-manager.service)" != loaded ]; do sleep 0.5; n=$((n + 1)); done`,
    `echo "FOYER-DM greeter=$(pgrep -x ${greeter} >/dev/null && echo running || echo missing) vt=$(cat /sys/class/tty/tty0/active) uptime=$(cut -d" " -f1 /proc/uptime)"`,
    'echo "FOYER-DM-PS $(ps -eo comm= | sort -u | tr "\\n" " ")"',
    'for c in /sys/class/vtconsole/vtcon*; do echo "FOYER-DM-VTCON ${c##*/} bind=$(cat $c/bind) $(cat $c/name)"; done',
    'echo "FOYER-DM-CONSOLE-UNIT $(systemctl show -P ActiveState,Result foyer-console.service | tr "\\n" " ") held=$([ -e /run/foyer/display-held ] && echo yes || echo no)"',
    "journalctl -b -o cat -u foyer-console.service | sed 's/^/FOYER-DM-CONSOLE-LOG /'",
    "for f in /var/log/foyer/boot-*.log; do",
    '  [ -f "$f" ] || { echo "FOYER-DM-FLUSH-LOG none"; continue; }',
    "  secret=absent",
    `  grep -q '${VM_PASSPHRASE}' "$f" && secret=present`,
    '  echo "FOYER-DM-FLUSH-LOG ${f##*/} lines=$(wc -l < "$f") kept=$(grep -c "last frame kept" "$f") secret=$secret"',
    "  # foyerd's own account of its end, for when the frame was not kept",
    `  grep -E 'supervisor|plymouth|frame|stop|exited|SIGTERM|handoff' "$f" | grep -v '${VM_PASSPHRASE}' | tail -n 25 | cut -c1-300 | sed 's/^/FOYER-DM-FOYER-LOG /'`,
    "done",
    "# what X said of its start: whether it could start on the frame that was there (-background none)",
    "grep -iE 'glamor|background|modeset\\(0\\): (Output|Using)' /var/log/Xorg.0.log 2>/dev/null | head -8 | sed 's/^/FOYER-DM-XORG /'",
    "echo FOYER-DM-END",
    "",
  ].join("\n");

const KEYRING_REPORT = [
  "#!/bin/sh",
  "# root's user key 'cryptsetup' (single sign-on): its timeout in /proc/keys, whether its last entry (what pam_gdm reads) is",
  "# the passphrase, and how many NUL-ended entries it holds (systemd-cryptsetup's cache keeps every answer it was given)",
  "s=$(keyctl search @u user cryptsetup 2>/dev/null) || { echo 'FOYER-DM-KEYRING none'; exit 0; }",
  'hex=$(printf "%08x" "$s")',
  "timeout=$(awk -v h=\"$hex\" '$1 == h { print $4 }' /proc/keys)",
  'last=$(keyctl pipe "$s" | tr "\\000" "\\n" | tail -n 1)',
  'entries=$(keyctl pipe "$s" | tr -cd "\\000" | wc -c)',
  `[ "$last" = '${VM_PASSPHRASE}' ] && payload=match || payload="differ(\${#last} bytes last)"`,
  'echo "FOYER-DM-KEYRING serial=$s timeout=$timeout payload=$payload entries=$entries"',
  "# the key consumed as GDM consumes it: pam_gdm sets PAM_AUTHTOK from it, and pam_exec's checker",
  "# (expose_authtok) passes only on the passphrase's exact bytes; the same stack without pam_gdm",
  "# has no token to check (its prompt reads /dev/null), so it must fail",
  'pam() { pamtester "$1" root authenticate </dev/null >/dev/null 2>&1 && echo pass || echo fail; }',
  'echo "FOYER-DM-PAM pam_gdm=$(pam foyer-sso) without=$(pam foyer-sso-bare)"',
  "",
].join("\n");

// pam_exec's checker: the token on stdin (NUL-ended); exit 0 only for the passphrase, never printed
const SSO_CHECK = ["#!/bin/sh", "t=$(tr -d '\\000')", `[ "$t" = '${VM_PASSPHRASE}' ]`, ""].join("\n");
const PAM_STACK = (gdm: boolean) =>
  [
    ...(gdm ? ["auth optional pam_gdm.so"] : []),
    "auth required pam_exec.so expose_authtok quiet /usr/lib/foyer/appliance-sso-check.sh",
    "account required pam_permit.so",
    "",
  ].join("\n");

const KEYRING_GONE = [
  "#!/bin/sh",
  "# when root's 'cryptsetup' key is gone: foyer gives it a timeout, and nothing in this root removes it",
  "n=0",
  "while keyctl search @u user cryptsetup >/dev/null 2>&1 && [ $n -lt 600 ]; do sleep 0.5; n=$((n + 1)); done",
  "keyctl search @u user cryptsetup >/dev/null 2>&1 && gone=no || gone=yes",
  'echo "FOYER-DM-KEYRING-GONE $gone uptime=$(cut -d" " -f1 /proc/uptime)"',
  "",
].join("\n");

/**
 * foyer-appliance-NAME.service running `script` once, its output on the serial console, wanted by
 * `target`; `service`: its [Service] lines besides ExecStart.
 */
function reportUnit(tree: string, name: string, description: string, script: string, unitLines: string[], target: string, service = ["Type=oneshot"]): void {
  writeFileSync(join(tree, `usr/lib/foyer/appliance-${name}.sh`), script, { mode: 0o755 });
  const unit = `foyer-appliance-${name}.service`;
  writeFileSync(
    join(tree, "lib/systemd/system", unit),
    [
      "[Unit]",
      `Description=the appliance: ${description}`,
      ...unitLines,
      "[Service]",
      ...service,
      `ExecStart=/bin/sh -c '/usr/lib/foyer/appliance-${name}.sh > /dev/ttyS0 2>&1'`,
      "",
    ].join("\n"),
  );
  mkdirSync(join(tree, `etc/systemd/system/${target}.wants`), { recursive: true });
  symlinkSync(`/lib/systemd/system/${unit}`, join(tree, `etc/systemd/system/${target}.wants/${unit}`));
}

/**
 * Debian's part of the root, as mmdebstrap made it: a tarball cached by its package list alone, so
 * that a new foyer bundle costs the root a repack, not a download and an install.
 */
function debianTree(name: string, include: string[], sso: boolean, log: (s: string) => void): string {
  const pamGdm = "lib/x86_64-linux-gnu/security/pam_gdm.so";
  const hooks = sso ? [`--customize-hook=test -e "$1/${pamGdm}" || { echo "no ${pamGdm} in the root" >&2; exit 1; }`] : [];
  const args = ["--quiet", "--variant=minbase", `--include=${include.join(",")}`, ...hooks, "bookworm"];
  const tar = join(cacheDir, `${name}-debian.tar`);
  const key = createHash("sha256").update(args.join("\n")).digest("hex").slice(0, 16);
  if (fresh(`${name}-debian`, key, tar)) return tar;
  if (!existsSync("/usr/bin/mmdebstrap")) throw new Error("mmdebstrap is missing: install it (packaging/dev/setup.sh does)");
  log(`building the ${name.replace(/^root-/, "")} root from Debian's archive (mmdebstrap)…`);
  rmSync(tar, { force: true });
  sh("mmdebstrap", [...args, tar]);
  stamp(`${name}-debian`, key);
  return tar;
}

/** Builds (or reuses) the root disk with display manager `dm`, LUKS2-encrypted with the appliance's passphrase. */
export function buildDmRoot(a: Appliance, log: (s: string) => void = () => {}, dm: Dm = "lightdm"): { rootImage: string; luksUuid: string } {
  const name = `root-${dm}`,
    { packages, greeter, configure, sso } = DMS[dm],
    include = [...BASE, ...packages];
  const rootImage = join(cacheDir, `${name}.img`);
  const uuidFile = join(cacheDir, `${name}.uuid`);
  const debian = debianTree(name, include, sso, log);
  const recipe =
    [buildDmRoot, reportUnit, aliasDm, configure].map(String).join() +
    REPORT(greeter) +
    (sso ? KEYRING_REPORT + KEYRING_GONE + SSO_CHECK + PAM_STACK(true) : "");
  const key = [
    keyOf("initrd-foyer"),
    keyOf(`${name}-debian`),
    hashTree([join(top, "packaging/systemd/root")]),
    createHash("sha256").update(recipe).digest("hex").slice(0, 8),
  ].join(":");
  if (fresh(name, key, rootImage) && existsSync(uuidFile)) return { rootImage, luksUuid: readFileSync(uuidFile, "utf8").trim() };
  log(`making the ${dm} root disk with this foyer…`);
  const tree = join(cacheDir, `${name}-tree`);
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(tree);
  sh("tar", ["-C", tree, "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf", debian]);
  // foyer as a distribution package would put it in the real root: node, the bundles, the units
  const initrdTree = join(cacheDir, `${name}-initrd`);
  rmSync(initrdTree, { recursive: true, force: true });
  mkdirSync(initrdTree);
  unpackInitrd(a.initrd, initrdTree);
  cpSync(join(initrdTree, "usr/lib/foyer"), join(tree, "usr/lib/foyer"), { recursive: true });
  copyFileSync(join(initrdTree, "usr/bin/node"), join(tree, "usr/bin/node"));
  sh("chmod", ["755", join(tree, "usr/bin/node")]);
  rmSync(initrdTree, { recursive: true, force: true });
  const units = join(tree, "lib/systemd/system");
  for (const u of ["foyer-flush.service", "foyer-console.service"]) copyFileSync(join(top, "packaging/systemd/root", u), join(units, u));
  symlinkSync("/lib/systemd/system/foyer-flush.service", join(tree, "etc/systemd/system/sysinit.target.wants/foyer-flush.service"));
  symlinkSync("/lib/systemd/system/foyer-console.service", join(tree, "etc/systemd/system/multi-user.target.wants/foyer-console.service"));
  // the reports, on the serial console (console=ttyS0); no login there: agetty's vhangup on ttyS0
  // would cut off a report that opened it first (seen: the report lost when both started together)
  symlinkSync("/dev/null", join(tree, "etc/systemd/system/serial-getty@ttyS0.service"));
  reportUnit(
    tree,
    "dm-report",
    `report the hand-over to ${dm}`,
    REPORT(greeter),
    ["After=foyer-console.service foyer-flush.service display-manager.service"],
    "graphical.target",
  );
  rmSync(join(tree, "etc/systemd/system/default.target"), { force: true });
  symlinkSync("/lib/systemd/system/graphical.target", join(tree, "etc/systemd/system/default.target"));
  if (sso) {
    // the single sign-on key as the real root finds it, early (it expires 150 s after the unlock)
    // KeyringMode=shared, as gdm.service has it: pam_gdm's request_key() finds root's user keyring
    // through the session keyring, which systemd's default (private) does not link to it
    writeFileSync(join(tree, "usr/lib/foyer/appliance-sso-check.sh"), SSO_CHECK, { mode: 0o755 });
    writeFileSync(join(tree, "etc/pam.d/foyer-sso"), PAM_STACK(true));
    writeFileSync(join(tree, "etc/pam.d/foyer-sso-bare"), PAM_STACK(false));
    reportUnit(tree, "dm-keyring", "report root's cryptsetup key", KEYRING_REPORT, ["DefaultDependencies=no", "After=local-fs.target"], "sysinit.target", [
      "Type=oneshot",
      "KeyringMode=shared",
    ]);
    reportUnit(
      tree,
      "dm-keyring-gone",
      "report when root's cryptsetup key is gone",
      KEYRING_GONE,
      ["DefaultDependencies=no", "After=local-fs.target"],
      "sysinit.target",
      ["Type=exec"],
    );
  }
  configure(tree);
  writeFileSync(join(tree, "etc/hostname"), "foyer-appliance\n");
  return rootDisk(tree, name, key);
}
