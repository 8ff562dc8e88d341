// Single sign-on into the session: after a disk was unlocked with a passphrase typed into foyer,
// that passphrase is put in the kernel keyring as systemd-cryptsetup does — a "user" key named
// "cryptsetup" in root's user keyring, the passphrase and a NUL, expiring after at most 150 s — so
// that a display manager's PAM module (pam_gdm, as GDM's autologin does) can reuse it. Only when the
// profile enables it (keyring.enabled), and only once the unlock is known to have worked: the
// answered request named its block device (Id=cryptsetup:/dev/…), and the kernel shows a holder on
// that device (the opened dm-crypt mapping). A request with the same Id asked again means the
// passphrase was wrong: it is wiped, never stored. Unconfirmed in confirmMs: wiped.
//
// systemd-cryptsetup keeps its own cache under the same key (every passphrase it was given, each
// with a NUL, for other volumes that accept cached ones), and pam_gdm reads only the last entry
// (GDM 43: "in the case of an incorrect password the last one is correct"): foyer's key is that
// list with the confirmed passphrase moved to the end, so neither loses.
//
// The key is added with keyctl(1) (keyctlAdd below): `keyctl padd` reads the payload on its
// standard input, so the passphrase goes through a pipe, never a command line, and foyer's copy is
// zeroed once keyctl is done.
import { readdirSync, realpathSync } from "node:fs";
import { basename } from "node:path";
import type { Logger } from "../base/log.js";
import type { Secret } from "../base/secret.js";
import { describe, FoyerError } from "../base/errors.js";
import { exitError, run } from "../base/command.js";

export const KEY_NAME = "cryptsetup";

export interface KeyringOptions {
  enabled: boolean;
  /** the key's lifetime in seconds (systemd-cryptsetup: 150) */
  timeoutS: number;
  log: Logger;
  /** how long an answer may wait for its device to be opened */
  confirmMs?: number;
  pollMs?: number;
  /** the mappings on a block device (/sys/class/block/NAME/holders); tests pass their own */
  holders?: (dev: string) => string[];
  /** adds the key; tests pass their own */
  add?: (payload: Buffer, timeoutS: number) => Promise<string>;
  /** the key's payload there now (systemd-cryptsetup's cache), empty when none; tests pass their own */
  read?: () => Promise<Buffer>;
}

/** a user key's payload is at most 32 KiB; anything longer read back is not systemd's list */
const MAX_PAYLOAD = 32 * 1024;
const KEYCTL_TIMEOUT_MS = 10_000;

/**
 * Each entry of the NUL-separated `list` that is not `last`, in order, then `last` (one entry: the
 * bytes and a NUL). A new buffer; the caller zeroes all three.
 */
export function cacheWithLast(last: Buffer, list: Buffer): Buffer {
  const parts: Buffer[] = [];
  let total = last.length;
  for (let at = 0; at < list.length;) {
    let end = list.indexOf(0, at);
    if (end < 0) end = list.length;
    const entry = list.subarray(at, end);
    if (entry.length > 0 && !(entry.length === last.length - 1 && entry.equals(last.subarray(0, -1)))) {
      parts.push(entry, Buffer.alloc(1));
      total += entry.length + 1;
    }
    at = end + 1;
  }
  parts.push(last);
  return Buffer.concat(parts, total);
}

interface Candidate {
  bytes: Buffer;
  dev: string;
  timer: NodeJS.Timeout;
  started: number;
}

/** The kernel's name of the block device a cryptsetup request names (Id=cryptsetup:/dev/disk/by-uuid/…), or undefined. */
export function cryptsetupDevice(id: string | undefined): string | undefined {
  const m = id && /^cryptsetup:(\/dev\/\S+)$/.exec(id);
  if (!m) return undefined;
  try {
    return basename(realpathSync(m[1]!));
  } catch {
    return undefined;
  }
}

function sysHolders(dev: string): string[] {
  try {
    return readdirSync(`/sys/class/block/${dev}/holders`);
  } catch {
    return [];
  }
}

/** possessor: all; user (root): view, read, search */
const KEY_PERM = "0x3f0b0000";
const KEYCTL_SCRIPT = [
  "set -e",
  `s=$(keyctl padd user ${KEY_NAME} @s)`,
  'keyctl timeout "$s" "$1"',
  'keyctl setperm "$s" "$2"',
  'keyctl link "$s" @u',
  'echo "$s"',
].join("\n");
/**
 * The key, with keyctl(1), in one new session keyring (`keyctl session -`) so that foyer possesses
 * it between the steps whatever the unit's KeyringMode: added there (`padd … @s`, the payload on
 * stdin), given its timeout and permissions (possessor all; root as its user may view, read and
 * search, as pam_gdm must), and only then linked into root's user keyring, which displaces an older
 * "cryptsetup" key there (one systemd-cryptsetup pushed, say). The session keyring dies with the
 * script: a step that fails leaves no key anywhere, so the passphrase never sits in the user keyring
 * without its timeout. Resolves with the key's serial.
 */
async function keyctlAdd(payload: Buffer, timeoutS: number): Promise<string> {
  const r = await run(["keyctl", "session", "-", "sh", "-c", KEYCTL_SCRIPT, "sh", String(timeoutS), KEY_PERM], {
    input: payload,
    timeoutMs: KEYCTL_TIMEOUT_MS,
    maxOutput: 4096,
  });
  const serial = r.stdout.toString("utf8").trim();
  if (r.code === 0 && /^\d+$/.test(serial)) return serial;
  const err = r.stderr
    .toString("utf8")
    .replace(/^Joined session keyring: \d+\n?/m, "")
    .trim();
  throw new FoyerError("internal", `${exitError(r)?.message ?? "'keyctl' wrote no serial"}: ${err || serial.slice(0, 80)}`);
}

/**
 * The "cryptsetup" key in root's user keyring, read with keyctl pipe; empty when there is none.
 * systemd-cryptsetup's key may be read only by a possessor, and a service's private session
 * keyring (KeyringMode=private) does not reach root's user keyring: the read runs in a new session
 * keyring with the user keyring linked into it, which makes foyer a possessor for that moment.
 */
const KEYCTL_READ = `keyctl link @u @s >/dev/null && k=$(keyctl search @s user ${KEY_NAME} 2>/dev/null) || exit 0; exec keyctl pipe "$k"`;
async function keyctlRead(): Promise<Buffer> {
  const r = await run(["keyctl", "session", "-", "sh", "-c", KEYCTL_READ], { timeoutMs: KEYCTL_TIMEOUT_MS, maxOutput: MAX_PAYLOAD });
  const failed = exitError(r);
  if (failed || r.truncated) {
    r.stdout.fill(0);
    throw new FoyerError("internal", `reading the ${KEY_NAME} key: ${failed?.message ?? `'keyctl' wrote over ${MAX_PAYLOAD} bytes`}`);
  }
  return r.stdout;
}

export class KeyringCache {
  #o: KeyringOptions;
  #pending = new Map<string, Candidate>(); // by request Id

  constructor(o: KeyringOptions) {
    this.#o = o;
  }

  /** A request was answered with `secret` (not kept: its bytes are copied only when this may store them). */
  answered(id: string | undefined, secret: Secret): void {
    if (!this.#o.enabled || !id) return;
    const dev = cryptsetupDevice(id);
    if (!dev) return;
    this.#drop(id);
    const bytes = Buffer.alloc(secret.length + 1); // the passphrase and a NUL, as systemd stores its list
    secret.reveal().copy(bytes);
    const c: Candidate = { bytes, dev, started: Date.now(), timer: setTimeout(() => this.#check(id), this.#o.pollMs ?? 250) };
    this.#pending.set(id, c);
  }

  /** A request with `id` was asked (again): an answer waiting for its device was wrong. */
  asked(id: string | undefined): void {
    if (id && this.#pending.has(id)) {
      this.#drop(id);
      this.#o.log.info("the passphrase did not open the disk, not kept", { id });
    }
  }

  #check(id: string): void {
    const c = this.#pending.get(id);
    if (!c) return;
    const holders = (this.#o.holders ?? sysHolders)(c.dev);
    if (holders.length === 0) {
      if (Date.now() - c.started < (this.#o.confirmMs ?? 120_000)) {
        c.timer = setTimeout(() => this.#check(id), this.#o.pollMs ?? 250);
        return;
      }
      this.#drop(id);
      this.#o.log.info("the disk was not opened in time, passphrase not kept", { id });
      return;
    }
    this.#pending.delete(id);
    void this.#keep(c, holders[0]!);
  }

  async #keep(c: Candidate, holder: string): Promise<void> {
    let cached: Buffer = Buffer.alloc(0);
    let payload: Buffer = Buffer.alloc(0);
    try {
      cached = await (this.#o.read ?? keyctlRead)().catch((e) => {
        this.#o.log.warning("cannot read systemd-cryptsetup's cached passphrases, keeping only this one", { err: describe(e) });
        return Buffer.alloc(0);
      });
      payload = cacheWithLast(c.bytes, cached);
      const serial = await (this.#o.add ?? keyctlAdd)(payload, this.#o.timeoutS);
      const others = payload.subarray(0, -1).reduce((n, b) => n + (b === 0 ? 1 : 0), 0);
      this.#o.log.info("passphrase kept for the session's single sign-on", {
        key: KEY_NAME,
        serial,
        timeoutS: this.#o.timeoutS,
        device: c.dev,
        holder,
        cachedAfter: others,
      });
    } catch (e) {
      this.#o.log.warning("cannot add the key, ignoring", { err: describe(e) });
    } finally {
      c.bytes.fill(0);
      cached.fill(0);
      payload.fill(0);
    }
  }

  #drop(id: string): void {
    const c = this.#pending.get(id);
    if (!c) return;
    clearTimeout(c.timer);
    c.bytes.fill(0);
    this.#pending.delete(id);
  }

  /** Wipes what waits: foyer stops. */
  stop(): void {
    for (const id of [...this.#pending.keys()]) this.#drop(id);
  }
}
