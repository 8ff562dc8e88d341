// What the page is sent (snapshot.ts), as tables: the flow each combination of screens gives, and
// each request as the page and the console's fallback see it.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { snapshot, snapshotOf, promptViews, consoleRequests, type SnapshotInput } from "../../src/supervisor/snapshot.js";
import type { PendingPrompt } from "../../src/agents/password-agent.js";
import type { PlymouthPrompt } from "../../src/agents/plymouth.js";
import type { FirstbootView } from "../../src/protocol/firstboot.js";
import type { RecoveryView } from "../../src/protocol/greeter.js";
import { classifyAsk } from "../../src/protocol/classify.js";

const recoveryView: RecoveryView = { reason: "fsck failed", fsck: null, journal: [], busy: "", terminal: { open: false, repair: false } };
const firstbootView: FirstbootView = {
  phase: "form",
  values: { layout: "us", variant: "", locale: "C.UTF-8", timezone: "UTC", hostname: "", fullName: "", username: "", rootLocked: true },
  errors: [],
  hashed: { user: false, root: false },
  message: "",
};

function input(recovery: boolean, firstboot: boolean): SnapshotInput {
  return {
    phase: "running",
    prompts: [],
    keyboard: { layout: "de", variant: "neo", model: "pc105", options: "grp:alt_shift_toggle" },
    notice: "",
    messages: ["checking disks"],
    diskCheck: null,
    recovery: { active: recovery, view: recoveryView },
    firstboot: { active: firstboot, view: firstbootView },
    locale: "de_DE.UTF-8",
    appearance: { theme: "default", highContrast: false, largeText: false, reducedMotion: false, osk: false },
  };
}

const FLOWS: [boolean, boolean, string, boolean, boolean][] = [
  // recovery on screen, form on screen → flow, recovery view sent, form view sent
  [false, false, "unlock", false, false],
  [false, true, "firstboot", false, true],
  [true, false, "recovery", true, false],
  [true, true, "recovery", true, true],
];

for (const [recovery, firstboot, flow, sendsRecovery, sendsForm] of FLOWS) {
  test(`recovery ${recovery ? "up" : "down"}, form ${firstboot ? "up" : "down"}: flow ${flow}`, () => {
    const s = snapshot(input(recovery, firstboot));
    assert.is(s.flow, flow);
    assert.is("recovery" in s, sendsRecovery);
    assert.is("firstboot" in s, sendsForm);
  });
}

test("the keyboard is sent as layout and variant only; the rest as given", () => {
  const s = snapshot(input(false, false));
  assert.equal(s.keyboard, { layout: "de", variant: "neo" });
  assert.equal([s.type, s.phase, s.locale, s.messages], ["state", "running", "de_DE.UTF-8", ["checking disks"]]);
});

// as the agent reads it: the kind from the words (protocol/classify.ts)
const ask = (key: number, extra: Partial<PendingPrompt["request"]>, retries = 0): PendingPrompt => {
  const request = {
    name: `ask.${key}`,
    socket: `/run/systemd/ask-password/sck.${key}`,
    acceptCached: false,
    echo: false,
    silent: false,
    notAfterUs: 0n,
    message: `systemd ${key}`,
    ...extra,
  };
  return { key, retries, seenAt: 0, request, kind: classifyAsk(request.message, request.echo) };
};
const ply = (key: number, echo: boolean): PlymouthPrompt => ({ key, message: `plymouth ${key}`, echo, retries: 1, seenAt: 0 });

const NOW_US = 1_000_000_000n;
const PROMPTS: [string, PendingPrompt[], PlymouthPrompt[], ReturnType<typeof promptViews>][] = [
  ["none", [], [], []],
  ["systemd's, no Id= or Icon=", [ask(1, {})], [], [{ key: 1, message: "systemd 1", echo: false, silent: false, retries: 0, kind: "passphrase" }]],
  [
    "a TPM2 PIN with 42.5 s left",
    [ask(5, { message: "Please enter TPM2 PIN:", notAfterUs: 1_042_500_000n })],
    [],
    [{ key: 5, message: "Please enter TPM2 PIN:", echo: false, silent: false, retries: 0, kind: "pin", expiresInMs: 42_500 }],
  ],
  [
    "a deadline passed: no time left, not negative",
    [ask(6, { notAfterUs: 999_000_000n })],
    [],
    [{ key: 6, message: "systemd 6", echo: false, silent: false, retries: 0, kind: "passphrase", expiresInMs: 0 }],
  ],
  [
    "systemd's with Id=, Icon=, Echo=, Silent= and a retry",
    [ask(2, { id: "cryptsetup:/dev/sda2", icon: "drive-harddisk", echo: true, silent: true }, 1)],
    [],
    [{ key: 2, message: "systemd 2", echo: true, silent: true, retries: 1, kind: "passphrase", id: "cryptsetup:/dev/sda2", icon: "drive-harddisk" }],
  ],
  [
    "Plymouth's: never silent",
    [],
    [ply(0x4000_0001, true)],
    [{ key: 0x4000_0001, message: "plymouth 1073741825", echo: true, silent: false, retries: 1, kind: "passphrase" }],
  ],
  [
    "systemd's first, then Plymouth's",
    [ask(3, {})],
    [ply(0x4000_0002, false)],
    [
      { key: 3, message: "systemd 3", echo: false, silent: false, retries: 0, kind: "passphrase" },
      { key: 0x4000_0002, message: "plymouth 1073741826", echo: false, silent: false, retries: 1, kind: "passphrase" },
    ],
  ],
];

for (const [name, agent, plymouth, views] of PROMPTS) {
  test(`prompts: ${name}`, () => assert.equal(promptViews(agent, plymouth, NOW_US), views));
}

test("the console's requests keep the order and say which protocol asked", () => {
  const views = promptViews([ask(3, { id: "x" })], [ply(0x4000_0002, true)], NOW_US);
  assert.equal(
    consoleRequests(views, (k) => k >= 0x4000_0000),
    [
      { key: 3, message: "systemd 3", echo: false, retries: 0, kind: "passphrase", from: "systemd" },
      { key: 0x4000_0002, message: "plymouth 1073741826", echo: true, retries: 1, kind: "passphrase", from: "plymouth" },
    ],
  );
});

test("snapshotOf reads the parts as they are now, getters included", () => {
  const i = input(false, false);
  // the parts are objects with getters (GreeterSettings, Recovery): read at the call, never copied
  class Settings {
    #locale = "de_DE.UTF-8";
    get locale() {
      return this.#locale;
    }
    get appearance() {
      return i.appearance;
    }
    set(locale: string) {
      this.#locale = locale;
    }
  }
  const settings = new Settings();
  const parts = {
    plymouth: { messages: i.messages, record: { fsck: i.diskCheck } },
    settings,
    stack: { keyboard: i.keyboard },
    recovery: i.recovery,
    firstboot: i.firstboot,
  };
  assert.equal(snapshotOf(parts, "running", [], ""), snapshot(i));
  settings.set("fr_FR.UTF-8");
  assert.is(snapshotOf(parts, "running", [], "").locale, "fr_FR.UTF-8");
});

test.run();
