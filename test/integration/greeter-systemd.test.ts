// The greeter as a systemd unit, end to end, against a real systemd 252 as PID 1
// (systemd-nspawn, test/helpers/nspawn.ts): foyerd runs in the container as foyer.service with
// `launch: "systemd"` and the headless-wayland stack, so cage + chromium run as the transient unit
// foyer-greeter-PID-1.service and connect to foyerd. cage is killed from outside: foyerd hears the
// unit end (SIGKILL), its machine restarts the greeter as a new unit, which connects again.
// Stopping foyerd leaves no greeter unit behind. No unit property carries a token.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { SystemdContainer } from "../helpers/nspawn.js";
import { pollUntil, requireTool } from "../helpers/index.js";
import { foyerctl, POLICY } from "../dbus/bus.js";

requireTool("cage", "cage");
requireTool("chromium", "chromium");
// the container's /etc is empty: the greeter user, chromium's wrapper config and fonts come from the host
const c = new SystemdContainer({ binds: ["/etc/passwd", "/etc/group", "/etc/chromium.d", "/etc/fonts"] });
const rt = () => join(c.dir, "rt");
// foyerd's log is in its state tmpfs, mounted inside the container: read it there
const log = () => c.exec(["cat", join(rt(), "state", "log", "foyerd.log")]).stdout;
const count = (re: RegExp) => (log().match(new RegExp(re.source, "g")) ?? []).length;
const greeterUnits = () => c.units("foyer-greeter-*");

test.before(async () => {
  await c.start();
  c.installPolicy(POLICY);
  c.installFoyerUnit(rt());
  const profile = join(c.dir, "greeter.json");
  writeFileSync(
    profile,
    JSON.stringify({
      schema: 1,
      display: { stack: "headless-wayland", browser: "chromium", renderer: "pixman", rotate: 2 },
      log: { kmsg: false, level: "debug" },
      launch: "systemd",
      greeter: { readyTimeoutMs: 120_000 },
    }),
  );
  writeFileSync(join(c.dir, "foyerd.env"), `FOYER_PROFILE=${profile}\n`);
  const r = c.exec(["systemctl", "start", "foyer.service"]);
  assert.equal(r.code, 0, r.stderr);
});

test.after(async () => {
  await c.stop();
});

test("the greeter runs as a transient unit and connects", async () => {
  await pollUntil(() => log().includes("greeter interactive"), 120_000, "the greeter connecting");
  assert.match(log(), "launch backend systemd");
  const units = greeterUnits();
  assert.is(units.length, 1, JSON.stringify(units));
  assert.match(units[0]![0]!, /^foyer-greeter-\d+-1\.service$/);
  assert.equal(units[0]!.slice(1, 4), ["loaded", "active", "running"]);
  // a unit's properties are every user's to read (systemctl show): no token among them
  const props = c.exec(["systemctl", "show", units[0]![0]!]).stdout;
  assert.match(props, /ExecStart=.*chromium/);
  assert.not.match(props, /token/i, "a token in the greeter unit's properties");
  const boot = new URLSearchParams(new URL(c.exec(["cat", join(rt(), "greeter-url")]).stdout.trim()).hash.slice(1)).get("token")!;
  assert.not.ok(props.includes(boot), "the boot's token in the greeter unit's properties");
});

test("cage killed from outside: the unit's end is GreeterExited(SIGKILL), a new unit comes up and connects", async () => {
  const first = greeterUnits()[0]![0]!;
  const pid = c.exec(["systemctl", "show", "-p", "MainPID", "--value", first]).stdout.trim();
  assert.match(pid, /^[1-9]\d*$/);
  const again = count(/greeter interactive again/);
  assert.equal(c.exec(["kill", "-KILL", pid]).code, 0);
  await pollUntil(() => count(/greeter interactive again/) > again, 120_000, "the greeter connecting again");
  assert.match(log(), "greeter exited code=null signal=SIGKILL");
  const units = greeterUnits();
  assert.is(units.length, 1, JSON.stringify(units)); // the killed unit (and its chromium) is gone
  assert.match(units[0]![0]!, /^foyer-greeter-\d+-2\.service$/);
  const s = foyerctl(c.busAddress, ["--json", "status"]);
  assert.equal(s.code, 0, s.stderr);
  assert.is(JSON.parse(s.stdout).GreeterRestarts, 1);
  const respawn = /greeter respawn time ms=(\d+) restarts=1/.exec(log());
  console.log(`  greeter unit killed → new unit's greeter connected: ${respawn?.[1]} ms (foyerd's figure)`);
});

test("stopping foyerd stops its greeter unit: nothing is left", async () => {
  assert.equal(c.exec(["systemctl", "stop", "foyer.service"]).code, 0);
  await pollUntil(() => greeterUnits().length === 0, 30_000, "no greeter unit left").catch((e) => {
    throw new Error(
      `${e.message}: ${JSON.stringify(greeterUnits())}\n${log()
        .split("\n")
        .filter((l) => !l.includes("said:"))
        .slice(-15)
        .join("\n")}`,
    );
  });
});

test.run();
