// Logging: winston with syslog levels and a child logger per part. Three sinks, each a small
// transport: a file on the runtime tmpfs (written synchronously, so the last line before a crash
// is there), /dev/kmsg when writable (the boot's console log in the initramfs), and stderr with
// sd-daemon "<N>" prefixes so journald files lines at the right priority.
// Secrets are unprintable by type (Secret); lines carry byte counts, never contents.
import { openSync, writeSync, closeSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { inspect } from "node:util";
import winston from "winston";
import Transport from "winston-transport";

export type Level = "emerg" | "alert" | "crit" | "error" | "warning" | "notice" | "info" | "debug";
const PRIORITY: Record<Level, number> = winston.config.syslog.levels as Record<Level, number>;

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

class FileSink extends Transport {
  #fd: number;
  constructor(path: string) {
    super();
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.#fd = openSync(path, "a", 0o600);
  }
  override log(info: Info, next: () => void): void {
    const t = new Date().toISOString();
    try {
      writeSync(this.#fd, `${t} ${info.level} ${formatLine(info)}\n`);
    } catch {
      // a full tmpfs must not take the daemon down; the other sinks still see the line
    }
    next();
  }
  override close(): void {
    try {
      closeSync(this.#fd);
    } catch {
      /* already closed */
    }
  }
}

class KmsgSink extends Transport {
  #fd: number;
  constructor(fd: number) {
    super();
    this.#fd = fd;
  }
  override log(info: Info, next: () => void): void {
    // one write per record is one kmsg record; the kernel caps a record near 1 KiB
    const pri = 3 * 8 + (PRIORITY[info.level as Level] ?? 6); // LOG_DAEMON
    const line = `<${pri}>foyer[${process.pid}]: ${formatLine(info)}`.slice(0, 1000);
    try {
      writeSync(this.#fd, line + "\n");
    } catch {
      // EAGAIN/EINVAL from a rate-limited kmsg: drop the record, the file sink keeps it
    }
    next();
  }
}

class StderrSink extends Transport {
  constructor(private prefix: boolean) {
    super();
  }
  override log(info: Info, next: () => void): void {
    const pri = PRIORITY[info.level as Level] ?? 6;
    try {
      writeSync(2, `${this.prefix ? `<${pri}>` : ""}${formatLine(info)}\n`);
    } catch {
      /* stderr closed: nothing to do */
    }
    next();
  }
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
  close(): Promise<void>;
}

export function createLogger(opts: LogOptions): RootLogger {
  const transports: Transport[] = [];
  if (opts.stderr !== false) transports.push(new StderrSink(opts.syslogPrefix ?? process.env.JOURNAL_STREAM !== undefined));
  if (opts.file) transports.push(new FileSink(opts.file));
  const kfd = openKmsg(opts.kmsg);
  if (kfd !== undefined) transports.push(new KmsgSink(kfd));
  const w = winston.createLogger({ levels: winston.config.syslog.levels, level: opts.level, transports, exitOnError: false });
  const wrap = (part: string | undefined): Logger => {
    const target = part ? w.child({ part }) : w;
    const at = (level: Level) => (msg: string, meta?: Record<string, unknown>) => target.log(level, msg, meta ?? {});
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
    setLevel(level: Level) {
      w.level = level;
    },
    close: () =>
      new Promise<void>((resolve) => {
        w.on("finish", () => resolve());
        w.end();
        setTimeout(resolve, 200).unref();
      }),
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
