// Automatic entry into recovery where systemd runs: a failed file system check
// (systemd-fsck-root.service, systemd-fsck@<dev>.service, systemd-fsck-usr.service) or an
// activation of emergency.target / rescue.target is what the text emergency shell would have
// answered. foyer hears it from systemd's own signals (JobRemoved with result "failed", JobNew
// for the two targets) and asks at subscription what already happened before it listened.
// The reason always names the unit, so the recovery screen can say what stopped the boot; for a
// failed check the device is found too (the unit's ExecStart, as systemd's fstab-generator and
// systemd-fsck@.service write it; else the instance name; for systemd-fsck-root/-usr whose
// ExecStart names none, the root= / mount.usr= of the kernel command line, else the fstab's
// /sysroot (/sysroot/usr) entry, as systemd-fstab-generator decides them, mapped to udev's
// /dev/disk/by-… symlink), so the screen can check and repair it.
import { EventEmitter } from "node:events";
import { constants } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import dbus from "dbus-next";
import { describe } from "../base/errors.js";
import type { Logger } from "../base/log.js";
import { splitCmdline, parseBool } from "../profile/cmdline.js";
import { SYSTEMD_PATH, MANAGER, str, unitObjectPath, manager } from "./systemd-bus.js";
import type { SystemdLink } from "./systemd.js";

const STOP_TARGETS = new Set(["emergency.target", "rescue.target"]);
/** a reason is shown on screen and passes checkReason: printable and bounded */
const MAX_UNIT_CHARS = 200;

export function isFsckUnit(unit: string): boolean {
  return /^systemd-fsck(-root|-usr|@[^/]+)?\.service$/.test(unit);
}

/** A unit name as it may appear in a reason: control characters replaced, length bounded. */
export function printableUnit(unit: string): string {
  const s = unit.replace(/[\u0000-\u001f\u007f]/g, "?");
  return s.length > MAX_UNIT_CHARS ? `${s.slice(0, MAX_UNIT_CHARS)}…` : s;
}

export function fsckReason(unit: string): string {
  return `file system check failed: '${printableUnit(unit)}'`;
}

export function stopReason(target: string, lastFailed: string | undefined): string {
  const mode = target.startsWith("rescue") ? "rescue" : "emergency";
  return `boot stopped in ${mode} mode ('${printableUnit(target)}')${lastFailed ? ` after '${printableUnit(lastFailed)}' failed` : ""}`;
}

/**
 * The reason for a unit named by systemd (foyer-recovery@.service's %i): what its failure or
 * activation means. Unit names are at most 255 bytes; anything else is not one.
 */
export function reasonForUnit(unit: string): string | undefined {
  if (unit === "" || Buffer.byteLength(unit) > 255 || !/^[A-Za-z0-9:_.\\@-]+$/.test(unit)) return undefined;
  if (isFsckUnit(unit)) return fsckReason(unit);
  if (/^(emergency|rescue)\.(service|target)$/.test(unit)) return stopReason(unit, undefined);
  return `'${unit}' failed`;
}

/** systemd's unit-name unescaping of a path instance (`unit_name_path_unescape`): '-' is '/', \\xNN a byte. */
export function unescapePath(instance: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < instance.length; i++) {
    const ch = instance[i]!;
    if (ch === "-") bytes.push(0x2f);
    else if (ch === "\\") {
      const m = /^\\x([0-9a-fA-F]{2})/.exec(instance.slice(i));
      if (!m) return undefined;
      bytes.push(parseInt(m[1]!, 16));
      i += 3;
    } else bytes.push(...Buffer.from(ch, "utf8"));
  }
  const path = "/" + Buffer.from(bytes).toString("utf8").replace(/^\/+/, "");
  return path.includes("\0") || path.split("/").some((c) => c === "..") ? undefined : path;
}

/**
 * The device a failed check was for: the last argument of its ExecStart when that is an absolute
 * path (systemd-fsck DEVICE, as the generators write it), else systemd-fsck@'s instance unescaped.
 * systemd-fsck-root without an argument checks what `/` is: unknown here (undefined; the watch
 * then asks configuredFsckDevice).
 */
export function fsckDevice(unit: string, execArgv: readonly string[] | undefined): string | undefined {
  const last = execArgv && execArgv.length > 1 ? execArgv[execArgv.length - 1]! : undefined;
  if (last && last.startsWith("/") && !last.includes("\0") && last.length < 4096) return last;
  const m = /^systemd-fsck@(.+)\.service$/.exec(unit);
  return m ? unescapePath(m[1]!) : undefined;
}

/** The file system of a check whose unit need not name its device: the root's or /usr's. */
export function fsckFileSystem(unit: string): "root" | "usr" | undefined {
  return unit === "systemd-fsck-root.service" ? "root" : unit === "systemd-fsck-usr.service" ? "usr" : undefined;
}

export interface FstabEntry {
  spec: string;
  file: string;
}

/** glibc's decode_name: the escapes getmntent undoes (\040 space, \011 tab, \012 newline, \134 and \\ backslash). */
function decodeFstabField(s: string): string {
  return s.replace(/\\(?:040|011|012|134|\\)/g, (m) => (m === "\\040" ? " " : m === "\\011" ? "\t" : m === "\\012" ? "\n" : "\\"));
}

/** An fstab's device and mount point fields as systemd-fstab-generator reads them (glibc's getmntent): split at spaces and tabs, blank lines and `#` comments skipped. */
export function parseFstab(text: string): FstabEntry[] {
  const out: FstabEntry[] = [];
  for (const line of text.split("\n")) {
    const head = line.replace(/^[ \t]+/, "").replace(/[ \t]+$/, "");
    if (head === "" || head.startsWith("#")) continue;
    const [spec = "", file = ""] = head
      .split(/[ \t]+/)
      .slice(0, 2)
      .map(decodeFstabField);
    out.push({ spec, file });
  }
  return out;
}

/** systemd's path_equal for absolute paths: repeated slashes, a trailing one and `.` ignored. */
function samePath(a: string, b: string): boolean {
  const norm = (p: string) =>
    p
      .split("/")
      .filter((c) => c !== "" && c !== ".")
      .join("/");
  return a.startsWith("/") && b.startsWith("/") && norm(a) === norm(b);
}

/** The kernel command line's switches systemd-fstab-generator mounts the root and /usr by (the last of each wins; one without a value is ignored, an empty one unsets). */
function mountSwitches(cmdline: string) {
  const s = {
    root: undefined as string | undefined,
    usr: undefined as string | undefined,
    usrFstype: undefined as string | undefined,
    usrFlags: false,
    fstab: true,
  };
  for (const word of splitCmdline(cmdline)) {
    const eq = word.indexOf("=");
    const key = eq < 0 ? word : word.slice(0, eq);
    const value = eq < 0 ? undefined : word.slice(eq + 1);
    if (key === "fstab" || key === "rd.fstab") s.fstab = (value === undefined ? true : parseBool(value)) ?? s.fstab;
    else if (value === undefined) continue;
    else if (key === "root") s.root = value || undefined;
    else if (key === "mount.usr") s.usr = value || undefined;
    else if (key === "mount.usrfstype") s.usrFstype = value || undefined;
    else if (key === "mount.usrflags") s.usrFlags = true;
  }
  return s;
}

/**
 * The spec (fstab's first field: UUID=…, LABEL=…, PARTUUID=…, PARTLABEL=…, /dev/…) of the root or
 * /usr as the initrd's systemd-fstab-generator decides it: the kernel command line's root=
 * (mount.usr=; mount.usrfstype= or mount.usrflags= alone mean the root's device), else, when it
 * names none or says `fstab`, the fstab's /sysroot (/sysroot/usr) entry, else its / (/usr).
 * undefined when the command line names a root that is no block device (gpt-auto, tmpfs, NFS,
 * CIFS, iSCSI, a live image: something else mounts it), `fstab=0` turns the fstab off, or nothing
 * names one. The kernel command line is split as the kernel does (double quotes).
 */
export function fileSystemSpec(fs: "root" | "usr", cmdline: string, fstab: string): string | undefined {
  const s = mountSwitches(cmdline);
  const named = fs === "root" ? s.root : (s.usr ?? (s.usrFstype !== undefined || s.usrFlags ? s.root : undefined));
  if (named !== undefined && named !== "fstab") return udevNode(named) ? named : undefined;
  if (!s.fstab) return undefined;
  const entries = parseFstab(fstab);
  for (const where of fs === "root" ? ["/sysroot", "/"] : ["/sysroot/usr", "/usr"]) {
    // the first entry: systemd refuses a second unit for the same mount point
    const e = entries.find((x) => samePath(x.file, where));
    if (e) return udevNode(e.spec) ? e.spec : undefined;
  }
  return undefined;
}

/** systemd's unquote of a tag's value: one pair of matching outer quotes (" or ') dropped. */
function unquote(v: string): string {
  return v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.endsWith(v[0]) ? v.slice(1, -1) : v;
}

/** udev's encode_devnode_name: ASCII other than [0-9A-Za-z#+-.:=@_] (a '/', a space, a backslash) as \xNN, other valid characters kept. */
function encodeDevnodeName(v: string): string {
  const hex = (b: number) => `\\x${b.toString(16).padStart(2, "0")}`;
  let out = "";
  for (const ch of v) {
    const c = ch.codePointAt(0)!;
    // unichar_is_valid: no surrogate, no non-character
    if (c < 0x80) out += /[0-9A-Za-z#+\-.:=@_]/.test(ch) ? ch : hex(c);
    else if (!(c >= 0xd800 && c <= 0xdfff) && !(c >= 0xfdd0 && c <= 0xfdef) && (c & 0xfffe) !== 0xfffe) out += ch;
    else for (const b of Buffer.from(ch, "utf8")) out += hex(b);
  }
  return out;
}

/**
 * The device node for a spec as systemd waits for and checks it (fstab_node_to_udev_node): a tag
 * as udev's /dev/disk/by-uuid|by-label|by-partuuid|by-partlabel symlink, its value escaped as udev
 * names the link and in its case as written (systemd does not fold it: blkid gives ext4's UUIDs in
 * lower case, vfat's and NTFS's in upper case); anything else as it is. undefined unless that is a
 * device path under /dev (root=/dev/nfs is NFS). The symlink itself, never followed: fsck opens it.
 */
export function udevNode(spec: string): string | undefined {
  const m = /^(LABEL|UUID|PARTUUID|PARTLABEL)=(.*)$/s.exec(spec);
  const value = m ? unquote(m[2]!) : undefined;
  if (value === "") return undefined;
  const node = m ? `/dev/disk/by-${m[1]!.toLowerCase()}/${encodeDevnodeName(value!)}` : spec;
  if (!node.startsWith("/dev/") || node.endsWith("/") || samePath(node, "/dev/nfs") || node.includes("\0") || node.length >= 4096) return undefined;
  return node.split("/").some((c) => c === "." || c === "..") ? undefined : node;
}

/** The device of a systemd-fsck-root/-usr check from the boot's configuration: fileSystemSpec's spec as udevNode's node. */
export function configuredFsckDevice(fs: "root" | "usr", cmdline: string, fstab: string): string | undefined {
  const spec = fileSystemSpec(fs, cmdline, fstab);
  return spec === undefined ? undefined : udevNode(spec);
}

/** The argv of a Service's first ExecStart entry, from the a(sasbttttuii) property; undefined when malformed. */
export function execStartArgv(v: unknown): string[] | undefined {
  const first = Array.isArray(v) ? v[0] : undefined;
  const argv = Array.isArray(first) ? first[1] : undefined;
  return Array.isArray(argv) && argv.every((a) => typeof a === "string") ? (argv as string[]) : undefined;
}

export type BootEvent = { kind: "job_removed"; unit: string; result: string } | { kind: "job_new"; unit: string };

/** Pure: what a Manager signal means for recovery. `lastFailed` is updated by the caller. */
export function classify(e: BootEvent, lastFailed: string | undefined): string | undefined {
  if (e.kind === "job_removed") return e.result === "failed" && isFsckUnit(e.unit) ? fsckReason(e.unit) : undefined;
  return STOP_TARGETS.has(e.unit) ? stopReason(e.unit, lastFailed) : undefined;
}

/** Reads a Manager signal into a BootEvent; undefined for anything else or a malformed body. */
export function bootEvent(m: dbus.Message): BootEvent | undefined {
  if (m.path !== SYSTEMD_PATH || m.interface !== MANAGER || !Array.isArray(m.body)) return undefined;
  if (m.member === "JobRemoved" && m.signature === "uoss") return { kind: "job_removed", unit: m.body[2] as string, result: m.body[3] as string };
  if (m.member === "JobNew" && m.signature === "uos") return { kind: "job_new", unit: m.body[2] as string };
  return undefined;
}

/** Where the boot's configuration is read when a failed check's unit names no device. */
export interface BootConfigFiles {
  /** the kernel command line: /proc/cmdline unless foyerd was given another (--cmdline) */
  cmdline?: string;
  /** the fstab systemd-fstab-generator read: /etc/fstab */
  fstab?: string;
}

/** a kernel command line is a few KiB, an fstab a few lines */
const MAX_CONFIG_BYTES = 64 * 1024;

/** Events: "failure" (reason, unit, device | undefined). */
export class BootFailureWatch extends EventEmitter {
  #lastFailed?: string;
  #onSignal = (m: dbus.Message) => this.#signal(m);
  #onUp = () => void this.#subscribe();

  constructor(
    private link: SystemdLink,
    private log: Logger,
    private files: BootConfigFiles = {},
  ) {
    super();
  }

  /** Subscribes and reports what failed before; never throws (a problem is logged). */
  async start(): Promise<void> {
    this.link.on("signal", this.#onSignal);
    this.link.on("up", this.#onUp);
    await this.#subscribe();
  }

  stop(): void {
    this.link.off("signal", this.#onSignal);
    this.link.off("up", this.#onUp);
  }

  async #report(reason: string, unit: string): Promise<void> {
    const device = isFsckUnit(unit) ? await this.#deviceOf(unit) : undefined;
    this.log.notice(reason, device ? { device } : undefined);
    this.emit("failure", reason, unit, device);
  }

  async #deviceOf(unit: string): Promise<string | undefined> {
    let argv: string[] | undefined;
    try {
      const bus = await this.link.subscribed();
      argv = execStartArgv(await bus.get(unitObjectPath(unit), "org.freedesktop.systemd1.Service", "ExecStart"));
    } catch (e) {
      this.log.warning(`cannot read ${printableUnit(unit)}'s ExecStart, ignoring`, { err: describe(e) });
    }
    const named = fsckDevice(unit, argv);
    const fs = fsckFileSystem(unit);
    if (named !== undefined || fs === undefined) return named;
    const [cmdline, fstab] = await Promise.all([this.#readConfig(this.files.cmdline ?? "/proc/cmdline"), this.#readConfig(this.files.fstab ?? "/etc/fstab")]);
    const device = configuredFsckDevice(fs, cmdline ?? "", fstab ?? "");
    this.log.info(
      `${unit} names no device: ${device ? `${device}, from the kernel command line or the fstab` : "nor do the kernel command line and the fstab"}`,
    );
    return device;
  }

  /** A root-owned configuration file's text, up to MAX_CONFIG_BYTES; undefined when it is missing or cannot be read (a warning). */
  async #readConfig(path: string): Promise<string | undefined> {
    let fh: FileHandle | undefined;
    try {
      // O_NONBLOCK: a FIFO in the file's place cannot hold the watch
      fh = await open(path, constants.O_RDONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
      if (!(await fh.stat()).isFile()) throw new Error("not a regular file");
      const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
      let n = 0;
      while (n < buf.length) {
        const { bytesRead } = await fh.read(buf, n, buf.length - n, null);
        if (bytesRead === 0) break;
        n += bytesRead;
      }
      if (n > MAX_CONFIG_BYTES) throw new Error(`larger than ${MAX_CONFIG_BYTES} bytes`);
      return buf.toString("utf8", 0, n);
    } catch (e) {
      // no fstab is common in an initrd, as it is to systemd-fstab-generator
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") this.log.warning(`cannot read ${path}, ignoring`, { err: describe(e) });
      return undefined;
    } finally {
      await fh?.close();
    }
  }

  #signal(m: dbus.Message): void {
    const e = bootEvent(m);
    if (!e || typeof e.unit !== "string" || (e.kind === "job_removed" && typeof e.result !== "string")) return;
    const reason = classify(e, this.#lastFailed);
    if (e.kind === "job_removed" && e.result === "failed") this.#lastFailed = e.unit;
    if (reason) void this.#report(reason, e.unit);
  }

  async #subscribe(): Promise<void> {
    try {
      const bus = await this.link.subscribed();
      // what happened before foyer listened: failed checks, a stop target already reached
      const [units] = await manager(bus, "ListUnitsByPatterns", "asas", [["failed"], ["systemd-fsck*"]]);
      if (!Array.isArray(units)) throw new Error("ListUnitsByPatterns did not return a list");
      for (const u of units) {
        const name = Array.isArray(u) ? u[0] : undefined;
        if (typeof name === "string" && isFsckUnit(name)) {
          this.#lastFailed = name;
          await this.#report(fsckReason(name), name);
        }
      }
      for (const t of STOP_TARGETS) {
        let state = "";
        try {
          state = str(await bus.get(unitObjectPath(t), "org.freedesktop.systemd1.Unit", "ActiveState"), "ActiveState");
        } catch {
          continue; // not loaded: not reached
        }
        if (state === "active" || state === "activating") await this.#report(stopReason(t, this.#lastFailed), t);
      }
    } catch (e) {
      this.log.warning("cannot watch systemd for failed boot units, ignoring", { err: describe(e) });
    }
  }
}
