// The greeter UI (browser). It holds no state of its own: the daemon sends the full state on
// every (re)connect, so a restarted browser shows exactly what the dead one showed. Each flow has
// its view module; this file only routes.
import { connect, type Connection } from "./connection.js";
import { renderUnlock } from "./unlock.js";
// the terminal's styles are small and ship in app.css; its code (xterm) loads only for recovery
import "@xterm/xterm/css/xterm.css";
import { renderFirstboot, firstbootOptions, firstbootDisconnected, leaveFirstboot } from "./firstboot.js";
import type { StateMessage } from "../protocol/greeter.js";
import { applyLocale, t } from "./i18n.js";
import { renderSettings, keyboardLayouts, settingsDisconnected } from "./settings.js";
import { renderOsk } from "./osk.js";
import { renderMessages } from "./messages.js";
import { lockBrowserKeys } from "./kiosk-keys.js";

const views = { unlock: "unlock-view", recovery: "recovery-view", firstboot: "firstboot-view" } as const;
const statusEl = document.getElementById("status")!;
let readySent = false;
/** performance.now() at this page's first paint of a state, maybe before its socket opened */
let paintedAt: number | undefined;
let recovery: Promise<typeof import("./recovery.js")> | undefined;
const loadRecovery = () => (recovery ??= import("./recovery.js"));
let recoveryWired = false;
let lastFlow: StateMessage["flow"] | undefined;

/** systemd-fsckd's progress, in the greeter's language (fsckd's own text is English only). */
function renderDiskCheck(d: StateMessage["diskCheck"]): void {
  document.getElementById("disk-check")!.hidden = d === null;
  if (d === null) return;
  document.getElementById("disk-check-text")!.textContent = t("diskCheck.progress", { disks: String(d.devices), percent: d.percent.toFixed(0) });
  (document.getElementById("disk-check-progress") as HTMLProgressElement).value = d.percent;
}

function render(s: StateMessage, c: Connection): void {
  // the language first: the views below write their text through t()
  applyLocale(s.locale);
  renderSettings(s, c);
  lastFlow = s.flow;
  for (const [flow, id] of Object.entries(views)) {
    const el = document.getElementById(id);
    // the recovery view shows once its code has loaded and wired its buttons: before that, a
    // click on "Open root terminal" would do nothing (seen under load in test/integration/recovery)
    if (el) el.hidden = flow !== s.flow || (flow === "recovery" && !recoveryWired);
  }
  renderDiskCheck(s.diskCheck);
  renderMessages(s.messages);
  if (s.flow === "recovery")
    void loadRecovery().then((m) => {
      m.renderRecovery(s, c);
      recoveryWired = true;
      if (lastFlow === "recovery") document.getElementById(views.recovery)!.hidden = false;
    });
  else if (s.flow === "firstboot") renderFirstboot(s, c);
  else renderUnlock(s, c, statusEl);
  if (s.flow !== "firstboot") leaveFirstboot();
  renderOsk(s);
  // after the browser painted a state: that is when a person can act (a field takes keys before
  // the socket opens; unlock.ts sends what was typed once it has)
  if (paintedAt === undefined) requestAnimationFrame(() => (paintedAt ??= performance.now()));
  if (!readySent && c.open()) {
    readySent = true;
    requestAnimationFrame(() => {
      const at = (paintedAt ??= performance.now());
      c.send({ type: "ready", paintedMsAgo: Math.min(600_000, Math.round(performance.now() - at)) });
    });
  }
}

lockBrowserKeys();
connect({
  state: render,
  error: (m) => (statusEl.textContent = m),
  terminal: (bytes) => void recovery?.then((m) => m.terminalOutput(bytes)),
  firstbootOptions,
  keyboardLayouts,
  status: (text) => {
    readySent = false;
    firstbootDisconnected();
    settingsDisconnected();
    statusEl.textContent = text;
  },
});
