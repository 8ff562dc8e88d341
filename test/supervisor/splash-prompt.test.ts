// foyer's prompt in the splash (src/supervisor/splash-prompt.ts): the keys the splash sends over
// foyerd's socket, from a client running as the greeter's uid (setpriv), answer the request byte
// for byte; the prompt is drawn into the splash's real frame file by FreeType and the splash is
// told; any other uid is refused; what is typed when the page paints is taken out for the page;
// a flood is bounded. The splash's own side (xkbcommon, the Wayland keyboard) is in test/vm/unlock.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SplashPrompt } from "../../src/supervisor/splash-prompt.js";
import type { ConsoleRequest } from "../../src/supervisor/prompt-editor.js";
import { DEFAULT_COLOURS, type FrameView } from "../../src/display/frame-render.js";
import { frameFonts } from "../../src/display/frame-font.js";
import { drawSplashFrame, progressFrame, splashFrameFile, SPLASH_FRAME, SPLASH_KEYS } from "../../src/display/splash.js";
import { createLogger } from "../../src/base/log.js";
import { MAX_PASSPHRASE_BYTES } from "../../src/protocol/greeter.js";
import { account, asAccount, forOtherUsers, pollUntil, consoleRequest } from "../helpers/index.js";

const greeter = account("foyer-greeter");
const nobody = account("nobody");
const [client] = forOtherUsers("test/helpers/splash-keys.mjs");
const W = 320,
  H = 200;

const request = (o: Partial<ConsoleRequest> = {}): ConsoleRequest => consoleRequest({ key: 7, ...o });

interface Rig {
  prompt: SplashPrompt;
  dir: string;
  answers: { key: number; bytes: Buffer }[];
  views: FrameView[];
  warnings: string[];
}

async function rig(pending = [request()]): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), "foyer-splash-prompt-"));
  chmodSync(dir, 0o755); // root's runtime folder: the greeter passes through, writes nothing
  writeFileSync(join(dir, SPLASH_FRAME), splashFrameFile(W, H, progressFrame(W, H, DEFAULT_COLOURS)), { mode: 0o644 });
  const answers: Rig["answers"] = [];
  const views: FrameView[] = [];
  const warnings: string[] = [];
  const log = createLogger({ level: "error", kmsg: false });
  log.warning = (m: string) => void warnings.push(m);
  // one buffer for every redraw's rows, as foyerd keeps it
  let scratch = Buffer.alloc(0);
  const prompt = new SplashPrompt({
    path: join(dir, SPLASH_KEYS),
    uid: greeter.uid,
    replies: { answer: (key, s) => void answers.push({ key, bytes: Buffer.from(s.reveal()) }), decline: () => {} },
    log,
    layout: "de",
    draw: (v) => {
      views.push(structuredClone(v));
      drawSplashFrame(dir, DEFAULT_COLOURS, v, { fonts: (h) => frameFonts(h), rows: (n) => (scratch = scratch.length >= n ? scratch : Buffer.alloc(n, 0xff)) });
    },
  });
  await prompt.start(pending);
  await pollUntil(() => views.length > 0, 5000, "the first prompt drawn");
  return { prompt, dir, answers, views, warnings };
}

function done(r: Rig): void {
  r.prompt.stop();
  rmSync(r.dir, { recursive: true, force: true });
}

/** the splash's client as `who`, sending `keys` on stdin; what it saw */
async function type(r: Rig, who: typeof greeter, keys: Buffer, flags: string[] = []): Promise<{ frames: number; closed: boolean; error: string | null }> {
  const { spawn } = await import("node:child_process");
  const p = spawn(asAccount(who)[0]!, [...asAccount(who).slice(1), process.execPath, client, join(r.dir, SPLASH_KEYS), ...flags], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  let out = "";
  p.stdout.on("data", (d) => (out += d));
  p.stdin.end(keys);
  await new Promise((res) => p.on("close", res));
  return JSON.parse(out);
}

const last = (v: FrameView[]) => v[v.length - 1]!;

test("the greeter's keys answer the request byte for byte, drawn as bullets in the splash's frame", async () => {
  const r = await rig();
  try {
    assert.is(statSync(join(r.dir, SPLASH_KEYS)).mode & 0o777, 0o666);
    const before = readFileSync(join(r.dir, SPLASH_FRAME));
    // caps lock on, "pä字"; then erase one character, "x", caps lock off (draws coalesce: each state looked for apart)
    const seen = await type(r, greeter, Buffer.concat([Buffer.of(0x11), Buffer.from("pä字")]));
    assert.is(seen.error, null);
    assert.ok(seen.frames >= 1, "the splash was told of a new frame");
    await pollUntil(() => r.views.some((v) => v.kind === "prompt" && v.typed === 3 && v.capsLock !== ""), 5000, "a frame with three bullets and caps lock");
    await type(r, greeter, Buffer.concat([Buffer.of(0x7f), Buffer.from("x"), Buffer.of(0x12)]));
    await pollUntil(
      () => {
        const v = last(r.views);
        return v.kind === "prompt" && v.typed === 3 && v.capsLock === "";
      },
      5000,
      "three bullets, caps lock off",
    );
    const v = last(r.views);
    assert.ok(v.kind === "prompt" && v.layout === "de" && !("shown" in v && v.shown), JSON.stringify(v));
    const after = readFileSync(join(r.dir, SPLASH_FRAME));
    assert.is(after.length, before.length, "the frame keeps its size");
    assert.not.ok(after.equals(before), "the prompt was drawn into the frame");
    assert.is(r.answers.length, 0, "nothing answered before Enter");
    await type(r, greeter, Buffer.of(0x0d));
    await pollUntil(() => r.answers.length === 1, 5000, "the answer");
    assert.is(r.answers[0]!.key, 7);
    assert.equal([...r.answers[0]!.bytes], [...Buffer.from("päx")]);
  } finally {
    done(r);
  }
});

test("any uid but the greeter's is refused: nothing is typed, drawn or answered", async () => {
  const r = await rig();
  try {
    const drawn = r.views.length;
    const seen = await type(r, nobody, Buffer.from("evil\r"));
    assert.ok(seen.closed, "foyerd closed the connection");
    assert.is(seen.frames, 0);
    assert.is(r.answers.length, 0);
    assert.is(r.views.length, drawn);
    assert.ok(
      r.warnings.some((w) => /refusing a connection to the splash's socket/.test(w)),
      r.warnings.join("\n"),
    );
    // nor can it take the socket's place: the folder is root's
    const rm = spawnSync(asAccount(nobody)[0]!, [...asAccount(nobody).slice(1), "rm", "-f", join(r.dir, SPLASH_KEYS)], { encoding: "utf8" });
    assert.is.not(rm.status, 0);
    assert.ok(statSync(join(r.dir, SPLASH_KEYS)).isSocket());
  } finally {
    done(r);
  }
});

test("what is typed when the page paints is taken out for it, and the splash is heard no more", async () => {
  const r = await rig();
  try {
    // "abc", then (the page has painted meanwhile) "z" and Enter on the same connection
    const typing = type(r, greeter, Buffer.from("abc\0z\r"), ["--pause", "1500"]);
    await pollUntil(() => r.views.some((v) => v.kind === "prompt" && v.typed === 3), 5000, "three bullets");
    const t = r.prompt.take();
    const drawnAtTake = r.views.length;
    assert.ok(t);
    assert.is(t.key, 7);
    assert.is(t.chars, 3);
    assert.equal([...t.secret.reveal()], [...Buffer.from("abc")]);
    t.secret.wipe();
    assert.is(r.prompt.take(), undefined, "nothing is left in the editor");
    const seen = await typing;
    assert.is(seen.closed, false, "the leaving splash's connection is left open: closed, it would connect again");
    assert.is(r.answers.length, 0, "what the leaving splash sent after the page painted is not heard");
    assert.is(r.views.length, drawnAtTake, "nor drawn");
    // a new launch's splash is heard and drawn for, from an empty field
    const drawn = r.views.length;
    await type(r, greeter, Buffer.from("z\r"));
    await pollUntil(() => r.answers.length === 1, 5000, "an answer from the new connection");
    assert.equal([...r.answers[0]!.bytes], [...Buffer.from("z")], "the new splash starts from an empty field");
    assert.ok(r.views.length > drawn, "a new splash is drawn for again");
  } finally {
    done(r);
  }
});

test("a flood of keys is bounded by the passphrase's limit, and the prompt still answers", async () => {
  const r = await rig();
  try {
    const flood = Buffer.alloc(MAX_PASSPHRASE_BYTES * 4, "a");
    await type(r, greeter, Buffer.concat([flood, Buffer.of(0x0d)]), ["--all"]);
    await pollUntil(() => r.answers.length === 1, 10_000, "the answer");
    assert.is(r.answers[0]!.bytes.length, MAX_PASSPHRASE_BYTES);
    assert.ok(r.views.length < 200, `drawn ${r.views.length} times for ${flood.length} bytes`);
  } finally {
    done(r);
  }
});

test.run();
