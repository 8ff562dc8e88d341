// The SO_PEERCRED addon (src/native/peercred.c, built into dist/peercred.node) through its wrapper:
// a Unix socket server here, clients in children that run as other accounts (setpriv: real uid
// and gid, no other group), and what the addon says about each.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { createServer, connect, type Server, type Socket } from "node:net";
import { chmodSync, mkdtempSync, openSync, closeSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { pathToFileURL } from "node:url";
import { peerCred, addonPath, type PeerCred } from "../../src/base/peercred.js";
import { FoyerError } from "../../src/base/errors.js";
import { account, asAccount, requireTool, withTimeout, top, type Account } from "../helpers/index.js";

requireTool("setpriv", "util-linux");

const dir = mkdtempSync(join(tmpdir(), "foyer-peercred-"));
chmodSync(dir, 0o755); // the other accounts reach the socket through it
const path = join(dir, "s");
let server: Server;
const accepted: Socket[] = [];
let next: ((s: Socket) => void) | undefined;

test.before(async () => {
  server = createServer((s) => {
    accepted.push(s);
    next?.(s);
  });
  await withTimeout(new Promise<void>((r) => server.listen(path, r)), 5_000, "listen");
  chmodSync(path, 0o777);
});
test.after(async () => {
  for (const s of accepted) s.destroy();
  await withTimeout(new Promise((r) => server.close(r)), 5_000, "close");
  rmSync(dir, { recursive: true, force: true });
});

/** The server's side of a connection from a child run as `who`, and the child's pid. */
async function connectionFrom(who: Account): Promise<{ sock: Socket; pid: number }> {
  const got = new Promise<Socket>((r) => (next = r));
  const [cmd, ...argv] = [...asAccount(who), process.execPath, "-e", "const s = require('net').connect(process.argv[1]); s.on('close', () => process.exit(0)); s.on('error', (e) => { console.error(e.message); process.exit(1); })", path];
  const child = spawn(cmd!, argv, { cwd: "/", stdio: ["ignore", "ignore", "inherit"] });
  const sock = await withTimeout(got, 10_000, `a connection from ${who.name}`);
  return { sock, pid: child.pid! };
}

for (const name of ["nobody", "foyer-greeter"]) {
  test(`a client running as ${name}: its uid, gid and pid`, async () => {
    const who = account(name);
    const { sock, pid } = await connectionFrom(who);
    assert.equal(peerCred(sock), { pid, uid: who.uid, gid: who.gid } satisfies PeerCred);
    sock.destroy();
  });
}

test("a client in this process: root, and this pid", async () => {
  const got = new Promise<Socket>((r) => (next = r));
  const client = connect(path);
  const sock = await withTimeout(got, 5_000, "own connection");
  assert.equal(peerCred(sock), { pid: process.pid, uid: 0, gid: 0 });
  // and the other way round: the client's side sees the server, also this process
  assert.equal(peerCred(client), { pid: process.pid, uid: 0, gid: 0 });
  client.destroy();
  sock.destroy();
});

test("a closed socket: a FoyerError, never credentials", async () => {
  const got = new Promise<Socket>((r) => (next = r));
  const client = connect(path);
  const sock = await withTimeout(got, 5_000, "own connection");
  client.destroy();
  sock.destroy();
  assert.throws(() => peerCred(sock), (e: unknown) => e instanceof FoyerError && /no file descriptor/.test(e.message));
});

test("the addon itself: the errno's name for a bad fd, a type error for a non-fd", () => {
  const addon = createRequire(import.meta.url)(addonPath()) as { peerCred(fd: unknown): PeerCred };
  const fd = openSync("/dev/null", "r");
  try {
    assert.throws(() => addon.peerCred(fd), (e: unknown) => (e as { code?: string }).code === "ENOTSOCK" && /SO_PEERCRED/.test((e as Error).message));
  } finally {
    closeSync(fd);
  }
  // far above any open fd (and above RLIMIT_NOFILE)
  assert.throws(() => addon.peerCred(1 << 24), (e: unknown) => (e as { code?: string }).code === "EBADF");
  for (const bad of [-1, "3", undefined]) assert.throws(() => addon.peerCred(bad), (e: unknown) => (e as { code?: string }).code === "ERR_INVALID_ARG_TYPE");
});

test("addonPath: beside the bundle, or dist/ from the sources", () => {
  assert.is(addonPath(pathToFileURL("/usr/lib/foyer/chunk-ABC.mjs").href), "/usr/lib/foyer/peercred.node");
  assert.is(addonPath(pathToFileURL(join(top, "src/base/peercred.ts")).href), join(top, "dist/peercred.node"));
});

test.run();
