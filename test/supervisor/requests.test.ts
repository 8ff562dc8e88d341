// Which answers reach the single sign-on (src/supervisor/requests.ts): the person's passphrase,
// never a PIN or a recovery key, and never a Plymouth client's answer (no Id= names a disk there).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Requests } from "../../src/supervisor/requests.js";
import type { PendingPrompt } from "../../src/agents/password-agent.js";
import { Secret } from "../../src/base/secret.js";
import { classifyAsk } from "../../src/protocol/classify.js";

// as the agent reads it: the kind from the words (protocol/classify.ts)
const pending = (key: number, message: string, echo = false): PendingPrompt => ({
  key,
  retries: 0,
  seenAt: 0,
  request: {
    name: `ask.${key}`,
    socket: `/run/systemd/ask-password/sck.${key}`,
    acceptCached: false,
    echo,
    silent: false,
    notAfterUs: 0n,
    message,
    id: `cryptsetup:/dev/vd${key}`,
  },
  kind: classifyAsk(message, echo),
});

const CASES: [string, PendingPrompt, boolean][] = [
  ["a disk's passphrase", pending(1, "Please enter passphrase for disk root:"), true],
  ["a TPM2 PIN", pending(2, "Please enter TPM2 PIN:"), false],
  ["a recovery key", pending(3, "Please enter recovery key for disk root:"), false],
  ["passphrase or recovery key: a passphrase, as systemd's cache takes it", pending(4, "Please enter passphrase or recovery key for disk root:"), true],
];

for (const [name, p, kept] of CASES) {
  test(`${name}: ${kept ? "offered to" : "kept from"} the single sign-on`, () => {
    const offered: (string | undefined)[] = [];
    const answered: number[] = [];
    const r = new Requests({
      agent: { pending: () => [p], answer: (key: number) => void answered.push(key) } as never,
      plymouth: { owns: () => false, pending: () => [] } as never,
      keyring: { asked() {}, answered: (id: string | undefined) => void offered.push(id), stop() {} },
      timeline: {} as never,
    });
    const s = Secret.copyOf(Buffer.from("1234"));
    r.answer(p.key, s);
    s.wipe();
    assert.equal(answered, [p.key], "the asker was not answered");
    assert.equal(offered, kept ? [p.request.id] : []);
  });
}

test.run();
