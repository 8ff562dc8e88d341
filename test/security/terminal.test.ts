// The recovery terminal's privilege boundary (security issue "the privilege boundary holds"),
// through foyer's real path: a WebSocket client with the boot's token → foyerd → the pty broker →
// the real sulogin on a real pty, root's password known from an /etc/shadow bind-mounted in this
// suite's mount namespace. What is left running as root is looked at as another user would see
// it: `ps` run as nobody (setpriv), in the suite's own PID namespace (test/run.mjs).
//   - one root broker and sulogin at a time, whatever a client sends
//   - root passwords reach sulogin at a pace foyerd sets (password-rate.ts), counted
//   - a killed foyerd, or a closed terminal, leaves no broker, sulogin, shell or background job
//   - a broker that cannot be spawned is an error to the client, not a dead foyerd
//   - keystrokes (a root password) are not left in foyerd's memory
//   - fsck -y (the repair) runs only behind sulogin's password, or its --force on a locked root
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { randomBytes } from "node:crypto";
import WebSocket from "ws";
import { Foyerd, memoryHits, pollUntil, requirePrivateAskDir, requireTool, withTimeout } from "../helpers/index.js";
import { FRAME_TERMINAL, type StateMessage } from "../../src/protocol/greeter.js";
import { failureDelayMs, maxTriesWithin } from "../../src/greeter/password-rate.js";

for (const [t, pkg] of [
  ["sulogin", "util-linux"],
  ["setpriv", "util-linux"],
  ["prlimit", "util-linux"],
  ["ps", "procps"],
  ["openssl", "openssl"],
  ["mkfs.ext4", "e2fsprogs"],
  ["debugfs", "e2fsprogs"],
  ["fsck.ext4", "e2fsprogs"],
])
  requireTool(t!, pkg!);
requirePrivateAskDir();

const dir = mkdtempSync(join(tmpdir(), "foyer-security-"));
const PROMPT = /Give root password for maintenance/g;
const WRONG = /Login incorrect/g;
const hash = spawnSync("openssl", ["passwd", "-6", "-salt", "security", "root-pw"], { encoding: "utf8" }).stdout.trim();

/** root's password is "root-pw", or root is locked; in this suite's mount namespace only */
function shadow(rootLocked: boolean): void {
  writeFileSync(join(dir, "shadow"), readFileSync("/etc/shadow", "utf8").replace(/^root:[^:]*:/m, `root:${rootLocked ? "!*" : hash}:`), { mode: 0o600 });
  spawnSync("umount", ["/etc/shadow"]);
  assert.is(spawnSync("mount", ["--bind", join(dir, "shadow"), "/etc/shadow"]).status, 0);
}

let daemon: Foyerd | undefined;
let client: Client | undefined;
/** pids a test started on purpose and must end itself (a session of their own: out of scope) */
const strays: number[] = [];

function start(recovery: object = {}, extraArgs: string[] = []): Foyerd {
  writeFileSync(join(dir, "p.json"), JSON.stringify({ schema: 1, display: { stack: "headless" }, log: { kmsg: false }, recovery }));
  daemon = new Foyerd(join(dir, "p.json"), { extraArgs: ["--recovery", "security suite", ...extraArgs] });
  return daemon;
}

test.after.each(async () => {
  client?.close();
  client = undefined;
  await daemon?.stop();
  daemon?.cleanup();
  daemon = undefined;
  for (const pid of strays.splice(0)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
  spawnSync("umount", ["/etc/shadow"]);
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** A greeter connection as root with the boot's token, as a page or any local process that read greeter-url would have. */
class Client {
  screen = "";
  errors: { code: string; message: string }[] = [];
  state?: StateMessage;
  states = 0;
  private constructor(private ws: WebSocket) {
    ws.on("message", (d: Buffer, binary: boolean) => {
      if (binary) {
        if (d[0] === FRAME_TERMINAL) this.screen += d.subarray(1).toString();
        return;
      }
      const m = JSON.parse(d.toString());
      if (m.type === "error") this.errors.push(m);
      else if (m.type === "state") {
        this.state = m;
        this.states++;
      }
    });
  }
  static async connect(f: Foyerd): Promise<Client> {
    const url = new URL(await f.url());
    const ws = new WebSocket(`ws://${url.host}/ws?${url.hash.slice(1)}`, { headers: { Origin: url.origin } });
    const c = new Client(ws);
    await withTimeout(new Promise((r) => ws.on("open", r)), 5_000, "the greeter connection");
    await pollUntil(() => c.state?.recovery !== undefined, 10_000, "the recovery state");
    client = c;
    return c;
  }
  send(m: object): void {
    this.ws.send(JSON.stringify(m));
  }
  open(repair = false): void {
    this.send({ type: "terminal_open", cols: 120, rows: 30, ...(repair ? { repair } : {}) });
  }
  /** keystrokes in one frame, as a paste arrives from the page */
  type(s: string): void {
    this.ws.send(Buffer.concat([Buffer.from([FRAME_TERMINAL]), Buffer.from(s)]), { binary: true });
  }
  count(re: RegExp): number {
    return this.screen.match(re)?.length ?? 0;
  }
  until(re: RegExp, ms: number, what: string): Promise<void> {
    return pollUntil(() => re.test(this.screen), ms, what).catch((e: Error) => {
      throw new Error(`${e.message}; the terminal showed: ${JSON.stringify(this.screen.slice(-400))}`);
    });
  }
  get terminalOpen(): boolean {
    return this.state?.recovery?.terminal.open ?? false;
  }
  close(): void {
    this.ws.close();
  }
}

interface Proc {
  pid: number;
  uid: number;
  args: string;
}
/** Every process as the user nobody sees it (`ps` under setpriv): uid and command line. */
function seenByNobody(): Proc[] {
  const r = spawnSync("setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", "ps", "-eo", "pid=,uid=,args="], { encoding: "utf8" });
  assert.is(r.status, 0, `ps as nobody: ${r.stderr}`);
  return r.stdout
    .trim()
    .split("\n")
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l)!)
    .map((m) => ({ pid: Number(m[1]), uid: Number(m[2]), args: m[3]! }));
}
const BROKER = /pty-broker\.ts|foyer-pty\.mjs/;
const rootOnes = (re: RegExp) => seenByNobody().filter((p) => p.uid === 0 && re.test(p.args));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("one root terminal at a time: opens while one is live or closing are refused with 'busy'", async () => {
  shadow(false);
  const f = start();
  const c = await Client.connect(f);
  for (let i = 0; i < 40; i++) c.open();
  await c.until(PROMPT, 20_000, "sulogin's prompt");
  await pollUntil(() => c.errors.length + f.count(/recovery terminal opened/) >= 40, 20_000, "an answer to each of 40 opens");
  const brokers = rootOnes(BROKER),
    sulogins = rootOnes(/^\S*sulogin\b/);
  console.log(
    `40 opens: ${f.count(/recovery terminal opened/)} terminal(s) started, ${c.errors.length} refused; root brokers ${brokers.length}, sulogins ${sulogins.length} (as nobody sees them)`,
  );
  assert.is(f.count(/recovery terminal opened/), 1, "terminals started");
  assert.is(brokers.length, 1, "root brokers running");
  assert.is(sulogins.length, 1, "sulogins running");
  assert.equal([...new Set(c.errors.map((e) => e.code))], ["busy"]);

  // while it closes: refused until its broker has exited, then the next one starts
  c.send({ type: "terminal_close" });
  c.open();
  await pollUntil(() => c.errors.length >= 40, 10_000, "an answer to the open while closing");
  assert.is(c.errors[39]!.code, "busy");
  assert.match(c.errors[39]!.message, /still closing/);
  await f.until((l) => l.includes("recovery terminal closed"), 10_000, "the terminal closed");
  assert.equal(rootOnes(BROKER), [], "a broker outlived its terminal");
  c.open();
  await pollUntil(() => c.count(PROMPT) >= 2, 20_000, "sulogin's prompt in the next terminal");
  assert.is(f.count(/recovery terminal opened/), 2);
});

test("root passwords reach sulogin no faster than foyerd's pacing, however fast they are sent", async () => {
  shadow(false);
  const f = start();
  const c = await Client.connect(f);
  const tries = () => c.count(WRONG);
  const t0 = Date.now();
  let sent = 0;
  /** wrong passwords every 3 ms until `stop` */
  const blast = async (stop: () => boolean) => {
    while (!stop()) {
      c.type(`wrong-${sent++}\r`);
      await sleep(3);
    }
  };
  /**
   * Closes the terminal once the try in flight has been answered (waiting at most the longest
   * delay the pacing could be at), so that no try is cut off uncounted, then waits until it closed.
   */
  const closeAfterAnswer = async (answered: number) => {
    await pollUntil(() => tries() > answered, failureDelayMs(maxTriesWithin(Date.now() - t0) + 1) + 5_000, "the last try's answer").catch(() => {});
    c.send({ type: "terminal_close" });
    await pollUntil(() => f.count(/recovery terminal closed/) >= f.count(/recovery terminal opened/), 10_000, "the terminal closed");
  };
  // one terminal: a wrong password every 3 ms for 12 s
  c.open();
  await c.until(PROMPT, 20_000, "sulogin's prompt");
  await blast(() => Date.now() - t0 > 12_000);
  await closeAfterAnswer(tries());
  // then terminal after terminal, each with the same flood, until 24 s have passed
  while (Date.now() - t0 < 24_000) {
    const prompts = c.count(PROMPT);
    c.open();
    await pollUntil(() => c.count(PROMPT) > prompts, 20_000, "sulogin's prompt");
    const before = tries();
    await blast(() => tries() > before || Date.now() - t0 > 60_000);
    await closeAfterAnswer(tries() - 1);
  }
  const elapsed = Date.now() - t0;
  // the bound is the pacing's, from the first try: 1 s for the clocks read at other instants
  const bound = maxTriesWithin(elapsed + 1_000);
  console.log(
    `${sent} wrong passwords sent in ${(elapsed / 1000).toFixed(1)} s over ${f.count(/recovery terminal opened/)} terminals: sulogin answered ${tries()} (bound ${bound})`,
  );
  assert.ok(tries() >= 2, "the flood reached sulogin");
  assert.ok(tries() <= bound, `sulogin saw ${tries()} passwords in ${elapsed} ms; the pacing allows ${bound}`);
});

/** A root shell in the terminal that started background jobs; their pids, and the broker's. */
async function shellWithJobs(c: Client): Promise<{ broker: number; shell: number; jobs: number[]; ownSession: number }> {
  c.open();
  await c.until(PROMPT, 20_000, "sulogin's prompt");
  c.type("root-pw\r");
  await c.until(/# $/, 20_000, "a root shell's prompt");
  c.type("echo SHELL-$((40+2))\r");
  await c.until(/SHELL-42/, 20_000, "a root shell");
  // a job, a job that ignores SIGHUP, and one in a session of its own (out of scope: left)
  c.type("sleep 1000 & (trap '' HUP; exec sleep 1002) & setsid sleep 1001 & echo JOBS-$((1+1))\r");
  await c.until(/JOBS-2/, 10_000, "the jobs started");
  await pollUntil(() => rootOnes(/^sleep 100[012]$/).length === 3, 10_000, "three sleeps, and no other");
  const pid = (re: RegExp) => rootOnes(re)[0]!.pid;
  const sid = (p: number) => Number(readFileSync(`/proc/${p}/stat`, "latin1").split(") ")[1]!.split(" ")[4]);
  const s = { broker: pid(BROKER), shell: sid(pid(/^sleep 1000$/)), jobs: [pid(/^sleep 1000$/), pid(/^sleep 1002$/)], ownSession: pid(/^sleep 1001$/) };
  strays.push(s.ownSession, s.broker, s.shell, ...s.jobs); // whatever a failed test leaves, the next does not see
  return s;
}

async function noneLeft(pids: number[], what: string): Promise<void> {
  await pollUntil(() => !seenByNobody().some((p) => pids.includes(p.pid)), 10_000, what).catch((e: Error) => {
    throw new Error(`${e.message}; still running as root: ${JSON.stringify(seenByNobody().filter((p) => pids.includes(p.pid)))}`);
  });
}

test("a killed foyerd leaves no broker, sulogin, shell or background job running as root", async () => {
  shadow(false);
  const f = start();
  const c = await Client.connect(f);
  const s = await shellWithJobs(c);
  const all = [s.broker, s.shell, ...s.jobs];
  assert.ok(
    seenByNobody()
      .filter((p) => all.includes(p.pid))
      .every((p) => p.uid === 0),
    "the terminal's processes run as root",
  );
  f.proc.kill("SIGKILL");
  await noneLeft(all, "the terminal's processes gone after foyerd's SIGKILL");
  const own = seenByNobody().some((p) => p.pid === s.ownSession);
  console.log(`foyerd SIGKILLed: broker, shell and 2 jobs gone; the job in a session of its own (setsid) ${own ? "is left, as designed" : "is gone too"}`);
});

test("a closed terminal leaves no broker, sulogin, shell or background job; foyerd goes on", async () => {
  shadow(false);
  const f = start();
  const c = await Client.connect(f);
  const s = await shellWithJobs(c);
  c.send({ type: "terminal_close" });
  await noneLeft([s.broker, s.shell, ...s.jobs], "the terminal's processes gone after its close");
  await pollUntil(() => !c.terminalOpen, 10_000, "the view says the terminal closed");
  assert.is(f.proc.exitCode, null);
});

test("a broker that cannot be spawned is an error to the client; the view says closed, foyerd lives", async () => {
  shadow(false);
  const f = start();
  const c = await Client.connect(f);
  const pid = f.proc.pid!;
  // no descriptor left for foyerd (RLIMIT_NOFILE applies to root too): spawn's pipes fail with
  // EMFILE. The soft limit only, below the lowest free descriptor: raising it back needs no privilege
  const soft = /^Max open files\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/limits`, "utf8"))![1]!;
  const used = new Set(readdirSync(`/proc/${pid}/fd`).map(Number));
  let free = 0;
  while (used.has(free)) free++;
  assert.is(spawnSync("prlimit", ["--pid", String(pid), `--nofile=${free}:`]).status, 0);
  try {
    c.open();
    await pollUntil(() => c.errors.length > 0 || f.proc.exitCode !== null || f.proc.signalCode !== null, 10_000, "an answer to the open");
  } finally {
    if (f.proc.exitCode === null) assert.is(spawnSync("prlimit", ["--pid", String(pid), `--nofile=${soft}:`]).status, 0, "foyerd's limit restored");
  }
  // one more round trip: a foyerd that dies after its answer does not answer this
  const states = c.states;
  c.send({ type: "hello", version: 1 });
  await pollUntil(() => c.states > states || f.proc.exitCode !== null, 10_000, "foyerd's answer to hello");
  assert.is(f.proc.exitCode, null, `foyerd exited; it said:\n${f.log.split("\n").slice(-8).join("\n")}`);
  assert.not.match(f.log, /unexpected error/, "the failure reached foyerd's last-resort handler");
  assert.is(c.errors[0]!.code, "spawn-failed");
  assert.match(f.log, /recovery terminal's broker failed.*EMFILE/);
  assert.not.ok(c.terminalOpen, "the view says the terminal is open");
  // and the next open works
  c.open();
  await c.until(PROMPT, 20_000, "sulogin's prompt after the failure");
});

test("keystrokes on the terminal path are not left in foyerd's memory", async () => {
  shadow(false);
  const f = start();
  const c = await Client.connect(f);
  const canary = `cnry-${randomBytes(12).toString("hex")}`;
  c.open();
  await c.until(PROMPT, 20_000, "sulogin's prompt");
  c.type(`${canary}\r`); // a pasted password: one frame
  await c.until(WRONG, 15_000, "sulogin's answer");
  const pid = f.proc.pid!;
  assert.ok(memoryHits(pid, Buffer.from(f.runtimeDir)) > 0, "the memory scanner finds nothing at all");
  const hits = memoryHits(pid, Buffer.from(canary));
  console.log(`foyerd's memory after a password typed in the terminal: ${hits} copies`);
  assert.is(hits, 0, "copies of the keystrokes in foyerd's memory");
  assert.not.ok(f.log.includes(canary));
});

/** A small ext4 image that fsck -n fails on: an inode cleared under its entry, blocks in use marked free. */
function corruptImage(): string {
  const img = join(dir, "fs.ext4");
  const tree = join(dir, "tree");
  rmSync(tree, { recursive: true, force: true });
  for (let d = 0; d < 4; d++) {
    mkdirSync(join(tree, `d${d}`), { recursive: true });
    for (let n = 0; n < 20; n++) writeFileSync(join(tree, `d${d}`, `f${n}`), `file ${d}/${n}\n`.repeat(50));
  }
  assert.is(spawnSync("mkfs.ext4", ["-q", "-F", "-d", tree, img, "16M"]).status, 0);
  assert.is(spawnSync("debugfs", ["-w", "-R", "clri /d1/f3", img]).status, 0);
  assert.is(spawnSync("debugfs", ["-w", "-R", "freeb 300 20", img]).status, 0);
  assert.is.not(fsckN(img), 0, "the image must fail fsck -n");
  return img;
}
const fsckN = (img: string) => spawnSync("fsck.ext4", ["-n", "-f", img]).status;

test("fsck -y runs only behind the root password: the repair is sulogin's terminal", async () => {
  shadow(false);
  const img = corruptImage();
  const f = start({}, ["--fsck-device", img]);
  const c = await Client.connect(f);
  await pollUntil(() => c.state?.recovery?.fsck?.exitCode != null, 30_000, "the read-only check");
  // the repair action of old is gone: nothing writes without the password
  c.send({ type: "recovery_action", action: "fsck" });
  await pollUntil(() => c.errors.length > 0 || /fsck repair of/.test(f.log), 10_000, "an answer to the old repair action");
  assert.not.match(f.log, /fsck repair of/, "a repair ran without the root password");
  assert.is(c.errors[0]!.code, "protocol-error");

  c.open(true);
  await c.until(PROMPT, 20_000, "sulogin's prompt for the repair");
  assert.ok(c.state?.recovery?.terminal.repair, "the view says the terminal is the repair's");
  // the device is in the environment, on no command line but fsck's own
  assert.equal(
    seenByNobody().filter((p) => p.args.includes(img) && p.pid !== f.proc.pid),
    [],
    "the device on a command line",
  );
  c.type("wrong\r");
  await c.until(WRONG, 15_000, "a wrong password refused");
  assert.is.not(fsckN(img), 0, "the image was written to after a wrong password");
  c.type("root-pw\r");
  await c.until(/fsck exited with code 1\./, 60_000, "the repair ran");
  await pollUntil(() => c.state?.recovery?.fsck?.running === true || c.state?.recovery?.fsck?.exitCode === 1, 10_000, "the view follows the repair");
  c.type("\r");
  // fsck's 1 (errors corrected), then foyer's read-only check again: the view ends clean
  await pollUntil(() => !c.terminalOpen && c.state?.recovery?.fsck?.exitCode === 0, 30_000, "the terminal closed, the check after the repair clean");
  assert.match(daemon!.log, /fsck repair of '[^']+' exited 1/);
  assert.is(fsckN(img), 0, "the image is clean after the repair");
});

test("a locked root gets the repair without a password only with recovery.suloginForce", async () => {
  shadow(true);
  let img = corruptImage();
  start({ suloginForce: false }, ["--fsck-device", img]);
  let c = await Client.connect(daemon!);
  await pollUntil(() => c.state?.recovery?.fsck?.exitCode != null, 30_000, "the read-only check");
  c.open(true);
  await c.until(/locked/i, 20_000, "sulogin's refusal");
  c.type("\r"); // sulogin waits for Enter, then exits
  await pollUntil(() => !c.terminalOpen, 15_000, "the terminal closed");
  assert.is.not(fsckN(img), 0, "a locked root's repair ran without --force");
  assert.is(c.state?.recovery?.fsck?.exitCode, 4, "the view still shows the check");
  c.close();
  await daemon!.stop();
  daemon!.cleanup();

  img = corruptImage();
  start({ suloginForce: true }, ["--fsck-device", img]);
  c = await Client.connect(daemon!);
  await pollUntil(() => c.state?.recovery?.fsck?.exitCode != null, 30_000, "the read-only check");
  c.open(true);
  await c.until(/Press Enter for maintenance/, 20_000, "sulogin --force");
  assert.not.match(c.screen, PROMPT);
  c.type("\r");
  await c.until(/fsck exited with code 1\./, 60_000, "the repair ran");
  c.type("\r");
  // fsck's 1 (errors corrected), then foyer's read-only check again: the view ends clean
  await pollUntil(() => !c.terminalOpen && c.state?.recovery?.fsck?.exitCode === 0, 30_000, "the terminal closed, the check after the repair clean");
  assert.match(daemon!.log, /fsck repair of '[^']+' exited 1/);
  assert.is(fsckN(img), 0);
});

test.run();
