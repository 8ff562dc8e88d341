// Where foyer's tree is: assets/ and dist/ui, beside the bundle in an image (/usr/lib/foyer) or
// at the top of the source tree.
import { existsSync } from "node:fs";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The package top: where assets/ and dist/ui live, from the source tree or the bundle. */
export function packageTop(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(d, "assets", "index.html"))) return d;
    d = dirname(d);
  }
  return resolve(dirname(fileURLToPath(import.meta.url)), "../..");
}
