// The first-boot flow's wire schemas and the field checks both sides share: the browser runs them
// for instant inline errors, the daemon runs them again (it trusts no client) together with the
// checks that need the machine (src/agents/firstboot-validate.ts). Passwords never appear here:
// they travel as binary frames [0x03][field][bytes] and only their hashes exist in the daemon.
// No Node imports: this file is bundled into the browser.
// zod/mini, not zod: its checks are functions a bundler can drop, so the page loads what these
// schemas use rather than all of zod before it can connect (the page's shared chunk: 42 KB, was 471 KB).
import * as z from "zod/mini";

/** [0x03][u8 field][password bytes] */
export const FRAME_FIRSTBOOT_PASSWORD = 0x03;
export const PASSWORD_FIELD = { user: 1, root: 2 } as const;
/**
 * `openssl passwd -stdin` (OpenSSL 3.0) silently cuts each line at 256 bytes (measured: 256, 257
 * and 300 'a's give the same hash), so a longer password would not be the one the person typed.
 */
export const MAX_PASSWORD_BYTES = 256;

export const FirstbootField = z.enum(["layout", "variant", "locale", "timezone", "hostname", "fullName", "username", "userPassword", "rootPassword", "form"]);
export type FirstbootField = z.infer<typeof FirstbootField>;

/** The answers that are not secret; the passwords come as frames. */
export const FirstbootAnswers = z.strictObject({
  layout: z.string().check(z.maxLength(64)),
  variant: z.string().check(z.maxLength(64)),
  locale: z.string().check(z.maxLength(128)),
  timezone: z.string().check(z.maxLength(128)),
  hostname: z.string().check(z.maxLength(256)),
  fullName: z.string().check(z.maxLength(256)),
  username: z.string().check(z.maxLength(64)),
  /** true: root gets no password (locked); the first user becomes the administrator */
  rootLocked: z.boolean(),
});
export type FirstbootAnswers = z.infer<typeof FirstbootAnswers>;

export const FirstbootError = z.strictObject({ field: FirstbootField, message: z.string().check(z.maxLength(256)) });
export type FirstbootError = z.infer<typeof FirstbootError>;

export const FirstbootView = z.strictObject({
  /** form: waiting for answers; applying: the tools run; failed: applying stopped (message says where) */
  phase: z.enum(["form", "applying", "failed"]),
  /** what the form shows: the defaults, then the last answers submitted */
  values: FirstbootAnswers,
  errors: z.array(FirstbootError).check(z.maxLength(16)),
  /** which passwords the daemon holds a hash for (never the hash) */
  hashed: z.strictObject({ user: z.boolean(), root: z.boolean() }),
  message: z.string().check(z.maxLength(512)),
});
export type FirstbootView = z.infer<typeof FirstbootView>;

export const KeyboardLayout = z.strictObject({
  name: z.string().check(z.maxLength(64)),
  description: z.string().check(z.maxLength(256)),
  variants: z.array(z.strictObject({ name: z.string().check(z.maxLength(64)), description: z.string().check(z.maxLength(256)) })).check(z.maxLength(512)),
});
export type KeyboardLayout = z.infer<typeof KeyboardLayout>;

/** The choices, sent once per connection on request (they are large and never change). */
export const FirstbootOptionsMessage = z.strictObject({
  type: z.literal("firstboot_options"),
  layouts: z.array(KeyboardLayout).check(z.maxLength(1024)),
  locales: z.array(z.string().check(z.maxLength(128))).check(z.maxLength(4096)),
  timezones: z.array(z.string().check(z.maxLength(128))).check(z.maxLength(4096)),
});
export type FirstbootOptionsMessage = z.infer<typeof FirstbootOptionsMessage>;

export const FirstbootClientMessages = [
  z.strictObject({ type: z.literal("firstboot_options") }),
  /** a layout chosen in the form: applied live so the person types the passwords with it */
  z.strictObject({ type: z.literal("firstboot_keyboard"), layout: z.string().check(z.maxLength(64)), variant: z.string().check(z.maxLength(64)) }),
  /** sent after the password frames: the daemon hashes in order, then validates everything */
  z.strictObject({ type: z.literal("firstboot_submit"), answers: FirstbootAnswers }),
] as const;

// ---- field checks shared by browser and daemon (pure) ----

/**
 * RFC 1123 host names, as systemd's hostname_is_valid() takes them: dot-separated labels of
 * letters, digits and inner hyphens, each 1–63 characters, 64 characters at most in all (Linux's
 * HOST_NAME_MAX), no trailing dot.
 */
export function hostnameProblem(h: string): string | null {
  if (h === "") return "Enter a name for this computer.";
  if (h.length > 64) return "Use at most 64 characters.";
  for (const label of h.split(".")) {
    if (label === "") return "Dots must separate parts: no leading, trailing or double dots.";
    if (label.length > 63) return "Each part between dots must be at most 63 characters.";
    if (!/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$/.test(label)) return "Use letters, digits and hyphens; a part cannot start or end with a hyphen.";
  }
  return null;
}

/** Debian's default NAME_REGEX (adduser.conf, useradd) and the 32-character utmp limit. */
export function usernameProblem(u: string): string | null {
  if (u === "") return "Enter a login name.";
  if (u.length > 32) return "Use at most 32 characters.";
  if (!/^[a-z][-a-z0-9_]*$/.test(u)) return "Start with a lowercase letter; then lowercase letters, digits, '-' or '_'.";
  return null;
}

/** The GECOS field: ':' and ',' separate fields in /etc/passwd, and control characters break it. */
export function fullNameProblem(n: string): string | null {
  if (n.length > 128) return "Use at most 128 characters.";
  // eslint-disable-next-line no-control-regex
  if (/[:,\x00-\x1f\x7f]/.test(n)) return "A full name cannot contain ':', ',' or control characters.";
  return null;
}

/** Zone names as tzdata spells them; '..' can never appear in a path component. */
export function timezoneSyntaxProblem(tz: string): string | null {
  if (tz === "") return "Choose a time zone.";
  if (!/^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/.test(tz) || tz.split("/").includes("..")) return "Not a time zone name.";
  return null;
}

/**
 * A password and its confirmation, as the browser holds them (the daemon only ever sees one copy,
 * in a binary frame): empty and mismatched are the person's mistakes, a line break cannot pass
 * through `openssl passwd -stdin` or chpasswd's `name:hash` lines.
 */
export function passwordProblem(pw: string, confirm: string): string | null {
  if (pw === "") return "Enter a password.";
  if (/[\r\n\0]/.test(pw)) return "A password cannot contain line breaks.";
  if (new TextEncoder().encode(pw).length > MAX_PASSWORD_BYTES) return `Use at most ${MAX_PASSWORD_BYTES} bytes.`;
  if (pw !== confirm) return "The two passwords do not match.";
  return null;
}

/** [0x03][field][bytes] */
export function encodePassword(field: number, pw: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + pw.length);
  out[0] = FRAME_FIRSTBOOT_PASSWORD;
  out[1] = field;
  out.set(pw, 2);
  return out;
}
