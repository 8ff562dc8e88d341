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

/** systemd's console-keymap → X layout table (what localectl uses to convert). */
export const KBD_MODEL_MAP = "/usr/share/systemd/kbd-model-map";

/** The X layout and variant for a console keymap, from kbd-model-map's lines. */
export function keymapToXkb(keymap: string, modelMap: string): { layout: string; variant: string } | undefined {
  for (const line of modelMap.split("\n")) {
    if (line.startsWith("#")) continue;
    const [console, layout, , variant] = line.trim().split(/\s+/);
    if (console === keymap && layout && SAFE.test(layout)) return { layout, variant: variant && variant !== "-" && SAFE.test(variant) ? variant : "" };
  }
  // not in the table: console keymaps are mostly named after the layout ("de-latin1-nodeadkeys")
  const m = /^([a-z]{2,3})(?:[-_]|$)/.exec(keymap);
  return m ? { layout: m[1]!, variant: "" } : undefined;
}

/**
 * Parses vconsole.conf (shell-style KEY=value, optional quotes). Unsafe values are ignored. Without
 * XKBLAYOUT, the console's KEYMAP is converted as localectl does (`modelMap`: kbd-model-map's text).
 */
export function parseVconsole(text: string, modelMap = ""): Keyboard {
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
  if (!pick("XKBLAYOUT") && pick("KEYMAP")) {
    const x = keymapToXkb(pick("KEYMAP"), modelMap);
    if (x) return { layout: x.layout, variant: x.variant, model: "", options: "" };
  }
  return { layout: pick("XKBLAYOUT") || "us", variant: pick("XKBVARIANT"), model: pick("XKBMODEL"), options: pick("XKBOPTIONS") };
}

export function readKeyboard(path: string, modelMapPath = KBD_MODEL_MAP): Keyboard {
  let modelMap = "";
  try {
    modelMap = readFileSync(modelMapPath, "utf8");
  } catch {
    /* no table: only XKBLAYOUT and keymaps named after their layout */
  }
  try {
    return parseVconsole(readFileSync(path, "utf8"), modelMap);
  } catch {
    return US;
  }
}

/** Keycodes whose characters differ between the kernel's default (US) keymap and other layouts'. */
export const US_KEYCODES: readonly number[] = [12, 13, ...range(16, 27), ...range(30, 41), ...range(43, 53)];
const US_CHARS = "-=qwertyuiop[]asdfghjkl;'`\\zxcvbnm,./";

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/**
 * Whether the console's keymap, as KDGKBENT gives its plain entries for US_KEYCODES, is the
 * kernel's default US one: each key's character the US one, as a Latin key (type 0), a letter
 * (type 0x0b) or a Unicode entry (0xf0).
 */
export function isUsKeymap(entries: readonly number[]): boolean {
  if (entries.length !== US_KEYCODES.length) return false;
  return entries.every((v, i) => (v & 0xff) === US_CHARS.charCodeAt(i) && [0x00, 0x0b, 0xf0].includes(v >> 8));
}

/** The XKB_DEFAULT_* variables wlroots compositors (cage) read. */
export function xkbEnv(k: Keyboard): Record<string, string> {
  const env: Record<string, string> = { XKB_DEFAULT_LAYOUT: k.layout };
  if (k.variant) env.XKB_DEFAULT_VARIANT = k.variant;
  if (k.model) env.XKB_DEFAULT_MODEL = k.model;
  if (k.options) env.XKB_DEFAULT_OPTIONS = k.options;
  return env;
}
