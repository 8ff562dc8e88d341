// foyerd's parts stopped in order, each in its own try: one failing must not keep the others
// running. Plymouth's goes last: its quit ACK tells `plymouth quit` that the display is free.
import type { Fallback } from "./fallback.js";
import type { Parts } from "./parts.js";
import { describe } from "../base/errors.js";
import type { Logger } from "../base/log.js";

export interface ShutdownOptions {
  fallback: Fallback | undefined;
  /** the greeter's user has processes to sweep (not the headless stack) */
  hasGreeter: boolean;
  /** the display is free: Handoff's reply */
  released: () => void;
  log: Logger;
}

export async function stopParts(p: Parts, o: ShutdownOptions): Promise<void> {
  const { log } = o;
  const greeterUser = o.hasGreeter ? p.greeterUser : undefined;
  for (const [name, f] of [
    ["agent", () => p.agent.stop()],
    ["settings", () => p.settings.stop()],
    ["keyring", () => p.keyring.stop()],
    ["terminal", () => p.recovery.closeTerminal()],
    ["fallback", () => o.fallback?.stop()],
    ["splash's prompt", () => p.splashPrompt?.stop()],
    ["seatd", () => p.seatd?.stop(1000)],
    ["server", () => p.server.stop()],
    ["systemd", () => p.systemd.stop()],
    ["greeter user's processes", () => greeterUser?.sweep() && log.info("swept the greeter user's leftover processes")],
    // Handoff's reply once nothing of the greeter holds the display: the sweep's SIGKILLs are only sent
    [
      "display",
      async () => {
        try {
          if (greeterUser && !(await greeterUser.gone(2000))) log.warning("the greeter user's processes outlived their SIGKILL by 2 s");
        } finally {
          o.released();
        }
      },
    ],
    ["plymouth", () => p.plymouth.stop()],
  ] as const) {
    try {
      await f();
    } catch (e) {
      log.warning(`stopping ${name} failed, ignoring`, { err: describe(e) });
    }
  }
}
