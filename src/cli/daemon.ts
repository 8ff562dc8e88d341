// The daemon (foyerd without a subcommand, and its `schema` and `print-profile`): parses arguments
// and the kernel command line, loads the profile (falling back to the built-in default on any
// problem), mounts the state tmpfs, sets up logging, launches the greeter
// (supervisor/first-launch.ts), and only then loads the supervisor and runs it until SIGTERM
// (cli/supervise.ts): what this module imports is what foyerd loads before the greeter starts.
// cli/foyerd.ts loads it.
import { readFileSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parseCmdline } from "../profile/cmdline.js";
import { loadProfile } from "../profile/load.js";
import { profileJsonSchema } from "../profile/schema.js";
import { createLogger } from "../base/log.js";
import { describe } from "../base/errors.js";
import { checkBusOption } from "../dbus/service.js";
import { launchFirst, type FirstLaunch } from "../supervisor/first-launch.js";
import { packageTop } from "./top.js";
import { probeDeathSignal } from "../launch/direct.js";
import { mountState, writePersistPlan, logDir, TIMELINE_FILE } from "../state/overlay.js";
import { Timeline, processStartMs, monotonicNowMs } from "../state/timeline.js";
import { startWatchdog } from "../launch/notify.js";

const USAGE = `usage: foyerd [--profile NAME|PATH] [--runtime-dir DIR] [--ask-dir DIR] [--cmdline FILE]
              [--recovery REASON [--fsck-device DEV]] [--firstboot] [--firstboot-root DIR]
              [--bus ADDRESS|system|none]
       foyerd schema | print-profile [--profile NAME|PATH]
       foyerd flush --state DIR [--root DIR] [--boot-id ID] [--unmount]
       foyerd flush --from DIR --to DIR [--unmount]
       foyerd console-restore [--runtime-dir DIR] [--timeout-ms N]
       foyerd first-frame --out FILE [--theme NAME] [--size WxH]`;

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
        // foyer-firstboot.service: the first-boot form on --firstboot-root (or /) is the one job
        firstboot: { type: "boolean" },
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
  // test-only keys (a DevTools port) only where the test runner says so: never from a boot's
  // kernel command line or a unit of the image
  const loaded = loadProfile(kc.profile ?? o.profile, { testKeys: process.env.FOYER_TEST_KEYS === "1" });
  // --firstboot-root: the first-boot flow on another root (a scratch tree in tests); the
  // condition still decides unless the profile forces the flow. --firstboot forces it, on / by
  // default: foyer-firstboot.service's ConditionFirstBoot= has decided already (in the real root
  // systemd has written a machine-id by then, so foyer's own reading of the condition would say no)
  const fbRoot = o["firstboot-root"];
  const profile = o.firstboot
    ? { ...loaded.profile, firstboot: { enabled: true as const, root: resolve(fbRoot ?? "/") } }
    : fbRoot === undefined
      ? loaded.profile
      : { ...loaded.profile, firstboot: { enabled: loaded.profile.firstboot.enabled === true ? (true as const) : ("auto" as const), root: resolve(fbRoot) } };
  if (o.firstboot && o.recovery !== undefined) {
    process.stderr.write(`foyerd: --firstboot and --recovery do not go together\n${USAGE}\n`);
    return 2;
  }

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
  if (o.firstboot) {
    // nothing to do (its stamp, or no root there): no greeter, nothing mounted
    const { firstbootDue, readFirstbootCondition } = await import("../agents/firstboot-apply.js");
    const { due, why } = firstbootDue(true, readFirstbootCondition(profile.firstboot.root));
    if (!due) {
      process.stderr.write(`foyerd: no first-boot setup on '${profile.firstboot.root}': ${why}\n`);
      return 0;
    }
  }
  // setpriv's probe runs while foyerd mounts its state and opens its listener (first-launch.ts awaits it)
  void probeDeathSignal();
  const profileAt = monotonicNowMs();
  // the state tmpfs first: foyer's own log lives in it from its first line
  let state;
  try {
    mkdirSync(runtimeDir, { recursive: true, mode: 0o755 });
    state = await mountState(runtimeDir, profile.state);
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

  // the rest: winston under the logger, then the supervisor. It loads while the browser starts,
  // or while the launch waits for the display device
  let secondPart: Promise<typeof import("./supervise.js")> | undefined;
  const loadRest = () => (secondPart ??= log.useWinston().then(() => import("./supervise.js")));
  let first: FirstLaunch;
  try {
    first = await launchFirst(profile, runtimeDir, log, {
      nomodeset: kc.nomodeset,
      assetsDir: join(packageTop(), "assets"),
      // a failure is the await's below to report, not an unhandled rejection meanwhile
      meanwhile: () => void loadRest().catch(() => {}),
    });
  } catch (e) {
    log.error("cannot start", { err: describe(e) });
    watchdog?.stop();
    await log.close();
    return 1;
  }
  const { supervise } = await loadRest();
  return supervise({
    profile,
    runtimeDir,
    askDir: resolve(o["ask-dir"]!),
    top: packageTop(),
    bus: o.bus!,
    ...(o.recovery !== undefined ? { recovery: o.recovery } : {}),
    ...(o.firstboot ? { firstbootOnly: true } : {}),
    ...(o["fsck-device"] !== undefined ? { fsckDevice: o["fsck-device"] } : {}),
    ...(kc.lang ? { cmdlineLang: kc.lang } : {}),
    cmdlineFile: resolve(o.cmdline!),
    timeline,
    log,
    ...(watchdog ? { watchdog } : {}),
    first,
  });
}
