// Automatic recovery where systemd runs, against a real systemd 252 as PID 1 (systemd-nspawn,
// test/helpers/nspawn.ts). foyerd runs inside the container as foyer.service would (a unit on
// the container's system bus, with the shipped bus policy); the test asks it with foyerctl from
// outside. A failing file system check is a stand-in systemd-fsck@.service (the real one needs
// a block device and udev, which a container has not) that fails as systemd-fsck does, with
// exit code 4; the shipped drop-ins apply to it by its name.
//   1. foyerd's own subscription: the failed fsck unit → recovery, the reason names the unit;
//      emergency.target started → the reason says so and names the failed unit before it;
//      the failed check's device (its ExecStart's last argument, %f as in systemd-fsck@.service)
//      is checked read-only (fsck -n) for the recovery screen: an ext4 image with real damage.
//   2. the packaged drop-ins alone (recovery.watchSystemd off): OnFailure= → foyer-recovery@ →
//      foyerctl recovery --unit → recovery naming the unit; emergency.service does the same;
//      without a foyerd the recovery unit still succeeds (foyerctl's exit 3 is accepted).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { writeFileSync, mkdirSync, copyFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { SystemdContainer } from "../helpers/nspawn.js";
import { top, pollUntil } from "../helpers/index.js";
import { foyerctl, POLICY } from "../dbus/bus.js";

const c = new SystemdContainer();
const FSCK_UNIT = "systemd-fsck@dev-foyer\\x2dtest.service";
const STAND_IN = `[Unit]
Description=File System Check on %f (foyer test stand-in)
DefaultDependencies=no

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'echo "$1: UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY." >&2; exit 4' systemd-fsck %f
`;

/** `plymouth`: serve Plymouth's protocol (emergency.service's own `plymouth quit` would stop foyerd) */
function profile(name: string, watch: boolean, plymouth: boolean, launch = "auto"): string {
  const p = join(c.dir, `${name}.json`);
  writeFileSync(
    p,
    JSON.stringify({
      schema: 1,
      display: { stack: "headless" },
      log: { kmsg: false },
      launch,
      recovery: { watchSystemd: watch },
      plymouth: { serve: plymouth ? "auto" : false },
    }),
  );
  return p;
}

const rt = () => join(c.dir, "rt");
// foyerd's log is in its state tmpfs, mounted inside the container: read it there
const foyerdLog = () => c.exec(["cat", join(rt(), "state", "log", "foyerd.log")]).stdout;

/** foyerd as foyer.service in the container (the name the emergency drop-in asks for), with this profile. */
async function startFoyerd(profilePath: string): Promise<void> {
  writeFileSync(join(c.dir, "foyerd.env"), `FOYER_PROFILE=${profilePath}\n`);
  const before = foyerdLog().split("owning org.foyer.Supervisor1").length;
  const r = c.exec(["systemctl", "start", "foyer.service"]);
  assert.equal(r.code, 0, r.stderr);
  await pollUntil(() => foyerdLog().split("owning org.foyer.Supervisor1").length > before, 60_000, "foyerd owning its name in the container");
}

async function stopFoyerd(): Promise<void> {
  c.exec(["systemctl", "stop", "foyer.service"]);
  c.exec(["systemctl", "reset-failed"]);
}

function status(): Record<string, unknown> {
  const r = foyerctl(c.busAddress, ["--json", "status"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

async function untilRecovery(pred: (reason: string) => boolean, what: string): Promise<string> {
  let reason = "";
  await pollUntil(
    () => {
      const s = status();
      reason = String(s.RecoveryReason ?? "");
      return s.Flow === "recovery" && pred(reason);
    },
    60_000,
    what,
  );
  return reason;
}

function failFsck(): void {
  const r = c.exec(["systemctl", "start", FSCK_UNIT]);
  assert.is.not(r.code, 0, "the stand-in fsck should fail");
}

test.before(async () => {
  await c.start();
  // the bus policy as shipped (only root owns the name and calls methods); dbus-daemon reloads it
  c.installPolicy(POLICY);
  c.installFoyerUnit(rt()); // without default dependencies, as in the initrd: emergency mode stops sysinit.target and all after it, the bus too
  writeFileSync(join(c.root, "run/systemd/system/systemd-fsck@.service"), STAND_IN);
  assert.equal(c.exec(["systemctl", "daemon-reload"]).code, 0);
});

test.after(async () => {
  await c.stop();
});

test("subscription: a failed systemd-fsck@ unit puts foyerd into recovery, the reason naming the unit", async () => {
  await startFoyerd(profile("watch", true, false));
  assert.equal(status().Flow, "unlock");
  failFsck();
  const reason = await untilRecovery((r) => r.includes(FSCK_UNIT), "recovery naming the fsck unit");
  assert.is(reason, `file system check failed: '${FSCK_UNIT}'`);
  await stopFoyerd();
});

test("subscription: a fsck unit that failed before foyerd started is found at start", async () => {
  failFsck(); // no foyerd running now
  // launch direct: the watch connects to systemd by itself, in the background
  await startFoyerd(profile("watch-direct", true, false, "direct"));
  const reason = await untilRecovery((r) => r.includes(FSCK_UNIT), "recovery for an earlier failure");
  assert.is(reason, `file system check failed: '${FSCK_UNIT}'`);
  await stopFoyerd();
});

test("drop-ins: OnFailure= → foyer-recovery@.service → foyerctl recovery --unit → recovery naming the unit", async () => {
  // the shipped files, into /etc/systemd/system as dracut puts them into the initrd's unit dir
  const etc = join(c.root, "etc/systemd/system");
  const pkg = join(top, "packaging/systemd/initrd");
  for (const f of [
    "foyer-recovery@.service",
    "systemd-fsck@.service.d/foyer-recovery.conf",
    "systemd-fsck-root.service.d/foyer-recovery.conf",
    "emergency.service.d/foyer-recovery.conf",
  ]) {
    mkdirSync(join(etc, f, ".."), { recursive: true });
    copyFileSync(join(pkg, f), join(etc, f));
  }
  // foyerctl from the checkout instead of /usr/lib/foyer (the only change to the shipped unit)
  mkdirSync(join(etc, "foyer-recovery@.service.d"), { recursive: true });
  writeFileSync(
    join(etc, "foyer-recovery@.service.d/checkout.conf"),
    `[Service]\nEnvironment=NODE_EXTRA_CA_CERTS=\nExecStart=\nExecStart=/bin/sh -c 'cd "$$0" && exec "$$@"' ${top} ${process.execPath} --import tsx src/cli/foyerctl.ts recovery --unit %i\n`,
  );
  assert.equal(c.exec(["systemctl", "daemon-reload"]).code, 0);
  assert.match(c.exec(["systemctl", "show", "-p", "OnFailure", FSCK_UNIT]).stdout, "foyer-recovery@");
  const since = foyerdLog().length;
  await startFoyerd(profile("nowatch", false, true));
  failFsck();
  const reason = await untilRecovery((r) => r.includes("fsck"), "recovery from the OnFailure drop-in");
  const units = c.exec(["systemctl", "list-units", "--all", "--no-legend", "--plain", "foyer-recovery@*"]).stdout;
  assert.match(units, "foyer-recovery@");
  // %i keeps the unit name's escapes (\x2d): the reason names the unit exactly
  assert.is(reason, `file system check failed: '${FSCK_UNIT}'`);
  assert.not.match(foyerdLog().slice(since), "systemd: file system check failed", "the subscription was off: the drop-in did it");
  await stopFoyerd();
});

test("drop-ins: without foyerd the recovery unit still succeeds (foyerctl's 'not running' is exit 3)", async () => {
  c.exec(["systemctl", "reset-failed"]);
  failFsck();
  const unit = `foyer-recovery@${FSCK_UNIT}.service`;
  let shown = "";
  await pollUntil(
    () => {
      shown = c.exec(["systemctl", "show", "-p", "Result,ActiveState,ExecMainStatus", unit]).stdout;
      return shown.includes("ExecMainStatus=3") && shown.includes("ActiveState=inactive");
    },
    60_000,
    "the recovery unit finishing with foyerctl's exit 3",
  );
  assert.match(shown, "Result=success");
});

test("subscription: the failed check's device is found from its unit and checked read-only for the screen", async () => {
  c.exec(["systemctl", "reset-failed"]);
  const img = join(c.dir, "broken.ext4");
  const tree = join(c.dir, "tree");
  mkdirSync(join(tree, "d"), { recursive: true });
  for (let i = 0; i < 20; i++) writeFileSync(join(tree, "d", `f${i}`), "x".repeat(5000));
  const sh = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: "utf8" });
  assert.is(sh("mkfs.ext4", ["-q", "-F", "-d", tree, img, "8M"]).status, 0);
  assert.is(sh("debugfs", ["-w", "-R", "clri /d/f7", img]).status, 0);
  assert.is.not(sh("fsck.ext4", ["-n", "-f", img]).status, 0, "the damaged image must fail fsck -n");
  const unit = `systemd-fsck@${sh("systemd-escape", ["--path", img]).stdout.trim()}.service`;
  const since = foyerdLog().length;
  await startFoyerd(profile("device", true, false));
  const r = c.exec(["systemctl", "start", unit]);
  assert.is.not(r.code, 0, "the stand-in fsck should fail");
  await untilRecovery((x) => x.includes(unit), "recovery naming the image's check");
  await pollUntil(() => foyerdLog().slice(since).includes(`fsck check of '${img}' exited 4`), 60_000, "foyerd's read-only check of the device");
  assert.match(foyerdLog().slice(since), `device=${img}`);
  // read-only: the damage is still there for the repair (behind the root password) to fix
  assert.is.not(sh("fsck.ext4", ["-n", "-f", img]).status, 0, "the check changed the image");
  await stopFoyerd();
});

test("emergency mode (which stops the system bus): foyerd's subscription enters recovery naming the failed unit; the drop-in keeps `plymouth quit` from ending foyerd", async () => {
  c.exec(["systemctl", "reset-failed"]);
  await startFoyerd(profile("last", true, true)); // serves Plymouth's protocol: a `plymouth quit` would stop it
  failFsck();
  await untilRecovery((r) => r.includes(FSCK_UNIT), "recovery for the fsck failure");
  assert.equal(c.exec(["systemctl", "start", "--no-block", "emergency.target"]).code, 0);
  const want = `recovery: boot stopped in emergency mode ('emergency.target') after '${FSCK_UNIT}' failed`;
  // the bus is going away with sysinit.target: foyerd's own log says what it showed
  await pollUntil(() => foyerdLog().includes(want), 60_000, "the emergency reason in foyerd's log");
  // its ExecStartPre (the drop-in's guard) has run once it started
  await pollUntil(() => c.exec(["journalctl", "-b", "--no-pager", "-q"]).stdout.includes("Started emergency.service"), 60_000, "emergency.service started");
  assert.equal(c.exec(["systemctl", "is-active", "foyer.service"]).stdout.trim(), "active");
  assert.not.match(foyerdLog(), "plymouth: quit", "foyerd was asked to quit");
});

test.run();
