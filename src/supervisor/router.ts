// Where a greeter page's message goes: which part acts on it, with what. Pure: the runner
// (supervisor.ts) performs the action. The unlock's own messages (hello, ready, cancel, and the
// binary answer frames) are the greeter server's: it never hands them on.
import type { ClientMessage } from "../protocol/greeter.js";
import type { FirstbootAnswers } from "../protocol/firstboot.js";
import type { Keyboard } from "../display/keyboard.js";

export type Appearance = Omit<Extract<ClientMessage, { type: "appearance_set" }>, "type">;

export type Action =
  | { do: "recovery"; action: "continue" | "reboot" | "poweroff" }
  | { do: "terminal_open"; cols: number; rows: number; repair: boolean }
  | { do: "terminal_resize"; cols: number; rows: number }
  | { do: "terminal_close" }
  /** reply to the asking page alone */
  | { do: "reply"; with: "firstboot_options" | "keyboard_layouts" }
  /** the form's layout: checked against the form's catalogue; X takes it at once, cage at its next start */
  | { do: "form_keyboard"; keyboard: Pick<Keyboard, "layout" | "variant"> }
  | { do: "form_submit"; answers: FirstbootAnswers }
  /** the layout switcher's: checked against evdev.xml; cage restarts with it */
  | { do: "switch_keyboard"; keyboard: Pick<Keyboard, "layout" | "variant"> }
  | { do: "appearance"; change: Appearance }
  | { do: "nothing" };

/** What the page's message asks for, given whether the first-boot form is on the screen. */
export function route(m: ClientMessage, firstbootActive: boolean): Action {
  switch (m.type) {
    case "hello":
    case "ready":
    case "cancel":
      return { do: "nothing" }; // the server's own
    case "recovery_action":
      return { do: "recovery", action: m.action };
    case "terminal_open":
      return { do: "terminal_open", cols: m.cols, rows: m.rows, repair: m.repair === true };
    case "terminal_resize":
      return { do: "terminal_resize", cols: m.cols, rows: m.rows };
    case "terminal_close":
      return { do: "terminal_close" };
    case "firstboot_options":
      // a page left over from the form (it was applied meanwhile) gets no catalogue
      return firstbootActive ? { do: "reply", with: "firstboot_options" } : { do: "nothing" };
    case "firstboot_keyboard":
      return { do: "form_keyboard", keyboard: { layout: m.layout, variant: m.variant } };
    case "firstboot_submit":
      return { do: "form_submit", answers: m.answers };
    case "keyboard_layouts":
      return { do: "reply", with: "keyboard_layouts" };
    case "keyboard_set":
      return { do: "switch_keyboard", keyboard: { layout: m.layout, variant: m.variant } };
    case "appearance_set": {
      const { type: _, ...change } = m;
      return { do: "appearance", change };
    }
  }
}
