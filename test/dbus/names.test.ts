// The pure parts of the D-Bus boundary: every problem code has a valid D-Bus error name, the
// reason and --bus checks accept what they should and refuse the rest.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { errorName, checkReason, toDBusError, MAX_REASON_BYTES } from "../../src/dbus/supervisor1.js";
import { checkBusOption } from "../../src/dbus/service.js";
import { FoyerError, type ProblemCode } from "../../src/base/errors.js";
import type { Logger } from "../../src/base/log.js";

const CODES: ProblemCode[] = [
  "invalid-argument",
  "invalid-profile",
  "invalid-ask-file",
  "not-found",
  "access-denied",
  "timeout",
  "spawn-failed",
  "display-failed",
  "protocol-error",
  "busy",
  "unsupported",
  "internal",
];
const lines: string[] = [];
const log: Logger = {
  error: (m, meta) => lines.push(`error ${m} ${JSON.stringify(meta)}`),
  warning: (m) => lines.push(`warning ${m}`),
  notice: (m) => lines.push(`notice ${m}`),
  info: (m, meta) => lines.push(`info ${m} ${JSON.stringify(meta)}`),
  debug: () => {},
  child: () => log,
};

test("every problem code maps to a distinct, valid D-Bus error name", () => {
  const names = CODES.map(errorName);
  assert.is(new Set(names).size, CODES.length);
  for (const n of names) {
    // the spec: 2+ dot-separated elements of [A-Za-z0-9_], not starting with a digit, ≤ 255 bytes
    assert.ok(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(n) && n.length <= 255, n);
  }
  assert.is(errorName("invalid-argument"), "org.freedesktop.DBus.Error.InvalidArgs");
  assert.is(errorName("unsupported"), "org.foyer.Supervisor1.Error.Unsupported");
});

test("toDBusError: a FoyerError keeps its message; anything else becomes Internal without its stack", () => {
  const a = toDBusError(new FoyerError("busy", "the greeter is restarting"), log, "RestartGreeter");
  assert.is(a.type, "org.foyer.Supervisor1.Error.Busy");
  assert.is(a.text, "the greeter is restarting");
  const b = toDBusError(new TypeError("x is undefined"), log, "Status");
  assert.is(b.type, "org.foyer.Supervisor1.Error.Internal");
  assert.not.match(b.text, "x is undefined");
  assert.not.match(b.text, /at .*:\d+/);
  // the stack stays in our log
  assert.ok(lines.some((l) => l.startsWith("error Status failed") && l.includes("TypeError")));
});

test("checkReason: 1..1024 bytes of printable UTF-8", () => {
  checkReason("x");
  checkReason("y".repeat(MAX_REASON_BYTES));
  checkReason("Dateisystemprüfung fehlgeschlagen");
  for (const bad of ["", "z".repeat(MAX_REASON_BYTES + 1), "ü".repeat(513), "a\nb", "tab\there", "nul\u0000", "del\u007f"]) {
    assert.throws(
      () => checkReason(bad),
      (e: unknown) => e instanceof FoyerError && e.code === "invalid-argument",
      JSON.stringify(bad.slice(0, 20)),
    );
  }
});

test("checkBusOption", () => {
  for (const ok of [
    "system",
    "unix:path=/run/dbus/system_bus_socket",
    "unix:path=/tmp/b,guid=0123abcd",
    "unix:abstract=/tmp/dbus-x",
    "tcp:host=127.0.0.1,port=5555",
  ])
    assert.is(checkBusOption(ok, false), undefined, ok);
  assert.is(checkBusOption("none", true), undefined);
  for (const bad of ["none", "", "session", "unix:", "unix:path=", "/run/dbus/system_bus_socket", "tcp:host=x", "unix:path=/a;unix:path=/b"])
    assert.type(checkBusOption(bad, false), "string", bad);
});

test.run();
