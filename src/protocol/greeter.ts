// The greeter wire protocol, shared by the daemon (src/greeter) and the browser UI (src/ui).
// JSON text frames, each validated by these schemas on both sides; binary frames carry only
// passphrase bytes (and, later, terminal data), so a passphrase is never a JSON string.
// No Node imports here: this file is bundled into the browser.
// zod/mini, not zod: its checks are functions a bundler can drop, so the page loads what these
// schemas use rather than all of zod before it can connect (the page's shared chunk: 42 KB, was 471 KB).
import * as z from "zod/mini";
import { PROMPT_KINDS } from "./classify.js";
import { FirstbootView, FirstbootOptionsMessage, FirstbootClientMessages, FRAME_FIRSTBOOT_PASSWORD, MAX_PASSWORD_BYTES, KeyboardLayout } from "./firstboot.js";

export const PROTOCOL_VERSION = 1;
/** ws maxPayload on the server; the UI never sends more */
export const MAX_FRAME_BYTES = 64 * 1024;
/** cryptsetup's interactive passphrase limit is 512 characters; 8 KiB of UTF-8 is ample */
export const MAX_PASSPHRASE_BYTES = 8 * 1024;

export const PromptView = z.strictObject({
  key: z.int().check(z.positive()),
  message: z.string().check(z.maxLength(4096)),
  echo: z.boolean(),
  silent: z.boolean(),
  /** > 0: the same Id= asks again after an answer, i.e. the last passphrase was wrong */
  retries: z.int().check(z.nonnegative()),
  id: z.optional(z.string().check(z.maxLength(512))),
  icon: z.optional(z.string().check(z.maxLength(256))),
  /** what the request asks for, from its message (classify.ts): the page labels a PIN as a PIN */
  kind: z._default(z.enum(PROMPT_KINDS), "passphrase"),
  /** the time left before the asker gives up (its NotAfter=), when this state was sent; absent: no end */
  expiresInMs: z.optional(z.int().check(z.nonnegative())),
  /**
   * characters typed into foyer's own frame before the page painted: the daemon holds them, the
   * field shows one bullet each, and the answer says how many of them it keeps (encodeAnswer)
   */
  typed: z.optional(z.int().check(z.positive(), z.lte(MAX_PASSPHRASE_BYTES))),
});
export type PromptView = z.infer<typeof PromptView>;

export const KeyboardView = z.strictObject({
  layout: z.string().check(z.maxLength(64)),
  variant: z.string().check(z.maxLength(64)),
});

/** a POSIX locale name as in LANG= ("de_DE.UTF-8", "C.UTF-8"); the UI picks its catalogue from it */
export const LocaleName = z.string().check(z.regex(/^[A-Za-z0-9_.@-]{1,64}$/));

/**
 * How the greeter looks, held by the daemon (profile defaults, then the person's toggles) so a
 * restarted browser comes back the same: high contrast stays high contrast.
 */
export const AppearanceView = z.strictObject({
  /** a folder in assets/themes/ */
  theme: z.string().check(z.regex(/^[a-z0-9][a-z0-9-]{0,31}$/)),
  highContrast: z.boolean(),
  largeText: z.boolean(),
  /** on top of the browser's prefers-reduced-motion, which a kiosk cannot be told */
  reducedMotion: z.boolean(),
  /** the on-screen keyboard is shown */
  osk: z.boolean(),
});
export type AppearanceView = z.infer<typeof AppearanceView>;

export const Flow = z.enum(["unlock", "recovery", "firstboot"]);
export type Flow = z.infer<typeof Flow>;

export const FsckView = z.strictObject({
  device: z.string().check(z.maxLength(512)),
  /** null while running */
  exitCode: z.nullable(z.int()),
  running: z.boolean(),
  /** 0..100 while running and fsck reports progress; null when unknown */
  percent: z.nullable(z.number().check(z.gte(0), z.lte(100))),
  /** the tail of fsck's output */
  output: z.string().check(z.maxLength(64 * 1024)),
});

export const RecoveryView = z.strictObject({
  reason: z.string().check(z.maxLength(1024)),
  fsck: z.nullable(FsckView),
  /** the tail of the boot journal (or foyer's own log) */
  journal: z.array(z.string().check(z.maxLength(1024))).check(z.maxLength(500)),
  /** an action the person chose that is in progress, e.g. "reboot" */
  busy: z.string().check(z.maxLength(64)),
  /** the root terminal: open (or still closing); `repair`: its shell after the root password is fsck -y */
  terminal: z.strictObject({ open: z.boolean(), repair: z._default(z.boolean(), false) }),
});
export type RecoveryView = z.infer<typeof RecoveryView>;

export const StateMessage = z.strictObject({
  type: z.literal("state"),
  flow: Flow,
  /** the supervisor's phase, for display only */
  phase: z.string().check(z.maxLength(32)),
  prompts: z.array(PromptView).check(z.maxLength(256)),
  keyboard: KeyboardView,
  /** a one-line notice (e.g. "answer sent"); empty when none */
  notice: z.string().check(z.maxLength(512)),
  /** messages from other boot components (Plymouth display-message, fsckd), newest last */
  messages: z._default(z.array(z.string().check(z.maxLength(1024))).check(z.maxLength(32)), []),
  /** systemd-fsckd's file system checks while they run (Plymouth's protocol); null when none runs */
  diskCheck: z._default(z.nullable(z.strictObject({ devices: z.int().check(z.gte(1), z.lte(9999)), percent: z.number().check(z.gte(0), z.lte(100)) })), null),
  recovery: z.optional(RecoveryView),
  firstboot: z.optional(FirstbootView),
  /** the greeter's language (profile, kernel command line, or LANG in locale.conf) */
  locale: z._default(LocaleName, "C.UTF-8"),
  appearance: z.optional(AppearanceView),
});
export type StateMessage = z.infer<typeof StateMessage>;

export const ErrorMessage = z.strictObject({
  type: z.literal("error"),
  code: z.string().check(z.maxLength(64)),
  message: z.string().check(z.maxLength(512)),
});

/** xkeyboard-config's layouts, sent on request (the greeter's layout switcher) */
export const KeyboardLayoutsMessage = z.strictObject({
  type: z.literal("keyboard_layouts"),
  layouts: z.array(KeyboardLayout).check(z.maxLength(1024)),
});
export type KeyboardLayoutsMessage = z.infer<typeof KeyboardLayoutsMessage>;

export const ServerMessage = z.discriminatedUnion("type", [StateMessage, ErrorMessage, FirstbootOptionsMessage, KeyboardLayoutsMessage]);
export type ServerMessage = z.infer<typeof ServerMessage>;

export const ClientMessage = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("hello"), version: z.int() }),
  /**
   * the UI has rendered the state it was sent: the greeter is interactive. `paintedMsAgo`: the
   * page painted it that long before its socket opened (POST /session carried it)
   */
  z.strictObject({ type: z.literal("ready"), paintedMsAgo: z.optional(z.int().check(z.gte(0), z.lte(600_000))) }),
  z.strictObject({ type: z.literal("cancel"), key: z.int().check(z.positive()) }),
  z.strictObject({ type: z.literal("recovery_action"), action: z.enum(["continue", "reboot", "poweroff"]) }),
  /** the root terminal (sulogin); `repair`: the file system's repair, behind the same root password */
  z.strictObject({
    type: z.literal("terminal_open"),
    cols: z.int().check(z.gte(2), z.lte(1000)),
    rows: z.int().check(z.gte(2), z.lte(1000)),
    repair: z.optional(z.boolean()),
  }),
  z.strictObject({ type: z.literal("terminal_resize"), cols: z.int().check(z.gte(2), z.lte(1000)), rows: z.int().check(z.gte(2), z.lte(1000)) }),
  z.strictObject({ type: z.literal("terminal_close") }),
  ...FirstbootClientMessages,
  z.strictObject({ type: z.literal("keyboard_layouts") }),
  /** switch the layout: applied to the X server at once, or by restarting cage with it */
  z.strictObject({ type: z.literal("keyboard_set"), layout: z.string().check(z.maxLength(64)), variant: z.string().check(z.maxLength(64)) }),
  /** the person's accessibility and language toggles; absent keys stay as they are */
  z.strictObject({
    type: z.literal("appearance_set"),
    highContrast: z.optional(z.boolean()),
    largeText: z.optional(z.boolean()),
    reducedMotion: z.optional(z.boolean()),
    osk: z.optional(z.boolean()),
    locale: z.optional(LocaleName),
  }),
]);
export type ClientMessage = z.infer<typeof ClientMessage>;

/** Binary frame kinds (first byte). */
export const FRAME_ANSWER = 0x01;
/** [0x02][bytes]: terminal data, both directions (keystrokes in, pty output out) */
export const FRAME_TERMINAL = 0x02;
/** [0x04][u32 BE prompt key][u16 BE kept][bytes]: an answer that goes on from the first `kept` characters the prompt's `typed` counted */
export const FRAME_ANSWER_AFTER = 0x04;

/** [0x01][u32 BE prompt key][passphrase bytes]; with `kept` > 0, FRAME_ANSWER_AFTER's */
export function encodeAnswer(key: number, passphrase: Uint8Array, kept = 0): Uint8Array {
  const head = kept > 0 ? 7 : 5;
  const out = new Uint8Array(head + passphrase.length);
  const v = new DataView(out.buffer);
  out[0] = kept > 0 ? FRAME_ANSWER_AFTER : FRAME_ANSWER;
  v.setUint32(1, key, false);
  if (kept > 0) v.setUint16(5, kept, false);
  out.set(passphrase, head);
  return out;
}

export type DecodedFrame =
  | { ok: true; kind: "answer"; key: number; start: number; kept: number }
  | { ok: true; kind: "terminal"; start: number }
  | { ok: true; kind: "firstboot_password"; field: number; start: number }
  | { ok: false; reason: string };

/** Reads a binary frame's header; the passphrase is `frame.subarray(start)`, never copied here. */
export function decodeFrame(frame: Uint8Array): DecodedFrame {
  if (frame.length < 1) return { ok: false, reason: "empty binary frame" };
  if (frame[0] === FRAME_TERMINAL) return { ok: true, kind: "terminal", start: 1 };
  if (frame[0] === FRAME_FIRSTBOOT_PASSWORD) {
    if (frame.length < 2 || (frame[1] !== 1 && frame[1] !== 2)) return { ok: false, reason: "bad first-boot password field" };
    if (frame.length - 2 > MAX_PASSWORD_BYTES) return { ok: false, reason: "password too long" };
    return { ok: true, kind: "firstboot_password", field: frame[1], start: 2 };
  }
  if (frame[0] !== FRAME_ANSWER && frame[0] !== FRAME_ANSWER_AFTER) return { ok: false, reason: "unknown binary frame kind" };
  const start = frame[0] === FRAME_ANSWER ? 5 : 7;
  if (frame.length < start) return { ok: false, reason: "short answer frame" };
  if (frame.length - start > MAX_PASSPHRASE_BYTES) return { ok: false, reason: "passphrase too long" };
  const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const key = v.getUint32(1, false);
  if (key === 0) return { ok: false, reason: "answer frame for prompt 0" };
  const kept = start === 7 ? v.getUint16(5, false) : 0;
  if (start === 7 && (kept === 0 || kept > MAX_PASSPHRASE_BYTES))
    return { ok: false, reason: "an answer after typed characters keeps none, or more than a passphrase holds" };
  return { ok: true, kind: "answer", key, start, kept };
}
