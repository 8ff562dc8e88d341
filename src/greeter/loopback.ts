// The greeter reaches foyer on 127.0.0.1. systemd brings the loopback interface up itself (as PID 1,
// before any unit); an initramfs without systemd (initramfs-tools, a bare busybox init) leaves it
// down, and a browser then fails with "Network is unreachable" while the listener looks fine. So
// foyer checks that it can reach its own port and, if not, brings `lo` up as systemd would.
import { connect } from "node:net";
import { describe } from "../base/errors.js";
import { exitError, firstLine, run } from "../base/command.js";
import type { Logger } from "../base/log.js";

function reach(port: number, ms: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    const done = (err?: string) => {
      clearTimeout(t);
      s.destroy();
      resolve(err);
    };
    const t = setTimeout(() => done("no answer"), ms);
    s.once("connect", () => done());
    s.once("error", (e) => done((e as NodeJS.ErrnoException).code ?? describe(e)));
  });
}

/** Resolves once 127.0.0.1:port answers, bringing `lo` up if it does not; logs what it did. */
export async function ensureLoopback(port: number, log: Logger, ip = ["ip", "link", "set", "lo", "up"]): Promise<boolean> {
  const first = await reach(port, 2000);
  if (first === undefined) return true;
  const ran = await run(ip, { timeoutMs: 5000, maxOutput: 4096 }).then(
    (r) => (exitError(r) ? firstLine(r.stderr) || exitError(r)!.message : undefined),
    (e: unknown) => describe(e),
  );
  const again = await reach(port, 2000);
  if (again === undefined) {
    log.notice("the loopback interface was down: brought it up", { was: first });
    return true;
  }
  log.error("the greeter cannot reach foyer on 127.0.0.1: the loopback interface is down and could not be brought up", {
    err: again,
    ip: ran ?? "exit 0",
  });
  return false;
}
