// Reliability check 13's power cuts: `foyerd flush` in a real kernel, its power cut at a random
// instant. A SIGKILL (test/state/flush-kill) leaves the page cache behind, so it cannot tell a flush
// that makes its data durable from one that only renames; a power cut can. Each round boots the
// appliance's kernel and initramfs (its node and foyer's bundle) with a small PID 1 of this test's
// own (`rdinit=`), which mounts two disks — the versions of a tree (ext4, read-only) and the target
// (ext4, written through) — copies one version into a tmpfs, as foyer's state lives, and flushes it
// onto the target. The test kills QEMU at a random instant of the flush: what the guest's page
// cache held is lost, what reached the virtual disk stays. Or, when the flush ends first, the guest
// powers off at once without a sync (sysrq o): a finished flush must have put everything on disk.
// The target is mounted here after each round (its journal replayed, as a reboot would): every
// file must be its version before the round or the flushed one, byte for byte — never torn, never
// empty — and after a finished flush exactly the flushed one, with no temp left. Half the rounds
// have coreutils' `sync` (flush.ts' one syncfs), half not (its fsync of each temp).
//   FOYER_POWERCUT_ROUNDS=12 node test/run.mjs test/vm/powercut
import { test } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, copyFileSync, rmSync, readdirSync, lstatSync, existsSync } from "node:fs";
import { join, relative } from "node:path";
import { tmpdir } from "node:os";
import { createHash, randomBytes, randomInt } from "node:crypto";
import { execFileSync } from "node:child_process";
import { requireTool, pollUntil } from "../helpers/index.js";
import { buildAppliance, sh, withExtraCpio, type Appliance } from "./appliance.js";
import { Vm } from "./qemu.js";
import { TEMP_PREFIX } from "../../src/state/flush.js";

const say = (s: string) => process.stdout.write(`• ${s}\n`);
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
type Tree = Map<string, string>; // relative path → sha256

let appliance: Appliance;
let work = "";
let initrd = "";
const versions: Record<"v1" | "v2", Tree> = { v1: new Map(), v2: new Map() };
let srcImage = "",
  dstImage = "";

/** PID 1 of a round: mount, copy the version into a tmpfs, flush, power off without a sync. */
const PID1 = `#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
off() { echo "FOYER-PC-$1"; echo o > /proc/sysrq-trigger; sleep 60; }
for m in virtio_pci virtio_blk ext4; do modprobe $m; done
src= dst= i=0
while [ -z "$src" ] || [ -z "$dst" ]; do
  for b in /sys/block/vd*; do
    case "$(cat "$b/serial" 2>/dev/null)" in
      foyer-pc-src) src=/dev/\${b##*/} ;;
      foyer-pc-dst) dst=/dev/\${b##*/} ;;
    esac
  done
  i=$((i + 1)); [ $i -gt 600 ] && off "ERROR no disks"
  sleep 0.1
done
mkdir -p /pc/src /pc/dst /pc/state
mount -o ro "$src" /pc/src || off "ERROR mount $src"
mount "$dst" /pc/dst || off "ERROR mount $dst"
mount -t tmpfs -o size=256m foyer-state /pc/state
for a in $(cat /proc/cmdline); do case $a in foyer.pc.from=*) from=\${a#*=} ;; foyer.pc.sync=1) PATH=/pc-bin:$PATH ;; esac; done
cp -a "/pc/src/$from" /pc/state/tree || off "ERROR copy"
echo "FOYER-PC-FLUSH-START sync=$(command -v sync || echo none)"
FOYER_MAIN=foyerd node /usr/lib/foyer/foyerd.mjs flush --from /pc/state/tree --to /pc/dst/tree
off "FLUSH-DONE rc=$?"
`;

/** Two versions of one tree: changed, unchanged and new files, two whole new folders, a few MB-sized files. */
function makeVersions(root: string): void {
  for (const v of ["v1", "v2"] as const) mkdirSync(join(root, v), { recursive: true });
  for (let i = 0; i < 800; i++) {
    const fresh = i % 50 < 2; // n0/, n1/: folders v1 does not have
    const rel = fresh ? join(`n${i % 2}`, `f${i}`) : join(`d${i % 12}`, `f${i}`);
    const size = i % 97 === 0 ? 1_000_000 + randomInt(1_000_000) : randomInt(1, 30_000);
    const v2 = randomBytes(size);
    // a third unchanged, a tenth new in v2, the rest changed
    const v1 = fresh || i % 10 === 0 ? null : i % 3 === 0 ? v2 : randomBytes(randomInt(1, 30_000));
    for (const [v, data] of [
      ["v1", v1],
      ["v2", v2],
    ] as const) {
      if (!data) continue;
      mkdirSync(join(root, v, rel, ".."), { recursive: true });
      writeFileSync(join(root, v, rel), data);
      versions[v].set(rel, sha(data));
    }
  }
}

/** An ext4 image of `dir`'s contents. */
function ext4(dir: string, file: string, mb: number): void {
  sh("truncate", ["-s", `${mb}M`, file]);
  sh("mkfs.ext4", ["-q", "-F", "-d", dir, file]);
}

/** The target's tree as the next boot would find it: mounted (the journal replayed), read, unmounted. */
function readTarget(): { files: Tree; temps: string[] } {
  const mnt = mkdtempSync(join(work, "mnt-"));
  execFileSync("mount", ["-o", "loop", dstImage, mnt]);
  try {
    const files: Tree = new Map(),
      temps: string[] = [];
    const walk = (d: string) => {
      for (const n of readdirSync(d)) {
        const p = join(d, n),
          rel = relative(join(mnt, "tree"), p);
        if (n.startsWith(TEMP_PREFIX)) temps.push(rel);
        else if (lstatSync(p).isDirectory()) walk(p);
        else files.set(rel, sha(readFileSync(p)));
      }
    };
    if (existsSync(join(mnt, "tree"))) walk(join(mnt, "tree"));
    return { files, temps };
  } finally {
    execFileSync("umount", [mnt]);
    rmSync(mnt, { recursive: true });
  }
}

test.before(() => {
  for (const [t, p] of [
    ["qemu-system-x86_64", "qemu-system-x86"],
    ["mkfs.ext4", "e2fsprogs"],
    ["cpio", "cpio"],
    ["sync", "coreutils"],
  ] as const)
    requireTool(t, p);
  appliance = buildAppliance(say);
  work = mkdtempSync(join(tmpdir(), "foyer-powercut-"));
  // the appliance's initramfs with this test's PID 1 and coreutils' sync appended as a second archive
  const extra = join(work, "extra");
  mkdirSync(join(extra, "pc-bin"), { recursive: true });
  writeFileSync(join(extra, "foyer-powercut"), PID1, { mode: 0o755 });
  copyFileSync(execFileSync("sh", ["-c", "command -v sync"], { encoding: "utf8" }).trim(), join(extra, "pc-bin/sync"));
  initrd = join(work, "initrd.img");
  withExtraCpio(appliance.initrd, extra, initrd);
  // the versions, read-only; the target starts as v1
  const src = join(work, "src");
  makeVersions(src);
  srcImage = join(work, "src.img");
  ext4(src, srcImage, 64);
  const dst = join(work, "dst");
  mkdirSync(dst);
  sh("cp", ["-a", join(src, "v1"), join(dst, "tree")]);
  dstImage = join(work, "dst.img");
  ext4(dst, dstImage, 96);
  rmSync(dst, { recursive: true });
  rmSync(src, { recursive: true });
});

test.after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/**
 * One boot: flush `from` onto the target; cut the power `cutMs` after the flush's first write to
 * it, unless the flush ends first. `ioMs`: from that first write to the cut or the end.
 */
async function round(from: "v1" | "v2", withSync: boolean, cutMs: number | null): Promise<{ cut: boolean; ioMs: number }> {
  const vm = new Vm(appliance, {
    initrd,
    append: `rdinit=/foyer-powercut foyer.pc.from=${from} foyer.pc.sync=${withSync ? 1 : 0}`,
    memMb: 1024,
    disks: [
      { file: srcImage, serial: "foyer-pc-src", readonly: true },
      { file: dstImage, serial: "foyer-pc-dst" },
    ],
  });
  try {
    await vm.attach();
    const start = (await vm.waitSerial(/FOYER-PC-FLUSH-START sync=\S+\r?\n/, 300_000, "the flush starting"))[0].trim();
    assert.ok(withSync ? !start.endsWith("=none") : start.endsWith("=none"), `${start}: the round wanted ${withSync ? "" : "no "}sync`);
    // the flush's own time starts at its first write to the target (node's start before it is
    // seconds under TCG): QEMU counts the writes the guest sends to each disk
    const writes = async () => {
      const stats = (await vm.qmp("query-blockstats")) as { qdev?: string; device?: string; stats: { wr_operations: number } }[];
      return stats.reduce((n, d) => n + (d.device === "disk1" || d.qdev?.includes("disk1") ? d.stats.wr_operations : 0), 0);
    };
    const ended = () => /FOYER-PC-FLUSH-DONE|FOYER-PC-ERROR/.test(vm.serial);
    const base = await writes();
    while (!ended() && (await writes()) === base) await new Promise((r) => setTimeout(r, 10));
    const t0 = performance.now();
    if (cutMs !== null) await pollUntil(() => ended() || performance.now() - t0 >= cutMs, cutMs + 1000, "the cut").catch(() => {});
    if (cutMs !== null && !ended()) {
      vm.proc.kill("SIGKILL"); // the power cut: the guest's page cache is gone, the disk keeps what reached it
      await new Promise((r) => vm.proc.once("exit", r));
      return { cut: true, ioMs: performance.now() - t0 };
    }
    const [done] = await vm.waitSerial(/FOYER-PC-(FLUSH-DONE rc=\d+|ERROR.*)/, 300_000, "the flush's end");
    assert.is(done, "FOYER-PC-FLUSH-DONE rc=0", vm.tail());
    const ioMs = performance.now() - t0;
    await pollUntil(() => vm.proc.exitCode !== null || vm.proc.signalCode !== null, 60_000, "the guest's power-off");
    return { cut: false, ioMs };
  } finally {
    await vm.stop("powercut");
  }
}

test("power cuts at random instants of a flush: every file its old or its new version, a finished flush all on disk", async () => {
  const n = Math.max(4, Number(process.env.FOYER_POWERCUT_ROUNDS ?? 4));
  // Each round flushes the version the target is not: after a cut the next round resumes the same
  // flush, after a finished one it goes back. A cut falls anywhere in the writing, as long as a
  // finished flush of the same kind took (syncfs or fsync per temp: the writes come at other times);
  // a kind's first round and every third in a row finish, so the target keeps moving.
  const ioMs: Record<string, number> = {};
  let current: "v1" | "v2" = "v1";
  let cutsInRow = 0,
    cuts = 0,
    finished = 0,
    midRename = 0;
  for (let r = 0; r < n; r++) {
    const from: "v1" | "v2" = current === "v1" ? "v2" : "v1";
    const kind = r % 2 === 0 ? "syncfs" : "fsync per temp";
    // every other cut falls in the last 40% of the writing, where the renames are (they take tens of ms)
    const io = ioMs[kind] ?? 0;
    const cutMs =
      ioMs[kind] === undefined || cutsInRow === 2
        ? null
        : cuts % 2 === 0
          ? randomInt(0, Math.max(1, Math.round(io)))
          : randomInt(Math.round(io * 0.6), Math.round(io * 1.05) + 1);
    const before = readTarget();
    const res = await round(from, kind === "syncfs", cutMs);
    const after = readTarget();
    const want = versions[from];
    const bad: string[] = [];
    for (const rel of new Set([...before.files.keys(), ...want.keys(), ...after.files.keys()])) {
      const got = after.files.get(rel),
        old = before.files.get(rel),
        nu = want.get(rel);
      // a file the flushed version lacks is left as it was
      const allowed = res.cut ? [old, nu ?? old] : [nu ?? old];
      if (!allowed.includes(got))
        bad.push(`${rel}: ${got?.slice(0, 8) ?? "absent"} (before ${old?.slice(0, 8) ?? "absent"}, flushed ${nu?.slice(0, 8) ?? "-"})`);
    }
    assert.equal(
      bad,
      [],
      `round ${r + 1} (${res.cut ? `cut at ${cutMs} ms` : "finished"}): ${bad.length} files neither old nor new:\n${bad.slice(0, 10).join("\n")}`,
    );
    if (!res.cut) assert.equal(after.temps, [], `temps left by a finished flush: ${after.temps.join(" ")}`);
    const changed = [...after.files].filter(([rel, h]) => before.files.get(rel) !== h).length;
    say(
      `round ${r + 1}: ${from} onto the target, ${kind}, ${res.cut ? `power cut ${cutMs} ms after its first write` : `finished ${(res.ioMs / 1000).toFixed(2)} s after its first write, then power off without a sync`}: ${changed} files changed, ${after.temps.length} temps left, none torn`,
    );
    // a cut after the last rename leaves the flushed version whole: the next round goes back
    if ([...want].every(([rel, h]) => after.files.get(rel) === h)) current = from;
    if (res.cut) {
      cuts++;
      cutsInRow++;
      if (changed > 0 && after.temps.length > 0) midRename++;
    } else {
      finished++;
      cutsInRow = 0;
      current = from;
      if (changed > 0) ioMs[kind] = res.ioMs;
    }
  }
  say(`${cuts} power cuts (${midRename} in the middle of the renames), ${finished} finished flushes powered off at once: no file torn, none lost`);
  assert.ok(cuts >= 1 && finished >= 1, `${cuts} cuts and ${finished} finished flushes: both kinds must happen`);
});

test.run();
