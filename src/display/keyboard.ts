// The keyboard layout the person set for this machine, from systemd's vconsole.conf
// (XKBLAYOUT/XKBVARIANT/XKBMODEL/XKBOPTIONS). The most common complaint about graphical unlock is
// a wrong layout at the prompt, so the greeter shows it and the display stack applies it.
import { readFileSync } from "node:fs";

export interface Keyboard {
  layout: string;
  variant: string;
  model: string;
  options: string;
}

export const US: Keyboard = { layout: "us", variant: "", model: "", options: "" };
const SAFE = /^[A-Za-z0-9_,:()+-]{0,64}$/;

/** Parses vconsole.conf (shell-style KEY=value, optional quotes). Unsafe values are ignored. */
export function parseVconsole(text: string): Keyboard {
  const kv = new Map<string, string>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    let v = line.slice(eq + 1).trim();
    if ((v.startsWith('"') && v.endsWith('"')) || (v.startsWith("'") && v.endsWith("'"))) v = v.slice(1, -1);
    kv.set(line.slice(0, eq).trim(), v);
  }
  const pick = (k: string) => {
    const v = kv.get(k) ?? "";
    return SAFE.test(v) ? v : "";
  };
  return { layout: pick("XKBLAYOUT") || "us", variant: pick("XKBVARIANT"), model: pick("XKBMODEL"), options: pick("XKBOPTIONS") };
}

export function readKeyboard(path: string): Keyboard {
  try {
    return parseVconsole(readFileSync(path, "utf8"));
  } catch {
    return US;
  }
}

/** The XKB_DEFAULT_* variables wlroots compositors (cage) read. */
export function xkbEnv(k: Keyboard): Record<string, string> {
  const env: Record<string, string> = { XKB_DEFAULT_LAYOUT: k.layout };
  if (k.variant) env.XKB_DEFAULT_VARIANT = k.variant;
  if (k.model) env.XKB_DEFAULT_MODEL = k.model;
  if (k.options) env.XKB_DEFAULT_OPTIONS = k.options;
  return env;
}
