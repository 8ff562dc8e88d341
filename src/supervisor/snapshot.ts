// What the greeter's page is sent: the supervisor's state and its parts' views as one
// StateMessage, and the pending requests as the page and the text fallback show them. Pure: the
// runner (supervisor.ts) gathers the parts' current values and calls these.
import type { PendingPrompt } from "../agents/password-agent.js";
import type { PlymouthPrompt } from "../agents/plymouth.js";
import type { Keyboard } from "../display/keyboard.js";
import type { AppearanceView, PromptView, RecoveryView, StateMessage } from "../protocol/greeter.js";
import type { FirstbootView } from "../protocol/firstboot.js";
import type { ConsoleRequest } from "./fallback.js";
import { classifyAsk } from "../protocol/classify.js";

/**
 * Every pending request, systemd's first, as the greeter shows them. A deadline goes out as the
 * time left at `nowUs` (CLOCK_MONOTONIC), the page's clock being its own: each state sent restarts
 * its countdown.
 */
export function promptViews(agent: PendingPrompt[], plymouth: PlymouthPrompt[], nowUs: bigint): PromptView[] {
  return [
    ...agent.map((p) => ({
      key: p.key,
      message: p.request.message,
      echo: p.request.echo,
      silent: p.request.silent,
      retries: p.retries,
      kind: p.kind,
      ...(p.request.notAfterUs > 0n ? { expiresInMs: Math.max(0, Number((p.request.notAfterUs - nowUs) / 1000n)) } : {}),
      ...(p.request.id ? { id: p.request.id } : {}),
      ...(p.request.icon ? { icon: p.request.icon } : {}),
    })),
    ...plymouth.map((p) => ({ key: p.key, message: p.message, echo: p.echo, silent: false, retries: p.retries, kind: classifyAsk(p.message, p.echo) })),
  ];
}

/** The same requests, in the same order, as the text fallback asks them. */
export function consoleRequests(prompts: PromptView[], plymouthOwns: (key: number) => boolean): ConsoleRequest[] {
  return prompts.map(({ key, message, echo, retries, kind }) => ({ key, message, echo, retries, kind, from: plymouthOwns(key) ? "plymouth" : "systemd" }));
}

/** A flow's view when it is on the screen. */
export interface FlowView<V> {
  active: boolean;
  view: V;
}

export interface SnapshotInput {
  phase: string;
  prompts: PromptView[];
  keyboard: Keyboard;
  notice: string;
  messages: string[];
  diskCheck: StateMessage["diskCheck"];
  recovery: FlowView<RecoveryView>;
  firstboot: FlowView<FirstbootView>;
  locale: string;
  appearance: AppearanceView;
}

/** The full state for the page: recovery wins over the first-boot form, which wins over the unlock. */
export function snapshot(s: SnapshotInput): StateMessage {
  return {
    type: "state",
    flow: s.recovery.active ? "recovery" : s.firstboot.active ? "firstboot" : "unlock",
    phase: s.phase,
    prompts: s.prompts,
    keyboard: { layout: s.keyboard.layout, variant: s.keyboard.variant },
    notice: s.notice,
    messages: s.messages,
    diskCheck: s.diskCheck,
    ...(s.recovery.active ? { recovery: s.recovery.view } : {}),
    ...(s.firstboot.active ? { firstboot: s.firstboot.view } : {}),
    locale: s.locale,
    appearance: s.appearance,
  };
}

/** Where the runner's snapshot comes from: its parts, read as they are now. */
export interface SnapshotSources {
  plymouth: { messages: string[]; record: { fsck: StateMessage["diskCheck"] } };
  settings: { locale: string; appearance: AppearanceView };
  stack: { keyboard: Keyboard };
  recovery: FlowView<RecoveryView>;
  firstboot: FlowView<FirstbootView>;
}

/** The page's state from the parts as they are now. */
export function snapshotOf(p: SnapshotSources, phase: string, prompts: PromptView[], notice: string): StateMessage {
  const { plymouth, settings, recovery, firstboot } = p;
  return snapshot({
    phase,
    prompts,
    keyboard: p.stack.keyboard,
    notice,
    messages: plymouth.messages,
    diskCheck: plymouth.record.fsck,
    recovery,
    firstboot,
    locale: settings.locale,
    appearance: settings.appearance,
  });
}
