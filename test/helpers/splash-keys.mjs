// The splash's side of foyerd's keys socket, for tests that run it as another uid (setpriv): sends
// stdin's bytes (the keys, never on an argv) to the socket, then says what came back. Node's core
// modules only, so any uid can run it.
//   node splash-keys.mjs SOCKET [--all] < bytes   → one JSON line: { frames, closed, error }
// --all: the bytes in one write, not a byte at a time
// --pause MS: the bytes after the first 0x00 are sent MS later, on the same connection
// frames: how many 'f' (a new frame to show) foyerd sent; closed: foyerd closed the connection.
import { connect } from "node:net";

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const all = Buffer.concat(chunks);
const pauseAt = process.argv.indexOf("--pause");
const cut = pauseAt > 0 ? all.indexOf(0) : -1;
const keys = cut >= 0 ? all.subarray(0, cut) : all;
const later = cut >= 0 ? all.subarray(cut + 1) : Buffer.alloc(0);
const out = { frames: 0, closed: false, error: null };
const s = connect(process.argv[2]);
s.on("data", (d) => (out.frames += d.toString("latin1").split("f").length - 1));
s.on("error", (e) => (out.error = e.code ?? e.message));
s.on("close", () => (out.closed = true));
s.on("connect", () => {
  // the keys a byte at a time as a person types them, then a moment for the frames to come
  if (process.argv[3] === "--all") return void s.write(keys, () => setTimeout(finish, 600));
  if (cut >= 0) return void s.write(keys, () => setTimeout(() => s.write(later, () => setTimeout(finish, 600)), Number(process.argv[pauseAt + 1])));
  let i = 0;
  const next = () => (i < keys.length ? s.write(keys.subarray(i, ++i), () => setTimeout(next, 2)) : setTimeout(finish, 600));
  next();
});
function finish() {
  all.fill(0);
  process.stdout.write(JSON.stringify(out) + "\n");
  s.destroy();
}
setTimeout(() => {
  process.stdout.write(JSON.stringify({ ...out, error: out.error ?? "timeout" }) + "\n");
  process.exit(0);
}, 20_000).unref();
