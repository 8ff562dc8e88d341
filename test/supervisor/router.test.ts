// Where each of the page's messages goes (router.ts), as a table: message, whether the first-boot
// form is on the screen, the action.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { route, type Action } from "../../src/supervisor/router.js";
import type { ClientMessage } from "../../src/protocol/greeter.js";
import type { FirstbootAnswers } from "../../src/protocol/firstboot.js";

const answers: FirstbootAnswers = {
  layout: "de",
  variant: "",
  locale: "de_DE.UTF-8",
  timezone: "Europe/Berlin",
  hostname: "box",
  fullName: "Ada",
  username: "ada",
  rootLocked: true,
};

const TABLE: [string, ClientMessage, boolean, Action][] = [
  ["a recovery action", { type: "recovery_action", action: "reboot" }, false, { do: "recovery", action: "reboot" }],
  ["the terminal, no repair said", { type: "terminal_open", cols: 80, rows: 24 }, false, { do: "terminal_open", cols: 80, rows: 24, repair: false }],
  ["the repair's terminal", { type: "terminal_open", cols: 80, rows: 24, repair: true }, false, { do: "terminal_open", cols: 80, rows: 24, repair: true }],
  ["a resize", { type: "terminal_resize", cols: 100, rows: 30 }, false, { do: "terminal_resize", cols: 100, rows: 30 }],
  ["the terminal closed", { type: "terminal_close" }, false, { do: "terminal_close" }],
  ["the form's catalogue while the form shows", { type: "firstboot_options" }, true, { do: "reply", with: "firstboot_options" }],
  ["the form's catalogue once it is gone", { type: "firstboot_options" }, false, { do: "nothing" }],
  [
    "the form's layout",
    { type: "firstboot_keyboard", layout: "de", variant: "nodeadkeys" },
    true,
    { do: "form_keyboard", keyboard: { layout: "de", variant: "nodeadkeys" } },
  ],
  ["the form's answers", { type: "firstboot_submit", answers }, true, { do: "form_submit", answers }],
  ["the switcher's list", { type: "keyboard_layouts" }, false, { do: "reply", with: "keyboard_layouts" }],
  ["the switcher's layout", { type: "keyboard_set", layout: "fr", variant: "" }, false, { do: "switch_keyboard", keyboard: { layout: "fr", variant: "" } }],
  [
    "a toggle, without its type",
    { type: "appearance_set", highContrast: true, locale: "fr_FR.UTF-8" },
    false,
    { do: "appearance", change: { highContrast: true, locale: "fr_FR.UTF-8" } },
  ],
  ["the server's own: hello", { type: "hello", version: 1 }, false, { do: "nothing" }],
  ["the server's own: ready", { type: "ready" }, false, { do: "nothing" }],
  ["the server's own: cancel", { type: "cancel", key: 3 }, false, { do: "nothing" }],
];

for (const [name, m, form, action] of TABLE) {
  test(name, () => assert.equal(route(m, form), action));
}

// a message type added to the protocol fails tsc here until it has its row
const EVERY_TYPE: Record<ClientMessage["type"], true> = {
  hello: true,
  ready: true,
  cancel: true,
  recovery_action: true,
  terminal_open: true,
  terminal_resize: true,
  terminal_close: true,
  firstboot_options: true,
  firstboot_keyboard: true,
  firstboot_submit: true,
  keyboard_layouts: true,
  keyboard_set: true,
  appearance_set: true,
};

test("every message type has a row", () => {
  const rows = new Set(TABLE.map(([, m]) => m.type));
  for (const t of Object.keys(EVERY_TYPE)) assert.ok(rows.has(t as ClientMessage["type"]), t);
});

test.run();
