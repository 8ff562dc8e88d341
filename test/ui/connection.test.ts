// The greeter's connection logic (src/ui/connection.ts) against stand-ins for the browser's
// document, location and WebSocket: how many sockets it dials, and when. The real page on real
// browsers is covered by tabOverGreeter (test/helpers/kiosk.ts) in the kiosk suites. The tests
// run in order on one page, as its life goes on.
import { test } from "uvu";
import * as assert from "uvu/assert";

class FakeSocket {
  static OPEN = 1;
  static all: FakeSocket[] = [];
  readyState = 0;
  binaryType = "";
  onopen?: () => void;
  onmessage?: (ev: { data: unknown }) => void;
  onclose?: () => void;
  sent: unknown[] = [];
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(d: unknown): void {
    this.sent.push(d);
  }
  open(): void {
    this.readyState = FakeSocket.OPEN;
    this.onopen?.();
  }
  /** the socket closes, from either side: the page's close() or the server's */
  close(): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    queueMicrotask(() => this.onclose?.());
  }
}

const listeners: (() => void)[] = [];
const doc = { visibilityState: "visible", addEventListener: (_: string, h: () => void) => listeners.push(h) };
const setVisibility = (v: "visible" | "hidden") => {
  doc.visibilityState = v;
  for (const h of listeners) h();
};
Object.assign(globalThis, { document: doc, location: { hash: "#token=t", host: "127.0.0.1:1" }, WebSocket: FakeSocket });
const { connect } = await import("../../src/ui/connection.js");
const statuses: string[] = [];
connect({ state: () => {}, error: () => {}, terminal: () => {}, status: (s) => statuses.push(s) });
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));
const live = () => FakeSocket.all.filter((s) => s.readyState !== 3).length;

test("a page hidden after a close, and shown again before the redial, has one socket", async () => {
  assert.is(FakeSocket.all.length, 1, "dialled at once");
  FakeSocket.all[0]!.open();
  assert.ok(String(FakeSocket.all[0]!.sent[0]).includes('"hello"'));
  // the server goes away: a redial is due in 250 ms
  FakeSocket.all[0]!.close();
  await tick(0);
  assert.is(statuses.length, 1, "the page says it reconnects");
  // hidden, then shown again before the redial's time: the page dials when shown…
  setVisibility("hidden");
  await tick(0);
  setVisibility("visible");
  assert.is(FakeSocket.all.length, 2, "dialled when shown again");
  // …and the redial of the earlier close does not add a second socket beside it
  await tick(400);
  assert.is(FakeSocket.all.length, 2, `sockets dialled: ${FakeSocket.all.length}`);
  assert.is(live(), 1);
});

test("hidden while connected: the socket is let go, and dialled again only when shown", async () => {
  const before = FakeSocket.all.length;
  FakeSocket.all.at(-1)!.open();
  setVisibility("hidden");
  await tick(600);
  assert.is(live(), 0, "no socket while hidden");
  assert.is(FakeSocket.all.length, before, "no redial while hidden");
  setVisibility("visible");
  assert.is(FakeSocket.all.length, before + 1);
  assert.is(live(), 1);
});

test.run();
