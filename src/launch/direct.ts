// The direct launch backend: each unit is a child process in its own process group (so a
// compositor and the browser it started die together), with a numeric uid/gid, an explicit
// environment (never the daemon's own), stdout+stderr appended to a log file, and cores off.
// Stopping is SIGTERM to the group, then SIGKILL at the deadline: cage aborts on SIGTERM and
// leaves its client orphaned, so the whole group is always signalled.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { openSync, closeSync, mkdirSync, readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { FoyerError, describe } from "../base/errors.js";
import { TOOL_PATH, run } from "../base/command.js";
import type { Logger } from "../base/log.js";
import { processes, alive } from "../base/procs.js";

export interface LaunchSpec {
  /** short unit name for logs: "greeter", "display", "seatd" */
  name: string;
  argv: string[];
  uid?: number;
  gid?: number;
  /** supplementary groups are dropped to the primary gid when uid is set */
  env: Record<string, string>;
  cwd?: string;
  /** stdout and stderr are appended here */
  logFile: string;
  /** extra pipes the child gets as fds 3.. (e.g. X's -displayfd) */
  extraPipes?: number;
  /**
   * Where in argv the command the child starts in turn begins (cage's client after its "--"): the
   * direct launcher makes that one die with the child as well. A service manager's cgroup needs no help.
   */
  childArgvAt?: number;
}

export interface Exit {
  code: number | null;
  signal: string | null;
}

export interface Launched {
  readonly pid: number;
  readonly exited: Promise<Exit>;
  /** readable ends of the extra pipes, fd 3 first */
  readonly pipes: NodeJS.ReadableStream[];
  /** SIGTERM to the group, SIGKILL after timeoutMs; resolves when the leader exited */
  stop(timeoutMs: number): Promise<Exit>;
}

export interface Launcher {
  start(spec: LaunchSpec): Launched;
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* gone already */
    }
  }
}

/** The resident memory (KiB) of every process whose real uid is `uid`: the greeter's whole stack. */
export function userRssKb(uid: number): number {
  return processes().reduce((kb, p) => kb + (p.realUid === uid ? p.rssKb : 0), 0);
}

/** The live (not zombie) processes of `uid`, from /proc. */
function userPids(uid: number): number[] {
  return processes()
    .filter((p) => p.realUid === uid && alive(p))
    .map((p) => p.pid);
}

/**
 * SIGKILLs every process whose real uid is `uid`, and returns how many it signalled. Process
 * groups do not hold everything: chromium's crashpad handler starts its own session. The greeter
 * user owns nothing else, so at shutdown its processes are swept as logind's KillUserProcesses
 * would.
 */
export function sweepUser(uid: number): number {
  if (uid === 0) return 0; // never
  let n = 0;
  for (const pid of userPids(uid)) {
    try {
      process.kill(pid, "SIGKILL");
      n++;
    } catch {
      /* gone meanwhile */
    }
  }
  return n;
}

/** Resolves once no live process of `uid` is left (a SIGKILL is delivered, not waited for), or after `ms`; whether none is left. */
export async function userGone(uid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (userPids(uid).length > 0) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** Where a setpriv may be: foyer's own copy beside its bundle (bin/setpriv, put there by the initramfs-tools hook), then PATH. */
function setprivCandidates(path: string, own: string): string[] {
  return [own, ...path.split(":").map((dir) => join(dir || ".", "setpriv"))].filter((p) => existsSync(p));
}
const PROBE = ["--pdeathsig", "KILL", "--", "/bin/sh", "-c", ":"];
const DEFAULT_PATH = () => TOOL_PATH;
const OWN_SETPRIV = () => fileURLToPath(new URL("./bin/setpriv", import.meta.url));

/**
 * A setpriv that can set the parent-death signal — util-linux's; BusyBox's, which takes
 * /usr/bin/setpriv in initramfs-tools images, has none — tried once, in setprivCandidates' order.
 * Undefined when none can.
 */
export function findPdeathsigSetpriv(path = DEFAULT_PATH(), own = OWN_SETPRIV()): string | undefined {
  return setprivCandidates(path, own).find((p) => spawnSync(p, PROBE, { stdio: "ignore", timeout: 5000 }).status === 0);
}

/** the probe's answer, once per process and only when something is started directly */
let setpriv: { path: string | undefined } | undefined;
let probing: Promise<void> | undefined;

/**
 * The same probe without blocking: foyerd starts it before it mounts its state and opens its
 * listener, and awaits it before the first launch. Two processes to start (setpriv, then sh):
 * 0.2-0.26 s under QEMU's TCG, during which the synchronous probe held the event loop.
 */
export function probeDeathSignal(): Promise<void> {
  probing ??= findPdeathsigSetprivAsync().then((path) => void (setpriv ??= { path }));
  return probing;
}

/** findPdeathsigSetpriv without blocking the event loop. */
export async function findPdeathsigSetprivAsync(path = DEFAULT_PATH(), own = OWN_SETPRIV()): Promise<string | undefined> {
  for (const p of setprivCandidates(path, own)) {
    const ok = await run([p, ...PROBE], { timeoutMs: 5000, maxOutput: 0 }).then(
      (r) => r.code === 0,
      () => false,
    );
    if (ok) return p;
  }
  return undefined;
}

/** The argv prefix that makes a child get `signal` when foyerd dies, or none (said once). */
function deathPrefix(log: Logger, signal: DeathSignal): string[] {
  if (!setpriv) setpriv = { path: findPdeathsigSetpriv() };
  if (!setpriv.path && !saidNoSetpriv) {
    saidNoSetpriv = true;
    log.notice("no setpriv with --pdeathsig (util-linux): what foyer starts directly outlives a foyerd that is killed");
  }
  return setpriv.path ? [setpriv.path, "--pdeathsig", signal, "--"] : [];
}
let saidNoSetpriv = false;

/** KILL for what has nothing to clean up; HUP for a child that takes its own children down first. */
export type DeathSignal = "KILL" | "HUP";

/**
 * Whether foyerd's own core limit is 0, soft and hard (foyer.service's LimitCORE=0, or `ulimit -c 0`
 * before it): its children inherit it and cannot raise it, so they need no shell to set it — one
 * process less at each start (bash, dracut's /bin/sh: ~0.14 s under TCG).
 */
export function coreLimitIsZero(limits = "/proc/self/limits"): boolean {
  try {
    const m = /^Max core file size\s+(\S+)\s+(\S+)/m.exec(readFileSync(limits, "utf8"));
    return m?.[1] === "0" && m[2] === "0";
  } catch {
    return false;
  }
}
let coreZero: boolean | undefined;

/**
 * `argv` as foyer starts any child directly: RLIMIT_CORE=0 for it and everything it starts (a
 * crashing child must not leave a core file holding a prompt's memory; Node cannot setrlimit, and
 * /bin/sh is in every initramfs, needed only where foyerd's own limit is not 0 already:
 * coreLimitIsZero), and it dies with foyerd (PR_SET_PDEATHSIG, through util-linux's setpriv where
 * it is there): without a service manager's cgroup (initramfs-tools) a foyerd that is killed must
 * not leave its children running. The signal is set after a uid change, which would clear it; a
 * set-user-ID binary (Xorg.wrap) clears it too. `childArgvAt`: where the command the child starts in
 * turn begins (LaunchSpec.childArgvAt), which gets the same signal.
 */
export function guardedArgv(log: Logger, name: string, argv: string[], o: { death?: DeathSignal; childArgvAt?: number } = {}): string[] {
  const death = deathPrefix(log, o.death ?? "KILL");
  const at = o.childArgvAt;
  const own = at === undefined ? argv : [...argv.slice(0, at), ...death, ...argv.slice(at)];
  coreZero ??= coreLimitIsZero();
  return coreZero ? [...death, ...own] : ["/bin/sh", "-c", 'ulimit -c 0 && exec "$@"', name, ...death, ...own];
}

export class DirectLauncher implements Launcher {
  constructor(private log: Logger) {}

  start(spec: LaunchSpec): Launched {
    mkdirSync(dirname(spec.logFile), { recursive: true, mode: 0o700 });
    const out = openSync(spec.logFile, "a", 0o600);
    let child: ChildProcess;
    // no cores, and dead with foyerd (guardedArgv): a killed foyerd must not leave its display
    // server or greeter holding the screen over the console's prompt. The same for the command a
    // compositor starts (cage's cog or chromium): cog does not exit when its compositor dies, so a
    // killed foyerd would leave it and WebKit's processes spinning.
    const argv = guardedArgv(this.log, spec.name, spec.argv, spec.childArgvAt === undefined ? {} : { childArgvAt: spec.childArgvAt });
    try {
      child = spawn(argv[0]!, argv.slice(1), {
        detached: true, // its own process group
        uid: spec.uid,
        gid: spec.gid,
        env: spec.env,
        cwd: spec.cwd ?? "/",
        stdio: ["ignore", out, out, ...Array.from({ length: spec.extraPipes ?? 0 }, () => "pipe" as const)],
      });
    } finally {
      closeSync(out);
    }
    const pid = child.pid;
    if (pid === undefined) {
      throw new FoyerError("spawn-failed", `cannot start ${spec.name} '${spec.argv[0]}'`);
    }
    const exited = new Promise<Exit>((resolve) => {
      child.once("error", (e) => {
        this.log.error(`${spec.name} failed to start`, { err: describe(e) });
        resolve({ code: 127, signal: null });
      });
      child.once("exit", (code, signal) => {
        // the leader is gone; take the rest of its group with it (an orphaned cog spins forever)
        signalGroup(pid, "SIGKILL");
        resolve({ code, signal });
      });
    });
    this.log.debug(`started ${spec.name}`, { pid, argv0: spec.argv[0] });
    const pipes = (child.stdio.slice(3) as (NodeJS.ReadableStream | null)[]).filter((s): s is NodeJS.ReadableStream => s !== null);
    let stopping: Promise<Exit> | undefined;
    return {
      pid,
      exited,
      pipes,
      stop: (timeoutMs: number) => {
        stopping ??= (async () => {
          signalGroup(pid, "SIGTERM");
          const timer = setTimeout(() => {
            this.log.warning(`${spec.name} did not stop within ${timeoutMs} ms, killing`, { pid });
            signalGroup(pid, "SIGKILL");
          }, timeoutMs);
          try {
            return await exited;
          } finally {
            clearTimeout(timer);
          }
        })();
        return stopping;
      },
    };
  }
}
