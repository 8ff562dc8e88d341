// Text from outside (a child's stdout, a name a peer sent) on its way to a log or a terminal: no
// control character of it may act on the terminal that shows it (a carriage return or an ANSI
// sequence can hide a line, or paint another over it). Control characters (C0 but \n and \t,
// DEL, C1) and bytes that are not UTF-8 are written \xHH; a backslash stays as it is.
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
  let out = "",
    from = 0;
  for (let i = 0; i < b.length;) {
    const c = b[i]!;
    let n = 1,
      bad: boolean;
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

/** escapeControls for a string: the same text, as a string again (valid UTF-8 kept). */
export function escapeControlsText(s: string): string {
  return Buffer.from(escapeControls(Buffer.from(s, "utf8")), "latin1").toString("utf8");
}
