// Loading a profile: by name from the shipped profiles/ folder, overridden by /etc/foyer/profiles,
// or by path. A bad profile is reported as `file: path: reason` (never echoing values) and the
// caller falls back to the built-in default: a typo must not keep anyone from unlocking.
import { readFileSync, existsSync, openSync, fstatSync, closeSync, statSync, constants } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { ProfileSchema, type Profile } from "./schema.js";

export type ParseResult = { ok: true; profile: Profile } | { ok: false; problems: string[] };

const MAX_PROFILE_BYTES = 64 * 1024;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The built-in default: every key at its schema default (cage + cog on the real display). */
export const BUILTIN_DEFAULT: Profile = ProfileSchema.parse({ schema: 1 });

function lineCol(text: string, pos: number): string {
  const before = text.slice(0, pos);
  const line = before.split("\n").length;
  return `line ${line} column ${pos - before.lastIndexOf("\n")}`;
}

export function parseProfile(text: string): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    // V8's message quotes the input; keep only where it broke
    const m = /position (\d+)/.exec(String((e as Error).message));
    return { ok: false, problems: [`<root>: not valid JSON${m ? ` (${lineCol(text, Number(m[1]))})` : ""}`] };
  }
  const r = ProfileSchema.safeParse(raw);
  if (r.success) return { ok: true, profile: r.data };
  return { ok: false, problems: r.error.issues.map((i) => `${i.path.join(".") || "<root>"}: ${i.message}`) };
}

/** Where shipped profiles live: profiles/ at the package top, found from this file or the bundle. */
export function shippedProfileDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const cand of [join(here, "../../profiles"), join(here, "../profiles"), join(here, "profiles")]) {
    if (existsSync(cand)) return cand;
  }
  return join(here, "../../profiles");
}

export interface ResolveOptions {
  dirs?: string[]; // searched in order; later dirs override earlier ones
  /**
   * keys only tests may set (greeter.debugPort opens the greeter's browser to every local user
   * over DevTools): foyerd allows them only when started with FOYER_TEST_KEYS=1
   */
  testKeys?: boolean;
}

/** Profile keys that serve tests only, and why each must never reach a boot. */
const TEST_KEYS: { path: string; set: (p: Profile) => boolean; why: string }[] = [
  { path: "greeter.debugPort", set: (p) => p.greeter.debugPort !== null, why: "it opens the greeter's browser to every local user over DevTools" },
];

/** The uids a profile file may belong to: root, and whoever owns foyer's own code (who could change foyer itself). */
function trustedOwners(): Set<number> {
  const owners = new Set([0]);
  try {
    owners.add(statSync(fileURLToPath(import.meta.url)).uid);
  } catch {
    /* a bundle read from somewhere unnamed: root only */
  }
  return owners;
}

export function defaultProfileDirs(): string[] {
  return [shippedProfileDir(), "/etc/foyer/profiles"];
}

/** NAME → the last dir's `<NAME>.json` that exists; anything with a '/' is a path. */
export function resolveProfile(nameOrPath: string, opts: ResolveOptions = {}): string | { problem: string } {
  if (nameOrPath.includes("/")) return nameOrPath;
  if (!NAME.test(nameOrPath)) return { problem: `profile name is not valid (letters, digits, '.', '_', '-')` };
  const dirs = opts.dirs ?? defaultProfileDirs();
  let found: string | undefined;
  for (const d of dirs) {
    const p = join(d, `${nameOrPath}.json`);
    if (existsSync(p)) found = p;
  }
  return found ?? { problem: `no profile named '${nameOrPath}' in ${dirs.join(", ")}` };
}

export type LoadResult = { ok: true; profile: Profile; source: string } | { ok: false; profile: Profile; source: "built-in"; problems: string[] };

/** Loads a profile, or returns the built-in default with the problems that made it fall back. */
export function loadProfile(nameOrPath: string | undefined, opts: ResolveOptions = {}): LoadResult {
  if (nameOrPath === undefined) {
    const def = resolveProfile("default", opts);
    if (typeof def !== "string") return { ok: true, profile: BUILTIN_DEFAULT, source: "built-in" };
    nameOrPath = def;
  }
  const file = resolveProfile(nameOrPath, opts);
  if (typeof file !== "string") return { ok: false, profile: BUILTIN_DEFAULT, source: "built-in", problems: [file.problem] };
  let text: string;
  // opened without following a link, then checked: a profile decides what root runs (the
  // recovery commands), so only its owner and root may be able to write it
  let fd: number | undefined;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const st = fstatSync(fd);
    if (!st.isFile()) return fail(file, ["<file>: not a regular file"]);
    if (!trustedOwners().has(st.uid)) return fail(file, [`<file>: belongs to uid ${st.uid}, not to root`]);
    if ((st.mode & 0o022) !== 0) return fail(file, ["<file>: writable by its group or by others"]);
    if (st.size > MAX_PROFILE_BYTES) return fail(file, [`<file>: larger than ${MAX_PROFILE_BYTES} bytes`]);
    text = readFileSync(fd, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return fail(file, [code === "ELOOP" ? "<file>: a symlink" : `<file>: cannot read (${code ?? "error"})`]);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const r = parseProfile(text);
  if (!r.ok) return fail(file, r.problems);
  const test = opts.testKeys ? [] : TEST_KEYS.filter((k) => k.set(r.profile));
  if (test.length > 0)
    return fail(
      file,
      test.map((k) => `${k.path}: a test-only key (${k.why}); foyerd takes it only with FOYER_TEST_KEYS=1`),
    );
  return { ok: true, profile: r.profile, source: file };
}

function fail(file: string, problems: string[]): LoadResult {
  return { ok: false, profile: BUILTIN_DEFAULT, source: "built-in", problems: problems.map((p) => `${file}: ${p}`) };
}
