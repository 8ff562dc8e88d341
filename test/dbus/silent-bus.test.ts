// A "bus" that accepts connections and never answers (a hung broker): every call foyerd and
// foyerctl make has a timeout, so foyerd keeps supervising and keeps retrying without piling up
// connections, and foyerctl gives up with exit code 3.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { createServer, type Socket, type Server } from "node:net";
import { mkdtempSync, rmSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Foyerd, withTimeout } from "../helpers/index.js";
import { foyerctl, PRIVATE_ASK_DIR } from "./bus.js";

const dir = mkdtempSync(join(tmpdir(), "foyer-silent-"));
const address = `unix:path=${join(dir, "bus")}`;
let server: Server;
const open = new Set<Socket>();
let accepted = 0;
let onAccept: (() => void) | undefined;
let foyerd: Foyerd | undefined;

test.before(async () => {
  server = createServer((s) => {
    accepted += 1;
    open.add(s);
    s.on("close", () => open.delete(s));
    s.on("error", () => {});
    // never read: a hung broker does not, so a half-close (end) from foyerd is never completed
    onAccept?.();
  });
  await withTimeout(new Promise<void>((r) => server.listen(join(dir, "bus"), r)), 5000, "listen");
});

test.after(async () => {
  if (foyerd) {
    await withTimeout(foyerd.stop(), 15_000, "foyerd stop").catch(() => foyerd?.proc.kill("SIGKILL"));
    foyerd.cleanup();
  }
  for (const s of open) s.destroy();
  await withTimeout(new Promise<void>((r) => server.close(() => r())), 5000, "server close");
  rmSync(dir, { recursive: true, force: true });
});

/** foyerd's open sockets (its greeter server, plymouth's socket, and bus attempts). */
function socketFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).filter((f) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${f}`).startsWith("socket:");
    } catch {
      return false;
    }
  }).length;
}

const attempt = (n: number) =>
  withTimeout(new Promise<void>((r) => (accepted >= n ? r() : (onAccept = () => accepted >= n && r()))), 20_000, `connection attempt ${n}`);

test("foyerd supervises on, retries, and closes each timed-out connection", async () => {
  foyerd = new Foyerd("headless", { wrap: PRIVATE_ASK_DIR, extraArgs: ["--bus", address] });
  await foyerd.until((l) => l.includes("phase running"), 15_000, "the supervisor running");
  await foyerd.until((l) => /not usable, retrying.*timed out/.test(l), 15_000, "the first attempt timing out");
  // the greeter server answers while the bus hangs
  const page = await withTimeout(fetch(await foyerd.url()), 5000, "greeter page");
  assert.is(page.status, 200);
  await page.arrayBuffer();
  // each attempt gives up its socket: foyerd holds no more at the fifth attempt than at the second
  // (the greeter page's connection above may still close in between, so not exactly as many)
  const pid = foyerd.proc.pid!;
  await attempt(2);
  const second = socketFds(pid);
  await attempt(5);
  const fifth = socketFds(pid);
  console.log(`foyerd's sockets at attempt 2: ${second}, at attempt 5: ${fifth}; the silent bus saw ${accepted} connections`);
  assert.ok(fifth <= second, `sockets grew from ${second} to ${fifth}`);
  assert.is(foyerd.proc.exitCode, null);
});

test("foyerctl gives up on a silent bus with exit code 3", () => {
  const t0 = performance.now();
  const r = foyerctl(address, ["status"]);
  const ms = performance.now() - t0;
  console.log(`foyerctl against a silent bus gave up after ${ms.toFixed(0)} ms (including node's start)`);
  assert.is(r.code, 3, r.stderr);
  assert.match(r.stderr, "timed out");
});

test.run();
