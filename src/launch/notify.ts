// The service manager's watchdog (sd_notify(3), the protocol only): when foyer.service has
// WatchdogSec=, systemd gives foyerd NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID, and kills and
// restarts it (Restart=on-failure) if "WATCHDOG=1" stops arriving. The pings come from the event
// loop, so a foyerd that hangs or is stopped (SIGSTOP) is restarted instead of leaving a person at
// a greeter that no longer answers. The variables are taken out of process.env, as
// sd_notify(unset_environment) does: nothing foyerd starts may ping on its behalf.
import { sendDatagram } from "../base/dgram.js";
import type { Logger } from "../base/log.js";

export interface WatchdogConfig {
  socket: string;
  /** how often to ping: half of WATCHDOG_USEC, as systemd asks */
  everyMs: number;
}

/**
 * What the environment asks of this process: a config, nothing (no watchdog, or one meant for
 * another PID), or a problem to log (a watchdog foyerd cannot serve). Pure.
 */
export function watchdogFromEnv(env: NodeJS.ProcessEnv, pid: number): WatchdogConfig | { problem: string } | undefined {
  const usec = env.WATCHDOG_USEC;
  if (usec === undefined) return undefined;
  if (env.WATCHDOG_PID !== undefined && env.WATCHDOG_PID !== String(pid)) return undefined;
  if (!/^[1-9][0-9]{0,15}$/.test(usec)) return { problem: `WATCHDOG_USEC='${usec.slice(0, 40)}' is not a positive number of microseconds` };
  const socket = env.NOTIFY_SOCKET ?? "";
  if (!socket) return { problem: "WATCHDOG_USEC is set but NOTIFY_SOCKET is not" };
  if (!socket.startsWith("/"))
    return { problem: `NOTIFY_SOCKET '${socket.slice(0, 108)}' is not a socket path (abstract and vsock addresses are not supported)` };
  return { socket, everyMs: Math.max(10, Math.floor(Number(usec) / 2000)) };
}

export interface Watchdog {
  stop(): void;
}

/**
 * Starts pinging when the environment asks for it (one ping at once), or returns undefined.
 * A failed ping is logged once per kind of failure; the pings go on (the manager may come back).
 */
export function startWatchdog(log: Logger, env: NodeJS.ProcessEnv = process.env, pid = process.pid): Watchdog | undefined {
  const cfg = watchdogFromEnv(env, pid);
  for (const k of ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]) delete env[k];
  if (cfg === undefined) return undefined;
  if ("problem" in cfg) {
    log.error(`the service manager's watchdog cannot be served: ${cfg.problem}; it will stop foyerd`);
    return undefined;
  }
  const ping = Buffer.from("WATCHDOG=1");
  const failures = new Set<string>();
  const send = () => {
    const e = sendDatagram(cfg.socket, ping);
    const kind = e ? (e.code ?? e.message) : undefined;
    if (kind && !failures.has(kind)) {
      failures.add(kind);
      log.warning(`cannot ping the service manager's watchdog at ${cfg.socket} (${kind}), still trying`);
    }
  };
  send();
  const timer = setInterval(send, cfg.everyMs);
  timer.unref();
  log.info("pinging the service manager's watchdog", { everyMs: cfg.everyMs });
  return { stop: () => clearInterval(timer) };
}
