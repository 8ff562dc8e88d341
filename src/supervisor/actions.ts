// What a page's message does, once router.ts has decided where it goes: performed on the flows'
// parts, the settings and the page itself. The layout is kept by the display stack, its one owner.
import type { Action } from "./router.js";
import type { Parts } from "./parts.js";
import type { GreeterClient } from "../greeter/server.js";
import type { Keyboard } from "../display/keyboard.js";
import { describe } from "../base/errors.js";
import type { Logger } from "../base/log.js";

export type ActionParts = Pick<Parts, "recovery" | "firstboot" | "settings" | "server" | "stack">;

export interface ActionContext {
  /** the layout switcher's restart of cage, which takes a layout at its start only */
  restartGreeter: () => void;
  log: Logger;
}

export function perform(p: ActionParts, client: GreeterClient, a: Action, c: ActionContext): void {
  const { recovery, firstboot, settings, server } = p;
  switch (a.do) {
    case "recovery":
      return recovery.action(a.action);
    case "terminal_open":
      return recovery.openTerminal(client, a.cols, a.rows, a.repair);
    case "terminal_resize":
      return recovery.resize(client, a.cols, a.rows);
    case "terminal_close":
      return recovery.closeTerminal(client);
    case "reply":
      return server.send(client, a.with === "firstboot_options" ? firstboot.options() : { type: "keyboard_layouts", layouts: settings.layouts() });
    case "form_keyboard":
      return firstboot.chooseKeyboard(a.keyboard.layout, a.keyboard.variant);
    case "form_submit":
      return firstboot.submit(a.answers);
    case "switch_keyboard":
      settings.check(a.keyboard.layout, a.keyboard.variant);
      return setKeyboard(p, a.keyboard, c.log, c.restartGreeter);
    case "appearance":
      return settings.set(a.change);
    case "nothing":
      return;
  }
}

/**
 * A new layout for the display stack. X takes it at once; cage only at its start: with `restart`
 * the greeter restarts with it (the switcher), without, it waits for cage's next start (the
 * first-boot form's: cage is not restarted under a half-filled form).
 */
export function setKeyboard(p: ActionParts, k: Pick<Keyboard, "layout" | "variant">, log: Logger, restart?: () => void): void {
  const next = { ...p.stack.keyboard, layout: k.layout, variant: k.variant };
  const warn = (e: unknown) => log.warning("keyboard layout not applied", { err: describe(e) });
  if (restart) void p.settings.applyKeyboard(p.stack, next, restart).catch(warn);
  else void p.stack.setKeyboard(next).catch(warn);
  p.server.stateChanged(); // the footer shows it while it is applied
}
