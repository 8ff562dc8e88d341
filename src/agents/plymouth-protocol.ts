// Plymouth's boot protocol on the wire, as its client library speaks it (plymouth's
// src/ply-boot-protocol.h, src/client/ply-boot-client.c, src/ply-boot-server.c). Pure: bytes in,
// requests out; replies as bytes. No sockets here.
//
// A request is the command byte followed by either
//   0x00                         (the NUL that ends the one-character command string), or
//   0x02, LEN, LEN bytes         (LEN counts the argument and its terminating NUL; one byte, so
//                                 a request is at most 258 bytes long).
// A reply is one byte: ACK 0x06, NAK 0x15, NO_ANSWER 0x05, or ANSWER 0x02 / MULTIPLE_ANSWERS 0x09
// followed by a little-endian u32 size and that many bytes (several answers are each followed by
// a NUL).

export const Command = {
  ping: "P",
  update: "U", // --update / update --status=…
  changeMode: "C",
  systemUpdate: "u", // system-update --progress=N
  systemInitialized: "S", // --sysinit / update-root-fs --read-write
  deactivate: "D",
  reactivate: "r",
  quit: "Q", // argument: one byte, 1 = --retain-splash
  password: "*",
  cachedPassword: "c",
  question: "W",
  showMessage: "M",
  hideMessage: "m",
  keystroke: "K",
  keystrokeRemove: "L",
  progressPause: "A",
  progressUnpause: "a",
  showSplash: "$",
  hideSplash: "H",
  newRoot: "R",
  hasActiveVt: "V",
  error: "!",
} as const;
export type CommandName = keyof typeof Command;

const BY_BYTE = new Map<number, CommandName>(Object.entries(Command).map(([name, ch]) => [ch.charCodeAt(0), name as CommandName]));

export const ACK = 0x06;
export const NAK = 0x15;
export const ANSWER = 0x02;
export const MULTIPLE_ANSWERS = 0x09;
export const NO_ANSWER = 0x05;

const ARGUMENT_MARK = 0x02;
/** the longest request: command, mark, length byte, 255 bytes */
export const MAX_REQUEST_BYTES = 3 + 255;

export interface Request {
  /** undefined: a command byte this implementation does not know (answered with NAK) */
  name: CommandName | undefined;
  /** the command byte itself, for the log */
  byte: number;
  /** the argument's bytes up to its first NUL (C string semantics, as plymouthd reads it); absent without one */
  argument?: Buffer;
}

export type Parsed =
  { ok: true; requests: Request[]; /** bytes of an incomplete request, to be kept for the next read */ rest: Buffer } | { ok: false; reason: string };

/**
 * Splits `buf` into complete requests. An incomplete tail is returned as `rest` (always shorter
 * than MAX_REQUEST_BYTES), so a reader that keeps only `rest` holds a bounded buffer.
 * The arguments are copies: the caller may zero `buf` afterwards.
 */
export function parseRequests(buf: Buffer): Parsed {
  const requests: Request[] = [];
  let i = 0;
  while (i < buf.length) {
    if (buf.length - i < 2) break;
    const byte = buf[i]!;
    const mark = buf[i + 1]!;
    if (mark === 0x00) {
      requests.push({ name: BY_BYTE.get(byte), byte });
      i += 2;
      continue;
    }
    if (mark !== ARGUMENT_MARK)
      return {
        ok: false,
        reason: `byte 0x${mark.toString(16).padStart(2, "0")} after command 0x${byte.toString(16).padStart(2, "0")} is neither NUL nor an argument mark`,
      };
    if (buf.length - i < 3) break;
    const len = buf[i + 2]!;
    if (buf.length - i < 3 + len) break;
    const raw = buf.subarray(i + 3, i + 3 + len);
    const nul = raw.indexOf(0);
    const argument = Buffer.alloc(nul < 0 ? raw.length : nul); // alloc: a password prompt never lands in the shared pool
    raw.copy(argument, 0, 0, argument.length);
    requests.push({ name: BY_BYTE.get(byte), byte, argument });
    i += 3 + len;
  }
  const rest = Buffer.alloc(buf.length - i);
  buf.copy(rest, 0, i);
  return { ok: true, requests, rest };
}

/** A request as the plymouth client writes it (for tests and probes). */
export function encodeRequest(command: string, argument?: string | Buffer): Buffer {
  const c = command.charCodeAt(0);
  if (argument === undefined) return Buffer.from([c, 0]);
  const a = typeof argument === "string" ? Buffer.from(argument, "utf8") : argument;
  if (a.length > 254) throw new RangeError("a plymouth argument is at most 254 bytes");
  return Buffer.concat([Buffer.from([c, ARGUMENT_MARK, a.length + 1]), a, Buffer.from([0])]);
}

export function encodeByte(b: typeof ACK | typeof NAK | typeof NO_ANSWER): Buffer {
  return Buffer.from([b]);
}

/**
 * ANSWER, size, bytes: one buffer so the reply goes out in one write (a reader never sees a
 * header without its answer). A fresh Buffer.alloc the caller zeroes once it is written.
 */
export function encodeAnswer(answer: Uint8Array): Buffer {
  const out = Buffer.alloc(5 + answer.length);
  out[0] = ANSWER;
  out.writeUInt32LE(answer.length, 1);
  out.set(answer, 5);
  return out;
}

/** MULTIPLE_ANSWERS, size, each answer followed by a NUL. The caller zeroes the result after writing. */
export function encodeMultipleAnswers(answers: Uint8Array[]): Buffer {
  const size = answers.reduce((n, a) => n + a.length + 1, 0);
  const out = Buffer.alloc(5 + size);
  out[0] = MULTIPLE_ANSWERS;
  out.writeUInt32LE(size, 1);
  let at = 5;
  for (const a of answers) {
    out.set(a, at);
    at += a.length + 1; // the NUL is already there: Buffer.alloc zero-fills
  }
  return out;
}

/** plymouthd's reading of system-update's percentage: a whole number 0..100, anything else counts as 0. */
export function parsePercent(arg: string): number {
  if (!/^\d{1,3}$/.test(arg)) return 0;
  const n = Number(arg);
  return n <= 100 ? n : 0;
}

/** systemd-fsckd's progress, sent as an update: how many disks are being checked, the least done. */
export interface FsckdProgress {
  devices: number;
  /** 0..100, the smallest of the running checks' percentages */
  percent: number;
}

/**
 * systemd-fsckd's update "fsckd:<devices>:<percent>:<translated text>" (systemd-fsckd(8)); undefined
 * for any other status. The text is not kept: the greeter says it in its own language.
 */
export function parseFsckd(status: string): FsckdProgress | undefined {
  const m = /^fsckd:(\d{1,4}):(\d{1,3}(?:\.\d+)?):/.exec(status);
  if (!m) return undefined;
  const percent = Number(m[2]);
  return percent <= 100 ? { devices: Number(m[1]), percent } : undefined;
}
