// npm run demo: foyer's main job on an embedded default, with no real disk. It makes a LUKS2
// container file on the spot, starts foyerd, and then plays systemd-cryptsetup's part: a real
// systemd-ask-password request, the answer checked with `cryptsetup open --test-passphrase`, a
// wrong one asked again (tries=3, as systemd-cryptsetup). Everything runs in a private mount
// namespace with its own /run/systemd/ask-password, so the host's agents neither see nor answer.
// Its mounts (that tmpfs, foyerd's state) end with the namespace; the work folder is made and
// removed outside it, by the process that started the namespace, once nothing is mounted there.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, existsSync, readFileSync, watch } from "node:fs";
import { run as runTool } from "../base/command.js";
import { describe } from "../base/errors.js";
import { join, dirname } from "node:path";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { wipeAll } from "../base/secret.js";

export const DEMO_PASSPHRASE = "correct horse battery staple";
const ASK_DIR = "/run/systemd/ask-password";

function die(msg: string): never {
  process.stderr.write(`foyer-demo: ${msg}\n`);
  process.exit(1);
}

/** `cmd`'s exit code; the caller zeroes `input`. */
async function run(cmd: string, args: string[], input?: Buffer): Promise<number> {
  const r = await runTool([cmd, ...args], { timeoutMs: 60_000, ...(input ? { input } : {}) }).catch((e: unknown) => die(describe(e)));
  return r.code ?? 1;
}

/** One systemd-ask-password request; its stdout (the passphrase) stays in Buffers. */
function ask(message: string, id: string): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const p = spawn("systemd-ask-password", ["--no-tty", `--id=${id}`, "--timeout=0", message], { stdio: ["ignore", "pipe", "inherit"] });
    const chunks: Buffer[] = [];
    p.stdout.on("data", (c: Buffer) => chunks.push(c));
    p.on("error", () => die("systemd-ask-password is missing (install the 'systemd' package)"));
    p.on("exit", (code) => {
      const all = Buffer.concat(chunks);
      wipeAll(...chunks);
      if (code !== 0) {
        wipeAll(all);
        return resolve(undefined);
      }
      // systemd-ask-password ends the passphrase with a newline; the key does not have it
      resolve(all.subarray(0, all.length > 0 && all[all.length - 1] === 0x0a ? all.length - 1 : all.length));
    });
  });
}

function waitForFile(path: string, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (existsSync(path)) return resolve();
    const w = watch(dirname(path), () => {
      if (existsSync(path)) {
        w.close();
        clearTimeout(t);
        resolve();
      }
    });
    const t = setTimeout(() => {
      w.close();
      reject(new Error(`${path} did not appear within ${ms} ms`));
    }, ms);
  });
}

async function main(): Promise<number> {
  const { values: o } = parseArgs({
    args: process.argv.slice(2),
    options: {
      profile: { type: "string" },
      "runtime-dir": { type: "string" },
      tries: { type: "string", default: "3" },
    },
  });
  if (process.getuid?.() !== 0) die("needs root: it makes a private mount namespace and runs cryptsetup");
  if (process.env.FOYER_DEMO_NS !== "1") {
    // re-run ourselves in a private mount namespace with a private ask directory. Synchronous:
    // this process has nothing else to do while the demo runs in the namespace, and its stdio is ours
    const self = process.argv.slice(1);
    const work = mkdtempSync(join(tmpdir(), "foyer-demo-"));
    const r = spawnSync("unshare", ["--mount", "--propagation", "private", "--", process.execPath, ...process.execArgv, ...self], {
      stdio: "inherit",
      env: { ...process.env, FOYER_DEMO_NS: "1", FOYER_DEMO_WORK: work },
    });
    try {
      // the namespace is gone, and foyerd's state tmpfs with it
      rmSync(work, { recursive: true, force: true });
    } catch (e) {
      process.stderr.write(`foyer-demo: cannot remove '${work}': ${describe(e)}\n`);
    }
    if (r.error) die("unshare is missing (install 'util-linux')");
    return r.status ?? 1;
  }
  mkdirSync(ASK_DIR, { recursive: true });
  if ((await run("mount", ["-t", "tmpfs", "-o", "mode=0755,size=1m", "foyer-demo-ask", ASK_DIR])) !== 0) die(`cannot mount a private tmpfs on ${ASK_DIR}`);

  const work = process.env.FOYER_DEMO_WORK ?? die("FOYER_DEMO_WORK is not set: run foyer-demo itself, not its inner part");
  const runtimeDir = o["runtime-dir"] ?? join(work, "run");
  const luks = join(work, "demo.luks");

  // a small LUKS2 container with a cheap KDF, so checking a passphrase takes milliseconds
  await run("truncate", ["-s", "20M", luks]);
  const key = Buffer.from(DEMO_PASSPHRASE);
  if (
    (await run(
      "cryptsetup",
      ["luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--key-file=-", luks],
      key,
    )) !== 0
  )
    die("cryptsetup luksFormat failed (install 'cryptsetup-bin')");
  wipeAll(key);

  const display = process.env.WAYLAND_DISPLAY || process.env.DISPLAY;
  const profile = o.profile ?? "headless";
  const here = dirname(fileURLToPath(import.meta.url));
  const foyerd = existsSync(join(here, "foyerd.mjs")) ? join(here, "foyerd.mjs") : join(here, "foyerd.ts");
  mkdirSync(runtimeDir, { recursive: true, mode: 0o755 });
  const daemon = spawn(
    process.execPath,
    [...process.execArgv, foyerd, "--profile", profile, "--runtime-dir", runtimeDir, "--ask-dir", ASK_DIR, "--cmdline", "/dev/null"],
    {
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, FOYER_MAIN: "foyerd" },
    },
  );
  const stopDaemon = () => daemon.exitCode === null && daemon.kill("SIGTERM");
  process.on("SIGINT", () => {
    stopDaemon();
    process.exit(130);
  });
  await waitForFile(join(runtimeDir, "greeter-url"), 30_000).catch((e) => {
    stopDaemon();
    die(String(e));
  });
  const url = readFileSync(join(runtimeDir, "greeter-url"), "utf8").trim();
  process.stdout.write(`\nfoyer demo: a LUKS2 container is waiting to be unlocked.\n  passphrase: ${DEMO_PASSPHRASE}\n`);
  if (profile === "headless") {
    if (display)
      spawn("chromium", [`--app=${url}`, `--user-data-dir=${join(work, "browser")}`, "--no-first-run"], { stdio: "ignore", detached: true }).on(
        "error",
        () => {},
      );
    process.stdout.write(`  open the greeter in a browser on this machine: ${url}\n\n`);
  }

  const tries = Math.max(1, Number(o.tries) || 3);
  let unlocked = false;
  for (let i = 1; i <= tries && !unlocked; i++) {
    const pass = await ask(`Please enter passphrase for disk demo.luks (${i}/${tries}):`, "cryptsetup:demo.luks");
    if (!pass) break;
    const rc = await run("cryptsetup", ["open", "--test-passphrase", "--key-file=-", luks], pass);
    wipeAll(pass);
    unlocked = rc === 0;
    process.stdout.write(unlocked ? "foyer demo: unlocked demo.luks\n" : `foyer demo: wrong passphrase (try ${i} of ${tries})\n`);
  }
  stopDaemon();
  await new Promise((r) => (daemon.exitCode !== null ? r(null) : daemon.once("exit", r)));
  return unlocked ? 0 : 1;
}

if (process.env.FOYER_MAIN === "foyer-demo" || (process.argv[1] && process.argv[1] === fileURLToPath(import.meta.url))) {
  main().then(
    (c) => process.exit(c),
    (e) => die(String(e)),
  );
}
