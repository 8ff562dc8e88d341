// Disks as people set them up (issue 25): a root and a /home on two LUKS2 volumes, both opened in
// the initrd (two rd.luks.uuid=). systemd-cryptsetup asks for both at once; foyer shows both
// requests, each labelled with its volume. With one passphrase for both, it is typed once: the
// other request accepts cached passphrases (AcceptCached=1) and gets it — from the kernel keyring,
// where systemd-cryptsetup put the first answer, or from foyer, which hands a typed passphrase to
// the requests pending with it. With two passphrases, both are asked and answered.
// On initramfs-tools, Debian's keyscript decrypt_keyctl asks once (through foyer's Plymouth socket)
// and opens the second volume from the kernel keyring.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { requireTool } from "../helpers/index.js";
import { buildAppliance, buildDataDisk, buildInitramfsTools, buildTokenRoot, VM_PASSPHRASE, VM_TPM_PIN, type Appliance } from "./appliance.js";
import { countColour, near, waitForPrompt, type Vm } from "./qemu.js";
import { afterUnlock, askedAgain, inVm, timesAsked, unlockToRoot } from "./journey.js";

const say = (s: string) => process.stdout.write(`• ${s}\n`);
let appliance: Appliance;
const HOME_OTHER = "home-only-42";
let same: { image: string; luksUuid: string };
let other: { image: string; luksUuid: string };
let tokens: ReturnType<typeof buildTokenRoot>;
const work = mkdtempSync(join(tmpdir(), "foyer-vm-disks-"));

test.before(() => {
  for (const [t, p] of [
    ["qemu-system-x86_64", "qemu-system-x86"],
    ["cryptsetup", "cryptsetup-bin"],
    ["mkfs.ext4", "e2fsprogs"],
    ["mkinitramfs", "initramfs-tools-core"],
    ["keyctl", "keyutils"],
  ] as const)
    requireTool(t, p);
  requireTool("/lib/cryptsetup/scripts/decrypt_keyctl", "cryptsetup-initramfs");
  appliance = buildAppliance(say);
  same = buildDataDisk("home-same", VM_PASSPHRASE, say);
  other = buildDataDisk("home-other", HOME_OTHER, say);
  requireTool("swtpm", "swtpm");
  requireTool("tpm2", "tpm2-tools"); // dracut's tpm2-tss module is left out without it
  tokens = buildTokenRoot(appliance, say);
});
test.after(() => rmSync(work, { recursive: true, force: true }));

/** The prompts' Unlock buttons down the column they sit in: runs of the accent colour ≥ 20 px tall. */
function unlockButtons(s: { width: number; height: number; rgb: Buffer }): number {
  const x = Math.round(s.width * 0.66); // in the button's padding, right of its label
  let n = 0,
    run = 0;
  for (let y = 0; y <= s.height; y++) {
    const hit = y < s.height && near(s.rgb, (y * s.width + x) * 3, [0x6e, 0xa8, 0xfe], 20);
    if (hit) run++;
    else {
      if (run >= 20) n++;
      run = 0;
    }
  }
  return n;
}

/** Boots with the root and `disk` as /home, both opened in the initrd; both requests on screen. */
async function bothAsked(vm: Vm, homeUuid: string, name: string): Promise<void> {
  await vm.waitSerial(new RegExp(`password request pending [^\\n]*${homeUuid}`), 480_000, "/home's request reaching foyer");
  await vm.waitSerial(new RegExp(`password request pending [^\\n]*${appliance.luksUuid}`), 120_000, "the root's request reaching foyer");
  const png = join(tmpdir(), `foyer-vm-${name}-two.png`);
  const shown = await waitForPrompt(vm, 240_000, png, (s) => unlockButtons(s) === 2);
  say(`both requests on one screen ${shown.toFixed(0)} s after qemu started (${png})`);
}

/** The first request foyer saw: the form that has the focus. */
function firstAsked(vm: Vm, uuids: string[]): string {
  const m = new RegExp(`password request pending [^\\n]*(${uuids.join("|")})`).exec(vm.serial);
  assert.ok(m, "no request named a volume");
  return m[1]!;
}

const typed = (vm: Vm) => (vm.serial.match(/password request answered file=/g) ?? []).length;

test("root and /home with one passphrase: both asked on one screen, typed once, both opened", async () => {
  const disk = join(work, "home-same.img");
  copyFileSync(same.image, disk);
  await inVm(appliance, { append: `rd.foyer.profile=vm rd.luks.uuid=${same.luksUuid}`, disks: [{ file: disk, serial: "home" }] }, "disks-same", async (vm) => {
    await bothAsked(vm, same.luksUuid, "disks-same");
    await vm.type(VM_PASSPHRASE, "de");
    const root = await afterUnlock(vm);
    const [mounted] = await vm.waitSerial(/FOYER-MOUNTED luks-\S+ \S+/, 30_000, "/home mounted by the real root");
    assert.is(mounted, `FOYER-MOUNTED luks-${same.luksUuid} disk-home-same`);
    assert.is(typed(vm), 1, "the passphrase was asked for twice");
    const how = /password request answered with the passphrase typed for another/.test(vm.serial)
      ? "foyer handed it to the other request"
      : "the other request found it in the keyring";
    say(`${root}; ${mounted}; typed once (${how})`);
  });
});

test("root and /home with two passphrases: both asked on one screen, each answered", async () => {
  const disk = join(work, "home-other.img");
  copyFileSync(other.image, disk);
  await inVm(
    appliance,
    { append: `rd.foyer.profile=vm rd.luks.uuid=${other.luksUuid}`, disks: [{ file: disk, serial: "home" }] },
    "disks-other",
    async (vm) => {
      await bothAsked(vm, other.luksUuid, "disks-other");
      const first = firstAsked(vm, [appliance.luksUuid, other.luksUuid]);
      const pass = (uuid: string) => (uuid === other.luksUuid ? HOME_OTHER : VM_PASSPHRASE);
      const second = first === other.luksUuid ? appliance.luksUuid : other.luksUuid;
      await vm.type(pass(first), "de");
      // the other volume was given the typed passphrase (keyring or foyer), which did not open it,
      // and systemd-cryptsetup asks again without AcceptCached: that request is shown
      await askedAgain(vm, new RegExp(`password request pending [^\\n]*${second}`), 1, "the second volume was not asked again");
      await waitForPrompt(vm, 120_000, join(tmpdir(), "foyer-vm-disks-other-second.png"), (s) => unlockButtons(s) === 1);
      await vm.type(pass(second), "de");
      const root = await afterUnlock(vm);
      const [mounted] = await vm.waitSerial(/FOYER-MOUNTED luks-\S+ \S+/, 30_000, "/home mounted by the real root");
      assert.is(mounted, `FOYER-MOUNTED luks-${other.luksUuid} disk-home-other`);
      assert.is(typed(vm), 2);
      assert.not.ok(vm.serial.includes(HOME_OTHER), "/home's passphrase appeared on the console");
      say(`${root}; ${mounted}; two passphrases typed, ${first === other.luksUuid ? "/home" : "the root"} first`);
    },
  );
});

test("initramfs-tools: root and /home through Debian's decrypt_keyctl, one passphrase asked once through foyer", async () => {
  const initrd = buildInitramfsTools(appliance, say, { keyctlWith: same.luksUuid });
  const disk = join(work, "home-keyctl.img");
  copyFileSync(same.image, disk);
  await inVm(appliance, { initrd, append: "rd.foyer.profile=vm", disks: [{ file: disk, serial: "home" }] }, "disks-keyctl", async (vm) => {
    await vm.waitSerial(/plymouth password request pending/, 480_000, "decrypt_keyctl's askpass reaching foyer");
    await waitForPrompt(vm, 240_000, join(tmpdir(), "foyer-vm-disks-keyctl.png"));
    await vm.type(VM_PASSPHRASE, "de");
    const root = await afterUnlock(vm);
    const [mounted] = await vm.waitSerial(/FOYER-MOUNTED luks-\S+ \S+/, 30_000, "/home mounted by the real root");
    assert.is(mounted, `FOYER-MOUNTED luks-${same.luksUuid} disk-home-same`);
    assert.is((vm.serial.match(/plymouth password request pending/g) ?? []).length, 1, "asked more than once");
    say(`${root}; ${mounted}; asked once, the second volume from decrypt_keyctl's keyring key`);
  });
});

const pending = /password request pending [^\n]*\n/g;

test("TPM2 with a PIN: asked as a PIN, a wrong PIN asked again, the right one opens the root", async () => {
  const append = `rd.foyer.profile=vm rd.luks.options=${tokens.luksUuid}=tpm2-device=auto`;
  await inVm({ ...appliance, rootImage: tokens.rootImage }, { append, tpm: tokens.tpmState }, "disks-tpm", async (vm) => {
    await vm.waitSerial(/password request pending [^\n]*kind=pin retries=0/, 480_000, "the TPM2 PIN request reaching foyer");
    const shown = await waitForPrompt(vm, 240_000, join(tmpdir(), "foyer-vm-tpm-pin.png"));
    say(`PIN prompt drawn ${shown.toFixed(0)} s after qemu started`);
    const before = timesAsked(vm, pending);
    await vm.type("13579", "de");
    await askedAgain(vm, pending, before, "no second request after a wrong PIN");
    // 252 asks without Id= ("LUKS2 token PIN", then "TPM2 PIN"): the same asker asking for a PIN again is the retry
    assert.match(vm.serial, /password request pending [^\n]*id= [^\n]*kind=pin retries=1/, "the second PIN request is not marked as a wrong PIN");
    // the PIN asked again, with "That PIN did not work" in the theme's danger colour
    await waitForPrompt(vm, 120_000, join(tmpdir(), "foyer-vm-tpm-wrong.png"), (s) => countColour(s, [0xff, 0x8c, 0x8c], 30) > 40);
    await vm.type(VM_TPM_PIN, "de");
    const root = await afterUnlock(vm);
    assert.not.ok(vm.serial.includes(VM_TPM_PIN), "the PIN appeared on the console");
    // the PIN is asked within a second of foyerd's start: systemd's console agent must not ask too
    assert.not.match(vm.serial, /press TAB for no echo/, "systemd's console agent asked as well");
    say(`${root}; the PIN asked twice`);
  });
});

test("neither the TPM nor the keyfile's USB stick: the passphrase is asked; with the stick, nothing is", async () => {
  const withTokens = { ...appliance, rootImage: tokens.rootImage };
  const key = `rd.luks.key=${tokens.luksUuid}=/foyer.key:UUID=${tokens.stickUuid}`;
  const append = `rd.foyer.profile=vm ${key} rd.luks.options=${tokens.luksUuid}=tpm2-device=auto,keyfile-timeout=10s`;
  await inVm(withTokens, { append }, "disks-fallback", async (vm) => {
    await vm.waitSerial(/password request pending [^\n]*kind=passphrase/, 480_000, "the passphrase request without the TPM and the stick");
    await waitForPrompt(vm, 240_000, join(tmpdir(), "foyer-vm-fallback.png"));
    say(`no TPM, no stick: ${await unlockToRoot(vm)}`);
  });
  // the control: the same key file on the stick plugged in opens the root without a question (a
  // long timeout: under TCG on a busy host the stick's device may take more than 10 s to appear)
  await inVm(
    withTokens,
    {
      append: `rd.foyer.profile=vm ${key} rd.luks.options=${tokens.luksUuid}=keyfile-timeout=180s`,
      disks: [{ file: tokens.stick, serial: "keystick", readonly: true }],
    },
    "disks-keyfile",
    async (vm) => {
      const root = await afterUnlock(vm);
      assert.not.match(vm.serial, /password request pending/, "a question was asked with the keyfile there");
      say(`the stick plugged in: ${root}, nothing asked`);
    },
  );
});

test.run();
