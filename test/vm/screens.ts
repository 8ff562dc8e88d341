// What a screendump shows, sorted for the journeys that judge every frame (test/vm/handoff,
// test/vm/unlock): foyer's theme, a display manager's greeter, black, no scanout, a text console;
// and a watch that takes screendumps back to back and keeps the runs of each kind.
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { themeDark, themeDrawn, type Screen, type Vm } from "./qemu.js";

/** foyer's theme (its frame, or its greeter), with `prompts` its greeter's prompt apart; a display manager's greeter; black; no scanout; a text console */
export type Kind = "foyer" | "prompt" | "dm" | "black" | "off" | "text" | "other";

/** One pass over a screendump: which of the expected pictures it is, `bg` the display manager's greeter background (none: no display manager). */
export function classify(s: Screen, bg?: [number, number, number], prompts = false): Kind {
  let foyer = 0,
    dm = 0,
    black = 0,
    glyph = 0,
    glyphX0 = s.width;
  let x0 = s.width,
    x1 = -1,
    y0 = s.height,
    y1 = -1; // where anything not black is
  const [dr, dg, db] = bg ?? [-99, -99, -99];
  for (let i = 0; i + 2 < s.rgb.length; i += 3) {
    const r = s.rgb[i]!,
      g = s.rgb[i + 1]!,
      b = s.rgb[i + 2]!;
    if (r < 16 && g < 16 && b < 16) {
      black++;
      continue;
    }
    const p = i / 3,
      x = p % s.width,
      y = (p - x) / s.width;
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
    if (Math.abs(r - dr) <= 8 && Math.abs(g - dg) <= 8 && Math.abs(b - db) <= 8) dm++;
    else if (themeDark(r, g, b)) foyer++;
    // a console's text and cursor: grey or white (fbcon draws VGA grey 0xaaaaaa, bold white)
    else if (Math.abs(r - g) < 10 && Math.abs(g - b) < 10 && r >= 100) {
      glyph++;
      if (x < glyphX0) glyphX0 = x;
    }
  }
  const px = s.width * s.height;
  if (foyer / px > 0.5) return prompts && themeDrawn(s).accent > 1000 ? "prompt" : "foyer";
  if (dm / px > 0.5) return "dm";
  if (black === px) return "black";
  // no scanout at all: QEMU draws one line, "Display output is not active.", in the middle (a
  // monitor shows no signal); a console's text and cursor start at the top left
  if (black / px > 0.99 && x1 - x0 > 100 && x0 > s.width * 0.3 && x1 < s.width * 0.7 && y0 > s.height * 0.4 && y1 < s.height * 0.6) return "off";
  // a text console draws from its first column (its cursor sits there on an empty one); light
  // pixels elsewhere on black (an X server's pointer in the middle) are not one
  if (black / px > 0.9) return glyph > 0 && glyphX0 < 16 ? "text" : glyph > 0 ? "other" : "black";
  return "other";
}

const MIN_GAP_MS = 50;

export interface Run {
  kind: Kind;
  from: number;
  to: number;
  frames: number;
}

/** Screendumps back to back until `until` has been on screen for `holdS`, or `stop` says so; the runs of each kind and the largest gap. */
export async function watch(
  vm: Vm,
  name: string,
  t0: number,
  limitS: number,
  holdS: number,
  bg: [number, number, number] | undefined,
  until: Kind = "dm",
  stop: (s: Screen) => boolean = () => false,
): Promise<{ runs: Run[]; frames: number; maxGapMs: number }> {
  for (const f of readdirSync(tmpdir())) if (f.startsWith(`foyer-vm-${name}-`) && f.endsWith(".ppm")) rmSync(join(tmpdir(), f), { force: true });
  const runs: Run[] = [];
  let frames = 0,
    maxGapMs = 0,
    last = performance.now();
  while (vm.seconds - t0 < limitS) {
    // at most one every MIN_GAP_MS: a screendump of an inactive display takes no time, and back to
    // back they would take the CPU the guest boots with
    const wait = MIN_GAP_MS - (performance.now() - last);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const s = await vm.screen();
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
    frames++;
    const kind = classify(s, bg, until === "prompt");
    const at = vm.seconds - t0;
    const cur = runs.at(-1);
    if (cur?.kind === kind) {
      cur.to = at;
      cur.frames++;
    } else {
      runs.push({ kind, from: at, to: at, frames: 1 });
      // the very frame that started the run, as a PPM (a run may be one frame long)
      if (runs.length > 1)
        writeFileSync(join(tmpdir(), `foyer-vm-${name}-${runs.length}-${kind}.ppm`), Buffer.concat([Buffer.from(`P6\n${s.width} ${s.height}\n255\n`), s.rgb]));
      last = performance.now(); // the file is not a gap in the watch
    }
    if ((kind === until && runs.at(-1)!.to - runs.at(-1)!.from >= holdS) || stop(s)) break;
  }
  return { runs, frames, maxGapMs };
}
