// The boot's logs as one text: foyerd's first, each file under a `==> name <==` header (as tail
// prints several files). Every section holds text from outside: the children's logs are their
// stdout and stderr, whatever the greeter user prints, and foyerd's quotes names and messages it
// was sent. So no line of a section may read as a header, nor act on the terminal the file is
// `cat` to: control characters are written \xHH (base/controls.ts), and a line that starts with
// `==>` has its first `=` written \x3d. A backslash stays as it is: a line printed with a literal
// `\x1b` in it reads like an escaped one, and acts like text.
import { escapeControls } from "../base/controls.js";

export interface LogFile {
  name: string;
  data: Buffer;
}

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
