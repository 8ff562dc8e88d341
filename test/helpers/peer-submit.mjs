// What a client of the greeter's server run as another uid (setpriv) would submit, were it let
// in: the user's first-boot password and the form, the recovery terminal, and an answer to the
// first pending request. Node's core modules only, so any uid can run it; the token on stdin.
//   node peer-submit.mjs PORT KEY < token   → one JSON line: { upgrade, sent }
// upgrade: the HTTP status of the upgrade, or the error that ended the connection before one.
import { connect } from "node:net";
import { randomBytes } from "node:crypto";

const port = Number(process.argv[2]);
const key = Number(process.argv[3]);
let token = "";
for await (const c of process.stdin) token += c;
token = token.trim();

/** a client's WebSocket frame: FIN, `op`, masked as a client's must be */
function frame(op, payload) {
  const mask = randomBytes(4);
  const head =
    payload.length < 126 ? Buffer.from([0x80 | op, 0x80 | payload.length]) : Buffer.from([0x80 | op, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
  return Buffer.concat([head, mask, body]);
}
const text = (m) => frame(0x1, Buffer.from(JSON.stringify(m)));
const binary = (bytes) => frame(0x2, Buffer.from(bytes));

const s = connect(port, "127.0.0.1");
let got = "",
  sent = 0,
  upgrade;
s.on("connect", () =>
  s.write(
    `GET /ws?token=${encodeURIComponent(token)} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nOrigin: http://127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\n\r\n`,
  ),
);
s.on("data", (d) => {
  got += d.toString("latin1");
  const m = /^HTTP\/1\.1 (\d+)/.exec(got);
  if (!m || upgrade !== undefined) return;
  upgrade = Number(m[1]);
  if (upgrade !== 101) return s.destroy();
  s.write(binary([0x03, 1, ...Buffer.from("mallory-pw-1234")])); // the first user's password
  s.write(
    text({
      type: "firstboot_submit",
      answers: { layout: "us", variant: "", locale: "C.UTF-8", timezone: "UTC", hostname: "owned", fullName: "Mallory", username: "mallory", rootLocked: true },
    }),
  );
  s.write(text({ type: "terminal_open", cols: 80, rows: 24 }));
  s.write(binary([0x01, (key >>> 24) & 0xff, (key >>> 16) & 0xff, (key >>> 8) & 0xff, key & 0xff, ...Buffer.from("stolen")])); // an answer to request KEY
  sent = 4;
  setTimeout(() => s.end(), 3000);
});
s.on("error", (e) => (upgrade ??= e.code ?? e.message));
s.on("close", () => {
  upgrade ??= "closed";
  process.stdout.write(JSON.stringify({ upgrade, sent }) + "\n");
});
