// foyer's first frame, before the greeter paints: the theme's background and a progress mark, on
// the framebuffer as soon as the display device is there (before cage starts), and then kept by
// foyer-splash inside cage (src/native/splash.c) from cage's first frame until the greeter's page
// has painted. Everything the splash reads is root's: its binary beside foyer's bundle (copied to
// foyerd's runtime folder where that path is closed to other users, as a checkout's may be), and
// in the runtime folder the frame and the marker foyerd creates once the page has painted.
import {
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { run } from "../base/command.js";
import { FoyerError, describe } from "../base/errors.js";
import { vtMode, type VtMode } from "./vt-mode.js";
import { promptBand, renderFrame, type FrameColours, type FrameFonts, type FrameGeometry, type FrameView } from "./frame-render.js";
import { frameBuffer, writeFrame, type FrameBuffer } from "./handoff.js";

export const SPLASH_BIN = "foyer-splash";
export const SPLASH_FRAME = "splash.frame";
/** the frame as first written, which the prompt's redraws start from */
const SPLASH_BASE = "splash.frame.base";
/** foyerd's socket the splash sends the keys typed into it to (supervisor/splash-prompt.ts) */
export const SPLASH_KEYS = "splash.sock";
/** created by foyerd when the greeter's page has painted: the splash then goes */
export const GREETER_PAINTED = "greeter-painted";
const MAGIC = Buffer.from("FOYRFRM1", "latin1");

/** The progress frame at 32 bpp (B, G, R, x: wl_shm's XRGB8888 and a 32-bpp framebuffer's rows). */
export function progressFrame(width: number, height: number, colours: FrameColours): Buffer {
  const g: FrameGeometry = { width, height, stride: width * 4, bitsPerPixel: 32 };
  return renderFrame(g, colours, { kind: "progress", step: 0 });
}

/** The splash's frame file: "FOYRFRM1", width and height (u32 little-endian), the XRGB8888 pixels. */
export function splashFrameFile(width: number, height: number, pixels: Buffer): Buffer {
  const head = Buffer.alloc(16);
  MAGIC.copy(head);
  head.writeUInt32LE(width, 8);
  head.writeUInt32LE(height, 12);
  return Buffer.concat([head, pixels]);
}

/** foyer-splash beside the bundle (an image's /usr/lib/foyer), or in dist/ of the source tree. */
export function splashBinary(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  return [here, join(here, "../dist"), join(here, "../../dist")].map((d) => join(d, SPLASH_BIN)).find((p) => existsSync(p));
}

/** The frame rendered at build time with the default theme (dist/first-frame, beside the splash in an image); undefined when there is none. */
export function prebuiltFrame(): string | undefined {
  const bin = splashBinary();
  const file = bin && join(dirname(bin), "first-frame");
  return file && existsSync(file) ? file : undefined;
}

/** cage's command before the browser's: the splash, given foyerd's socket for keys, its frame and the marker to wait for. */
export function splashArgv(bin: string, runtimeDir: string): string[] {
  return [bin, "--keys", join(runtimeDir, SPLASH_KEYS), join(runtimeDir, SPLASH_FRAME), join(runtimeDir, GREETER_PAINTED), "--"];
}

/** Whether any user may run `path`: it and every folder above it open to others. */
export function openToOthers(path: string): boolean {
  try {
    if ((statSync(path).mode & 0o005) !== 0o005) return false;
    for (let d = dirname(path); ; d = dirname(d)) {
      if ((statSync(d).mode & 0o001) === 0) return false;
      if (d === "/") return true;
    }
  } catch {
    return false;
  }
}

/** Whether the mount holding `path` forbids running programs (initramfs-tools mounts /run noexec). */
export function noexecAt(path: string, mounts = readFileSync("/proc/self/mounts", "utf8")): boolean {
  let best = "";
  let noexec = false;
  for (const line of mounts.split("\n")) {
    const [, at, , opts] = line.split(" ");
    if (!at || !opts) continue;
    const point = at.replace(/\\040/g, " ");
    const under = point === "/" || path === point || path.startsWith(point + "/");
    if (under && point.length >= best.length) {
      best = point;
      noexec = opts.split(",").includes("noexec");
    }
  }
  return noexec;
}

export interface SplashOptions {
  runtimeDir: string;
  colours: FrameColours;
  /** the output's size where no framebuffer says it (a headless compositor) */
  size: { width: number; height: number };
  /** the framebuffer; /sys/class/graphics/fb0's when not given */
  fb?: FrameBuffer | undefined;
  /** draw on the framebuffer, the foreground VT (/dev/tty0, the one seatd gives cage) in graphics mode */
  onScreen: boolean;
  /** the progress frame already rendered at `size` (while the display device was awaited) */
  rendered?: Buffer;
  /** the build's frame file for the default theme: copied for the splash and drawn by foyer-splash --fb, nothing rendered here */
  prebuilt?: string | undefined;
  warn: (line: string) => void;
}

type FirstFrame = { splash: string[] | undefined; drawn: boolean };

/**
 * foyer's first frame: drawn on the framebuffer where there is one and `onScreen`, and put with
 * the splash's binary in the runtime folder (root's; each file replaced whole). The build's frame
 * file where there is one (`prebuilt`: foyer-splash --fb draws it, scaled), else rendered here at
 * the framebuffer's size. `splash`: the argv prefix for cage, undefined (with a warning) when the
 * splash cannot run (cage then starts the browser alone); `drawn`: whether the frame is on the
 * framebuffer.
 */
export async function firstFrame(o: SplashOptions): Promise<FirstFrame> {
  const found = splashBinary();
  const fb = "fb" in o ? o.fb : frameBuffer();
  const onFb = fb !== undefined && o.onScreen;
  if (o.prebuilt && found) {
    const file = o.prebuilt;
    return withSplash(o, found, onFb && (await drawWithSplash(found, file, fb, o.warn)), (tmp) => copyFileSync(file, tmp));
  }
  const { width, height } = fb ?? o.size;
  const same = o.rendered && width === o.size.width && height === o.size.height;
  const pixels = same ? o.rendered! : progressFrame(width, height, o.colours);
  const drawn = onFb && drawOnFramebuffer(fb, pixels, o.colours, o.warn);
  if (!found) {
    o.warn(`no ${SPLASH_BIN} beside foyer's bundle: cage shows black until the greeter paints, ignoring`);
    return { splash: undefined, drawn };
  }
  return withSplash(o, found, drawn, (tmp) => writeFileSync(tmp, splashFrameFile(width, height, pixels), { mode: 0o644, flag: "wx" }));
}

/** The splash's frame (made by `frame(tmp)`) and binary in place: the binary where it is when anyone may run it there, else a copy. */
function withSplash(o: SplashOptions, found: string, drawn: boolean, frame: (tmp: string) => void): FirstFrame {
  try {
    replace(join(o.runtimeDir, SPLASH_FRAME), frame);
    rmSync(join(o.runtimeDir, SPLASH_BASE), { force: true }); // the prompt's redraws start from the new one
    let bin = found;
    if (!openToOthers(found)) {
      bin = join(o.runtimeDir, SPLASH_BIN);
      if (noexecAt(o.runtimeDir)) throw new FoyerError("unsupported", `'${found}' is closed to the greeter user and '${o.runtimeDir}' is mounted noexec`);
      replace(bin, (tmp) => copyFileSync(found, tmp));
    }
    return { splash: splashArgv(bin, o.runtimeDir), drawn };
  } catch (e) {
    o.warn(`cannot set up the splash: ${describe(e)}; cage shows black until the greeter paints, ignoring`);
    return { splash: undefined, drawn };
  }
}

/** The build's frame on the framebuffer by foyer-splash --fb (scaled to cover it); foyerd owns the VT's mode. */
async function drawWithSplash(bin: string, file: string, fb: FrameBuffer, warn: (line: string) => void): Promise<boolean> {
  ownVtMode();
  try {
    const r = await run([bin, "--fb", file], { env: { FOYER_FB: fb.dev, FOYER_FB_WAIT_MS: "1000" }, timeoutMs: 10_000, maxOutput: 4096 });
    const said = r.stderr.toString("utf8").trim();
    if (r.code === 0 && /first frame on/.test(said)) return true;
    warn(`foyer-splash --fb did not draw the first frame: ${said || `status ${r.code ?? r.signal}`}, ignoring`);
  } catch (e) {
    warn(`foyer-splash --fb did not draw the first frame: ${describe(e)}, ignoring`);
  }
  return false;
}

/** What the prompt's redraws keep between keys: the fonts at the frame's size, one buffer for the rows. */
export interface SplashDrawing {
  fonts(height: number): FrameFonts;
  /** a buffer of at least `bytes`, the same one each time it is large enough */
  rows(bytes: number): Buffer;
}

/**
 * Draws `view` into the splash's frame, at the size the frame already has (the framebuffer's, or
 * the build's that the splash scales): the progress frame as first written (kept aside at the
 * first draw) copied by the kernel, a prompt's rows rendered over the copy, and the copy renamed
 * into place. A key's redraw holds a band of rows in memory, not a whole frame. The caller tells
 * the splash.
 */
export function drawSplashFrame(runtimeDir: string, colours: FrameColours, view: FrameView, kit: SplashDrawing): void {
  const path = join(runtimeDir, SPLASH_FRAME),
    base = join(runtimeDir, SPLASH_BASE);
  if (!existsSync(base)) replace(base, (tmp) => copyFileSync(path, tmp, constants.COPYFILE_EXCL));
  const head = Buffer.alloc(16);
  const fd = openSync(base, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    if (readSync(fd, head, 0, 16, 0) !== 16 || !head.subarray(0, 8).equals(MAGIC)) throw new FoyerError("invalid-argument", `'${base}' is not a foyer frame`);
  } finally {
    closeSync(fd);
  }
  const width = head.readUInt32LE(8),
    height = head.readUInt32LE(12);
  const g: FrameGeometry = { width, height, stride: width * 4, bitsPerPixel: 32 };
  // the progress frame is the first one: nothing to draw over it
  if (view.kind === "progress") return replace(path, (tmp) => copyFileSync(base, tmp, constants.COPYFILE_EXCL));
  const f = kit.fonts(height);
  const band = promptBand(g, f);
  const rows = renderFrame(g, colours, view, f, band, kit.rows((band.to - band.from) * g.stride));
  replace(path, (tmp) => {
    copyFileSync(base, tmp, constants.COPYFILE_EXCL);
    const out = openSync(tmp, constants.O_WRONLY | constants.O_NOFOLLOW);
    try {
      for (let at = 0; at < rows.length;) at += writeSync(out, rows, at, rows.length - at, 16 + band.from * g.stride + at);
    } finally {
      closeSync(out);
    }
  });
}

/** A launch's splash stays until the marker is created again. */
export function splashStays(runtimeDir: string): void {
  rmSync(join(runtimeDir, GREETER_PAINTED), { force: true });
}

/** The greeter's page painted: the splash goes. */
export function splashGoes(runtimeDir: string): void {
  replace(join(runtimeDir, GREETER_PAINTED), (tmp) => writeFileSync(tmp, "", { mode: 0o644, flag: "wx" }));
}

/** `path` made anew by `make(tmp)` and renamed over it: root's folder, so nobody else can swap it. */
function replace(path: string, make: (tmp: string) => void): void {
  const tmp = `${path}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  make(tmp);
  renameSync(tmp, path);
}

/**
 * The frame on the framebuffer, with the console's VT in graphics mode so the kernel's text
 * console does not draw over it. seatd takes the VT over when cage starts and gives it text mode
 * back when cage ends; foyerd gives it back at its exit too (ownVtMode).
 */
function drawOnFramebuffer(fb: FrameBuffer, pixels: Buffer, colours: FrameColours, warn: (line: string) => void): boolean {
  try {
    const vt = ownVtMode();
    if (!vt) throw new FoyerError("not-found", "no VT to put in graphics mode");
    vt.graphics();
    const same = fb.bitsPerPixel === 32 && fb.stride === fb.width * 4;
    writeFrame(fb, same ? pixels : renderFrame(fb, colours, { kind: "progress", step: 0 }));
    return true;
  } catch (e) {
    warn(`cannot draw the first frame on '${fb.dev}': ${describe(e)}, ignoring`);
    return false;
  }
}

let owned: VtMode | undefined;

/**
 * The foreground VT at foyerd's start (foyer-frame.service may have left it in graphics mode under
 * its frame), given its text mode back when foyerd exits: foyerd owns the VT's mode from its start
 * on, whatever its stack. The VT is named at the start (/sys/class/tty/tty0/active), so an X
 * server's VT that is in front at the exit is not touched. Undefined without a VT.
 */
export function ownVtMode(active = "/sys/class/tty/tty0/active"): VtMode | undefined {
  if (owned) return owned;
  try {
    const name = readFileSync(active, "utf8").trim();
    if (!/^tty\d+$/.test(name)) return undefined;
    owned = vtMode(openSync(`/dev/${name}`, constants.O_RDWR | constants.O_NOCTTY), true);
  } catch {
    return undefined;
  }
  return owned;
}
