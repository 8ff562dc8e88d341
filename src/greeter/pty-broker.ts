// The recovery terminal's pty lives in this separate process, never in foyerd: node-pty 1.1.0
// leaves the pty master fd open in every process foyerd spawns afterwards (a restarted browser
// would hold a root shell's pty). foyerd talks to the broker over its stdin/stdout with frames
// [type u8][length u32 BE][payload]: 'd' data, 'r' resize (cols u16, rows u16), 'k' kill from
// foyerd; 'd' data, 'x' exit (code i32) from the broker. The broker's stdout blocking pauses the
// pty, so a flood (`yes`) is held by the kernel, not by memory.
import * as pty from "node-pty";
import { encodeFrame, FrameReader } from "./pty-frames.js";

interface Spec {
  argv: string[];
  env: Record<string, string>;
  cols: number;
  rows: number;
}

export function runBroker(spec: Spec): void {
  const term = pty.spawn(spec.argv[0]!, spec.argv.slice(1), { name: "xterm-256color", cols: spec.cols, rows: spec.rows, cwd: "/", env: spec.env, encoding: null });
  term.onData((d: string | Buffer) => {
    const buf = typeof d === "string" ? Buffer.from(d) : d;
    if (!process.stdout.write(encodeFrame("d", buf))) {
      term.pause();
      process.stdout.once("drain", () => term.resume());
    }
  });
  term.onExit(({ exitCode }) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(exitCode);
    process.stdout.write(encodeFrame("x", b), () => process.exit(0));
  });
  const reader = new FrameReader(1 << 20, (type, payload) => {
    // node-pty copies the bytes (Buffer.from) before write() returns: the reader zeroes its own
    if (type === "d") term.write(payload as unknown as string);
    else if (type === "r" && payload.length === 4) term.resize(Math.max(2, payload.readUInt16BE(0)), Math.max(2, payload.readUInt16BE(2)));
    else if (type === "k") term.kill("SIGHUP");
  });
  process.stdin.on("data", (d: Buffer) => {
    const ok = reader.push(d);
    d.fill(0); // keystrokes may be a root password
    if (!ok) process.exit(2); // foyerd never sends a frame that long: a broken stream
  });
  process.stdin.on("end", () => {
    reader.wipe();
    term.kill("SIGHUP"); // foyerd went away: so does the shell
  });
}

if (process.env.FOYER_MAIN === "foyer-pty") {
  try {
    runBroker(JSON.parse(process.argv[2] ?? "") as Spec);
  } catch (e) {
    process.stderr.write(`foyer-pty: ${(e as Error).message}\n`);
    process.exit(2);
  }
}
