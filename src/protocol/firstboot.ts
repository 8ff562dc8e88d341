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

/**
 * Why an answer is refused, as a code: the greeter shows the text of its own catalogue for it
 * (src/ui/locales, firstboot.error.*), so the person reads it in the greeter's language.
 */
export const PROBLEM_CODES = [
  "layout-missing",
  "layout-unknown",
  "variant-unknown",
  "locale-missing",
  "locale-unknown",
  "timezone-missing",
  "timezone-invalid",
  "timezone-unknown",
  "hostname-empty",
  "hostname-too-long",
  "hostname-dots",
  "hostname-part-too-long",
  "hostname-characters",
  "fullname-too-long",
  "fullname-characters",
  "username-empty",
  "username-too-long",
  "username-characters",
  "username-taken-user",
  "username-taken-group",
  "password-empty",
  "password-line-break",
  "password-too-long",
  "password-mismatch",
  "password-hash-failed",
  "root-password-missing",
] as const;
export const ProblemCode = z.enum(PROBLEM_CODES);
export type ProblemCode = z.infer<typeof ProblemCode>;

/**
 * `code` is optional on the wire so that an error without one (a daemon from before codes) still
 * parses: the greeter then shows `message`, which stays the English sentence for logs and for
 * clients that do not translate.
 */
export const FirstbootError = z.strictObject({ field: FirstbootField, code: z.optional(ProblemCode), message: z.string().check(z.maxLength(256)) });
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
  /**
   * failed: the cause alone, as the tool reported it (untranslatable), so the greeter can put it
   * in a sentence of its own language; `message` is the English sentence around it
   */
  detail: z.optional(z.string().check(z.maxLength(512))),
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

/** Linux's HOST_NAME_MAX; each dot-separated label at most 63 (RFC 1123) */
export const HOSTNAME_MAX = 64;
export const HOSTNAME_LABEL_MAX = 63;
/** the utmp limit */
export const USERNAME_MAX = 32;
export const FULLNAME_MAX = 128;

/** The limit a "too long" problem names: the greeter's catalogue and the English text say {max}. */
export const PROBLEM_MAX: Partial<Record<ProblemCode, number>> = {
  "hostname-too-long": HOSTNAME_MAX,
  "hostname-part-too-long": HOSTNAME_LABEL_MAX,
  "fullname-too-long": FULLNAME_MAX,
  "username-too-long": USERNAME_MAX,
  "password-too-long": MAX_PASSWORD_BYTES,
};

/** The English text of each problem, the wire's `message`: the daemon's alone (the page translates the code). */
export const PROBLEM_TEXT: Record<ProblemCode, string> = {
  "layout-missing": "Choose a keyboard layout.",
  "layout-unknown": "Choose a keyboard layout from the list.",
  "variant-unknown": "Choose a variant of this layout from the list.",
  "locale-missing": "Choose a language.",
  "locale-unknown": "Choose a language from the list.",
  "timezone-missing": "Choose a time zone.",
  "timezone-invalid": "Not a time zone name.",
  "timezone-unknown": "Choose a time zone from the list.",
  "hostname-empty": "Enter a name for this computer.",
  "hostname-too-long": "Use at most {max} characters.",
  "hostname-dots": "Dots must separate parts: no leading, trailing or double dots.",
  "hostname-part-too-long": "Each part between dots must be at most {max} characters.",
  "hostname-characters": "Use letters, digits and hyphens; a part cannot start or end with a hyphen.",
  "fullname-too-long": "Use at most {max} characters.",
  "fullname-characters": "A full name cannot contain ':', ',' or control characters.",
  "username-empty": "Enter a login name.",
  "username-too-long": "Use at most {max} characters.",
  "username-characters": "Start with a lowercase letter; then lowercase letters, digits, '-' or '_'.",
  "username-taken-user": "The name '{name}' is already used by an account on this system.",
  "username-taken-group": "The name '{name}' is already used by a group on this system.",
  "password-empty": "Enter a password.",
  "password-line-break": "A password cannot contain line breaks.",
  "password-too-long": "Use at most {max} bytes.",
  "password-mismatch": "The two passwords do not match.",
  "password-hash-failed": "This password could not be hashed; try again.",
  "root-password-missing": "Enter a root password, or lock the root account.",
};

/** The English sentence for a problem, its {max} and {name} filled in. */
export function problemMessage(code: ProblemCode, name = ""): string {
  const max = String(PROBLEM_MAX[code] ?? "");
  return PROBLEM_TEXT[code].replace("{max}", max).replace("{name}", () => name);
}

/**
 * RFC 1123 host names, as systemd's hostname_is_valid() takes them: dot-separated labels of
 * letters, digits and inner hyphens, each 1–63 characters, 64 characters at most in all (Linux's
 * HOST_NAME_MAX), no trailing dot.
 */
export function hostnameProblem(h: string): ProblemCode | null {
  if (h === "") return "hostname-empty";
  if (h.length > HOSTNAME_MAX) return "hostname-too-long";
  for (const label of h.split(".")) {
    if (label === "") return "hostname-dots";
    if (label.length > HOSTNAME_LABEL_MAX) return "hostname-part-too-long";
    if (!/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$/.test(label)) return "hostname-characters";
  }
  return null;
}

/** Debian's default NAME_REGEX (adduser.conf, useradd) and the 32-character utmp limit. */
export function usernameProblem(u: string): ProblemCode | null {
  if (u === "") return "username-empty";
  if (u.length > USERNAME_MAX) return "username-too-long";
  if (!/^[a-z][-a-z0-9_]*$/.test(u)) return "username-characters";
  return null;
}

/** The GECOS field: ':' and ',' separate fields in /etc/passwd, and control characters break it. */
export function fullNameProblem(n: string): ProblemCode | null {
  if (n.length > FULLNAME_MAX) return "fullname-too-long";
  if (/[:,\x00-\x1f\x7f]/.test(n)) return "fullname-characters";
  return null;
}

/** Zone names as tzdata spells them; '..' can never appear in a path component. */
export function timezoneSyntaxProblem(tz: string): ProblemCode | null {
  if (tz === "") return "timezone-missing";
  if (!/^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/.test(tz) || tz.split("/").includes("..")) return "timezone-invalid";
  return null;
}

/**
 * A password and its confirmation, as the browser holds them (the daemon only ever sees one copy,
 * in a binary frame): empty and mismatched are the person's mistakes, a line break cannot pass
 * through `openssl passwd -stdin` or chpasswd's `name:hash` lines.
 */
export function passwordProblem(pw: string, confirm: string): ProblemCode | null {
  if (pw === "") return "password-empty";
  if (/[\r\n\0]/.test(pw)) return "password-line-break";
  if (new TextEncoder().encode(pw).length > MAX_PASSWORD_BYTES) return "password-too-long";
  if (pw !== confirm) return "password-mismatch";
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
