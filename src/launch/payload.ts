// A split initramfs (packaging/erofs): node and foyer are in the small part, the display stack
// (seatd, cage, the browser, Mesa, fonts) in the payload, which foyer-payload.service mounts over
// /usr while foyerd starts. foyerd draws its first frame meanwhile, and starts the display stack
// once the mount script has said how it went: it makes one of two files last.
import { existsSync, watch } from "node:fs";
import { basename, dirname } from "node:path";

export const PAYLOAD_RECORD = "/usr/lib/foyer/payload-verity";
export const PAYLOAD_MOUNTED = "/run/foyer-payload.mounted";
export const PAYLOAD_FAILED = "/run/foyer-payload.failed";
/** longer than the mount script's own wait for its device (90 s) */
export const PAYLOAD_TIMEOUT_MS = 120_000;

/** "none": not a split image; otherwise how the payload's mount went, or "timeout". */
export type PayloadState = "none" | "mounted" | "failed" | "timeout";

export interface PayloadPaths {
  record: string;
  mounted: string;
  failed: string;
}

const PATHS: PayloadPaths = { record: PAYLOAD_RECORD, mounted: PAYLOAD_MOUNTED, failed: PAYLOAD_FAILED };

/** Resolves when the payload is mounted, its mount failed, or `timeoutMs` passed; at once where the image is whole. */
export async function waitForPayload(timeoutMs: number, p: PayloadPaths = PATHS): Promise<PayloadState> {
  if (!existsSync(p.record)) return "none";
  const found = await firstOf([p.mounted, p.failed], timeoutMs);
  return found === p.mounted ? "mounted" : found === p.failed ? "failed" : "timeout";
}

/**
 * The first of `paths` (all in one folder) that exists, watched with inotify; undefined after
 * `timeoutMs`. The folder's events say when to look again, as the mount script and seatd make
 * their files there.
 */
export function firstOf(paths: string[], timeoutMs: number): Promise<string | undefined> {
  const now = () => paths.find((x) => existsSync(x));
  const already = now();
  if (already) return Promise.resolve(already);
  return new Promise((resolve) => {
    const names = new Set(paths.map((x) => basename(x)));
    let watcher: ReturnType<typeof watch> | undefined;
    const done = (found: string | undefined) => {
      clearTimeout(timer);
      watcher?.close();
      resolve(found);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    try {
      watcher = watch(dirname(paths[0]!), (_e, name) => {
        if (name !== null && !names.has(String(name))) return;
        const found = now();
        if (found) done(found);
      });
      watcher.on("error", () => {});
    } catch {
      /* no folder to watch: the timeout ends the wait */
    }
    // made between the first look and the watch
    const found = now();
    if (found) done(found);
  });
}
