// Chromium's reserved accelerators, taken away on X. No policy or flag stops Ctrl+T, Ctrl+N,
// Ctrl+W, Shift+Esc, Alt+F4 … in --kiosk, and a page cannot cancel them: they open tabs and
// windows over the greeter, the task manager, or close the browser (test/robust/kiosk-x11). Without a window manager nobody
// else takes them, so foyer does what a window manager would: a passive grab (GrabKey) on the
// root window for each combination. The X server then delivers those key presses to us, before
// any window under the root sees them; we read and drop them.
//
// A few hundred lines of Xlib are not worth a native addon: this speaks the core protocol over
// the display's unix socket (connection setup with the X server's cookie, GetKeyboardMapping,
// GrabKey, UngrabKey), and grabs again when the keymap changes (setxkbmap sends MappingNotify to
// every client).
import { createConnection, type Socket } from "node:net";
import type { Logger } from "../base/log.js";
import { secretBuffer } from "../base/secret.js";
import { COOKIE_PROTOCOL } from "./xauth.js";

// modifier masks of the core protocol
const SHIFT = 1,
  LOCK = 2,
  CONTROL = 4,
  MOD1 = 8,
  MOD2 = 16;
// keysyms (X11/keysymdef.h)
const K = {
  Tab: 0xff09,
  Escape: 0xff1b,
  Delete: 0xffff,
  Home: 0xff50,
  Prior: 0xff55,
  Next: 0xff56,
  F1: 0xffbe,
  F4: 0xffc1,
  F11: 0xffc8,
  BrowserBack: 0x1008ff26,
  BrowserForward: 0x1008ff27,
  BrowserHome: 0x1008ff18,
  BrowserSearch: 0x1008ff1b,
} as const;
const letter = (c: string) => c.charCodeAt(0); // latin keysyms are their code points

/**
 * The combinations taken from chromium: those it reserves for itself (a page cannot cancel them)
 * and that open something over the greeter (a tab, a window, the task manager), leave it, or
 * close the browser. Chromium's other accelerators (Ctrl+H, Ctrl+U, F12 …) reach the page first,
 * and the greeter cancels them there (src/ui/kiosk-keys.ts): grabbing them here would also take
 * them from the recovery terminal, where Ctrl+D, Ctrl+U or Ctrl+R mean what a shell means.
 * F1 is taken here too: pressed just after the browser started, before its page had the focus, it
 * opened chromium's help in a tab over a greeter that stayed connected (test/robust/kiosk-x11 in a
 * fresh-clone CI, 2026-11-30); no shell needs it.
 */
export const GRABBED: { mods: number; keysym: number; name: string }[] = [
  ...["t", "n", "w", "q"].map((c) => ({ mods: CONTROL, keysym: letter(c), name: `Ctrl+${c.toUpperCase()}` })),
  ...["t", "n", "w", "q"].map((c) => ({ mods: CONTROL | SHIFT, keysym: letter(c), name: `Ctrl+Shift+${c.toUpperCase()}` })),
  ...["1", "2", "3", "4", "5", "6", "7", "8", "9"].map((c) => ({ mods: CONTROL, keysym: letter(c), name: `Ctrl+${c}` })),
  { mods: CONTROL | SHIFT, keysym: K.Delete, name: "Ctrl+Shift+Delete" },
  { mods: CONTROL, keysym: K.Tab, name: "Ctrl+Tab" },
  { mods: CONTROL | SHIFT, keysym: K.Tab, name: "Ctrl+Shift+Tab" },
  { mods: CONTROL, keysym: K.Prior, name: "Ctrl+PageUp" },
  { mods: CONTROL, keysym: K.Next, name: "Ctrl+PageDown" },
  { mods: CONTROL, keysym: K.F4, name: "Ctrl+F4" },
  { mods: SHIFT, keysym: K.Escape, name: "Shift+Escape" },
  { mods: MOD1, keysym: K.F4, name: "Alt+F4" },
  { mods: MOD1, keysym: K.Home, name: "Alt+Home" },
  { mods: 0, keysym: K.F1, name: "F1" },
  { mods: 0, keysym: K.F11, name: "F11" },
  ...[K.BrowserBack, K.BrowserForward, K.BrowserHome, K.BrowserSearch].map((keysym) => ({ mods: 0, keysym, name: `keysym 0x${keysym.toString(16)}` })),
];

/** Caps Lock and Num Lock must not let a combination through: each is grabbed with and without them. */
const LOCKS = [0, LOCK, MOD2, LOCK | MOD2];

const pad4 = (n: number) => (4 - (n % 4)) % 4;

export interface KeyGrab {
  /** resolves once the grabs are in place (the server answered a round trip after them) */
  ready: Promise<void>;
  close(): void;
}

/**
 * The connection setup request, byte order 'l', protocol 11.0, with `cookie` as its
 * MIT-MAGIC-COOKIE-1 (xauth.ts). The cookie comes from foyerd's memory: the Xauthority file is the
 * greeter's once its folders are handed over, and root does not read it back.
 */
export function setupRequest(cookie: Buffer): Buffer {
  const name = Buffer.from(COOKIE_PROTOCOL, "latin1");
  const h = secretBuffer(12 + name.length + pad4(name.length) + cookie.length + pad4(cookie.length));
  h.writeUInt8(0x6c, 0);
  h.writeUInt16LE(11, 2);
  h.writeUInt16LE(name.length, 6);
  h.writeUInt16LE(cookie.length, 8);
  name.copy(h, 12);
  cookie.copy(h, 12 + name.length + pad4(name.length));
  return h;
}

/** Grabs GRABBED on `display` (":N") with the X server's `cookie`; logs and gives up quietly if the server refuses. */
export function grabBrowserKeys(display: string, cookie: Buffer, log: Logger, socketDir = "/tmp/.X11-unix"): KeyGrab {
  const n = /^:(\d+)$/.exec(display)?.[1];
  if (n === undefined) throw new Error(`not a local display: '${display}'`);
  const sock: Socket = createConnection({ path: `${socketDir}/X${n}` });
  let buf: Buffer = Buffer.alloc(0);
  let root = 0,
    minKey = 0,
    maxKey = 0;
  let setupDone = false;
  let seq = 0;
  let closed = false;
  /** replies we wait for, by sequence number */
  const waiting = new Map<number, (reply: Buffer) => void>();
  let resolveReady!: () => void, rejectReady!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => ((resolveReady = res), (rejectReady = rej)));
  ready.catch(() => {});

  const send = (req: Buffer): number => {
    sock.write(req);
    seq = (seq + 1) & 0xffff;
    return seq;
  };
  const getKeyboardMapping = (): number => {
    const r = Buffer.alloc(8);
    r.writeUInt8(101, 0);
    r.writeUInt16LE(2, 2);
    r.writeUInt8(minKey, 4);
    r.writeUInt8(maxKey - minKey + 1, 5);
    return send(r);
  };

  const grabAll = (mapping: Buffer) => {
    const perKey = mapping.readUInt8(1);
    const codes = new Map<number, number[]>(); // keysym → keycodes
    const count = maxKey - minKey + 1;
    for (let i = 0; i < count; i++) {
      // the first group's two columns (plain and shifted): the symbols the layout types
      for (let c = 0; c < Math.min(perKey, 2); c++) {
        let sym = mapping.readUInt32LE(32 + (i * perKey + c) * 4);
        if (sym >= 0x41 && sym <= 0x5a) sym += 0x20; // grab by the lower-case letter
        if (sym === 0) continue;
        const list = codes.get(sym) ?? [];
        if (!list.includes(minKey + i)) list.push(minKey + i);
        codes.set(sym, list);
      }
    }
    // UngrabKey(AnyKey, AnyModifier) on the root first: a new keymap moves keys
    const u = Buffer.alloc(12);
    u.writeUInt8(34, 0);
    u.writeUInt8(0, 1);
    u.writeUInt16LE(3, 2);
    u.writeUInt32LE(root, 4);
    u.writeUInt16LE(0x8000, 8);
    send(u);
    let grabs = 0;
    for (const g of GRABBED) {
      for (const code of codes.get(g.keysym) ?? []) {
        for (const lock of LOCKS) {
          const r = Buffer.alloc(16);
          r.writeUInt8(33, 0);
          r.writeUInt8(0, 1); // owner-events: false
          r.writeUInt16LE(4, 2);
          r.writeUInt32LE(root, 4);
          r.writeUInt16LE(g.mods | lock, 8);
          r.writeUInt8(code, 10);
          r.writeUInt8(1, 11); // pointer mode: asynchronous
          r.writeUInt8(1, 12); // keyboard mode: asynchronous
          send(r);
          grabs++;
        }
      }
    }
    // GetInputFocus as a round trip: its reply comes after every grab was processed
    const rt = Buffer.alloc(4);
    rt.writeUInt8(43, 0);
    rt.writeUInt16LE(1, 2);
    waiting.set(send(rt), () => {
      log.info("browser accelerators grabbed on the X root window", { display, grabs });
      resolveReady();
    });
  };

  const onSetup = (): boolean => {
    if (buf.length < 8) return false;
    const total = 8 + buf.readUInt16LE(6) * 4;
    if (buf.length < total) return false;
    if (buf.readUInt8(0) !== 1) {
      const reason = buf.subarray(8, 8 + buf.readUInt8(1)).toString("latin1");
      throw new Error(`X server refused the connection: ${reason || "authentication required"}`);
    }
    const vendorLen = buf.readUInt16LE(24);
    const formats = buf.readUInt8(29);
    minKey = buf.readUInt8(34);
    maxKey = buf.readUInt8(35);
    root = buf.readUInt32LE(40 + vendorLen + pad4(vendorLen) + formats * 8);
    buf = buf.subarray(total);
    setupDone = true;
    waiting.set(getKeyboardMapping(), grabAll);
    return true;
  };

  sock.on("connect", () => {
    const h = setupRequest(cookie);
    sock.write(h, () => h.fill(0));
  });
  sock.on("data", (d: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    try {
      if (!setupDone && !onSetup()) return;
      while (buf.length >= 32) {
        const kind = buf.readUInt8(0);
        const len = kind === 1 ? 32 + buf.readUInt32LE(4) * 4 : 32;
        if (buf.length < len) return;
        const packet = buf.subarray(0, len);
        buf = buf.subarray(len);
        if (kind === 1) {
          const s = packet.readUInt16LE(2);
          const cb = waiting.get(s);
          waiting.delete(s);
          cb?.(Buffer.from(packet));
        } else if (kind === 0) {
          // BadAccess (10) on GrabKey: another client holds that combination; the rest still hold
          const code = packet.readUInt8(1),
            major = packet.readUInt8(10);
          if (!(code === 10 && major === 33)) log.warning("X error on the key grab connection, ignoring", { code, major });
        } else if ((kind & 0x7f) === 34) {
          // MappingNotify: a new layout moves the keys; grab them again
          waiting.set(getKeyboardMapping(), grabAll);
        }
        // KeyPress/KeyRelease of a grabbed key: dropped, which is the point
      }
    } catch (e) {
      log.warning(`cannot grab the browser's keys on '${display}': ${(e as Error).message}, ignoring`);
      rejectReady(e as Error);
      sock.destroy();
    }
  });
  sock.on("error", (e) => {
    if (!closed) log.warning(`key grab connection to '${display}' failed: ${e.message}, ignoring`);
    rejectReady(e);
  });
  sock.on("close", () => rejectReady(new Error("the X server closed the key grab connection")));
  return {
    ready,
    close: () => {
      closed = true;
      sock.destroy();
    },
  };
}
