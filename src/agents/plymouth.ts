// foyer in Plymouth's place: a server for Plymouth's boot protocol (plymouth-protocol.ts), so the
// tools that talk to plymouthd — the `plymouth` client in GDM's handoff, dracut's scripts and
// systemd's units, fsck progress, "touch your key" messages — work with foyer unchanged.
// Served only when no real plymouthd listens (serve "auto"): a name held by root is plymouthd's;
// one held by another uid is a squatter, which foyer names in its log and does not defer to.
// The names are bound as plymouthd binds them (base/sockets.ts): '@/org/freedesktop/plymouthd'
// with its exact length, which every client tries first (Node 20 would pad it to the whole
// sun_path, where no client looks, and leave the exact name to whoever binds it), the legacy
// '@/ply-boot-protocol' padded, as old plymouthd did and the plymouth client falls back to.
//
// What each command does here:
//   ping, update, change-mode, system-update, sysinit, show/hide-splash, pause/unpause-progress,
//   error: recorded (and logged), ACK;  newroot: recorded, "newroot" event, ACK
//   ask-for-password: a prompt in the greeter; the passphrase goes back as ANSWER
//   ask-question: a prompt that echoes; the text goes back as ANSWER
//   cached passwords: the passphrases answered through this server this boot when the profile
//     enables caching, else NO_ANSWER (the client then asks with ask-for-password)
//   display-message / hide-message: the greeter's message list
//   deactivate / reactivate: "deactivate"/"reactivate" events, ACK
//   quit [--retain-splash]: a "quit" event; the ACK ("quit complete") is sent by stop(), after
//     the supervisor has stopped the display, so the asker knows the display is free
//   has-active-vt: NAK — foyer holds no VT of its own, which is what plymouthd answers without one
//   watch-keystroke: kept open, answered NO_ANSWER by ignore-keystroke or at stop (keys typed in
//     the greeter are not forwarded); the client must get an answer byte, never a NAK, or it
//     aborts (its reply matching expects ANSWER/NO_ANSWER for this request)
//   anything else: NAK
//
// Only root is served, as by plymouthd: a prompt here looks like systemd-cryptsetup's, and the
// commands end foyer or change where it hands over. Each connection's peer is read once, at
// accept (SO_PEERCRED, which the kernel fixes at connect()). Another uid's first request gets the
// NAK plymouthd gives it (the client fails) and its connection is closed; nothing it sends is acted
// on. When the credentials cannot be read, the peer is refused all the same.
import { createServer, type Server, type Socket } from "node:net";
import { readFileSync, lstatSync, unlinkSync, mkdirSync, openSync, writeSync, closeSync, renameSync, rmSync, constants } from "node:fs";
import { dirname } from "node:path";
import { EventEmitter } from "node:events";
import {
  parseRequests,
  parsePercent,
  parseFsckd,
  type FsckdProgress,
  encodeByte,
  encodeAnswer,
  encodeMultipleAnswers,
  ACK,
  NAK,
  NO_ANSWER,
  type Request,
} from "./plymouth-protocol.js";
import { describe, FoyerError } from "../base/errors.js";
import { Secret } from "../base/secret.js";
import { loadSockets, peerCred, listenAbstract, abstractPeer, setCloexec, type PeerCred } from "../base/sockets.js";
import type { Logger } from "../base/log.js";

/** The name plymouthd (≥ 0.9.5) listens on, in systemd's notation ('@' = abstract). */
export const PLYMOUTH_SOCKET = "@/org/freedesktop/plymouthd";
/**
 * The name older plymouthd used, bound with the whole sun_path (the trailing NULs are part of
 * the name). The plymouth client falls back to it.
 */
export const PLYMOUTH_LEGACY_SOCKET = "@/ply-boot-protocol";

/**
 * Keys of Plymouth prompts start here, far above the password agent's (which count from 1), so
 * the supervisor can route a greeter's answer by its key alone. Still a u32 on the greeter wire.
 */
export const PLYMOUTH_KEY_BASE = 0x4000_0000;

const MAX_CONNECTIONS = 64;
/** refused peers' connections open at once (apart from root's 64); more are closed at accept */
const MAX_REFUSED = 16;
/** a refused peer that sends no whole request is closed after this */
const REFUSED_GRACE_MS = 1000;
/** refusals logged as warnings; later ones at debug level, so a flood cannot fill the log */
const MAX_REFUSALS_LOGGED = 32;
const MAX_PROMPTS = 16;
const MAX_KEYSTROKE_WATCHES = 16;
const MAX_MESSAGES = 32;
/** replies a client does not read pile up in its socket: beyond this, it is cut off */
const MAX_WRITE_BACKLOG = 64 * 1024;

export interface PlymouthPrompt {
  key: number;
  message: string;
  /** true for ask-question: the answer is shown as typed */
  echo: boolean;
  /** the same client asked the same prompt again after an answer: the last one was wrong */
  retries: number;
  /** monotonic ms at which foyer got the request */
  seenAt: number;
}

export interface PlymouthRecord {
  status: string;
  mode: string;
  /** system-update's percentage; null until one arrives */
  progress: number | null;
  /** systemd-fsckd's progress while disks are checked; null when none is */
  fsck: FsckdProgress | null;
  newRoot: string | null;
  systemInitialized: boolean;
  deactivated: boolean;
  splashShown: boolean;
  progressPaused: boolean;
  errors: number;
}

export interface PlymouthServerOptions {
  /** '@name' for an abstract socket, else a file system path */
  socket: string;
  /** also listen on PLYMOUTH_LEGACY_SOCKET (for the default socket; see there) */
  legacy: boolean;
  /** "auto": only when no real plymouthd listens; true: always; false: never */
  serve: boolean | "auto";
  /** keep answered passphrases for the cached-passwords command */
  cachePasswords: boolean;
  log: Logger;
  /** a request that stays incomplete this long closes its connection */
  partialTimeoutMs?: number;
  /** written with foyerd's pid once it serves, removed at stop: what systemd takes for a running plymouthd */
  pidFile?: string | null;
  /** why a client's `quit` is not foyer's to obey now (its own recovery terminal, the recovery screen); undefined: obey */
  keepOnQuit?: (pid: number) => string | undefined;
  /**
   * listening sockets handed over by socket activation (see activatedFd), systemd's or the keeper's:
   * `current` for `socket`, `legacy` for PLYMOUTH_LEGACY_SOCKET. A name not handed over is bound here.
   */
  activatedFds?: { current?: number; legacy?: number };
}

/**
 * The fd systemd's socket activation passed under FileDescriptorName=`name` (LISTEN_PID,
 * LISTEN_FDS, LISTEN_FDNAMES; fds from 3), or undefined: packaging/systemd/initrd/foyer-plymouth.socket
 * holds the name from before foyerd starts and across its restarts.
 */
export function activatedFd(env: NodeJS.ProcessEnv, pid: number, name: string): number | undefined {
  if (env.LISTEN_PID !== String(pid)) return undefined;
  const n = Number(env.LISTEN_FDS);
  if (!Number.isInteger(n) || n < 1 || n > 64) return undefined;
  const i = (env.LISTEN_FDNAMES ?? "").split(":").indexOf(name);
  return i >= 0 && i < n ? 3 + i : undefined;
}

interface Conn {
  id: number;
  /** the client's pid as of its connect() (SO_PEERCRED) */
  pid: number;
  sock: Socket;
  rest: Buffer;
  partialTimer?: NodeJS.Timeout;
  /** prompt text → how many times this connection's prompt with that text was answered */
  answered: Map<string, number>;
}

interface Pending extends PlymouthPrompt {
  conn: Conn;
}

interface Watch {
  conn: Conn;
  keys: string;
}

/** Events: "prompts" (PlymouthPrompt[]), "messages" (string[]), "deactivate", "reactivate",
 * "quit" ({ retainSplash }), "newroot" (path). */
export class PlymouthServer extends EventEmitter {
  #o: PlymouthServerOptions;
  #log: Logger;
  #servers: Server[] = [];
  #conns = new Set<Conn>();
  #nextConn = 1;
  #nextKey = PLYMOUTH_KEY_BASE;
  #prompts = new Map<number, Pending>();
  #watches: Watch[] = [];
  #messages: string[] = [];
  #cache: Secret[] = [];
  #quitWaiters: Conn[] = [];
  #refused = new Set<Socket>();
  #refusals = 0;
  /** the addon did not load: every peer is refused */
  #noCredentials = false;
  #credentialsErrorLogged = false;
  #stopped = false;
  #pidWritten?: string;
  readonly record: PlymouthRecord = {
    status: "",
    mode: "",
    progress: null,
    fsck: null,
    newRoot: null,
    systemInitialized: false,
    deactivated: false,
    splashShown: false,
    progressPaused: false,
    errors: 0,
  };

  constructor(o: PlymouthServerOptions) {
    super();
    this.#o = o;
    this.#log = o.log;
  }

  /** true when this server listens on at least one name */
  get serving(): boolean {
    return this.#servers.length > 0;
  }

  get messages(): string[] {
    return [...this.#messages];
  }

  pending(): PlymouthPrompt[] {
    return [...this.#prompts.values()].map(({ key, message, echo, retries, seenAt }) => ({ key, message, echo, retries, seenAt }));
  }

  /** open client connections */
  get connections(): number {
    return this.#conns.size;
  }

  /** watch-keystroke requests held open */
  get keystrokeWatches(): number {
    return this.#watches.length;
  }

  owns(key: number): boolean {
    return key >= PLYMOUTH_KEY_BASE;
  }

  /** Decides whether to serve and listens. Never throws: a Plymouth server foyer cannot run is logged. */
  async start(): Promise<void> {
    await this.#listenAll();
    if (this.serving && this.#o.pidFile) this.#writePid(this.#o.pidFile);
  }

  /**
   * The pid file, replaced atomically (a temp beside it, then rename). Its folder must be root's
   * and writable by root only: foyerd never writes where another uid could put a link.
   */
  #writePid(path: string): void {
    const dir = dirname(path);
    const tmp = `${path}.foyer-${process.pid}`;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      const st = lstatSync(dir);
      if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0) throw new Error(`'${dir}' is not root's folder, writable by root only`);
      const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
      try {
        writeSync(fd, `${process.pid}\n`);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, path);
      this.#pidWritten = path;
      this.#log.info(`wrote ${path}: systemd's Plymouth clients (systemd-fsckd's progress) take foyer for plymouthd`);
    } catch (e) {
      rmSync(tmp, { force: true });
      this.#log.warning(`cannot write ${path}, ignoring: systemd-fsckd will not report progress`, { err: describe(e) });
    }
  }

  /** Removes the pid file if it still names this foyerd (a newer one may have replaced it). */
  #removePid(): void {
    const path = this.#pidWritten;
    if (!path) return;
    this.#pidWritten = undefined;
    try {
      const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
      let text: string;
      try {
        text = readFileSync(fd, "utf8");
      } finally {
        closeSync(fd);
      }
      if (text.trim() === String(process.pid)) unlinkSync(path);
    } catch {
      /* gone already */
    }
  }

  async #listenAll(): Promise<void> {
    const o = this.#o;
    if (o.serve === false) {
      this.#log.info("plymouth protocol server off (profile)");
      return;
    }
    const sockets = this.#loadCredentials();
    // systemd (or foyer's keeper) holds these names for us: nothing to decide for them
    const handed = o.activatedFds ?? {};
    for (const fd of [handed.current, handed.legacy]) {
      if (fd === undefined) continue;
      try {
        setCloexec(fd);
        this.#servers.push(await this.#listen({ fd }));
        this.#log.info(`serving plymouth's protocol on fd ${fd} (socket activation)`);
      } catch (e) {
        this.#log.error(`cannot serve plymouth's protocol on fd ${fd}, ignoring`, { err: describe(e) });
      }
    }
    const names = [...(handed.current === undefined ? [o.socket] : []), ...(o.legacy && handed.legacy === undefined ? [PLYMOUTH_LEGACY_SOCKET] : [])];
    const free: string[] = [];
    for (const name of names) {
      const holder = o.serve === "auto" ? this.#holder(name, sockets) : undefined;
      if (holder === undefined) free.push(name);
      else if (holder !== "unknown" && holder.uid === 0) {
        this.#log.notice(`a plymouthd listens on '${name}': not serving Plymouth's protocol`);
        return;
      } else if (holder === "unknown") this.#log.error(`something listens on '${name}' and whose it is cannot be told: not serving that name`);
      else this.#log.error(`'${name}' is held by uid ${holder.uid} (pid ${holder.pid}), not by plymouthd: not serving that name`);
    }
    for (const name of free) {
      try {
        this.#servers.push(await this.#listen(this.#bind(name, sockets)));
        this.#log.info(`serving plymouth's protocol on '${name}'`);
      } catch (e) {
        this.#log.error(`cannot serve plymouth's protocol on '${name}', ignoring`, { err: describe(e) });
      }
    }
  }

  /** Who listens on `name` already: undefined for nobody; "unknown" when it cannot be told. */
  #holder(name: string, sockets: boolean): PeerCred | "unknown" | undefined {
    if (!name.startsWith("@")) return listening(name) ? "unknown" : undefined;
    if (!sockets) return listening(name) ? "unknown" : undefined;
    try {
      return abstractPeer(name.slice(1), name === PLYMOUTH_LEGACY_SOCKET);
    } catch {
      return "unknown";
    }
  }

  /**
   * Where `name` is listened on: an abstract name with its exact length (the legacy name padded,
   * as old plymouthd bound it), a path as a file. Without the addon Node binds the abstract ones
   * itself, padded, and every client is refused anyway.
   */
  #bind(name: string, sockets: boolean): string | { fd: number } {
    if (!name.startsWith("@")) {
      removeStaleSocket(name);
      return name;
    }
    if (!sockets) return "\0" + name.slice(1);
    return { fd: listenAbstract(name.slice(1), name === PLYMOUTH_LEGACY_SOCKET) };
  }

  /** Whether the sockets addon loaded; without it every client is refused. */
  #loadCredentials(): boolean {
    try {
      loadSockets();
      return true;
    } catch (e) {
      // the names are bound all the same, so no other process can take Plymouth's name, and
      // every client is refused: it fails as against a plymouthd that refuses it
      this.#noCredentials = true;
      this.#credentialsError("every client", e);
      return false;
    }
  }

  #listen(where: string | { fd: number }): Promise<Server> {
    const server = createServer({ allowHalfOpen: false }, (sock) => this.#accept(sock));
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(where, () => {
        server.off("error", reject);
        server.on("error", (e) => this.#log.error("plymouth socket failed", { err: describe(e) }));
        resolve(server);
      });
    });
  }

  #accept(sock: Socket): void {
    if (this.#stopped) return void sock.destroy();
    const id = this.#nextConn++;
    const peer = this.#peer(sock, id);
    if (peer?.uid !== 0) return this.#refuse(sock, id, peer);
    // counted here, not by the server's maxConnections, so refused peers never take root's places
    if (this.#conns.size >= MAX_CONNECTIONS) {
      this.#log.warning(`more than ${MAX_CONNECTIONS} plymouth clients, refusing one`);
      return void sock.destroy();
    }
    const conn: Conn = { id, pid: peer.pid, sock, rest: Buffer.alloc(0), answered: new Map() };
    this.#conns.add(conn);
    sock.on("data", (d: Buffer) => this.#onData(conn, d));
    sock.on("error", (e) => this.#log.debug(`plymouth client ${conn.id}: ${describe(e)}`));
    sock.on("close", () => this.#onClose(conn));
  }

  /** The peer's credentials, or undefined when they cannot be read (the peer is refused then). */
  #peer(sock: Socket, id: number): PeerCred | undefined {
    if (this.#noCredentials) return undefined;
    try {
      return peerCred(sock);
    } catch (e) {
      this.#credentialsError(`client ${id}`, e);
      return undefined;
    }
  }

  #credentialsError(whom: string, e: unknown): void {
    const line = `cannot read plymouth clients' credentials, refusing ${whom}`;
    if (this.#credentialsErrorLogged) return this.#log.debug(line, { err: describe(e) });
    this.#credentialsErrorLogged = true;
    this.#log.error(line, { err: describe(e) });
  }

  /**
   * A peer that is not root (or not known to be): its first whole request is answered NAK and the
   * connection closed; nothing it sends is handled. It holds none of root's connections, and at
   * most REFUSED_GRACE_MS one of MAX_REFUSED places of its own.
   */
  #refuse(sock: Socket, id: number, peer: PeerCred | undefined): void {
    if (this.#refused.size >= MAX_REFUSED) {
      this.#log.debug(`more than ${MAX_REFUSED} refused plymouth clients at once, closing client ${id}`);
      return void sock.destroy();
    }
    this.#refused.add(sock);
    if (peer) {
      this.#refusals += 1;
      const line = `refusing plymouth client ${id}: uid ${peer.uid} (pid ${peer.pid}) is not root`;
      if (this.#refusals <= MAX_REFUSALS_LOGGED) this.#log.warning(line);
      else this.#log.debug(line);
      if (this.#refusals === MAX_REFUSALS_LOGGED) this.#log.warning(`${MAX_REFUSALS_LOGGED} plymouth clients refused, logging further refusals at debug level`);
    }
    const grace = setTimeout(() => sock.destroy(), REFUSED_GRACE_MS);
    grace.unref();
    let rest: Buffer = Buffer.alloc(0);
    let answered = false;
    sock.on("data", (d: Buffer) => {
      if (answered) return;
      const parsed = parseMore(rest, d);
      if (!parsed.ok) return void sock.destroy();
      rest = parsed.rest;
      if (parsed.requests.length === 0) return;
      answered = true;
      sock.end(encodeByte(NAK), () => sock.destroy());
    });
    sock.on("error", (e) => this.#log.debug(`plymouth client ${id}: ${describe(e)}`));
    sock.on("close", () => {
      clearTimeout(grace);
      rest.fill(0);
      this.#refused.delete(sock);
    });
  }

  #onData(conn: Conn, d: Buffer): void {
    const parsed = parseMore(conn.rest, d);
    if (!parsed.ok) {
      this.#log.warning(`plymouth client ${conn.id}: ${parsed.reason}, closing the connection`);
      return void conn.sock.destroy();
    }
    conn.rest = parsed.rest; // shorter than one request (258 bytes) by construction
    clearTimeout(conn.partialTimer);
    conn.partialTimer = undefined;
    if (conn.rest.length > 0) {
      // a request that never completes must not hold a connection (and its buffer) forever
      conn.partialTimer = setTimeout(() => {
        this.#log.warning(`plymouth client ${conn.id}: incomplete request for ${this.#o.partialTimeoutMs ?? 5000} ms, closing the connection`);
        conn.sock.destroy();
      }, this.#o.partialTimeoutMs ?? 5000);
      conn.partialTimer.unref();
    }
    for (const r of parsed.requests) {
      if (conn.sock.destroyed) return;
      try {
        this.#handle(conn, r);
      } catch (e) {
        // one bad request must not take the daemon down: this client loses its connection
        this.#log.error(`plymouth client ${conn.id}: request failed, closing the connection`, { err: describe(e) });
        conn.sock.destroy();
      }
    }
  }

  #reply(conn: Conn, b: Buffer, wipe = false): void {
    if (conn.sock.destroyed || !conn.sock.writable) {
      if (wipe) b.fill(0);
      return;
    }
    if (conn.sock.writableLength > MAX_WRITE_BACKLOG) {
      this.#log.warning(`plymouth client ${conn.id} does not read its replies, closing the connection`);
      if (wipe) b.fill(0);
      return void conn.sock.destroy();
    }
    // the bytes may still be queued when write() returns: zero them once they are written
    conn.sock.write(b, () => wipe && b.fill(0));
  }

  #text(r: Request): string {
    return r.argument?.toString("utf8") ?? "";
  }

  /** systemd-fsckd's progress: kept while a disk is checked, cleared when none is. */
  #fsckProgress(p: FsckdProgress): void {
    const next = p.devices > 0 ? p : null;
    const prev = this.record.fsck;
    if (prev?.devices === next?.devices && prev?.percent === next?.percent) return;
    // a line per disk count and per tenth of the way, not per update
    if (!prev || !next || prev.devices !== next.devices || Math.floor(prev.percent / 10) !== Math.floor(next.percent / 10))
      this.#log.info(next ? `file system check: ${next.percent.toFixed(1)} % on ${next.devices} disk(s)` : "file system check: done");
    this.record.fsck = next;
    this.emit("fsck", next);
  }

  #handle(conn: Conn, r: Request): void {
    const log = this.#log;
    const ack = () => this.#reply(conn, encodeByte(ACK));
    switch (r.name) {
      case "ping":
        return ack();
      case "update": {
        const status = this.#text(r);
        const fsck = parseFsckd(status);
        if (fsck) return (this.#fsckProgress(fsck), ack());
        this.record.status = status;
        log.info(`plymouth status '${status}'`);
        return ack();
      }
      case "changeMode":
        this.record.mode = this.#text(r);
        log.info(`plymouth mode '${this.record.mode}'`);
        return ack();
      case "systemUpdate":
        this.record.progress = parsePercent(this.#text(r));
        log.info(`plymouth progress ${this.record.progress}%`);
        return ack();
      case "systemInitialized":
        this.record.systemInitialized = true;
        log.info("plymouth: system initialized");
        return ack();
      case "error":
        this.record.errors += 1;
        log.info("plymouth: a boot error was reported");
        return ack();
      case "showSplash":
      case "hideSplash":
        this.record.splashShown = r.name === "showSplash";
        log.info(`plymouth: ${r.name === "showSplash" ? "show" : "hide"} splash`);
        return ack();
      case "progressPause":
      case "progressUnpause":
        this.record.progressPaused = r.name === "progressPause";
        return ack();
      case "newRoot":
        this.record.newRoot = this.#text(r);
        log.info(`plymouth: new root '${this.record.newRoot}'`);
        this.emit("newroot", this.record.newRoot);
        return ack();
      case "deactivate":
        this.record.deactivated = true;
        log.info("plymouth: deactivate");
        this.emit("deactivate");
        return ack();
      case "reactivate":
        this.record.deactivated = false;
        log.info("plymouth: reactivate");
        this.emit("reactivate");
        return ack();
      case "quit": {
        const retainSplash = (r.argument?.[0] ?? 0) !== 0;
        log.info(`plymouth: quit${retainSplash ? " --retain-splash" : ""}`);
        if (this.listenerCount("quit") === 0) return ack();
        const keep = this.#o.keepOnQuit?.(conn.pid);
        if (keep) {
          log.info(`plymouth: ${keep}, ignoring the quit`);
          return ack();
        }
        this.#quitWaiters.push(conn);
        this.emit("quit", { retainSplash });
        return;
      }
      case "hasActiveVt":
        return this.#reply(conn, encodeByte(NAK));
      case "showMessage": {
        const m = this.#text(r);
        // fsckd offers Ctrl+C to cancel its checks through a keystroke watch foyer does not
        // keep for it: the offer is not shown
        if (m.startsWith("fsckd-cancel-msg:")) return ack();
        // Plymouth's themes show one message, and an empty one blanks it: systemd ends a
        // "confirm presence on security token" wait so (its hide-message does not work there)
        if (m === "") {
          if (this.#messages.length > 0) {
            this.#messages = [];
            this.emit("messages", this.messages);
          }
          return ack();
        }
        this.#messages = [...this.#messages.filter((x) => x !== m), m].slice(-MAX_MESSAGES);
        log.info(`plymouth message '${m}'`);
        this.emit("messages", this.messages);
        return ack();
      }
      case "hideMessage": {
        const m = this.#text(r);
        const before = this.#messages.length;
        this.#messages = this.#messages.filter((x) => x !== m);
        if (this.#messages.length !== before) this.emit("messages", this.messages);
        return ack();
      }
      case "password":
      case "question":
        return this.#ask(conn, this.#text(r), r.name === "question");
      case "cachedPassword": {
        if (!this.#o.cachePasswords || this.#cache.length === 0) return this.#reply(conn, encodeByte(NO_ANSWER));
        const views = this.#cache.map((s) => s.reveal());
        log.info(`plymouth: cached passwords handed out`, { count: views.length });
        return this.#reply(conn, encodeMultipleAnswers(views), true);
      }
      case "keystroke":
        if (this.#watches.length >= MAX_KEYSTROKE_WATCHES) return this.#reply(conn, encodeByte(NO_ANSWER));
        this.#watches.push({ conn, keys: this.#text(r) });
        return;
      case "keystrokeRemove": {
        const keys = this.#text(r);
        for (const w of this.#watches.filter((x) => x.keys === keys)) this.#reply(w.conn, encodeByte(NO_ANSWER));
        this.#watches = this.#watches.filter((x) => x.keys !== keys);
        return ack();
      }
      case undefined:
        log.warning(`plymouth client ${conn.id}: unknown command 0x${r.byte.toString(16).padStart(2, "0")}, answering NAK`);
        return this.#reply(conn, encodeByte(NAK));
    }
  }

  #ask(conn: Conn, message: string, echo: boolean): void {
    if (this.#prompts.size >= MAX_PROMPTS) {
      this.#log.warning(`more than ${MAX_PROMPTS} plymouth prompts pending, answering NO_ANSWER`);
      return this.#reply(conn, encodeByte(NO_ANSWER));
    }
    const key = this.#nextKey++;
    this.#prompts.set(key, { key, message, echo, retries: conn.answered.get(message) ?? 0, seenAt: Number(process.hrtime.bigint() / 1_000_000n), conn });
    this.#log.info(`plymouth ${echo ? "question" : "password request"} pending`, { key, client: conn.id });
    this.emit("prompts", this.pending());
  }

  /** Answers prompt `key`. The caller wipes `secret`. */
  answer(key: number, secret: Secret): void {
    const p = this.#prompts.get(key);
    if (!p) throw new FoyerError("not-found", `no pending plymouth request ${key}`);
    this.#prompts.delete(key);
    p.conn.answered.set(p.message, (p.conn.answered.get(p.message) ?? 0) + 1);
    const bytes = secret.reveal();
    this.#reply(p.conn, encodeAnswer(bytes), true);
    // only passphrases are cached, as plymouthd does, and only when the profile asks for it
    if (!p.echo && this.#o.cachePasswords) this.#cache.push(Secret.copyOf(bytes));
    this.#log.info(`plymouth ${p.echo ? "question" : "password request"} answered`, { key });
    this.emit("prompts", this.pending());
  }

  /** The greeter declined: NO_ANSWER, which makes the client fall back to asking on its terminal. */
  cancel(key: number): void {
    const p = this.#prompts.get(key);
    if (!p) throw new FoyerError("not-found", `no pending plymouth request ${key}`);
    this.#prompts.delete(key);
    this.#reply(p.conn, encodeByte(NO_ANSWER));
    this.#log.info("plymouth prompt cancelled", { key });
    this.emit("prompts", this.pending());
  }

  #onClose(conn: Conn): void {
    clearTimeout(conn.partialTimer);
    conn.rest.fill(0);
    this.#conns.delete(conn);
    this.#watches = this.#watches.filter((w) => w.conn !== conn);
    let dropped = false;
    for (const [key, p] of this.#prompts) {
      if (p.conn === conn) {
        this.#prompts.delete(key);
        dropped = true;
      }
    }
    if (dropped) {
      this.#log.info(`plymouth client ${conn.id} went away with a prompt pending`);
      if (!this.#stopped) this.emit("prompts", this.pending());
    }
  }

  /** Acknowledges pending quits, answers what is pending with NO_ANSWER, closes everything. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#removePid();
    for (const c of this.#quitWaiters) this.#reply(c, encodeByte(ACK));
    for (const p of this.#prompts.values()) this.#reply(p.conn, encodeByte(NO_ANSWER));
    for (const w of this.#watches) this.#reply(w.conn, encodeByte(NO_ANSWER));
    this.#prompts.clear();
    this.#watches = [];
    for (const s of this.#cache) s.wipe();
    this.#cache = [];
    const closing = this.#servers.map((s) => new Promise<void>((r) => s.close(() => r())));
    // end(): the replies above are flushed before the close; destroy whatever lingers after 1 s
    for (const c of this.#conns) c.sock.end();
    for (const s of this.#refused) s.destroy();
    const linger = setTimeout(() => this.#conns.forEach((c) => c.sock.destroy()), 1000);
    linger.unref();
    await Promise.all(closing);
    clearTimeout(linger);
    this.#servers = [];
  }
}

/** The requests in `rest` and then `d`. The bytes are zeroed: they may hold a password prompt's text or a keystroke list, and nothing else keeps them. */
function parseMore(rest: Buffer, d: Buffer): ReturnType<typeof parseRequests> {
  const buf = rest.length ? Buffer.concat([rest, d]) : d;
  const parsed = parseRequests(buf);
  buf.fill(0);
  return parsed;
}

/** The lines of /proc/net/unix for listening sockets: their paths ('@' for abstract; NULs shown as '@'). */
function listeners(): string[] {
  let text: string;
  try {
    text = readFileSync("/proc/net/unix", "latin1");
  } catch {
    return []; // no /proc: nothing known to listen
  }
  const out: string[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    // Num RefCount Protocol Flags Type St Inode Path; __SO_ACCEPTCON (0x10000) marks a listener
    if (f.length < 8 || (parseInt(f[3]!, 16) & 0x10000) === 0) continue;
    out.push(f.slice(7).join(" "));
  }
  return out;
}

/** Does anything listen on `name`, with its exact length or padded with NULs (old plymouthd, libuv 1.46)? */
export function listening(name: string): boolean {
  return listeners().some((p) => p === name || (name.startsWith("@") && p.startsWith(name) && /^@*$/.test(p.slice(name.length))));
}

function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    /* absent: fine */
  }
}
