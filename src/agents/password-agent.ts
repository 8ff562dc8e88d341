// The systemd password agent: watches the ask directory, keeps the list of pending requests, and
// answers them. Discovery is by event: fs.watch reports the asker's rename of tmp.* into ask.*,
// and every event triggers a re-scan of the whole directory (the event names the temp file, not
// the ask file). Only two things are timers, because no event exists for them: a request's
// NotAfter deadline, and the liveness of an asker's PID (no pidfd in Node), checked every 2 s
// while requests are pending.
//
// Typed once for several disks: a passphrase typed for one request also answers, at that moment,
// every other pending request that says AcceptCached=1 — as plymouthd's cached passwords serve
// systemd's Plymouth agent — once per request Id: systemd-cryptsetup asks again with
// AcceptCached=0 when it did not open that disk, and that request is shown. Nothing is kept for
// later requests: systemd-cryptsetup puts what it was given in the kernel keyring itself, and its
// askers that wait look there when another one did, so foyer's copy lives no longer than the answer.
import { watch, readdirSync, openSync, fstatSync, readSync, closeSync, lstatSync, mkdirSync, constants, type FSWatcher } from "node:fs";
import { join, dirname } from "node:path";
import { parseAskFile, MAX_ASK_FILE_BYTES, type AskRequest } from "./ask-file.js";
import { classifyAsk, type PromptKind } from "../protocol/classify.js";
import { sendPassphrases, sendCancel } from "./reply.js";
import { describe, FoyerError } from "../base/errors.js";
import { monotonicUs } from "../base/timeout.js";
import type { Logger } from "../base/log.js";
import type { Secret } from "../base/secret.js";

export interface PendingPrompt {
  /** stable per request for this daemon's life; what the greeter answers to */
  key: number;
  request: AskRequest;
  /** what it asks for (protocol/classify.ts), read once from its words */
  kind: PromptKind;
  /** how many times this agent answered the same request before (retryTag): > 0 means "wrong, try again" */
  retries: number;
  /** monotonic ms at which foyer first saw the request */
  seenAt: number;
}

export interface PasswordAgentOptions {
  askDir: string;
  log: Logger;
  onChange: (prompts: PendingPrompt[]) => void;
  /** for tests: the PID liveness probe */
  isAlive?: (pid: number) => boolean;
  /** for tests: ms between liveness checks */
  livenessMs?: number;
}

const MAX_ASK_FILES = 256; // a flood of ask files must not grow memory without bound

function defaultIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * What makes a request the same one asked again: its Id=, or without one (systemd-cryptsetup's
 * PIN requests have none) the same asker's PID asking for the same kind of secret, as its PIN
 * loop does (252 asks "Please enter LUKS2 token PIN:" first, then "Please enter TPM2 PIN:").
 * Not the words alone: two disks ask "Please enter TPM2 PIN:" alike, and the second is no retry.
 */
function retryTag(r: AskRequest, kind: PromptKind): string | undefined {
  if (r.id) return `id:${r.id}`;
  if (r.pid !== undefined) return `pid:${r.pid}:${kind}`;
  return undefined;
}

interface Seen {
  stamp: string; // ino:size:mtime, so a rewritten file is parsed again
  prompt?: PendingPrompt;
}

export class PasswordAgent {
  #o: PasswordAgentOptions;
  #watcher?: FSWatcher;
  #seen = new Map<string, Seen>();
  #answered = new Map<string, number>(); // retryTag → times answered
  #done = new Set<string>(); // ask file names answered or cancelled by us (until they vanish)
  #nextKey = 1;
  #scanQueued = false;
  #deadlineTimer?: NodeJS.Timeout;
  #livenessTimer?: NodeJS.Timeout;
  #lastEmitted = "";
  #stopped = false;
  #handedOn = new Set<string>(); // Id= (or file name) already given a passphrase typed for another

  constructor(o: PasswordAgentOptions) {
    this.#o = o;
  }

  get askDir(): string {
    return this.#o.askDir;
  }

  start(): void {
    mkdirSync(this.#o.askDir, { recursive: true, mode: 0o755 });
    this.#watcher = watch(this.#o.askDir, { persistent: false }, () => this.#queueScan());
    this.#watcher.on("error", (e) => this.#o.log.error("watching the ask directory failed", { err: describe(e) }));
    this.scan();
  }

  stop(): void {
    this.#stopped = true;
    this.#watcher?.close();
    clearTimeout(this.#deadlineTimer);
    clearInterval(this.#livenessTimer);
  }

  pending(): PendingPrompt[] {
    const out: PendingPrompt[] = [];
    for (const [name, s] of this.#seen) if (s.prompt && !this.#done.has(name)) out.push(s.prompt);
    return out.sort((a, b) => a.key - b.key);
  }

  #queueScan(): void {
    if (this.#scanQueued || this.#stopped) return;
    this.#scanQueued = true;
    setImmediate(() => {
      this.#scanQueued = false;
      if (!this.#stopped) this.scan();
    });
  }

  /** Re-reads the directory. Public for tests and for a manual refresh. */
  scan(): void {
    const log = this.#o.log;
    let names: string[];
    try {
      names = readdirSync(this.#o.askDir).filter((n) => n.startsWith("ask."));
    } catch (e) {
      log.error(`cannot read ask directory '${this.#o.askDir}'`, { err: describe(e) });
      return;
    }
    if (names.length > MAX_ASK_FILES) {
      log.warning(`${names.length} ask files present, looking at the first ${MAX_ASK_FILES} only`);
      names = names.sort().slice(0, MAX_ASK_FILES);
    }
    const present = new Set(names);
    for (const name of [...this.#seen.keys()]) if (!present.has(name)) this.#seen.delete(name);
    for (const name of [...this.#done]) if (!present.has(name)) this.#done.delete(name);

    const nowUs = monotonicUs();
    const isAlive = this.#o.isAlive ?? defaultIsAlive;
    let nextDeadline = 0n;
    for (const name of names) {
      const seen = this.#read(name);
      const p = seen?.prompt;
      if (!p) continue;
      const r = p.request;
      if (r.notAfterUs > 0n && nowUs > r.notAfterUs) {
        log.debug(`ignoring ask file '${name}': its NotAfter= passed`);
        seen.prompt = undefined;
        continue;
      }
      if (r.pid !== undefined && !isAlive(r.pid)) {
        log.debug(`ignoring ask file '${name}': its asker (PID ${r.pid}) is gone`);
        seen.prompt = undefined;
        continue;
      }
      if (r.notAfterUs > 0n && (nextDeadline === 0n || r.notAfterUs < nextDeadline)) nextDeadline = r.notAfterUs;
    }
    this.#armTimers(nextDeadline, nowUs);
    this.#emit();
  }

  #read(name: string): Seen | undefined {
    const log = this.#o.log;
    const path = join(this.#o.askDir, name);
    let fd: number | undefined;
    try {
      // O_NOFOLLOW: a symlink planted here must not make us read elsewhere; O_NONBLOCK: a FIFO
      // named ask.* must not hang the daemon
      fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      const st = fstatSync(fd);
      const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
      const old = this.#seen.get(name);
      if (old && old.stamp === stamp) return old;
      const entry: Seen = { stamp };
      this.#seen.set(name, entry);
      if (!st.isFile()) {
        log.warning(`ignoring ask file '${name}': not a regular file`);
        return entry;
      }
      if (st.size > MAX_ASK_FILE_BYTES) {
        log.warning(`ignoring ask file '${name}': larger than ${MAX_ASK_FILE_BYTES} bytes`);
        return entry;
      }
      const buf = Buffer.alloc(Math.min(st.size + 1, MAX_ASK_FILE_BYTES + 1));
      let n = 0;
      while (n < buf.length) {
        const r = readSync(fd, buf, n, buf.length - n, null);
        if (r === 0) break;
        n += r;
      }
      const parsed = parseAskFile(name, buf.subarray(0, n));
      if (!parsed.ok) {
        log.warning(`ignoring ask file '${name}': ${parsed.reason}`);
        return entry;
      }
      const problem = this.#checkSocket(parsed.request.socket);
      if (problem) {
        log.warning(`ignoring ask file '${name}': ${problem}`);
        return entry;
      }
      const id = parsed.request.id;
      const kind = classifyAsk(parsed.request.message, parsed.request.echo);
      const tag = retryTag(parsed.request, kind);
      entry.prompt = {
        key: old?.prompt?.key ?? this.#nextKey++,
        request: parsed.request,
        kind,
        retries: tag ? (this.#answered.get(tag) ?? 0) : 0,
        seenAt: Number(process.hrtime.bigint() / 1_000_000n),
      };
      this.#o.log.info("password request pending", { file: name, id: id ?? "", echo: parsed.request.echo, kind, retries: entry.prompt.retries });
      return entry;
    } catch (e) {
      const errno = (e as NodeJS.ErrnoException).code;
      if (errno === "ENOENT") return undefined; // vanished between readdir and open: fine
      if (errno === "ELOOP") {
        if (this.#seen.get(name)?.stamp !== "symlink") log.warning(`ignoring ask file '${name}': a symbolic link`);
        this.#seen.set(name, { stamp: "symlink" });
        return undefined;
      }
      log.warning(`ignoring ask file '${name}': cannot read`, { err: describe(e) });
      return undefined;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  /** Only sockets that sit in the ask directory itself and belong to root get an answer. */
  #checkSocket(socket: string): string | undefined {
    if (dirname(socket) !== this.#o.askDir.replace(/\/+$/, "")) return `Socket= '${socket}' is not inside the ask directory`;
    try {
      const st = lstatSync(socket);
      if (!st.isSocket()) return `Socket= '${socket}' is not a socket`;
      if (st.uid !== 0) return `Socket= '${socket}' is not owned by root`;
    } catch (e) {
      return `Socket= '${socket}' cannot be used (${describe(e)})`;
    }
    return undefined;
  }

  #armTimers(nextDeadlineUs: bigint, nowUs: bigint): void {
    clearTimeout(this.#deadlineTimer);
    if (nextDeadlineUs > 0n) {
      const ms = Number((nextDeadlineUs - nowUs) / 1000n) + 1;
      this.#deadlineTimer = setTimeout(() => this.#queueScan(), Math.min(ms, 2 ** 31 - 1));
      this.#deadlineTimer.unref();
    }
    const anyPid = this.pending().some((p) => p.request.pid !== undefined);
    if (anyPid && !this.#livenessTimer) {
      this.#livenessTimer = setInterval(() => this.#queueScan(), this.#o.livenessMs ?? 2000);
      this.#livenessTimer.unref();
    } else if (!anyPid && this.#livenessTimer) {
      clearInterval(this.#livenessTimer);
      this.#livenessTimer = undefined;
    }
  }

  #emit(): void {
    const list = this.pending();
    const sig = list.map((p) => `${p.key}:${p.retries}`).join(",");
    if (sig === this.#lastEmitted) return;
    this.#lastEmitted = sig;
    this.#o.onChange(list);
  }

  #find(key: number): [string, PendingPrompt] {
    for (const [name, s] of this.#seen) if (s.prompt?.key === key && !this.#done.has(name)) return [name, s.prompt];
    throw new FoyerError("not-found", `no pending password request ${key}`);
  }

  /** Answers request `key`. The caller wipes `secret`. */
  answer(key: number, secret: Secret): void {
    const [name, p] = this.#find(key);
    sendPassphrases(p.request.socket, [secret]);
    this.#done.add(name);
    const tag = retryTag(p.request, p.kind);
    if (tag) this.#answered.set(tag, (this.#answered.get(tag) ?? 0) + 1);
    this.#o.log.info("password request answered", { file: name });
    if (!p.request.echo) this.#handOn(name, p.kind, secret);
    this.#emit();
  }

  /**
   * `secret`, typed for request `from`, to each other pending request that accepts cached ones and
   * asks for the same kind of secret: a TPM2 PIN is never offered to a disk's passphrase request.
   */
  #handOn(from: string, kind: PromptKind, secret: Secret): void {
    for (const [name, s] of this.#seen) {
      const p = s.prompt;
      if (!p || name === from || this.#done.has(name) || !p.request.acceptCached || p.request.echo || p.kind !== kind) continue;
      const tag = p.request.id ?? name;
      if (this.#handedOn.has(tag)) continue;
      this.#handedOn.add(tag);
      try {
        sendPassphrases(p.request.socket, [secret]);
      } catch (e) {
        // systemd-cryptsetup's askers look in the keyring when another one put a passphrase there:
        // such a request may be gone already
        this.#o.log.debug("request gone before the passphrase was handed on", { file: name, err: describe(e) });
        continue;
      }
      // not counted as answered: nobody typed for it, so a request asked again is not "wrong"
      this.#done.add(name);
      this.#o.log.info("password request answered with the passphrase typed for another", { file: name, from, id: p.request.id ?? "" });
    }
  }

  cancel(key: number): void {
    const [name, p] = this.#find(key);
    sendCancel(p.request.socket);
    this.#done.add(name);
    this.#o.log.info("password request cancelled", { file: name });
    this.#emit();
  }
}
