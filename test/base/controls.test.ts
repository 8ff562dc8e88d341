// Text from outside on its way to a log: control characters escaped, valid UTF-8 kept as text.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { escapeControlsText } from "../../src/base/controls.js";

test("a string keeps its letters and loses its control characters", () => {
  assert.is(escapeControlsText("plain é ü 😀\ttab"), "plain é ü 😀\ttab");
  assert.is(escapeControlsText("a\x1b[2Jb\rc\x07d\x7fe\u009bf"), "a\\x1b[2Jb\\x0dc\\x07d\\x7fe\\xc2\\x9bf");
  // a JS string cannot hold bytes that are not UTF-8: a lone surrogate is U+FFFD, which is text
  assert.is(escapeControlsText("lone \ud800 surrogate"), "lone \ufffd surrogate");
});

test.run();
