// foyer in a network namespace whose loopback is down, as in an initramfs without systemd: a
// browser cannot reach 127.0.0.1 there. ensureLoopback must see it, bring `lo` up with the real
// `ip`, and say so; when `lo` cannot be brought up it must say that, clearly. Each case runs in a
// fresh `unshare --net` (its lo starts down).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { requireTool } from "../helpers/index.js";

const top = join(import.meta.dirname, "../..");
const probe = (ip: string[]) => `
import { createServer } from "node:net";
import { ensureLoopback } from "${join(top, "src/greeter/loopback.ts")}";
const lines = [];
const log = { notice: (m, f) => lines.push("notice " + m + " " + JSON.stringify(f)), error: (m, f) => lines.push("error " + m + " " + JSON.stringify(f)) };
const srv = createServer((c) => c.end()).listen(0, "127.0.0.1", async () => {
  const ok = await ensureLoopback(srv.address().port, log, ${JSON.stringify(ip)});
  console.log(JSON.stringify({ ok, lines }));
  srv.close();
});`;

/** The probe in a new network namespace, whose lo starts down (or is brought up first, `loUp`). */
function inFreshNetns(ip: string[], loUp = false): { ok: boolean; lines: string[] } {
  const node = [process.execPath, "--import", "tsx", "--input-type=module", "-e", probe(ip)];
  const r = spawnSync("unshare", ["--net", "--", ...(loUp ? ["sh", "-c", 'ip link set lo up && exec "$@"', "sh"] : []), ...node], {
    encoding: "utf8",
    cwd: top,
  });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

test.before(() => {
  requireTool("ip", "iproute2");
  requireTool("unshare", "util-linux");
});

test("lo down: foyer brings it up and says it did", () => {
  const r = inFreshNetns(["ip", "link", "set", "lo", "up"]);
  assert.ok(r.ok, JSON.stringify(r));
  assert.is(r.lines.length, 1);
  assert.match(r.lines[0]!, /^notice the loopback interface was down: brought it up .*"was":"(ENETUNREACH|ECONNREFUSED|EADDRNOTAVAIL)"/);
});

test("lo down and no way to bring it up: a clear error naming the cause", () => {
  const r = inFreshNetns(["ip", "link", "set", "no-such-interface", "up"]);
  assert.not.ok(r.ok);
  assert.match(
    r.lines[0]!,
    /^error the greeter cannot reach foyer on 127\.0\.0\.1: the loopback interface is down and could not be brought up .*"ip":".*no-such-interface/i,
  );
});

test("lo up: nothing to do, nothing said", () => {
  assert.equal(inFreshNetns(["false"], true), { ok: true, lines: [] });
});

test.run();
