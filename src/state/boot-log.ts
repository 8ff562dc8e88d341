// The boot's logs as one text: foyerd's first, each file under a `==> name <==` header (as tail
// prints several files). Every section holds text from outside: the children's logs are their
// stdout and stderr, whatever the greeter user prints, and foyerd's quotes names and messages it
// was sent. So no line of a section may read as a header, nor act on the terminal the file is
// `cat` to (a carriage return or an ANSI sequence can hide a line, or paint a header over it):
// control characters (C0 but \n and \t, DEL, C1) and bytes that are not UTF-8 are written \xHH,
// and a line that starts with `==>` has its first `=` written \x3d. A backslash stays as it is: a
// line printed with a literal `\x1b` in it reads like an escaped one, and acts like text.
const hex = (b: number) => `\\x${b.toString(16).padStart(2, "0")}`;

/** Length of the UTF-8 sequence at b[i] (a lead byte ≥ 0x80), or 0 when it is not a valid one (RFC 3629: no overlong form, no surrogate, ≤ U+10FFFF). */
function utf8Length(b: Buffer, i: number): number {
  const c = b[i]!;
  const n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (n === 0 || i + n > b.length) return 0;
  for (let k = 1; k < n; k++) if ((b[i + k]! & 0xc0) !== 0x80) return 0;
  const c1 = b[i + 1]!;
  if ((c === 0xe0 && c1 < 0xa0) || (c === 0xed && c1 > 0x9f) || (c === 0xf0 && c1 < 0x90) || (c === 0xf4 && c1 > 0x8f)) return 0;
  return n;
}

/** `b` with every control character but \n and \t, and every byte that is not part of valid UTF-8, written \xHH; as a latin1 string (one char a byte). */
export function escapeControls(b: Buffer): string {
  const s = b.toString("latin1");
  if (!/[\x00-\x08\x0b-\x1f\x7f-\xff]/.test(s)) return s;
  let out = "", from = 0;
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    let n = 1, bad = false;
    if (c >= 0x80) {
      n = utf8Length(b, i);
      // C1 controls, U+0080-U+009F: 0xC2 0x80-0x9F (a terminal may take U+009B for CSI)
      bad = n === 0 || (c === 0xc2 && b[i + 1]! < 0xa0);
    } else bad = (c < 0x20 && c !== 0x09 && c !== 0x0a) || c === 0x7f;
    if (!bad) {
      i += n;
      continue;
    }
    out += s.slice(from, i) + hex(c);
    i += 1; // an invalid or control sequence is written byte by byte
    from = i;
  }
  return out + s.slice(from);
}

export interface LogFile { name: string; data: Buffer }

/** The combined text, or null when there is no log; redacts the greeter's tokens (a browser prints its URL). */
export function bootLogText(files: LogFile[]): Buffer | null {
  if (files.length === 0) return null;
  const sorted = [...files].sort((a, b) => (a.name === "foyerd.log" ? -1 : b.name === "foyerd.log" ? 1 : a.name.localeCompare(b.name)));
  const parts: string[] = [];
  for (const f of sorted) {
    // the per-launch token is dead by now, but has no business on a disk either
    const redacted = Buffer.from(f.data.toString("latin1").replace(/token=[\w-]+/g, "token=[redacted]"), "latin1");
    const body = escapeControls(redacted).replace(/(^|\n)==>/g, "$1\\x3d=>");
    // a name is foyerd's own (a launch's name), written the same way all the same
    parts.push(`==> ${escapeControls(Buffer.from(f.name)).replace(/\n/g, "\\x0a")} <==\n`, body);
    if (body.length && !body.endsWith("\n")) parts.push("\n");
  }
  return Buffer.from(parts.join(""), "latin1");
}
