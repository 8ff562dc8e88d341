// foyerd console-restore (foyer-console.service in the real root): the text console bound again
// once the display manager holds the display, after foyerd kept the greeter's last frame.
import { parseArgs } from "node:util";
import { describe } from "../base/errors.js";
import { run } from "../base/command.js";
import { restoreConsole, activeVt, vtGraphics, type DmState } from "../display/handoff.js";

/** Exit code: 0 bound again (or nothing to do), 1 failed, 2 bad arguments. */
export async function consoleRestoreMain(argv: string[]): Promise<number> {
  let v;
  try {
    ({ values: v } = parseArgs({
      args: argv,
      options: { "runtime-dir": { type: "string", default: "/run/foyer" }, "timeout-ms": { type: "string", default: "90000" } },
    }));
  } catch (e) {
    process.stderr.write(`foyerd console-restore: ${(e as Error).message}\n`);
    return 2;
  }
  const timeoutMs = Number(v["timeout-ms"]);
  if (!Number.isInteger(timeoutMs) || timeoutMs < 0) {
    process.stderr.write(`foyerd console-restore: --timeout-ms '${v["timeout-ms"]}' is not a whole number of milliseconds\n`);
    return 2;
  }
  const dmState = async (): Promise<DmState> => {
    const r = await run(["systemctl", "show", "-P", "LoadState,ActiveState", "display-manager.service"], { timeoutMs: 10_000, maxOutput: 4096 }).catch(
      () => undefined,
    );
    const [load = "", active = ""] = (r?.stdout.toString("utf8") ?? "").trim().split("\n");
    return { load: r?.code === 0 ? load : "unknown", active };
  };
  try {
    const log = (l: string) => process.stdout.write(l + "\n");
    await restoreConsole({
      runtimeDir: v["runtime-dir"]!,
      dmState,
      activeVt: () => activeVt(),
      vtGraphics: (vt) => vtGraphics(vt),
      timeoutMs,
      settleMs: 15_000,
      log,
    });
    return 0;
  } catch (e) {
    process.stderr.write(`foyerd console-restore: ${describe(e)}\n`);
    return 1;
  }
}
