// The hand-over to a real display manager, in a real boot: unlock in the initrd, switch-root into
// Debian 12 with GDM, LightDM, SDDM or greetd (test/vm/dm-root.ts), whose greeter takes the display.
// Screendumps are taken back to back across the transition (the largest gap is measured and must
// stay ≤ 200 ms) and each is sorted: foyer's greeter, the display manager's greeter, black, a text
// console (fbcon's grey glyphs or cursor on black), or something else. No frame may be a text
// console; the last is the display manager's; the time from foyer's last frame to the display
// manager's first is printed. The real root's report then says: no foyer process left, the console
// bound again by foyer-console.service once the display manager's VT is in graphics mode, foyer's
// log flushed to /var/log/foyer without the passphrase, and for GDM (single sign-on,
// keyring.enabled in the appliance's profile) root's "cryptsetup" key holding the passphrase that
// opened the disk — not the wrong one typed first —, GDM's pam_gdm handing those bytes to a PAM
// checker, and the key gone after its timeout.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { pollUntil, requireTool } from "../helpers/index.js";
import { buildAppliance, VM_PASSPHRASE, type Appliance } from "./appliance.js";
import { buildDmRoot, DMS, type Dm } from "./dm-root.js";
import { waitForPrompt, countColour, type Vm } from "./qemu.js";
import { watch } from "./screens.js";
import { inVm } from "./journey.js";

const say = (s: string) => process.stdout.write(`• ${s}\n`);
/** what foyer runs, none of which may be left in the real root */
const FOYER_PROCESSES = /\b(node|cage|cog|seatd|grim|foyerd)\b/;
const roots: Partial<Record<Dm, Appliance>> = {};
let appliance: Appliance;

test.before(() => {
  for (const [t, p] of [
    ["qemu-system-x86_64", "qemu-system-x86"],
    ["cryptsetup", "cryptsetup-bin"],
    ["mkfs.ext4", "e2fsprogs"],
    ["mmdebstrap", "mmdebstrap"],
  ] as const)
    requireTool(t, p);
  appliance = buildAppliance(say);
  for (const dm of ["gdm", "lightdm", "sddm", "greetd"] as const) roots[dm] = { ...appliance, ...buildDmRoot(appliance, say, dm) };
});

/** Prints the runs, and the time from the last screendump of foyer's frame to the first of the display manager's. */
function tell(w: Awaited<ReturnType<typeof watch>>, dm: Dm): number {
  for (const r of w.runs) say(`${r.kind.padEnd(5)} ${r.from.toFixed(2)}–${r.to.toFixed(2)} s after Enter (${r.frames} frames)`);
  say(`${w.frames} screendumps, largest gap ${w.maxGapMs.toFixed(0)} ms`);
  const first = w.runs.findIndex((r) => r.kind === "dm");
  const last = w.runs.slice(0, Math.max(0, first)).findLastIndex((r) => r.kind === "foyer");
  if (first < 0 || last < 0) return NaN;
  const between = w.runs.slice(last + 1, first).map((r) => `${r.kind} ${(r.to - r.from).toFixed(2)} s`);
  const gap = w.runs[first]!.from - w.runs[last]!.to;
  say(`${dm}: ${gap.toFixed(2)} s from foyer's last frame to ${dm}'s first${between.length ? ` (${between.join(", ")})` : ", nothing in between"}`);
  return gap;
}

/**
 * From the Enter that unlocks: the hand-over watched and told, then the real root's report, printed
 * (its first line, the console from there, and its process list).
 */
async function handOver(vm: Vm, name: string, dm: Dm): Promise<{ w: Awaited<ReturnType<typeof watch>>; dmLine: string; rest: string; ps: string }> {
  const w = await watch(vm, name, vm.seconds, 420, 5, DMS[dm].background);
  tell(w, dm);
  await vm.screen(join(tmpdir(), `foyer-vm-${name}-end.png`));
  const [dmLine] = await vm.waitSerial(/FOYER-DM greeter=\S+ vt=\S+ uptime=[\d.]+/, 300_000, `the ${dm} root's report`);
  await vm.waitSerial(/FOYER-DM-END/, 60_000, "the end of the report");
  const rest = vm.serial.slice(vm.serial.indexOf(dmLine));
  for (const l of rest.split("\n").filter((x) => /^FOYER-DM/.test(x.trim()) && !/FOYER-DM-PS|FOYER-DM-CONSOLE-LOG (Starting|Finished|foyer-console)/.test(x)))
    say(l.trim());
  say(`whole journey ${vm.seconds.toFixed(0)} s`);
  const [ps] = /FOYER-DM-PS [^\n]*/.exec(rest) ?? [""];
  return { w, dmLine, rest, ps };
}

/** foyerd's log, flushed to /var/log/foyer by the real root: there, saying the last frame was kept, without the passphrase. */
function assertLogKept(rest: string): void {
  const [, , kept, secret] =
    /FOYER-DM-FLUSH-LOG boot-[0-9a-f]{32}\.log lines=(\d+) kept=(\d+) secret=(\w+)/.exec(rest) ??
    (assert.unreachable(`no boot log in /var/log/foyer:\n${rest}`) as never);
  assert.is(kept, "1", "foyerd's log does not say the last frame was kept");
  assert.is(secret, "absent", "the passphrase is in the kept log");
}

/** The per-frame judgement every hand-over must pass: watched every ≤ 200 ms, no text console, the DM last. */
function judge(w: Awaited<ReturnType<typeof watch>>, name: string): void {
  assert.ok(w.maxGapMs <= 200, `screendumps were ${w.maxGapMs.toFixed(0)} ms apart at most; the transition must be watched every ≤ 200 ms`);
  const text = w.runs.filter((r) => r.kind === "text");
  assert.is(
    text.length,
    0,
    `a text console was on screen: ${text.map((r) => `${r.from.toFixed(2)}–${r.to.toFixed(2)} s (${r.frames} frames)`).join(", ")}; see ${tmpdir()}/foyer-vm-${name}-*-text.ppm`,
  );
  assert.is(w.runs.at(-1)?.kind, "dm", `the display manager's greeter is not on screen at the end: ${w.runs.map((r) => r.kind).join(" → ")}`);
}

test("unlock, switch-root, GDM takes the display (gnome-shell on Wayland, foyer's VT): no text-console frame, the sign-on consumed by pam_gdm", async () => {
  await inVm(roots.gdm!, { append: "rd.foyer.profile=vm" }, "handoff-gdm", async (vm) => {
    await vm.waitSerial(/greeter interactive ms=\d+/, 480_000, "foyer's greeter interactive");
    await waitForPrompt(vm, 240_000);
    // a wrong passphrase first: systemd-cryptsetup asks again, and single sign-on must not keep it
    await vm.type("falsch", "de");
    await vm.waitSerial(/password request answered[\s\S]*password request pending/, 180_000, "systemd-cryptsetup asking again");
    // the re-prompt drawn ("That passphrase did not work" in the danger colour) before typing, as a person would
    await waitForPrompt(vm, 120_000, undefined, (s) => countColour(s, [0xff, 0x8c, 0x8c], 30) > 40);
    await vm.type(VM_PASSPHRASE, "de");
    const { w, dmLine, rest, ps } = await handOver(vm, "handoff-gdm", "gdm");
    // gnome-shell's first frame is its grey stage; its login widgets follow: the user name field's
    // focus ring in Adwaita's accent blue
    const widgets = join(tmpdir(), "foyer-vm-handoff-gdm-greeter.png");
    await pollUntil(async () => countColour(await vm.screen(widgets), [0x35, 0x84, 0xe4], 20) > 300, 120_000, `GDM's login widgets (${widgets})`, 2000);
    say(`GDM's login widgets drawn at ${vm.seconds.toFixed(0)} s of the journey`);
    const [keyLine] = /FOYER-DM-KEYRING [^\n]*/.exec(vm.serial) ?? ["FOYER-DM-KEYRING (no report)"];
    say(keyLine.trim());

    judge(w, "handoff-gdm");
    // GDM starts its greeter on the VT foyer had (tty1), not on a VT of its own
    assert.match(dmLine, /greeter=running vt=tty1/, "gnome-shell is not running on tty1");
    assert.not.match(ps, FOYER_PROCESSES, `a foyer process is left in the real root: ${ps}`);
    assert.match(ps, /\bgdm3\b[\s\S]*\bgnome-shell\b/, `GDM's gnome-shell is not running in the real root: ${ps}`);
    // bound once mutter put tty1 from the text mode foyer's compositor left it in into graphics mode
    assert.match(rest, /FOYER-DM-CONSOLE-LOG text console bound again \(\d+\): the display manager took tty1\r?\n/);
    assertLogKept(rest);
    assert.not.ok(vm.serial.includes(VM_PASSPHRASE), "the passphrase appeared on the serial console");
    // single sign-on: foyer did not keep the wrong one, put the one that opened the root last (what
    // pam_gdm reads), and kept systemd-cryptsetup's own cache (both answers it was given) ahead of it
    assert.match(vm.serial, /keyring: the passphrase did not open the disk, not kept/);
    assert.match(vm.serial, /keyring: passphrase kept for the session's single sign-on[^\n]*cachedAfter=1/);
    assert.match(
      keyLine,
      /FOYER-DM-KEYRING serial=\d+ timeout=(\d+s|[12]m) payload=match entries=2/,
      "root's 'cryptsetup' key is missing, does not expire within 150 s, or does not end with the passphrase",
    );
    // consumed as GDM consumes it: its own pam_gdm, in a unit with gdm.service's KeyringMode=shared,
    // gives pam_exec's checker the passphrase's bytes; the stack without pam_gdm fails the same check
    const [pamLine] = /FOYER-DM-PAM [^\n]*/.exec(vm.serial) ?? ["FOYER-DM-PAM (no report)"];
    say(pamLine.trim());
    assert.match(pamLine, /pam_gdm=pass without=fail/, "GDM's PAM module did not hand the passphrase on (or the check passes without it)");
    // and gone once its timeout has passed, counted on the guest's clock from foyer keeping it
    const [, gone, goneAt] = await vm.waitSerial(/FOYER-DM-KEYRING-GONE (\w+) uptime=([\d.]+)/, 300_000, "the key's end");
    say(`root's 'cryptsetup' key gone ${(Number(goneAt) - vm.stamp(/keyring: passphrase kept/)).toFixed(0)} s after foyer kept it (guest clock)`);
    assert.is(gone, "yes", "root's 'cryptsetup' key outlived its timeout");
  });
});

/**
 * The journey of a display manager that needs no more than the hand-over: unlock, its greeter
 * running on VT `vt` beside `server`, no foyer process left (`foyer` names them: cage is greetd's
 * own there), the console given back once the server put that VT in graphics mode, not after a
 * wait in text mode.
 */
async function journey(dm: Dm, name: string, expect: { vt: string; server: RegExp; foyer: RegExp }): Promise<void> {
  await inVm(roots[dm]!, { append: "rd.foyer.profile=vm" }, name, async (vm) => {
    await vm.waitSerial(/greeter interactive ms=\d+/, 480_000, "foyer's greeter interactive");
    await waitForPrompt(vm, 240_000);
    await vm.type(VM_PASSPHRASE, "de");
    const { w, dmLine, rest, ps } = await handOver(vm, name, dm);
    judge(w, name);
    assert.match(dmLine, new RegExp(`greeter=running vt=${expect.vt} `), `${dm}'s greeter is not running on ${expect.vt}`);
    assert.not.match(ps, expect.foyer, `a foyer process is left in the real root: ${ps}`);
    assert.match(ps, expect.server, `${dm}'s display server is not running in the real root: ${ps}`);
    assert.not.match(rest, /FOYER-DM-VTCON \S+ bind=0 \(?.*frame buffer/i, "a framebuffer console is still unbound");
    assert.match(rest, new RegExp(`FOYER-DM-CONSOLE-LOG text console bound again \\(\\d+\\): the display manager took ${expect.vt}\\r?\\n`));
    assertLogKept(rest);
    assert.not.ok(vm.serial.includes(VM_PASSPHRASE), "the passphrase appeared on the serial console");
  });
}
test("unlock, switch-root, LightDM takes the display: no text-console frame, no foyer process left, the log kept", () =>
  journey("lightdm", "handoff", { vt: "tty\\d+", server: /\bXorg\b/, foyer: FOYER_PROCESSES }));

test("unlock, switch-root, SDDM takes the display: no text-console frame, no foyer process left, the log kept", () =>
  journey("sddm", "handoff-sddm", { vt: "tty\\d+", server: /\bXorg\b/, foyer: FOYER_PROCESSES }));

test("unlock, switch-root, greetd takes the display (agreety in foot in cage): no text-console frame, the console given back", () =>
  journey("greetd", "handoff-greetd", {
    vt: "tty7",
    server: /\bgreetd\b[\s\S]*\bcage\b|\bcage\b[\s\S]*\bgreetd\b/,
    foyer: /\b(node|cog|seatd|grim|foyerd)\b/,
  }));

test("no display manager (LightDM masked): foyer-console.service gives the console back at once, and tty1's login prompt shows", async () => {
  await inVm(roots.lightdm!, { append: "rd.foyer.profile=vm systemd.mask=lightdm.service" }, "handoff-no-dm", async (vm) => {
    await vm.waitSerial(/greeter interactive ms=\d+/, 480_000, "foyer's greeter interactive");
    await waitForPrompt(vm, 240_000);
    await vm.type(VM_PASSPHRASE, "de");
    const t0 = vm.seconds;
    const w = await watch(vm, "handoff-no-dm", t0, 300, 3, DMS.lightdm.background, "text");
    for (const r of w.runs) say(`${r.kind.padEnd(5)} ${r.from.toFixed(2)}–${r.to.toFixed(2)} s after Enter (${r.frames} frames)`);
    await vm.screen(join(tmpdir(), "foyer-vm-handoff-no-dm-end.png"));
    await vm.waitSerial(/FOYER-DM-END/, 120_000, "the root's report");
    const rest = vm.serial.slice(vm.serial.indexOf("FOYER-DM greeter="));
    for (const l of rest.split("\n").filter((x) => /^FOYER-DM-(CONSOLE|VTCON)/.test(x.trim()))) say(l.trim());
    assert.is(w.runs.at(-1)?.kind, "text", `no text console at the end: ${w.runs.map((r) => r.kind).join(" → ")}`);
    // the kept frame: foyer said it kept it, and until the console came back the screen showed foyer's
    // picture (or, for a moment, no output) — the swap's gap may fall between two screendumps, so
    // the kept frame need not be a run of its own
    assert.match(vm.serial, /last frame kept on the screen/, "foyer did not keep the last frame");
    // (binding fbcon again clears the screen before it draws: a black moment just before the text
    // is the console's own, and so is a frame caught while it moves its cursor home — black with one
    // light glyph away from the first column, the "other" of one CI run, 1 frame)
    const beforeText = w.runs.slice(
      0,
      w.runs.findIndex((r) => r.kind === "text"),
    );
    for (let n = 0; n < 2 && ["black", "other"].includes(beforeText.at(-1)?.kind ?? "") && beforeText.at(-1)!.to - beforeText.at(-1)!.from < 0.3; n++)
      beforeText.pop();
    assert.ok(
      beforeText.length > 0 && beforeText.every((r) => r.kind === "foyer" || r.kind === "off"),
      `before the console came back: ${beforeText.map((r) => r.kind).join(" → ")}`,
    );
    assert.match(rest, /FOYER-DM-CONSOLE-LOG text console bound again \(\d+\): no display manager/);
    assert.not.match(rest, /FOYER-DM-VTCON \S+ bind=0 \(M\) frame buffer/, "the framebuffer console is still unbound");
  });
});

test.run();
