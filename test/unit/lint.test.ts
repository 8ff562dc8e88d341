// eslint with typescript-eslint's recommended rules (eslint.config.js) over the whole tree: a
// finding fails the test run. In this process, through eslint's API (no second node start).
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ESLint } from "eslint";
import { top } from "../helpers/index.js";

test("eslint (eslint.config.js) finds nothing", async () => {
  const eslint = new ESLint({ cwd: top });
  const results = await eslint.lintFiles(["."]);
  const problems = results.reduce((n, r) => n + r.errorCount + r.warningCount, 0);
  const text = problems ? await (await eslint.loadFormatter("stylish")).format(results) : "";
  assert.is(problems, 0, `${text}\nnpx eslint . prints the same; fix them, or turn a rule off in eslint.config.js with its reason`);
  assert.ok(results.length > 200, `linted only ${results.length} files`);
});

test.run();
