// A private dbus-daemon configured like the system bus (EXTERNAL auth, method calls denied by
// default) plus foyer's shipped policy file, run as a child so a test can kill it and start a new
// one on the same socket path (a bus restart, as at switch-root).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync, chmodSync, mkdirSync, copyFileSync, readdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { tmpdir } from "node:os";
import { top, withTimeout, requireTool } from "../helpers/index.js";

export const POLICY = join(top, "packaging/dbus/org.foyer.Supervisor1.conf");
export const XML = join(top, "packaging/dbus/org.foyer.Supervisor1.xml");

/** A bus where anyone may own and call anything, for tests of the connection rather than of the policy. */
const OPEN_POLICY = `<policy context="default"><allow user="*"/><allow own="*"/><allow send_type="method_call"/><allow send_type="method_return"/><allow send_type="error"/><allow send_type="signal"/><allow receive_type="method_call"/><allow receive_type="method_return"/><allow receive_type="error"/><allow receive_type="signal"/></policy>`;

function config(socket: string, open: boolean): string {
  if (open) {
    return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN" "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path=${socket}</listen><auth>EXTERNAL</auth>${OPEN_POLICY}</busconfig>
`;
  }
  return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <include>${POLICY}</include>
</busconfig>
`;
}

export class PrivateBus {
  dir: string;
  socket: string;
  address: string;
  #conf: string;
  proc?: ChildProcess;

  /** open: anyone may own and call anything (no foyer policy) */
  constructor(o: { open?: boolean } = {}) {
    requireTool("dbus-daemon", "dbus-daemon");
    requireTool("busctl", "systemd");
    this.dir = mkdtempSync(join(tmpdir(), "foyer-bus-"));
    // the unprivileged caller (nobody) must reach the socket
    chmodSync(this.dir, 0o755);
    this.socket = join(this.dir, "system_bus_socket");
    this.address = `unix:path=${this.socket}`;
    this.#conf = join(this.dir, "bus.conf");
    writeFileSync(this.#conf, config(this.socket, o.open ?? false));
  }

  /** Starts the daemon and resolves once it listens (it prints its address when ready). */
  async start(): Promise<void> {
    const p = spawn("dbus-daemon", ["--config-file", this.#conf, "--nofork", "--nopidfile", "--print-address=1"], { stdio: ["ignore", "pipe", "pipe"] });
    this.proc = p;
    let err = "";
    p.stderr!.on("data", (d) => (err += d));
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        p.stdout!.once("data", () => resolve());
        p.once("exit", (c) => reject(new Error(`dbus-daemon exited (${c}): ${err.trim()}`)));
      }),
      5000,
      "dbus-daemon start",
    );
  }

  /** SIGKILL: the bus vanishes without saying goodbye, as a dying broker does. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise<void>((r) => p.once("exit", () => r()));
    p.kill("SIGKILL");
    await withTimeout(gone, 5000, "dbus-daemon exit");
  }

  async cleanup(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** busctl against the private bus, optionally as the unprivileged user nobody. */
export function busctl(bus: PrivateBus, args: string[], opts: { asNobody?: boolean } = {}): Run {
  const argv = ["busctl", `--address=${bus.address}`, "--timeout=5", ...args];
  const cmd = opts.asNobody ? ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", ...argv] : argv;
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: "utf8", timeout: 15_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** gdbus call: unlike busctl it prints the D-Bus error name, which is what the tests check. */
export function gdbusCall(bus: PrivateBus, member: string, args: string[] = [], opts: { asNobody?: boolean } = {}): Run {
  const argv = ["gdbus", "call", "-a", bus.address, "--timeout", "5", "-d", "org.foyer.Supervisor1", "-o", "/org/foyer/Supervisor1", "-m", member, ...args];
  const cmd = opts.asNobody ? ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", ...argv] : argv;
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: "utf8", timeout: 15_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** foyerctl from the sources, as root or as nobody. */
let readableBin: string | undefined;
/**
 * nobody cannot read a checkout that sits under a 0700 directory (a CI clone may), so the
 * unprivileged runs use a world-readable copy of the shipped foyerctl (bin/ + the dist/ bundles).
 */
export function nobodyFoyerctl(): string {
  if (!readableBin) {
    const d = mkdtempSync(join(tmpdir(), "foyerctl-"));
    chmodSync(d, 0o755);
    // dist/*.mjs: the bundle and the chunks it shares with foyerd, as the image builders copy them
    const dist = readdirSync(join(top, "dist"))
      .filter((f) => f.endsWith(".mjs"))
      .map((f) => `dist/${f}`);
    for (const f of ["bin/foyerctl.mjs", ...dist]) {
      mkdirSync(dirname(join(d, f)), { recursive: true, mode: 0o755 });
      copyFileSync(join(top, f), join(d, f));
      chmodSync(join(d, f), 0o644);
    }
    readableBin = join(d, "bin/foyerctl.mjs");
  }
  return readableBin;
}

export function foyerctl(bus: PrivateBus | string, args: string[], opts: { asNobody?: boolean } = {}): Run {
  const address = typeof bus === "string" ? bus : bus.address;
  const argv = opts.asNobody
    ? ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", process.execPath, nobodyFoyerctl(), "--bus", address, ...args]
    : [process.execPath, "--import", "tsx", join(top, "src/cli/foyerctl.ts"), "--bus", address, ...args];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", timeout: 20_000, cwd: opts.asNobody ? "/" : top });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// foyerd's own mount namespace with a private ask directory: the real systemd-ask-password
// always writes to /run/systemd/ask-password, and the host's agents must not see our requests
// (nor we theirs). The test joins that namespace with nsenter to ask.
export const PRIVATE_ASK_DIR = [
  "unshare",
  "--mount",
  "--propagation",
  "private",
  "--",
  "sh",
  "-c",
  'mkdir -p /run/systemd/ask-password && mount -t tmpfs -o mode=0755,size=4m foyer-dbus-test /run/systemd/ask-password && exec "$@"',
  "sh",
];

/** The introspection of org.foyer.Supervisor1 as a sorted list of members, without names of args or comments. */
export function members(xml: string): string[] {
  const body = /<interface name="org\.foyer\.Supervisor1">([\s\S]*?)<\/interface>/.exec(xml.replace(/<!--[\s\S]*?-->/g, ""));
  if (!body) throw new Error("no org.foyer.Supervisor1 interface in the XML");
  const out: string[] = [];
  const attr = (tag: string, a: string) => new RegExp(`${a}="([^"]*)"`).exec(tag)?.[1] ?? "";
  for (const m of body[1]!.matchAll(/<(property|method|signal)\b([^>]*?)(\/>|>([\s\S]*?)<\/\1>)/g)) {
    const [, kind, head, , inner] = m;
    const args = [...(inner ?? "").matchAll(/<arg\b[^>]*>/g)].map((a) => `${attr(a[0], "direction") || (kind === "signal" ? "" : "in")}:${attr(a[0], "type")}`);
    out.push(
      kind === "property"
        ? `property ${attr(head!, "name")} ${attr(head!, "type")} ${attr(head!, "access")}`
        : `${kind} ${attr(head!, "name")}(${args.join(",")})`,
    );
  }
  return out.sort();
}
