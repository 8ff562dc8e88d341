// The recovery view: why boot stopped, fsck's output and exit code, the journal's tail, the
// actions (repair, continue, reboot, power off) and a root terminal that asks for the root
// password through sulogin. The repair is that terminal too: after the root password it runs
// fsck -y, whose progress shows there. Terminal bytes travel as binary frames.
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import { FRAME_TERMINAL, type StateMessage } from "../protocol/greeter.js";
import type { Connection } from "./connection.js";
import { t } from "./i18n.js";

let conn: Connection | undefined;
let term: Terminal | undefined;
let fit: FitAddon | undefined;
let wired = false;
const $ = (id: string) => document.getElementById(id)!;

function wire(): void {
  if (wired) return;
  wired = true;
  for (const action of ["continue", "reboot", "poweroff"] as const) {
    $(`action-${action}`).addEventListener("click", () => conn?.send({ type: "recovery_action", action }));
  }
  $("action-fsck").addEventListener("click", () => term || openTerminal(true));
  $("action-terminal").addEventListener("click", () => (term ? closeTerminal() : openTerminal(false)));
  window.addEventListener("resize", () => {
    if (!term || !fit) return;
    fit.fit();
    conn?.send({ type: "terminal_resize", cols: term.cols, rows: term.rows });
  });
}

function openTerminal(repair: boolean): void {
  const host = $("terminal");
  host.hidden = false;
  term = new Terminal({ scrollback: 5000, fontFamily: "DejaVu Sans Mono, monospace", fontSize: 14, convertEol: false, theme: { background: "#10141d" } });
  fit = new FitAddon();
  term.loadAddon(fit);
  term.open(host);
  fit.fit();
  const enc = new TextEncoder();
  term.onData((d) => {
    const bytes = enc.encode(d);
    const frame = new Uint8Array(bytes.length + 1);
    frame[0] = FRAME_TERMINAL;
    frame.set(bytes, 1);
    conn?.sendBinary(frame);
    bytes.fill(0);
    frame.fill(0);
  });
  conn?.send({ type: "terminal_open", cols: term.cols, rows: term.rows, repair });
  $("action-terminal").dataset.i18n = "recovery.closeTerminal";
  $("action-terminal").textContent = t("recovery.closeTerminal");
  term.focus();
}

function closeTerminal(): void {
  conn?.send({ type: "terminal_close" });
  term?.dispose();
  term = undefined;
  $("terminal").hidden = true;
  $("action-terminal").dataset.i18n = "recovery.openTerminal";
  $("action-terminal").textContent = t("recovery.openTerminal");
}

export function terminalOutput(bytes: Uint8Array): void {
  term?.write(bytes.slice());
}

export function renderRecovery(s: StateMessage, c: Connection): void {
  conn = c;
  wire();
  const r = s.recovery;
  if (!r) return;
  $("recovery-reason").textContent = r.reason || t("recovery.reason"); // the daemon's reason is systemd's/fsck's words, as sent
  const f = r.fsck;
  $("fsck").hidden = f === null;
  if (f) {
    $("fsck-device").textContent = f.device;
    const verdict =
      f.exitCode === 0 ? t("recovery.clean") : f.exitCode === 1 ? t("recovery.corrected") : (f.exitCode ?? 0) >= 4 ? t("recovery.uncorrected") : "";
    const repair = r.terminal.open && r.terminal.repair;
    $("fsck-status").textContent = repair
      ? t(f.running ? "recovery.repairing" : "recovery.repairAsks")
      : f.running
        ? t("recovery.checking")
        : f.exitCode === null
          ? ""
          : `${t("recovery.exitCode", { code: f.exitCode })}${verdict ? " " + verdict : ""}`;
    const bar = $("fsck-progress") as HTMLProgressElement;
    bar.hidden = !f.running || repair; // the repair's progress is fsck's own, in the terminal
    if (f.percent === null) bar.removeAttribute("value");
    else bar.value = f.percent;
    const out = $("fsck-output");
    out.textContent = f.output;
    out.scrollTop = out.scrollHeight;
  }
  const j = $("journal");
  j.textContent = r.journal.join("\n");
  j.scrollTop = j.scrollHeight;
  $("recovery-busy").textContent = r.busy ? t("recovery.busy", { action: r.busy }) : "";
  for (const b of document.querySelectorAll<HTMLButtonElement>("#recovery-actions button")) b.disabled = r.busy !== "" || (f?.running ?? false);
  ($("action-fsck") as HTMLButtonElement).disabled ||= r.terminal.open; // one terminal at a time
  if (!r.terminal.open && term) closeTerminal();
}
