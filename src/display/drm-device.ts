// Waiting for the display device, as Plymouth does. foyerd starts before udev has loaded the GPU's
// driver (foyer.service is not ordered after udev, so that node's start overlaps udev's coldplug),
// so a stack on DRM is launched only once a card is there. A firmware framebuffer driver
// (simpledrm, the "simple-framebuffer" platform device) comes first on many machines and is
// replaced by the real driver a moment later, which takes its card away from whoever holds it: it
// is only settled for when no other card came within the profile's deviceTimeoutMs (Plymouth's
// DeviceTimeout), or at once with `nomodeset`, where no real driver will load.
// wlroots will not start without an input device, and libinput takes only those udev has set up
// (its database entry written): the launch waits for one of those too, within the same time.
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { basename, join } from "node:path";

/** The drivers that are only a firmware framebuffer kept until the real driver loads. */
const FIRMWARE_DRIVERS = new Set(["simple-framebuffer", "simpledrm", "efi-framebuffer", "vesa-framebuffer"]);

export interface DrmCard {
  name: string;
  /** the bound driver's name; "" when sysfs does not say (yet) */
  driver: string;
  firmware: boolean;
}

/** The DRM cards in sysfs (card0, not its connectors card0-HDMI-A-1), in name order. */
export function drmCards(drmDir = "/sys/class/drm"): DrmCard[] {
  let names: string[];
  try {
    names = readdirSync(drmDir);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^card\d+$/.test(n))
    .sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)))
    .map((name) => {
      let driver = "";
      try {
        driver = basename(readlinkSync(join(drmDir, name, "device", "driver")));
      } catch {
        /* not bound yet, or no device link */
      }
      return { name, driver, firmware: FIRMWARE_DRIVERS.has(driver) };
    });
}

/**
 * Whether udev has set up an input device: an event node whose udev database entry exists
 * (`/run/udev/data/c13:<minor>`, what libudev's "is initialized" reads).
 */
export function inputReady(inputDir = "/sys/class/input", udevData = "/run/udev/data"): boolean {
  let names: string[];
  try {
    names = readdirSync(inputDir);
  } catch {
    return false;
  }
  for (const n of names) {
    if (!/^event\d+$/.test(n)) continue;
    try {
      if (existsSync(join(udevData, `c${readFileSync(join(inputDir, n, "dev"), "utf8").trim()}`))) return true;
    } catch {
      /* gone meanwhile */
    }
  }
  return false;
}

export type DeviceWait = { waitedMs: number; input: boolean } & (
  | { result: "found"; card: DrmCard }
  /** only a firmware framebuffer, taken after the timeout (or at once with nomodeset) */
  | { result: "firmware"; card: DrmCard }
  /** no card at all within the timeout: the stack is launched anyway, and fails or not on its own */
  | { result: "none" }
);

/** What is there now: a real card, or the firmware one when `settle` (nomodeset, or the timeout). */
export function usableCard(cards: DrmCard[], settle: boolean): DrmCard | undefined {
  return cards.find((c) => !c.firmware) ?? (settle ? cards[0] : undefined);
}

export interface DeviceDirs {
  drmDir?: string;
  inputDir?: string;
  udevData?: string;
}

/**
 * Resolves when a card is usable and an input device set up (see the top of this file), or at
 * the timeout with what is there, polling sysfs every `pollMs`; never rejects. `nomodeset`: the
 * kernel command line has it (no real driver will come). `onWait` is called once, before the first
 * pause, with the card usable so far (if any): not at all when everything is there at once.
 */
export async function waitForDisplayDevices(
  o: { timeoutMs: number; nomodeset: boolean; pollMs?: number; onWait?: (card: DrmCard | undefined) => void } & DeviceDirs,
): Promise<DeviceWait> {
  const start = performance.now();
  const poll = o.pollMs ?? 50;
  for (let first = true; ; first = false) {
    const waitedMs = Math.round(performance.now() - start);
    const over = waitedMs >= o.timeoutMs;
    const card = usableCard(drmCards(o.drmDir), o.nomodeset || over);
    const input = inputReady(o.inputDir, o.udevData);
    if (card && (input || over)) return { result: card.firmware ? "firmware" : "found", card, input, waitedMs };
    if (over) return { result: "none", input, waitedMs };
    if (first) o.onWait?.(card);
    await new Promise((r) => setTimeout(r, Math.min(poll, o.timeoutMs - waitedMs)));
  }
}
