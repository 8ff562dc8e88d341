// The boot timeline as a person reads it: a text table (foyerctl timeline) and an SVG bar chart in
// the manner of `systemd-analyze plot` (foyerctl timeline --svg FILE). Pure: data in, text out.
import type { TimelineData, TimelineEntry } from "./timeline.js";

const fmtGrid = (ms: number) => (ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`);
const fmt = (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);

function sorted(d: TimelineData): TimelineEntry[] {
  return [...d.entries].sort((a, b) => a.at - b.at);
}

/**
 * One line per entry: monotonic time (since the kernel started), time since foyerd started,
 * and for a span its length.
 */
export function renderText(d: TimelineData): string {
  const es = sorted(d);
  if (es.length === 0) return "no milestones recorded\n";
  const t0 = es[0]!.at;
  const rows = es.map((e) => [fmt(e.at), `+${fmt(e.at - t0)}`, e.end === undefined ? "" : fmt(e.end - e.at), e.name]);
  const head = ["MONOTONIC", "SINCE START", "TOOK", "MILESTONE"];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : i === 3 ? c : c.padStart(w[i]!)))
      .join("  ")
      .trimEnd();
  return [`boot ${d.bootId || "unknown"}, foyerd pid ${d.pid}`, line(head), ...rows.map(line)].join("\n") + "\n";
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** A grid step that gives about ten lines over `span` ms: 1, 2, 5 × 10^n. */
function gridStep(span: number): number {
  const raw = Math.max(span, 1) / 10;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
}

/**
 * Rows in time order; a span is a bar from its start to its end, a point a diamond with a thin bar
 * from foyerd's start (so its distance from the start reads at a glance); the axis is the time
 * since the kernel started, as in systemd-analyze plot.
 */
export function renderSvg(d: TimelineData): string {
  const es = sorted(d);
  const t0 = es[0]?.at ?? 0;
  const tEnd = Math.max(t0 + 1, ...es.map((e) => e.end ?? e.at));
  const span = tEnd - t0;
  const left = 20,
    top = 70,
    rowH = 22,
    labelW = 320;
  const plotW = 900;
  const x = (ms: number) => left + ((ms - t0) / span) * plotW;
  const width = left + plotW + labelW,
    height = top + es.length * rowH + 40;
  const step = gridStep(span);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, sans-serif" font-size="12">`,
  );
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  out.push(`<text x="${left}" y="24" font-size="16" font-weight="bold">foyer boot timeline</text>`);
  out.push(
    `<text x="${left}" y="44" fill="#555">boot ${esc(d.bootId || "unknown")} · foyerd pid ${d.pid} · ${fmt(t0)} → ${fmt(tEnd)} after the kernel started (${fmt(span)})</text>`,
  );
  // the grid counts from foyerd's start, as the rows' labels do; the header gives the absolute times
  for (let k = 0; t0 + k * step <= tEnd; k++) {
    const gx = x(t0 + k * step).toFixed(1);
    out.push(`<line x1="${gx}" y1="${top - 8}" x2="${gx}" y2="${top + es.length * rowH}" stroke="#ddd"/>`);
    out.push(`<text x="${gx}" y="${top - 12}" fill="#777" font-size="10" text-anchor="middle">+${esc(fmtGrid(k * step))}</text>`);
  }
  es.forEach((e, i) => {
    const y = top + i * rowH;
    if (i % 2 === 1) out.push(`<rect x="0" y="${y}" width="${width}" height="${rowH}" fill="#f4f6f8"/>`);
    const cy = y + rowH / 2;
    if (e.end !== undefined) {
      const w = Math.max(2, x(e.end) - x(e.at));
      out.push(
        `<rect x="${x(e.at).toFixed(1)}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" rx="2" fill="#3a7bd5"><title>${esc(e.name)}: ${fmt(e.end - e.at)}</title></rect>`,
      );
    } else {
      out.push(`<rect x="${left}" y="${cy - 1}" width="${Math.max(0, x(e.at) - left).toFixed(1)}" height="2" fill="#c8d3df"/>`);
      out.push(`<path d="M${x(e.at).toFixed(1)} ${cy - 6}l6 6-6 6-6-6z" fill="#e07b00"><title>${esc(e.name)}</title></path>`);
    }
    const label = `${e.name}  ${e.end !== undefined ? fmt(e.end - e.at) : `+${fmt(e.at - t0)}`}`;
    out.push(`<text x="${left + plotW + 12}" y="${cy + 4}">${esc(label)}</text>`);
  });
  out.push(`<text x="${left}" y="${height - 14}" fill="#777" font-size="10">bars: spans (start → end) · diamonds: milestones · time on CLOCK_MONOTONIC</text>`);
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
