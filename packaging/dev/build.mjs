#!/usr/bin/env node
// Bundles the daemon, foyerctl and the demo for Node (an entry each, and the chunks they share or
// load on demand: the image builders copy every dist/*.mjs), compiles foyer's own native addon
// (dist/sockets.node, which the images carry beside the bundles), and bundles the greeter UI for
// the browser. `--if-stale` skips the work when no source is newer than the output.
import { build } from "esbuild";
import { readdirSync, statSync, existsSync, rmSync, mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnSync } from "node:child_process";

const top = join(dirname(fileURLToPath(import.meta.url)), "../..");
const out = join(top, "dist");
const entries = {
  node: { foyerd: "src/cli/foyerd.ts", foyerctl: "src/cli/foyerctl.ts", "foyer-demo": "src/cli/demo.ts", "foyer-pty": "src/greeter/pty-broker.ts" },
  ui: { app: "src/ui/main.ts" },
};
// Node-API C sources → dist/<name>.node
const addons = { sockets: "src/native/sockets.c" };
// executables in C → dist/<name>: the splash cage shows until the greeter paints (a Wayland client)
const programs = { "foyer-splash": "src/native/splash.c" };

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

if (process.argv.includes("--if-stale")) {
  const outs = [
    ...Object.keys(entries.node).map((n) => join(out, `${n}.mjs`)),
    ...Object.keys(addons).map((n) => join(out, `${n}.node`)),
    ...Object.keys(programs).map((n) => join(out, n)),
    join(out, "first-frame"),
    join(out, "ui/app.js"),
  ];
  const oldest = Math.min(...outs.map((p) => (existsSync(p) ? statSync(p).mtimeMs : 0)));
  const src = Math.max(newest(join(top, "src")), statSync(join(top, "package-lock.json")).mtimeMs);
  if (oldest > src) process.exit(0);
}

/** Ends the build with one line that says what to install. */
function missing(what, part = "foyer's native addon") {
  process.stderr.write(`build: cannot compile ${part}: ${what}\n`);
  process.exit(1);
}

/** Runs `cmd` to its end, its output on ours; ends the build naming it when it fails. */
function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: top, stdio: "inherit" });
  if (r.status !== 0) {
    process.stderr.write(`build: ${cmd} ${args.at(-1)} failed\n`);
    process.exit(1);
  }
}

// Node-API needs only Node's own headers (no node-gyp, no download): npm's nodedir when set, as
// node-gyp takes it, else the headers installed beside this node
const nodedir = process.env.npm_config_nodedir || join(dirname(process.execPath), "..");
const include = join(nodedir, "include/node");
if (spawnSync("cc", ["--version"], { stdio: "ignore" }).error) missing("no C compiler 'cc' (install the Debian package 'gcc')");
if (!existsSync(join(include, "node_api.h")))
  missing(
    `no node_api.h in '${include}' (install Node's headers: NodeSource's 'nodejs' package has them, Debian's own node 'libnode-dev'; or set npm_config_nodedir)`,
  );
mkdirSync(out, { recursive: true });
for (const [name, source] of Object.entries(addons))
  run("cc", ["-O2", "-shared", "-fPIC", "-Wall", "-Werror", "-I", include, "-o", join(out, `${name}.node`), source]);

// the Wayland clients: xdg-shell's glue generated from wayland-protocols' description
const xdgShell = "/usr/share/wayland-protocols/stable/xdg-shell/xdg-shell.xml";
const splash = "the splash (src/native/splash.c)";
if (spawnSync("wayland-scanner", ["--version"], { stdio: "ignore" }).error)
  missing("no 'wayland-scanner' (install the Debian package 'libwayland-dev')", splash);
if (!existsSync(xdgShell)) missing(`no '${xdgShell}' (install the Debian package 'wayland-protocols')`, splash);
if (!existsSync("/usr/include/xkbcommon/xkbcommon.h"))
  missing("no '/usr/include/xkbcommon/xkbcommon.h' (install the Debian package 'libxkbcommon-dev')", splash);
const gen = join(out, ".gen");
mkdirSync(gen, { recursive: true });
run("wayland-scanner", ["client-header", xdgShell, join(gen, "xdg-shell-client-protocol.h")]);
run("wayland-scanner", ["private-code", xdgShell, join(gen, "xdg-shell-protocol.c")]);
for (const [name, source] of Object.entries(programs))
  run("cc", ["-O2", "-Wall", "-Werror", "-I", gen, "-o", join(out, name), source, join(gen, "xdg-shell-protocol.c"), "-lwayland-client", "-lxkbcommon"]);
rmSync(gen, { recursive: true, force: true });

// native addons stay outside the bundle; dbus-next requires 'x11' lazily for X11 auth only
const external = ["node-pty", "unix-dgram", "usocket", "x11", "playwright-core", "@julusian/freetype2"];
// the chunks' names carry their hash: a rebuild must not leave the old ones beside the new (the
// image builders copy dist/*.mjs)
for (const f of existsSync(out) ? readdirSync(out) : []) if (f.startsWith("chunk-")) rmSync(join(out, f));
await build({
  absWorkingDir: top,
  entryPoints: Object.fromEntries(Object.entries(entries.node).map(([k, v]) => [k, v])),
  outdir: out,
  outExtension: { ".js": ".mjs" },
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  // foyerd loads the part a command needs (cli/foyerd.ts): `foyerd flush` and `console-restore`
  // run on the real root's boot path without the daemon's modules
  splitting: true,
  chunkNames: "chunk-[hash]",
  external,
  sourcemap: "linked",
  minify: true, // a smaller bundle parses faster: foyerd's start is on the way to the prompt
  logLevel: "warning",
  // CommonJS dependencies (winston, dbus-next) call require(): give the ESM bundle one
  banner: { js: "import { createRequire as __foyerRequire } from 'node:module'; const require = __foyerRequire(import.meta.url);" },
});
// the chunks' names carry their hash: a rebuild must not leave the old ones beside the new (the
// image builders copy dist/ui whole)
rmSync(join(out, "ui"), { recursive: true, force: true });
await build({
  absWorkingDir: top,
  entryPoints: { app: entries.ui.app },
  outdir: join(out, "ui"),
  bundle: true,
  platform: "browser",
  target: ["chrome110", "safari15"],
  // ESM with splitting: the terminal (xterm) loads only when the recovery screen needs it, so the
  // unlock prompt paints sooner
  format: "esm",
  splitting: true,
  minify: true,
  chunkNames: "chunk-[hash]",
  sourcemap: "linked",
  logLevel: "warning",
});

// the frame foyer-splash --fb draws before foyerd runs, rendered by foyer's own renderer
run(process.execPath, [join(out, "foyerd.mjs"), "first-frame", "--out", join(out, "first-frame")]);
