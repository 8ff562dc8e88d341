// The daemon's word on a first-boot form: every answer checked against the machine's own lists
// before anything is written, so a bad answer can never leave a half-configured system. Pure:
// the lists and the existing account names are passed in.
import {
  hostnameProblem,
  usernameProblem,
  fullNameProblem,
  timezoneSyntaxProblem,
  problemMessage,
  type FirstbootAnswers,
  type FirstbootError,
  type KeyboardLayout,
  type ProblemCode,
} from "../protocol/firstboot.js";

export interface ValidationContext {
  layouts: KeyboardLayout[];
  locales: string[];
  timezones: string[];
  /** user and group names already in the target's /etc/passwd and /etc/group */
  takenUsers: Set<string>;
  takenGroups: Set<string>;
  /** whether the daemon holds a hash for each password */
  hashed: { user: boolean; root: boolean };
}

/** Every problem, in form order (the UI focuses the first); empty means the answers can be applied. */
export function validateAnswers(a: FirstbootAnswers, c: ValidationContext): FirstbootError[] {
  const errors: FirstbootError[] = [];
  const add = (field: FirstbootError["field"], code: ProblemCode | null) => code && errors.push({ field, code, message: problemMessage(code, a.username) });

  const layout = c.layouts.find((l) => l.name === a.layout);
  if (!layout) add("layout", "layout-unknown");
  else if (a.variant !== "" && !layout.variants.some((v) => v.name === a.variant)) add("variant", "variant-unknown");

  if (!c.locales.includes(a.locale)) add("locale", "locale-unknown");

  const tz = timezoneSyntaxProblem(a.timezone);
  add("timezone", tz ?? (c.timezones.includes(a.timezone) ? null : "timezone-unknown"));

  add("hostname", hostnameProblem(a.hostname));
  add("fullName", fullNameProblem(a.fullName));

  const u = usernameProblem(a.username);
  if (u) add("username", u);
  else if (c.takenUsers.has(a.username)) add("username", "username-taken-user");
  // useradd makes a group of the same name (USERGROUPS_ENAB) and refuses if one exists
  else if (c.takenGroups.has(a.username)) add("username", "username-taken-group");

  if (!c.hashed.user) add("userPassword", "password-empty");
  if (!a.rootLocked && !c.hashed.root) add("rootPassword", "root-password-missing");
  return errors;
}

/** The first field of each line of a passwd(5)/group(5) file. */
export function namesIn(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split("\n")) {
    const name = line.split(":")[0];
    if (name && !name.startsWith("#")) out.add(name);
  }
  return out;
}
