// The sockets addon (src/native/sockets.c, built into dist/sockets.node) through its wrapper: a
// Unix socket server and a loopback TCP server here, clients in children that run as other
// accounts (setpriv: real uid and gid, no other group), and what the addon says about each; and
// abstract names bound with their exact length or padded, and who holds one.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { createServer, connect, Server as NetServer, type Server, type Socket } from "node:net";
import { chmodSync, mkdtempSync, openSync, closeSync, rmSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { pathToFileURL } from "node:url";
import {
  peerCred,
  addonPath,
  tcpClientUid,
  tcpOwnerSource,
  tableUid,
  tcpTableAddress,
  listenAbstract,
  abstractPeer,
  type PeerCred,
} from "../../src/base/sockets.js";
import { FoyerError } from "../../src/base/errors.js";
import { account, asAccount, requireTool, withTimeout, top, type Account } from "../helpers/index.js";

requireTool("setpriv", "util-linux");

const dir = mkdtempSync(join(tmpdir(), "foyer-sockets-"));
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
  const [cmd, ...argv] = [
    ...asAccount(who),
    process.execPath,
    "-e",
    "const s = require('net').connect(process.argv[1]); s.on('close', () => process.exit(0)); s.on('error', (e) => { console.error(e.message); process.exit(1); })",
    path,
  ];
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
  assert.throws(
    () => peerCred(sock),
    (e: unknown) => e instanceof FoyerError && /no file descriptor/.test(e.message),
  );
});

test("the addon itself: the errno's name for a bad fd, a type error for a non-fd", () => {
  const addon = createRequire(import.meta.url)(addonPath()) as { peerCred(fd: unknown): PeerCred };
  const fd = openSync("/dev/null", "r");
  try {
    assert.throws(
      () => addon.peerCred(fd),
      (e: unknown) => (e as { code?: string }).code === "ENOTSOCK" && /SO_PEERCRED/.test((e as Error).message),
    );
  } finally {
    closeSync(fd);
  }
  // far above any open fd (and above RLIMIT_NOFILE)
  assert.throws(
    () => addon.peerCred(1 << 24),
    (e: unknown) => (e as { code?: string }).code === "EBADF",
  );
  for (const bad of [-1, "3", undefined])
    assert.throws(
      () => addon.peerCred(bad),
      (e: unknown) => (e as { code?: string }).code === "ERR_INVALID_ARG_TYPE",
    );
});

test("kbEntries: not a VT is the ioctl's error; bad keycodes and too many a type error", () => {
  const addon = createRequire(import.meta.url)(addonPath()) as { kbEntries(fd: unknown, codes: unknown): number[] };
  const fd = openSync("/dev/null", "r");
  try {
    assert.throws(
      () => addon.kbEntries(fd, [16]),
      (e: unknown) => (e as { code?: string }).code === "ENOTTY" && /KDGKBENT/.test((e as Error).message),
    );
    assert.equal(addon.kbEntries(fd, []), [], "no keycodes, no ioctl");
    for (const codes of [[256], [-1], ["16"], 16, Array(257).fill(16)])
      assert.throws(
        () => addon.kbEntries(fd, codes),
        (e: unknown) => (e as { code?: string }).code === "ERR_INVALID_ARG_TYPE",
        JSON.stringify(codes).slice(0, 40),
      );
  } finally {
    closeSync(fd);
  }
});

test("addonPath: beside the bundle, or dist/ from the sources", () => {
  assert.is(addonPath(pathToFileURL("/usr/lib/foyer/chunk-ABC.mjs").href), "/usr/lib/foyer/sockets.node");
  assert.is(addonPath(pathToFileURL(join(top, "src/base/sockets.ts")).href), join(top, "dist/sockets.node"));
});

/** The server's side of a loopback TCP connection from a child run as `who` (root: this process's uid). */
async function tcpFrom(who: Account | undefined): Promise<Socket> {
  const srv = createServer();
  await withTimeout(new Promise<void>((r) => srv.listen(0, "127.0.0.1", r)), 5_000, "listen");
  const got = new Promise<Socket>((r) => srv.once("connection", r));
  const port = (srv.address() as { port: number }).port;
  const js = `const s = require('net').connect(${port}, '127.0.0.1'); s.on('error', () => process.exit(1)); setTimeout(() => process.exit(0), 3000)`;
  const [cmd, ...argv] = who ? [...asAccount(who), process.execPath, "-e", js] : [process.execPath, "-e", js];
  spawn(cmd!, argv, { cwd: "/", stdio: "ignore" });
  const sock = await withTimeout(got, 10_000, "a TCP connection");
  srv.close();
  return sock;
}

test("tcpClientUid: the uid owning the client's socket, asked by its four-tuple", async () => {
  for (const name of ["nobody", "foyer-greeter"]) {
    const sock = await tcpFrom(account(name));
    assert.is(tcpClientUid(sock), account(name).uid, name);
    sock.destroy();
  }
  const mine = await tcpFrom(undefined);
  assert.is(tcpClientUid(mine), 0);
  mine.destroy();
});

test("this kernel answers sock_diag for TCP (the fast way); the /proc/net/tcp fallback reads the same owner", async () => {
  const sock = await tcpFrom(account("nobody"));
  assert.is(tcpOwnerSource(sock), "sock_diag");
  const table = readFileSync("/proc/net/tcp", "latin1");
  assert.is(tableUid(table, { ip: sock.remoteAddress!, port: sock.remotePort! }, { ip: sock.localAddress!, port: sock.localPort! }), account("nobody").uid);
  sock.destroy();
  // the table's own spelling, and an orphan (inode 0) is no answer
  assert.is(tcpTableAddress("127.0.0.1", 8080), "0100007F:1F90");
  const orphan = "   1: 0100007F:9C40 0100007F:1F90 04 00000000:00000000 00:00000000 00000000     0        0 0 1 0000000000000000\n";
  assert.is(tableUid(orphan, { ip: "127.0.0.1", port: 40000 }, { ip: "127.0.0.1", port: 8080 }), undefined);
  assert.is(tableUid(orphan.replace(" 0 1 0000", " 4242 1 0000"), { ip: "127.0.0.1", port: 40000 }, { ip: "127.0.0.1", port: 8080 }), 0);
});

test("tcpClientUid: a client that closed its socket (orphaned, uid 0 in the table) is no answer", async () => {
  const srv = createServer();
  await withTimeout(new Promise<void>((r) => srv.listen(0, "127.0.0.1", r)), 5_000, "listen");
  const got = new Promise<Socket>((r) => srv.once("connection", r));
  const port = (srv.address() as { port: number }).port;
  // nobody connects and closes at once: its end is FIN_WAIT, orphaned, while ours still stands
  const [cmd, ...argv] = [
    ...asAccount(account("nobody")),
    process.execPath,
    "-e",
    `require('net').connect(${port}, '127.0.0.1').on('connect', function () { this.end(); process.exit(0); })`,
  ];
  const child = spawn(cmd!, argv, { cwd: "/", stdio: "ignore" });
  const sock = await withTimeout(got, 10_000, "a TCP connection");
  await withTimeout(new Promise((r) => child.once("exit", r)), 10_000, "the client's exit");
  assert.is(tcpClientUid(sock), undefined);
  sock.destroy();
  srv.close();
});

test("listenAbstract: the exact name reaches only exact connects, the padded only padded ones; abstractPeer says whose", async () => {
  const name = `/foyer-test-${process.pid}`;
  for (const padded of [false, true]) {
    const srv = new NetServer();
    await withTimeout(new Promise<void>((r) => srv.listen({ fd: listenAbstract(name, padded) }, r)), 5_000, "listen on the fd");
    assert.equal(abstractPeer(name, padded), { pid: process.pid, uid: 0, gid: 0 });
    assert.is(abstractPeer(name, !padded), undefined, `padded=${padded}: the other form reached it`);
    // a listener of nobody's on another name: its uid, not root's
    await new Promise<void>((r) => srv.close(() => r()));
  }
  const other = `/foyer-test-nobody-${process.pid}`;
  const [cmd, ...argv] = [
    ...asAccount(account("nobody")),
    process.execPath,
    "-e",
    `require('net').createServer().listen('\\0${other}', () => console.log('up')); setTimeout(() => process.exit(0), 5000)`,
  ];
  const child = spawn(cmd!, argv, { cwd: "/", stdio: ["ignore", "pipe", "inherit"] });
  await withTimeout(new Promise((r) => child.stdout!.once("data", r)), 10_000, "nobody's listener");
  // Node pads it: it is found padded, with nobody's uid
  assert.equal(abstractPeer(other, true), { pid: child.pid!, uid: account("nobody").uid, gid: account("nobody").gid });
  child.kill();
});

test.run();
