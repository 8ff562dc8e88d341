// Numeric uid/gid of a system user, read from /etc/passwd directly: an initramfs has no NSS.
import { readFileSync } from "node:fs";
import { FoyerError } from "../base/errors.js";

export interface SystemUser {
  name: string;
  uid: number;
  gid: number;
}

export function lookupUser(name: string, passwd = "/etc/passwd"): SystemUser {
  let text: string;
  try {
    text = readFileSync(passwd, "utf8");
  } catch (e) {
    throw new FoyerError("not-found", `cannot read '${passwd}'`, { cause: e });
  }
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f[0] === name && f.length >= 4 && /^\d+$/.test(f[2]!) && /^\d+$/.test(f[3]!)) {
      return { name, uid: Number(f[2]), gid: Number(f[3]) };
    }
  }
  throw new FoyerError("not-found", `no user '${name}' in '${passwd}' (the greeter must not run as root)`);
}
