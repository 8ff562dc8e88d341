// What the person at the greeter may change about it: language, contrast, text size, motion, the
// on-screen keyboard and the keyboard layout. The profile gives the defaults; the daemon holds the
// current values (not the browser), so a restarted greeter comes back exactly as it was left.
import { readFileSync } from "node:fs";
import { parseEvdevXml } from "../agents/firstboot-catalog.js";
import { resolveLocale } from "../display/locale.js";
import { parseInputDevices, oskWanted, type InputDevices } from "../display/input-devices.js";
import type { DisplayStack } from "../display/stacks.js";
import type { Keyboard } from "../display/keyboard.js";
import { FoyerError } from "../base/errors.js";
import type { Logger } from "../base/log.js";
import type { Profile } from "../profile/schema.js";
import type { AppearanceView } from "../protocol/greeter.js";
import type { KeyboardLayout } from "../protocol/firstboot.js";

export interface GreeterSettingsOptions {
  profile: Profile;
  /** rd.foyer.lang= / locale.LANG= from the kernel command line; wins over the profile */
  cmdlineLang?: string;
  log: Logger;
  /** something visible changed: broadcast the state */
  changed: () => void;
  /** the input devices changed while the greeter shows (followInputDevices): a keyboard plugged in or pulled out */
  devicesChanged?: (d: InputDevices) => void;
}

export class GreeterSettings {
  #o: GreeterSettingsOptions;
  #layouts?: KeyboardLayout[];
  /** osk = auto and nobody toggled it: it follows the input devices */
  #oskFollows: boolean;
  #devicesSeen = "";
  #follow?: NodeJS.Timeout;
  locale: string;
  appearance: AppearanceView;

  constructor(o: GreeterSettingsOptions) {
    this.#o = o;
    const p = o.profile;
    this.locale = resolveLocale(o.cmdlineLang ?? p.locale.lang, p.locale.conf);
    const a = p.appearance;
    this.#oskFollows = a.osk === "auto";
    const devices = this.#readDevices();
    this.#devicesSeen = devices ?? "";
    this.appearance = {
      theme: a.theme,
      highContrast: a.highContrast,
      largeText: a.largeText,
      reducedMotion: a.reducedMotion,
      osk: a.osk === "on" || (a.osk === "auto" && this.#oskAuto(devices)),
    };
    o.log.info("greeter settings", { locale: this.locale, theme: a.theme, osk: this.appearance.osk });
  }

  #readDevices(): string | undefined {
    try {
      return readFileSync(this.#o.profile.appearance.inputDevices, "utf8");
    } catch {
      return undefined;
    }
  }

  /** osk = auto at the start, from the list the constructor read (undefined: it could not) */
  #oskAuto(text: string | undefined): boolean {
    if (text === undefined) {
      this.#o.log.warning(`cannot read '${this.#o.profile.appearance.inputDevices}', on-screen keyboard off, ignoring`);
      return false;
    }
    const d = parseInputDevices(text);
    this.#o.log.info("input devices", { keyboard: d.keyboard, touch: d.touch, pointer: d.pointer });
    return oskWanted(d);
  }

  /**
   * Devices plugged in or pulled out while the greeter shows (the kernel's list read every
   * `everyMs`; node has no udev monitor): `devicesChanged` hears of it, and osk = auto decides
   * again until the person toggles it.
   */
  followInputDevices(everyMs = 1000): void {
    if (this.#follow) return;
    this.#follow = setInterval(() => this.recheckInputDevices(), everyMs);
    this.#follow.unref();
  }

  /** One look at the input devices (followInputDevices' tick). */
  recheckInputDevices(): void {
    const text = this.#readDevices();
    // said at the start; a list that cannot be read changes nothing
    if (text === undefined || text === this.#devicesSeen) return;
    this.#devicesSeen = text;
    const d = parseInputDevices(text);
    this.#o.devicesChanged?.(d);
    if (!this.#oskFollows) return;
    const osk = oskWanted(d);
    if (osk === this.appearance.osk) return;
    this.#o.log.info("input devices changed", { keyboard: d.keyboard, touch: d.touch, pointer: d.pointer, osk });
    this.appearance = { ...this.appearance, osk };
    this.#o.changed();
  }

  stop(): void {
    clearInterval(this.#follow);
    this.#follow = undefined;
  }

  /** evdev.xml's layouts, read once on first request (about 1 MB of XML: not on the boot path). */
  layouts(): KeyboardLayout[] {
    if (!this.#layouts) {
      try {
        this.#layouts = parseEvdevXml(readFileSync(this.#o.profile.keyboard.rules, "utf8"));
      } catch {
        this.#o.log.warning(`cannot read '${this.#o.profile.keyboard.rules}', offering no layouts, ignoring`);
        this.#layouts = [];
      }
    }
    return this.#layouts;
  }

  set(m: { highContrast?: boolean; largeText?: boolean; reducedMotion?: boolean; osk?: boolean; locale?: string }): void {
    const { locale, ...rest } = m;
    if (locale !== undefined) this.locale = locale;
    if (rest.osk !== undefined) this.#oskFollows = false; // the person's choice stands
    this.appearance = { ...this.appearance, ...rest };
    this.#o.changed();
  }

  /** Checks a layout against evdev.xml: only what xkeyboard-config knows reaches setxkbmap or cage. */
  check(layout: string, variant: string): void {
    const l = this.layouts().find((x) => x.name === layout);
    if (!l || (variant !== "" && !l.variants.some((v) => v.name === variant))) throw new FoyerError("invalid-argument", "unknown keyboard layout");
  }

  /**
   * Applies a layout to the display stack. On cage the greeter restarts with the new env (the
   * caller's `restart`); the browser then reconnects and gets the full state back, prompts included.
   */
  async applyKeyboard(stack: Pick<DisplayStack, "setKeyboard">, k: Keyboard, restart: () => void): Promise<void> {
    const how = await stack.setKeyboard(k);
    this.#o.log.info(`keyboard layout '${k.layout}${k.variant ? `(${k.variant})` : ""}' ${how === "restart" ? "set, restarting the compositor with it" : how}`);
    if (how === "restart") restart();
  }
}
