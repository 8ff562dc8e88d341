// Reliability checks 7 and 15 against a real foyerd: only loopback listeners, 1,000 bad probes
// refused with 403, none left after stop; 10,000 random WebSocket frames — no crash, bounded
// memory, oversized frames closed (maxPayload 64 KiB) — and a real request answered afterwards.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import WebSocket from "ws";
import { Foyerd, askPassword, killAskers, requirePrivateAskDir, requireTool, withTimeout } from "../helpers/index.js";
import { encodeAnswer } from "../../src/protocol/greeter.js";
import { fuzzRandom } from "../helpers/random.js";

requireTool("ss", "iproute2");
requireTool("systemd-ask-password", "systemd");
requirePrivateAskDir();

const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
const rnd = fuzzRandom("greeter-fuzz", 42).int;

/**
 * A connection, or the HTTP status that refused it (0: no answer). `onMessage` listens from before
 * the upgrade: the snapshot foyerd sends on connect can arrive in the upgrade response's own read,
 * and ws emits it before an `await open()` would resume.
 */
function open(url: URL, token: string, origin = url.origin, onMessage?: (d: WebSocket.RawData) => void): Promise<WebSocket | number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://${url.host}/ws?token=${token}`, { headers: { Origin: origin } });
    if (onMessage) ws.on("message", onMessage);
    ws.on("open", () => resolve(ws));
    ws.on("unexpected-response", (_q, r) => resolve(r.statusCode ?? 0));
    ws.on("error", () => resolve(0));
  });
}

test("listeners, probes, 10,000 random frames", async () => {
  const f = new Foyerd("headless", { bundle: true }); // what ships, without tsx compiling in the same heap
  try {
    const url = new URL(await f.url());
    const token = new URLSearchParams(url.hash.slice(1)).get("token")!;
    const pid = f.proc.pid!;
    // check 7: every listening socket of foyerd is on loopback (TCP) — no unix, no wildcard
    const ss = spawnSync("ss", ["-Hltnp"], { encoding: "utf8" })
      .stdout.split("\n")
      .filter((l) => l.includes(`pid=${pid},`));
    assert.ok(ss.length >= 1, "foyerd listens");
    for (const l of ss) assert.match(l, /\s127\.0\.0\.1:\d+\s/, `non-loopback listener: ${l}`);

    let refused = 0;
    for (let i = 0; i < 1000; i++) {
      const bad = i % 3 === 0 ? token.slice(0, -1) + (token.endsWith("A") ? "B" : "A") : i % 3 === 1 ? "" : token;
      const origin = i % 3 === 2 ? `http://127.0.0.1:${Number(url.port) + 1}` : url.origin;
      const r = await open(url, bad, origin);
      if (r === 403) refused++;
      else if (typeof r !== "number") r.close();
    }
    assert.is(refused, 1000, "every bad probe gets 403");

    let before = 0; // taken after a warm-up of 1,000 frames: the heap's first growth is not a leak
    let sent = 0;
    const socks: WebSocket[] = [];
    for (let c = 0; c < 10; c++) {
      const ws = await open(url, token);
      if (typeof ws === "number") throw new Error(`connect failed: ${ws}`);
      ws.on("error", () => {});
      socks.push(ws);
    }
    let reconnects = 0;
    for (let i = -1000; i < 10_000; i++) {
      if (i === 0) {
        await new Promise((r) => setTimeout(r, 500));
        before = rssKb(pid);
        sent = 0;
      }
      const slot = (i + 1000) % socks.length;
      let ws = socks[slot]!;
      if (ws.readyState !== ws.OPEN) {
        // the daemon drops a client after 64 bad frames: come back, as a hostile client would
        const again = await open(url, token);
        if (typeof again === "number") throw new Error(`reconnect refused: ${again}`);
        again.on("error", () => {});
        socks[slot] = ws = again;
        reconnects++;
      }
      const k = rnd(6);
      const len = rnd(2048);
      const bytes = Buffer.from(Array.from({ length: len }, () => rnd(256)));
      if (k === 0) ws.send(bytes.toString("latin1"));
      else if (k === 1)
        ws.send(
          JSON.stringify({ type: ["hello", "ready", "cancel", "answer", "terminal_open", "x"][rnd(6)], key: rnd(5), version: rnd(3), cols: rnd(3000) - 5 }),
        );
      else if (k === 2) ws.send(bytes, { binary: true });
      else if (k === 3) ws.send(Buffer.from(encodeAnswer(1 + rnd(1000), bytes)), { binary: true });
      else if (k === 4) ws.send(Buffer.concat([Buffer.from([2]), bytes]), { binary: true });
      else ws.send("{".repeat(rnd(500)));
      sent++;
      if (i % 500 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    // an oversized frame closes that connection (1009), nothing else
    const big = await open(url, token);
    if (typeof big === "number") throw new Error("connect failed");
    const closed = new Promise<number>((r) => big.on("close", (c) => r(c)));
    big.send(Buffer.alloc(65 * 1024 + 1));
    assert.is(await withTimeout(closed, 5_000), 1009);
    for (const ws of socks) ws.close();
    big.close();
    // RSS settles when V8 collects, which a loaded machine delays: the lowest of a few samples
    // over 3 s is what the storm left behind
    let after = Infinity;
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 500));
      after = Math.min(after, rssKb(pid));
    }
    assert.ok(reconnects > 0, "the bad-frame limit never closed a connection");
    console.log(`${sent} random frames (${reconnects} reconnects): RSS ${(before / 1024).toFixed(1)} → ${(after / 1024).toFixed(1)} MB`);
    assert.ok(after - before < 20 * 1024, `RSS grew by ${((after - before) / 1024).toFixed(1)} MB`);
    assert.is(f.proc.exitCode, null, "foyerd alive");

    // still answers a real request, through a fresh connection
    const ask = askPassword("After the storm:");
    let prompted!: (key: number) => void;
    const shown = new Promise<number>((resolve) => (prompted = resolve));
    const ws = await open(url, token, url.origin, (d) => {
      const m = JSON.parse(d.toString());
      const p = m.prompts?.find((x: { message: string }) => x.message === "After the storm:");
      if (p) prompted(p.key);
    });
    if (typeof ws === "number") throw new Error(`connect failed: ${ws}`);
    const key = await withTimeout(shown, 10_000, "prompt over the socket");
    ws.send(Buffer.from(encodeAnswer(key, Buffer.from("calm"))), { binary: true });
    assert.is((await withTimeout(ask.result, 10_000)).out.toString(), "calm\n");
    ws.close();
  } finally {
    killAskers();
    await f.stop();
  }
  // after stop nothing of foyerd listens
  assert.not.match(spawnSync("ss", ["-Hltnp"], { encoding: "utf8" }).stdout, new RegExp(`pid=${f.proc.pid},`));
  f.cleanup();
});

test.run();
