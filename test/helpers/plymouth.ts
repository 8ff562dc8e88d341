// Debian's real `plymouth` client as a child process, for the Plymouth protocol suites.
import { spawn, type ChildProcess } from "node:child_process";
import { connect, type Socket } from "node:net";
import { asAccount, type Account } from "./index.js";

export interface PlyResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: Buffer;
  err: string;
}

const running = new Set<ChildProcess>();

/** Kills every client a test left behind (a failed assertion must not leave one waiting). */
export function killClients(): void {
  for (const p of running) p.kill("SIGKILL");
  running.clear();
}

/** Runs `plymouth ARGS`; with `as`, under that account's real uid and gid and no other group (setpriv). */
export function ply(args: string[], stdin?: string, as?: Account): { proc: ChildProcess; result: Promise<PlyResult> } {
  const argv = [...(as ? asAccount(as) : []), "plymouth", ...args];
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "pipe"], cwd: "/" });
  running.add(proc);
  const out: Buffer[] = [];
  let err = "";
  proc.stdout!.on("data", (d: Buffer) => out.push(d));
  proc.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  proc.stdin!.end(stdin);
  const result = new Promise<PlyResult>((resolve) =>
    proc.on("close", (code, signal) => {
      running.delete(proc);
      resolve({ code, signal, out: Buffer.concat(out), err });
    }),
  );
  return { proc, result };
}

/**
 * A raw connection to the legacy name, which Node (libuv 1.46) reaches the same padded way
 * foyer binds it; for bytes the real client would never send.
 */
export function rawClient(name = "/ply-boot-protocol"): Promise<{ sock: Socket; got: Buffer[]; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const sock = connect("\0" + name);
    const got: Buffer[] = [];
    sock.on("data", (d: Buffer) => got.push(d));
    const closed = new Promise<void>((r) => sock.on("close", () => r()));
    sock.once("error", reject);
    sock.once("connect", () => resolve({ sock, got, closed }));
  });
}
