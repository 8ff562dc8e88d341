// axe-core's audit of a greeter page, for the integration suites.
import { createRequire } from "node:module";
import type { Page } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");

export interface Violation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/**
 * axe-core's WCAG 2.1 A/AA and best-practice rules on the page as it is. The server's CSP allows
 * only its own scripts, so the context bypasses CSP to inject axe (the greeter itself never does).
 */
export async function audit(page: Page): Promise<Violation[]> {
  await page.addScriptTag({ path: AXE });
  const r = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, o: object) => Promise<{ violations: Violation[] }> } }).axe;
    return axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] }, resultTypes: ["violations"] });
  });
  return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) }));
}

export function serious(vs: Violation[]): string[] {
  // the lesser findings are printed, not failed: they are for a person to weigh
  for (const v of vs.filter((x) => x.impact !== "serious" && x.impact !== "critical"))
    console.log(`axe ${v.impact}: ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  return vs
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}
