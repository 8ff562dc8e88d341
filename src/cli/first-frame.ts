// foyerd first-frame --out FILE [--theme NAME] [--size WxH]: foyer's progress frame as a file for
// foyer-splash --fb, which draws it on the framebuffer before foyerd runs (foyer-frame.service).
// Written at build time (packaging/dev/build.mjs, dist/first-frame) with the default theme; the
// splash scales it to cover the framebuffer it finds.
import { parseArgs } from "node:util";
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { themeColours } from "../display/frame-screen.js";
import { progressFrame, splashFrameFile } from "../display/splash.js";
import { describe } from "../base/errors.js";
import { packageTop } from "./top.js";

/** Exit code: 0 written, 1 failed, 2 bad arguments. */
export function firstFrameMain(argv: string[], assetsDir = join(packageTop(), "assets")): number {
  let v;
  try {
    ({ values: v } = parseArgs({
      args: argv,
      options: { out: { type: "string" }, theme: { type: "string", default: "default" }, size: { type: "string", default: "1280x800" } },
    }));
  } catch (e) {
    process.stderr.write(`foyerd first-frame: ${(e as Error).message}\n`);
    return 2;
  }
  const m = /^(\d{3,5})x(\d{3,5})$/.exec(v.size);
  if (!v.out || !m || Number(m[1]) > 7680 || Number(m[2]) > 4320) {
    process.stderr.write("foyerd first-frame: --out FILE is needed, and --size is WIDTHxHEIGHT within 7680x4320\n");
    return 2;
  }
  if (!/^[a-z0-9-]+$/.test(v.theme)) {
    process.stderr.write(`foyerd first-frame: '${v.theme}' is not a theme's name\n`);
    return 2;
  }
  const [w, h] = [Number(m[1]), Number(m[2])];
  let warned = false;
  const colours = themeColours(assetsDir, v.theme, (l) => ((warned = true), process.stderr.write(`foyerd first-frame: ${l}\n`)));
  if (warned) return 1;
  try {
    const tmp = `${v.out}.${process.pid}.tmp`;
    writeFileSync(tmp, splashFrameFile(w, h, progressFrame(w, h, colours)), { mode: 0o644 });
    renameSync(tmp, v.out);
  } catch (e) {
    process.stderr.write(`foyerd first-frame: cannot write '${v.out}': ${describe(e)}\n`);
    return 1;
  }
  return 0;
}
