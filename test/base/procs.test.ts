// /proc's processes as the sweeps read them: ours is there with its ids, running, with its memory;
// a child run as another user shows that user's uid.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawn } from "node:child_process";
import { processes, alive } from "../../src/base/procs.js";
import { lookupUser } from "../../src/display/users.js";
import { withTimeout } from "../../src/base/timeout.js";

test("this process: its pid, real and saved uid, alive, some resident memory", () => {
  const me = processes().find((p) => p.pid === process.pid);
  assert.ok(me, "listed");
  assert.is(me!.realUid, process.getuid!());
  assert.is(me!.savedUid, process.geteuid!());
  assert.ok(alive(me!));
  assert.ok(me!.rssKb > 0);
});

test("a child that runs as the greeter user has its uid; once reaped it is gone", async () => {
  const { uid, gid } = lookupUser("foyer-greeter");
  const c = spawn("sleep", ["60"], { uid, gid, stdio: "ignore" });
  const p = processes().find((x) => x.pid === c.pid);
  assert.equal(p && { realUid: p.realUid, savedUid: p.savedUid, alive: alive(p) }, { realUid: uid, savedUid: uid, alive: true });
  c.kill("SIGKILL");
  await withTimeout(new Promise((r) => c.on("exit", r)), 10_000, "the child's exit");
  assert.not.ok(processes().some((x) => x.pid === c.pid));
});

test.run();
