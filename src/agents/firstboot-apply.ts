// Applies first-boot answers to a root directory with the system's own tools, and decides whether
// the flow is due. Nothing here invents a file format that a tool already writes:
//   - passwords: `openssl passwd -6 -stdin` hashes (SHA-512 crypt, what Debian's chpasswd and
//     passwd write); the clear bytes go through a pipe, never argv, and are zeroed once written;
//   - the account: `useradd -R ROOT -m`, then `chpasswd -e -R ROOT` with `name:hash` on stdin
//     (useradd's -p would put the hash in /proc/PID/cmdline, readable by every local user);
//   - root: `chpasswd -e` likewise, or `usermod -R ROOT -L root` to lock it. Not
//     systemd-firstboot's --root-password-hashed: it silently skips the root account whenever
//     /etc/passwd and /etc/shadow exist (systemd 252, seen on a scratch root), i.e. always;
//   - locale, time zone, host name, console keymap: `systemd-firstboot --root=ROOT --force`
//     (Debian's build writes the locale to /etc/default/locale, others to /etc/locale.conf);
//   - the X layout: XKB* keys in vconsole.conf (read by foyer and by localed) and
//     /etc/X11/xorg.conf.d/00-keyboard.conf in localed's format.
// The flow is marked done by a stamp, /var/lib/foyer/firstboot.done, not by writing
// /etc/machine-id: a machine-id would also switch off systemd's own first boot (preset-all,
// units with ConditionFirstBoot=yes) on the boot that is about to happen.
import { readFileSync, writeFileSync, renameSync, mkdirSync, existsSync, chmodSync } from "node:fs";
import { join, dirname } from "node:path";
import { FoyerError } from "../base/errors.js";
import { run } from "../base/command.js";
import type { Secret } from "../base/secret.js";
import type { Logger } from "../base/log.js";
import type { FirstbootAnswers } from "../protocol/firstboot.js";
import { namesIn } from "./firstboot-validate.js";

export const STAMP = "var/lib/foyer/firstboot.done";
const TOOL_TIMEOUT_MS = 60_000;
const SHA512_CRYPT = /^\$6\$(rounds=\d+\$)?[./A-Za-z0-9]{1,16}\$[./A-Za-z0-9]{86}$/;

export type FirstbootEnabled = boolean | "auto";

/** systemd's ConditionFirstBoot: /etc/machine-id missing or "uninitialized" (an empty file is not a first boot). */
export function isFirstBoot(machineId: string | null): boolean {
  return machineId === null || machineId.trim() === "uninitialized";
}

export interface FirstbootCondition {
  /** the root has an /etc/passwd: a root file system is mounted there */
  hasRoot: boolean;
  machineId: string | null;
  stamped: boolean;
}

/**
 * Whether the flow runs, and why (for the log): never after its stamp; `true` forces it, `auto`
 * follows ConditionFirstBoot. Never on an empty mount point: in the initramfs /sysroot is an
 * empty directory until the root is mounted, and its missing machine-id means nothing.
 */
export function firstbootDue(enabled: FirstbootEnabled, c: FirstbootCondition): { due: boolean; why: string } {
  if (enabled === false) return { due: false, why: "not enabled by the profile" };
  if (!c.hasRoot) return { due: false, why: "no root file system there (no etc/passwd)" };
  if (c.stamped) return { due: false, why: "already done" };
  if (enabled === true) return { due: true, why: "the profile asks for it" };
  return isFirstBoot(c.machineId) ? { due: true, why: "first boot (machine-id missing or uninitialized)" } : { due: false, why: "not a first boot" };
}

export function readFirstbootCondition(root: string): FirstbootCondition {
  let machineId: string | null = null;
  try {
    machineId = readFileSync(join(root, "etc/machine-id"), "utf8");
  } catch {
    /* missing: a first boot */
  }
  return { hasRoot: existsSync(join(root, "etc/passwd")), machineId, stamped: existsSync(join(root, STAMP)) };
}

/** Runs a first-boot tool; `input` goes to its stdin and is zeroed once the tool has ended. */
async function tool(argv: string[], input?: Buffer): Promise<{ code: number | null; stdout: string; stderr: string }> {
  try {
    const r = await run(argv, { timeoutMs: TOOL_TIMEOUT_MS, maxOutput: 4096, ...(input ? { input } : {}) });
    return { code: r.code, stdout: r.stdout.toString("utf8"), stderr: r.stderr.toString("utf8") };
  } finally {
    input?.fill(0);
  }
}

/** SHA-512 crypt of a password; the Secret stays the caller's to wipe, the pipe copy is zeroed here. */
export async function hashPassword(secret: Secret): Promise<string> {
  const bytes = secret.reveal();
  if (bytes.includes(0x0a) || bytes.includes(0x0d) || bytes.includes(0)) throw new FoyerError("invalid-argument", "a password cannot contain line breaks");
  const line = Buffer.alloc(bytes.length + 1); // alloc: never the shared pool
  bytes.copy(line);
  line[bytes.length] = 0x0a;
  const r = await tool(["openssl", "passwd", "-6", "-stdin"], line);
  const hash = r.stdout.trim();
  if (r.code !== 0 || !SHA512_CRYPT.test(hash)) throw new FoyerError("internal", `openssl passwd failed (exit ${r.code})`);
  return hash;
}

export interface ApplyPlan {
  root: string;
  answers: FirstbootAnswers;
  /** SHA-512 crypt hashes; root's is null when root is locked */
  userHash: string;
  rootHash: string | null;
  /** console keymap for vconsole.conf's KEYMAP=, when kbd-model-map has an exact row */
  consoleKeymap: string | null;
}

/** Writes `text` next to `path` and renames it over: a reader never sees half a file. */
function writeAtomic(path: string, text: string, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  writeFileSync(`${path}.foyer-tmp`, text, { mode });
  chmodSync(`${path}.foyer-tmp`, mode);
  renameSync(`${path}.foyer-tmp`, path);
}

/** vconsole.conf with the new KEYMAP/XKB* keys; other keys (FONT=…) are kept. Pure. */
export function mergeVconsole(old: string, keys: Record<string, string>): string {
  const ours = new Set(Object.keys(keys));
  const kept = old.split("\n").filter((l) => {
    const k = l.split("=")[0]!.trim();
    return l.trim() !== "" && !ours.has(k);
  });
  const added = Object.entries(keys)
    .filter(([, v]) => v !== "")
    .map(([k, v]) => `${k}=${v}`);
  return [...kept, ...added].join("\n") + "\n";
}

export function xorgKeyboardConf(layout: string, variant: string): string {
  return [
    "# Written by foyer's first-boot setup, in the format systemd-localed uses; localectl set-x11-keymap rewrites it.",
    'Section "InputClass"',
    '        Identifier "system-keyboard"',
    '        MatchIsKeyboard "on"',
    `        Option "XkbLayout" "${layout}"`,
    ...(variant ? [`        Option "XkbVariant" "${variant}"`] : []),
    "EndSection",
    "",
  ].join("\n");
}

/** The administrators' group of the target, when root is locked and someone must be able to use sudo. */
function adminGroup(root: string): string | null {
  let groups: Set<string>;
  try {
    groups = namesIn(readFileSync(join(root, "etc/group"), "utf8"));
  } catch {
    return null;
  }
  return groups.has("sudo") ? "sudo" : groups.has("wheel") ? "wheel" : null;
}

/**
 * Applies the plan. The account goes first: it is the step most likely to be refused, and when
 * it is, nothing else has been written. Each step logs its tool's exit code; a failure throws
 * naming the step (the tool's stderr goes to the log, it may echo input).
 */
export async function applyFirstboot(plan: ApplyPlan, log: Logger): Promise<string[]> {
  const { root, answers: a } = plan;
  const done: string[] = [];
  const step = async (name: string, argv: string[], input?: Buffer) => {
    const r = await tool(argv, input);
    log.info(`first-boot step '${name}' exited ${r.code}`);
    if (r.code !== 0) {
      log.warning(`first-boot step '${name}' failed`, { stderr: r.stderr.trim().slice(-1024) });
      throw new FoyerError("internal", `${name} failed (exit ${r.code})${done.length ? `; already applied: ${done.join(", ")}` : ""}`);
    }
    done.push(name);
  };
  const line = (name: string, hash: string) => Buffer.from(`${name}:${hash}\n`);

  // root locked: the first user administers the machine (as Debian's installer does)
  const admin = a.rootLocked ? adminGroup(root) : null;
  await step("useradd", ["useradd", "-R", root, "-m", ...(a.fullName ? ["-c", a.fullName] : []), ...(admin ? ["-G", admin] : []), "--", a.username]);
  await step("user password", ["chpasswd", "-e", "-R", root], line(a.username, plan.userHash));
  if (plan.rootHash) await step("root password", ["chpasswd", "-e", "-R", root], line("root", plan.rootHash));
  else await step("lock root", ["usermod", "-R", root, "-L", "root"]);

  const vconsolePath = join(root, "etc/vconsole.conf");
  let oldVconsole = "";
  try {
    oldVconsole = readFileSync(vconsolePath, "utf8");
  } catch {
    /* none yet */
  }
  await step("systemd-firstboot", [
    "systemd-firstboot",
    `--root=${root}`,
    "--force",
    `--locale=${a.locale}`,
    `--timezone=${a.timezone}`,
    `--hostname=${a.hostname}`,
    ...(plan.consoleKeymap ? [`--keymap=${plan.consoleKeymap}`] : []),
  ]);
  // systemd-firstboot --force rewrote vconsole.conf with KEYMAP= only: put back the other keys, add XKB*
  let written = "";
  try {
    written = readFileSync(vconsolePath, "utf8");
  } catch {
    /* no keymap given: it wrote none */
  }
  const keymapLine = /^KEYMAP=(.*)$/m.exec(written)?.[1] ?? "";
  writeAtomic(
    vconsolePath,
    mergeVconsole(oldVconsole, { KEYMAP: keymapLine || (/^KEYMAP=(.*)$/m.exec(oldVconsole)?.[1] ?? ""), XKBLAYOUT: a.layout, XKBVARIANT: a.variant }),
  );
  writeAtomic(join(root, "etc/X11/xorg.conf.d/00-keyboard.conf"), xorgKeyboardConf(a.layout, a.variant));
  done.push("keyboard");

  writeAtomic(join(root, STAMP), `first boot set up by foyer at ${new Date().toISOString()}\n`);
  log.notice("first-boot setup applied", { root, steps: done.length });
  return done;
}
