// The greeter server's per-launch tokens on a real listener with real WebSocket clients: a
// launch's URL carries no token, its page fetches it (POST /session, from the page's own origin);
// a page that came in with a launch's token is disconnected when that launch is revoked (its
// greeter exited), so nothing it sends afterwards — a late "ready" — can count for the next
// launch; a page on the boot's token stays; a revoked token cannot connect again, and between
// launches there is no session to fetch.
import { test } from "uvu";
import * as assert from "uvu/assert";
import WebSocket from "ws";
import { join } from "node:path";
import { GreeterServer } from "../../src/greeter/server.js";
import { GreeterListener } from "../../src/greeter/listener.js";
import { silentLogger } from "../../src/base/log.js";
import { withTimeout } from "../../src/base/timeout.js";
import { pollUntil } from "../helpers/index.js";

const top = join(import.meta.dirname, "../..");
let ready = 0;
const listener = await GreeterListener.open(0, { peers: [], refused: () => {} });
const server = new GreeterServer({
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
  onReady: () => void ready++,
  onAnswer: () => {},
  onCancel: () => {},
  onClients: () => {},
});

/** what the page does: POST /session from its own origin; the status, and the token on 200 */
async function session(origin = listener.origin): Promise<{ status: number; token?: string }> {
  const r = await fetch(`${listener.origin}/session`, { method: "POST", headers: { Origin: origin } });
  return r.status === 200 ? { status: 200, token: ((await r.json()) as { token: string }).token } : { status: r.status };
}

function open(url: string, token = new URLSearchParams(new URL(url).hash.slice(1)).get("token")!): Promise<{ ws: WebSocket; closed: Promise<number> }> {
  const u = new URL(url);
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
  assert.is((await session()).status, 404, "a session before any launch");
  const launch = listener.launchUrl();
  assert.not.match(launch.url, /token|#/, "the launch's URL (its browser's command line) carries a secret");
  assert.is((await session("http://elsewhere.example")).status, 403, "a session for another origin's page");
  const s = await session();
  assert.is(s.status, 200);
  assert.not.ok(listener.tokenOf(Buffer.from(s.token!)) === listener.bootToken, "the session is the boot's token");
  const page = await open(launch.url, s.token);
  const boot = await open(server.url);
  page.ws.send(JSON.stringify({ type: "ready" }));
  await pollUntil(() => ready >= 1, 5_000, "the first ready");
  launch.revoke();
  assert.is(await withTimeout(page.closed, 5_000, "the launch's page closed"), 4001);
  assert.is(boot.ws.readyState, WebSocket.OPEN, "the boot token's page was closed too");
  const refused = await open(launch.url, s.token).then(
    () => "connected",
    (e: Error) => e.message,
  );
  assert.match(refused, /HTTP 403/);
  assert.is((await session()).status, 404, "a session after the launch ended");
  // the next launch's page connects and counts
  const next = listener.launchUrl();
  const t2 = await session();
  assert.ok(t2.token && t2.token !== s.token, "the next launch's session is a new token");
  const again = await open(next.url, t2.token);
  again.ws.send(JSON.stringify({ type: "ready" }));
  await pollUntil(() => ready >= 2, 5_000, "the next launch's ready");
  again.ws.close();
  boot.ws.close();
});

test("POST /session carries the state to paint: for the launch's page, and for a page with its own token", async () => {
  const launch = listener.launchUrl();
  const post = (body: string) => fetch(`${listener.origin}/session`, { method: "POST", headers: { Origin: listener.origin }, body });
  const own = (await (await post("")).json()) as { token: string; state: { type: string; flow: string } };
  assert.is(own.state.type, "state");
  assert.is(own.state.flow, "unlock");
  const boot = await post(listener.bootToken);
  assert.is(boot.status, 200);
  assert.equal((await boot.json()) as unknown, { token: listener.bootToken, state: own.state });
  assert.is((await post("not-a-token")).status, 403, "a token that is none");
  // the body is a token: a peer cannot make foyerd hold more
  const big = await post("x".repeat(1 << 20)).then(
    (r) => r.status,
    () => "closed",
  );
  assert.ok(big === 413 || big === "closed", `a 1 MiB body: ${big}`);
  assert.is((await post("")).status, 200, "the server still answers after it");
  launch.revoke();
});

test.run();
