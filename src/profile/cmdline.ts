// The kernel command line: rd.foyer=0 turns foyer off, rd.foyer.profile=NAME picks a profile,
// rd.foyer.debug raises the log level. The "foyer." spelling (without "rd.") is accepted too, as
// systemd accepts both for its own switches. Anything malformed is a warning and is ignored.
export interface CmdlineSettings {
  enabled: boolean;
  profile?: string;
  debug: boolean;
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

function parseBool(v: string): boolean | undefined {
  if (/^(1|yes|y|true|t|on)$/i.test(v)) return true;
  if (/^(0|no|n|false|f|off)$/i.test(v)) return false;
  return undefined;
}

const SAFE = (s: string) => s.replace(/[^\x20-\x7e]/g, "?").slice(0, 64);

export function parseCmdline(text: string): CmdlineSettings {
  const out: CmdlineSettings = { enabled: true, debug: false, warnings: [] };
  for (const word of splitCmdline(text)) {
    const eq = word.indexOf("=");
    const key = eq < 0 ? word : word.slice(0, eq);
    const value = eq < 0 ? undefined : word.slice(eq + 1);
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
      default:
        out.warnings.push(`ignoring unknown switch '${SAFE(key)}'`);
    }
  }
  return out;
}
