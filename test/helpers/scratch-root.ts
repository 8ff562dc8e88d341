// A scratch root file system for the first-boot tools: the account files and login.defs copied
// from the host (useradd/chpasswd -R chroot into it and read them there), and the host's zoneinfo
// linked in, because systemd-firstboot writes /etc/localtime as a relative link
// '../usr/share/zoneinfo/ZONE' that must resolve inside the root. Found by experiment: nothing
// else is needed by systemd-firstboot 252, useradd/chpasswd/usermod 4.13.
import { mkdtempSync, mkdirSync, copyFileSync, symlinkSync, rmSync, chmodSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { tmpdir } from "node:os";

export function makeScratchRoot(): string {
  const root = mkdtempSync(join(tmpdir(), "foyer-root-"));
  chmodSync(root, 0o755);
  mkdirSync(join(root, "etc"), { mode: 0o755 });
  for (const f of ["passwd", "group", "shadow", "gshadow", "login.defs"]) copyFileSync(join("/etc", f), join(root, "etc", f));
  chmodSync(join(root, "etc/shadow"), 0o640);
  chmodSync(join(root, "etc/gshadow"), 0o640);
  mkdirSync(join(root, "usr/share"), { recursive: true });
  symlinkSync("/usr/share/zoneinfo", join(root, "usr/share/zoneinfo"));
  return root;
}

export function removeScratchRoot(root: string | undefined): void {
  if (root) rmSync(root, { recursive: true, force: true });
}

/** `password` hashed again with the salt of a stored SHA-512 crypt `hash` (openssl): a hash of that password is exactly `hash`. */
export function rehash(password: string, hash: string): string {
  const salt = hash.split("$")[2]!;
  return spawnSync("openssl", ["passwd", "-6", "-salt", salt, "-stdin"], { input: password + "\n", encoding: "utf8" }).stdout.trim();
}
