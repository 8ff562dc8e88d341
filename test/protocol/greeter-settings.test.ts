import { test } from "uvu";
import * as assert from "uvu/assert";
import { ClientMessage, StateMessage } from "../../src/protocol/greeter.js";

const base = { type: "state", flow: "unlock", phase: "running", prompts: [], keyboard: { layout: "us", variant: "" }, notice: "" };

test("a state without locale or appearance (an older daemon) still parses; locale defaults to C.UTF-8", () => {
  const s = StateMessage.parse(base);
  assert.is(s.locale, "C.UTF-8");
  assert.is(s.appearance, undefined);
});

test("locale and theme names are restricted: no paths, no markup", () => {
  assert.not.ok(StateMessage.safeParse({ ...base, locale: "../../etc/passwd" }).success);
  const appearance = { theme: "../x", highContrast: false, largeText: false, reducedMotion: false, osk: false };
  assert.not.ok(StateMessage.safeParse({ ...base, appearance }).success);
  assert.ok(StateMessage.safeParse({ ...base, appearance: { ...appearance, theme: "daylight" } }).success);
});

test("settings messages are strict: unknown keys and wrong types are refused", () => {
  assert.ok(ClientMessage.safeParse({ type: "appearance_set", highContrast: true }).success);
  assert.ok(ClientMessage.safeParse({ type: "appearance_set", locale: "ar_EG.UTF-8" }).success);
  assert.not.ok(ClientMessage.safeParse({ type: "appearance_set", theme: "daylight" }).success);
  assert.not.ok(ClientMessage.safeParse({ type: "appearance_set", locale: "$(reboot)" }).success);
  assert.not.ok(ClientMessage.safeParse({ type: "keyboard_set", layout: "de" }).success);
  assert.ok(ClientMessage.safeParse({ type: "keyboard_set", layout: "de", variant: "" }).success);
  assert.not.ok(ClientMessage.safeParse({ type: "keyboard_layouts", all: true }).success);
});

test.run();
