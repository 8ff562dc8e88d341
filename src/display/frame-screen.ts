// foyer's own frame on the screen, without compositor or browser: the fbdev framebuffer the kernel
// shows while nobody holds DRM, with the console's VT in graphics mode (as Plymouth puts it) so the
// kernel's text console does not draw over the frame. The VT gets text mode back on close, and at
// exit should the process end without closing: a console left in graphics mode shows nothing.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FoyerError, describe } from "../base/errors.js";
import { loadSockets } from "../base/sockets.js";
import { frameBuffer, writeFrame, type FrameBuffer } from "./handoff.js";
import { DEFAULT_COLOURS, frameColours, renderFrame, type FrameColours, type FrameView } from "./frame-render.js";
import { DEFAULT_FONT, openFont } from "./frame-font.js";
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
  const s = Math.min(3, Math.max(1, fb.height / 800));
  const fonts = { text: openFont(o.fontFile ?? DEFAULT_FONT, 20 * s), small: openFont(o.fontFile ?? DEFAULT_FONT, 14 * s) };
  const kd = loadSockets();
  kd.kdMode(o.consoleFd, 1);
  let open = true;
  const restore = () => {
    if (!open) return;
    open = false;
    process.off("exit", restore);
    try {
      kd.kdMode(o.consoleFd, 0);
    } catch {
      /* the console is gone: nothing left to give back */
    }
  };
  process.on("exit", restore);
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
