// The on-screen keyboard: for tablets and handhelds with no keyboard attached (the daemon decides
// from the kernel's input devices, or the profile, or the person's toggle). It follows the active
// layout for us, de and fr, and falls back to us for others (saying so in its label). Keys insert
// into the field that last had the focus; they never take the focus themselves (pointerdown is
// cancelled), so the field keeps its caret and the person sees where they type.
import type { StateMessage } from "../protocol/greeter.js";
import { t } from "./i18n.js";

interface KeyMap {
  /** four rows of characters, unshifted and shifted (same length per row) */
  normal: string[];
  shift: string[];
  /** what AltGr gives on some keys (the unshifted character → the AltGr one) */
  altgr: Record<string, string>;
}

export const KEYMAPS: Record<string, KeyMap> = {
  us: {
    normal: ["`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./"],
    shift: ["~!@#$%^&*()_+", "QWERTYUIOP{}|", 'ASDFGHJKL:"', "ZXCVBNM<>?"],
    altgr: {},
  },
  de: {
    normal: ["^1234567890ß´", "qwertzuiopü+", "asdfghjklöä#", "<yxcvbnm,.-"],
    shift: ['°!"§$%&/()=?`', "QWERTZUIOPÜ*", "ASDFGHJKLÖÄ'", ">YXCVBNM;:_"],
    altgr: { q: "@", e: "€", "2": "²", "3": "³", "7": "{", "8": "[", "9": "]", "0": "}", ß: "\\", "+": "~", "<": "|", m: "µ" },
  },
  fr: {
    normal: ["²&é\"'(-è_çà)=", "azertyuiop^$", "qsdfghjklmù*", "<wxcvbn,;:!"],
    shift: ["~1234567890°+", "AZERTYUIOP¨£", "QSDFGHJKLM%µ", ">WXCVBN?./§"],
    altgr: { é: "~", '"': "#", "'": "{", "(": "[", "-": "|", è: "`", _: "\\", ç: "^", à: "@", ")": "]", "=": "}", e: "€" },
  },
};

let target: HTMLInputElement | HTMLTextAreaElement | undefined;
let shift = false;
let altgr = false;
let built = "";

function field(): HTMLInputElement | HTMLTextAreaElement | undefined {
  if (target?.isConnected && !target.disabled) return target;
  return document.querySelector<HTMLInputElement>("#app input.secret:not([disabled])") ?? undefined;
}

function insert(text: string): void {
  const f = field();
  if (!f) return;
  const start = f.selectionStart ?? f.value.length;
  const end = f.selectionEnd ?? f.value.length;
  f.setRangeText(text, start, end, "end");
  f.dispatchEvent(new Event("input", { bubbles: true })); // the form's own listeners see typing
}

function backspace(): void {
  const f = field();
  if (!f) return;
  let start = f.selectionStart ?? f.value.length;
  const end = f.selectionEnd ?? f.value.length;
  if (start === end && start > 0) {
    // one code point, not one UTF-16 unit: a passphrase may hold characters beyond the BMP
    const before = [...f.value.slice(0, start)];
    start -= before[before.length - 1]!.length;
  }
  f.setRangeText("", start, end, "end");
  f.dispatchEvent(new Event("input", { bubbles: true }));
}

function key(label: string, opts: { cls?: string; name?: string; pressed?: boolean; press: () => void }): HTMLButtonElement {
  const b = document.createElement("button");
  b.type = "button";
  b.className = `osk-key${opts.cls ? " " + opts.cls : ""}`;
  b.textContent = label;
  // the physical keyboard (or none) is how Tab works; 50 keys in the tab order would bury the page
  b.tabIndex = -1;
  if (opts.name) b.setAttribute("aria-label", opts.name);
  if (opts.pressed !== undefined) b.setAttribute("aria-pressed", String(opts.pressed));
  b.addEventListener("pointerdown", (e) => e.preventDefault()); // keep the focus in the field
  b.addEventListener("mousedown", (e) => e.preventDefault());
  b.addEventListener("click", opts.press);
  return b;
}

function build(host: HTMLElement, layout: string): void {
  const name = layout in KEYMAPS ? layout : "us";
  const map = KEYMAPS[name]!;
  const rows = shift ? map.shift : map.normal;
  host.replaceChildren();
  host.setAttribute("aria-label", t("osk.label", { layout: name }));
  host.dataset.layout = name;
  const rerender = () => build(host, layout);
  rows.forEach((row, r) => {
    const line = document.createElement("div");
    line.className = "osk-row";
    if (r === 3) line.append(key("⇧", { cls: "wide", name: t("osk.shift"), pressed: shift, press: () => ((shift = !shift), rerender()) }));
    [...row].forEach((ch, i) => {
      const base = [...map.normal[r]!][i]!;
      const out = altgr ? (map.altgr[base] ?? ch) : ch;
      line.append(
        key(out, {
          press: () => {
            insert(out);
            // a shift or AltGr press lasts one character, as on a phone
            if (shift || altgr) {
              shift = altgr = false;
              rerender();
            }
          },
        }),
      );
    });
    if (r === 0) line.append(key("⌫", { cls: "wide", name: t("osk.backspace"), press: backspace }));
    if (r === 2) line.append(key("↵", { cls: "wide", name: t("osk.enter"), press: () => field()?.form?.requestSubmit() }));
    host.append(line);
  });
  const last = document.createElement("div");
  last.className = "osk-row";
  if (Object.keys(map.altgr).length > 0)
    last.append(key("AltGr", { cls: "wide", name: t("osk.altgr"), pressed: altgr, press: () => ((altgr = !altgr), rerender()) }));
  last.append(key(" ", { cls: "space", name: t("osk.space"), press: () => insert(" ") }));
  host.append(last);
}

let wired = false;
export function renderOsk(s: StateMessage): void {
  const host = document.getElementById("osk")!;
  if (!wired) {
    wired = true;
    document.addEventListener("focusin", (e) => {
      if (e.target instanceof HTMLInputElement && ["text", "password"].includes(e.target.type)) target = e.target;
    });
  }
  const show = s.appearance?.osk ?? false;
  host.hidden = !show;
  const sig = `${show}|${s.keyboard.layout}|${document.documentElement.lang}`;
  if (show && sig !== built) {
    shift = altgr = false;
    build(host, s.keyboard.layout);
  }
  built = show ? sig : "";
}
