// The daemon (foyerd without a subcommand, and its `schema` and `print-profile`): parses arguments
// and the kernel command line, loads the profile (falling back to the built-in default on any
// problem), sets up logging, and runs the supervisor until SIGTERM. cli/foyerd.ts loads it.
import { readFileSync, existsSync, mkdirSync } from "node:fs";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parseCmdline } from "../profile/cmdline.js";
import { loadProfile } from "../profile/load.js";
import { profileJsonSchema } from "../profile/schema.js";
import { createLogger, type Logger } from "../base/log.js";
import { describe } from "../base/errors.js";
import { Supervisor } from "../supervisor/supervisor.js";
import { greeterStateName } from "../supervisor/machine.js";
import { SupervisorService, checkBusOption, connectBus, closeQuietly, resolveBusAddress } from "../dbus/service.js";
import { withTimeout } from "../base/timeout.js";
import type { SupervisorPort } from "../dbus/names.js";
import { mountState, writePersistPlan, logDir, TIMELINE_FILE } from "../state/overlay.js";
import { Timeline, processStartMs, monotonicNowMs } from "../state/timeline.js";
import { startWatchdog } from "../launch/notify.js";

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
    if (bus) closeQuietly(bus);
  }
}

const USAGE = `usage: foyerd [--profile NAME|PATH] [--runtime-dir DIR] [--ask-dir DIR] [--cmdline FILE]
              [--recovery REASON [--fsck-device DEV]] [--firstboot-root DIR]
              [--bus ADDRESS|system|none]
       foyerd schema | print-profile [--profile NAME|PATH]
       foyerd flush --state DIR [--root DIR] [--boot-id ID] [--unmount]
       foyerd flush --from DIR --to DIR [--unmount]
       foyerd console-restore [--runtime-dir DIR] [--timeout-ms N]`;

/** The package top: where assets/ and dist/ui live, from the source tree or the bundle. */
function packageTop(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(d, "assets", "index.html"))) return d;
    d = dirname(d);
  }
  return resolve(dirname(fileURLToPath(import.meta.url)), "../..");
}

export async function daemonMain(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        profile: { type: "string" },
        "runtime-dir": { type: "string", default: "/run/foyer" },
        "ask-dir": { type: "string", default: "/run/systemd/ask-password" },
        cmdline: { type: "string", default: "/proc/cmdline" },
        recovery: { type: "string" },
        "fsck-device": { type: "string" },
        "firstboot-root": { type: "string" },
        // the bus for org.foyer.Supervisor1: "system", a D-Bus address, or "none"
        bus: { type: "string", default: "system" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    process.stderr.write(`foyerd: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const o = args.values;
  if (o.help) {
    process.stdout.write(USAGE + "\n");
    return 0;
  }
  const [cmd, ...rest] = args.positionals;
  if (rest.length > 0 || (cmd !== undefined && cmd !== "schema" && cmd !== "print-profile")) {
    process.stderr.write(`foyerd: unknown command '${args.positionals.join(" ")}'\n${USAGE}\n`);
    return 2;
  }
  const badBus = checkBusOption(o.bus!, true);
  if (badBus) {
    process.stderr.write(`foyerd: ${badBus}\n${USAGE}\n`);
    return 2;
  }
  if (cmd === "schema") {
    process.stdout.write(JSON.stringify(profileJsonSchema(), null, 2) + "\n");
    return 0;
  }

  let cmdlineText = "";
  try {
    cmdlineText = readFileSync(o.cmdline!, "utf8");
  } catch {
    /* no /proc (a container): no switches */
  }
  const kc = parseCmdline(cmdlineText);
  // the kernel command line wins over the unit's --profile: it is how a person at the boot
  // menu overrides what the image ships
  const loaded = loadProfile(kc.profile ?? o.profile);
  // --firstboot-root: the first-boot flow on another root (a scratch tree in tests); the
  // condition still decides unless the profile forces the flow
  const fbRoot = o["firstboot-root"];
  const profile = fbRoot === undefined ? loaded.profile : { ...loaded.profile, firstboot: { enabled: loaded.profile.firstboot.enabled === true ? (true as const) : ("auto" as const), root: resolve(fbRoot) } };

  if (cmd === "print-profile") {
    for (const p of loaded.ok ? [] : loaded.problems) process.stderr.write(`foyerd: ${p}\n`);
    process.stdout.write(JSON.stringify({ source: loaded.source, profile }, null, 2) + "\n");
    return loaded.ok ? 0 : 1;
  }

  const runtimeDir = resolve(o["runtime-dir"]!);
  const level = kc.debug ? "debug" : profile.log.level;
  if (!kc.enabled) {
    // nothing mounted, nothing written: only the journal/console hear of it
    const log = createLogger({ level, kmsg: profile.log.kmsg });
    for (const w of kc.warnings) log.warning(`kernel command line: ${w}`);
    log.notice("disabled on the kernel command line (rd.foyer=0), exiting");
    await log.close();
    return 0;
  }
  const profileAt = monotonicNowMs();
  // the state tmpfs first: foyer's own log lives in it from its first line
  let state;
  try {
    mkdirSync(runtimeDir, { recursive: true, mode: 0o755 });
    state = mountState(runtimeDir, profile.state);
  } catch (e) {
    process.stderr.write(`foyerd: cannot create the state directory under '${runtimeDir}': ${describe(e)}\n`);
    return 1;
  }
  const log = createLogger({ level, file: join(logDir(runtimeDir), "foyerd.log"), kmsg: profile.log.kmsg });
  // from here a hang is the service manager's to see (foyer.service's WatchdogSec=)
  const watchdog = startWatchdog(log);
  const timeline = new Timeline(join(state.dir, TIMELINE_FILE));
  timeline.mark("foyerd start", processStartMs());
  timeline.mark("profile loaded", profileAt);
  if (state.tmpfs) {
    timeline.mark("state mounted");
    log.info(`state on tmpfs at ${state.dir}`, { sizeMb: profile.state.sizeMb, inodes: profile.state.inodes });
  } else log.warning(`cannot mount the state tmpfs at ${state.dir} (${state.problem}); writing to a plain directory, no size limit`);
  for (const p of state.overlayProblems) log.warning(`overlay ${p}, ignoring`);
  if (state.overlays.length) log.info("overlays on the state tmpfs", { paths: state.overlays.join(" ") });
  try {
    writePersistPlan(state.dir, profile.state);
  } catch (e) {
    log.warning("cannot write the persist plan; foyer-flush will use the defaults", { err: describe(e) });
  }
  for (const w of kc.warnings) log.warning(`kernel command line: ${w}`);
  if (!loaded.ok) {
    for (const p of loaded.problems) log.error(`bad profile, using the built-in default: ${p}`);
  } else {
    log.info("profile loaded", { source: loaded.source, stack: profile.display.stack });
  }

  const top = packageTop();
  let sup: Supervisor;
  try {
    sup = new Supervisor({ profile, runtimeDir, timeline, askDir: resolve(o["ask-dir"]!), assetsDir: join(top, "assets"), uiDir: join(top, "dist", "ui"), log, ...(kc.lang ? { cmdlineLang: kc.lang } : {}) });
    await sup.start();
    if (o.recovery !== undefined) sup.showRecovery(o.recovery.slice(0, 1024), o["fsck-device"]);
  } catch (e) {
    log.error("cannot start", { err: describe(e) });
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
  const service = o.bus === "none" ? undefined : new SupervisorService({ bus: o.bus!, port: supervisorPort(sup), log: log.child("dbus") });
  service?.start();
  await sup.finished;
  if (o.bus !== "none") await recordUnits(resolveBusAddress(o.bus!), timeline, processStartMs(), log);
  try {
    await service?.stop();
  } catch (e) {
    log.warning("stopping the D-Bus service failed, ignoring", { err: describe(e) });
  }
  watchdog?.stop();
  await log.close();
  return 0;
}
