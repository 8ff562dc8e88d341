import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { memReportUsedMb } from "../bench/mem-report.js";

// a real report: Plymouth's image at its dialog, 2 GiB, under QEMU (npm run bench -- --vm-only)
const report = readFileSync(new URL("../bench/fixtures/sysrq-mem-plymouth.txt", import.meta.url), "utf8");
const MB = 4096 / 1048576;

test("a SysRq memory report counts as /proc/meminfo's MemTotal − MemAvailable", () => {
  // 524155 − 20620 pages managed; available: free 438296 − the zones' reserve (DMA 1899 + 528 kB,
  // DMA32 0 + 67044 kB: 18792 pages) + slab 3459 − min(3459 / 2, low 14078) = 421234
  assert.is(memReportUsedMb(report), (503535 - 421234) * MB);
});

test("page cache is available but for the low watermark", () => {
  const withCache = report.replace(" active_file:0 inactive_file:0", " active_file:60000 inactive_file:40000");
  // 100000 pages of cache, less min(50000, 14078)
  assert.is(memReportUsedMb(withCache), (503535 - 421234 - (100000 - 14078)) * MB);
});

test("a report cut short is an error naming what is missing", () => {
  assert.throws(() => memReportUsedMb(report.replace(/lowmem_reserve/g, "x")), /no zone lines/);
  assert.throws(() => memReportUsedMb(report.replace(/pages RAM/, "pages")), /pages RAM/);
});

test.run();
