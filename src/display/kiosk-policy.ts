// Chromium's managed policy for the greeter: what --kiosk does not lock. --kiosk only hides the
// browser's frame; the browser still navigates anywhere, opens devtools, prints, saves, downloads
// and offers its password manager. A managed policy (a JSON file in chromium's policy directory,
// /etc/chromium/policies/managed on Debian) is the one switch the page and the person cannot
// turn off. It is machine-wide, so foyer writes it at start, as root in the initramfs, with the
// greeter's exact origin (the port is only known once the server listens): nothing but that
// origin loads, not even another port on 127.0.0.1.
//
// What a policy cannot do is stop chromium's own accelerators (Ctrl+T, Ctrl+N, Ctrl+W, Shift+Esc
// …) from opening tabs, windows or the task manager: on X, x11-keygrab.ts takes those keys
// before chromium sees them.
import { mkdirSync, writeFileSync, renameSync, chmodSync } from "node:fs";
import { join } from "node:path";

export const KIOSK_POLICY_FILE = "foyer-kiosk.json";

/**
 * The policy for a greeter at `origin` (http://127.0.0.1:PORT). `remoteDebugging`: the test
 * profiles' debug port, which needs devtools to drive the page; never in a shipped profile.
 */
export function chromiumKioskPolicy(origin: string, opts: { remoteDebugging: boolean }): Record<string, unknown> {
  return {
    // everything is blocked but the greeter's origin: file:, chrome:, data:, view-source:,
    // devtools: and every other host or port land on chromium's "blocked" page
    URLBlocklist: ["*"],
    URLAllowlist: [origin],
    // 2 = never (devtools, the JavaScript console, view-source); 1 = allowed, for the debug port
    DeveloperToolsAvailability: opts.remoteDebugging ? 1 : 2,
    RemoteDebuggingAllowed: opts.remoteDebugging,
    DownloadRestrictions: 3, // block every download
    PrintingEnabled: false,
    AllowFileSelectionDialogs: false, // Ctrl+O, Ctrl+S and <input type=file> open no file chooser
    IncognitoModeAvailability: 1, // disabled
    BrowserGuestModeEnabled: false,
    BrowserAddPersonEnabled: false,
    BrowserSignin: 0,
    SyncDisabled: true,
    PasswordManagerEnabled: false, // no "save password?" for the passphrase field
    AutofillAddressEnabled: false,
    AutofillCreditCardEnabled: false,
    SavingBrowserHistoryDisabled: true,
    AllowDeletingBrowserHistory: false,
    DefaultPopupsSetting: 2, // window.open without a gesture is blocked
    DefaultNotificationsSetting: 2,
    DefaultGeolocationSetting: 2,
    AudioCaptureAllowed: false,
    VideoCaptureAllowed: false,
    ScreenCaptureAllowed: false,
    TaskManagerEndProcessEnabled: false,
    BookmarkBarEnabled: false,
    EditBookmarksEnabled: false,
    SearchSuggestEnabled: false,
    DefaultSearchProviderEnabled: false,
    TranslateEnabled: false,
    SpellcheckEnabled: false,
    MetricsReportingEnabled: false,
    BackgroundModeEnabled: false,
    ExtensionInstallBlocklist: ["*"],
  };
}

/** Writes the policy into `dir` (created 0755), atomically, root-owned 0644. Throws on I/O errors. */
export function writeChromiumKioskPolicy(dir: string, origin: string, opts: { remoteDebugging: boolean }): string {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const path = join(dir, KIOSK_POLICY_FILE);
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, JSON.stringify(chromiumKioskPolicy(origin, opts), null, 2) + "\n", { mode: 0o644 });
  chmodSync(tmp, 0o644);
  renameSync(tmp, path);
  return path;
}
