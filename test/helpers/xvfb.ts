// A bare Xvfb for the display part's tests, started as foyerd starts one: the display picked by
// the server (-displayfd), its access given by an Xauthority file (-auth).
import { spawn, type ChildProcess } from "node:child_process";
import { withTimeout } from "../../src/base/timeout.js";

export interface Xvfb {
  /** ":N" */
  display: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

export async function startXvfb(auth: string): Promise<Xvfb> {
  const proc = spawn("Xvfb", ["-displayfd", "3", "-auth", auth, "-nolisten", "tcp", "-noreset", "-screen", "0", "320x200x24"], {
    stdio: ["ignore", "ignore", "pipe", "pipe"],
  });
  let err = "";
  proc.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGKILL");
    await gone;
  };
  try {
    const display = await withTimeout(
      new Promise<string>((resolve, reject) => {
        let text = "";
        proc.stdio[3]!.on("data", (d: Buffer) => {
          text += d.toString();
          const m = /^(\d+)\n/.exec(text);
          if (m) resolve(`:${m[1]}`);
        });
        proc.on("exit", (code) => reject(new Error(`Xvfb exited ${code}: ${err}`)));
      }),
      15_000,
      "Xvfb's display number",
    );
    return { display, proc, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
