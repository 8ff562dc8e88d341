// The recovery terminal's pty lives in this separate process, never in foyerd: node-pty 1.1.0
// leaves the pty master fd open in every process foyerd spawns afterwards (a restarted browser
// would hold a root shell's pty). foyerd talks to the broker over its stdin/stdout in frames
// (pty-frames.ts): 'd' data, 'r' resize (cols u16, rows u16), 'k' close from foyerd; 'd' data,
// 's' the program started another (sulogin its shell, after the root password), 'x' exit (code
// i32, signal i32) from the broker. The broker's stdout blocking pauses the pty, so a flood
// (`yes`) is held by the kernel, not by memory. The spec (program, its environment, size) comes in
// the environment, where no other user can read it, not on the command line.
//
// The terminal's session ends with it: when foyerd closes it, goes away (stdin's end, or setpriv's
// parent-death SIGHUP) or the program exits, every process of the pty's session (its id is the pty
// child's pid: node-pty's child calls setsid) gets SIGHUP, and what is left after GRACE_MS gets
// SIGKILL: sulogin, the shell, and whatever the shell started in the background, in any process
// group. A process that starts a session of its own (setsid, a daemon the person started) has
// asked to outlive its terminal, and is left: only a cgroup could follow it.
import * as pty from "node-pty";
import { readdirSync, readFileSync, readlinkSync, realpathSync, accessSync, constants } from "node:fs";
import { join } from "node:path";
import { encodeFrame, FrameReader } from "./pty-frames.js";

interface Spec {
  argv: string[];
  env: Record<string, string>;
  cols: number;
  rows: number;
}

const GRACE_MS = 500;

/** The live (not zombie) processes whose session is `sid`, from /proc. */
export function sessionMembers(sid: number): number[] {
  const pids: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      // "pid (comm) state ppid pgrp session …": comm may hold spaces and parentheses
      const stat = readFileSync(`/proc/${e}/stat`, "latin1");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (f[0] !== "Z" && Number(f[3]) === sid) pids.push(Number(e));
    } catch {
      /* gone meanwhile */
    }
  }
  return pids;
}

/** Sends `sig` to every process of session `sid`; how many there were. */
function signalSession(sid: number, sig: NodeJS.Signals): number {
  if (!(sid > 1)) return 0;
  let n = 0;
  for (const pid of sessionMembers(sid)) {
    if (pid === process.pid) continue;
    try {
      process.kill(pid, sig);
      n++;
    } catch {
      /* gone meanwhile */
    }
  }
  return n;
}

/** What execvp runs for `argv0` with `path`, resolved; undefined when nothing is found. */
function resolveProgram(argv0: string, path: string): string | undefined {
  const candidates = argv0.includes("/") ? [argv0] : path.split(":").map((d) => join(d || ".", argv0));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return realpathSync(c);
    } catch {
      /* not this one */
    }
  }
  return undefined;
}

export function runBroker(spec: Spec): void {
  let term: pty.IPty | undefined;
  let phase: "running" | "hangup" | "killed" = "running";
  let exited = false;
  let left = false;
  const leave = () => {
    if (left) return;
    left = true;
    // the last frames first; a foyerd that no longer reads must not keep the broker
    setTimeout(() => process.exit(0), 2000).unref();
    process.stdout.end(() => process.exit(0));
  };
  const end = () => {
    if (phase !== "running") return;
    phase = "hangup";
    if (!term) process.exit(0);
    const sid = term.pid;
    if (signalSession(sid, "SIGHUP") === 0 && exited) return leave();
    setTimeout(() => {
      phase = "killed";
      signalSession(sid, "SIGKILL");
      if (exited) leave(); // else when the program's exit is seen (onExit)
    }, GRACE_MS);
  };
  // foyerd gone: its pipe ends, or setpriv's parent-death signal (SIGHUP) comes first
  process.on("SIGHUP", end);
  process.on("SIGTERM", end);
  process.stdout.on("error", end);

  const program = resolveProgram(spec.argv[0]!, spec.env.PATH ?? "");
  const node = realpathSync(process.execPath);
  term = pty.spawn(spec.argv[0]!, spec.argv.slice(1), { name: "xterm-256color", cols: spec.cols, rows: spec.rows, cwd: "/", env: spec.env, encoding: null });
  const sid = term.pid;
  let shell = false;
  term.onData((d: string | Buffer) => {
    // sulogin execs its shell (SUSHELL, or root's) in its own process once the password is right:
    // the pty child is then neither sulogin nor the node it was forked from. Said before the
    // shell's first output, so foyerd lets the person's keystrokes through (password-rate.ts)
    if (!shell && program) {
      try {
        const exe = readlinkSync(`/proc/${sid}/exe`);
        if (exe !== program && exe !== node) {
          shell = true;
          process.stdout.write(encodeFrame("s"));
        }
      } catch {
        /* exited meanwhile */
      }
    }
    const buf = typeof d === "string" ? Buffer.from(d) : d;
    if (!process.stdout.write(encodeFrame("d", buf))) {
      term!.pause();
      process.stdout.once("drain", () => term!.resume());
    }
  });
  term.onExit(({ exitCode, signal }) => {
    exited = true;
    const b = Buffer.alloc(8);
    b.writeInt32BE(exitCode, 0);
    b.writeInt32BE(signal ?? 0, 4);
    process.stdout.write(encodeFrame("x", b));
    if (phase === "running")
      end(); // what the program left in its session goes too
    else if (phase === "killed" || sessionMembers(sid).length === 0) leave();
  });
  const reader = new FrameReader(1 << 20, (type, payload) => {
    // node-pty copies the bytes (Buffer.from) before write() returns: the reader zeroes its own
    if (type === "d") term!.write(payload as unknown as string);
    else if (type === "r" && payload.length === 4) term!.resize(Math.max(2, payload.readUInt16BE(0)), Math.max(2, payload.readUInt16BE(2)));
    else if (type === "k") end();
  });
  process.stdin.on("data", (d: Buffer) => {
    const ok = reader.push(d);
    d.fill(0); // keystrokes may be a root password
    if (!ok) {
      reader.wipe();
      end(); // foyerd never sends a frame that long: a broken stream
    }
  });
  process.stdin.on("end", () => {
    reader.wipe();
    end();
  });
}

if (process.env.FOYER_MAIN === "foyer-pty") {
  const spec = process.env.FOYER_PTY_SPEC ?? "";
  delete process.env.FOYER_PTY_SPEC;
  try {
    runBroker(JSON.parse(spec) as Spec);
  } catch (e) {
    process.stderr.write(`foyer-pty: ${(e as Error).message}\n`);
    process.exit(2);
  }
}
