// `foyerd keep -- ARGS`: foyerd's keeper where no service manager runs (initramfs-tools). It holds
// Plymouth's listening sockets and passes them to foyerd as systemd's socket activation does, so a
// client that connects while foyerd starts again waits in the backlog instead of finding nobody
// and asking on the console; and it starts foyerd again when it dies, as foyer.service's
// Restart=on-failure does, at most 5 times (its start limit). SIGTERM stops foyerd, then the keeper.
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { listenAbstract } from "../base/sockets.js";
import { describe } from "../base/errors.js";
import { PLYMOUTH_LEGACY_SOCKET, PLYMOUTH_SOCKET } from "../agents/plymouth.js";

const MAX_STARTS = 5;
const RESTART_DELAY_MS = 200;

const say = (s: string) => process.stderr.write(`foyer keeper: ${s}\n`);

/** Plymouth's two names, bound here; none when they cannot be (foyerd then binds them itself). */
function bindPlymouth(): number[] {
  try {
    return [listenAbstract(PLYMOUTH_SOCKET.slice(1), false), listenAbstract(PLYMOUTH_LEGACY_SOCKET.slice(1), true)];
  } catch (e) {
    say(`cannot hold Plymouth's sockets (${describe(e)}): foyerd binds them itself`);
    return [];
  }
}

export async function keeperMain(argv: string[]): Promise<number> {
  const args = argv[0] === "--" ? argv.slice(1) : argv;
  const pidFile = process.env.FOYER_KEEPER_PIDFILE;
  const fds = bindPlymouth();
  let child: ChildProcess | undefined;
  let stopping = false;
  const stop = () => {
    stopping = true;
    child?.kill("SIGTERM");
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  for (let starts = 1; ; starts++) {
    // LISTEN_PID must be foyerd's own: the shell's $$ is, once it execs node
    const env: NodeJS.ProcessEnv = { ...process.env, ...(fds.length ? { LISTEN_FDS: String(fds.length), LISTEN_FDNAMES: "plymouth:plymouth-legacy" } : {}) };
    delete env.FOYER_KEEPER_PIDFILE;
    child = spawn("/bin/sh", ["-c", 'LISTEN_PID=$$ && export LISTEN_PID && exec "$0" "$@"', process.execPath, ...process.execArgv, process.argv[1]!, ...args], {
      stdio: ["ignore", "inherit", "inherit", ...fds],
      env,
    });
    if (pidFile && child.pid) writeFileSync(pidFile, `${child.pid}\n`);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
      child!.once("error", (e) => {
        say(`cannot start foyerd: ${describe(e)}`);
        resolve([127, null]);
      });
      child!.once("exit", (c, s) => resolve([c, s]));
    });
    const status = signal ?? `status ${code}`;
    if (stopping || code === 0) return code ?? 0;
    if (starts >= MAX_STARTS) {
      say(`foyerd failed ${starts} times (${status}): passphrases are asked on the console`);
      return 1;
    }
    say(`foyerd ended (${status}): starting it again`);
    await new Promise((r) => setTimeout(r, RESTART_DELAY_MS));
    if (stopping) return 0;
  }
}
