// The greeter's one WebSocket: (re)connects with backoff, validates every message, and hands the
// state to the views. The token comes from the page URL's fragment (root's URL, greeter-url:
// never sent in a request), or, for the page a greeter launch opened (its URL has none: a
// browser's command line is every user's to read), from POST /session on its own origin.
//
// The page paints the state POST /session carries before its socket opens; what is typed and
// submitted meanwhile stays in the page and goes once the socket is there (unlock.ts).
//
// A page that was on the screen and is hidden (a tab opened over it by a browser shortcut the page
// could not cancel, pressed before it had the focus) lets go of its socket until it is shown
// again: foyerd then sees no greeter and restarts the browser after greeter.lostTimeoutMs, so
// nobody is left in front of a tab without a prompt.
import { ServerMessage, PROTOCOL_VERSION, FRAME_TERMINAL, type StateMessage, type ClientMessage } from "../protocol/greeter.js";
import type { FirstbootOptionsMessage } from "../protocol/firstboot.js";
import type { KeyboardLayoutsMessage } from "../protocol/greeter.js";
import { t } from "./i18n.js";

export interface Connection {
  send(m: ClientMessage): void;
  sendBinary(frame: Uint8Array): boolean;
  open(): boolean;
}

export function connect(handlers: {
  state: (s: StateMessage, c: Connection) => void;
  error: (msg: string) => void;
  terminal: (bytes: Uint8Array) => void;
  status: (s: string) => void;
  firstbootOptions?: (m: FirstbootOptionsMessage) => void;
  keyboardLayouts?: (m: KeyboardLayoutsMessage) => void;
}): Connection {
  const given = new URLSearchParams(location.hash.slice(1)).get("token") ?? undefined;
  let token = given;
  let ws: WebSocket | undefined;
  let retryMs = 250;
  let retry: ReturnType<typeof setTimeout> | undefined; // the redial after a close
  let shown = document.visibilityState === "visible";
  let away = false; // hidden after having been shown: no socket until shown again
  const c: Connection = {
    send: (m) => ws?.readyState === WebSocket.OPEN && ws.send(JSON.stringify(m)),
    sendBinary: (f) => {
      if (ws?.readyState !== WebSocket.OPEN) return false;
      ws.send(f);
      return true;
    },
    open: () => ws?.readyState === WebSocket.OPEN,
  };
  const redial = () => {
    handlers.status(t("status.reconnecting"));
    retry = setTimeout(dial, retryMs);
    retryMs = Math.min(retryMs * 2, 2000);
  };
  let painted = false; // the state from POST /session went to the views: once per page
  const dial = () => {
    if (token === undefined || !painted) {
      // the launch's token, once per page (a socket that closes before it opened asks again: the
      // launch it belonged to may have ended), and the state to paint before the socket opens
      void session(token).then((s) => {
        if (away) return;
        // once per page, before any socket: a page whose first ask failed paints from its socket
        if (!painted && s?.state) handlers.state(s.state, c);
        painted = true;
        if (token === undefined) {
          if (s === undefined) return redial();
          token = s.token;
        }
        dial();
      });
      return;
    }
    const sock = new WebSocket(`ws://${location.host}/ws?token=${encodeURIComponent(token)}`);
    sock.binaryType = "arraybuffer";
    ws = sock;
    let opened = false;
    sock.onopen = () => {
      opened = true;
      retryMs = 250;
      sock.send(JSON.stringify({ type: "hello", version: PROTOCOL_VERSION }));
    };
    sock.onmessage = (ev) => {
      if (typeof ev.data !== "string") {
        const b = new Uint8Array(ev.data as ArrayBuffer);
        if (b[0] === FRAME_TERMINAL) handlers.terminal(b.subarray(1));
        return;
      }
      let raw: unknown;
      try {
        raw = JSON.parse(ev.data);
      } catch {
        return;
      }
      const m = ServerMessage.safeParse(raw);
      if (!m.success) return;
      if (m.data.type === "state") handlers.state(m.data, c);
      else if (m.data.type === "firstboot_options") handlers.firstbootOptions?.(m.data);
      else if (m.data.type === "keyboard_layouts") handlers.keyboardLayouts?.(m.data);
      else handlers.error(m.data.message);
    };
    sock.onclose = () => {
      if (!opened && given === undefined) token = undefined;
      if (ws !== sock || away) return;
      redial();
    };
  };
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      shown = true;
      if (!away) return;
      away = false;
      retryMs = 250;
      dial();
    } else if (shown && !away) {
      away = true;
      // a redial pending from an earlier close would otherwise open a second socket beside the
      // one dialled when the page is shown again
      clearTimeout(retry);
      handlers.status(t("status.reconnecting"));
      ws?.close();
    }
  });
  dial();
  return c;
}

/**
 * The greeter launch's token (or the page's own `token`, checked) and the current state from
 * foyerd; undefined when no launch is live, the token is not, or foyerd is not there.
 */
async function session(token?: string): Promise<{ token: string; state?: StateMessage } | undefined> {
  try {
    const r = await fetch("/session", { method: "POST", cache: "no-store", body: token ?? "" });
    if (!r.ok) return undefined;
    const body = (await r.json()) as { token?: unknown; state?: unknown };
    if (typeof body.token !== "string") return undefined;
    const m = ServerMessage.safeParse(body.state);
    return { token: body.token, ...(m.success && m.data.type === "state" ? { state: m.data } : {}) };
  } catch {
    return undefined;
  }
}
