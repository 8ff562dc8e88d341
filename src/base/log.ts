// Logging: syslog levels and a child logger per part, routed by winston. Three sinks, each a
// small synchronous writer: a file on the runtime tmpfs (so the last line before a crash is
// there), /dev/kmsg when writable and stderr is not the journal (the boot's console log in an
// initramfs without journald), and stderr with sd-daemon "<N>" prefixes so journald files lines
// at the right priority.
// winston is loaded after foyerd has launched its greeter (useWinston): it is a third of what the
// daemon loads before, and until then each record goes to the same sinks directly, in the same
// format and order, so nothing is held back or lost when foyerd dies early.
// Secrets are unprintable by type (Secret); lines carry byte counts, never contents.
import { openSync, writeSync, closeSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { inspect } from "node:util";
import type winston from "winston";

export type Level = "emerg" | "alert" | "crit" | "error" | "warning" | "notice" | "info" | "debug";
/** syslog's priorities, as winston.config.syslog.levels has them */
const PRIORITY: Record<Level, number> = { emerg: 0, alert: 1, crit: 2, error: 3, warning: 4, notice: 5, info: 6, debug: 7 };

export interface Logger {
  error(msg: string, meta?: Record<string, unknown>): void;
  warning(msg: string, meta?: Record<string, unknown>): void;
  notice(msg: string, meta?: Record<string, unknown>): void;
  info(msg: string, meta?: Record<string, unknown>): void;
  debug(msg: string, meta?: Record<string, unknown>): void;
  child(part: string): Logger;
}

interface Info {
  level: string;
  message: unknown;
  part?: string;
  [k: string]: unknown;
}

const RESERVED = new Set(["level", "message", "part", "timestamp"]);

/** `part: message k=v …`; values are formatted with util.inspect, so a Secret prints [redacted]. */
export function formatLine(info: Info): string {
  const fields: string[] = [];
  for (const [k, v] of Object.entries(info)) {
    if (RESERVED.has(k) || typeof k !== "string") continue;
    fields.push(`${k}=${typeof v === "string" ? v : inspect(v, { breakLength: Infinity, depth: 2 })}`);
  }
  const head = info.part ? `${info.part}: ` : "";
  return `${head}${String(info.message)}${fields.length ? " " + fields.join(" ") : ""}`.replace(/\n/g, "\\n");
}

/** One destination: a record in, written before write() returns. */
interface Sink {
  write(info: Info): void;
  close?(): void;
}

function fileSink(path: string): Sink {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const fd = openSync(path, "a", 0o600);
  return {
    write(info) {
      try {
        writeSync(fd, `${new Date().toISOString()} ${info.level} ${formatLine(info)}\n`);
      } catch {
        // a full tmpfs must not take the daemon down; the other sinks still see the line
      }
    },
    close() {
      try {
        closeSync(fd);
      } catch {
        /* already closed */
      }
    },
  };
}

function kmsgSink(fd: number): Sink {
  return {
    write(info) {
      // one write per record is one kmsg record; the kernel caps a record near 1 KiB
      const pri = 3 * 8 + (PRIORITY[info.level as Level] ?? 6); // LOG_DAEMON
      try {
        writeSync(fd, `<${pri}>foyer[${process.pid}]: ${formatLine(info)}`.slice(0, 1000) + "\n");
      } catch {
        // EAGAIN/EINVAL from a rate-limited kmsg: drop the record, the file sink keeps it
      }
    },
    close() {
      try {
        closeSync(fd);
      } catch {
        /* already closed */
      }
    },
  };
}

function stderrSink(prefix: boolean): Sink {
  return {
    write(info) {
      try {
        writeSync(2, `${prefix ? `<${PRIORITY[info.level as Level] ?? 6}>` : ""}${formatLine(info)}\n`);
      } catch {
        /* stderr closed: nothing to do */
      }
    },
  };
}

export interface LogOptions {
  level: Level;
  file?: string;
  kmsg: boolean | "auto";
  /** "<N>" prefixes on stderr: on under systemd (JOURNAL_STREAM set), off on a terminal. */
  syslogPrefix?: boolean;
  stderr?: boolean;
}

function openKmsg(mode: boolean | "auto"): number | undefined {
  if (mode === false) return undefined;
  try {
    return openSync("/dev/kmsg", "w");
  } catch (e) {
    if (mode === true) throw e;
    return undefined;
  }
}

export interface RootLogger extends Logger {
  setLevel(level: Level): void;
  /** Routes every record through winston from now on (loads it); the sinks and lines stay the same. */
  useWinston(): Promise<void>;
  close(): Promise<void>;
}

export function createLogger(opts: LogOptions): RootLogger {
  const sinks: Sink[] = [];
  if (opts.stderr !== false) sinks.push(stderrSink(opts.syslogPrefix ?? process.env.JOURNAL_STREAM !== undefined));
  if (opts.file) sinks.push(fileSink(opts.file));
  // "auto" under systemd with stderr in the journal: journald reads /dev/kmsg too, and each line
  // would be in the journal (and the recovery screen's log) twice
  const kfd = openKmsg(opts.kmsg === "auto" && process.env.JOURNAL_STREAM !== undefined ? false : opts.kmsg);
  if (kfd !== undefined) sinks.push(kmsgSink(kfd));
  let level = opts.level;
  let w: winston.Logger | undefined;
  const children = new Map<string, winston.Logger>();
  let closed = false;
  const emit = (lvl: Level, part: string | undefined, msg: string, meta: Record<string, unknown> = {}) => {
    // after close the file's descriptor may be another file's: nothing is written any more
    if (closed) return;
    if (w) {
      let target = w;
      if (part) {
        target = children.get(part) ?? w.child({ part });
        children.set(part, target);
      }
      target.log(lvl, msg, meta);
      return;
    }
    if (PRIORITY[lvl] > PRIORITY[level]) return;
    const info: Info = { ...(part ? { part } : {}), ...meta, level: lvl, message: msg };
    for (const sink of sinks) sink.write(info);
  };
  const wrap = (part: string | undefined): Logger => {
    const at = (lvl: Level) => (msg: string, meta?: Record<string, unknown>) => emit(lvl, part, msg, meta);
    return {
      error: at("error"),
      warning: at("warning"),
      notice: at("notice"),
      info: at("info"),
      debug: at("debug"),
      child: (p: string) => wrap(part ? `${part}/${p}` : p),
    };
  };
  const root = wrap(undefined);
  return {
    ...root,
    setLevel(l: Level) {
      level = l;
      if (w) w.level = l;
    },
    async useWinston() {
      if (w) return;
      const [{ default: wn }, { default: Transport }] = await Promise.all([import("winston"), import("winston-transport")]);
      class SinkTransport extends Transport {
        constructor(private sink: Sink) {
          super();
        }
        override log(info: Info, next: () => void): void {
          this.sink.write(info);
          next();
        }
        override close(): void {
          this.sink.close?.();
        }
      }
      w ??= wn.createLogger({ levels: wn.config.syslog.levels, level, transports: sinks.map((s) => new SinkTransport(s)), exitOnError: false });
    },
    close: () => {
      closed = true;
      const logger = w;
      if (!logger) {
        for (const sink of sinks) sink.close?.();
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        logger.on("finish", () => resolve());
        logger.end();
        setTimeout(resolve, 200).unref();
      });
    },
  };
}

/** A logger that drops everything: for unit tests of code that takes a Logger. */
export const silentLogger: Logger = {
  error() {},
  warning() {},
  notice() {},
  info() {},
  debug() {},
  child: () => silentLogger,
};
