// What a request or a boot message is, from its text: askers and Plymouth's senders say it in
// words only (no key in the ask file names a PIN). Pure; shared by the daemon, which tags each
// PromptView with its kind, and the page, which shows security-token messages as a waiting state.
// The patterns are systemd's (src/cryptsetup, src/shared/libfido2-util.c, pkcs11-util.c) and
// what other askers say alike; anything else is a passphrase, or a message, shown as sent.

export const PROMPT_KINDS = ["passphrase", "pin", "recovery-key"] as const;
export type PromptKind = (typeof PROMPT_KINDS)[number];

// systemd-cryptsetup's "Please enter %s for disk %s:", where %s is "passphrase", "recovery key" or
// "passphrase or recovery key": checked first, so a disk whose name says PIN stays a passphrase
const FOR_DISK = /^Please enter (passphrase or recovery key|passphrase|recovery key) for disk /;
// TPM2, LUKS2 token and FIDO2 ("Please enter TPM2 PIN:"), PKCS#11 ("Please enter PIN for security
// token 'X' in order to unlock Y:", "… correct PIN …"): the word in capitals, as all of them write it
const PIN = /\bPIN\b/;

export function classifyPrompt(message: string): PromptKind {
  const m = message.trim();
  const disk = FOR_DISK.exec(m);
  if (disk) return disk[1] === "recovery key" ? "recovery-key" : "passphrase";
  return PIN.test(m) ? "pin" : "passphrase";
}

/** A request's kind as shown: a question (echoed) is shown as sent, whatever its words. */
export function classifyAsk(message: string, echo: boolean): PromptKind {
  return echo ? "passphrase" : classifyPrompt(message);
}

export type MessageKind = "security-token" | "other";

const SECURITY_TOKEN = [
  // FIDO2 (libfido2-util.c: sent to Plymouth by recent systemd, only logged by older ones), and
  // the "security to unlock" misspelling of one of its log lines
  /\b(confirm presence|verify user) on security (token )?to unlock\b/i,
  // "Security token [URI] not present for unlocking volume X, please plug it in." (cryptsetup.c)
  /\bsecurity token\b.*\bnot present\b/i,
  // other askers' words for the same waits: touch / insert / plug in a security key or token
  /\b(touch|tap|insert|plug in)\b.*\b(security (key|token)|yubikey|fido2? (key|token|device))\b/i,
];

export function classifyMessage(text: string): MessageKind {
  return SECURITY_TOKEN.some((re) => re.test(text)) ? "security-token" : "other";
}
