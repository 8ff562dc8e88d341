// Reading a tree another user owns, as root, without resolving a path that user can change. The
// greeter owns folders in the state: between a readdir and an open it can put a symlink (to
// /etc/shadow) or a FIFO where a file was, or a symlink where a folder was. Node has no openat(2),
// so an entry is opened relative to its folder's fd through /proc/self/fd/<fd>/<name>: the kernel
// looks <name> up in the very folder the fd holds, wherever it has been moved since, and
// O_NOFOLLOW refuses a symlink put there. O_NONBLOCK keeps a FIFO from holding the open. What an
// entry is comes from fstat of what was opened, never from a look at its name before.
import { openSync, fstatSync, statSync, closeSync, readdirSync, readSync, constants, type Dirent, type Stats } from "node:fs";
import { FoyerError } from "../base/errors.js";

const OPEN = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
const at = (fd: number) => `/proc/self/fd/${fd}`;

/** What a name in a folder was when it was opened: a folder or a regular file (held open), or what is not copied. */
export type Entry = { kind: "dir"; dir: SourceDir } | { kind: "file"; fd: number; st: Stats } | { kind: "symlink" } | { kind: "other" } | { kind: "missing" };

export class SourceDir {
  private constructor(
    readonly fd: number,
    /** its path when it was opened, for messages */
    readonly shown: string,
    readonly st: Stats,
  ) {}

  /** The top of a tree, by the path root was given (resolved as its caller's own); everything below it is opened relative to it. */
  static open(p: string): SourceDir {
    const fd = openSync(p, (OPEN & ~constants.O_NOFOLLOW) | constants.O_DIRECTORY);
    const st = fstatSync(fd);
    // without a /proc that shows this process, the entries could only be opened by path, which
    // is what must not happen
    const seen = statSync(at(fd), { throwIfNoEntry: false });
    if (seen?.dev !== st.dev || seen.ino !== st.ino) {
      closeSync(fd);
      throw new FoyerError("unsupported", `cannot read '${p}' through /proc/self/fd (is /proc mounted?)`);
    }
    return new SourceDir(fd, p, st);
  }

  /** The names in the folder and their types as readdir saw them: a hint of what to open, not what it is. */
  entries(): Dirent[] {
    return readdirSync(at(this.fd), { withFileTypes: true });
  }

  /** `name` in this very folder; a "dir" or "file" entry holds an fd the caller closes (SourceDir.close, closeSync). */
  open(name: string): Entry {
    if (name === "" || name === "." || name === ".." || name.includes("/")) throw new FoyerError("internal", `not a name in a folder: '${name}'`);
    let fd: number;
    try {
      fd = openSync(`${at(this.fd)}/${name}`, OPEN);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ELOOP") return { kind: "symlink" };
      if (code === "ENOENT" || code === "ENOTDIR") return { kind: "missing" }; // gone since the readdir
      if (code === "ENXIO") return { kind: "other" }; // a socket
      throw e;
    }
    const st = fstatSync(fd);
    if (st.isDirectory()) return { kind: "dir", dir: new SourceDir(fd, `${this.shown}/${name}`, st) };
    if (st.isFile()) return { kind: "file", fd, st };
    closeSync(fd);
    return { kind: "other" };
  }

  close(): void {
    closeSync(this.fd);
  }
}

const CHUNK = 1 << 20;
const chunk = Buffer.allocUnsafe(CHUNK);

/**
 * Calls `f` with the bytes of the open file `fd`, in order, at most `size` of them (its size when
 * it was opened: a file its owner keeps writing to cannot make the copy endless). The buffer
 * passed is reused: `f` copies what it keeps.
 */
export function readChunks(fd: number, size: number, f: (b: Buffer, pos: number) => void): number {
  let pos = 0;
  while (pos < size) {
    const n = readSync(fd, chunk, 0, Math.min(CHUNK, size - pos), pos);
    if (n === 0) break; // shorter than it was
    f(chunk.subarray(0, n), pos);
    pos += n;
  }
  return pos;
}

/** The whole content of the open file `fd` (as readChunks: at most `size` bytes). */
export function readAll(fd: number, size: number): Buffer {
  const parts: Buffer[] = [];
  readChunks(fd, size, (b) => parts.push(Buffer.from(b)));
  return Buffer.concat(parts);
}
