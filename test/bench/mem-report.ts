// Used memory from the kernel's SysRq memory report (show_mem on the console), counted as
// /proc/meminfo counts MemTotal − MemAvailable (si_mem_available): the benchmark reads it from
// outside a guest that has no shell, the same way for an image with foyer and one with Plymouth.

/** MemTotal − MemAvailable of one SysRq memory report, in MB. */
export function memReportUsedMb(report: string): number {
  const page = (re: RegExp) => {
    const m = re.exec(report);
    if (!m) throw new Error(`the kernel's memory report has no ${re.source}:\n${report.slice(0, 2000)}`);
    return Number(m[1]);
  };
  // each zone's line, then its lowmem_reserve line; sizes in kB, the reserves in pages
  const zones = [
    ...report.matchAll(/Node \d+ \w+ free:\d+kB .*?\blow:(\d+)kB high:(\d+)kB .*?\bmanaged:(\d+)kB[^\n]*\n(?:\[[^\]]*\] )?lowmem_reserve\[\]:([\d ]+)/g),
  ];
  if (zones.length === 0) throw new Error(`the kernel's memory report has no zone lines:\n${report.slice(0, 2000)}`);
  let reserve = 0,
    low = 0;
  for (const z of zones) {
    const managed = Number(z[3]) / 4;
    const most = Math.max(...z[4]!.trim().split(/\s+/).map(Number));
    reserve += Math.min(managed, most + Number(z[2]) / 4);
    low += Number(z[1]) / 4;
  }
  const total = page(/(\d+) pages RAM/) - page(/(\d+) pages reserved/);
  const pagecache = page(/\bactive_file:(\d+)/) + page(/inactive_file:(\d+)/);
  const reclaimable = page(/slab_reclaimable:(\d+)/) + page(/kernel_misc_reclaimable:(\d+)/);
  const available = Math.max(
    0,
    page(/\bfree:(\d+)/) - reserve + pagecache - Math.min(Math.floor(pagecache / 2), low) + reclaimable - Math.min(Math.floor(reclaimable / 2), low),
  );
  return ((total - available) * 4096) / 1048576;
}
