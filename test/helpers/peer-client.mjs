// A client of the greeter's server that test/security runs as another uid (setpriv): what that
// uid gets from GET /, POST /session and a WebSocket upgrade with a token. Node's core modules
// only, so any uid can run it. The token comes on stdin (an argv is every user's to read).
//   node peer-client.mjs PORT < token        → one JSON line: { page, session, upgrade }
// Each value is an HTTP status, or the error that ended the connection before one came.
import { request } from "node:http";
import { randomBytes } from "node:crypto";

const port = Number(process.argv[2]);
const origin = `http://127.0.0.1:${port}`;
let token = "";
for await (const c of process.stdin) token += c;
token = token.trim();

function ask(method, path, extra = {}) {
  return new Promise((resolve) => {
    const r = request({ host: "127.0.0.1", port, method, path, headers: { Origin: origin, ...extra }, agent: false, timeout: 5000 });
    r.on("response", (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode, body }));
    });
    r.on("upgrade", (res, sock) => (sock.destroy(), resolve({ status: res.statusCode })));
    r.on("timeout", () => r.destroy(new Error("timeout")));
    r.on("error", (e) => resolve({ error: e.code ?? e.message }));
    r.end();
  });
}

const page = await ask("GET", "/");
const session = await ask("POST", "/session");
let sessionToken;
try {
  sessionToken = JSON.parse(session.body ?? "").token;
} catch {
  /* none */
}
const ws = { Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": randomBytes(16).toString("base64") };
const upgrade = await ask("GET", `/ws?token=${encodeURIComponent(token || sessionToken || "")}`, ws);
process.stdout.write(
  JSON.stringify({ page: page.status ?? page.error, session: session.status ?? session.error, upgrade: upgrade.status ?? upgrade.error }) + "\n",
);
