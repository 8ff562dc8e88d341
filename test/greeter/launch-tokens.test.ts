// The greeter server's per-launch tokens on a real listener with real WebSocket clients: a page
// that came in with a launch's token is disconnected when that launch is revoked (its greeter
// exited), so nothing it sends afterwards — a late "ready" — can count for the next launch; a
// page on the boot's token stays; a revoked token cannot connect again.
import { test } from "uvu";
import * as assert from "uvu/assert";
import WebSocket from "ws";
import { join } from "node:path";
import { GreeterServer } from "../../src/greeter/server.js";
import { silentLogger } from "../../src/base/log.js";
import { withTimeout } from "../../src/base/timeout.js";
import { pollUntil } from "../helpers/index.js";

const top = join(import.meta.dirname, "../..");
let ready = 0;
const server = new GreeterServer({
  assetsDir: join(top, "assets"),
  uiDir: join(top, "dist/ui"),
  port: 0,
  log: silentLogger,
  snapshot: () => ({ type: "state", flow: "unlock", phase: "running", prompts: [], keyboard: { layout: "us", variant: "" }, notice: "", messages: [], locale: "C.UTF-8" }),
  onReady: () => void ready++,
  onAnswer: () => {},
  onCancel: () => {},
  onClients: () => {},
});

function open(url: string): Promise<{ ws: WebSocket; closed: Promise<number> }> {
  const u = new URL(url);
  const token = new URLSearchParams(u.hash.slice(1)).get("token")!;
  const ws = new WebSocket(`ws://${u.host}/ws?token=${token}`, { headers: { Origin: u.origin } });
  const closed = new Promise<number>((r) => ws.on("close", (code) => r(code)));
  return withTimeout(
    new Promise((resolve, reject) => {
      ws.on("open", () => resolve({ ws, closed }));
      ws.on("unexpected-response", (_req, res) => reject(new Error(`refused: HTTP ${res.statusCode}`)));
      ws.on("error", reject);
    }),
    5_000,
    "connect",
  );
}

test.before(() => server.start());
test.after(() => server.stop());

test("revoking a launch closes its pages, keeps the boot token's, and refuses the token afterwards", async () => {
  const launch = server.launchUrl();
  const page = await open(launch.url);
  const boot = await open(server.url);
  page.ws.send(JSON.stringify({ type: "ready" }));
  await pollUntil(() => ready >= 1, 5_000, "the first ready");
  launch.revoke();
  assert.is(await withTimeout(page.closed, 5_000, "the launch's page closed"), 4001);
  assert.is(boot.ws.readyState, WebSocket.OPEN, "the boot token's page was closed too");
  const refused = await open(launch.url).then(() => "connected", (e: Error) => e.message);
  assert.match(refused, /HTTP 403/);
  // the next launch's page connects and counts
  const next = server.launchUrl();
  const again = await open(next.url);
  again.ws.send(JSON.stringify({ type: "ready" }));
  await pollUntil(() => ready >= 2, 5_000, "the next launch's ready");
  again.ws.close();
  boot.ws.close();
});

test.run();
