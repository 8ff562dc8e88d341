// The settings messages against a real foyerd (headless), spoken by a raw WebSocket client as any
// greeter would: layouts come from evdev.xml, a layout it does not list is refused, a valid one
// reaches every client's state, and the toggles are broadcast.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import WebSocket from "ws";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Foyerd, requirePrivateAskDir, withTimeout, pollUntil, top } from "../helpers/index.js";

requirePrivateAskDir();

interface Msg {
  type: string;
  code?: string;
  layouts?: { name: string; variants: { name: string }[] }[];
  keyboard?: { layout: string; variant: string };
  appearance?: { highContrast: boolean; osk: boolean };
  locale?: string;
}

const dir = mkdtempSync(join(tmpdir(), "foyer-settings-"));
const S = suite<{ foyerd?: Foyerd }>("integration/greeter-settings", {});
S.after.each(async (ctx) => {
  await ctx.foyerd?.stop();
  ctx.foyerd?.cleanup();
});

async function client(url: string): Promise<{ ws: WebSocket; msgs: Msg[] }> {
  const u = new URL(url);
  const token = new URLSearchParams(u.hash.slice(1)).get("token")!;
  const ws = new WebSocket(`ws://${u.host}/ws?token=${token}`, { headers: { Origin: `http://${u.host}` } });
  const msgs: Msg[] = [];
  ws.on("message", (d) => msgs.push(JSON.parse(d.toString())));
  await withTimeout(new Promise((r) => ws.on("open", r)), 5_000, "ws open");
  return { ws, msgs };
}
const last = (msgs: Msg[], type: string) => [...msgs].reverse().find((m) => m.type === type);

S("layouts from evdev.xml; unknown layouts refused; a switch and the toggles reach every client", async (ctx) => {
  writeFileSync(
    join(dir, "p.json"),
    JSON.stringify({
      schema: 1,
      display: { stack: "headless" },
      log: { kmsg: false },
      locale: { conf: "/nonexistent" },
      appearance: { inputDevices: join(top, "test/fixtures/input/laptop.txt") },
    }),
  );
  ctx.foyerd = new Foyerd(join(dir, "p.json"));
  const url = await ctx.foyerd.url();
  const a = await client(url);
  const b = await client(url);
  a.ws.send(JSON.stringify({ type: "keyboard_layouts" }));
  await pollUntil(() => last(a.msgs, "keyboard_layouts") !== undefined, 5_000, "layouts");
  const layouts = last(a.msgs, "keyboard_layouts")!.layouts!;
  assert.ok(layouts.length > 50, `${layouts.length} layouts`);
  assert.ok(
    layouts.find((l) => l.name === "de")?.variants.some((v) => v.name === "neo"),
    "de(neo) listed",
  );
  assert.is(last(b.msgs, "keyboard_layouts"), undefined, "the list goes to the asker only");
  for (const bad of [
    { layout: "klingon", variant: "" },
    { layout: "de", variant: "nosuch" },
    { layout: "de;reboot", variant: "" },
  ]) {
    const before = a.msgs.length;
    a.ws.send(JSON.stringify({ type: "keyboard_set", ...bad }));
    await pollUntil(() => a.msgs.slice(before).some((m) => m.type === "error"), 5_000, "refusal");
    // checked against evdev.xml, so nothing unknown (or shell-like) reaches setxkbmap or cage's env
    assert.is(a.msgs.slice(before).find((m) => m.type === "error")!.code, "invalid-argument");
  }
  assert.is(last(b.msgs, "state")!.keyboard!.layout, "us");
  a.ws.send(JSON.stringify({ type: "keyboard_set", layout: "de", variant: "neo" }));
  await pollUntil(() => last(b.msgs, "state")?.keyboard?.variant === "neo", 5_000, "the other client sees de(neo)");
  assert.match(ctx.foyerd.log, /keyboard layout 'de\(neo\)' recorded/);
  a.ws.send(JSON.stringify({ type: "appearance_set", highContrast: true, locale: "fr_FR.UTF-8" }));
  await pollUntil(() => last(b.msgs, "state")?.appearance?.highContrast === true, 5_000, "high contrast broadcast");
  assert.is(last(b.msgs, "state")!.locale, "fr_FR.UTF-8");
  a.ws.close();
  b.ws.close();
});

S.run();
