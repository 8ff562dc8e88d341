// Is a keyboard attached, a touch screen, a pointer? Read from the kernel's capability bitmaps in
// /proc/bus/input/devices, the same bits libinput and udev's input_id use. The browser cannot tell:
// pointer/hover media queries describe the pointer, and no web API reports whether a keyboard
// exists, so the daemon decides whether the on-screen keyboard shows itself.

/** A bitmap line ("B: KEY=7 ffff 0 …"): words are hex longs, most significant first. */
function bits(words: string): (n: number) => boolean {
  const w = words
    .trim()
    .split(/\s+/)
    .reverse()
    .map((x) => BigInt("0x" + (x || "0")));
  return (n) => {
    const word = w[Math.floor(n / 64)];
    return word !== undefined && ((word >> BigInt(n % 64)) & 1n) === 1n;
  };
}

const EV_KEY = 1;
const EV_REL = 2;
const EV_ABS = 3;
const REL_X = 0;
const REL_Y = 1;
const ABS_Y = 1;
const BTN_LEFT = 0x110;
const ABS_MT_POSITION_X = 0x35;
const ABS_X = 0;
const INPUT_PROP_DIRECT = 1;
const BTN_TOUCH = 0x14a;
/** KEY_Q..KEY_P, KEY_A..KEY_L, KEY_Z..KEY_M: a device with all letter rows types text */
const LETTERS = [...range(16, 25), ...range(30, 38), ...range(44, 50)];
function range(a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

export interface InputDevices {
  keyboard: boolean;
  touch: boolean;
  /** a mouse, a touchpad or a graphics tablet: something that can press the on-screen keys */
  pointer: boolean;
}

export function parseInputDevices(text: string): InputDevices {
  const found: InputDevices = { keyboard: false, touch: false, pointer: false };
  // lines until a blank line describe one device; EV/KEY/ABS/PROP bitmaps are what matters
  for (const block of text.split(/\n\s*\n/)) {
    const b: Record<string, (n: number) => boolean> = {};
    for (const m of block.matchAll(/^B: (EV|KEY|REL|ABS|PROP)=([0-9a-f ]*)$/gm)) b[m[1]!] = bits(m[2]!);
    const ev = b.EV,
      key = b.KEY,
      rel = b.REL,
      abs = b.ABS,
      prop = b.PROP;
    if (!ev) continue;
    // power buttons, lid switches and media remotes have EV_KEY too, but not the letters
    if (ev(EV_KEY) && key && LETTERS.every((k) => key(k))) found.keyboard = true;
    // a touch screen reports absolute positions on the display itself (INPUT_PROP_DIRECT);
    // a touchpad (also absolute, multitouch) is indirect and is not a reason for an OSK
    if (ev(EV_ABS) && abs && (abs(ABS_MT_POSITION_X) || abs(ABS_X)) && prop?.(INPUT_PROP_DIRECT) && key?.(BTN_TOUCH)) found.touch = true;
    // a pointer has a left button and moves: relative (a mouse) or absolute off the display (a
    // touchpad, QEMU's USB tablet); a touch screen's own absolute axes are counted as touch above
    const moves = (ev(EV_REL) && rel?.(REL_X) && rel(REL_Y)) || (ev(EV_ABS) && abs?.(ABS_X) && abs(ABS_Y) && !prop?.(INPUT_PROP_DIRECT));
    if (ev(EV_KEY) && key?.(BTN_LEFT) && moves) found.pointer = true;
  }
  return found;
}

/** osk = auto: no keyboard, and a touch screen or a pointer to press its keys with */
export function oskWanted(d: InputDevices): boolean {
  return !d.keyboard && (d.touch || d.pointer);
}
