// Runs inside the VM appliance (test/bench/vm.ts boots it with its own PID 1), with the image's node:
// foyerd's start → greeter interactive against the bare stack's start, alternately, on the same
// emulated CPU and kernel, without systemd or anything else booting beside them. The bare stack is
// cage + cog with foyer's own cog flags (its content filter too) showing a static page; its time
// is spawn → the page's load handler calling back. foyerd's is spawn → its "greeter interactive"
// line (the UI painted and connected); and node's own start (`node -e 0`). Each figure is said on the console as one
// `FOYER-STACK {json}` line; `FOYER-STACK-END` when done.
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdirSync, chownSync, writeFileSync, readFileSync } from "node:fs";

const rounds = Number(/foyer\.stack\.rounds=(\d+)/.exec(process.argv.slice(2).join(" "))?.[1] ?? 3);
const say = (o) => writeFileSync("/dev/console", `FOYER-STACK ${JSON.stringify(o)}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** The image's greeter user, as its /etc/passwd has it (the build machine's ids, whatever they are). */
function greeterUser(name) {
  const f = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .map((l) => l.split(":"))
    .find((e) => e[0] === name);
  if (!f) throw new Error(`no user ${name} in the image's /etc/passwd`);
  return { name, uid: Number(f[2]), gid: Number(f[3]) };
}
const USER = greeterUser("foyer-greeter");

// the bare stack's page and its callback
let loaded;
const PAGE =
  "<!doctype html><title>bare</title><style>body{background:#1b2330;color:#fff;font:24px sans-serif}</style>" +
  "<h1>Unlock</h1><input type=password autofocus><script>addEventListener('load', () => fetch('/ready'))</script>";
const server = createServer((q, r) => {
  if (q.url === "/ready") loaded?.();
  r.setHeader("Content-Type", "text/html");
  r.end(q.url === "/ready" ? "" : PAGE);
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const origin = `http://127.0.0.1:${server.address().port}`;
const filter = "/run/bare-filter.json";
writeFileSync(
  filter,
  JSON.stringify([
    { trigger: { "url-filter": ".*" }, action: { type: "block" } },
    { trigger: { "url-filter": `^${origin.replace(/\./g, "\\.")}/` }, action: { type: "ignore-previous-rules" } },
  ]),
);

/** Waits for a process group's leader to exit, SIGKILLs the group (cog's WebKit processes too). */
async function end(p, signal) {
  const gone = p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once("exit", r));
  try {
    process.kill(signal === "SIGTERM" ? p.pid : -p.pid, signal);
  } catch {
    /* gone */
  }
  await Promise.race([gone, sleep(15_000)]);
  try {
    process.kill(-p.pid, "SIGKILL");
  } catch {
    /* gone */
  }
}

async function bare(i) {
  const home = `/run/bare-${i}`;
  for (const d of [home, `${home}/xdg`]) {
    mkdirSync(d, { recursive: true, mode: 0o700 });
    chownSync(d, USER.uid, USER.gid);
  }
  const seatd = spawn("seatd", ["-g", USER.name], { stdio: "ignore" });
  await sleep(500);
  const env = {
    PATH: process.env.PATH,
    LANG: "C.UTF-8",
    HOME: home,
    XDG_RUNTIME_DIR: `${home}/xdg`,
    XDG_CACHE_HOME: `${home}/.cache`,
    GIO_USE_PROXY_RESOLVER: "dummy",
    GSETTINGS_BACKEND: "memory",
    WLR_RENDERER: "pixman",
    LIBGL_ALWAYS_SOFTWARE: "1",
    LIBSEAT_BACKEND: "seatd",
  };
  const t0 = performance.now();
  const ready = new Promise((r) => (loaded = r));
  const p = spawn("cage", ["-d", "--", "cog", "--platform=wl", "--webprocess-failure=exit", `--content-filter=${filter}`, `${origin}/`], {
    env,
    uid: USER.uid,
    gid: USER.gid,
    detached: true,
    stdio: "ignore",
  });
  const r = await Promise.race([ready.then(() => "ok"), sleep(120_000).then(() => "timeout")]);
  say({ run: "bare", round: i, result: r, ms: Math.round(performance.now() - t0) });
  await end(p, "SIGKILL");
  await end(seatd, "SIGKILL");
}

async function foyerd(i) {
  const t0 = performance.now();
  const p = spawn("node", ["--max-semi-space-size=1", "/usr/lib/foyer/foyerd.mjs", "--profile", "vm"], {
    env: { PATH: process.env.PATH, LANG: "C.UTF-8", FOYER_MAIN: "foyerd" },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "",
    listening = 0,
    launched = 0;
  const r = await new Promise((resolve) => {
    const on = (d) => {
      log += d;
      if (!launched && /greeter launched before the supervisor loaded/.test(log)) launched = Math.round(performance.now() - t0);
      if (!listening && /greeter server listening/.test(log)) listening = Math.round(performance.now() - t0);
      if (/greeter interactive/.test(log)) resolve("ok");
      if (/falling back to the console/.test(log)) resolve("fallback");
    };
    p.stdout.on("data", on);
    p.stderr.on("data", on);
    setTimeout(() => resolve("timeout"), 180_000);
  });
  say({
    run: "foyerd",
    round: i,
    result: r,
    ms: Math.round(performance.now() - t0),
    listeningMs: listening,
    launchedMs: launched,
    ...(r === "ok" ? {} : { log: log.slice(-800) }),
  });
  await end(p, "SIGTERM"); // foyerd stops its greeter and its seatd
}

/** node's own start on this CPU (`node -e 0`), the floor under foyerd's "greeter server listening". */
async function nodeBoot(i) {
  const t0 = performance.now();
  await new Promise((r) => spawn("node", ["-e", "0"], { stdio: "ignore" }).once("exit", r));
  say({ run: "node", round: i, result: "ok", ms: Math.round(performance.now() - t0) });
}

for (let i = 0; i < rounds; i++) {
  await nodeBoot(i);
  await bare(i);
  await sleep(1000);
  await foyerd(i);
  await sleep(1000);
}
writeFileSync("/dev/console", "FOYER-STACK-END\n");
process.exit(0);
