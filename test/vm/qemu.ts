// Booting the appliance under QEMU (TCG: KVM does not work on these machines): a virtio GPU for
// the greeter, a QMP socket to take screendumps and type, and the serial console on a socket the
// test reads (and types into, for systemd's own console agent).
import { spawn, type ChildProcess } from "node:child_process";
import { connect, type Socket } from "node:net";
import { cpSync, mkdtempSync, readFileSync, existsSync, writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { StringDecoder } from "node:string_decoder";
import { tmpdir } from "node:os";
import { pollUntil } from "../helpers/index.js";
import type { Appliance } from "./appliance.js";

export class Vm {
  proc: ChildProcess;
  serial = "";
  dir = mkdtempSync(join(tmpdir(), "foyer-vm-"));
  #serialSock?: Socket;
  #qmp?: Socket;
  #qmpBuf = "";
  #replies: ((v: { return?: unknown; error?: { desc: string } }) => void)[] = [];
  started = performance.now();

  /**
   * `payload`: an erofs image of a split initramfs, as a read-only disk named foyer-payload.
   * `disks`: more raw images, written through (no snapshot), named by their virtio serial.
   * `tpm`: a software TPM's state folder (swtpm), copied for this boot and attached as a TPM 2.0
   * on the TIS interface, as a laptop's chip.
   * `incoming`: a state `save` wrote; the machine starts from it, paused, instead of booting (give
   * it the same options as the machine that saved it, then `resume`).
   */
  constructor(
    a: Appliance,
    opts: {
      initrd?: string;
      append?: string;
      memMb?: number;
      payload?: string;
      disks?: { file: string; serial: string; readonly?: boolean }[];
      qemuArgs?: string[];
      tpm?: string;
      incoming?: string;
    } = {},
  ) {
    const append = [
      "console=ttyS0",
      `rd.luks.uuid=${a.luksUuid}`,
      `root=/dev/mapper/luks-${a.luksUuid}`,
      "rootfstype=ext4",
      "rw",
      "loglevel=4",
      "rd.udev.log_level=3",
      "systemd.show_status=0",
      "rd.systemd.show_status=0",
      "panic=-1",
      opts.payload ? "rd.foyer.payload=/dev/disk/by-id/virtio-foyer-payload" : "",
      opts.append ?? "",
    ].join(" ");
    const tpm = opts.tpm ? join(this.dir, "tpm") : undefined;
    if (opts.tpm && tpm) cpSync(opts.tpm, tpm, { recursive: true }); // a wrong PIN counts against the copy's lockout, not the cached state
    const qemu = [
      "-accel",
      "tcg",
      "-smp",
      "2",
      "-m",
      String(opts.memMb ?? 2048),
      "-nic",
      "none",
      "-no-reboot",
      "-vga",
      "none",
      "-device",
      "virtio-gpu-pci",
      "-display",
      "none",
      "-device",
      "virtio-rng-pci",
      "-qmp",
      `unix:${join(this.dir, "qmp.sock")},server=on,wait=off`,
      "-chardev",
      `socket,id=s0,path=${join(this.dir, "serial.sock")},server=on,wait=off`,
      "-serial",
      "chardev:s0",
      "-drive",
      `file=${a.rootImage},if=virtio,format=raw,snapshot=on`,
      ...(opts.payload
        ? ["-drive", `file=${opts.payload},if=none,id=payload,format=raw,readonly=on`, "-device", "virtio-blk-pci,drive=payload,serial=foyer-payload"]
        : []),
      // cache=unsafe: QEMU skips the host's fsyncs; what the guest wrote is in the file all the same
      ...(opts.disks ?? []).flatMap((d, i) => [
        "-drive",
        `file=${d.file},if=none,id=disk${i},format=raw,cache=unsafe${d.readonly ? ",readonly=on" : ""}`,
        "-device",
        `virtio-blk-pci,drive=disk${i},serial=${d.serial}`,
      ]),
      ...(opts.qemuArgs ?? []),
      ...(tpm
        ? ["-chardev", `socket,id=tpm,path=${join(tpm, "swtpm.sock")}`, "-tpmdev", "emulator,id=tpm0,chardev=tpm", "-device", "tpm-tis,tpmdev=tpm0"]
        : []),
      "-kernel",
      a.kernel,
      "-initrd",
      opts.initrd ?? a.initrd,
      "-append",
      append,
      ...(opts.incoming ? ["-incoming", `exec:cat '${opts.incoming}'`] : []),
    ];
    // QEMU connects to swtpm's socket as it starts: swtpm first, and it ends when QEMU lets go (--terminate)
    this.proc = tpm
      ? spawn(
          "sh",
          [
            "-c",
            'swtpm socket --tpm2 --terminate --tpmstate dir="$1" --ctrl type=unixio,path="$1/swtpm.sock" --log file="$1/swtpm.log" & i=0; while [ ! -S "$1/swtpm.sock" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; shift; exec qemu-system-x86_64 "$@"',
            "sh",
            tpm,
            ...qemu,
          ],
          { stdio: ["ignore", "pipe", "pipe"] },
        )
      : spawn("qemu-system-x86_64", qemu, { stdio: ["ignore", "pipe", "pipe"] });
    this.proc.stderr!.on("data", (d) => (this.serial += `\n[qemu] ${d}`));
    // a QMP command must not wait for a QEMU that is gone (a bad option ends it at once)
    this.proc.on("exit", (code) => {
      for (const reply of this.#replies.splice(0)) reply({ error: { desc: `qemu exited (${code}):${this.serial.slice(-1500)}` } });
    });
  }

  async attach(): Promise<void> {
    await pollUntil(() => existsSync(join(this.dir, "qmp.sock")) && existsSync(join(this.dir, "serial.sock")), 20_000, "qemu sockets");
    this.#serialSock = await connected(join(this.dir, "serial.sock"));
    // a character's bytes may arrive in two chunks ("…" is three): decoded across them, not per chunk
    const serial = new StringDecoder("utf8");
    this.#serialSock.on("data", (d: Buffer) => (this.serial += serial.write(d)));
    this.#serialSock.on("error", () => {});
    this.#qmp = await connected(join(this.dir, "qmp.sock"));
    this.#qmp.on("error", () => {});
    const qmp = new StringDecoder("utf8");
    this.#qmp.on("data", (d: Buffer) => {
      this.#qmpBuf += qmp.write(d);
      let nl: number;
      while ((nl = this.#qmpBuf.indexOf("\n")) >= 0) {
        const line = this.#qmpBuf.slice(0, nl).trim();
        this.#qmpBuf = this.#qmpBuf.slice(nl + 1);
        if (!line) continue;
        const m = JSON.parse(line);
        if ("return" in m || "error" in m) this.#replies.shift()?.(m);
      }
    });
    await this.qmp("qmp_capabilities");
  }

  /** One QMP command; resolves with its return value, rejects with its error. */
  qmp(execute: string, args?: unknown): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.proc.exitCode !== null) return reject(new Error(`${execute}: qemu exited (${this.proc.exitCode}):${this.serial.slice(-1500)}`));
      this.#replies.push((m) => (m.error ? reject(new Error(`${execute}: ${m.error.desc}`)) : resolve(m.return)));
      this.#qmp!.write(JSON.stringify(args === undefined ? { execute } : { execute, arguments: args }) + "\n");
    });
  }

  /**
   * Pauses the machine and writes its state (RAM and devices, through QEMU's migration) to `file`;
   * it stays paused until `resume`. Journeys that share a long start boot it once and each goes on
   * from the state. The disks are not in it: a machine started from it must find them as they were
   * (snapshot=on drives the guest has not written to, as here).
   */
  async save(file: string): Promise<void> {
    await this.qmp("stop");
    await this.qmp("migrate", { uri: `exec:cat > '${file}'` });
    await pollUntil(
      async () => {
        const m = (await this.qmp("query-migrate")) as { status?: string; "error-desc"?: string };
        if (m.status === "failed" || m.status === "cancelled") throw new Error(`saving the machine's state failed: ${m["error-desc"] ?? m.status}`);
        return m.status === "completed";
      },
      300_000,
      "the machine's state written",
    );
  }

  /** Runs a paused machine again: one `save` paused, or one started from a state once it has read it. */
  async resume(): Promise<void> {
    await pollUntil(async () => ((await this.qmp("query-status")) as { status: string }).status !== "inmigrate", 300_000, "the machine's state read");
    await this.qmp("cont");
  }

  /**
   * Waits until the console matches `re`. The console arrives in chunks: a pattern that reads a
   * line's rest must end at its newline (`[^\n]*\n`), or it can match half a line.
   */
  async waitSerial(re: RegExp, ms: number, what: string): Promise<RegExpExecArray> {
    try {
      await pollUntil(() => re.test(this.serial) || this.proc.exitCode !== null, ms, `${what} on the serial console`);
    } catch (e) {
      throw new Error(`${(e as Error).message}; the console's last lines:\n${this.tail()}`, { cause: e });
    }
    const m = re.exec(this.serial);
    if (!m) throw new Error(`qemu exited (${this.proc.exitCode}) before ${what}; the console's last lines:\n${this.tail()}`);
    return m;
  }

  /** The console's last lines, without colour escapes: for failure messages. */
  tail(n = 40): string {
    return this.serial
      .replace(/\x1b\[[0-9;]*m/g, "")
      .split(/\r?\n/)
      .filter((l) => l.trim())
      .slice(-n)
      .join("\n");
  }

  writeSerial(s: string): void {
    this.#serialSock!.write(s);
  }

  /** The screen as raw RGB (from a PPM screendump) and, with `png`, saved as PNG too. */
  async screen(png?: string): Promise<{ width: number; height: number; rgb: Buffer }> {
    const ppm = join(this.dir, "screen.ppm");
    rmSync(ppm, { force: true });
    await this.qmp("screendump", { filename: ppm });
    if (png) await this.qmp("screendump", { filename: png, format: "png" });
    const b = readFileSync(ppm);
    // P6\n<w> <h>\n255\n<rgb…>
    const head = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(b.subarray(0, 64).toString("latin1"));
    if (!head) throw new Error("screendump is not a P6 PPM");
    return { width: Number(head[1]), height: Number(head[2]), rgb: b.subarray(head[0].length) };
  }

  /**
   * Types text with QMP send-key, one key at a time, then Enter (unless `enter` is false). qcodes
   * name physical keys (US positions): with `layout: "de"` the keys are those a person presses on
   * a German keyboard.
   */
  async type(text: string, layout: "us" | "de" = "us", enter = true): Promise<void> {
    const de: Record<string, string> = { y: "z", z: "y", Y: "Z", Z: "Y", "-": "/" };
    for (const c of text) {
      const ch = layout === "de" ? (de[c] ?? c) : c;
      const keys: { type: "qcode"; data: string }[] = [];
      const named: Record<string, string> = { "-": "minus", " ": "spc", ".": "dot", "/": "slash", "=": "equal" };
      if (/[a-z0-9]/.test(ch)) keys.push({ type: "qcode", data: ch });
      else if (/[A-Z]/.test(ch)) keys.push({ type: "qcode", data: "shift" }, { type: "qcode", data: ch.toLowerCase() });
      else if (named[ch]) keys.push({ type: "qcode", data: named[ch]! });
      else throw new Error(`no qcode for '${ch}'`);
      await this.qmp("send-key", { keys, "hold-time": 50 });
      await new Promise((r) => setTimeout(r, 60)); // a key's press and release must reach the guest before the next
    }
    if (enter) await this.qmp("send-key", { keys: [{ type: "qcode", data: "ret" }] });
  }

  /** Slows the root disk down (QEMU's I/O throttling; 0, 0: full speed again), so that a check of it lasts. */
  async throttleRoot(iops: number, bps: number): Promise<void> {
    await this.qmp("block_set_io_throttle", { device: "virtio0", iops, bps, iops_rd: 0, iops_wr: 0, bps_rd: 0, bps_wr: 0 });
  }

  /**
   * A left click at a point of the screen (`size`: the screen's pixels) on an absolute pointer
   * (QEMU's usb-tablet), through QMP input-send-event.
   */
  async click(x: number, y: number, size: { width: number; height: number }): Promise<void> {
    const abs = (axis: "x" | "y", v: number, of: number) => ({ type: "abs", data: { axis, value: Math.round((v * 0x7fff) / (of - 1)) } });
    const button = (down: boolean) => ({ type: "btn", data: { down, button: "left" } });
    await this.qmp("input-send-event", { events: [abs("x", x, size.width), abs("y", y, size.height)] });
    await this.qmp("input-send-event", { events: [button(true)] });
    await new Promise((r) => setTimeout(r, 80));
    await this.qmp("input-send-event", { events: [button(false)] });
    await new Promise((r) => setTimeout(r, 150));
  }

  /** Presses one key combination, e.g. ["ctrl", "w"] (QMP qcodes, held together). */
  async chord(qcodes: string[]): Promise<void> {
    await this.qmp("send-key", { keys: qcodes.map((data) => ({ type: "qcode", data })), "hold-time": 80 });
    await new Promise((r) => setTimeout(r, 150));
  }

  /** The guest's clock (the kernel's timestamp, s) on the first console line matching `re`; NaN when none. */
  stamp(re: RegExp): number {
    return Number(new RegExp(`\\[\\s*([\\d.]+)\\][^\\n]*${re.source}`).exec(this.serial)?.[1]);
  }

  get seconds(): number {
    return (performance.now() - this.started) / 1000;
  }

  /** Stops qemu; the serial console is kept in $TMPDIR/foyer-vm-<name>.log for a post-mortem. */
  async stop(name = "serial"): Promise<void> {
    if (this.proc.exitCode === null) {
      try {
        await Promise.race([this.qmp("quit"), new Promise((r) => setTimeout(r, 2000))]);
      } catch {
        /* already gone */
      }
      this.proc.kill("SIGKILL");
    }
    this.#qmp?.destroy();
    this.#serialSock?.destroy();
    writeFileSync(join(tmpdir(), `foyer-vm-${name}.log`), this.serial);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A pixel of foyer's default theme's dark background. */
export const themeDark = (r: number, g: number, b: number): boolean => r < 60 && g < 70 && b < 90 && b > r;

/** foyer's default theme on screen: the share of its dark background and its accent-coloured pixels. */
export function themeDrawn(s: { width: number; height: number; rgb: Buffer }): { dark: number; accent: number } {
  let dark = 0;
  for (let i = 0; i + 2 < s.rgb.length; i += 3) if (themeDark(s.rgb[i]!, s.rgb[i + 1]!, s.rgb[i + 2]!)) dark++;
  return { dark: dark / (s.width * s.height), accent: countColour(s, [0x6e, 0xa8, 0xfe], 20) };
}

/**
 * Polls screendumps until foyer's prompt is drawn (the theme's background and its accent button),
 * one every `everyMs`; returns the VM's age then. The benchmark polls as often as it polls for
 * Plymouth's dialog (300 ms), so that neither figure carries a longer wait for the next look.
 */
export async function waitForPrompt(
  vm: Vm,
  ms: number,
  png?: string,
  extra: (s: { width: number; height: number; rgb: Buffer }) => boolean = () => true,
  everyMs = 2000,
): Promise<number> {
  const deadline = performance.now() + ms;
  for (;;) {
    const s = await vm.screen(png);
    const p = themeDrawn(s);
    if (p.dark > 0.5 && p.accent > 1000 && extra(s)) return vm.seconds;
    if (performance.now() > deadline)
      throw new Error(`the prompt was never drawn (dark ${(p.dark * 100).toFixed(0)} %, ${p.accent} accent pixels); the console's last lines:\n${vm.tail()}`);
    if (vm.proc.exitCode !== null) throw new Error(`qemu exited (${vm.proc.exitCode}); the console's last lines:\n${vm.tail()}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * A connection to one of QEMU's sockets. The file exists from bind(), a moment before listen():
 * a connect in between is refused, and a serial line connected that way stays silent for good.
 */
async function connected(path: string): Promise<Socket> {
  for (let attempt = 0; ; attempt++) {
    const sock = connect(path);
    const err = await new Promise<Error | undefined>((r) => sock.once("connect", () => r(undefined)).once("error", r));
    if (!err) return sock;
    sock.destroy();
    if (attempt >= 100) throw new Error(`cannot connect to ${path}: ${err.message}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Whether the pixel at byte offset `i` of a screendump's RGB is within `tol` of a colour. */
export const near = (rgb: Buffer, i: number, [r, g, b]: readonly [number, number, number], tol: number): boolean =>
  Math.abs(rgb[i]! - r) <= tol && Math.abs(rgb[i + 1]! - g) <= tol && Math.abs(rgb[i + 2]! - b) <= tol;

/**
 * The on-screen keyboard's keys on the screen (src/ui/osk.ts, the layout given), by their centres.
 * The keyboard's panel is one flat colour of the default theme; a key is whatever lies between two
 * stretches of it on a line (its glyph included), and a row is a band of lines with the same keys.
 * Undefined when no five bands match the layout's rows.
 */
export function oskKeys(s: { width: number; height: number; rgb: Buffer }, layout: { normal: string[] }): Map<string, { x: number; y: number }> | undefined {
  const panel = (x: number, y: number) => near(s.rgb, (y * s.width + x) * 3, [38, 46, 62], 3);
  const runs = (y: number): [number, number][] => {
    const out: [number, number][] = [];
    for (let x = 1; x < s.width; x++) {
      if (panel(x, y) || !panel(x - 1, y)) continue;
      const a = x;
      while (x < s.width && !panel(x, y)) x++;
      if (x < s.width && x - a >= 25) out.push([a, x]);
    }
    return out;
  };
  const bands: { top: number; bottom: number; keys: [number, number][] }[] = [];
  for (let y = 0; y < s.height; y++) {
    const keys = runs(y);
    if (keys.length === 0) continue;
    const top = y;
    while (y + 1 < s.height && runs(y + 1).length === keys.length) y++;
    if (y - top >= 20) bands.push({ top, bottom: y, keys: runs(Math.round((top + y) / 2)) });
  }
  const rows = [[...layout.normal[0]!, "⌫"], [...layout.normal[1]!], [...layout.normal[2]!, "↵"], ["⇧", ...layout.normal[3]!], ["AltGr", " "]];
  const at = bands.findIndex((_, i) => rows.every((r, j) => bands[i + j]?.keys.length === r.length));
  if (at < 0) return undefined;
  const keys = new Map<string, { x: number; y: number }>();
  rows.forEach((r, j) => {
    const b = bands[at + j]!;
    b.keys.forEach(([a, e], k) => keys.set(r[k]!, { x: Math.round((a + e) / 2), y: Math.round((b.top + b.bottom) / 2) }));
  });
  return keys;
}

/** Pixels within `tol` of an RGB colour: a cheap "is this drawn" check on a screendump. */
export function countColour(s: { rgb: Buffer }, colour: [number, number, number], tol = 12): number {
  let n = 0;
  for (let i = 0; i + 2 < s.rgb.length; i += 3) if (near(s.rgb, i, colour, tol)) n++;
  return n;
}

export type Screen = { width: number; height: number; rgb: Buffer };

/**
 * The characters in the focused field as a person counts them: the field is the widest box drawn
 * in the focus outline's accent colour, and each bullet a column run at least 4 px wide of light
 * pixels inside it (the 1-2 px caret is not one). Undefined when no field has the focus.
 */
export function fieldDots(s: Screen): number | undefined {
  const accent = (x: number, y: number) => near(s.rgb, (y * s.width + x) * 3, [0x6e, 0xa8, 0xfe], 40);
  for (let y = 0; y < s.height; y++) {
    let a = -1,
      e = -1,
      n = 0;
    for (let x = 0; x < s.width; x++) {
      if (!accent(x, y)) continue;
      if (a < 0) a = x;
      e = x;
      n++;
    }
    if (e - a < 200 || n < 0.9 * (e - a)) continue;
    let bottom = y + 1;
    while (bottom < s.height && accent(a + 1, bottom)) bottom++;
    return lightRuns(s, { x0: a + 6, x1: e - 6, y0: y + 6, y1: bottom - 7 }, 150);
  }
  return undefined;
}

/** Column runs at least 4 px wide and ended inside the box (inclusive), of columns with a pixel lighter than `min` in every channel. */
function lightRuns(s: Screen, b: { x0: number; x1: number; y0: number; y1: number }, min: number): number {
  let runs = 0,
    run = 0;
  for (let x = b.x0; x <= b.x1; x++) {
    let light = false;
    for (let y = b.y0; y <= b.y1 && !light; y++) {
      const i = (y * s.width + x) * 3;
      light = s.rgb[i]! > min && s.rgb[i + 1]! > min && s.rgb[i + 2]! > min;
    }
    if (light) run++;
    else {
      if (run >= 4) runs++;
      run = 0;
    }
  }
  return runs;
}

/**
 * The bullets in foyer's own frame's field (src/display/frame-render.ts): the field is the box its
 * accent border bounds, each bullet a column run at least 4 px wide of near-white pixels inside it
 * (the layout's name is muted grey, not counted). Undefined when no such field is on screen.
 */
export function frameBullets(s: Screen): number | undefined {
  let x0 = s.width,
    y0 = s.height,
    x1 = -1,
    y1 = -1;
  for (let y = 0; y < s.height; y++)
    for (let x = 0; x < s.width; x++)
      if (near(s.rgb, (y * s.width + x) * 3, [0x6e, 0xa8, 0xfe], 20)) {
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
  if (x1 - x0 < 200 || y1 - y0 < 20) return undefined;
  return lightRuns(s, { x0: x0 + 4, x1: x1 - 4, y0: y0 + 4, y1: y1 - 4 }, 200);
}

/** the theme's button colour (#323c52): the recovery screen's actions */
const BUTTON: [number, number, number] = [0x32, 0x3c, 0x52];

/**
 * The first button from the top crossing column `x` (in its padding, clear of its label): a run of
 * the button colour at least 20 px tall; its centre.
 */
export function firstButton(s: Screen, x: number): { x: number; y: number; screen: Screen } | undefined {
  let start = -1;
  for (let y = 0; y < s.height; y++) {
    const hit = near(s.rgb, (y * s.width + x) * 3, BUTTON, 6);
    if (hit && start < 0) start = y;
    else if (!hit && start >= 0) {
      if (y - start >= 20) return { x, y: Math.round((start + y) / 2), screen: s };
      start = -1;
    }
  }
  return undefined;
}

/**
 * The first row of at least `min` buttons from the top, left to right: the row is found at its
 * buttons' top padding (every run there at least 40 px wide), each button by its left and right
 * edges; the points returned are 8 px below that edge, inside the buttons, above their labels.
 * Empty while the row's buttons are disabled.
 */
export function buttonRow(s: Screen, min = 2): { x: number; y: number; screen: Screen }[] {
  for (let y = 0; y < s.height; y++) {
    const runs: [number, number][] = [];
    let start = -1;
    for (let x = 0; x <= s.width; x++) {
      const hit = x < s.width && near(s.rgb, (y * s.width + x) * 3, BUTTON, 6);
      if (hit && start < 0) start = x;
      else if (!hit && start >= 0) {
        if (x - start >= 40) runs.push([start, x]);
        start = -1;
      }
    }
    if (runs.length < min) continue;
    const points = runs.map(([a, b]) => ({ x: Math.round((a + b) / 2), y: y + 8, screen: s }));
    // a disabled button's (half-transparent) border has the colour too, its inside not: none yet
    return points.every((p) => near(s.rgb, (p.y * s.width + p.x) * 3, BUTTON, 6)) ? points : [];
  }
  return [];
}
