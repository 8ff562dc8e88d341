// The browser's own shortcuts, cancelled in the page. Chromium offers most of its accelerators
// to the page first (Ctrl+H history, Ctrl+J downloads, Ctrl+U view-source, Ctrl+D bookmarks,
// F1 help, F12 devtools, Alt+Left back …): each would open a tab over the greeter or leave it,
// even when chromium's kiosk policy then blocks what that tab shows. Those it reserves (Ctrl+T,
// Ctrl+N, Ctrl+W …) never reach a page; on X the daemon grabs them, and F1 (display/x11-keygrab.ts:
// a key pressed before the page has the focus goes to the browser, not to this code).
// Inside the recovery terminal the keys are the shell's: xterm cancels the ones it sends.
const CTRL = new Set(["d", "e", "f", "g", "h", "j", "k", "l", "o", "p", "r", "s", "u"]);
const CTRL_SHIFT = new Set(["b", "c", "i", "j", "m", "o", "a", "d", "p", "r", "s", "y", "delete"]);
const FKEYS = /^F([1-9]|1[0-2])$/;

/** Whether the browser would act on this key combination (outside text editing). */
export function isBrowserShortcut(e: Pick<KeyboardEvent, "key" | "ctrlKey" | "altKey" | "shiftKey" | "metaKey">): boolean {
  const k = e.key.length === 1 ? e.key.toLowerCase() : e.key.toLowerCase() === "delete" ? "delete" : e.key;
  if (FKEYS.test(e.key)) return true;
  if (e.key === "ContextMenu" || e.key.startsWith("Browser")) return true;
  if (e.altKey && !e.ctrlKey && ["ArrowLeft", "ArrowRight", "Home"].includes(e.key)) return true;
  if (e.altKey && !e.ctrlKey && ["f", "e", "d"].includes(k)) return true; // the app menu, the omnibox
  if (e.ctrlKey && e.shiftKey && CTRL_SHIFT.has(k)) return true;
  if (e.ctrlKey && !e.shiftKey && !e.altKey && CTRL.has(k)) return true;
  return false;
}

export function lockBrowserKeys(doc: Document = document): void {
  const inTerminal = (t: EventTarget | null) => t instanceof Element && t.closest(".xterm") !== null;
  doc.addEventListener(
    "keydown",
    (e) => {
      if (!inTerminal(e.target) && isBrowserShortcut(e)) e.preventDefault();
    },
    { capture: true },
  );
  // the context menu offers back, print, save as and inspect; a dropped link or file navigates
  doc.addEventListener("contextmenu", (e) => e.preventDefault(), { capture: true });
  for (const t of ["dragover", "drop"] as const) doc.addEventListener(t, (e) => e.preventDefault(), { capture: true });
  // a middle click on anything would open it in a tab
  doc.addEventListener("auxclick", (e) => e.preventDefault(), { capture: true });
}
