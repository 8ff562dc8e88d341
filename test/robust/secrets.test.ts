// Reliability checks 1, 2 and 16: a random 64-character multi-byte passphrase typed through the
// real greeter (cage + chromium) for several unlock cycles, some wrong; then a sweep of every
// file foyer and its greeter wrote (runtime dir, logs, browser profile, /tmp) for the passphrase
// in raw, JSON-escaped, base64 and UTF-16 forms; then a scan of foyerd's memory 5 s after the
// last unlock; and byte-exactness against systemd-tty-ask-password-agent on a real pty.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, readdirSync, lstatSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { randomInt } from "node:crypto";
import { chromium } from "playwright-core";
import * as pty from "node-pty";
import { ASK_DIR, Foyerd, askPassword, killAskers, memoryHits, pollUntil, requirePrivateAskDir, requireTool, withTimeout } from "../helpers/index.js";

requireTool("cage", "cage");
requireTool("chromium", "chromium");
requireTool("systemd-tty-ask-password-agent", "systemd");
requirePrivateAskDir();

const ALPHABET = [..."abcXYZ019 äöüßéñçøåæ€£¥ЖЩЯжщяλΣΩ中文字日本語한국어"];
const canary = () => Array.from({ length: 64 }, () => ALPHABET[randomInt(ALPHABET.length)]).join("");

function forms(p: string): Buffer[] {
  return [
    Buffer.from(p, "utf8"),
    Buffer.from(JSON.stringify(p).slice(1, -1), "utf8"),
    Buffer.from(
      JSON.stringify(p)
        .slice(1, -1)
        .replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`),
    ),
    Buffer.from(Buffer.from(p).toString("base64")),
    Buffer.from(p, "utf16le"),
  ];
}

function sweep(dirs: string[], needles: Buffer[]): string[] {
  const hits: string[] = [];
  const walk = (d: string) => {
    let entries: string[];
    try {
      entries = readdirSync(d);
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e);
      let st;
      try {
        st = lstatSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && st.size < 256 << 20) {
        try {
          const b = readFileSync(p);
          if (needles.some((n) => b.includes(n))) hits.push(p);
        } catch {
          /* vanished */
        }
      }
    }
  };
  dirs.forEach(walk);
  return hits;
}

test("canary sweep: files and supervisor memory hold no passphrase", async () => {
  const f = new Foyerd("headless-wayland", { bundle: true });
  const used: string[] = [];
  try {
    await f.until((l) => l.includes("greeter interactive"), 60_000, "greeter interactive");
    for (let i = 0; i < 10; i++) {
      const pass = canary();
      used.push(pass);
      const ask = askPassword(`Cycle ${i}:`, { id: "cryptsetup:/dev/canary" });
      const b = await chromium.connectOverCDP("http://127.0.0.1:9333");
      const page = b.contexts()[0]!.pages()[0]!;
      const field = page.getByLabel(`Cycle ${i}:`);
      await withTimeout(field.waitFor(), 15_000, `cycle ${i} prompt`);
      await field.fill(pass);
      await field.press("Enter");
      const out = (await withTimeout(ask.result, 10_000)).out;
      assert.is(out.toString("utf8"), pass + "\n");
      out.fill(0);
      await b.close();
    }
    await new Promise((r) => setTimeout(r, 5000)); // reliability.md: 5 s after the last unlock
    const pid = f.proc.pid!;
    // the scanner must see what is there: foyerd holds its runtime dir's path
    assert.ok(memoryHits(pid, Buffer.from(f.runtimeDir)) > 0, "the memory scanner finds nothing at all");
    const inMemory = used.reduce((n, p) => n + memoryHits(pid, Buffer.from(p, "utf8")), 0);
    console.log(`supervisor memory 5 s after ${used.length} unlocks: ${inMemory} copies`);
    assert.is(inMemory, 0, "passphrase bytes left in foyerd's memory");
  } finally {
    killAskers();
    await f.stop();
  }
  // the sweep must see what is there: foyerd's log holds this line
  assert.ok(sweep([f.runtimeDir], [Buffer.from("greeter interactive")]).length > 0, "the file sweep finds nothing at all");
  const hits = sweep([f.runtimeDir, "/tmp", "/var/tmp", "/run/systemd/ask-password"], used.flatMap(forms));
  console.log(`canary sweep over ${f.runtimeDir}, /tmp, /var/tmp: ${hits.length} files`);
  assert.equal(hits, []);
  f.cleanup();
});

test("byte-exact: foyer delivers what systemd-tty-ask-password-agent delivers", async () => {
  const samples = ["pässwörd with spaces ", "€".repeat(600), "x".repeat(2048), " lead", "tail ", "日本語 한국어 Ωmega"];
  const viaFoyer: string[] = [];
  const viaTty: string[] = [];
  const f = new Foyerd("headless");
  try {
    const url = await f.url();
    const b = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
    const page = await b.newPage();
    await page.goto(url);
    for (const s of samples) {
      const ask = askPassword("Exact:");
      await withTimeout(page.getByLabel("Exact:").waitFor(), 10_000);
      await page.getByLabel("Exact:").fill(s);
      await page.getByLabel("Exact:").press("Enter");
      viaFoyer.push((await withTimeout(ask.result, 10_000)).out.toString("utf8"));
      await withTimeout(page.getByLabel("Exact:").waitFor({ state: "detached" }), 10_000);
    }
    await b.close();
  } finally {
    await f.stop();
    f.cleanup();
  }
  const seen: string[] = []; // what each tty round showed, printed when the two lists differ
  for (const s of samples) {
    const ask = askPassword("Exact:");
    let err = "";
    ask.proc.stderr!.on("data", (d: Buffer) => (err += d));
    // --query answers the requests present when it starts: wait for the asker's file first (under
    // load the agent could otherwise look before systemd-ask-password has written it, and exit)
    await pollUntil(() => readdirSync(ASK_DIR).some((n) => n.startsWith("ask.")), 10_000, "systemd-ask-password's ask file");
    const term = pty.spawn("systemd-tty-ask-password-agent", ["--query"], { cols: 200, rows: 50, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
    let screen = "";
    term.onData((d) => (screen += d));
    await pollUntil(() => screen.includes("Exact:"), 20_000, "tty agent prompt").catch((e: Error) => {
      throw new Error(`${e.message}; the agent's terminal showed: ${JSON.stringify(screen.slice(-500))}`);
    });
    term.write(s + "\r");
    const r = await withTimeout(ask.result, 10_000);
    viaTty.push(r.out.toString("utf8"));
    seen.push(`asker exit ${r.code}, stderr ${JSON.stringify(err)}, agent's terminal ${JSON.stringify(screen.slice(0, 200))}`);
    term.kill();
  }
  killAskers();
  if (JSON.stringify(viaFoyer) !== JSON.stringify(viaTty)) {
    const ps = spawnSync("ps", ["-eo", "pid,ppid,args"], { encoding: "utf8" }).stdout;
    console.log(`the tty rounds:\n${seen.join("\n")}\nprocesses:\n${ps}`);
  }
  assert.equal(viaFoyer, viaTty);
  assert.equal(
    viaFoyer,
    samples.map((s) => s + "\n"),
  );
});

test.run();
