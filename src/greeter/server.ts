// The greeter's local server: static UI files (sirv), the launch's session (POST /session) and
// one WebSocket endpoint (ws), on 127.0.0.1 only, for root and the greeter's user only (the
// listener checks every connection's uid, listener.ts). Every WebSocket upgrade must carry a
// token (the boot's, or the live launch's) and come from the greeter's own origin, and every
// frame is validated (src/protocol). What a peer can make foyerd hold is bounded: a few clients,
// and a client that does not read what it is sent is closed before its backlog grows.
import { writeFileSync, renameSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket, type RawData } from "ws";
import sirv from "sirv";
import { ClientMessage, FRAME_TERMINAL, MAX_FRAME_BYTES, decodeFrame, type ServerMessage, type StateMessage } from "../protocol/greeter.js";
import "../base/schema-messages.js";
import { Secret, wipeAll } from "../base/secret.js";
import { describe, FoyerError } from "../base/errors.js";
import type { Logger } from "../base/log.js";
import { GreeterListener } from "./listener.js";

export interface GreeterServerOptions {
  assetsDir: string;
  uiDir: string;
  port: number;
  /** a listener opened before the server (the greeter launched first, src/supervisor/first-launch.ts); else start() opens one on `port` */
  listener?: GreeterListener;
  log: Logger;
  /** root's file for the full URL (foyerctl, the demo): written 0600 and replaced whole once the server listens */
  urlFile?: string;
  /** the current full state, sent to every client on connect */
  snapshot: () => StateMessage;
  /** the page is interactive: it painted the prompt `paintedMsAgo` ms ago */
  onReady: (paintedMsAgo: number) => void;
  onAnswer: (key: number, secret: Secret, kept: number) => void;
  onCancel: (key: number) => void;
  onClients: (count: number) => void;
  /** flow messages other than the unlock ones (recovery actions, terminal control) */
  onMessage?: (client: GreeterClient, m: ClientMessage) => void;
  /** terminal keystrokes from a client (binary frame 0x02) */
  onTerminalInput?: (client: GreeterClient, bytes: Buffer) => void;
  onDisconnect?: (client: GreeterClient) => void;
  /** a first-boot password (binary frame 0x03; field 1 user, 2 root); the callee copies, the frame is zeroed after */
  onFirstbootPassword?: (field: number, secret: Secret) => void;
}

/** One connected greeter. */
export type GreeterClient = WebSocket;

const MAX_BAD_FRAMES = 64; // a client that keeps sending garbage is disconnected
/** the greeter's page is one client (two for a moment while it reloads); tests add a few */
export const MAX_CLIENTS = 16;
/**
 * what may wait to be written to one client: a full state with the recovery journal is up to
 * ~200 KB, the terminal's frames in flight are bounded by its own flow control (terminal.ts)
 */
export const MAX_BACKLOG_BYTES = 4 << 20;
/** POST /session's body: a token (43 characters) or nothing */
const MAX_SESSION_BODY = 256;

export class GreeterServer {
  #o: GreeterServerOptions;
  /** the socket and the tokens (the boot's; one per greeter launch, ending with its connections) */
  #l?: GreeterListener;
  #wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false, clientTracking: true });

  constructor(o: GreeterServerOptions) {
    this.#o = o;
    this.#l = o.listener;
  }

  #listener(): GreeterListener {
    if (!this.#l) throw new FoyerError("internal", "the greeter server is not listening yet");
    return this.#l;
  }

  get port(): number {
    return this.#l?.port ?? 0;
  }
  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  /** The full greeter URL, the boot's token included: root's alone (greeter-url, 0600). Never log it. */
  get url(): string {
    return `${this.origin}/#token=${this.#listener().bootToken}`;
  }

  get clients(): number {
    return this.#wss.clients.size;
  }

  async start(): Promise<void> {
    const ui = sirv(this.#o.uiDir, { dev: false, etag: true });
    const assets = sirv(this.#o.assetsDir, { dev: false, etag: true });
    this.#l ??= await GreeterListener.open(this.#o.port, {
      peers: [],
      refused: (uid, why) => this.#o.log.warning(`refusing a connection to the greeter's server: ${why}`, { uid: uid ?? null }),
    });
    this.#l.attach({ request: (req, res) => this.#serve(req, res, ui, assets), upgrade: (req, sock, head) => this.#upgrade(req, sock, head) });
    this.#o.log.info("greeter server listening", { address: `127.0.0.1:${this.#l.port}` });
    if (this.#o.urlFile) {
      writeFileSync(`${this.#o.urlFile}.tmp`, this.url + "\n", { mode: 0o600 });
      renameSync(`${this.#o.urlFile}.tmp`, this.#o.urlFile);
    }
  }

  #hostOk(req: IncomingMessage): boolean {
    // DNS rebinding: a page from elsewhere that resolves to 127.0.0.1 still sends its own Host
    return req.headers.host === `127.0.0.1:${this.port}` || req.headers.host === `localhost:${this.port}`;
  }

  #originOk(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    return origin === this.origin || origin === `http://localhost:${this.port}`;
  }

  #serve(req: IncomingMessage, res: ServerResponse, ui: ReturnType<typeof sirv>, assets: ReturnType<typeof sirv>): void {
    if (req.method === "POST" && req.url === "/session") return this.#session(req, res);
    if (!this.#hostOk(req) || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(403).end();
      return;
    }
    // sandbox without allow-popups, allow-modals or allow-downloads: even a script of the page
    // (with a person's keystroke as its user gesture) opens no window, print dialog or download
    // in the kiosk; its own origin stays (allow-same-origin), as the WebSocket's Origin check needs
    res.setHeader(
      "Content-Security-Policy",
      `default-src 'self'; connect-src 'self' ws://127.0.0.1:${this.port} ws://localhost:${this.port}; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox allow-scripts allow-same-origin allow-forms`,
    );
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Referrer-Policy", "no-referrer");
    res.setHeader("Cache-Control", "no-store");
    if (req.url?.startsWith("/ui/")) {
      req.url = req.url.slice(3);
      ui(req, res, () => void res.writeHead(404).end());
      return;
    }
    assets(req, res, () => void res.writeHead(404).end());
  }

  /**
   * A page's token and the state to paint before its socket opens. The live launch's page has no
   * token in its URL and sends an empty body: it gets the launch's. A page with one (root's URL)
   * sends it as the body: it gets the state if the token is good. The connection is root's or the
   * greeter's (the listener saw to it), and the request the page's own (Host, Origin).
   */
  #session(req: IncomingMessage, res: ServerResponse): void {
    res.setHeader("Cache-Control", "no-store");
    if (!this.#hostOk(req) || !this.#originOk(req)) return void res.writeHead(403).end();
    const json = { "Content-Type": "application/json" };
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (d: Buffer) => {
      size += d.length;
      if (size <= MAX_SESSION_BODY) return void chunks.push(d);
      // no more of it is read: the answer, then the connection goes
      req.pause();
      if (!res.headersSent) res.writeHead(413, { ...json, Connection: "close" }).end('{"error":"the body is a token, nothing longer"}', () => req.destroy());
    });
    req.on("end", () => {
      if (size > MAX_SESSION_BODY) return;
      const body = Buffer.concat(chunks);
      const given = body.length > 0;
      const token = given ? this.#listener().tokenOf(body) : this.#listener().session();
      if (token === undefined)
        return void res.writeHead(given ? 403 : 404, json).end(JSON.stringify({ error: given ? "not a live token" : "no greeter launch is live" }));
      res.writeHead(200, json).end(JSON.stringify({ token, state: this.#o.snapshot() }));
    });
    req.on("error", () => res.destroy());
  }

  /** The token a WebSocket upgrade carries, if it is the boot's or a live launch's; undefined otherwise. */
  #tokenOf(req: IncomingMessage): string | undefined {
    const u = new URL(req.url ?? "/", "http://x");
    if (u.pathname !== "/ws") return undefined;
    return this.#listener().tokenOf(Buffer.from(u.searchParams.get("token") ?? ""));
  }

  #upgrade(req: IncomingMessage, sock: Duplex, head: Buffer): void {
    sock.on("error", () => sock.destroy());
    const token = this.#tokenOf(req);
    if (!this.#hostOk(req) || !this.#originOk(req) || token === undefined) {
      this.#o.log.warning("refusing greeter connection: bad token, origin or host", {
        tokenPresent: (req.url ?? "").includes("token="),
        originPresent: req.headers.origin !== undefined,
      });
      sock.end("HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    if (this.#wss.clients.size >= MAX_CLIENTS) {
      this.#o.log.warning(`refusing greeter connection: ${MAX_CLIENTS} clients are connected`);
      sock.end("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    this.#wss.handleUpgrade(req, sock, head, (ws) => {
      const l = this.#listener();
      if (token !== l.bootToken) {
        // revoked while the upgrade was under way: too late to join
        const pages = l.launches.get(token);
        if (!pages) return ws.close(4001, "greeter launch ended");
        pages.add(ws);
        ws.on("close", () => pages.delete(ws));
      }
      this.#connected(ws);
    });
  }

  #connected(ws: WebSocket): void {
    const log = this.#o.log;
    let bad = 0;
    log.info("greeter connected", { clients: this.#wss.clients.size });
    this.#o.onClients(this.#wss.clients.size);
    ws.on("error", (e) => log.warning("greeter connection error, closing", { err: describe(e) }));
    ws.on("close", () => {
      this.#o.onDisconnect?.(ws);
      log.info("greeter disconnected", { clients: this.#wss.clients.size });
      this.#o.onClients(this.#wss.clients.size);
    });
    const reject = (code: string, message: string) => {
      bad++;
      log.warning(`ignoring greeter frame: ${message}`);
      this.#send(ws, { type: "error", code, message });
      if (bad >= MAX_BAD_FRAMES) ws.close(1008, "too many bad frames");
    };
    ws.on("message", (data: RawData, isBinary: boolean) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer);
      try {
        if (isBinary) {
          const f = decodeFrame(buf);
          if (!f.ok) return reject("protocol-error", f.reason);
          if (f.kind === "terminal") {
            this.#o.onTerminalInput?.(ws, buf.subarray(f.start));
            return;
          }
          if (f.kind === "firstboot_password") {
            if (!this.#o.onFirstbootPassword) return reject("unsupported", "first-boot passwords are not expected");
            const pw = Secret.copyOf(buf, f.start);
            try {
              this.#o.onFirstbootPassword(f.field, pw);
            } finally {
              pw.wipe();
            }
            return;
          }
          const secret = Secret.copyOf(buf, f.start);
          try {
            this.#o.onAnswer(f.key, secret, f.kept);
          } finally {
            secret.wipe();
          }
          return;
        }
        let raw: unknown;
        try {
          raw = JSON.parse(buf.toString("utf8"));
        } catch {
          return reject("protocol-error", "not valid JSON");
        }
        const m = ClientMessage.safeParse(raw);
        if (!m.success)
          return reject("protocol-error", `not a valid message (${m.error.issues[0]?.path.join(".") || "<root>"}: ${m.error.issues[0]?.message ?? "invalid"})`);
        switch (m.data.type) {
          case "hello":
            this.#sendState(ws);
            return;
          case "ready":
            this.#o.onReady(m.data.paintedMsAgo ?? 0);
            return;
          case "cancel":
            this.#o.onCancel(m.data.key);
            return;
          default:
            if (!this.#o.onMessage) return reject("unsupported", `'${m.data.type}' is not available`);
            this.#o.onMessage(ws, m.data);
            return;
        }
      } catch (e) {
        const code = e instanceof FoyerError ? e.code : "internal";
        if (code === "internal") log.error("greeter message failed", { err: e instanceof Error ? e.stack : String(e) });
        this.#send(ws, { type: "error", code, message: e instanceof FoyerError ? e.message : "internal error" });
      } finally {
        if (isBinary) wipeAll(buf); // the frame held passphrase bytes
      }
    });
    this.#sendState(ws);
  }

  #send(ws: WebSocket, m: ServerMessage): void {
    this.#write(ws, JSON.stringify(m));
  }

  /**
   * Queues `data` for `ws`, unless its backlog would pass MAX_BACKLOG_BYTES: a client that does not
   * read is closed (at once: its queue goes with it), so no peer grows foyerd by not reading.
   */
  #write(ws: WebSocket, data: string | Buffer, done?: () => void): void {
    if (ws.readyState !== ws.OPEN) return void done?.();
    if (ws.bufferedAmount + data.length > MAX_BACKLOG_BYTES) {
      this.#o.log.warning("greeter client does not read what it is sent, closing it", { backlogBytes: ws.bufferedAmount });
      ws.terminate();
      return void done?.();
    }
    ws.send(data, { binary: typeof data !== "string" }, () => done?.());
  }

  /** Terminal output to one client; `done` runs when the frame left for the socket (flow control). */
  sendTerminal(ws: GreeterClient, bytes: Buffer, done: () => void): void {
    const frame = Buffer.allocUnsafe(bytes.length + 1);
    frame[0] = FRAME_TERMINAL;
    bytes.copy(frame, 1);
    this.#write(ws, frame, done);
  }

  send(ws: GreeterClient, m: ServerMessage): void {
    this.#send(ws, m);
  }

  /** The state changed: every client gets the new one (coalesced for a slow one, #sendState). */
  stateChanged(): void {
    let text: string | undefined;
    for (const ws of this.#wss.clients) this.#sendState(ws, () => (text ??= JSON.stringify(this.#o.snapshot())));
  }

  /**
   * The full state to `ws`. Each state replaces the one before, so a client that has not taken
   * the last one yet (still in its socket) is not queued another: it gets the latest once the
   * last has left. A slow page costs one state, not one per change.
   */
  #sendState(ws: WebSocket, text = () => JSON.stringify(this.#o.snapshot())): void {
    let f = this.#stateFlow.get(ws);
    if (!f) this.#stateFlow.set(ws, (f = { busy: false, dirty: false }));
    if (f.busy) {
      f.dirty = true;
      return;
    }
    f.busy = true;
    f.dirty = false;
    this.#write(ws, text(), () => {
      f.busy = false;
      if (f.dirty) this.#sendState(ws);
    });
  }
  #stateFlow = new WeakMap<WebSocket, { busy: boolean; dirty: boolean }>();

  /** Closes every connection and the listener; nothing listens afterwards. */
  async stop(): Promise<void> {
    for (const ws of this.#wss.clients) ws.terminate();
    this.#wss.close();
    const http = this.#l?.http;
    await new Promise<void>((resolve) => (http?.listening ? http.close(() => resolve()) : resolve()));
    http?.closeAllConnections();
  }
}
