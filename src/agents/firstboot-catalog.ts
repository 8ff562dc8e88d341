// What the first-boot form may offer, read from the data the machine ships: keyboard layouts from
// xkeyboard-config's rules/evdev.xml, locales from glibc's SUPPORTED list, time zones from
// tzdata's zoneinfo tree. Each file is looked up under the target root first (that is what will
// run after boot) and then on the running system (the initramfs, or the host in tests). The parsers
// are pure; readCatalog() does the reading.
// On the running system itself (root "/": foyerd --firstboot in the real root) only the locales
// that are installed are offered: systemd-firstboot refuses any other there ("Locale … is not
// installed"), while with --root=DIR it checks the name's form only — and by then the account
// would be made already.
import { readFileSync, readdirSync, openSync, readSync, closeSync, lstatSync, statSync, realpathSync, existsSync } from "node:fs";
import { run } from "../base/command.js";
import { join, resolve } from "node:path";
import type { KeyboardLayout } from "../protocol/firstboot.js";

export interface Catalog {
  layouts: KeyboardLayout[];
  /** sorted, UTF-8 locales only */
  locales: string[];
  /** sorted zone names (TZif files under zoneinfo, without the posix/ and right/ copies) */
  timezones: string[];
  /** kbd-model-map rows: X layout/variant → console keymap, for vconsole.conf's KEYMAP= */
  consoleKeymaps: { console: string; layout: string; variant: string }[];
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };
function unescapeXml(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (m, e: string) =>
    e.startsWith("#x") ? String.fromCodePoint(parseInt(e.slice(2), 16)) : e.startsWith("#") ? String.fromCodePoint(Number(e.slice(1))) : (ENTITIES[e] ?? m),
  );
}

/** name and description of the first <configItem> in `xml` */
function configItem(xml: string): { name: string; description: string } | null {
  const item = /<configItem\b[^>]*>([\s\S]*?)<\/configItem>/.exec(xml);
  if (!item) return null;
  const name = /<name>([^<]*)<\/name>/.exec(item[1]!);
  const desc = /<description>([^<]*)<\/description>/.exec(item[1]!);
  if (!name) return null;
  return { name: unescapeXml(name[1]!.trim()), description: unescapeXml((desc?.[1] ?? name[1]!).trim()) };
}

/**
 * The <layoutList> of an xkeyboard-config rules XML file. evdev.xml's structure is fixed and
 * flat enough (layout → configItem, variantList → variant → configItem) that element matching
 * is exact; comments are stripped first because they may contain tags.
 */
export function parseEvdevXml(xml: string): KeyboardLayout[] {
  const text = xml.replace(/<!--[\s\S]*?-->/g, "");
  const list = /<layoutList>([\s\S]*?)<\/layoutList>/.exec(text);
  if (!list) return [];
  const out: KeyboardLayout[] = [];
  for (const m of list[1]!.matchAll(/<layout>([\s\S]*?)<\/layout>/g)) {
    const body = m[1]!;
    const vl = body.indexOf("<variantList");
    const head = configItem(vl >= 0 ? body.slice(0, vl) : body);
    if (!head || !/^[A-Za-z0-9_()-]{1,64}$/.test(head.name)) continue;
    const variants: KeyboardLayout["variants"] = [];
    if (vl >= 0) {
      for (const v of body.slice(vl).matchAll(/<variant>([\s\S]*?)<\/variant>/g)) {
        const ci = configItem(v[1]!);
        if (ci && /^[A-Za-z0-9_()-]{1,64}$/.test(ci.name)) variants.push({ name: ci.name, description: ci.description.slice(0, 256) });
      }
    }
    variants.sort((a, b) => a.description.localeCompare(b.description, "en"));
    out.push({ name: head.name, description: head.description.slice(0, 256), variants: variants.slice(0, 512) });
  }
  return out.sort((a, b) => a.description.localeCompare(b.description, "en"));
}

/**
 * glibc's SUPPORTED ("de_DE.UTF-8 UTF-8" per line). Only UTF-8 locales are offered: a new
 * system has no reason to start in a legacy 8-bit charset. C.UTF-8 is always there (glibc ≥ 2.35
 * builds it in).
 */
export function parseSupported(text: string): string[] {
  const out = new Set<string>(["C.UTF-8"]);
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) continue;
    const [name, charset] = line.split(/\s+/);
    if (name && charset === "UTF-8" && /^[A-Za-z0-9_.@-]{1,128}$/.test(name)) out.add(name);
  }
  return [...out].sort();
}

/** glibc's normalized form of a locale name, as `locale -a` prints it: de_DE.UTF-8 → de_DE.utf8. */
export function normalizeLocale(name: string): string {
  const m = /^([^.@]*)(?:\.([^@]*))?(@.*)?$/.exec(name);
  if (!m) return name;
  const charset = m[2] === undefined ? "" : "." + m[2].toLowerCase().replace(/[^a-z0-9]/g, "");
  return `${m[1]}${charset}${m[3] ?? ""}`;
}

/** The offered locales that `locale -a`'s output lists (in glibc's normalized spelling). */
export function keepInstalled(locales: string[], localeA: string): string[] {
  const installed = new Set(
    localeA
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean),
  );
  return locales.filter((l) => installed.has(normalizeLocale(l)));
}

/** systemd's kbd-model-map: "consolelayout xlayout xmodel xvariant xoptions", '-' for none. */
export function parseKbdModelMap(text: string): Catalog["consoleKeymaps"] {
  const out: Catalog["consoleKeymaps"] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (!line) continue;
    const f = line.split(/\s+/);
    if (f.length < 4) continue;
    out.push({ console: f[0]!, layout: f[1]!, variant: f[3] === "-" ? "" : f[3]! });
  }
  return out;
}

/** The console keymap for an X layout, from an exact row only (a near match types wrong keys). */
export function consoleKeymapFor(rows: Catalog["consoleKeymaps"], layout: string, variant: string): string | null {
  return rows.find((r) => r.layout === layout && r.variant === variant)?.console ?? null;
}

const TZIF = Buffer.from("TZif");
/**
 * Zone files under `dir`: regular files that start with the TZif magic, as systemd's
 * timezone_is_valid() demands. Aliases are symbolic links in current tzdata (UTC → Etc/UTC):
 * they count when they resolve to such a file inside `dir`.
 */
export function scanZoneinfo(dir: string): string[] {
  const out: string[] = [];
  let top: string;
  try {
    top = realpathSync(dir);
  } catch {
    return out;
  }
  const head = Buffer.alloc(4);
  const walk = (rel: string, depth: number) => {
    if (depth > 4) return;
    let names: string[];
    try {
      names = readdirSync(join(dir, rel));
    } catch {
      return;
    }
    for (const n of names) {
      // posix/ and right/ repeat every zone; "posixrules" and "localtime" are not zones a person picks
      if (depth === 0 && (n === "posix" || n === "right" || n === "posixrules" || n === "localtime" || n === "Factory")) continue;
      const r = rel ? `${rel}/${n}` : n;
      let st;
      try {
        st = lstatSync(join(dir, r));
      } catch {
        continue;
      }
      if (st.isSymbolicLink()) {
        try {
          const target = realpathSync(join(dir, r));
          if (!target.startsWith(top + "/") || !statSync(target).isFile()) continue;
        } catch {
          continue; // dangling
        }
      }
      if (st.isDirectory()) walk(r, depth + 1);
      else if (st.isFile() || st.isSymbolicLink()) {
        let fd: number | undefined;
        try {
          fd = openSync(join(dir, r), "r");
          if (readSync(fd, head, 0, 4, 0) === 4 && head.equals(TZIF)) out.push(r);
        } catch {
          /* unreadable: not offered */
        } finally {
          if (fd !== undefined) closeSync(fd);
        }
      }
    }
  };
  walk("", 0);
  return out.sort();
}

function firstExisting(root: string, rel: string): string | null {
  for (const top of [root, "/"]) {
    const p = join(top, rel);
    if (existsSync(p)) return p;
  }
  return null;
}

function readOr(path: string | null, fallback: string): string {
  if (!path) return fallback;
  try {
    return readFileSync(path, "utf8");
  } catch {
    return fallback;
  }
}

/** On the running system, the installed ones among `locales` (all of them where `locale -a` cannot run). */
async function liveOnly(root: string, locales: string[]): Promise<string[]> {
  if (resolve(root) !== "/") return locales;
  try {
    const r = await run(["locale", "-a"], { timeoutMs: 10_000, env: { LC_ALL: "C" } });
    return r.code === 0 && !r.truncated ? keepInstalled(locales, r.stdout.toString("utf8")) : locales;
  } catch {
    return locales;
  }
}

/** Reads the catalog for a target root; missing data gives short lists (never a throw). */
export async function readCatalog(root: string): Promise<Catalog> {
  const zoneDir = firstExisting(root, "usr/share/zoneinfo");
  return {
    layouts: parseEvdevXml(readOr(firstExisting(root, "usr/share/X11/xkb/rules/evdev.xml"), "")),
    locales: await liveOnly(root, parseSupported(readOr(firstExisting(root, "usr/share/i18n/SUPPORTED"), ""))),
    timezones: zoneDir ? scanZoneinfo(zoneDir) : ["UTC"],
    consoleKeymaps: parseKbdModelMap(readOr(firstExisting(root, "usr/share/systemd/kbd-model-map"), "")),
  };
}
