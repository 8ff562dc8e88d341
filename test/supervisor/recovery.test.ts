// The recovery flow's reason: what failed stays on the screen when emergency mode, which follows
// it, is reported after it (systemd's OnFailure= then foyer-recovery@emergency.service).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Recovery, isStopReason } from "../../src/supervisor/recovery.js";
import { fsckReason, stopReason } from "../../src/launch/boot-failures.js";
import { parseProfile } from "../../src/profile/load.js";
import { collectingLogger } from "../helpers/index.js";

function recovery(lines: string[]): Recovery {
  const r = parseProfile(JSON.stringify({ schema: 1, display: { stack: "headless" } }));
  if (!r.ok) throw new Error(r.problems.join("; "));
  return new Recovery(
    r.profile,
    "/dev/null",
    collectingLogger(lines),
    () => {},
    () => {},
    () => {},
  );
}

test("boot-failures' stop reasons are what recovery takes for one; a failed check's is not", () => {
  assert.ok(isStopReason(stopReason("emergency.target", "systemd-fsck-root.service")));
  assert.ok(isStopReason(stopReason("rescue.target", undefined)));
  assert.not.ok(isStopReason(fsckReason("systemd-fsck-root.service")));
});

test("a failed check's reason stays when emergency mode is reported after it; the log says both", () => {
  const lines: string[] = [];
  const r = recovery(lines);
  r.start(fsckReason("systemd-fsck-root.service"));
  r.start(stopReason("emergency.service", undefined));
  assert.is(r.view.reason, "file system check failed: 'systemd-fsck-root.service'");
  assert.ok(
    lines.some((l) => l.includes("boot stopped in emergency mode ('emergency.service'); the screen keeps 'file system check failed")),
    lines.join("\n"),
  );
});

test("emergency mode first, the failed check after: the check's reason replaces it; a second check's too", () => {
  const r = recovery([]);
  r.start(stopReason("emergency.target", undefined));
  r.start(fsckReason("systemd-fsck-root.service"));
  assert.is(r.view.reason, "file system check failed: 'systemd-fsck-root.service'");
  r.start(fsckReason("systemd-fsck@dev-vdb.service"));
  assert.is(r.view.reason, "file system check failed: 'systemd-fsck@dev-vdb.service'");
});

test.run();
