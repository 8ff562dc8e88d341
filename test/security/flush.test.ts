// `foyerd flush` runs as root over a tree the greeter user wrote: what the greeter leaves there
// must not make root write a set-id file, read what lies behind a symlink, hang, or forge the boot
// log. The state is laid out as foyerd leaves it (a tmpfs, the greeter's folders chowned to it as
// display/stacks.ts prepare() makes them), every hostile file is made by the real greeter user
// (setpriv), and the flush is the real CLI, as root, in this suite's PID namespace (test/run.mjs):
// the flush kills leftover processes of the greeter's uid, and must see only this suite's.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import {
  mkdtempSync,
  mkdirSync,
  writeFileSync,
  readFileSync,
  readdirSync,
  lstatSync,
  chmodSync,
  chownSync,
  rmSync,
  openSync,
  closeSync,
  type Stats,
} from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { createHash, randomBytes } from "node:crypto";
import { top, requireTool, requirePrivateAskDir, withTimeout, unmountUnder, pollUntil } from "../helpers/index.js";
import { mountState } from "../../src/state/overlay.js";
import { StateSchema } from "../../src/profile/schema.js";
import { lookupUser, type SystemUser } from "../../src/display/users.js";

const BOOT = "0123456789abcdef0123456789abcdef";
const FLUSH_MS = 60_000;

interface Ctx {
  base: string;
  greeter: SystemUser;
  secret: string;
  secretDir: string;
  children: ChildProcess[];
}
const T = suite<Ctx>("security/flush", { base: "", greeter: { name: "", uid: 0, gid: 0 }, secret: "", secretDir: "", children: [] });

/** Runs `script` with sh as the greeter user (no supplementary groups), the way foyerd's children run. */
function asGreeter(script: string, env: Record<string, string> = {}): string {
  return execFileSync("setpriv", ["--reuid=foyer-greeter", "--regid=foyer-greeter", "--clear-groups", "--", "sh", "-ec", script], {
    encoding: "utf8",
    env: { PATH: process.env.PATH!, ...env },
  });
}

/** `foyerd flush …` through the real CLI, as root; resolves with its exit code and stderr, or rejects after FLUSH_MS (a hang). */
function flush(ctx: Ctx, args: string[]): Promise<{ code: number | null; stderr: string }> {
  const p = spawn(process.execPath, ["--import", "tsx", join(top, "src/cli/foyerd.ts"), "flush", ...args], { cwd: top, stdio: ["ignore", "ignore", "pipe"] });
  ctx.children.push(p);
  let stderr = "";
  p.stderr!.on("data", (d) => (stderr += d));
  return withTimeout(new Promise((res) => p.on("exit", (code) => res({ code, stderr }))), FLUSH_MS, `foyerd flush ${args.join(" ")} (a hang)`);
}

/** A state as foyerd leaves it: a tmpfs (nosuid, nodev), log/ root's, the greeter's folders its own. */
async function state(ctx: Ctx, persist: string[]): Promise<{ dir: string; home: string; root: string }> {
  const rt = mkdtempSync(join(ctx.base, "rt-"));
  chmodSync(rt, 0o755);
  const s = await mountState(rt, StateSchema.parse({ sizeMb: 32 }));
  assert.ok(s.tmpfs, s.problem);
  const { uid, gid } = ctx.greeter;
  const home = join(s.dir, "greeter/home");
  for (const d of [
    "greeter",
    "greeter/home",
    "greeter/home/.cache",
    "greeter/home/.config",
    "greeter/home/.local",
    "greeter/home/.local/share",
    "greeter/home/.local/state",
  ]) {
    mkdirSync(join(s.dir, d), { recursive: true, mode: 0o700 });
    chownSync(join(s.dir, d), uid, gid);
  }
  writeFileSync(join(s.dir, "persist.json"), JSON.stringify({ logs: "/var/log/foyer", persist, persistTo: "/var/lib/foyer" }));
  writeFileSync(join(s.dir, "log/foyerd.log"), "2026-01-01T00:00:00.000Z info foyerd: started\n");
  const root = mkdtempSync(join(ctx.base, "root-"));
  return { dir: s.dir, home, root };
}

/** Appends what the greeter user prints (stdout and stderr) to a log that root opened, as the direct launcher does. */
function greeterPrints(logFile: string, bytes: Buffer): void {
  const fd = openSync(logFile, "a", 0o600);
  try {
    execFileSync("setpriv", ["--reuid=foyer-greeter", "--regid=foyer-greeter", "--clear-groups", "--", "cat"], { input: bytes, stdio: ["pipe", fd, fd] });
  } finally {
    closeSync(fd);
  }
}

/** Every path under `d` (folders included) with its lstat. */
function tree(d: string): { p: string; st: Stats }[] {
  const out: { p: string; st: Stats }[] = [];
  const walk = (x: string) => {
    for (const n of readdirSync(x)) {
      const p = join(x, n),
        st = lstatSync(p);
      out.push({ p, st });
      if (st.isDirectory()) walk(p);
    }
  };
  walk(d);
  return out;
}

/** The secret or its SHA-256 in any file under `d`: the paths that hold it. */
function leaks(ctx: Ctx, d: string): string[] {
  const hash = createHash("sha256")
    .update(readFileSync(join(ctx.secretDir, "f")))
    .digest("hex");
  return tree(d)
    .filter(({ p, st }) => st.isFile() && (readFileSync(p, "latin1").includes(ctx.secret) || readFileSync(p, "latin1").includes(hash)))
    .map((x) => x.p);
}

T.before((ctx) => {
  // test/run.mjs's namespaces (the private ask dir is its mark): outside its PID namespace the
  // flush would kill every process of the greeter user on the machine, other suites' included
  requirePrivateAskDir();
  requireTool("setpriv", "util-linux");
  requireTool("mkfifo", "coreutils");
  requireTool("mount", "mount");
  ctx.greeter = lookupUser("foyer-greeter");
  ctx.base = mkdtempSync(join(tmpdir(), "foyer-sec-"));
  chmodSync(ctx.base, 0o755); // the greeter reaches its HOME in the state through it
  // root's own secret, in a folder only root may enter: the greeter can point a symlink at it, never read it
  ctx.secretDir = join(ctx.base, "secret");
  mkdirSync(ctx.secretDir, { mode: 0o700 });
  ctx.secret = `root-only-${randomBytes(12).toString("hex")}`;
  writeFileSync(join(ctx.secretDir, "f"), `${ctx.secret}\n`, { mode: 0o600 });
});

T.after.each((ctx) => {
  for (const c of ctx.children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  ctx.children = [];
});

T.after((ctx) => {
  if (!ctx.base) return;
  unmountUnder(ctx.base);
  rmSync(ctx.base, { recursive: true, force: true });
});

T(
  "set-id bits, symlinks and a FIFO the greeter made in kept folders: root's copies carry no set-id or group/other write bit, nothing behind a symlink is read, no hang",
  async (ctx) => {
    const s = await state(ctx, ["timeline.json", "greeter/home/keep", "greeter/home/run.sh"]);
    writeFileSync(join(s.dir, "timeline.json"), JSON.stringify({ schema: 1, entries: [] }));
    asGreeter(
      `
    cd "$H"
    mkdir keep keep/sgid keep/shared
    printf '#!/bin/sh\\nid\\n' > keep/tool && chmod 4755 keep/tool
    printf 'x' > keep/both && chmod 6755 keep/both
    chmod 2755 keep/sgid && printf 'in' > keep/sgid/inside && chmod 2755 keep/sgid/inside
    printf 'w' > keep/open && chmod 0666 keep/open
    chmod 1777 keep/shared && printf 's' > keep/shared/f && chmod 1644 keep/shared/f
    ln -s "$SECRET/f" keep/settings.json
    ln -s "$SECRET" keep/profile
    mkfifo keep/pipe
    printf '#!/bin/sh\\n' > run.sh && chmod 4755 run.sh
  `,
      { H: s.home, SECRET: ctx.secretDir },
    );
    // the source still has its bits: they are the greeter's to set on its own files
    assert.is(lstatSync(join(s.home, "keep/tool")).mode & 0o7777, 0o4755);
    // keep/ is there from an earlier boot (its files go one by one), its subfolders are new (built whole)
    mkdirSync(join(s.root, "var/lib/foyer/greeter/home/keep"), { recursive: true, mode: 0o755 });

    const r = await flush(ctx, ["--state", s.dir, "--root", s.root, "--boot-id", BOOT]);
    assert.is(r.code, 0, r.stderr);
    const kept = join(s.root, "var/lib/foyer/greeter/home");
    const written = tree(join(s.root, "var"));
    const bad = written.filter(({ st }) => (st.mode & 0o6000) !== 0 || (st.isFile() && (st.mode & 0o1000) !== 0) || (st.mode & 0o022) !== 0);
    assert.equal(
      bad.map(({ p, st }) => `${p} ${(st.mode & 0o7777).toString(8)}`),
      [],
      "no set-id, sticky or group/other write bit on what the flush wrote",
    );
    assert.ok(
      written.every(({ st }) => st.uid === 0),
      "every copy is root's",
    );
    const mode = (rel: string) => lstatSync(join(kept, rel)).mode & 0o7777;
    assert.equal(
      [
        mode("keep/tool"),
        mode("keep/both"),
        mode("keep/sgid"),
        mode("keep/sgid/inside"),
        mode("keep/open"),
        mode("keep/shared"),
        mode("keep/shared/f"),
        mode("run.sh"),
      ],
      [0o755, 0o755, 0o755, 0o755, 0o644, 0o755, 0o644, 0o755],
    );
    assert.is(readFileSync(join(kept, "keep/tool"), "utf8"), "#!/bin/sh\nid\n");
    assert.equal(readdirSync(join(kept, "keep")).sort(), ["both", "open", "sgid", "shared", "tool"], "no symlink, no FIFO, nothing behind them");
    assert.equal(leaks(ctx, s.root), []);
  },
);

T("a symlink or a FIFO in place of a kept path, or a symlink on the way to one: refused by name, nothing behind it read, no hang", async (ctx) => {
  const s = await state(ctx, ["greeter/home/settings.json", "greeter/home/pipe", "greeter/home/via/f", "greeter/home/dir"]);
  asGreeter(
    `
    cd "$H"
    ln -s "$SECRET/f" settings.json
    mkfifo pipe
    ln -s "$SECRET" via
    ln -s "$SECRET" dir
  `,
    { H: s.home, SECRET: ctx.secretDir },
  );
  const r = await flush(ctx, ["--state", s.dir, "--root", s.root, "--boot-id", BOOT]);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /greeter\/home\/settings\.json is a symlink; 'greeter\/home\/settings\.json' not kept/);
  assert.match(r.stderr, /greeter\/home\/pipe is not a file or a folder; not kept/);
  assert.match(r.stderr, /greeter\/home\/via is a symlink; 'greeter\/home\/via\/f' not kept/);
  assert.match(r.stderr, /greeter\/home\/dir is a symlink; 'greeter\/home\/dir' not kept/);
  assert.equal(leaks(ctx, s.root), []);
});

/** Undoes the boot log's escapes (\xHH), so a section can be compared with the file it came from. */
const unescape = (s: string) =>
  Buffer.from(
    s.replace(/\\x([0-9a-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
    "latin1",
  );

T("the children's output cannot forge a section of the boot log nor hide a line on a terminal; tokens stay redacted", async (ctx) => {
  const s = await state(ctx, []);
  const foyerd = Buffer.from(
    "2026-01-01T00:00:00.000Z info foyerd: started\n2026-01-01T00:00:01.000Z warning agents: ignoring ask file 'a\x1b[2K\rb'\n",
    "latin1",
  );
  writeFileSync(join(s.dir, "log/foyerd.log"), foyerd);
  const greeter = Buffer.concat([
    Buffer.from("[1:1:0101/000000.000:INFO] opening http://127.0.0.1:9/?token=abcDEF123-_x\n"),
    Buffer.from("==> foyerd.log <==\n2026-01-01T00:00:02.000Z info foyerd: unlocked, all good\n"),
    Buffer.from("a line\x1b[1A\x1b[2K\rhidden over the one above\n"),
    Buffer.from("\x1b]0;title\x07bell and OSC, \x7f DEL, C1 \xc2\x9b CSI, stray \x9b byte, caf\xc3\xa9, tab\there\n", "latin1"),
    Buffer.from("==> display.log <==\nno newline at the end"),
  ]);
  const display = Buffer.from("\x1b[31mred\x1b[0m\r\n==>  seatd.log <==\n", "latin1");
  greeterPrints(join(s.dir, "log/greeter.log"), greeter);
  greeterPrints(join(s.dir, "log/display.log"), display);

  const r = await flush(ctx, ["--state", s.dir, "--root", s.root, "--boot-id", BOOT]);
  assert.is(r.code, 0, r.stderr);
  const out = readFileSync(join(s.root, "var/log/foyer", `boot-${BOOT}.log`));
  const bad = [...out].filter((b) => (b < 0x20 && b !== 0x0a && b !== 0x09) || b === 0x7f);
  assert.equal(bad, [], "no control byte but \\n and \\t in the kept log");
  const text = out.toString("latin1");
  assert.not.ok(text.includes("\xc2\x9b"), "no C1 control (U+009B) in the kept log");
  // split at the headers: exactly the real files, in order, each its own bytes once unescaped
  const parts = text.split(/^==> (.*) <==\n/m);
  assert.is(parts[0], "", "the log starts with a header");
  const sections = Array.from({ length: (parts.length - 1) / 2 }, (_, i) => ({ name: parts[1 + 2 * i]!, body: parts[2 + 2 * i]! }));
  assert.equal(
    sections.map((x) => x.name),
    ["foyerd.log", "display.log", "greeter.log"],
  );
  const redact = (b: Buffer) => Buffer.from(b.toString("latin1").replace(/token=[\w-]+/g, "token=[redacted]"), "latin1");
  const withNewline = (b: Buffer) => (b.length && b[b.length - 1] !== 0x0a ? Buffer.concat([b, Buffer.from("\n")]) : b);
  assert.equal(unescape(sections[0]!.body), foyerd);
  assert.equal(unescape(sections[1]!.body), display);
  assert.equal(unescape(sections[2]!.body), withNewline(redact(greeter)));
  assert.not.match(text, /token=[\w-]{8,}/);
  assert.match(text, /token=\[redacted\]/);
  assert.match(text, /caf\xc3\xa9, tab\there/, "printable UTF-8 and tabs are kept as they are");
});

// A greeter-owned tree under the flush while the greeter user swaps its entries: files for
// symlinks to root's secret or for FIFOs, folders for symlinks to root's secret folder. --from/--to
// (one tree, no greeter to sweep): what holds here is how the flush reads, not that it kills first.
const FILES = 40,
  DIRS = 8,
  ROUNDS = Number(process.env.FOYER_SWAP_ROUNDS ?? 30);
const SWAPPER = `
const fs = require("node:fs");
const [dir, secret] = process.argv.slice(2);
const at = (n) => dir + "/" + n;
// each name's three forms, made once: a regular file, a FIFO, a symlink to the secret
for (let k = 0; k < ${FILES}; k++) {
  fs.writeFileSync(at(".r" + k), "file " + k + "\\n");
  require("node:child_process").execFileSync("mkfifo", [at(".p" + k)]);
}
process.stdout.write("ready\\n");
for (let i = 0; ; i++) {
  const k = i % ${FILES + DIRS}, phase = Math.floor(i / ${FILES + DIRS}) % 3;
  try {
    if (k < ${FILES}) {
      // one form linked under a temp name and renamed over the name: the swap is atomic
      const t = at(".t" + k);
      fs.rmSync(t, { force: true });
      if (phase === 1) fs.symlinkSync(secret + "/f", t);
      else fs.linkSync(at((phase === 0 ? ".r" : ".p") + k), t);
      fs.renameSync(t, at("f" + k));
    } else {
      // a folder moved aside for a symlink to the secret folder, and back
      const d = at("d" + k), aside = at(".d" + k);
      if (fs.lstatSync(d).isSymbolicLink()) { fs.unlinkSync(d); fs.renameSync(aside, d); }
      else { fs.renameSync(d, aside); fs.symlinkSync(secret, d); }
    }
  } catch { /* a race with itself is fine */ }
}
`;

/** Starts the swapper as the greeter user over `dir`; resolves once it runs. */
async function startSwapper(ctx: Ctx, dir: string): Promise<ChildProcess> {
  const script = join(ctx.base, "swapper.cjs");
  writeFileSync(script, SWAPPER, { mode: 0o644 });
  const p = spawn("setpriv", ["--reuid=foyer-greeter", "--regid=foyer-greeter", "--clear-groups", "--", process.execPath, script, dir, ctx.secretDir], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  ctx.children.push(p);
  let out = "";
  p.stdout!.on("data", (d) => (out += d));
  await pollUntil(() => out.includes("ready") || p.exitCode !== null, 30_000, "the swapper's start");
  assert.ok(p.exitCode === null, "the swapper runs");
  return p;
}

/** The race's tree, made by the greeter: FILES files and DIRS folders, each folder holding `f`. */
function raceTree(ctx: Ctx, home: string): string {
  asGreeter(
    `
    mkdir "$H/race"; cd "$H/race"
    i=0; while [ $i -lt ${FILES} ]; do printf 'file %s\\n' $i > f$i; i=$((i+1)); done
    while [ $i -lt ${FILES + DIRS} ]; do mkdir d$i; printf 'inside %s\\n' $i > d$i/f; i=$((i+1)); done
  `,
    { H: home },
  );
  return join(home, "race");
}

T(
  `a file swapped for a symlink to root's secret (or a FIFO, or a folder for a symlink) while the flush runs, ${ROUNDS} rounds: the secret never lands, the flush never hangs`,
  async (ctx) => {
    const s = await state(ctx, []);
    const src = raceTree(ctx, s.home);
    const swapper = await startSwapper(ctx, src);
    let asFile = 0,
      absent = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const to = join(s.root, "to");
      // a new target (whole new folders) every other round, the last round's otherwise (file by file)
      if (round % 2 === 0) rmSync(to, { recursive: true, force: true });
      mkdirSync(to, { recursive: true });
      const r = await flush(ctx, ["--from", src, "--to", to]);
      assert.equal(leaks(ctx, s.root), [], `round ${round}`);
      assert.is(r.code, 0, r.stderr);
      for (let k = 0; k < FILES; k++) {
        const st = lstatSync(join(to, `f${k}`), { throwIfNoEntry: false });
        if (st?.isFile()) asFile++;
        else absent++;
        assert.ok(!st || st.isFile(), `f${k} is a regular file or absent`);
      }
      assert.ok(swapper.exitCode === null, "the swapper still runs");
    }
    console.log(`swap race: ${ROUNDS} rounds, ${asFile} files kept, ${absent} seen as a symlink or FIFO`);
    // both outcomes: the swapper really raced the flush
    assert.ok(asFile > 0 && absent > 0, `${asFile} kept, ${absent} not`);
  },
);

T("a greeter process still running at the flush (--state) is killed before its tree is read, and the flush says so", async (ctx) => {
  const s = await state(ctx, ["greeter/home/race"]);
  raceTree(ctx, s.home);
  const swapper = await startSwapper(ctx, join(s.home, "race"));
  const gone = new Promise<string | null>((res) => swapper.on("exit", (_, sig) => res(sig)));
  const r = await flush(ctx, ["--state", s.dir, "--root", s.root, "--boot-id", BOOT]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /flush: killed 1 process of uid \d+ \(the greeter's\), still running after the greeter stopped/);
  assert.is(await withTimeout(gone, 10_000, "the swapper's exit"), "SIGKILL");
  assert.equal(leaks(ctx, s.root), []);
});

T.run();
