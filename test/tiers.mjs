// Which tier each suite (test/**/*.test.ts) belongs to; test/run.mjs runs them tier by tier, and
// test/unit/tiers.test.ts holds the rule.
//   fast       the suites listed in FAST: pure code, or code against files, pipes and sockets of
//              their own in a temp folder, and short-lived commands (sh, bash -n, tsc, eslint).
//              No root, no daemon, display, browser, bus or systemd of their own, no private
//              mount or network namespace. test/run.mjs runs them as nobody, in one node process
//              (test/fast.mjs) per job: a suite that needs root fails there, it is never skipped.
//   component  every other suite outside robust/ and vm/: real components (cage, Xvfb, chromium,
//              dbus-daemon, systemd-nspawn, cryptsetup, a real foyerd), root, a private mount and
//              PID namespace each.
//   robust     test/robust/: the reliability checks (fuzzers, kills, kiosk escapes).
//   vm         test/vm/: real boots under QEMU, always one at a time.
import { readdirSync, statSync } from "node:fs";
import { join, relative, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const top = join(dirname(fileURLToPath(import.meta.url)), "..");
export const TIERS = ["fast", "component", "robust", "vm"];

// paths under test/; a suite moves here only once it passes as nobody without any of the above
export const FAST = [
  "agents/ask-file.test.ts",
  "agents/firstboot-validate.test.ts",
  "agents/plymouth-protocol.test.ts",
  "base/command.test.ts",
  "base/controls.test.ts",
  "base/secret.test.ts",
  "dbus/names.test.ts",
  "display/drm-device.test.ts",
  "display/frame-render.test.ts",
  "display/handoff.test.ts",
  "display/input-devices.test.ts",
  "display/keyboard.test.ts",
  "display/kiosk-policy.test.ts",
  "display/locale.test.ts",
  "display/scale.test.ts",
  "display/splash-files.test.ts",
  "display/stacks.test.ts",
  "greeter/password-rate.test.ts",
  "greeter/pty-frames.test.ts",
  "launch/boot-failures.test.ts",
  "launch/direct.test.ts",
  "launch/notify.test.ts",
  "launch/payload.test.ts",
  "launch/systemd-logic.test.ts",
  "profile/cmdline-lang.test.ts",
  "profile/cmdline.test.ts",
  "protocol/classify.test.ts",
  "protocol/firstboot.test.ts",
  "protocol/greeter-settings.test.ts",
  "protocol/greeter.test.ts",
  "state/boot-log.test.ts",
  "supervisor/greeter-settings.test.ts",
  "supervisor/machine.test.ts",
  "supervisor/recovery.test.ts",
  "supervisor/requests.test.ts",
  "supervisor/router.test.ts",
  "supervisor/snapshot.test.ts",
  "ui/connection.test.ts",
  "ui/i18n.test.ts",
  "ui/kiosk-keys.test.ts",
  "unit/format.test.ts",
  "unit/mem-report.test.ts",
  "unit/imports.test.ts",
  "unit/lint.test.ts",
  "unit/loud-hooks.test.ts",
  "unit/packaging.test.ts",
  "unit/random.test.ts",
  "unit/tiers.test.ts",
  "unit/typecheck.test.ts",
];

// component suites that may run beside each other (--jobs): each serves its sockets in a network
// namespace of its own (test/helpers/netns.ts; Plymouth's abstract name), binds no fixed port,
// and keeps its files in temp folders and its mount and PID namespace; the others share fixed
// debug ports (profiles' greeter.debugPort), the kernel keyring, systemd-nspawn machines or the
// CPU their timings were measured with, and run alone
export const PARALLEL = ["agents/plymouth-foyerd.test.ts", "agents/plymouth-server.test.ts", "security/plymouth-peer.test.ts", "security/socket-squat.test.ts"];

// cheap suites first inside a tier, so a broken parser fails in seconds
const ORDER = ["unit", "base", "profile", "protocol", "display", "agents", "supervisor", "security", "integration", "dbus"];

/** The tier of a suite, from its path under test/. */
export function tierOf(rel) {
  if (rel.startsWith("vm/")) return "vm";
  if (rel.startsWith("robust/")) return "robust";
  return FAST.includes(rel) ? "fast" : "component";
}

/** Every suite under test/, as paths under test/, in the order they run. */
export function findSuites(dir = join(top, "test")) {
  const out = [];
  const walk = (d) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (e.endsWith(".test.ts")) out.push(relative(dir, p));
    }
  };
  walk(dir);
  const rank = (rel) => {
    const i = ORDER.indexOf(rel.split("/")[0]);
    return TIERS.indexOf(tierOf(rel)) * 100 + (i < 0 ? ORDER.indexOf("dbus") : i); // launch, greeter, state, ui… beside dbus
  };
  return out.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}
