// The recovery flow: what the person sees when boot stopped (fsck failed, emergency mode): the
// reason, fsck's output and exit code, the journal's tail, and what they can do about it. The
// terminal asks for the root password through sulogin; so does the repair (fsck -y writes to the
// disk as root), which is the same terminal with a different shell: sulogin runs $SUSHELL once the
// password is right (or, root locked, with recovery.suloginForce), and foyer's SUSHELL is
// libexec/foyer-repair (packaging/libexec/ in the source), which runs `fsck -y` of the device foyerd names in its environment, its
// progress in the terminal.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runFsck } from "../agents/fsck.js";
import { TerminalBridge, type TerminalEnd } from "../greeter/terminal.js";
import type { GreeterClient } from "../greeter/server.js";
import type { RecoveryView } from "../protocol/greeter.js";
import type { Profile } from "../profile/schema.js";
import type { Logger } from "../base/log.js";
import { guardedArgv } from "../launch/direct.js";
import { FoyerError, describe, type ProblemCode } from "../base/errors.js";
import { TOOL_PATH, exitError, run } from "../base/command.js";

const BASE_ENV = { PATH: TOOL_PATH, TERM: "xterm-256color", LANG: "C.UTF-8", HOME: "/root" };
/** a recovery action (reboot, poweroff, continue) still running after this is killed, and the buttons come back */
const ACTION_TIMEOUT_MS = 5 * 60_000;

/** fsck's "checking canceled by user request": the repair's terminal closed while fsck ran */
const FSCK_CANCELED = 32;

/**
 * Whether a reason says only that the boot stopped (emergency or rescue mode: launch/boot-failures'
 * stopReason), not what failed. Not imported from there: that module loads dbus-next.
 */
export function isStopReason(reason: string): boolean {
  return reason.startsWith("boot stopped in ");
}

/** foyer's SUSHELL for the repair: libexec/ beside the bundle in an image, packaging/libexec/ in the source tree. */
export function repairHelper(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const found = [join(here, "libexec"), join(here, "../packaging/libexec"), join(here, "../../packaging/libexec")].find((d) =>
    existsSync(join(d, "foyer-repair")),
  );
  return join(found ?? join(here, "libexec"), "foyer-repair");
}

export class Recovery {
  #view: RecoveryView = { reason: "", fsck: null, journal: [], busy: "", terminal: { open: false, repair: false } };
  #active = false;
  #terminal: TerminalBridge;
  #changedTimer?: NodeJS.Timeout;
  /** the device the open terminal repairs */
  #repairing?: string;

  constructor(
    private profile: Profile,
    private logFile: string,
    private log: Logger,
    private changed: () => void,
    sendTerminal: (c: GreeterClient, b: Buffer, done: () => void) => void,
    private sendError: (c: GreeterClient, code: ProblemCode, message: string) => void,
  ) {
    this.#terminal = new TerminalBridge(log.child("terminal"), sendTerminal, { shell: () => this.#shellStarted(), closed: (e) => this.#terminalClosed(e) });
  }

  #shellStarted(): void {
    const device = this.#repairing;
    if (!device) return;
    // sulogin ran foyer-repair: fsck -y runs now, its progress in the terminal
    this.#view.fsck = { device, exitCode: null, running: true, percent: null, output: "" };
    this.log.notice(`fsck repair of '${device}' started in the recovery terminal`);
    this.changed();
  }

  #terminalClosed(e: TerminalEnd): void {
    const device = this.#repairing;
    this.#repairing = undefined;
    this.#view.terminal = { open: false, repair: false };
    if (device && e.shell) {
      const code = e.signal === 0 && e.code !== null ? e.code : FSCK_CANCELED;
      const output = e.signal === 0 ? "" : "the repair was stopped: its terminal closed while fsck ran";
      this.#view.fsck = { device, exitCode: code, running: false, percent: null, output };
      this.log.info(`fsck repair of '${device}' exited ${code}`);
      this.#refreshJournal();
      // fsck's 0 and 1 (errors corrected): check again read-only, so the screen says whether it is clean now
      if (code === 0 || code === 1) void this.#check(device);
    } else if (device) this.log.notice(`no repair of '${device}': the terminal closed before sulogin let anyone in`);
    if (e.failed) this.sendError(e.client, "spawn-failed", "the recovery terminal could not be started");
    this.changed();
  }

  /** Whether process `pid` runs in the recovery terminal (sulogin and what it started). */
  terminalHolds(pid: number): boolean {
    return this.#terminal.holds(pid);
  }

  get active(): boolean {
    return this.#active;
  }
  get view(): RecoveryView {
    return this.#view;
  }

  /** Enters recovery: reason shown, the journal read, and a read-only fsck of the device if one is known. */
  start(reason: string, fsckDevice = this.profile.recovery.fsckDevice): void {
    // emergency mode follows a failed check (OnFailure=, then foyer-recovery@emergency.service):
    // the reason that names what failed stays on the screen
    const keep = this.#active && isStopReason(reason) && !isStopReason(this.#view.reason);
    this.#active = true;
    if (keep) this.log.info(`${reason}; the screen keeps '${this.#view.reason}'`);
    else this.#view.reason = reason;
    this.#refreshJournal();
    this.log.notice(reason);
    this.changed();
    // the same failure may be reported twice (systemd's signal and the OnFailure= unit): check once
    if (fsckDevice && this.#view.fsck?.device !== fsckDevice) void this.#check(fsckDevice);
  }

  /** fsck progress arrives many times a second: the greeter gets at most twenty updates per second. */
  #throttledChange(): void {
    if (this.#changedTimer) return;
    this.#changedTimer = setTimeout(() => {
      this.#changedTimer = undefined;
      this.changed();
    }, 50);
  }

  /** The read-only check (fsck -n) when recovery starts, shown with its progress. */
  async #check(device: string): Promise<void> {
    const f: NonNullable<RecoveryView["fsck"]> = { device, exitCode: null, running: true, percent: null, output: "" };
    this.#view.fsck = f;
    this.changed();
    const code = await runFsck({
      device,
      onProgress: (p) => {
        f.percent = Math.round(p * 10) / 10;
        this.#throttledChange();
      },
      onOutput: (tail) => {
        f.output = tail;
        this.#throttledChange();
      },
    });
    clearTimeout(this.#changedTimer);
    this.#changedTimer = undefined;
    f.running = false;
    f.exitCode = code;
    f.percent = null;
    this.log.info(`fsck check of '${device}' exited ${code}`);
    this.changed();
    this.#refreshJournal();
  }

  /** Reads the journal's tail off the event loop and shows it once read; a later read wins over an earlier one. */
  #refreshJournal(): void {
    const read = ++this.#journalReads;
    void this.#journal().then((lines) => {
      if (read !== this.#journalReads || !this.#active) return;
      this.#view.journal = lines;
      this.changed();
    });
  }
  #journalReads = 0;

  async #journal(): Promise<string[]> {
    const n = this.profile.recovery.journalLines;
    const tail = (text: string) =>
      text
        .trimEnd()
        .split("\n")
        .slice(-n)
        .map((l) => l.slice(0, 1000));
    try {
      const j = await run(["journalctl", "-b", "-n", String(n), "-o", "short-monotonic", "--no-pager", "-q"], { timeoutMs: 5000 });
      const text = j.stdout.toString("utf8");
      if (j.code === 0 && !j.truncated && text.trim()) return tail(text);
    } catch {
      /* no journalctl, or it hung: foyer's own log */
    }
    // no journal (no systemd, or before journald): foyer's own log
    try {
      return tail(await readFile(this.logFile, "utf8"));
    } catch {
      return [];
    }
  }

  action(a: "continue" | "reboot" | "poweroff"): void {
    if (!this.#active || this.#view.busy || this.#view.fsck?.running) return;
    const r = this.profile.recovery;
    const argv = a === "continue" ? r.continueCommand : a === "reboot" ? r.rebootCommand : r.poweroffCommand;
    this.#view.busy = a === "continue" ? "continuing boot" : a === "reboot" ? "rebooting" : "powering off";
    this.changed();
    run(argv, { env: BASE_ENV, timeoutMs: ACTION_TIMEOUT_MS, maxOutput: 0 }).then(
      (r) => {
        this.log.notice(`recovery action '${a}' ran`, { code: r.code });
        if (exitError(r)) {
          this.#view.busy = "";
          this.changed();
        } else if (a === "continue") this.leave();
      },
      (e) => {
        this.log.error(`recovery action '${a}' failed`, { err: describe(e) });
        this.#view.busy = "";
        this.changed();
      },
    );
  }

  /**
   * Opens the root terminal for `client`; `repair`: the same terminal, whose shell after the root
   * password is foyer-repair (fsck -y of the device). Throws `busy` while a terminal is open or
   * closing, or fsck runs; `spawn-failed` when the terminal cannot start.
   */
  openTerminal(client: GreeterClient, cols: number, rows: number, repair = false): void {
    if (!this.#active) throw new FoyerError("unsupported", "the root terminal is only there in recovery");
    const env: Record<string, string> = { ...BASE_ENV };
    let argv = [...this.profile.recovery.terminal];
    const device = this.#view.fsck?.device ?? this.profile.recovery.fsckDevice;
    if (repair) {
      if (!device) throw new FoyerError("not-found", "no file system to repair is known");
      if (this.#view.fsck?.running || this.#view.busy) throw new FoyerError("busy", "fsck or a recovery action is running");
      // always through sulogin, whatever the terminal's command: the password is what it asks
      if (basename(argv[0]!) !== "sulogin") argv = ["sulogin"];
      // in the environment, never on a command line the greeter could shape
      env.SUSHELL = repairHelper();
      env.FOYER_FSCK_DEVICE = device;
    }
    const sulogin = basename(argv[0]!) === "sulogin";
    if (this.profile.recovery.suloginForce) {
      // systemd-sulogin-shell's semantics: SYSTEMD_SULOGIN_FORCE=1 becomes sulogin --force,
      // which opens a shell when root is locked (sulogin itself does not read the variable)
      env.SYSTEMD_SULOGIN_FORCE = "1";
      if (sulogin) argv.push("--force");
    }
    // the broker takes the terminal's session down when foyerd dies: SIGHUP, not SIGKILL, for it
    const wrap = (a: string[]) => guardedArgv(this.log, "foyer-pty", a, { death: "HUP" });
    try {
      this.#terminal.start(client, { argv, env, wrap, paced: sulogin }, cols, rows);
    } catch (e) {
      this.changed(); // the page drops the terminal it opened for this
      throw e;
    }
    this.#repairing = repair ? device! : undefined;
    this.#view.terminal = { open: true, repair };
    this.changed();
  }

  input(client: GreeterClient, bytes: Buffer): void {
    this.#terminal.input(client, bytes);
  }
  resize(client: GreeterClient, cols: number, rows: number): void {
    this.#terminal.resize(client, cols, rows);
  }
  closeTerminal(client?: GreeterClient): void {
    if (client) this.#terminal.closeFor(client);
    else this.#terminal.close();
  }

  leave(): void {
    this.#terminal.close();
    this.#active = false;
    this.#view = { reason: "", fsck: null, journal: [], busy: "", terminal: { open: false, repair: false } };
    this.changed();
  }
}
