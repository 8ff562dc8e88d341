import { test } from "uvu";
import * as assert from "uvu/assert";
import { isBrowserShortcut } from "../../src/ui/kiosk-keys.js";

const k = (key: string, m: { ctrl?: boolean; alt?: boolean; shift?: boolean } = {}) => ({
  key,
  ctrlKey: !!m.ctrl,
  altKey: !!m.alt,
  shiftKey: !!m.shift,
  metaKey: false,
});

test("the browser's page-cancellable shortcuts are recognised", () => {
  for (const e of [
    k("h", { ctrl: true }),
    k("u", { ctrl: true }),
    k("J", { ctrl: true, shift: true }),
    k("I", { ctrl: true, shift: true }),
    k("F12"),
    k("F1"),
    k("ArrowLeft", { alt: true }),
    k("f", { alt: true }),
    k("Delete", { ctrl: true, shift: true }),
    k("ContextMenu"),
    k("BrowserBack"),
  ]) {
    assert.ok(isBrowserShortcut(e), JSON.stringify(e));
  }
});

test("typing and editing keys stay with the page", () => {
  for (const e of [
    k("a"),
    k("A", { shift: true }),
    k("a", { ctrl: true }),
    k("c", { ctrl: true }),
    k("v", { ctrl: true }),
    k("x", { ctrl: true }),
    k("z", { ctrl: true }),
    k("Enter"),
    k("Tab"),
    k("Escape"),
    k("ArrowLeft"),
    k("Backspace"),
    k("@", { ctrl: true, alt: true }),
  ]) {
    assert.not.ok(isBrowserShortcut(e), JSON.stringify(e));
  }
});

test.run();
