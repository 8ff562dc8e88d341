// The greeter's WebSocket address: this page's origin, the token from the URL's fragment (which a
// browser never sends in a request or a Referer).
export function socketUrl(): string {
  const token = new URLSearchParams(location.hash.slice(1)).get("token") ?? "";
  return `ws://${location.host}/ws?token=${encodeURIComponent(token)}`;
}

/** What dial.ts leaves for connection.ts: the socket it opened and what arrived on it so far. */
export interface EarlySocket {
  ws: WebSocket;
  early: MessageEvent[];
}

declare global {
  interface Window {
    foyerEarlySocket?: EarlySocket;
  }
}
