// The display's hand-over to the real root's display manager: what is on the screen between
// foyer's greeter and the display manager's.
//
// When the compositor lets go of DRM, the kernel shows its fbdev framebuffer again and the console
// (fbcon) draws the text terminal on it: a black screen with a cursor, or boot messages, until the
// display manager's X or Wayland server takes the display — the flash people complain of. So before
// the greeter stops, foyer copies the greeter's last frame into the fbdev framebuffer (grim over
// wlr-screencopy; black when that fails) and unbinds fbcon from the VTs: the kernel shows the frozen
// frame, and nothing draws over it. The console is bound again in the real root by
// foyer-console.service, once the display manager holds the display (or at once when the machine
// has none, or the display manager failed); foyer freezes only when that unit is in the new root, so
// nobody is left without a text console. HELD_FILE in /run tells the unit what to give back.
import { readFileSync, readdirSync, writeFileSync, openSync, writeSync, closeSync, existsSync, rmSync, constants } from "node:fs";
import { join } from "node:path";
import { FoyerError, describe } from "../base/errors.js";
import { monotonicMs } from "../base/timeout.js";
import type { Logger } from "../base/log.js";
import { loadSockets } from "../base/sockets.js";

export interface FrameBuffer {
  dev: string;
  width: number;
  height: number;
  /** bytes per row */
  stride: number;
  bitsPerPixel: number;
}

/** /run/foyer/display-held: the consoles foyer unbound and the VT it left, for the real root's foyer-console.service. */
export const HELD_FILE = "display-held";
/** How long grim may take for the last frame: without it the screen is black until the display manager draws, so it is worth a slow machine's seconds. */
const GRAB_MS = 5000;
/** The unit in the real root that binds the consoles again; foyer freezes the frame only when it is there. */
export const CONSOLE_UNIT = "foyer-console.service";
const UNIT_DIRS = ["usr/lib/systemd/system", "lib/systemd/system", "etc/systemd/system"];

/** Whether the root at `root` (the initrd's /sysroot) gives the console back after a frozen hand-over. */
export function rootRestoresConsole(root: string): boolean {
  return UNIT_DIRS.some((d) => existsSync(join(root, d, CONSOLE_UNIT)));
}

/** The fbdev framebuffer the kernel shows when no one holds DRM, or undefined (none, or not 32/24 bpp). */
export function frameBuffer(sysfs = "/sys/class/graphics/fb0", dev = "/dev/fb0"): FrameBuffer | undefined {
  try {
    const read = (f: string) => readFileSync(join(sysfs, f), "utf8").trim();
    const [w, h] = read("virtual_size").split(",").map(Number);
    const fb = { dev, width: w!, height: h!, stride: Number(read("stride")), bitsPerPixel: Number(read("bits_per_pixel")) };
    if (![fb.width, fb.height, fb.stride].every((n) => Number.isInteger(n) && n > 0)) return undefined;
    if (fb.bitsPerPixel !== 32 && fb.bitsPerPixel !== 24) return undefined;
    return fb;
  } catch {
    return undefined;
  }
}

/**
 * A binary PPM (P6, maxval 255, as grim -t ppm writes) as the framebuffer's rows: XRGB little
 * endian (B, G, R, x) at 32 bpp, B G R at 24; centred, cropped where it is larger, black around it
 * where smaller. Throws on anything that is not such a PPM.
 */
export function ppmToFrame(ppm: Buffer, fb: FrameBuffer): Buffer {
  const head = /^P6\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(ppm.subarray(0, 64).toString("latin1"));
  if (!head) throw new FoyerError("invalid-argument", "the frame is not a binary PPM (P6)");
  const [w, h, max] = [Number(head[1]), Number(head[2]), Number(head[3])];
  if (max !== 255) throw new FoyerError("invalid-argument", `the frame's maxval is ${max}, not 255`);
  const px = ppm.subarray(head[0].length);
  if (px.length < w * h * 3) throw new FoyerError("invalid-argument", `the frame is truncated: ${px.length} bytes for ${w}x${h}`);
  const bpp = fb.bitsPerPixel / 8;
  const out = Buffer.alloc(fb.stride * fb.height);
  const dx = Math.floor((fb.width - w) / 2);
  const dy = Math.floor((fb.height - h) / 2);
  for (let y = Math.max(0, dy); y < Math.min(fb.height, dy + h); y++) {
    const sy = y - dy;
    for (let x = Math.max(0, dx); x < Math.min(fb.width, dx + w); x++) {
      const s = (sy * w + (x - dx)) * 3;
      const d = y * fb.stride + x * bpp;
      out[d] = px[s + 2]!;
      out[d + 1] = px[s + 1]!;
      out[d + 2] = px[s]!;
    }
  }
  return out;
}

/** Writes a whole frame into the framebuffer device. */
export function writeFrame(fb: FrameBuffer, frame: Buffer): void {
  const fd = openSync(fb.dev, "w");
  try {
    let off = 0;
    while (off < frame.length) off += writeSync(fd, frame, off, frame.length - off, off);
  } finally {
    closeSync(fd);
  }
}

/** The text consoles drawn on framebuffers (fbcon), /sys/class/vtconsole/vtconN; with `boundOnly`, those bound now. */
export function framebufferConsoles(sys = "/sys/class/vtconsole", boundOnly = true): string[] {
  let entries: string[];
  try {
    entries = readdirSync(sys);
  } catch {
    return [];
  }
  return entries
    .filter((e) => {
      try {
        const name = readFileSync(join(sys, e, "name"), "utf8");
        return /frame buffer/i.test(name) && (!boundOnly || readFileSync(join(sys, e, "bind"), "utf8").trim() === "1");
      } catch {
        return false;
      }
    })
    .map((e) => join(sys, e));
}

/** Binds (true) or unbinds (false) text consoles listed by framebufferConsoles. */
export function bindConsoles(consoles: string[], bind: boolean): void {
  for (const c of consoles) writeFileSync(join(c, "bind"), bind ? "1" : "0");
}

/**
 * Whether VT `vt` ("tty7") is in graphics mode: a display server holds it and the kernel's console
 * does not draw there. undefined when it cannot be read (no such VT, or no addon).
 */
export function vtGraphics(vt: string, dev = "/dev"): boolean | undefined {
  if (!/^tty[1-9]\d{0,2}$/.test(vt)) return undefined;
  let fd: number | undefined;
  try {
    // O_NOCTTY: opening a VT must never make it this process's controlling terminal (Node adds O_CLOEXEC)
    fd = openSync(join(dev, vt), constants.O_RDONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
    return loadSockets().kdMode(fd) === 1;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The VT the kernel shows now ("tty1"), from /sys/class/tty/tty0/active. */
export function activeVt(sys = "/sys/class/tty/tty0/active"): string | undefined {
  try {
    return readFileSync(sys, "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

export interface KeepFrameOptions {
  /** the real root (Plymouth's update-root-fs, else /sysroot): it must have CONSOLE_UNIT */
  root: string;
  /** the initrd's runtime folder, where HELD_FILE goes */
  runtimeDir: string;
  /** the greeter's last frame as a PPM (the display stack's grim), bounded in time and size */
  grab: (timeoutMs: number, maxBytes: number) => Promise<Buffer>;
  log: Logger;
}

/** Leaves the greeter's frame on the fbdev framebuffer with no console drawing over it; whether it did. Never throws. */
export async function keepLastFrame(o: KeepFrameOptions): Promise<boolean> {
  const { root, log } = o;
  if (!rootRestoresConsole(root)) {
    log.info(`not keeping the last frame: '${root}' has no ${CONSOLE_UNIT} to give the text console back`);
    return false;
  }
  const fb = frameBuffer();
  if (!fb) {
    log.info("not keeping the last frame: no 24/32-bit framebuffer at /sys/class/graphics/fb0");
    return false;
  }
  const t0 = monotonicMs();
  let frame: Buffer;
  try {
    // a frame up to twice the framebuffer's size each way is still centred and cropped; more is not a frame of this screen
    frame = ppmToFrame(await o.grab(GRAB_MS, 64 + 3 * (2 * fb.width) * (2 * fb.height)), fb);
  } catch (e) {
    log.warning("cannot take the greeter's last frame, leaving the screen black", { err: describe(e) });
    frame = Buffer.alloc(fb.stride * fb.height);
  }
  let consoles: string[] = [];
  try {
    writeFrame(fb, frame);
    consoles = framebufferConsoles();
    writeFileSync(join(o.runtimeDir, HELD_FILE), JSON.stringify({ vt: activeVt() ?? null, consoles, root }) + "\n");
    bindConsoles(consoles, false);
    log.notice("last frame kept on the screen for the display manager", {
      ms: Math.round(monotonicMs() - t0),
      consoles: consoles.length,
      size: `${fb.width}x${fb.height}`,
    });
    return true;
  } catch (e) {
    log.warning("cannot keep the last frame, the console shows again", { err: describe(e) });
    try {
      bindConsoles(consoles, true);
    } catch {
      /* nothing more to do: the kernel keeps what it has */
    }
    return false;
  }
}

/** What the display manager's unit is doing: systemctl's LoadState and ActiveState. */
export interface DmState {
  load: string;
  active: string;
}

export interface RestoreOptions {
  /** the initrd's runtime folder, carried over by switch-root (/run/foyer) */
  runtimeDir: string;
  dmState: () => DmState | Promise<DmState>;
  activeVt: () => string | undefined;
  /** whether a VT (tty7) is in graphics mode; undefined when that cannot be read */
  vtGraphics: (vt: string) => boolean | undefined;
  /** how long to wait for the display manager at most */
  timeoutMs: number;
  /**
   * how long the display manager's VT may stay in text mode before the console is bound all the
   * same (a text greeter needs it; a compositor started by a greeter daemon takes seconds), and how
   * long to wait where the mode cannot be read
   */
  settleMs: number;
  /** how often the VT is looked at (a sysfs read and an ioctl) */
  pollMs?: number;
  /** how often the display manager's state is asked for: each ask spawns systemctl, costing CPU */
  dmPollMs?: number;
  /** /sys/class/vtconsole (a test's folder otherwise) */
  vtconsoleDir?: string;
  log: (line: string) => void;
}

/**
 * foyer-console.service, in the real root after a frozen hand-over: binds the text consoles foyer
 * unbound once nobody but the display manager will draw over the frozen frame. That is when it
 * switched to another VT (X's vt7, greetd's) and its server put that VT in graphics mode (or
 * `settleMs` passed there in text mode); when its server put foyer's own VT into graphics mode;
 * or when it is not there, failed, stopped, or did not come in `timeoutMs`. Returns why it bound
 * them; nothing to do without HELD_FILE. Malformed files are reported and every framebuffer
 * console is bound, so a text console is never lost.
 */
export async function restoreConsole(o: RestoreOptions): Promise<string> {
  const file = join(o.runtimeDir, HELD_FILE);
  const dir = o.vtconsoleDir ?? "/sys/class/vtconsole";
  if (!existsSync(file)) return "nothing held";
  let held: { vt: string | null; consoles: string[] };
  try {
    const j = JSON.parse(readFileSync(file, "utf8")) as { vt?: unknown; consoles?: unknown };
    if (!Array.isArray(j.consoles) || !j.consoles.every((c) => typeof c === "string" && c.startsWith(dir + "/") && /^vtcon\d+$/.test(c.slice(dir.length + 1))))
      throw new Error(`'consoles' is not a list of ${dir}/vtconN`);
    held = { vt: typeof j.vt === "string" ? j.vt : null, consoles: j.consoles as string[] };
  } catch (e) {
    o.log(`${file} is malformed (${(e as Error).message}): binding every framebuffer console`);
    held = { vt: null, consoles: [] };
  }
  const why = await new Promise<string>((resolve) => {
    const started = Date.now();
    let movedAt = 0,
      textSeen = false,
      dm: DmState | undefined,
      dmAt = 0;
    const check = async () => {
      if (!dm || Date.now() - dmAt >= (o.dmPollMs ?? 1000)) {
        dm = await o.dmState();
        dmAt = Date.now();
      }
      if (dm.load !== "loaded") return resolve("no display manager");
      if (dm.active === "failed" || dm.active === "inactive") return resolve(`the display manager is ${dm.active}`);
      const vt = o.activeVt();
      // a display manager that starts on foyer's own VT (GDM on tty1): its server takes the VT
      // from the text mode foyer's compositor left it in
      if (held.vt && vt === held.vt) {
        const graphics = o.vtGraphics(vt);
        if (graphics === false) textSeen = true;
        else if (graphics && textSeen) return resolve(`the display manager took ${vt}`);
      }
      if (held.vt && vt && vt !== held.vt) {
        movedAt ||= Date.now();
        const graphics = o.vtGraphics(vt);
        if (graphics) return resolve(`the display manager took ${vt}`);
        if (Date.now() - movedAt >= o.settleMs)
          return resolve(`the display manager took ${vt} (${graphics === false ? "in text mode" : "its mode unknown"} after ${o.settleMs} ms)`);
      }
      if (Date.now() - started >= o.timeoutMs) return resolve(`the display manager did not take the display in ${o.timeoutMs} ms`);
      setTimeout(() => void check(), o.pollMs ?? 100);
    };
    void check();
  });
  const consoles = held.consoles.length ? held.consoles : framebufferConsoles(dir, false);
  bindConsoles(consoles, true);
  rmSync(file, { force: true });
  o.log(`text console bound again (${consoles.length}): ${why}`);
  return why;
}
