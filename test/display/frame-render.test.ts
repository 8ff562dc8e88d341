// foyer's own frame (src/display/frame-render.ts) drawn with the real FreeType and DejaVu Sans:
// the theme's colours, the progress mark, the prompt's message, bullets, caps lock line and
// layout, found again in the bytes as a framebuffer holds them (32 and 24 bpp, padded rows).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { DEFAULT_COLOURS, frameColours, promptBand, renderFrame, type FrameGeometry, type FrameView, type Rgb } from "../../src/display/frame-render.js";
import { DEFAULT_FONT, openFont } from "../../src/display/frame-font.js";
import { FoyerError } from "../../src/base/errors.js";

const fonts = { text: openFont(DEFAULT_FONT, 20), small: openFont(DEFAULT_FONT, 14) };
const W = 800,
  H = 500;
const g32: FrameGeometry = { width: W, height: H, stride: W * 4 + 64, bitsPerPixel: 32 };
const colours = DEFAULT_COLOURS;

/** the pixel at (x, y) as R, G, B */
function at(f: Buffer, g: FrameGeometry, x: number, y: number): Rgb {
  const d = y * g.stride + x * (g.bitsPerPixel / 8);
  return [f[d + 2]!, f[d + 1]!, f[d]!];
}
const near = (a: Rgb, b: Rgb, tol = 3) => a.every((v, k) => Math.abs(v - b[k]!) <= tol);

/** the points within `tol` of `c` inside the box */
function points(f: Buffer, g: FrameGeometry, c: Rgb, box = { x0: 0, y0: 0, x1: g.width, y1: g.height }, tol = 3): [number, number][] {
  const out: [number, number][] = [];
  for (let y = box.y0; y < box.y1; y++) for (let x = box.x0; x < box.x1; x++) if (near(at(f, g, x, y), c, tol)) out.push([x, y]);
  return out;
}
function bbox(p: [number, number][]) {
  return {
    x0: Math.min(...p.map((q) => q[0])),
    y0: Math.min(...p.map((q) => q[1])),
    x1: Math.max(...p.map((q) => q[0])) + 1,
    y1: Math.max(...p.map((q) => q[1])) + 1,
  };
}
/** how many 4-connected groups the points make */
function blobs(p: [number, number][]): number {
  const left = new Set(p.map(([x, y]) => `${x},${y}`));
  let n = 0;
  for (const start of p) {
    const k = `${start[0]},${start[1]}`;
    if (!left.delete(k)) continue;
    n++;
    const todo = [start];
    while (todo.length) {
      const [x, y] = todo.pop()!;
      for (const [dx, dy] of [
        [1, 0],
        [-1, 0],
        [0, 1],
        [0, -1],
      ] as const)
        if (left.delete(`${x + dx},${y + dy}`)) todo.push([x + dx, y + dy]);
    }
  }
  return n;
}
const prompt = (o: Partial<Extract<FrameView, { kind: "prompt" }>> = {}): FrameView => ({
  kind: "prompt",
  message: "Please enter passphrase for disk root:",
  typed: 0,
  capsLock: "",
  layout: "",
  ...o,
});
/** the field: the box the accent's border draws */
function field(f: Buffer, g: FrameGeometry) {
  const b = bbox(points(f, g, colours.accent, undefined, 2));
  return { outer: b, inner: { x0: b.x0 + 2, y0: b.y0 + 2, x1: b.x1 - 2, y1: b.y1 - 2 } };
}

test("the theme's colours come from its CSS variables and gradient; what it lacks is the default", () => {
  assert.equal(frameColours(readFileSync("assets/themes/default/theme.css", "utf8")), DEFAULT_COLOURS);
  const day = frameColours(readFileSync("assets/themes/daylight/theme.css", "utf8"));
  assert.not.equal(day.bg, DEFAULT_COLOURS.bg);
  const bare = frameColours(":root { --accent: #102030; }");
  assert.equal(bare.accent, [0x10, 0x20, 0x30]);
  assert.equal(bare.fg, DEFAULT_COLOURS.fg);
  assert.equal(bare.bgCentre, DEFAULT_COLOURS.bg, "no gradient: a plain background");
});

test("progress: the greeter's gradient, and the mark's lit dot moves with the step", () => {
  const f0 = renderFrame(g32, colours, { kind: "progress", step: 0 }, fonts);
  assert.is(f0.length, g32.stride * H);
  assert.ok(near(at(f0, g32, 0, H - 1), colours.bg), "a corner is the gradient's outer colour");
  assert.ok(near(at(f0, g32, W / 2, Math.round(H * 0.3)), colours.bgCentre), "its centre is the gradient's first colour");
  const lit0 = bbox(points(f0, g32, colours.accent));
  const lit1 = bbox(points(renderFrame(g32, colours, { kind: "progress", step: 1 }, fonts), g32, colours.accent));
  assert.ok(lit0.x1 < W / 2 && lit1.x0 < W / 2 + 5 && lit1.x1 > W / 2 - 5, `lit dot at ${lit0.x0}, then ${lit1.x0}`);
  for (let y = 0; y < H; y++)
    assert.ok(
      f0.subarray(y * g32.stride + W * 4, (y + 1) * g32.stride).every((b) => b === 0),
      `row ${y}'s padding untouched`,
    );
});

test("the prompt: its message above a field with a bullet per typed character", () => {
  for (const typed of [0, 1, 7]) {
    const f = renderFrame(g32, colours, prompt({ typed }), fonts);
    const { outer, inner } = field(f, g32);
    assert.is(blobs(points(f, g32, colours.fg, inner, 40)), typed, `${typed} typed`);
    // the message: foreground ink above the field, as wide as FreeType says the text is
    const ink = points(f, g32, colours.fg, { x0: 0, y0: outer.y0 - 40, x1: W, y1: outer.y0 }, 60);
    const b = bbox(ink);
    const want = fonts.text.measure("Please enter passphrase for disk root:");
    // (the ink leaves out the first glyph's left and the last one's right bearing)
    assert.ok(b.x1 - b.x0 <= want && b.x1 - b.x0 >= want - 8, `message ink ${b.x1 - b.x0} px wide, the font says ${want}`);
    assert.ok(b.x0 - outer.x0 <= 3, "the message starts where the field does");
  }
});

test("caps lock's line and the layout's name appear only when given", () => {
  const plain = renderFrame(g32, colours, prompt({ typed: 2 }), fonts);
  const both = renderFrame(g32, colours, prompt({ typed: 2, capsLock: "Caps Lock is on", layout: "de" }), fonts);
  const below = (f: Buffer) => ({ x0: 0, y0: field(f, g32).outer.y1, x1: W, y1: H });
  assert.is(points(plain, g32, colours.warn, below(plain), 40).length, 0);
  assert.ok(points(both, g32, colours.warn, below(both), 40).length > 30, "the caps lock line in the warning colour");
  const right = (f: Buffer) => ({ ...field(f, g32).inner, x0: Math.round((field(f, g32).inner.x0 + field(f, g32).inner.x1) / 2) });
  assert.is(points(plain, g32, colours.muted, right(plain), 40).length, 0);
  assert.ok(points(both, g32, colours.muted, right(both), 40).length > 10, "the layout's name in the muted colour, at the field's right");
  assert.is(blobs(points(both, g32, colours.fg, field(both, g32).inner, 40)), 2, "the bullets unchanged beside it");
});

test("a message wider than the card is cut with an ellipsis, inside the card", () => {
  const f = renderFrame(g32, colours, prompt({ message: "Please enter the passphrase for ".repeat(6) }), fonts);
  const { outer } = field(f, g32);
  const ink = bbox(points(f, g32, colours.fg, { x0: 0, y0: outer.y0 - 40, x1: W, y1: outer.y0 }, 60));
  assert.ok(ink.x1 <= outer.x1, `the message ends at ${ink.x1}, the field at ${outer.x1}`);
});

test("24 bpp: the same pixels, three bytes each", () => {
  const g24: FrameGeometry = { width: W, height: H, stride: W * 3 + 8, bitsPerPixel: 24 };
  const v = prompt({ typed: 3, capsLock: "Caps Lock is on", layout: "us" });
  const f32 = renderFrame(g32, colours, v, fonts);
  const f24 = renderFrame(g24, colours, v, fonts);
  for (const [x, y] of [
    [0, 0],
    [W / 2, H / 2],
    [W - 1, H - 1],
    [123, 217],
  ] as const)
    assert.equal(at(f24, g24, x, y), at(f32, g32, x, y));
});

test("a file that is no font: an error naming it", () => {
  const bad = join(mkdtempSync(join(tmpdir(), "foyer-font-")), "not-a-font.ttf");
  writeFileSync(bad, "not a font");
  try {
    openFont(bad, 20);
    assert.unreachable("opened");
  } catch (e) {
    assert.instance(e, FoyerError);
    assert.match((e as Error).message, `cannot use the font '${bad}'`);
  }
});

test("a prompt's band: its rows as the whole frame has them, and every row outside it as the progress frame's", () => {
  for (const g of [g32, { width: 1280, height: 800, stride: 5120, bitsPerPixel: 32 }, { width: 2560, height: 1600, stride: 10240, bitsPerPixel: 32 }]) {
    const s = Math.min(3, Math.max(1, g.height / 800));
    const f = { text: openFont(DEFAULT_FONT, 20 * s), small: openFont(DEFAULT_FONT, 14 * s) };
    const view: FrameView = { kind: "prompt", message: "Passphrase for root:", typed: 9, capsLock: "Caps Lock is on", layout: "de" };
    const whole = renderFrame(g, colours, view, f);
    const progress = renderFrame(g, colours, { kind: "progress", step: 0 });
    const band = promptBand(g, f);
    assert.ok(band.from > 0 && band.to < g.height && band.to > band.from, JSON.stringify(band));
    const rows = renderFrame(g, colours, view, f, band);
    assert.is(rows.length, (band.to - band.from) * g.stride);
    assert.ok(rows.equals(whole.subarray(band.from * g.stride, band.to * g.stride)), `the band's rows at ${g.width}x${g.height}`);
    // drawn into a used buffer (a redraw's), the same bytes
    const used = Buffer.alloc(rows.length + 100, 0x5a);
    assert.ok(renderFrame(g, colours, view, f, band, used).equals(rows), "into a buffer used before");
    assert.ok(whole.subarray(0, band.from * g.stride).equals(progress.subarray(0, band.from * g.stride)), "above the band");
    assert.ok(whole.subarray(band.to * g.stride).equals(progress.subarray(band.to * g.stride)), "below the band");
  }
});

test.run();
