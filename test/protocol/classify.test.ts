// The two classifiers against what systemd and other askers really send (systemd's
// src/cryptsetup, src/shared/libfido2-util.c, pkcs11-util.c), and near misses.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { classifyPrompt, classifyMessage, type PromptKind, type MessageKind } from "../../src/protocol/classify.js";

const PROMPTS: [string, PromptKind][] = [
  // systemd-cryptsetup's PIN requests (TPM2+PIN, the LUKS2 token plugins, FIDO2)
  ["Please enter TPM2 PIN:", "pin"],
  ["Please enter LUKS2 token PIN:", "pin"],
  ["Please enter security token PIN:", "pin"],
  // PKCS#11 (pkcs11-util.c), first try, a low counter, the final try
  ["Please enter PIN for security token 'YubiKey PIV #1234' in order to unlock root (luks-0f1e):", "pin"],
  ["PIN has been entered incorrectly previously, please enter correct PIN for security token 'YubiKey' in order to unlock root:", "pin"],
  ["Please enter correct PIN for security token 'YubiKey' in order to unlock root (final try):", "pin"],
  // cryptsetup's "Please enter %s for disk %s:" in its three forms, and its verification
  ["Please enter passphrase for disk root:", "passphrase"],
  ["Please enter recovery key for disk Samsung SSD 870 (luks-d6f1) on /home:", "recovery-key"],
  ["Please enter passphrase or recovery key for disk root:", "passphrase"],
  ["Please enter recovery key for disk root (verification):", "recovery-key"],
  // a disk named PIN is still a disk's passphrase
  ["Please enter passphrase for disk PIN (luks-1):", "passphrase"],
  // other askers, unknown text: a passphrase, whatever it says
  ["Please unlock disk sda2_crypt:", "passphrase"],
  ["Enter passphrase for /dev/vda2:", "passphrase"],
  ["Spin up the pinwheel:", "passphrase"],
  ["pin:", "passphrase"],
  ["", "passphrase"],
];

test("requests: PIN, recovery key, passphrase from systemd's words; unknown text is a passphrase", () => {
  const got = PROMPTS.map(([m]) => [m, classifyPrompt(m)]);
  assert.equal(got, PROMPTS);
});

const MESSAGES: [string, MessageKind][] = [
  // FIDO2: what systemd sends to Plymouth, and its log line's misspelt twin
  ["Please confirm presence on security token to unlock.", "security-token"],
  ["Please verify user on security token to unlock.", "security-token"],
  ["👆 Please confirm presence on security to unlock.", "security-token"],
  // a token not plugged in (FIDO2 and PKCS#11 wording)
  ["Security token not present for unlocking volume root (luks-0f1e), please plug it in.", "security-token"],
  ["Security token pkcs11:token=YubiKey not present for unlocking volume root, please plug it in.", "security-token"],
  // other senders saying the same
  ["Please touch the security key", "security-token"],
  ["Insert your YubiKey to continue", "security-token"],
  // everything else is a message shown as sent
  ["Checking the file system on /dev/vda2", "other"],
  ["Press Ctrl+C to cancel all filesystem checks in progress", "other"],
  ["Security updates are being installed", "other"],
  ["Please enter TPM2 PIN:", "other"],
  ["", "other"],
];

test("messages: a security token's waits, and nothing else", () => {
  const got = MESSAGES.map(([m]) => [m, classifyMessage(m)]);
  assert.equal(got, MESSAGES);
});

test.run();
