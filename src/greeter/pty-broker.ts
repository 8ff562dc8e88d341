// The recovery terminal's pty lives in this separate process, never in foyerd: node-pty 1.1.0
// leaves the pty master fd open in every process foyerd spawns afterwards (a restarted browser
// would hold a root shell's pty). foyerd talks to the broker over its stdin/stdout with frames
// [type u8][length u32 BE][payload]: 'd' data, 'r' resize (cols u16, rows u16), 'k' kill from
// foyerd; 'd' data, 'x' exit (code i32) from the broker. The broker's stdout blocking pauses the
// pty, so a flood (`yes`) is held by the kernel, not by memory.
import * as pty from "node-pty";

interface Spec {
  argv: string[];
  env: Record<string, string>;
  cols: number;
  rows: number;
}

function frame(type: string, payload: Buffer): Buffer {
  const h = Buffer.alloc(5);
  h[0] = type.charCodeAt(0);
  h.writeUInt32BE(payload.length, 1);
  return Buffer.concat([h, payload]);
}

export function runBroker(spec: Spec): void {
  const term = pty.spawn(spec.argv[0]!, spec.argv.slice(1), { name: "xterm-256color", cols: spec.cols, rows: spec.rows, cwd: "/", env: spec.env, encoding: null });
  term.onData((d: string | Buffer) => {
    const buf = typeof d === "string" ? Buffer.from(d) : d;
    if (!process.stdout.write(frame("d", buf))) {
      term.pause();
      process.stdout.once("drain", () => term.resume());
    }
  });
  term.onExit(({ exitCode }) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(exitCode);
    process.stdout.write(frame("x", b), () => process.exit(0));
  });
  let acc = Buffer.alloc(0);
  process.stdin.on("data", (d: Buffer) => {
    acc = Buffer.concat([acc, d]);
    while (acc.length >= 5) {
      const len = acc.readUInt32BE(1);
      if (len > 1 << 20) process.exit(2); // foyerd never sends this much: a broken stream
      if (acc.length < 5 + len) break;
      const type = String.fromCharCode(acc[0]!);
      const payload = acc.subarray(5, 5 + len);
      if (type === "d") term.write(Buffer.from(payload) as unknown as string);
      else if (type === "r" && len === 4) term.resize(Math.max(2, payload.readUInt16BE(0)), Math.max(2, payload.readUInt16BE(2)));
      else if (type === "k") term.kill("SIGHUP");
      acc.fill(0, 0, 5 + len); // keystrokes may be a root password
      acc = acc.subarray(5 + len);
    }
  });
  process.stdin.on("end", () => term.kill("SIGHUP")); // foyerd went away: so does the shell
}

if (process.env.FOYER_MAIN === "foyer-pty") {
  try {
    runBroker(JSON.parse(process.argv[2] ?? "") as Spec);
  } catch (e) {
    process.stderr.write(`foyer-pty: ${(e as Error).message}\n`);
    process.exit(2);
  }
}
