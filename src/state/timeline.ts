// The boot timeline (issue 4, part 4): foyer's milestones on CLOCK_MONOTONIC (ms since the kernel
// started, the clock of systemd-analyze and of the ask files' NotAfter), written to
// <runtime-dir>/state/timeline.json at every milestone, so the file is always as fresh as foyerd
// and outlives it: `foyerctl timeline` reads it whether foyerd runs or not, and foyer-flush keeps it.
// Points ("greeter interactive") have `at`; spans ("greeter start", "prompt 3") have `at` and `end`.
import { writeFileSync, renameSync, readFileSync } from "node:fs";
import * as z from "zod/mini";
import "../base/schema-messages.js";

export const TimelineEntrySchema = z.strictObject({
  name: z.string().check(z.minLength(1), z.maxLength(200)),
  at: z.number().check(z.nonnegative()),
  end: z.optional(z.number().check(z.nonnegative())),
});
export const TimelineSchema = z.strictObject({
  schema: z.literal(1),
  bootId: z.string().check(z.maxLength(64)),
  pid: z.int(),
  entries: z.array(TimelineEntrySchema).check(z.maxLength(10_000)), // MAX_ENTRIES written; room for older or newer writers
});
export type TimelineEntry = z.infer<typeof TimelineEntrySchema>;
export type TimelineData = z.infer<typeof TimelineSchema>;

export function monotonicNowMs(): number {
  return Number(process.hrtime.bigint() / 1000n) / 1000;
}

/** When this process started, on the monotonic clock (uptime is counted from process start). */
export function processStartMs(): number {
  return monotonicNowMs() - process.uptime() * 1000;
}

export function readBootId(file = "/proc/sys/kernel/random/boot_id"): string {
  try {
    const id = readFileSync(file, "utf8").trim().replace(/-/g, "");
    return /^[0-9a-f]{32}$/.test(id) ? id : "";
  } catch {
    return "";
  }
}

const round = (ms: number) => Math.round(ms * 10) / 10;
/**
 * A greeter in a crash loop or a stream of prompts adds entries for as long as foyerd runs: past
 * this many, the oldest after the first KEEP_HEAD (the boot's own start) make room.
 */
export const MAX_ENTRIES = 2000;
const KEEP_HEAD = 20;

export class Timeline {
  readonly data: TimelineData;
  #file: string | undefined;
  #open = new Map<string, TimelineEntry>();
  #failed = false;

  /** `file` undefined: kept in memory only (tests, `foyerd print-profile`) */
  constructor(file: string | undefined, bootId = readBootId()) {
    this.#file = file;
    this.data = { schema: 1, bootId, pid: process.pid, entries: [] };
  }

  /** A point; returns its entry. */
  mark(name: string, at = monotonicNowMs()): TimelineEntry {
    const e = { name, at: round(at) };
    this.#push(e);
    this.#write();
    return e;
  }

  /** A span that starts now (or at `at`) and is closed by end(name); a second begin restarts it. */
  begin(name: string, at = monotonicNowMs()): void {
    const e: TimelineEntry = { name, at: round(at) };
    this.#open.set(name, e);
    this.#push(e);
    this.#write();
  }

  end(name: string, at = monotonicNowMs()): void {
    const e = this.#open.get(name);
    if (!e) return;
    this.#open.delete(name);
    e.end = round(Math.max(e.at, at));
    this.#write();
  }

  #push(e: TimelineEntry): void {
    if (this.data.entries.length >= MAX_ENTRIES) this.data.entries.splice(KEEP_HEAD, this.data.entries.length - MAX_ENTRIES + 1);
    this.data.entries.push(e);
  }

  /** A span whose times are known already (a systemd unit's); one write. */
  span(name: string, at: number, end?: number): void {
    this.#push(end === undefined ? { name, at: round(at) } : { name, at: round(at), end: round(Math.max(at, end)) });
    this.#write();
  }

  has(name: string): boolean {
    return this.data.entries.some((e) => e.name === name);
  }

  #write(): void {
    if (!this.#file) return;
    try {
      writeFileSync(`${this.#file}.tmp`, JSON.stringify(this.data) + "\n", { mode: 0o644 });
      renameSync(`${this.#file}.tmp`, this.#file);
    } catch {
      // a full tmpfs costs the timeline, never the boot; kept in memory, tried again next mark
      this.#failed = true;
    }
  }

  get writeFailed(): boolean {
    return this.#failed;
  }
}

/** A timeline file's text, validated; problems as `path: reason`, never the input. */
export function parseTimeline(text: string): { ok: true; data: TimelineData } | { ok: false; problem: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, problem: "not valid JSON" };
  }
  const r = TimelineSchema.safeParse(raw);
  if (!r.success) return { ok: false, problem: r.error.issues.map((i) => `${i.path.join(".") || "<root>"}: ${i.message}`).join("; ") };
  return { ok: true, data: r.data };
}
