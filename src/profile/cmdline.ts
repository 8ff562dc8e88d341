// The kernel command line: rd.foyer=0 turns foyer off, rd.foyer.profile=NAME picks a profile,
// rd.foyer.debug raises the log level. The "foyer." spelling (without "rd.") is accepted too, as
// systemd accepts both for its own switches. Anything malformed is a warning and is ignored.
// rd.foyer.lang=de_DE.UTF-8 sets the greeter's language; systemd's own locale.LANG= is honoured
// too (rd.foyer.lang wins), so a machine booted with a language override gets a greeter in it.
// The kernel's own `nomodeset` is read as well: the display device is then the firmware's.
export interface CmdlineSettings {
  enabled: boolean;
  profile?: string;
  debug: boolean;
  /** the greeter's language, a POSIX locale name */
  lang?: string;
  /** the kernel's `nomodeset`: no GPU driver will load, the firmware framebuffer is the display */
  nomodeset: boolean;
  warnings: string[];
}

const MAX_CMDLINE = 64 * 1024;

/** Splits like the kernel does: whitespace separates, double quotes group (and are dropped). */
export function splitCmdline(text: string): string[] {
  const words: string[] = [];
  let cur = "";
  let quoted = false;
  let any = false;
  for (const ch of text.slice(0, MAX_CMDLINE)) {
    if (ch === '"') {
      quoted = !quoted;
      any = true;
    } else if (!quoted && /\s/.test(ch)) {
      if (any) words.push(cur);
      cur = "";
      any = false;
    } else {
      cur += ch;
      any = true;
    }
  }
  if (any) words.push(cur);
  return words;
}

/** A boolean switch's value as systemd's parse_boolean reads it; undefined for anything else. */
export function parseBool(v: string): boolean | undefined {
  if (/^(1|yes|y|true|t|on)$/i.test(v)) return true;
  if (/^(0|no|n|false|f|off)$/i.test(v)) return false;
  return undefined;
}

const LOCALE = /^[A-Za-z0-9_.@-]{1,64}$/;
const SAFE = (s: string) => s.replace(/[^\x20-\x7e]/g, "?").slice(0, 64);

export function parseCmdline(text: string): CmdlineSettings {
  const out: CmdlineSettings = { enabled: true, debug: false, nomodeset: false, warnings: [] };
  let systemdLang: string | undefined;
  for (const word of splitCmdline(text)) {
    const eq = word.indexOf("=");
    const key = eq < 0 ? word : word.slice(0, eq);
    const value = eq < 0 ? undefined : word.slice(eq + 1);
    if (word === "nomodeset") {
      out.nomodeset = true;
      continue;
    }
    if (key === "locale.LANG") {
      if (value && LOCALE.test(value)) systemdLang = value;
      continue; // systemd's switch: a bad value is systemd's to report
    }
    const k = key.startsWith("rd.foyer") ? key.slice(3) : key;
    if (k !== "foyer" && !k.startsWith("foyer.")) continue;
    switch (k) {
      case "foyer": {
        const b = value === undefined ? true : parseBool(value);
        if (b === undefined) out.warnings.push(`ignoring '${SAFE(word)}': expected a boolean`);
        else out.enabled = b;
        break;
      }
      case "foyer.profile":
        if (value && /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(value)) out.profile = value;
        else out.warnings.push(`ignoring '${SAFE(word)}': expected a profile name`);
        break;
      case "foyer.debug": {
        const b = value === undefined ? true : parseBool(value);
        if (b === undefined) out.warnings.push(`ignoring '${SAFE(word)}': expected a boolean`);
        else out.debug = b;
        break;
      }
      case "foyer.lang":
        if (value && LOCALE.test(value)) out.lang = value;
        else out.warnings.push(`ignoring '${SAFE(word)}': expected a locale name like de_DE.UTF-8`);
        break;
      case "foyer.payload":
        break; // the split image's payload device: foyer-payload-mount's switch, not foyerd's
      default:
        out.warnings.push(`ignoring unknown switch '${SAFE(key)}'`);
    }
  }
  if (out.lang === undefined && systemdLang !== undefined) out.lang = systemdLang;
  return out;
}
