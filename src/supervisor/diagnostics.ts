// What the supervisor says about the greeter beyond its state: what the prompt costs in memory,
// and why a greeter that never came up failed. In the initramfs nobody can go and look, so the
// log has to say it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { escapeControlsText } from "../base/controls.js";
import type { Logger } from "../base/log.js";
import { monotonicNowMs, processStartMs, type Timeline } from "../state/timeline.js";
import type { Clock } from "./parts.js";

export interface Milestone {
  name: string;
  /** ms since foyerd's process started, on the monotonic clock (the greeter may be launched before the supervisor exists) */
  at: number;
}

/** The boot's milestones as the supervisor reached them: on the timeline, in the log, and kept here. */
export class Milestones {
  readonly list: Milestone[] = [];
  #t0 = Math.round(processStartMs());
  constructor(
    private timeline: Timeline,
    private clock: Clock,
    private log: Logger,
  ) {}

  /** `agoMs`: it happened that long before now (a page that painted before it could say so) */
  mark(name: string, agoMs = 0): Milestone {
    const m = { name, at: this.clock.now() - agoMs - this.#t0 };
    this.list.push(m);
    this.timeline.mark(name, monotonicNowMs() - agoMs);
    this.log.info(name, { ms: m.at });
    return m;
  }
}

/** What the prompt costs, once, when it first shows: foyerd, the greeter's stack (`greeterKb`), the machine. */
export function logMemory(log: Logger, greeterKb: () => number): void {
  try {
    const mem = readFileSync("/proc/meminfo", "utf8");
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(mem)?.[1] ?? 0);
    const mb = (k: number) => Math.round(k / 102.4) / 10;
    log.info("memory at the prompt", {
      supervisorMb: mb(process.memoryUsage().rss / 1024),
      greeterMb: mb(greeterKb()),
      systemUsedMb: mb(kb("MemTotal") - kb("MemAvailable")),
    });
  } catch {
    /* no /proc: nothing to say */
  }
}

/**
 * The last lines a unit wrote (its log file in `logDir`), when it failed before it was up: the
 * reason is there (a missing library, no DRM device). Browsers print their URL: tokens are cut out.
 */
export function logTail(log: Logger, logDir: string, unit: string): void {
  try {
    const text = readFileSync(join(logDir, `${unit}.log`), "utf8");
    // the last lines as warnings; with rd.foyer.debug, more of what came before
    const lines = text.trimEnd().split("\n").slice(-40);
    lines.forEach((line, i) => {
      // the unit's own words: none of its control characters may act on a console showing the log
      const said = `${unit} said: ${escapeControlsText(line.replace(/token=[\w-]+/g, "token=…").slice(0, 300))}`;
      if (i >= lines.length - 6) log.warning(said);
      else log.debug(said);
    });
  } catch {
    /* no log yet */
  }
}
