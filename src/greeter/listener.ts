// The greeter server's socket and tokens, without the server: what foyerd needs to launch the
// greeter before the rest of the daemon (ws, sirv, the supervisor) has loaded. It listens on
// 127.0.0.1 at once and holds every request and WebSocket upgrade that arrives until the server
// attaches its handlers (src/greeter/server.ts), so a browser that is quicker than foyerd's
// loading waits instead of meeting a refused connection.
import { createServer, type IncomingMessage, type ServerResponse, type Server } from "node:http";
import { randomBytes, timingSafeEqual } from "node:crypto";
import type { Duplex } from "node:stream";
import { FoyerError } from "../base/errors.js";

/** what a launch's token takes with it when it is revoked: the connections made with it */
export interface Closable {
  close(code: number, reason: string): void;
}

/** a greeter makes a handful of requests at its start; more before the server is there are dropped */
const MAX_HELD = 64;

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

  private constructor(http: Server, port: number) {
    this.http = http;
    this.#port = port;
  }

  /** Listens on 127.0.0.1:`port` (0: any free port). */
  static async open(port: number): Promise<GreeterListener> {
    const http = createServer();
    const self = new GreeterListener(http, port);
    http.on("request", (req: IncomingMessage, res: ServerResponse) => self.#hand(() => self.#handlers!.request(req, res), () => res.destroy()));
    http.on("upgrade", (req: IncomingMessage, sock: Duplex, head: Buffer) => self.#hand(() => self.#handlers!.upgrade(req, sock, head), () => sock.destroy()));
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
   * A URL for one greeter launch, with a token of its own. Revoke it when that greeter exits:
   * a browser writes its URL to its log, and a logged token must not outlive its process.
   */
  launchUrl(): { url: string; revoke: () => void } {
    const t = randomBytes(32).toString("base64url");
    this.launches.set(t, new Set());
    // a page of a greeter that has exited may still run for a moment (its browser dies after its
    // compositor): what it sends must not count for the next launch, so its socket closes too
    const revoke = () => {
      for (const c of this.launches.get(t) ?? []) c.close(4001, "greeter launch ended");
      this.launches.delete(t);
    };
    return { url: `${this.origin}/#token=${t}`, revoke };
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
