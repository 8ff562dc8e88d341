// foyer's own frame, as the framebuffer's bytes: the theme's background (the greeter's radial
// gradient, so nothing jumps when the greeter paints over it), a progress mark while nothing is
// asked, and the prompt when a request is pending (its message, a bullet per typed character,
// caps lock, the keyboard layout). Pure: geometry, colours, view and fonts in; bytes out.
import type { Font } from "./frame-font.js";
import { FoyerError } from "../base/errors.js";

export type Rgb = readonly [number, number, number];

export interface FrameGeometry {
  width: number;
  height: number;
  /** bytes per row */
  stride: number;
  /** 32 (B, G, R, x) or 24 (B, G, R) */
  bitsPerPixel: number;
}

export interface FrameColours {
  /** the gradient's outer colour (--bg) and its centre */
  bg: Rgb;
  bgCentre: Rgb;
  /** the prompt's card (--bg-2) */
  card: Rgb;
  fg: Rgb;
  muted: Rgb;
  accent: Rgb;
  warn: Rgb;
}

export type FrameView =
  | { kind: "progress"; step: number }
  | {
      kind: "prompt";
      message: string;
      /** how many characters are typed: one bullet each */
      typed: number;
      /** the caps lock line, translated; "" when caps lock is off */
      capsLock: string;
      /** the keyboard layout's short name, shown in the field */
      layout: string;
      /** a question's answer, shown as typed instead of bullets (never a passphrase) */
      shown?: string;
    };

export interface FrameFonts {
  text: Font;
  small: Font;
}

/** The default theme's colours (assets/themes/default/theme.css). */
export const DEFAULT_COLOURS: FrameColours = {
  bg: [0x1d, 0x23, 0x30],
  bgCentre: [0x2b, 0x34, 0x47],
  card: [0x26, 0x2e, 0x3e],
  fg: [0xee, 0xf1, 0xf6],
  muted: [0xa8, 0xb1, 0xc2],
  accent: [0x6e, 0xa8, 0xfe],
  warn: [0xff, 0xd4, 0x79],
};

const VARS: Record<string, keyof FrameColours> = { "--bg": "bg", "--bg-2": "card", "--fg": "fg", "--muted": "muted", "--accent": "accent", "--warn": "warn" };

/** A theme.css's colours: its `--name: #rrggbb` variables and the gradient's first colour; the default for any it lacks. */
export function frameColours(css: string): FrameColours {
  const c: Record<keyof FrameColours, Rgb> = { ...DEFAULT_COLOURS };
  for (const m of css.matchAll(/(--[a-z0-9-]+)\s*:\s*#([0-9a-fA-F]{6})\b/g)) {
    const k = VARS[m[1]!];
    if (k) c[k] = hex(m[2]!);
  }
  const g = /radial-gradient\([^#)]*#([0-9a-fA-F]{6})\b/.exec(css);
  c.bgCentre = g ? hex(g[1]!) : c.bg;
  return c;
}

function hex(h: string): Rgb {
  const n = parseInt(h, 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** The frame's scale for a screen `height` pixels high: 800 rows is the unit, up to three times. */
export function frameScale(height: number): number {
  return Math.min(3, Math.max(1, height / 800));
}

/** Rows `from` to `to` (exclusive) of a frame. */
export interface Band {
  from: number;
  to: number;
}

/**
 * The frame's bytes, `stride * height` of them; with `band`, only those rows' (what a redraw of the
 * prompt changes, without a whole frame's megabytes in memory). With `into` (large enough) they are
 * drawn there, and the result is a view of it: a redraw per key leaves no garbage behind.
 */
export function renderFrame(g: FrameGeometry, colours: FrameColours, view: FrameView, fonts?: FrameFonts, band?: Band, into?: Buffer): Buffer {
  const c = new Canvas(g, band ?? { from: 0, to: g.height }, into);
  c.gradient(colours.bgCentre, colours.bg);
  const s = frameScale(g.height);
  if (view.kind === "progress") drawProgress(c, s, view.step, colours);
  else if (fonts) drawPrompt(c, s, view, colours, fonts);
  else throw new FoyerError("invalid-argument", "a prompt's frame needs its fonts");
  return c.out;
}

/** The rows a prompt's frame differs from the progress frame in: the card's and the progress mark's. */
export function promptBand(g: FrameGeometry, fonts: FrameFonts): Band {
  const s = frameScale(g.height);
  const { y0, h } = cardBox(g.width, g.height, s, fonts);
  const mark = Math.round(g.height * 0.62);
  return { from: Math.max(0, Math.floor(Math.min(y0, mark - 5 * s) - 2)), to: Math.min(g.height, Math.ceil(Math.max(y0 + h, mark + 5 * s) + 3)) };
}

function cardBox(width: number, height: number, s: number, fonts: FrameFonts): { pad: number; w: number; h: number; x0: number; y0: number } {
  const pad = Math.round(24 * s);
  const w = Math.min(Math.round(480 * s), width - 2 * pad);
  const lineH = fonts.text.ascender + fonts.text.descender;
  const smallH = fonts.small.ascender + fonts.small.descender;
  const h = pad + lineH + Math.round(12 * s) + Math.round(40 * s) + Math.round(10 * s) + smallH + pad;
  return { pad, w, h, x0: Math.round((width - w) / 2), y0: Math.round(height * 0.42 - h / 2) };
}

function drawProgress(c: Canvas, s: number, step: number, colours: FrameColours): void {
  const y = Math.round(c.h * 0.62);
  for (let i = 0; i < 3; i++) {
    const on = ((step % 3) + 3) % 3 === i;
    c.disc(c.w / 2 + (i - 1) * 24 * s, y, 5 * s, on ? colours.accent : colours.muted, on ? 1 : 0.3);
  }
}

function drawPrompt(c: Canvas, s: number, v: Extract<FrameView, { kind: "prompt" }>, colours: FrameColours, fonts: FrameFonts): void {
  const { pad, w, h, x0, y0 } = cardBox(c.w, c.h, s, fonts);
  const fieldH = Math.round(40 * s);
  const lineH = fonts.text.ascender + fonts.text.descender;
  c.roundRect(x0, y0, w, h, 10 * s, colours.card);
  // the message, cut to the card's width
  const inner = w - 2 * pad;
  let msg = v.message;
  if (fonts.text.measure(msg) > inner) {
    while (msg.length > 0 && fonts.text.measure(msg + "…") > inner) msg = msg.slice(0, -1);
    msg += "…";
  }
  c.text(fonts.text, msg, x0 + pad, y0 + pad + fonts.text.ascender, colours.fg);
  // the field: the accent's border, the background inside, a bullet per typed character
  const fy = y0 + pad + lineH + Math.round(12 * s);
  c.roundRect(x0 + pad, fy, inner, fieldH, 6 * s, colours.accent);
  c.roundRect(x0 + pad + s, fy + s, inner - 2 * s, fieldH - 2 * s, 5 * s, colours.bg);
  const layoutW = v.layout ? fonts.small.measure(v.layout) : 0;
  if (v.layout)
    c.text(
      fonts.small,
      v.layout,
      x0 + pad + inner - Math.round(12 * s) - layoutW,
      fy + Math.round((fieldH + fonts.small.ascender - fonts.small.descender) / 2),
      colours.muted,
    );
  const step = 14 * s;
  const roomPx = inner - 2 * 12 * s - layoutW - 8 * s;
  const room = Math.max(0, Math.floor(roomPx / step));
  if (v.shown !== undefined) {
    // the end of the answer, where the typing is, when it is wider than the field
    let shown = v.shown;
    while (shown.length > 0 && fonts.text.measure(shown) > roomPx) shown = shown.slice(1);
    c.text(fonts.text, shown, x0 + pad + 12 * s, fy + Math.round((fieldH + fonts.text.ascender - fonts.text.descender) / 2), colours.fg);
  } else for (let i = 0; i < Math.min(v.typed, room); i++) c.disc(x0 + pad + 12 * s + 4 * s + i * step, fy + fieldH / 2, 4 * s, colours.fg);
  if (v.capsLock) c.text(fonts.small, v.capsLock, x0 + pad, fy + fieldH + Math.round(10 * s) + fonts.small.ascender, colours.warn);
}

/** The framebuffer's bytes being drawn (the band's rows of them): blending reads and writes them in place. */
class Canvas {
  readonly out: Buffer;
  readonly w: number;
  readonly h: number;
  readonly #stride: number;
  readonly #bpp: number;
  readonly #band: Band;
  constructor(g: FrameGeometry, band: Band, into?: Buffer) {
    this.w = g.width;
    this.h = g.height;
    this.#stride = g.stride;
    this.#bpp = g.bitsPerPixel / 8;
    this.#band = band;
    const size = g.stride * (band.to - band.from);
    this.out = into && into.length >= size ? into.subarray(0, size).fill(0) : Buffer.alloc(size);
  }

  /** `circle at 50% 30%`, centre colour at 0, outer colour from 65% of the farthest corner's distance */
  gradient(centre: Rgb, outer: Rgb): void {
    const cx = this.w * 0.5,
      cy = this.h * 0.3;
    const r = 0.65 * Math.hypot(Math.max(cx, this.w - cx), Math.max(cy, this.h - cy));
    // 256 steps of the gradient, as the bytes B, G, R
    const lut = Buffer.alloc(256 * 3);
    for (let i = 0; i < 256; i++) for (let k = 0; k < 3; k++) lut[i * 3 + 2 - k] = Math.round(centre[k]! + ((outer[k]! - centre[k]!) * i) / 255);
    const scale = 255 / r;
    // symmetric about the centre column: each distance is computed once for a pixel and its mirror
    const half = Math.ceil(this.w / 2);
    for (let y = this.#band.from; y < this.#band.to; y++) {
      const dy = y + 0.5 - cy;
      const dy2 = dy * dy;
      const row = (y - this.#band.from) * this.#stride;
      for (let x = 0; x < half; x++) {
        const dx = x + 0.5 - cx;
        const l = Math.min(255, Math.round(Math.sqrt(dx * dx + dy2) * scale)) * 3;
        const b = lut[l]!,
          g = lut[l + 1]!,
          r = lut[l + 2]!;
        const d = row + x * this.#bpp,
          m = row + (this.w - 1 - x) * this.#bpp;
        this.out[d] = this.out[m] = b;
        this.out[d + 1] = this.out[m + 1] = g;
        this.out[d + 2] = this.out[m + 2] = r;
      }
    }
  }

  blend(x: number, y: number, c: Rgb, a: number): void {
    if (a <= 0 || x < 0 || y < this.#band.from || x >= this.w || y >= this.#band.to) return;
    const d = (y - this.#band.from) * this.#stride + x * this.#bpp;
    const b = Math.min(1, a);
    for (let k = 0; k < 3; k++) this.out[d + 2 - k] = Math.round(this.out[d + 2 - k]! * (1 - b) + c[k]! * b);
  }
  /** a filled circle, its edge anti-aliased over one pixel */
  disc(cx: number, cy: number, r: number, c: Rgb, alpha = 1): void {
    for (let y = Math.floor(cy - r - 1); y <= Math.ceil(cy + r + 1); y++) {
      for (let x = Math.floor(cx - r - 1); x <= Math.ceil(cx + r + 1); x++) {
        this.blend(x, y, c, alpha * Math.min(1, r + 0.5 - Math.hypot(x + 0.5 - cx, y + 0.5 - cy)));
      }
    }
  }

  roundRect(x0: number, y0: number, w: number, h: number, r: number, c: Rgb): void {
    for (let y = Math.floor(y0); y < Math.ceil(y0 + h); y++) {
      for (let x = Math.floor(x0); x < Math.ceil(x0 + w); x++) {
        // distance outside the rectangle shrunk by r, against r: coverage at the corners
        const dx = Math.max(x0 + r - (x + 0.5), 0, x + 0.5 - (x0 + w - r));
        const dy = Math.max(y0 + r - (y + 0.5), 0, y + 0.5 - (y0 + h - r));
        this.blend(x, y, c, r + 0.5 - Math.hypot(dx, dy));
      }
    }
  }

  /** `text` with its baseline at y, starting at x */
  text(font: Font, text: string, x: number, y: number, c: Rgb): void {
    let pen = Math.round(x);
    for (const ch of text) {
      const g = font.glyph(ch.codePointAt(0)!);
      for (let r = 0; r < g.rows; r++) {
        for (let col = 0; col < g.width; col++) this.blend(pen + g.left + col, Math.round(y) - g.top + r, c, g.coverage[r * g.pitch + col]! / 255);
      }
      pen += g.advance;
    }
  }
}
