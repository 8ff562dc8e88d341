// The greeter's listener opened before its server (foyerd launches the greeter first, then loads
// the server): a page request and a WebSocket upgrade that arrive before the server attaches are
// held, not refused, and answered once it does, with a launch token the listener handed out
// before the server existed. Real sockets, a real ws client.
import { test } from "uvu";
import * as assert from "uvu/assert";
import WebSocket from "ws";
import { join } from "node:path";
import { get } from "node:http";
import { GreeterListener } from "../../src/greeter/listener.js";
import { GreeterServer } from "../../src/greeter/server.js";
import { silentLogger } from "../../src/base/log.js";
import { withTimeout } from "../../src/base/timeout.js";

const top = join(import.meta.dirname, "../..");

function fetchStatus(url: string): Promise<number> {
  return new Promise((resolve, reject) => get(url, { agent: false }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on("error", reject));
}

function server(listener: GreeterListener, onReady = () => {}): GreeterServer {
  return new GreeterServer({
    assetsDir: join(top, "assets"),
    uiDir: join(top, "dist/ui"),
    port: 0,
    listener,
    log: silentLogger,
    snapshot: () => ({
      type: "state",
      flow: "unlock",
      phase: "running",
      prompts: [],
      keyboard: { layout: "us", variant: "" },
      notice: "",
      messages: [],
      diskCheck: null,
      locale: "C.UTF-8",
    }),
    onReady,
    onAnswer: () => {},
    onCancel: () => {},
    onClients: () => {},
  });
}

const openListener = () => GreeterListener.open(0, { peers: [], refused: () => {} });

test("requests made before the server attaches are held, then served; the early launch token connects", async () => {
  const listener = await openListener();
  const launch = listener.launchUrl();
  const token = listener.session()!;
  let page: number | undefined;
  const pageDone = fetchStatus(`${listener.origin}/`).then((s) => (page = s));
  const ws = new WebSocket(`ws://127.0.0.1:${listener.port}/ws?token=${token}`, { headers: { Origin: listener.origin } });
  let opened = false;
  const open = new Promise<void>((resolve, reject) => {
    ws.on("open", () => ((opened = true), resolve()));
    ws.on("unexpected-response", (_q, res) => reject(new Error(`refused: HTTP ${res.statusCode}`)));
    ws.on("error", reject);
  });
  open.catch(() => {});
  await new Promise((r) => setTimeout(r, 300));
  assert.is(page, undefined, "the page was answered before anything could serve it");
  assert.is(opened, false, "the WebSocket opened before anything could accept it");

  let ready = 0;
  const srv = server(listener, () => void ready++);
  try {
    await srv.start();
    assert.is(srv.port, listener.port);
    assert.is(await withTimeout(pageDone, 5_000, "the held page request"), 200);
    await withTimeout(open, 5_000, "the held WebSocket upgrade");
    const closed = new Promise<number>((r) => ws.on("close", (c) => r(c)));
    ws.send(JSON.stringify({ type: "ready" }));
    for (let i = 0; i < 50 && ready === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.is(ready, 1, "the held connection's ready did not reach the server");
    // the token the listener handed out before the server existed is a launch's like any other
    launch.revoke();
    assert.is(await withTimeout(closed, 5_000, "the revoked launch's page closed"), 4001);
    // and a bad token is refused by the attached server
    const bad = new WebSocket(`ws://127.0.0.1:${listener.port}/ws?token=nope`, { headers: { Origin: listener.origin } });
    const refused = await new Promise<string>((r) => {
      bad.on("unexpected-response", (_q, res) => r(`HTTP ${res.statusCode}`));
      bad.on("open", () => r("open"));
      bad.on("error", (e) => r(e.message));
    });
    assert.is(refused, "HTTP 403");
  } finally {
    ws.terminate();
    await srv.stop();
  }
});

test("a flood before the server attaches: 64 requests are held and served, the rest dropped, nothing breaks", async () => {
  const listener = await openListener();
  const results = Array.from({ length: 80 }, () => fetchStatus(`${listener.origin}/`).then(String, (e: NodeJS.ErrnoException) => e.code ?? e.message));
  await new Promise((r) => setTimeout(r, 500));
  const srv = server(listener);
  try {
    await srv.start();
    const got = await withTimeout(Promise.all(results), 10_000, "the flood's answers");
    assert.is(got.filter((r) => r === "200").length, 64, got.join(" "));
    assert.is(got.filter((r) => r === "ECONNRESET").length, 16, got.join(" "));
    assert.is(await fetchStatus(`${listener.origin}/`), 200, "the server does not answer after the flood");
  } finally {
    await srv.stop();
  }
});

test.run();
