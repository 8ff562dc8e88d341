// The flush after switch-root in a real boot: the unlock journey, then a real root that runs
// systemd with foyer-flush.service enabled as shipped. The initrd's foyer kept its logs and state
// on the tmpfs at /run/foyer/state; switch-root carries /run over; systemd in the real root runs
// the flush once /var is there. The root's report unit prints what was left: the boot's log under
// /var/log/foyer with the unlock in it and no passphrase, the manifest and the timeline under
// /var/lib/foyer, and the tmpfs gone.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { requireTool } from "../helpers/index.js";
import { buildAppliance, buildSystemdRoot, VM_PASSPHRASE, type Appliance } from "./appliance.js";
import { waitForPrompt } from "./qemu.js";
import { inVm } from "./journey.js";

const say = (s: string) => process.stdout.write(`• ${s}\n`);
let appliance: Appliance;

test.before(() => {
  for (const [t, p] of [
    ["qemu-system-x86_64", "qemu-system-x86"],
    ["cryptsetup", "cryptsetup-bin"],
    ["mkfs.ext4", "e2fsprogs"],
  ] as const)
    requireTool(t, p);
  const a = buildAppliance(say);
  appliance = { ...a, ...buildSystemdRoot(a, say) };
});

test("unlock, switch-root into a systemd root: foyer-flush.service keeps the boot's log and state in /var and frees the tmpfs", async () => {
  await inVm(appliance, { append: "rd.foyer.profile=vm" }, "flush", async (vm) => {
    await vm.waitSerial(/greeter interactive ms=\d+/, 480_000, "foyer's greeter interactive");
    await waitForPrompt(vm, 240_000);
    await vm.type(VM_PASSPHRASE, "de");
    const [line, flush, up] = await vm.waitSerial(/FOYER-SYSTEMD-ROOT flush=(\S+) uptime=([\d.]+)/, 300_000, "the systemd root's report");
    say(`${line.trim()} — whole journey ${vm.seconds.toFixed(0)} s`);
    await vm.waitSerial(/FOYER-REPORT-END/, 30_000, "the end of the report");
    const rest = vm.serial.slice(vm.serial.indexOf(line));
    for (const l of rest.split("\n").filter((x) => /^FOYER-(STATE|FLUSH-LOG|KEPT)/.test(x.trim()))) say(l.trim());
    assert.is(flush, "active", `foyer-flush.service is ${flush}; console:\n${vm.tail()}`);
    assert.ok(Number(up) > 0);
    assert.match(rest, /FOYER-STATE gone/, "the state tmpfs is still there after the flush");
    const [, lines, answered, secret] =
      /FOYER-FLUSH-LOG boot-[0-9a-f]{32}\.log lines=(\d+) answered=(\w+) secret=(\w+)/.exec(rest) ??
      (assert.unreachable(`no boot log in /var/log/foyer:\n${rest}`) as never);
    assert.ok(Number(lines) > 10, `the kept log has ${lines} lines`);
    assert.is(answered, "yes", "the unlock is not in the kept log");
    assert.is(secret, "absent", "the passphrase is in the kept log");
    assert.match(rest, /FOYER-KEPT \/var\/lib\/foyer\/flush-manifest\.json/);
    assert.match(rest, /FOYER-KEPT \/var\/lib\/foyer\/timeline\.json/);
    const [, t0, t1] = /FOYER-FLUSH-TIME (\d+) (\d+)/.exec(rest) ?? [];
    if (t0 && t1)
      say(
        `foyer-flush.service ran ${((Number(t1) - Number(t0)) / 1000).toFixed(0)} ms under systemd (TCG), ${(Number(t0) / 1e6).toFixed(1)} s after the kernel started`,
      );
  });
});

test.run();
