// Parsing one systemd password-agent request file (docs/PASSWORD_AGENTS.md in systemd):
// an ini file with an [Ask] section. Pure: bytes in, a tagged result out. Each line is split at
// its first '=' (an ini library would cut values at ';' or '#'). A value can never span lines,
// so a newline injected into Message= cannot forge a second key.
export interface AskRequest {
  /** file name in the ask directory, e.g. ask.Ab12Cd */
  name: string;
  socket: string;
  pid?: number;
  acceptCached: boolean;
  echo: boolean;
  silent: boolean;
  /** CLOCK_MONOTONIC microseconds; 0n = no deadline */
  notAfterUs: bigint;
  message: string;
  icon?: string;
  id?: string;
}

export type AskParse = { ok: true; request: AskRequest } | { ok: false; reason: string };

export const MAX_ASK_FILE_BYTES = 64 * 1024;
const MAX_MESSAGE_CHARS = 2048;

const decoder = new TextDecoder("utf-8", { fatal: true });

function bool(v: string): boolean | undefined {
  if (/^(1|yes|y|true|t|on)$/i.test(v)) return true;
  if (/^(0|no|n|false|f|off)$/i.test(v)) return false;
  return undefined;
}

// control characters (but tab) would let a Message= redraw the console or hide text
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

export function parseAskFile(name: string, bytes: Uint8Array): AskParse {
  if (bytes.length > MAX_ASK_FILE_BYTES) return { ok: false, reason: `larger than ${MAX_ASK_FILE_BYTES} bytes` };
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    return { ok: false, reason: "not valid UTF-8" };
  }
  if (text.includes("\0")) return { ok: false, reason: "contains a NUL byte" };
  const kv = new Map<string, string>();
  let section = "";
  let sawAsk = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    if (line.startsWith("[")) {
      if (!line.endsWith("]")) return { ok: false, reason: "malformed section header" };
      section = line.slice(1, -1);
      if (section === "Ask") sawAsk = true;
      continue;
    }
    if (section !== "Ask") continue;
    const eq = line.indexOf("=");
    if (eq <= 0) return { ok: false, reason: "a line in [Ask] has no key=value" };
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    // a second Socket= or PID= would make it ambiguous whom we answer: refuse rather than guess
    if ((key === "Socket" || key === "PID") && kv.has(key)) return { ok: false, reason: `duplicate ${key}= key` };
    kv.set(key, value);
  }
  if (!sawAsk) return { ok: false, reason: "no [Ask] section" };

  const socket = kv.get("Socket");
  if (!socket) return { ok: false, reason: "no Socket= key" };
  if (!socket.startsWith("/") || CONTROL.test(socket) || socket.length > 107) {
    CONTROL.lastIndex = 0;
    return { ok: false, reason: "Socket= is not an absolute socket path" };
  }

  const req: AskRequest = {
    name,
    socket,
    acceptCached: false,
    echo: false,
    silent: false,
    notAfterUs: 0n,
    message: "",
  };
  const pid = kv.get("PID");
  if (pid !== undefined) {
    if (!/^[1-9][0-9]{0,9}$/.test(pid) || Number(pid) > 0x3fffffff) return { ok: false, reason: "PID= is not a process id" };
    req.pid = Number(pid);
  }
  const notAfter = kv.get("NotAfter");
  if (notAfter !== undefined && notAfter !== "") {
    if (!/^[0-9]{1,20}$/.test(notAfter) || BigInt(notAfter) > 0xffffffffffffffffn) return { ok: false, reason: "NotAfter= is not a number" };
    req.notAfterUs = BigInt(notAfter);
  }
  for (const [key, field] of [
    ["AcceptCached", "acceptCached"],
    ["Echo", "echo"],
    ["Silent", "silent"],
  ] as const) {
    const v = kv.get(key);
    if (v === undefined) continue;
    const b = bool(v);
    if (b === undefined) return { ok: false, reason: `${key}= is not a boolean` };
    req[field] = b;
  }
  req.message = (kv.get("Message") ?? "").replace(CONTROL, "").slice(0, MAX_MESSAGE_CHARS);
  const icon = kv.get("Icon");
  if (icon) req.icon = icon.replace(CONTROL, "").slice(0, 256);
  const id = kv.get("Id");
  if (id) req.id = id.replace(CONTROL, "").slice(0, 512);
  return { ok: true, request: req };
}
