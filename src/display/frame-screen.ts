// foyer's own frame on the screen, without compositor or browser: the fbdev framebuffer the kernel
// shows while nobody holds DRM, with the console's VT in graphics mode (vt-mode.ts) until close.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FoyerError, describe } from "../base/errors.js";
import { loadSockets } from "../base/sockets.js";
import { vtMode } from "./vt-mode.js";
import { frameBuffer, writeFrame, type FrameBuffer } from "./handoff.js";
import { DEFAULT_COLOURS, frameColours, renderFrame, type FrameColours, type FrameView } from "./frame-render.js";
import { frameFonts } from "./frame-font.js";
import { US_KEYCODES, isUsKeymap } from "./keyboard.js";

export interface FrameScreen {
  readonly fb: FrameBuffer;
  draw(view: FrameView): void;
  /** the console keyboard's caps lock */
  capsLock(): boolean;
  /** whether the console reads keys with the kernel's default US keymap; undefined when it cannot tell */
  usKeymap(): boolean | undefined;
  /** gives the VT its text mode back; the frame stays on screen until something draws over it */
  close(): void;
}

export interface FrameScreenOptions {
  /** an open fd of the console's VT (/dev/tty1): its mode is set, its keyboard's caps lock read */
  consoleFd: number;
  /** the assets folder: the theme's colours come from themes/<theme>/theme.css */
  assetsDir: string;
  theme: string;
  fontFile?: string;
  /** the framebuffer; /sys/class/graphics/fb0's when not given */
  fb?: FrameBuffer;
  /** said once, for a theme that cannot be read (the default colours are used) */
  warn?: (line: string) => void;
}

/** The theme's colours (assets/themes/<theme>/theme.css); the default ones, with a warning, when it cannot be read. */
export function themeColours(assetsDir: string, theme: string, warn: (line: string) => void): FrameColours {
  const css = join(assetsDir, "themes", theme, "theme.css");
  try {
    return frameColours(readFileSync(css, "utf8"));
  } catch (e) {
    warn(`cannot read the theme '${css}', drawing with the default colours: ${describe(e)}`);
    return DEFAULT_COLOURS;
  }
}

/** Opens the frame; a FoyerError saying why when there is no usable framebuffer, font or VT. */
export function openFrameScreen(o: FrameScreenOptions): FrameScreen {
  const fb = o.fb ?? frameBuffer();
  if (!fb) throw new FoyerError("not-found", "no 24 or 32 bpp framebuffer at /sys/class/graphics/fb0");
  const colours = themeColours(o.assetsDir, o.theme, o.warn ?? (() => {}));
  const fonts = frameFonts(fb.height, o.fontFile);
  const kd = loadSockets();
  const vt = vtMode(o.consoleFd);
  vt.graphics();
  let open = true;
  const restore = () => {
    if (!open) return; // the console's fd may be closed after the first
    open = false;
    vt.text();
  };
  return {
    fb,
    draw: (view) => {
      if (open) writeFrame(fb, renderFrame(fb, colours, view, fonts));
    },
    capsLock: () => {
      try {
        return kd.capsLock(o.consoleFd);
      } catch {
        return false;
      }
    },
    usKeymap: () => {
      try {
        return isUsKeymap(kd.kbEntries(o.consoleFd, US_KEYCODES));
      } catch {
        return undefined;
      }
    },
    close: restore,
  };
}
