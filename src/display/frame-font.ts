// Text for foyer's own frame, drawn by FreeType through @julusian/freetype2 (a maintained binding,
// prebuilt with FreeType linked in): the theme's font at one pixel size, each glyph rendered once
// to 8-bit coverage and kept. Left to right, no shaping: the frame shows short Latin prompts; the
// rich greeter, with the browser's shaping, follows within seconds.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { FoyerError, describe } from "../base/errors.js";
import { frameScale } from "./frame-render.js";

/** The font the greeter's stylesheet names first (fonts-dejavu-core). */
export const DEFAULT_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

export interface Glyph {
  /** coverage, 0–255, `rows` rows of `pitch` bytes */
  coverage: Buffer;
  width: number;
  rows: number;
  pitch: number;
  /** from the pen to the bitmap's left edge, and from the baseline up to its top row */
  left: number;
  top: number;
  /** how far the pen moves, in pixels */
  advance: number;
}

export interface Font {
  /** pixels above and below the baseline */
  ascender: number;
  descender: number;
  glyph(codePoint: number): Glyph;
  /** the width of `text` in pixels */
  measure(text: string): number;
}

interface FreeTypeFace {
  setPixelSizes(w: number, h: number): void;
  loadChar(
    code: number,
    flags: { render: boolean },
  ): {
    bitmap: { width: number; height: number; pitch: number; buffer: Buffer } | null;
    bitmapLeft: number | null;
    bitmapTop: number | null;
    metrics: { horiAdvance: number };
  };
  properties(): { size: { ascender: number; descender: number } };
}

let freetype: { NewMemoryFace(b: Buffer): FreeTypeFace } | undefined;

/** The font in `file` at `sizePx` pixels; a FoyerError naming the file when it cannot be read or is no font. */
export function openFont(file: string, sizePx: number): Font {
  let face: FreeTypeFace;
  try {
    freetype ??= createRequire(import.meta.url)("@julusian/freetype2") as { NewMemoryFace(b: Buffer): FreeTypeFace };
    face = freetype.NewMemoryFace(readFileSync(file));
    face.setPixelSizes(0, Math.max(1, Math.round(sizePx)));
  } catch (e) {
    throw new FoyerError("invalid-argument", `cannot use the font '${file}': ${describe(e)}`, { cause: e });
  }
  const size = face.properties().size;
  const cache = new Map<number, Glyph>();
  const glyph = (cp: number): Glyph => {
    let g = cache.get(cp);
    if (!g) {
      const r = face.loadChar(cp, { render: true });
      const b = r.bitmap;
      g = {
        coverage: b ? Buffer.from(b.buffer) : Buffer.alloc(0),
        width: b?.width ?? 0,
        rows: b?.height ?? 0,
        pitch: b?.pitch ?? 0,
        left: r.bitmapLeft ?? 0,
        top: r.bitmapTop ?? 0,
        advance: Math.round(r.metrics.horiAdvance / 64),
      };
      cache.set(cp, g);
    }
    return g;
  };
  return {
    ascender: Math.round(size.ascender / 64),
    descender: Math.round(-size.descender / 64),
    glyph,
    measure: (text) => [...text].reduce((w, ch) => w + glyph(ch.codePointAt(0)!).advance, 0),
  };
}

/** The frame's two sizes (the prompt's text, its small print) for a frame `height` pixels high, at its scale. */
export function frameFonts(height: number, file = DEFAULT_FONT): { text: Font; small: Font } {
  const s = frameScale(height);
  return { text: openFont(file, 20 * s), small: openFont(file, 14 * s) };
}
