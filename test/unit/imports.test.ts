// The dependency rule (STYLE.md): cli → supervisor → (launch, display, greeter, agents, state,
// dbus) → (profile, protocol, base). Nothing imports upward; src/ui imports only src/protocol.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const src = join(dirname(fileURLToPath(import.meta.url)), "../../src");
const LAYER: Record<string, number> = {
  cli: 0,
  supervisor: 1,
  launch: 2,
  display: 2,
  greeter: 2,
  agents: 2,
  state: 2,
  dbus: 2,
  systemd: 2,
  profile: 3,
  protocol: 3,
  base: 4,
};

function files(d: string): string[] {
  return readdirSync(d).flatMap((e) => (statSync(join(d, e)).isDirectory() ? files(join(d, e)) : e.endsWith(".ts") ? [join(d, e)] : []));
}

/**
 * Every module another one names: static imports (type-only ones too), side-effect imports,
 * re-exports (`export … from`) and dynamic `import()` calls, the lazy starts depend on. Read as
 * text: an `import("…")` inside a string counts too, which only makes the rule stricter.
 */
function specifiers(code: string): string[] {
  const out: string[] = [];
  for (const m of code.matchAll(/^\s*(?:import|export)\s[^;"'`]*?\bfrom\s*["']([^"']+)["']/gm)) out.push(m[1]!);
  for (const m of code.matchAll(/^\s*import\s*["']([^"']+)["']/gm)) out.push(m[1]!);
  for (const m of code.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)) out.push(m[1]!);
  return out;
}

/** ARCHITECTURE.md's rule: downward only; in the middle layer only display may import launch. */
function violations(): string[] {
  const bad: string[] = [];
  for (const f of files(src)) {
    const from = relative(src, f).split("/")[0]!;
    for (const spec of specifiers(readFileSync(f, "utf8"))) {
      if (!spec.startsWith(".")) continue;
      const to = relative(src, resolve(dirname(f), spec)).split("/")[0]!;
      if (to === from) continue;
      if (from === "ui") {
        if (to !== "protocol") bad.push(`${relative(src, f)} → ${to}`);
        continue;
      }
      const a = LAYER[from],
        b = LAYER[to];
      if (a === undefined || b === undefined) bad.push(`${relative(src, f)} → ${to} (unknown part)`);
      else if (b <= a && !(from === "display" && to === "launch")) bad.push(`${relative(src, f)} → ${to}`);
    }
  }
  return bad;
}

test("the import reader sees static, type, side-effect, re-export and dynamic imports", () => {
  const code = [
    'import { a } from "./a.js";',
    'import type { B } from "../b.js";',
    "import {\n  c,\n  d,\n} from '../c.js';",
    'import "./side.js";',
    'export { e } from "./e.js";',
    'export * from "../f.js";',
    'const g = await import("../g.js");',
    "const h = () => import('./h.js');",
  ].join("\n");
  assert.equal(specifiers(code).sort(), ["../b.js", "../c.js", "../f.js", "../g.js", "./a.js", "./e.js", "./h.js", "./side.js"]);
});

test("no module imports from a higher layer; ui imports only protocol", () => {
  assert.equal(violations(), []);
});

/** What loading `entry` loads before any of its code runs: its value imports, followed through src/. */
function staticClosure(entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>(); // module → the packages it imports
  const walk = (f: string) => {
    if (seen.has(f)) return;
    const pkgs: string[] = [];
    seen.set(f, pkgs);
    // `import type` and `import(…)` load nothing at import time
    for (const m of readFileSync(f, "utf8").matchAll(/^import (?!type )[^"';]*?["']([^"']+)["']/gm)) {
      const spec = m[1]!;
      if (spec.startsWith(".")) walk(resolve(dirname(f), spec).replace(/\.js$/, ".ts"));
      else if (!spec.startsWith("node:")) pkgs.push(spec.split("/")[0]!);
    }
  };
  walk(join(src, entry));
  return seen;
}

function loaders(entry: string, pkg: string): string[] {
  return [...staticClosure(entry)].filter(([, pkgs]) => pkgs.includes(pkg)).map(([f]) => relative(src, f));
}

test("the daemon reaches its first prompt without dbus-next: it is loaded when a bus or systemd is there", () => {
  assert.ok(staticClosure("cli/daemon.ts").size > 20, "the walk follows the daemon's imports");
  assert.ok(loaders("cli/foyerctl.ts", "dbus-next").length > 0, "the walk sees dbus-next where it is imported");
  assert.equal(loaders("cli/daemon.ts", "dbus-next"), []);
});

test("the daemon launches its greeter before it loads winston, ws, sirv and the supervisor", () => {
  // cli/daemon.ts's static imports are what foyerd loads before supervisor/first-launch.ts starts
  // the greeter; cli/supervise.ts (the supervisor, the agents, the server) loads while it starts
  const first = [...staticClosure("cli/daemon.ts").keys()].map((f) => relative(src, f));
  assert.ok(first.includes("supervisor/first-launch.ts"), "the walk reaches the first launch");
  assert.ok(staticClosure("cli/supervise.ts").has(join(src, "supervisor/supervisor.ts")), "the walk sees the supervisor where it is imported");
  for (const pkg of ["winston", "ws", "sirv", "dbus-next"]) assert.equal(loaders("cli/daemon.ts", pkg), [], `loaded before the greeter starts: ${pkg}`);
  // the sockets addon (a dlopen, ~1 ms) loads at its first call, the greeter's first connection
  assert.equal(
    first.filter((f) => f === "supervisor/supervisor.ts" || f === "greeter/server.ts" || f.startsWith("agents/")),
    [],
  );
});

test("flush and console-restore (the real root's boot path) load neither the logger nor D-Bus", () => {
  for (const entry of ["state/flush-cli.ts", "cli/console-restore.ts"]) {
    for (const pkg of ["winston", "dbus-next", "ws"]) assert.equal(loaders(entry, pkg), [], `${entry} loads ${pkg}`);
  }
  // the persist plan's schemas are loaded for --state only: one tree's mirror (--from/--to) starts without zod
  assert.ok(loaders("state/persist.ts", "zod").length > 0, "the walk sees zod where it is imported");
  assert.equal(loaders("state/flush-cli.ts", "zod"), []);
});

test.run();
