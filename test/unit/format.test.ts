// prettier (.prettierrc.json, .prettierignore) over every TypeScript and JavaScript file of the
// tree: a file it would lay out differently fails the test run (`npm run format` rewrites them).
// In this process, through prettier's API.
import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, readdirSync } from "node:fs";
import { join, relative } from "node:path";
import * as prettier from "prettier";
import { top } from "../helpers/index.js";

/** The tree's .ts, .mjs and .js files, outside node_modules and dist. */
function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "node_modules" || e.name === "dist" || e.name.startsWith(".")) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) sources(p, out);
    else if (/\.(ts|mjs|js)$/.test(e.name)) out.push(p);
  }
  return out;
}

test("prettier would change no file", async () => {
  const files = sources(top);
  const unformatted: string[] = [];
  for (const file of files) {
    const info = await prettier.getFileInfo(file, { ignorePath: join(top, ".prettierignore") });
    if (info.ignored) continue;
    const options = await prettier.resolveConfig(file);
    if (!(await prettier.check(readFileSync(file, "utf8"), { ...options, filepath: file }))) unformatted.push(relative(top, file));
  }
  assert.ok(files.length > 200, `found only ${files.length} files`);
  assert.equal(unformatted, [], `laid out otherwise than prettier would: npm run format rewrites them`);
});

test.run();
