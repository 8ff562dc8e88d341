// The boot timeline: the file foyerd rewrites at every milestone (a real foyerd, a real
// systemd-ask-password request shown and withdrawn), read back by a real `foyerctl timeline` as a
// table, JSON and SVG, with or without foyerd running; bad files and bad options.
import { suite } from "../helpers/loud-hooks.js";
import * as assert from "uvu/assert";
import { spawnSync, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { Foyerd, askPassword, killAskers, requirePrivateAskDir, top, pollUntil } from "../helpers/index.js";
import { Timeline, parseTimeline, MAX_ENTRIES, type TimelineData } from "../../src/state/timeline.js";
import { renderText, renderSvg } from "../../src/state/timeline-render.js";

const T = suite<{ foyerd?: Foyerd; dir?: string }>("state/timeline", {});
const foyerctl = (...args: string[]) =>
  spawnSync(process.execPath, [join(top, "dist/foyerctl.mjs"), ...args], {
    encoding: "utf8",
    timeout: 30_000,
    env: { ...process.env, FOYER_MAIN: "foyerctl" },
  });

T.before(() => {
  execFileSync(process.execPath, [join(top, "packaging/dev/build.mjs"), "--if-stale"], { stdio: "inherit" });
});
T.after.each(async (ctx) => {
  killAskers();
  await ctx.foyerd?.stop();
  ctx.foyerd?.cleanup();
  ctx.foyerd = undefined;
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

T("points and spans, written at every change, read back as they were", (ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), "foyer-tl-"));
  const f = join(ctx.dir, "timeline.json");
  const t = new Timeline(f, "ab".repeat(16));
  t.mark("start", 1000);
  t.begin("greeter start", 1010.04);
  assert.ok(parseTimeline(readFileSync(f, "utf8")).ok, "written before the span ended");
  t.end("greeter start", 1500);
  t.end("never begun", 1600); // ignored
  const r = parseTimeline(readFileSync(f, "utf8"));
  assert.ok(r.ok);
  assert.equal((r as { data: TimelineData }).data.entries, [
    { name: "start", at: 1000 },
    { name: "greeter start", at: 1010, end: 1500 },
  ]);
});

T("bounded: a crash loop's entries make room by dropping the oldest after the boot's start", () => {
  const t = new Timeline(undefined, "");
  for (let i = 0; i < MAX_ENTRIES + 500; i++) t.mark(`m${i}`, i);
  assert.is(t.data.entries.length, MAX_ENTRIES);
  assert.is(t.data.entries[0]!.name, "m0");
  assert.is(t.data.entries[19]!.name, "m19");
  assert.is(t.data.entries.at(-1)!.name, `m${MAX_ENTRIES + 499}`);
  assert.ok(parseTimeline(JSON.stringify(t.data)).ok);
});

T("the text table and the SVG say every milestone; names are escaped in the SVG", () => {
  const d: TimelineData = {
    schema: 1,
    bootId: "x",
    pid: 1,
    entries: [
      { name: "a <b> & c", at: 2000 },
      { name: "span", at: 2100, end: 2600 },
    ],
  };
  const text = renderText(d);
  assert.match(text, /\+0\.0 ms\s+a <b> & c/);
  assert.match(text, /\+100\.0 ms\s+500\.0 ms\s+span/);
  const svg = renderSvg(d);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /a &lt;b&gt; &amp; c/);
  assert.not.match(svg, /<b>/);
  assert.ok(svg.trimEnd().endsWith("</svg>"));
  assert.match(renderText({ ...d, entries: [] }), /no milestones/);
});

T("a real foyerd: milestones from its start to a prompt shown and withdrawn; foyerctl reads them with and without foyerd", async (ctx) => {
  requirePrivateAskDir();
  const f = (ctx.foyerd = new Foyerd("headless", { bundle: true, extraArgs: ["--bus", "none"] }));
  await f.url(30_000);
  const ask = askPassword("Timeline test:");
  const file = join(f.runtimeDir, "state/timeline.json");
  const names = () => {
    const r = parseTimeline(readFileSync(file, "utf8"));
    return r.ok ? r.data.entries : [];
  };
  await pollUntil(() => names().some((e) => /^prompt \d+$/.test(e.name)), 15_000, "the prompt on the timeline");
  ask.proc.kill("SIGTERM"); // the asker gives up: its request goes, and its span ends
  await pollUntil(() => names().some((e) => /^prompt \d+$/.test(e.name) && e.end !== undefined), 15_000, "the prompt's span closed");
  const es = names();
  for (const n of ["foyerd start", "profile loaded", "state mounted", "start", "greeter server listening"])
    assert.ok(
      es.some((e) => e.name === n),
      `${n} is on the timeline`,
    );
  const start = es.find((e) => e.name === "foyerd start")!.at;
  assert.ok(
    es.every((e) => e.at >= start),
    "nothing before foyerd started",
  );
  // the monotonic clock: foyerd started after the kernel and not in the future
  const uptimeMs = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]) * 1000;
  assert.ok(start > 0 && start <= uptimeMs + 1000, `${start} ms vs uptime ${uptimeMs}`);

  const table = foyerctl("timeline", "--runtime-dir", f.runtimeDir);
  assert.is(table.status, 0, table.stderr);
  assert.match(table.stdout, /MILESTONE/);
  assert.match(table.stdout, /greeter server listening/);
  assert.match(table.stdout, /prompt \d+/);
  await f.stop();
  assert.ok(
    names().some((e) => e.name === "exit"),
    "exit is on the timeline",
  );
  // foyerd is gone: the file still answers
  const json = foyerctl("timeline", "--json", "--runtime-dir", f.runtimeDir);
  assert.is(json.status, 0, json.stderr);
  assert.equal(JSON.parse(json.stdout).entries, names());
  const svgFile = join(f.runtimeDir, "t.svg");
  const svg = foyerctl("timeline", "--svg", svgFile, "--runtime-dir", f.runtimeDir);
  assert.is(svg.status, 0, svg.stderr);
  const text = readFileSync(svgFile, "utf8");
  assert.match(text, /<svg /);
  for (const e of names()) assert.ok(text.includes(e.name), `${e.name} in the SVG`);
});

T("foyerctl timeline: no file, a bad file, bad options", (ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), "foyer-tl-"));
  let r = foyerctl("timeline", "--runtime-dir", join(ctx.dir, "none"));
  assert.is(r.status, 3);
  assert.match(r.stderr, /no timeline at .*foyerd has not run this boot/);
  const bad = join(ctx.dir, "bad.json");
  writeFileSync(bad, '{"schema":1,"bootId":"x","pid":1,"entries":[{"name":"","at":-1,"secretish":"xyzzy"}]}');
  r = foyerctl("timeline", "--timeline", bad);
  assert.is(r.status, 1);
  assert.match(r.stderr, /is not a foyer timeline: entries\.0/);
  assert.not.match(r.stderr, /xyzzy/);
  writeFileSync(bad, "not json");
  assert.match(foyerctl("timeline", "--timeline", bad).stderr, /not valid JSON/);
  assert.is(foyerctl("timeline", "--json", "--svg", "x.svg").status, 2);
  assert.is(foyerctl("status", "--svg", "x.svg").status, 2);
  assert.is(foyerctl("timeline", "extra").status, 2);
  const good = join(ctx.dir, "good.json");
  writeFileSync(good, JSON.stringify({ schema: 1, bootId: "x", pid: 1, entries: [{ name: "a", at: 1 }] }));
  r = foyerctl("timeline", "--timeline", good, "--svg", join(ctx.dir, "no/such/dir/x.svg"));
  assert.is(r.status, 1);
  assert.match(r.stderr, /cannot write/);
});

T.run();
