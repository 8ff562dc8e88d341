// Shared test helpers: a real foyerd as a child process, real systemd-ask-password requests,
// waiting on events (never fixed sleeps where an event exists), and tool checks that fail with
// the tool's name instead of skipping.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync, watch, rmSync, openSync, readSync, closeSync, chmodSync, copyFileSync, mkdirSync } from "node:fs";
import { join, dirname, basename, relative } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
export { withTimeout } from "../../src/base/timeout.js";
import { chromium, type Page } from "playwright-core";
import type { Logger } from "../../src/base/log.js";
import { withTimeout } from "../../src/base/timeout.js";
import { greeterPaths } from "../../src/state/greeter-folders.js";
import { stateDir } from "../../src/state/overlay.js";

export const top = join(dirname(fileURLToPath(import.meta.url)), "../..");
export const ASK_DIR = "/run/systemd/ask-password";

/**
 * Polls `pred` every `everyMs` (20 ms) until it holds, for state no event reports (a terminal's
 * screen, a child's output). Unlike a loop raced by withTimeout, it stops polling when it gives up, so a
 * failed wait cannot keep the suite's process alive.
 */
export async function pollUntil(pred: () => boolean | Promise<boolean>, ms: number, what: string, everyMs = 20): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`${what} timed out after ${ms} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Unmounts everything mounted at or under `dir`, deepest first (foyerd's state tmpfs and its
 * overlays), so the folder can be removed.
 */
export function unmountUnder(dir: string): void {
  const mounts = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => (l.split(" ")[4] ?? "").replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === dir || m.startsWith(dir + "/"));
  for (const m of mounts.reverse()) spawnSync("umount", ["-l", m]);
}

/** Fails (does not skip) when a tool the test needs is missing. */
export function requireTool(name: string, pkg: string): void {
  const r = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`'${name}' is missing: install the Debian package '${pkg}' (packaging/dev/setup.sh does)`);
}

export interface Account {
  name: string;
  uid: number;
  gid: number;
}

/** A local account's numeric ids; fails (does not skip) when it is missing. */
export function account(name: string): Account {
  const id = (flag: string) => spawnSync("id", [flag, name], { encoding: "utf8" });
  const u = id("-u"),
    g = id("-g");
  if (u.status !== 0 || g.status !== 0) throw new Error(`the account '${name}' is missing: run packaging/dev/setup.sh as root`);
  return { name, uid: Number(u.stdout), gid: Number(g.stdout) };
}

/** setpriv's argv up to the command: `who`'s real and effective uid and gid, no other group, no capability left. */
export function asAccount(who: Account): string[] {
  return ["setpriv", `--reuid=${who.uid}`, `--regid=${who.gid}`, "--clear-groups", "--"];
}

/**
 * Copies of `files` (paths under the checkout) in a fresh folder every user can read, for what a
 * test runs as another uid: the checkout itself may sit in a folder only root can enter (a CI's
 * clone in a mktemp folder, /root). Returns the copies' paths, in order.
 */
export function forOtherUsers<T extends string[]>(...files: T): { [K in keyof T]: string } {
  const d = mkdtempSync(join(tmpdir(), "foyer-for-others-"));
  chmodSync(d, 0o755);
  return files.map((f) => {
    const to = join(d, basename(f));
    copyFileSync(join(top, f), to);
    chmodSync(to, 0o644);
    return to;
  }) as { [K in keyof T]: string };
}

const OLD_TMP = "/mnt/foyer-old-tmp";

/**
 * A fresh tmpfs on /tmp for this suite's mount namespace (test/run.mjs gives each its own): what
 * another user plants in /tmp (/tmp/.X11-unix) is then the test's, and nothing of the host's X
 * servers is touched. A checkout under /tmp stays where it is (bound in from the /tmp before, on
 * folders every user can pass through). undoPrivateTmp() takes it all away again.
 */
export function privateTmp(): void {
  const sh = (cmd: string) => {
    const r = spawnSync("sh", ["-c", cmd], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr.trim()}`);
  };
  const under = top.startsWith("/tmp/") ? relative("/tmp", top) : undefined;
  // /mnt is only a place for the old /tmp's view, on a tmpfs of this namespace's own
  if (under) sh(`mount -t tmpfs -o mode=0700,size=1m foyer-old-tmp /mnt && mkdir ${OLD_TMP} && mount --bind /tmp ${OLD_TMP}`);
  sh("mount -t tmpfs -o mode=1777,size=64m foyer-private-tmp /tmp");
  if (under) {
    mkdirSync(top, { recursive: true, mode: 0o755 });
    for (let d = top; d !== "/tmp"; d = dirname(d)) chmodSync(d, 0o755);
    sh(`mount --bind '${join(OLD_TMP, under)}' '${top}'`);
  }
}

export function undoPrivateTmp(): void {
  spawnSync("umount", ["-R", "-l", "/tmp"]);
  if (existsSync(OLD_TMP)) spawnSync("umount", ["-R", "-l", "/mnt"]);
}

/** Our own mount namespace must have a private ask dir (test/run.mjs sets one up). */
export function requirePrivateAskDir(): void {
  const mounts = readFileSync("/proc/self/mounts", "utf8");
  if (!mounts.split("\n").some((l) => l.split(" ")[1] === ASK_DIR)) {
    throw new Error(`${ASK_DIR} is not a private mount: run this suite through test/run.mjs (unshare -m)`);
  }
}

export function waitForFile(path: string, ms: number): Promise<void> {
  return withTimeout(
    new Promise<void>((resolve) => {
      if (existsSync(path)) return resolve();
      const w = watch(dirname(path), () => {
        if (existsSync(path)) {
          w.close();
          resolve();
        }
      });
    }),
    ms,
    `waiting for ${path}`,
  );
}

/** node's flags in foyer.service's ExecStart (the heap sizes foyerd ships with): the bundle runs with them in tests and benchmarks. */
export function shippedNodeFlags(): string[] {
  const unit = readFileSync(join(top, "packaging/systemd/initrd/foyer.service"), "utf8");
  const m = /^ExecStart=\S*node((?:\s+--\S+)*)\s+\S+foyerd\.mjs/m.exec(unit);
  if (!m) throw new Error("foyer.service's ExecStart does not run node with foyerd.mjs");
  return m[1]!.trim().split(/\s+/).filter(Boolean);
}

export class Foyerd {
  proc: ChildProcess;
  log = "";
  runtimeDir: string;
  #waiters: { pred: (log: string) => boolean; resolve: () => void }[] = [];

  /** `bundle`: run dist/foyerd.mjs (what ships) instead of the sources through tsx; a path: that foyerd.mjs */
  /** `wrap`: a command that execs foyerd (e.g. prlimit …) */
  constructor(
    profile: string,
    opts: { runtimeDir?: string; extraArgs?: string[]; env?: Record<string, string>; bundle?: boolean | string; wrap?: string[] } = {},
  ) {
    this.runtimeDir = opts.runtimeDir ?? mkdtempSync(join(tmpdir(), "foyer-test-"));
    const bundle = opts.bundle === true ? join(top, "dist/foyerd.mjs") : opts.bundle;
    const entry = bundle ? [...shippedNodeFlags(), bundle] : ["--import", "tsx", join(top, "src/cli/foyerd.ts")];
    const wrap = opts.wrap ?? [];
    this.proc = spawn(
      wrap[0] ?? process.execPath,
      [
        ...(wrap.length ? [...wrap.slice(1), process.execPath] : []),
        ...entry,
        "--profile",
        profile,
        "--runtime-dir",
        this.runtimeDir,
        "--cmdline",
        "/dev/null",
        ...(opts.extraArgs ?? []),
      ],
      {
        env: { ...process.env, FOYER_MAIN: "foyerd", ...opts.env },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const onData = (d: Buffer) => {
      this.log += d.toString();
      if (process.env.FOYER_TEST_VERBOSE) process.stderr.write(d);
      this.#waiters = this.#waiters.filter((w) => (w.pred(this.log) ? (w.resolve(), false) : true));
    };
    this.proc.stdout!.on("data", onData);
    this.proc.stderr!.on("data", onData);
  }

  /** Resolves when `pred` holds, checked on every line foyerd logs. */
  until(pred: (log: string) => boolean | RegExp, ms: number, what = "foyerd log line"): Promise<void> {
    const p = typeof pred === "function" ? pred : () => false;
    return withTimeout(
      new Promise<void>((resolve) => {
        if (p(this.log) === true) return resolve();
        this.#waiters.push({ pred: (l) => p(l) === true, resolve });
      }),
      ms,
      what,
    );
  }

  /** How many times `re` matches the log so far. */
  count(re: RegExp): number {
    return this.log.match(new RegExp(re.source, "g"))?.length ?? 0;
  }

  /** Waits until `re` matches the log `count` times in all. */
  untilCount(re: RegExp, count: number, ms: number): Promise<void> {
    return this.until(() => this.count(re) >= count, ms, `${count}× ${re}`);
  }

  /** The Xauthority file of its X server (x11 stack): a client as root needs it in XAUTHORITY. */
  get xauthority(): string {
    return greeterPaths(stateDir(this.runtimeDir)).xauthority;
  }

  async url(ms = 15_000): Promise<string> {
    await waitForFile(join(this.runtimeDir, "greeter-url"), ms);
    return readFileSync(join(this.runtimeDir, "greeter-url"), "utf8").trim();
  }

  async stop(): Promise<number | null> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return this.proc.exitCode;
    const done = new Promise<number | null>((r) => this.proc.once("exit", (c) => r(c)));
    this.proc.kill("SIGTERM");
    const t = setTimeout(() => this.proc.kill("SIGKILL"), 8000);
    const c = await done;
    clearTimeout(t);
    return c;
  }

  cleanup(): void {
    unmountUnder(this.runtimeDir);
    rmSync(this.runtimeDir, { recursive: true, force: true });
  }
}

const askers = new Set<ChildProcess>();
/** Kills every asker a test left behind (a failed assertion must not hang the suite). */
export function killAskers(): void {
  for (const p of askers) p.kill("SIGKILL");
  askers.clear();
}

export interface Asker {
  proc: ChildProcess;
  /** stdout bytes (the passphrase + "\n") and the exit code */
  result: Promise<{ code: number | null; out: Buffer }>;
}

/**
 * A real systemd-ask-password request in the (private) ask directory. `samePid`: the asker runs
 * as PID 1 of a PID namespace of its own, so each such request says PID=1 — one asker asking
 * again, as systemd-cryptsetup's PIN loop does from one process.
 */
export function askPassword(message: string, opts: { id?: string; echo?: boolean; timeout?: number; acceptCached?: boolean; samePid?: boolean } = {}): Asker {
  const args = ["--no-tty", `--timeout=${opts.timeout ?? 120}`];
  if (opts.id) args.push(`--id=${opts.id}`);
  if (opts.echo) args.push("--echo=yes");
  if (opts.acceptCached) args.push("--accept-cached");
  args.push(message);
  const argv = opts.samePid ? ["unshare", "--pid", "--fork", "systemd-ask-password", ...args] : ["systemd-ask-password", ...args];
  const proc = spawn(argv[0]!, argv.slice(1), { stdio: ["ignore", "pipe", "pipe"], detached: opts.samePid });
  if (opts.samePid) {
    // unshare ignores SIGTERM while its child runs, and a killed asker's file would say PID=1,
    // which foyer's probe finds alive: the asker itself is sent SIGTERM, whatever was asked,
    // through the group, and removes its file as it ends
    proc.kill = () => {
      try {
        process.kill(-proc.pid!, "SIGTERM");
      } catch {
        /* gone already */
      }
      return true;
    };
  }
  askers.add(proc);
  proc.on("exit", () => askers.delete(proc));
  const chunks: Buffer[] = [];
  proc.stdout!.on("data", (c: Buffer) => chunks.push(c));
  // "close", not "exit": the asker's last write can still be in the pipe when "exit" comes (seen
  // under load: the passphrase read back as "")
  const result = new Promise<{ code: number | null; out: Buffer }>((resolve) => proc.on("close", (code) => resolve({ code, out: Buffer.concat(chunks) })));
  return { proc, result };
}

export function askFiles(): string[] {
  return spawnSync("ls", [ASK_DIR], { encoding: "utf8" })
    .stdout.split("\n")
    .filter((n) => n.startsWith("ask."));
}

/** A Logger that appends "level message" lines to `lines`, for asserting what a part logged. */
export function collectingLogger(lines: string[]): Logger {
  const l: Logger = {
    // the fields too: a failure message that quotes these lines must say why
    error: (m, f) => lines.push(`error ${m}${f ? ` ${JSON.stringify(f)}` : ""}`),
    warning: (m, f) => lines.push(`warning ${m}${f ? ` ${JSON.stringify(f)}` : ""}`),
    notice: (m, f) => lines.push(`notice ${m}${f ? ` ${JSON.stringify(f)}` : ""}`),
    info: (m, f) => lines.push(`info ${m}${f ? ` ${JSON.stringify(f)}` : ""}`),
    debug: (m, f) => lines.push(`debug ${m}${f ? ` ${JSON.stringify(f)}` : ""}`),
    child: () => l,
  };
  return l;
}

/**
 * The greeter page inside a chromium that foyer started with a debug port (test profiles only).
 * The port opens with the browser and nothing reports when: it is retried until `ms`.
 */
export async function connectGreeter(port: number, ms = 30_000): Promise<{ page: Page; close: () => Promise<void> }> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const b = await chromium.connectOverCDP(`http://127.0.0.1:${port}`, { timeout: 2000 });
      const page = b.contexts()[0]?.pages()[0];
      if (page) return { page, close: () => b.close() };
      await b.close();
    } catch {
      /* not listening yet */
    }
    if (Date.now() > end) throw new Error(`connect to the greeter's chromium on port ${port} timed out after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** How many times `needle` is in the readable and writable mappings of `pid` (a process's memory, for secrets left in it). */
export function memoryHits(pid: number, needle: Buffer): number {
  let hits = 0;
  const fd = openSync(`/proc/${pid}/mem`, "r");
  try {
    for (const line of readFileSync(`/proc/${pid}/maps`, "utf8").split("\n")) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) rw/.exec(line);
      if (!m || line.includes("[vvar]") || line.includes("[vsyscall]")) continue;
      const start = BigInt(`0x${m[1]}`),
        end = BigInt(`0x${m[2]}`);
      const len = Number(end - start);
      if (len > 1 << 30) continue;
      const buf = Buffer.alloc(len);
      try {
        readSync(fd, buf, 0, len, start);
      } catch {
        continue;
      }
      for (let at = buf.indexOf(needle); at >= 0; at = buf.indexOf(needle, at + 1)) hits++;
    }
  } finally {
    closeSync(fd);
  }
  return hits;
}

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-gpu",
];

/** A pending passphrase request as foyer's own prompt asks it (src/supervisor/prompt-editor.ts), with `o` over it. */
export function consoleRequest(
  o: Partial<import("../../src/supervisor/prompt-editor.js").ConsoleRequest> = {},
): import("../../src/supervisor/prompt-editor.js").ConsoleRequest {
  return { key: 1, message: "Passphrase for root:", echo: false, retries: 0, kind: "passphrase", from: "systemd", ...o };
}
