// The daemon's second part, loaded once the greeter is launched (cli/daemon.ts, then
// supervisor/first-launch.ts): the supervisor that adopts it, the D-Bus service, the signals, and
// the run until SIGTERM. Everything here loads while the browser starts.
import { join } from "node:path";
import type { RootLogger, Logger } from "../base/log.js";
import { describe } from "../base/errors.js";
import { Supervisor } from "../supervisor/supervisor.js";
import { realParts, type SupervisorOptions } from "../supervisor/parts.js";
import type { FirstLaunch } from "../supervisor/first-launch.js";
import { greeterStateName } from "../supervisor/machine.js";
import { SupervisorService, connectBus, resolveBusAddress } from "../dbus/service.js";
import { withTimeout } from "../base/timeout.js";
import type { SupervisorPort } from "../dbus/names.js";
import type { Profile } from "../profile/schema.js";
import { Timeline, processStartMs } from "../state/timeline.js";
import type { Watchdog } from "../launch/notify.js";

/** The Supervisor as the D-Bus service sees it (dbus/ may not import supervisor/). */
export function supervisorPort(sup: Supervisor): SupervisorPort {
  return {
    view: () => {
      const s = sup.snapshot();
      return {
        phase: s.phase,
        flow: s.flow,
        greeterState: greeterStateName(sup.state),
        greeterRestarts: sup.state.restarts,
        prompts: s.prompts.map((p) => ({ key: p.key, message: p.message })),
        recoveryReason: s.recovery?.reason ?? "",
      };
    },
    restartGreeter: () => sup.restartGreeter(),
    showRecovery: (reason) => sup.showRecovery(reason),
    handoff: () => sup.handoff(),
    reload: () => sup.reload(),
    subscribe: (h) => {
      const changed = () => h.changed();
      const exited = (code: number | null, signal: string | null) => h.greeterExited(code, signal);
      sup.on("state", changed);
      sup.on("prompts", changed);
      sup.on("phase", h.phase);
      sup.on("greeter-exited", exited);
      return () => {
        sup.off("state", changed);
        sup.off("prompts", changed);
        sup.off("phase", h.phase);
        sup.off("greeter-exited", exited);
      };
    },
  };
}

/**
 * When systemd runs, the units that started while foyer ran go on the timeline; the initrd's
 * systemd forgets them at switch-root. Without systemd (or a bus) there is nothing to add.
 */
async function recordUnits(address: string, timeline: Timeline, since: number, log: Logger): Promise<void> {
  let bus;
  try {
    bus = await connectBus(address, 1000);
    const { readUnitTimes } = await import("../dbus/systemd-units.js");
    // all of it within 2 s: foyer.service has 5 s to stop at switch-root, and a hung bus must not eat them
    const units = await withTimeout(readUnitTimes(bus, since, 1000), 2000, "reading unit times");
    for (const u of units) timeline.span(`unit ${u.unit}`, u.start, u.end);
    if (units.length) log.info("unit activation times on the timeline", { units: units.length });
  } catch (e) {
    log.debug("no unit activation times from systemd", { err: describe(e) });
  } finally {
    bus?.close();
  }
}

export interface SuperviseOptions {
  profile: Profile;
  runtimeDir: string;
  askDir: string;
  /** where assets/ and dist/ui are */
  top: string;
  bus: string;
  recovery?: string;
  fsckDevice?: string;
  cmdlineLang?: string;
  cmdlineFile?: string;
  timeline: Timeline;
  log: RootLogger;
  watchdog?: Watchdog;
  first: FirstLaunch;
  /** foyerd --firstboot: stop once the form is applied (Supervisor's firstbootOnly) */
  firstbootOnly?: boolean;
}

/** Runs the supervisor until it stops; the daemon's exit code. */
export async function supervise(o: SuperviseOptions): Promise<number> {
  const { profile, runtimeDir, timeline, log, watchdog, first } = o;
  let sup: Supervisor;
  try {
    const so: SupervisorOptions = {
      profile,
      runtimeDir,
      timeline,
      askDir: o.askDir,
      assetsDir: join(o.top, "assets"),
      uiDir: join(o.top, "dist", "ui"),
      log,
      first,
      ...(o.cmdlineLang ? { cmdlineLang: o.cmdlineLang } : {}),
      ...(o.cmdlineFile ? { cmdlineFile: o.cmdlineFile } : {}),
      ...(o.firstbootOnly ? { firstbootOnly: true } : {}),
    };
    sup = new Supervisor(so, realParts(so));
    await sup.start();
    if (o.recovery !== undefined) sup.showRecovery(o.recovery.slice(0, 1024), o.fsckDevice);
  } catch (e) {
    log.error("cannot start", { err: describe(e) });
    await Promise.all([first.greeter?.launched.stop(2000), first.seatd?.stop(1000)]);
    first.listener.http.close();
    watchdog?.stop();
    await log.close();
    return 1;
  }
  // the supervisor must outlive any single bad input: log what escaped and keep going
  process.on("uncaughtException", (e) => log.error("unexpected error, continuing", { err: e instanceof Error ? e.stack : String(e) }));
  process.on("unhandledRejection", (e) => log.error("unexpected rejection, continuing", { err: e instanceof Error ? e.stack : String(e) }));
  const onSignal = (sig: string) => {
    log.info(`received ${sig}, stopping`);
    // SIGTERM in the initrd is switch-root (foyer.service conflicts with it): the display manager comes next
    void sup.stop({ retainSplash: sig === "SIGTERM" });
  };
  process.once("SIGTERM", () => onSignal("SIGTERM"));
  process.once("SIGINT", () => onSignal("SIGINT"));
  // after start: the bus is optional, supervising never waits for it (it is retried in the background)
  const service = o.bus === "none" ? undefined : new SupervisorService({ bus: o.bus, port: supervisorPort(sup), log: log.child("dbus") });
  service?.start();
  await sup.finished;
  if (o.bus !== "none") await recordUnits(resolveBusAddress(o.bus), timeline, processStartMs(), log);
  try {
    await service?.stop();
  } catch (e) {
    log.warning("stopping the D-Bus service failed, ignoring", { err: describe(e) });
  }
  watchdog?.stop();
  await log.close();
  return sup.exitCode;
}
