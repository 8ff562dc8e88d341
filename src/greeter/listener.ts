// The greeter server's socket and tokens, without the server: what foyerd needs to launch the
// greeter before the rest of the daemon (ws, sirv, the supervisor) has loaded. It listens on
// 127.0.0.1 at once and holds every request and WebSocket upgrade that arrives until the server
// attaches its handlers (src/greeter/server.ts), so a browser that is quicker than foyerd's
// loading waits instead of meeting a refused connection.
//
// Who may connect at all: root and the greeter's user. Every TCP connection is checked before a
// byte of it is read: the uid owning the client's socket, asked of the kernel by the connection's
// four-tuple (base/sockets.ts), must be one of those; anything else is closed. Which page may act: one with a token. The boot's is in greeter-url
// (root's, 0600); each greeter launch has one of its own, which its page fetches (POST /session,
// server.ts) instead of finding it on its browser's command line, where every user could read it.
import { createServer, type IncomingMessage, type ServerResponse, type Server } from "node:http";
import type { Socket } from "node:net";
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { Duplex } from "node:stream";
import { FoyerError, describe } from "../base/errors.js";
import { tcpClientUid, tcpOwnerSource } from "../base/sockets.js";

/** what a launch's token takes with it when it is revoked: the connections made with it */
export interface Closable {
  close(code: number, reason: string): void;
}

/** a greeter makes a handful of requests at its start; more before the server is there are dropped */
const MAX_HELD = 64;
/** a browser opens a few connections per origin; the greeter's and a test's together stay far below */
const MAX_CONNECTIONS = 64;

/** What the listener says of a refused connection (once per uid: a loop of them must not flood the log). */
export type RefusalLog = (uid: number | undefined, why: string) => void;

export interface ListenerHandlers {
  request: (req: IncomingMessage, res: ServerResponse) => void;
  upgrade: (req: IncomingMessage, sock: Duplex, head: Buffer) => void;
}

export class GreeterListener {
  readonly http: Server;
  #port: number;
  /** the per-boot token (greeter-url); each launch has one of its own */
  readonly bootToken = randomBytes(32).toString("base64url");
  readonly launches = new Map<string, Set<Closable>>();
  #held: (() => void)[] | undefined = [];

  private constructor(http: Server, port: number, peers: Set<number>, refused: RefusalLog, warn: (line: string) => void) {
    this.http = http;
    this.#port = port;
    this.peers = peers;
    this.#refused = refused;
    this.#warn = warn;
  }

  /** The uid behind `sock`, when it is one of `peers`; else the socket is destroyed (fails closed: no answer is a refusal). */
  #admit(sock: Socket): void {
    let uid: number | undefined;
    let why = "";
    try {
      if (!this.#sourceSaid && tcpOwnerSource(sock) !== "sock_diag") {
        this.#sourceSaid = true;
        this.#warn(
          "the kernel has no sock_diag for TCP (modules inet_diag, tcp_diag): each connection's owner is read from /proc/net/tcp, which another user can make slow to read",
        );
      }
      uid = tcpClientUid(sock);
      if (uid === undefined) why = "the kernel knows no live socket for it";
    } catch (e) {
      why = `the kernel cannot be asked whose it is (${describe(e)})`;
    }
    if (uid !== undefined && this.peers.has(uid)) return;
    sock.destroy();
    this.#refused(uid, why || `uid ${uid} is neither root nor the greeter's`);
  }

  /** uids whose connections are served; every other connection is closed unread */
  readonly peers: ReadonlySet<number>;
  #refused: RefusalLog;
  #warn: (line: string) => void;
  #sourceSaid = false;

  /** Listens on 127.0.0.1:`port` (0: any free port), serving connections from `peers` only (root is always one). */
  static async open(port: number, o: { peers: number[]; refused: RefusalLog; warn?: (line: string) => void }): Promise<GreeterListener> {
    const http = createServer({ requestTimeout: 10_000, headersTimeout: 10_000 });
    http.maxConnections = MAX_CONNECTIONS;
    const self = new GreeterListener(http, port, new Set([0, ...o.peers]), o.refused, o.warn ?? (() => {}));
    http.on("connection", (sock: Socket) => self.#admit(sock));
    http.on("request", (req: IncomingMessage, res: ServerResponse) =>
      self.#hand(
        () => self.#handlers!.request(req, res),
        () => res.destroy(),
      ),
    );
    http.on("upgrade", (req: IncomingMessage, sock: Duplex, head: Buffer) =>
      self.#hand(
        () => self.#handlers!.upgrade(req, sock, head),
        () => sock.destroy(),
      ),
    );
    http.on("clientError", (_e, sock) => sock.destroy());
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject);
      http.listen(port, "127.0.0.1", () => resolve());
    });
    const addr = http.address();
    if (!addr || typeof addr === "string") throw new FoyerError("internal", "greeter server has no TCP address");
    self.#port = addr.port;
    return self;
  }

  /** Runs `run` now, or holds it until attach(); past MAX_HELD held, `drop` (a local flood is not kept). */
  #hand(run: () => void, drop: () => void): void {
    if (!this.#held) run();
    else if (this.#held.length < MAX_HELD) this.#held.push(run);
    else drop();
  }

  #handlers?: ListenerHandlers;

  /** The server's handlers; what arrived before them is handed over now, in order. */
  attach(h: ListenerHandlers): void {
    this.#handlers = h;
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const run of held) run();
  }

  get port(): number {
    return this.#port;
  }

  get origin(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /**
   * The URL for one greeter launch: no secret in it (a browser's command line is every user's to
   * read). The launch's own token is what its page gets from session(); revoke it when that
   * greeter exits.
   */
  launchUrl(): { url: string; revoke: () => void } {
    const t = randomBytes(32).toString("base64url");
    this.launches.set(t, new Set());
    this.#current = t;
    // a page of a greeter that has exited may still run for a moment (its browser dies after its
    // compositor): what it sends must not count for the next launch, so its socket closes too
    const revoke = () => {
      for (const c of this.launches.get(t) ?? []) c.close(4001, "greeter launch ended");
      this.launches.delete(t);
      if (this.#current === t) this.#current = undefined;
    };
    return { url: `${this.origin}/`, revoke };
  }
  #current?: string;

  /** The live launch's token, for its page (POST /session: the connection is root's or the greeter's); undefined between launches. */
  session(): string | undefined {
    return this.#current;
  }

  /** The token `given` matches (the boot's or a live launch's), compared in constant time; undefined if none. */
  tokenOf(given: Buffer): string | undefined {
    const same = (t: string) => {
      const want = Buffer.from(t);
      return given.length === want.length && timingSafeEqual(given, want);
    };
    if (same(this.bootToken)) return this.bootToken;
    for (const t of this.launches.keys()) if (same(t)) return t;
    return undefined;
  }
}

/**
 * The launch URL the display stack asks for at each greeter start, and the revoke of the latest:
 * the supervisor takes it when that greeter exits. One per daemon, shared by the first launch and
 * the supervisor that adopts it.
 */
export class LaunchTokens {
  /** revokes the token of the latest launch */
  latest?: () => void;
  constructor(private source: () => { launchUrl(): { url: string; revoke: () => void } }) {}

  next(): string {
    this.latest?.();
    const l = this.source().launchUrl();
    this.latest = l.revoke;
    return l.url;
  }
}
