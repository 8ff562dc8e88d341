// Whether systemd is the init here, and whether a launch mode wants it: cheap checks that decide
// whether the systemd launcher (and dbus-next under it) is loaded at all.
import { existsSync } from "node:fs";

/** sd_booted()'s test. */
export function systemdIsPid1(): boolean {
  return existsSync("/run/systemd/system");
}

/** `systemd` always tries systemd; `auto` only where systemd is the init; `direct` never. */
export function wantsSystemd(mode: "direct" | "systemd" | "auto", pid1 = systemdIsPid1()): boolean {
  return mode === "systemd" || (mode === "auto" && pid1);
}
