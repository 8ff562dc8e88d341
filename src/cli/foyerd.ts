// foyerd: the entry point, and the only place that calls process.exit. It loads only the part a
// command needs: `flush` and `console-restore` run on the real root's boot path and must not pay
// for the daemon's modules (winston, D-Bus, the supervisor), so each part is its own chunk.
//
//   foyerd [--profile NAME|PATH] [--runtime-dir DIR] [--ask-dir DIR] [--cmdline FILE] [--bus ADDRESS|system|none]
//   foyerd schema            print the profile JSON Schema
//   foyerd print-profile     print the effective profile (after the same resolution) as JSON
//   foyerd flush --state DIR [--root DIR] [--boot-id ID] [--unmount]   keep what the profile marks persistent
//   foyerd flush --from DIR --to DIR [--unmount]   crash-safe mirror of one tree
//   foyerd console-restore [--runtime-dir DIR]     real root: bind the text console again after a kept frame
//   foyerd first-frame --out FILE [--theme NAME] [--size WxH]   the frame foyer-splash --fb draws before foyerd runs
//   foyerd keep -- ARGS      initramfs-tools: hold Plymouth's sockets, run `foyerd ARGS`, start it again when it dies
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

export async function main(argv: string[]): Promise<number> {
  // flush has its own options and runs in the real root, without a profile or a logger
  if (argv[0] === "flush") return (await import("../state/flush-cli.js")).flushMain(argv.slice(1));
  if (argv[0] === "console-restore") return (await import("./console-restore.js")).consoleRestoreMain(argv.slice(1));
  if (argv[0] === "first-frame") return (await import("./first-frame.js")).firstFrameMain(argv.slice(1));
  if (argv[0] === "keep") return (await import("./keeper.js")).keeperMain(argv.slice(1));
  return (await import("./daemon.js")).daemonMain(argv);
}

const invokedDirectly = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly || process.env.FOYER_MAIN === "foyerd") {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      // one line naming the failure rather than node's unhandled-rejection dump
      process.stderr.write(`foyerd: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
