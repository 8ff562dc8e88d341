// foyer's prompt in the splash, before the greeter has painted. cage gives the keyboard to the
// newest window, which is the splash (src/native/splash.c) while the browser loads; the splash
// reads each key with the compositor's keymap and sends it here as the console's raw bytes, over
// a socket in root's runtime folder that only the greeter's uid may use. The bytes go into the
// same editor as the console's prompt (prompt-editor.ts), and the prompt is drawn into the
// splash's frame. A passphrase submitted here answers the request at once; one still being typed
// when the page paints is taken out (take()) so that the page goes on from it.
import { chmodSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { describe } from "../base/errors.js";
import { peerCred } from "../base/sockets.js";
import { wipeAll } from "../base/secret.js";
import type { Logger } from "../base/log.js";
import type { FrameView } from "../display/frame-render.js";
import { PromptEditor, type ConsoleRequest, type FallbackReplies, type Typed } from "./prompt-editor.js";

const CAPS_ON = 0x11,
  CAPS_OFF = 0x12;
/** a new frame is at most this often: a peer that floods keys gets one render per gap, not one per read */
const DRAW_GAP_MS = 15;

export interface SplashPromptOptions {
  /** the socket's path, in root's runtime folder */
  path: string;
  /** the greeter's uid: the splash runs as it; every other peer is refused */
  uid: number;
  replies: FallbackReplies;
  log: Logger;
  /** draws a view into the splash's frame file (display/splash.ts) */
  draw: (view: FrameView) => void;
  /** nothing more to draw until a splash connects again: what drawing holds (the fonts) may go */
  idle?: () => void;
  layout: string;
}

export class SplashPrompt {
  #server: Server;
  #conn?: Socket;
  #editor: PromptEditor;
  #view?: FrameView;
  #timer?: NodeJS.Timeout;
  /** the page has painted: nothing is drawn until a splash connects again (a restarted greeter's) */
  #quiet = false;
  #refused = new Set<number>();
  /** the prompt was drawn for the splash connected now: said once each */
  #asked = false;

  constructor(private o: SplashPromptOptions) {
    this.#editor = new PromptEditor(o.replies, o.log, { layout: o.layout, draw: (v) => this.#draw(v) });
    this.#server = createServer((sock) => this.#accept(sock));
    this.#server.maxConnections = 4;
    this.#server.on("error", (e) => o.log.warning("the splash's socket failed", { err: describe(e) }));
  }

  /** Listens; the socket is made anew (root's folder: nobody else can have put anything there). */
  async start(pending: ConsoleRequest[]): Promise<void> {
    rmSync(this.o.path, { force: true });
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(this.o.path, () => {
        this.#server.off("error", reject);
        resolve();
      });
    });
    // anyone may connect; the peer's uid decides (#accept)
    chmodSync(this.o.path, 0o666);
    this.#editor.update(pending);
  }

  #accept(sock: Socket): void {
    let uid: number | undefined;
    try {
      uid = peerCred(sock).uid;
    } catch {
      uid = undefined;
    }
    if (uid !== this.o.uid) {
      sock.destroy();
      const key = uid ?? -1;
      if (!this.#refused.has(key)) this.o.log.warning("refusing a connection to the splash's socket: not the greeter's uid", { uid: uid ?? null });
      this.#refused.add(key);
      return;
    }
    // one splash at a time: a new one (a restarted greeter's) replaces the last
    this.#conn?.destroy();
    this.#conn = sock;
    this.#quiet = false;
    this.#asked = false;
    sock.on("data", (d: Buffer) => {
      try {
        if (sock === this.#conn) this.#feed(d);
      } finally {
        wipeAll(d);
      }
    });
    sock.on("error", () => {});
    sock.on("close", () => {
      if (this.#conn === sock) this.#conn = undefined;
    });
    this.o.log.info("the splash takes keys");
    this.#editor.draw();
  }

  /** The splash's bytes: caps lock's changes taken out, the rest to the editor. */
  #feed(d: Buffer): void {
    let from = 0;
    for (let i = 0; i < d.length; i++) {
      if (d[i] !== CAPS_ON && d[i] !== CAPS_OFF) continue;
      if (i > from) this.#editor.feed(d.subarray(from, i));
      this.#editor.capsLock = d[i] === CAPS_ON;
      from = i + 1;
    }
    if (from < d.length) this.#editor.feed(d.subarray(from));
  }

  #draw(view: FrameView): void {
    if (this.#quiet) return;
    this.#view = view;
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      const v = this.#view;
      this.#view = undefined;
      if (!v || this.#quiet) return;
      try {
        this.o.draw(v);
        this.#conn?.write("f");
        if (v.kind === "prompt" && this.#conn && !this.#asked) {
          this.#asked = true;
          this.o.log.info("foyer's frame asks, in the splash");
        }
      } catch (e) {
        this.o.log.warning("cannot draw the prompt into the splash's frame", { err: describe(e) });
      }
    }, DRAW_GAP_MS);
  }

  update(prompts: ConsoleRequest[]): void {
    this.#editor.update(prompts);
  }

  /**
   * The page has painted and takes the keys from now on: what is typed for the current request
   * is taken out for it, and the splash (which leaves) is heard no more; a splash that connects
   * after this is a new launch's.
   */
  take(): Typed | undefined {
    this.#quiet = true;
    // its connection stays open, unheard, until the splash sees the marker and leaves: closed here,
    // the splash would connect again and be taken for a new one
    this.#conn = undefined;
    this.o.idle?.();
    return this.#editor.take();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#conn?.destroy();
    this.#server.close();
    this.#editor.clear();
    rmSync(this.o.path, { force: true });
  }
}
