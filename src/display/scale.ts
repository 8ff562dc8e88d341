// The greeter's device scale factor, decided like Plymouth decides its own: integer 2 on an output
// of at least 2880×1620 (below that, 1× text is still readable at normal viewing distances),
// unless the profile names a factor. Plymouth also uses the panel's physical size (DPI) when the
// EDID gives one; sysfs's `modes` has no millimetres, so foyer decides from pixels alone.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const HIDPI_MIN = { width: 2880, height: 1620 } as const;

export function scaleFor(width: number, height: number): number {
  return width >= HIDPI_MIN.width && height >= HIDPI_MIN.height ? 2 : 1;
}

/**
 * The preferred mode of each connected DRM output: the first line of `modes` ("3840x2160") of
 * each card*-* connector whose `status` is "connected". Unreadable entries are skipped.
 */
export function drmOutputSizes(drmDir = "/sys/class/drm"): { width: number; height: number }[] {
  const out: { width: number; height: number }[] = [];
  let names: string[];
  try {
    names = readdirSync(drmDir);
  } catch {
    return out;
  }
  for (const n of names) {
    if (!/^card\d+-/.test(n)) continue;
    try {
      if (readFileSync(join(drmDir, n, "status"), "utf8").trim() !== "connected") continue;
      const m = /^(\d+)x(\d+)/.exec(readFileSync(join(drmDir, n, "modes"), "utf8"));
      if (m) out.push({ width: Number(m[1]), height: Number(m[2]) });
    } catch {
      /* a connector without modes: not an output we can use */
    }
  }
  return out;
}

/**
 * The factor for a stack: the profile's number, or auto from the output: on real displays (cage on
 * DRM, Xorg) the first connected output's preferred mode, which is what cage shows the greeter
 * on; on Xvfb and headless outputs the profile's width and height.
 */
export function deviceScale(setting: "auto" | number, realOutput: boolean, size: { width: number; height: number }, drmDir?: string): number {
  if (setting !== "auto") return setting;
  const first = realOutput ? drmOutputSizes(drmDir)[0] : undefined;
  return first ? scaleFor(first.width, first.height) : scaleFor(size.width, size.height);
}
