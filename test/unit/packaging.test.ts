// The shell scripts that ship must at least parse: a syntax error in the dracut module makes
// dracut drop foyer from the image without failing the build.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { top, shippedNodeFlags } from "../helpers/index.js";

for (const f of ["packaging/dracut/91foyer/module-setup.sh", "packaging/dev/setup.sh", ".ci/run"]) {
  test(`bash -n ${f}`, () => {
    const r = spawnSync("bash", ["-n", join(top, f)], { encoding: "utf8" });
    assert.is(r.status, 0, r.stderr);
  });
}

for (const unit of ["foyer-flush.service", "foyer-console.service", "foyer-firstboot.service"]) {
  test(`systemd-analyze verify packaging/systemd/root/${unit}`, () => {
    const r = spawnSync("systemd-analyze", ["verify", join(top, "packaging/systemd/root", unit)], { encoding: "utf8" });
    if (r.error) throw new Error("'systemd-analyze' is missing: install the Debian package 'systemd'");
    assert.is(r.status, 0, r.stderr);
    assert.is(r.stderr.trim(), "", r.stderr);
  });
}

// the console shows whatever node prints at boot: the flags foyer.service gives it must not
// make V8 warn (--jitless without --no-expose-wasm did: "disabling flag --expose_wasm due to
// conflicting flags")
test("node with foyer.service's flags runs the bundle without a word on stderr", () => {
  const r = spawnSync(process.execPath, [...shippedNodeFlags(), join(top, "dist/foyerd.mjs"), "print-profile", "--profile", "headless"], {
    encoding: "utf8",
    env: { ...process.env, FOYER_MAIN: "foyerd" },
  });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stderr, "");
  assert.match(r.stdout, /"stack": "headless"/);
});

// the bundle loads dist/sockets.node from its own folder, and foyerd without it refuses every
// Plymouth client (test/security/plymouth-peer runs an image's tree with and without it)
test("foyer_own_files puts the native addons beside the bundles and the bus policy in place, and names only files that exist", () => {
  const r = spawnSync("bash", ["-c", '. packaging/foyer-image.sh && foyer_own_files "$1"', "bash", top], { cwd: top, encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout
    .trim()
    .split("\n")
    .map((l) => l.split(" ") as [string, string]);
  assert.ok(
    lines.some(([src, target]) => src === join(top, "dist/sockets.node") && target === "/usr/lib/foyer/sockets.node"),
    "dist/sockets.node is not in the image",
  );
  assert.ok(
    lines.some(([, target]) => target === "/usr/lib/foyer/foyerd.mjs"),
    "the walk sees the bundle",
  );
  // where the initrd has a bus, it must enforce who may call foyer's methods
  assert.ok(
    lines.some(
      ([src, target]) => src === join(top, "packaging/dbus/org.foyer.Supervisor1.conf") && target === "/usr/share/dbus-1/system.d/org.foyer.Supervisor1.conf",
    ),
    "the bus policy is not in the image",
  );
  // an unmatched glob comes out as itself, and the image builders skip what they cannot copy
  assert.equal(
    lines.filter(([src]) => !existsSync(src)).map(([src]) => src),
    [],
  );
});

test("the shell-init images' start (initramfs-tools, mkinitcpio's busybox hook) runs foyerd with foyer.service's node flags", () => {
  const script = readFileSync(join(top, "packaging/libexec/noinit.sh"), "utf8");
  const m = /\/usr\/bin\/node((?:\s+--\S+)*)\s+\/usr\/lib\/foyer\/foyerd\.mjs/.exec(script);
  assert.ok(m, "no node … foyerd.mjs line in packaging/libexec/noinit.sh");
  assert.equal(m[1]!.trim().split(/\s+/).filter(Boolean), shippedNodeFlags());
});

test.run();
