// The systemd side of the supervisor: whether the greeter starts as transient units (the profile's
// `launch`), and the watch for failed boot units that enters recovery. The systemd launcher and the
// boot-failure watch (dbus-next under them) are loaded only when systemd is there to use: without
// it they stay off the way to the first prompt.
import type { SystemdLink } from "../launch/systemd.js";
import type { BootFailureWatch } from "../launch/boot-failures.js";
import { systemdIsPid1, wantsSystemd } from "../launch/pid1.js";
import type { Logger } from "../base/log.js";
import type { Profile } from "../profile/schema.js";
import type { SwitchableLauncher } from "./first-launch.js";

export interface SystemdBackendOptions {
  profile: Profile;
  launcher: SwitchableLauncher;
  /** the daemon's logger: "systemd", "launch" and "supervisor" children are taken from it */
  log: Logger;
  /** foyerd --cmdline: where a failed root check's device is looked up */
  cmdlineFile?: string;
  /** the supervisor is stopping: a watch that connects late is dropped */
  stopping: () => boolean;
  /** a failed boot unit, or emergency/rescue mode: recovery's reason */
  failure: (reason: string, device: string | undefined) => void;
}

export class SystemdBackend {
  #o: SystemdBackendOptions;
  #link?: SystemdLink;
  #watch?: BootFailureWatch;

  constructor(o: SystemdBackendOptions) {
    this.#o = o;
  }

  /**
   * Connects to systemd when the profile's launch backend or recovery.watchSystemd needs it.
   * Never throws: without systemd, units start directly and recovery is entered by hand only.
   */
  async start(): Promise<void> {
    const p = this.#o.profile;
    const log = this.#o.log.child("systemd");
    const systemd = wantsSystemd(p.launch) ? await import("../launch/systemd.js") : undefined;
    const choice = systemd ? await systemd.chooseBackend(p.launch, log) : { kind: "direct" as const, problem: undefined, link: undefined };
    if (choice.problem) {
      if (p.launch === "systemd") log.error("launch is 'systemd' but systemd does not answer on its bus; starting units directly", { err: choice.problem });
      else log.info("systemd does not answer on its bus; starting units directly", { err: choice.problem });
    }
    const link = choice.link;
    const launcher = this.#o.launcher;
    if (link)
      launcher.target = new systemd!.SystemdLauncher(link, this.#o.log.child("launch"), { stopTimeoutMs: p.restart.stopTimeoutMs, fallback: launcher.target });
    this.#o.log.child("supervisor").info(`launch backend ${choice.kind}`, link ? { bus: link.address } : {});
    this.#link = link;
    if (p.recovery.watchSystemd && systemdIsPid1()) {
      // in the background when the greeter does not need systemd: a bus that is slow to answer
      // must not hold back the first prompt
      const watching = this.#watchSystemd(link, log);
      if (link) await watching;
      else void watching;
    }
  }

  async #watchSystemd(have: SystemdLink | undefined, log: Logger): Promise<void> {
    let link = have;
    if (!link) {
      const w = await (await import("../launch/systemd.js")).chooseBackend("systemd", log);
      link = w.link;
      if (!link) return log.warning("cannot watch systemd for failed boot units, ignoring", { err: w.problem });
      if (this.#o.stopping()) return link.close();
      this.#link = link;
    }
    const { BootFailureWatch } = await import("../launch/boot-failures.js");
    if (this.#o.stopping()) return;
    this.#watch = new BootFailureWatch(link, log, this.#o.cmdlineFile ? { cmdline: this.#o.cmdlineFile } : {});
    this.#watch.on("failure", (reason: string, _unit: string, device: string | undefined) => this.#o.failure(reason, device));
    await this.#watch.start();
  }

  stop(): void {
    this.#watch?.stop();
    this.#link?.close();
  }
}
