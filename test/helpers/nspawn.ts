// A real systemd as PID 1, for tests of the systemd backend: systemd-nspawn boots this machine's
// own /usr on a tmpfs root (--volatile=yes: nothing it does reaches the host), with the checkout
// bound read-only and a scratch directory bound read-write at the same paths inside. The
// container shares the host's network and user ids, so from outside the test reaches its system
// bus at /proc/PID/root/run/dbus/system_bus_socket as root; systemd's private socket only
// answers peers in its own PID namespace, so what uses it runs inside through nsenter.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, chmodSync, rmSync, readFileSync, existsSync, mkdirSync, copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { top, requireTool, pollUntil, withTimeout } from "./index.js";

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

export class SystemdContainer {
  /** scratch directory, the same path inside and outside */
  readonly dir: string;
  proc?: ChildProcess;
  /** the container's PID 1 (systemd), as a PID of ours */
  pid = 0;
  #log = "";

  #binds: string[];

  #initArgs: string[];

  /**
   * `binds`: host paths bound read-only at the same place (the container's /etc is empty);
   * `initArgs`: systemd's own command line (systemd.* switches, as on a kernel's)
   */
  constructor(o: { binds?: string[]; initArgs?: string[] } = {}) {
    this.#binds = o.binds ?? [];
    this.#initArgs = o.initArgs ?? [];
    requireTool("systemd-nspawn", "systemd-container");
    requireTool("nsenter", "util-linux");
    this.dir = mkdtempSync(join(tmpdir(), "foyer-nspawn-"));
    chmodSync(this.dir, 0o755);
  }

  get root(): string {
    return `/proc/${this.pid}/root`;
  }
  /** the container's system bus, reachable from outside */
  get busAddress(): string {
    return `unix:path=${this.root}/run/dbus/system_bus_socket`;
  }

  /**
   * Boots the container and waits until its systemd finished starting up; with `untilBooted:
   * false` only until systemd listens (a unit of the boot itself may wait on the test).
   */
  async start(o: { untilBooted?: boolean } = {}): Promise<void> {
    const machine = `foyer-test-${process.pid}`;
    const args = [
      "-D",
      "/",
      "--volatile=yes",
      "--register=no",
      "--keep-unit",
      "--console=pipe",
      "-M",
      machine,
      `--bind-ro=${top}`,
      `--bind=${this.dir}`,
      ...this.#binds.map((b) => `--bind-ro=${b}`),
      "-b",
      ...this.#initArgs,
    ];
    const p = spawn("systemd-nspawn", args, { stdio: ["ignore", "pipe", "pipe"] });
    this.proc = p;
    p.stdout!.on("data", (d) => (this.#log += d));
    p.stderr!.on("data", (d) => (this.#log += d));
    let exited = false;
    p.once("exit", () => (exited = true));
    // nothing announces the inner PID 1: it is nspawn's one child, running systemd
    await pollUntil(
      () => {
        if (exited) throw new Error(`systemd-nspawn exited: ${this.#log.trim().slice(-500)}`);
        const kids = readFileSync(`/proc/${p.pid}/task/${p.pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean);
        for (const k of kids) {
          try {
            if (readFileSync(`/proc/${k}/comm`, "utf8").trim() === "systemd") this.pid = Number(k);
          } catch {
            /* gone */
          }
        }
        return this.pid > 0 && existsSync(`${this.root}/run/systemd/private`);
      },
      30_000,
      "the container's systemd",
    );
    if (o.untilBooted === false) return;
    await this.booted();
  }

  /** Waits until the container's start-up is over (running or degraded). */
  async booted(): Promise<void> {
    // the event: systemctl returns when start-up is over
    const r = await this.execAsync(["systemctl", "is-system-running", "--wait"], 90_000);
    if (!/running|degraded/.test(r.stdout)) throw new Error(`the container did not boot: ${r.stdout.trim()} ${r.stderr.trim()}`);
  }

  /** foyer's bus policy (only root owns org.foyer.Supervisor1 and calls it), as packaged. */
  installPolicy(policy: string): void {
    mkdirSync(join(this.root, "etc/dbus-1/system.d"), { recursive: true });
    copyFileSync(policy, join(this.root, "etc/dbus-1/system.d/org.foyer.Supervisor1.conf"));
    const r = this.exec(["busctl", "call", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "ReloadConfig"]);
    if (r.code !== 0) throw new Error(`dbus-daemon did not reload its configuration: ${r.stderr}`);
  }

  /**
   * foyerd from the checkout as foyer.service in the container, without default dependencies as
   * in the initrd; the profile path comes from an environment file so one unit serves every start.
   */
  installFoyerUnit(runtimeDir: string): void {
    mkdirSync(join(this.root, "run/systemd/system"), { recursive: true });
    writeFileSync(
      join(this.root, "run/systemd/system/foyer.service"),
      `[Unit]\nDescription=foyerd under test\nDefaultDependencies=no\n\n[Service]\nEnvironment=FOYER_MAIN=foyerd NODE_EXTRA_CA_CERTS=\nEnvironmentFile=${join(this.dir, "foyerd.env")}\n` +
        `ExecStart=/bin/sh -c 'cd "$$0" && exec "$$@" --profile "$$FOYER_PROFILE"' ${top} ${process.execPath} --import tsx src/cli/foyerd.ts --runtime-dir ${runtimeDir} --cmdline /dev/null --bus system\n`,
    );
    const r = this.exec(["systemctl", "daemon-reload"]);
    if (r.code !== 0) throw new Error(`daemon-reload failed: ${r.stderr}`);
  }

  /** The units matching `pattern` (loaded, or failed and kept), each as [name, load, active, sub, …description]. */
  units(pattern: string): string[][] {
    return this.exec(["systemctl", "list-units", "--all", "--no-legend", "--plain", pattern])
      .stdout.split("\n")
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f[0]);
  }

  /** A command inside the container (all its namespaces). */
  exec(argv: string[], opts: { input?: string; timeoutMs?: number } = {}): Run {
    const r = spawnSync("nsenter", ["-t", String(this.pid), "-a", ...argv], {
      encoding: "utf8",
      timeout: opts.timeoutMs ?? 30_000,
      input: opts.input,
      env: { ...process.env, NODE_EXTRA_CA_CERTS: "" },
    });
    return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
  }

  execAsync(argv: string[], ms: number): Promise<Run> {
    const p = spawn("nsenter", ["-t", String(this.pid), "-a", ...argv], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NODE_EXTRA_CA_CERTS: "" },
    });
    let stdout = "",
      stderr = "";
    p.stdout!.on("data", (d) => (stdout += d));
    p.stderr!.on("data", (d) => (stderr += d));
    return withTimeout(new Promise<Run>((resolve) => p.once("exit", (code) => resolve({ code, stdout, stderr }))), ms, argv.join(" ")).catch((e) => {
      p.kill("SIGKILL");
      throw e;
    });
  }

  /** Powers the container off (SIGTERM to nspawn), SIGKILL if it does not go. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      const gone = new Promise<void>((r) => p.once("exit", () => r()));
      p.kill("SIGTERM");
      await withTimeout(gone, 30_000, "container poweroff").catch(async () => {
        p.kill("SIGKILL");
        await gone;
      });
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  get log(): string {
    return this.#log;
  }
}

/** node with tsx inside the container, running a file of the checkout (from the checkout, where tsx resolves). */
export function nodeArgv(file: string, args: string[] = []): string[] {
  return ["sh", "-c", 'cd "$0" && exec "$@"', top, process.execPath, "--import", "tsx", join(top, file), ...args];
}

export { spawnSync };
