// The greeter's language: LANG from systemd's locale.conf (the initrd carries the machine's copy),
// unless the profile or the kernel command line names one. The UI maps the POSIX name to the
// catalogue it ships ("de_DE.UTF-8" → German) and falls back to English.
import { readFileSync } from "node:fs";

const LOCALE = /^[A-Za-z0-9_.@-]{1,64}$/;

/** LANG= from locale.conf text (shell-style, optional quotes); null when absent or unsafe. */
export function parseLocaleConf(text: string): string | null {
  let lang: string | null = null;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line.startsWith("LANG=")) continue;
    let v = line.slice(5).trim();
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    lang = LOCALE.test(v) ? v : null; // the last assignment wins, as in a shell
  }
  return lang;
}

/** The greeter's locale: the explicit choice, else locale.conf's LANG, else C.UTF-8 (English). */
export function resolveLocale(explicit: string | null | undefined, confPath: string): string {
  if (explicit) return explicit;
  try {
    return parseLocaleConf(readFileSync(confPath, "utf8")) ?? "C.UTF-8";
  } catch {
    return "C.UTF-8"; // no locale.conf in the initrd: English
  }
}
