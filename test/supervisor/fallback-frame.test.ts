// The breaker's fallback drawn in foyer's own frame (src/supervisor/fallback.ts with a frame): keys
// typed on a real pty (the console) become bullets, never the passphrase's text, and the answer
// reaches the request's sender byte for byte; a question's answer is shown; caps lock redraws; a
// frame that cannot open leaves the text prompt. The frame here records what it is asked to draw:
// the drawing is test/display/frame-render's, the real framebuffer test/vm/initramfs-tools's.
import { test } from "uvu";
import * as assert from "uvu/assert";
import * as pty from "node-pty";
import { startFallback } from "../../src/supervisor/fallback.js";
import type { FrameScreen } from "../../src/display/frame-screen.js";
import type { FrameView } from "../../src/display/frame-render.js";
import { createLogger } from "../../src/base/log.js";
import { pollUntil, consoleRequest } from "../helpers/index.js";

const log = createLogger({ level: "error", kmsg: false });
const terms: pty.IPty[] = [];

/** a pty nobody has as controlling terminal, as a boot's console; its slave's path and a writer to it */
async function console_(): Promise<{ path: string; type: (s: string) => void; screen: () => string }> {
  const holder = '$SIG{HUP} = "IGNORE"; $| = 1; print readlink("/proc/self/fd/0"), "\\n"; ioctl(STDIN, 0x5422, 0) or die "TIOCNOTTY: $!"; sleep 600';
  const term = pty.spawn("perl", ["-e", holder], { cols: 200, rows: 24 });
  terms.push(term);
  let screen = "";
  term.onData((d) => (screen += d));
  await pollUntil(() => /\/dev\/pts\/\d+/.test(screen), 5_000, "pty path");
  return { path: /\/dev\/pts\/\d+/.exec(screen)![0], type: (s) => term.write(s), screen: () => screen };
}

function recordingFrame(us?: boolean): { frame: FrameScreen; views: FrameView[]; caps: { on: boolean }; closed: () => boolean } {
  const views: FrameView[] = [];
  const caps = { on: false };
  let closed = false;
  return {
    frame: {
      fb: { dev: "/dev/null", width: 1280, height: 800, stride: 5120, bitsPerPixel: 32 },
      draw: (v) => views.push(structuredClone(v)),
      capsLock: () => caps.on,
      usKeymap: () => us,
      close: () => (closed = true),
    },
    views,
    caps,
    closed: () => closed,
  };
}

const request = consoleRequest;
const last = (v: FrameView[]) => v[v.length - 1]!;

test.after(() => {
  for (const t of terms) t.kill("SIGKILL");
});

test("typed keys are bullets in the frame; Enter sends the exact bytes; then the progress mark", async () => {
  const tty = await console_();
  const r = recordingFrame();
  const answers: Buffer[] = [];
  const fb = startFallback("builtin", tty.path, [request()], { answer: (_k, s) => answers.push(Buffer.from(s.reveal())), decline: () => {} }, log, {
    frame: () => r.frame,
    layout: "de",
  });
  try {
    assert.equal(last(r.views), { kind: "prompt", message: "Passphrase for root:", typed: 0, capsLock: "", layout: "de" });
    tty.type("pä字");
    await pollUntil(() => last(r.views).kind === "prompt" && (last(r.views) as { typed: number }).typed === 3, 5_000, "three bullets");
    tty.type("\x7f"); // backspace: one whole character, three bytes of 字
    await pollUntil(() => (last(r.views) as { typed: number }).typed === 2, 5_000, "two bullets after a backspace");
    tty.type("ss\r");
    await pollUntil(() => answers.length === 1, 5_000, "the answer");
    assert.equal(answers[0], Buffer.from("päss"));
    assert.equal(last(r.views), { kind: "progress", step: 0 });
    assert.not.match(JSON.stringify(r.views), /p[äa]s/, "the passphrase reached a drawn view");
    assert.is(tty.screen().includes("answering on this console"), false, "text written beside the frame");
  } finally {
    fb.stop();
  }
  assert.ok(r.closed(), "stop() gives the console its text mode back");
});

test("keys typed after Enter in the same read are drawn on the next request's field", async () => {
  const tty = await console_();
  const r = recordingFrame();
  const answers: Buffer[] = [];
  const fb = startFallback(
    "builtin",
    tty.path,
    [request(), request({ key: 2, message: "Passphrase for home:" })],
    { answer: (_k, s) => answers.push(Buffer.from(s.reveal())), decline: () => {} },
    log,
    { frame: () => r.frame },
  );
  try {
    tty.type("one\rtw");
    await pollUntil(() => answers.length === 1, 5_000, "the first answer");
    assert.equal(answers[0], Buffer.from("one"));
    await pollUntil(() => (last(r.views) as { message?: string }).message === "Passphrase for home:", 5_000, "the second request");
    assert.is((last(r.views) as { typed: number }).typed, 2, "the keys after Enter are not on the field");
  } finally {
    fb.stop();
  }
});

test("the frame names the keymap the console reads keys with: 'us' when the machine's was not loaded", async () => {
  for (const [us, shown] of [
    [true, "us"],
    [false, "de"],
    [undefined, "de"],
  ] as const) {
    const tty = await console_();
    const r = recordingFrame(us);
    const fb = startFallback("builtin", tty.path, [request()], { answer: () => {}, decline: () => {} }, log, { frame: () => r.frame, layout: "de" });
    try {
      assert.is((last(r.views) as { layout: string }).layout, shown, `the kernel's keymap US: ${us}`);
    } finally {
      fb.stop();
    }
  }
});

test("a question's answer is shown as typed; caps lock redraws without a key", async () => {
  const tty = await console_();
  const r = recordingFrame();
  const answers: string[] = [];
  const fb = startFallback(
    "builtin",
    tty.path,
    [request({ echo: true, message: "Repair? (y/n)", from: "plymouth" })],
    { answer: (_k, s) => answers.push(Buffer.from(s.reveal()).toString()), decline: () => {} },
    log,
    {
      frame: () => r.frame,
    },
  );
  try {
    tty.type("yes");
    await pollUntil(() => (last(r.views) as { shown?: string }).shown === "yes", 5_000, "the answer shown");
    r.caps.on = true;
    await pollUntil(() => (last(r.views) as { capsLock: string }).capsLock === "Caps Lock is on", 5_000, "caps lock's line");
    tty.type("\r");
    await pollUntil(() => answers.length === 1, 5_000, "the answer");
    assert.equal(answers, ["yes"]);
  } finally {
    fb.stop();
  }
});

test("a frame that cannot open: the text prompt on the console, as before", async () => {
  const tty = await console_();
  const answers: Buffer[] = [];
  const fb = startFallback(
    "builtin",
    tty.path,
    [request({ message: "Disk key:" })],
    { answer: (_k, s) => answers.push(Buffer.from(s.reveal())), decline: () => {} },
    log,
    {
      frame: () => {
        throw new Error("no 24 or 32 bpp framebuffer");
      },
    },
  );
  try {
    await pollUntil(() => tty.screen().includes("answering on this console") && tty.screen().includes("Disk key:"), 5_000, "the text prompt");
    tty.type("k3y\r");
    await pollUntil(() => answers.length === 1, 5_000, "the answer");
    assert.equal(answers[0], Buffer.from("k3y"));
    assert.not.match(tty.screen(), /k3y/, "the passphrase echoed");
  } finally {
    fb.stop();
  }
});

test.run();
